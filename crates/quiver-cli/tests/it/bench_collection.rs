//! `quiver bench --collection` on a tiny generated dataset: ingest through a
//! database on disk, search with payloads, report recall and timings.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const DIM: usize = 8;

fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    let mut bytes = Vec::new();
    for v in rows {
        bytes.extend_from_slice(&(v.len() as i32).to_le_bytes());
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn write_ivecs(path: &Path, rows: &[Vec<i32>]) {
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
fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
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

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn bench_collection_ingests_searches_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let base = vectors(300, 1);
    let queries = vectors(12, 2);
    let truth: Vec<Vec<i32>> = queries
        .iter()
        .map(|q| {
            let mut all: Vec<(f32, i32)> = base
                .iter()
                .enumerate()
                .map(|(i, v)| (cosine(q, v), i as i32))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.iter().take(10).map(|x| x.1).collect()
        })
        .collect();
    let (b, q, g) = (
        tmp.path().join("base.fvecs"),
        tmp.path().join("query.fvecs"),
        tmp.path().join("gt.ivecs"),
    );
    write_fvecs(&b, &base);
    write_fvecs(&q, &queries);
    write_ivecs(&g, &truth);
    let db = tmp.path().join("db");
    let json = tmp.path().join("out.json");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_quiver"))
            .arg("bench")
            .args(["--base", b.to_str().unwrap()])
            .args(["--query", q.to_str().unwrap()])
            .args(["--groundtruth", g.to_str().unwrap()])
            .args(["--collection", "--collection-dir", db.to_str().unwrap()])
            .args(["--batch-size", "64", "--ef", "16,100", "--repeats", "1"])
            .args(["--min-time", "0", "--max-passes", "1"])
            .args(["--json", json.to_str().unwrap()])
            .env("QUIVER_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ingest_points_per_s="), "{stdout}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["n"], 300);
    assert_eq!(doc["dim"], DIM);
    assert_eq!(doc["batch_size"], 64);
    assert!(doc["ingest_points_per_s"].as_f64().unwrap() > 0.0);
    assert!(doc["disk_bytes"]["vectors"].as_u64().unwrap() > 0);
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["ef"], 100);
    // 300 points and ef 100: the graph search is all but exact.
    let recall = runs[1]["recall"].as_f64().unwrap();
    assert!(recall >= 0.95, "recall@10 at ef=100: {recall}");
    for r in runs {
        assert!(r["qps"].as_f64().unwrap() > 0.0);
        assert!(r["qps_no_payload"].as_f64().unwrap() > 0.0);
        assert!(r["p99_us"].as_f64().unwrap() >= r["p50_us"].as_f64().unwrap());
    }
    // The database stays, with every point; a second run refuses to reuse it.
    assert!(db.join("collections/bench/ops.log").is_file());
    let again = run();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a database"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
