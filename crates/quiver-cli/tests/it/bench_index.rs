//! `quiver bench --index FILE`: the first run builds and saves the index,
//! later runs load it instead of building, and a damaged file is rebuilt.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::bench_data;

fn bench(dir: &Path, index: &Path, json: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .arg("bench")
        .args(["--base", dir.join("base.fvecs").to_str().unwrap()])
        .args(["--query", dir.join("query.fvecs").to_str().unwrap()])
        .args(["--groundtruth", dir.join("gt.ivecs").to_str().unwrap()])
        .args(["--index", index.to_str().unwrap()])
        .args(["--ef", "16,100", "--repeats", "1", "--threads", "1"])
        .args(["--min-time", "0", "--max-passes", "1"])
        .args(["--json", json.to_str().unwrap()])
        .env("QUIVER_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn recalls(json: &Path) -> (Value, Vec<f64>) {
    let doc: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let r = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recall"].as_f64().unwrap())
        .collect();
    (doc, r)
}

#[test]
fn bench_saves_the_index_then_loads_it_and_rebuilds_a_damaged_one() {
    let tmp = tempfile::tempdir().unwrap();
    bench_data::write_dataset(tmp.path(), 400, 10);
    let index = tmp.path().join("graph.qvh");
    let json = tmp.path().join("out.json");

    let built = bench(tmp.path(), &index, &json);
    assert!(index.is_file(), "the built index is saved");
    assert!(String::from_utf8_lossy(&built.stdout).contains("build_seconds="));
    let (doc, built_recall) = recalls(&json);
    assert!(doc["build_seconds"].as_f64().unwrap() > 0.0);
    assert!(doc["load_seconds"].is_null());
    let saved = std::fs::read(&index).unwrap();

    let loaded = bench(tmp.path(), &index, &json);
    assert!(String::from_utf8_lossy(&loaded.stderr).contains("loaded in"));
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("load_seconds="));
    let (doc, loaded_recall) = recalls(&json);
    assert!(doc["build_seconds"].is_null());
    assert!(doc["load_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        loaded_recall, built_recall,
        "the same graph answers the same"
    );
    assert_eq!(
        std::fs::read(&index).unwrap(),
        saved,
        "a load does not rewrite"
    );

    let mut damaged = saved.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    std::fs::write(&index, &damaged).unwrap();
    let rebuilt = bench(tmp.path(), &index, &json);
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(stderr.contains("rebuilding"), "{stderr}");
    let (doc, rebuilt_recall) = recalls(&json);
    assert!(doc["build_seconds"].as_f64().unwrap() > 0.0);
    // One build thread and the same seed: the same graph again.
    assert_eq!(rebuilt_recall, built_recall);
    assert_eq!(std::fs::read(&index).unwrap(), saved);
}

#[test]
fn bench_with_tombstones_measures_against_the_live_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    bench_data::write_dataset(tmp.path(), 400, 10);
    let json = tmp.path().join("out.json");
    let out = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .arg("bench")
        .args(["--base", tmp.path().join("base.fvecs").to_str().unwrap()])
        .args(["--query", tmp.path().join("query.fvecs").to_str().unwrap()])
        .args([
            "--groundtruth",
            tmp.path().join("gt.ivecs").to_str().unwrap(),
        ])
        .args(["--delete-every", "5", "--ef", "100", "--repeats", "1"])
        .args(["--min-time", "0", "--max-passes", "1"])
        .args(["--json", json.to_str().unwrap()])
        .env("QUIVER_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("deleted 80 points"), "{stderr}");
    let (doc, recall) = recalls(&json);
    assert_eq!(doc["delete_every"], 5);
    // 320 live points and ef 100: all but exact, against the truth without
    // the deleted ids (which the index must never return).
    assert!(recall[0] >= 0.95, "recall@10 {recall:?}");
}
