//! `quiver bench --index FILE`: the first run builds and saves the index,
//! later runs load it instead of building, and a damaged file is rebuilt.
//! `--quantization` / `--oversampling`: an int8 graph with rescoring, its
//! report fields, and the flag combinations that are refused.

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

/// `quiver bench` on the tiny dataset in `dir` with `extra` flags.
fn bench_with(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quiver"))
        .arg("bench")
        .args(["--base", dir.join("base.fvecs").to_str().unwrap()])
        .args(["--query", dir.join("query.fvecs").to_str().unwrap()])
        .args(["--groundtruth", dir.join("gt.ivecs").to_str().unwrap()])
        .args(["--ef", "16,100", "--repeats", "1", "--threads", "1"])
        .args(["--min-time", "0", "--max-passes", "1"])
        .args(extra)
        .env("QUIVER_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn int8_bench_rescores_and_reports_quantization_and_memory() {
    let tmp = tempfile::tempdir().unwrap();
    bench_data::write_dataset(tmp.path(), 400, 10);
    let json = tmp.path().join("q.json");
    let peers = tmp.path().join("peers.json");
    let out = bench_with(
        tmp.path(),
        &[
            "--quantization",
            "int8",
            "--json",
            json.to_str().unwrap(),
            "--peers-json",
            peers.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (doc, recall) = recalls(&json);
    assert_eq!(doc["quantization"], "int8");
    assert_eq!(doc["oversampling"], 2.0);
    let mem = &doc["memory"];
    let dim = bench_data::DIM as u64;
    // Codes: one byte per component plus 8 bytes of terms per point.
    assert_eq!(mem["codes_bytes"], 400 * (dim + 8));
    // Rescoring reads the float32 base this process keeps.
    assert_eq!(mem["vectors_ram_bytes"], 400 * dim * 4);
    assert!(mem["graph_bytes"].as_u64().unwrap() > 0);
    // 400 points, ef 100 and exact rescoring: all but exact.
    assert!(recall[1] >= 0.95, "recall@10 {recall:?}");
    let recs: Value = serde_json::from_slice(&std::fs::read(&peers).unwrap()).unwrap();
    let first = &recs.as_array().unwrap()[0];
    assert_eq!(first["engine"], "quiver-int8");
    assert_eq!(first["params"]["quantization"], "int8");
    assert_eq!(first["params"]["quantile"], "least-error");
    assert_eq!(first["params"]["linking"], "codes");
    assert_eq!(first["memory"], *mem);

    let out = bench_with(
        tmp.path(),
        &[
            "--quantization",
            "int8",
            "--oversampling",
            "4",
            "--quantile",
            "0.99",
            "--linking",
            "exact",
            "--json",
            json.to_str().unwrap(),
            "--peers-json",
            peers.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let (doc, recall) = recalls(&json);
    assert_eq!(doc["oversampling"], 4.0);
    assert!(recall[1] >= 0.95, "recall@10 {recall:?}");
    let recs: Value = serde_json::from_slice(&std::fs::read(&peers).unwrap()).unwrap();
    assert_eq!(recs[0]["params"]["quantile"], 0.99f32 as f64);
    assert_eq!(recs[0]["params"]["linking"], "exact");
    assert_eq!(recs[0]["engine"], "quiver-int8-exact");

    let out = bench_with(tmp.path(), &["--json", json.to_str().unwrap()]);
    assert!(out.status.success());
    let (doc, _) = recalls(&json);
    assert_eq!(doc["quantization"], "none");
    assert!(doc["oversampling"].is_null());
    assert_eq!(doc["memory"]["codes_bytes"], 0);
    assert_eq!(doc["memory"]["vectors_ram_bytes"], 400 * dim * 4);
}

#[test]
fn quantization_flags_that_cannot_work_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    bench_data::write_dataset(tmp.path(), 50, 2);
    let index = tmp.path().join("g.qvh");
    let cases: &[(&[&str], &str)] = &[
        (&["--quantization", "binary"], "not implemented yet"),
        (&["--quantization", "pq"], "not implemented yet"),
        (&["--quantization", "rabitq"], "not implemented yet"),
        (
            &["--quantization", "int8", "--oversampling", "0.5"],
            "from 1 to 100",
        ),
        (
            &["--quantization", "int8", "--oversampling", "NaN"],
            "finite",
        ),
        (
            &["--quantization", "int8", "--oversampling", "inf"],
            "finite",
        ),
        (
            &["--quantization", "int8", "--oversampling", "1000"],
            "from 1 to 100",
        ),
        (&["--oversampling", "2"], "needs --quantization int8"),
        (&["--quantile", "0.99"], "needs --quantization int8"),
        (&["--linking", "exact"], "needs --quantization int8"),
        (
            &["--quantization", "int8", "--linking", "floats"],
            "invalid value",
        ),
        (&["--quantization", "int8", "--quantile", "0"], "(0, 1]"),
        (&["--quantization", "int8", "--quantile", "1.5"], "(0, 1]"),
        (&["--quantization", "int8", "--quantile", "NaN"], "(0, 1]"),
        (
            &["--quantization", "int8", "--index", index.to_str().unwrap()],
            "no checkpoint format",
        ),
        (
            &["--quantization", "int8", "--collection"],
            "not supported with --collection",
        ),
        (&["--quantization", "int4"], "invalid value"),
    ];
    for (flags, message) in cases {
        let out = bench_with(tmp.path(), flags);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?} was accepted");
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
    assert!(!index.exists());
}
