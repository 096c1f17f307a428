//! A tiny generated dataset in the fvecs/ivecs formats `quiver bench` reads,
//! with exact cosine ground truth.

use std::path::{Path, PathBuf};

use quiver_testkit::{cosine, vectors};

pub const DIM: usize = 8;

pub fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    let mut bytes = Vec::new();
    for v in rows {
        bytes.extend_from_slice(&(v.len() as i32).to_le_bytes());
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

pub fn write_ivecs(path: &Path, rows: &[Vec<i32>]) {
    let mut bytes = Vec::new();
    for r in rows {
        bytes.extend_from_slice(&(r.len() as i32).to_le_bytes());
        for x in r {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// Writes `n` base vectors, `nq` queries and the ids of each query's exact
/// 20 nearest by cosine into `dir`; returns the three paths (base, queries,
/// ground truth).
pub fn write_dataset(dir: &Path, n: usize, nq: usize) -> (PathBuf, PathBuf, PathBuf) {
    let base = vectors(n, DIM, 1);
    let queries = vectors(nq, DIM, 2);
    let truth: Vec<Vec<i32>> = queries
        .iter()
        .map(|q| {
            let mut all: Vec<(f32, i32)> = base
                .iter()
                .enumerate()
                .map(|(i, v)| (cosine(q, v), i as i32))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.iter().take(20).map(|x| x.1).collect()
        })
        .collect();
    let (b, q, g) = (
        dir.join("base.fvecs"),
        dir.join("query.fvecs"),
        dir.join("gt.ivecs"),
    );
    write_fvecs(&b, &base);
    write_fvecs(&q, &queries);
    write_ivecs(&g, &truth);
    (b, q, g)
}
