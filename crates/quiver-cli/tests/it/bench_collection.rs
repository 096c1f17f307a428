//! `quiver bench --collection` on a tiny generated dataset: ingest through a
//! database on disk, search with payloads, report recall and timings.

use std::process::Command;

use serde_json::Value;

use crate::bench_data;

#[test]
fn bench_collection_ingests_searches_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, q, g) = bench_data::write_dataset(tmp.path(), 300, 12);
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
    assert_eq!(doc["dim"], bench_data::DIM);
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
