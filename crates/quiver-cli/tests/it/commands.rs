//! import (with resume), search, info, check and demo, end to end.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn quiver(args: &[&str], data: &Path) -> Output {
    crate::quiver_at("warn", args, data)
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes `n` 8-d vectors; vector i is mostly along axis i % 8, scaled.
fn write_fvecs(path: &Path, n: usize) -> Vec<Vec<f32>> {
    let mut bytes = Vec::new();
    let mut vectors = Vec::new();
    for i in 0..n {
        let v: Vec<f32> = (0..8)
            .map(|d| {
                if d == i % 8 {
                    1.0 + i as f32
                } else {
                    ((i * 7 + d * 3) % 5) as f32 * 0.1
                }
            })
            .collect();
        bytes.extend_from_slice(&8i32.to_le_bytes());
        for x in &v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        vectors.push(v);
    }
    std::fs::write(path, bytes).unwrap();
    vectors
}

#[test]
fn import_resumes_after_a_stop_and_search_finds_the_imported_points() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let file = dir.path().join("v.fvecs");
    let vectors = write_fvecs(&file, 100);
    let f = file.to_str().unwrap();

    let out = stdout(&quiver(
        &[
            "import",
            "docs",
            f,
            "--create",
            "--distance",
            "Euclid",
            "--batch-size",
            "10",
            "--limit",
            "25",
        ],
        &data,
    ));
    assert!(out.contains("imported 25 points"), "{out}");
    assert!(data.join("import-docs.progress").exists());
    let out = stdout(&quiver(
        &["import", "docs", f, "--resume", "--batch-size", "10"],
        &data,
    ));
    assert!(out.contains("imported 75 points"), "{out}");
    assert!(out.contains("25 skipped"), "{out}");
    assert!(!data.join("import-docs.progress").exists());

    let info: Value = serde_json::from_str(&stdout(&quiver(&["info", "--json"], &data))).unwrap();
    assert_eq!(info[0]["name"], "docs");
    assert_eq!(info[0]["points"], 100);
    assert_eq!(info[0]["dimension"], 8);

    // Exact search for vector 42 finds id 42 at distance 0.
    let q = serde_json::to_string(&vectors[42]).unwrap();
    let hits: Value = serde_json::from_str(&stdout(&quiver(
        &[
            "search", "docs", "--vector", &q, "-k", "3", "--exact", "--json",
        ],
        &data,
    )))
    .unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 3);
    assert_eq!(hits[0]["id"], 42);
    assert!(hits[0]["score"].as_f64().unwrap().abs() < 1e-6);
    // The same vector read from the file (row 42), as a table.
    let table = stdout(&quiver(
        &[
            "search",
            "docs",
            "--vector-file",
            f,
            "--row",
            "42",
            "-k",
            "1",
        ],
        &data,
    ));
    assert!(table.lines().nth(1).unwrap().contains("42"), "{table}");

    let out = stdout(&quiver(&["check"], &data));
    assert!(out.contains("ok    docs"), "{out}");
    stdout(&quiver(&["compact"], &data));
    let out = stdout(&quiver(&["check"], &data));
    assert!(out.contains("ok    docs"), "{out}");
}

#[test]
fn resuming_with_another_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let a = dir.path().join("a.fvecs");
    let b = dir.path().join("b.fvecs");
    write_fvecs(&a, 20);
    write_fvecs(&b, 30);
    stdout(&quiver(
        &[
            "import",
            "c",
            a.to_str().unwrap(),
            "--create",
            "--limit",
            "5",
        ],
        &data,
    ));
    let o = quiver(&["import", "c", b.to_str().unwrap(), "--resume"], &data);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not this file"));
}

/// A database holding collection `c` of `n` imported vectors, which
/// `quiver check` passes; the directory lives as long as the guard.
fn checked_collection(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let file = dir.path().join("v.fvecs");
    write_fvecs(&file, n);
    stdout(&quiver(
        &["import", "c", file.to_str().unwrap(), "--create"],
        &data,
    ));
    assert_eq!(quiver(&["check"], &data).status.code(), Some(0));
    (dir, data)
}

#[test]
fn check_exit_code_says_unreadable_database() {
    let (_dir, data) = checked_collection(10);
    std::fs::write(data.join("quiver.json"), b"{ not json").unwrap();
    let o = quiver(&["check"], &data);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn check_exit_code_says_a_damaged_payload_record_is_inconsistent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let file = dir.path().join("p.jsonl");
    let lines: Vec<String> = (0..50)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"vector\": [{i}, 1, 2, 3], \"payload\": {{\"name\": \"point number {i}\"}}}}"
            )
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    stdout(&quiver(
        &["import", "c", file.to_str().unwrap(), "--create"],
        &data,
    ));
    assert_eq!(quiver(&["check"], &data).status.code(), Some(0));
    // Flip one byte inside the stored JSON of point 17.
    let log = data.join("collections/c/payloads.log");
    quiver_testkit::flip_first(&log, b"point number 17");
    let o = quiver(&["check"], &data);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  c") && out.contains("checksum"), "{out}");
}

#[test]
fn check_reports_a_damaged_graph_checkpoint_once_it_has_repaired_it() {
    let (_dir, data) = checked_collection(300);
    let graph = data.join("collections/c/hnsw.graph");
    let mut bytes = std::fs::read(&graph).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&graph, bytes).unwrap();
    let o = quiver(&["check"], &data);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL  c") && out.contains("hnsw.graph") && out.contains("checksum"),
        "{out}"
    );
    let o = quiver(&["check"], &data);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the repair was checkpointed: {out}"
    );
}

#[test]
fn every_command_help_teaches_with_examples() {
    for command in [
        "serve", "import", "search", "info", "compact", "check", "demo",
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_quiver"))
            .args([command, "--help"])
            .output()
            .unwrap();
        let help = stdout(&o);
        assert!(
            help.contains("Examples:") && help.contains(&format!("quiver {command}")),
            "{command}: {help}"
        );
    }
}

#[test]
fn demo_loads_the_bundled_sample_and_explains_how_to_serve_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let out = stdout(&quiver(&["demo", "-k", "3"], &data));
    assert!(out.contains("loaded 2000 points"), "{out}");
    assert!(out.contains("with filter pos = \"verb\""), "{out}");
    assert!(out.contains("quiver serve --data"), "{out}");
    // The filtered hits are all verbs.
    let verbs: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("with filter"))
        .skip(1)
        .take(3)
        .collect();
    assert!(verbs.iter().all(|l| l.contains("[verb]")), "{verbs:?}");
    let again = stdout(&quiver(&["demo", "-k", "1"], &data));
    assert!(again.contains("already loaded"), "{again}");
}
