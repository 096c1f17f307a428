//! A tiny generated dataset in the fvecs/ivecs formats `quiver bench` reads,
//! with exact cosine ground truth.

use std::path::{Path, PathBuf};

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

/// Deterministic pseudo-random vectors (no rand dependency in this crate).
pub fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            (0..DIM)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 2000) as f32 / 1000.0 - 1.0
                })
                .collect()
        })
        .collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Writes `n` base vectors, `nq` queries and the ids of each query's exact
/// 20 nearest by cosine into `dir`; returns the three paths (base, queries,
/// ground truth).
pub fn write_dataset(dir: &Path, n: usize, nq: usize) -> (PathBuf, PathBuf, PathBuf) {
    let base = vectors(n, 1);
    let queries = vectors(nq, 2);
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
