//! `quiver check` and the manifest: a lost or damaged `quiver.json` is
//! reported and repaired, never answered by deleting collections.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn quiver(args: &[&str], data: &Path) -> Output {
    crate::quiver_at("warn", args, data)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A database holding collection `c` of `n` imported 4-d points, which
/// `quiver check` passes; the directory lives as long as the guard.
fn database(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let file = dir.path().join("p.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| format!("{{\"id\": {i}, \"vector\": [{i}, 1, 2, 3]}}"))
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let o = quiver(&["import", "c", file.to_str().unwrap(), "--create"], &data);
    assert!(o.status.success(), "{}", text(&o));
    let o = quiver(&["check"], &data);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (dir, data)
}

/// The number of points `quiver info --json` reports for collection `c`.
fn points(data: &Path) -> u64 {
    let o = quiver(&["info", "--json"], data);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    report[0]["points"].as_u64().unwrap()
}

/// Runs `quiver serve` on `data`, which is expected to exit by itself; a
/// server that starts instead is killed and its output returned.
fn serve_until_exit(data: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["serve", "--port", "0", "--data"])
        .arg(data)
        .env("QUIVER_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn check_of_a_path_that_does_not_exist_exits_2_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nothing-here");
    let o = quiver(&["check"], &data);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!data.exists());
}

#[test]
fn a_deleted_manifest_fails_check_and_info_until_check_repair_rebuilds_it() {
    let (_dir, data) = database(30);
    std::fs::remove_file(data.join("quiver.json")).unwrap();
    let o = quiver(&["check"], &data);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("quiver.json") && err.contains("check --repair"),
        "{}",
        text(&o)
    );
    let o = quiver(&["info"], &data);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("quiver.json"),
        "{}",
        text(&o)
    );
    let o = serve_until_exit(&data);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("quiver.json"),
        "{}",
        text(&o)
    );
    assert!(!data.join("quiver.json").exists());
    assert!(data.join("collections/c/config.json").is_file());

    let o = quiver(&["check", "--repair"], &data);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("`c`"),
        "{}",
        text(&o)
    );
    assert_eq!(points(&data), 30);
}

#[test]
fn a_garbage_manifest_fails_check_until_check_repair_rebuilds_it() {
    let (_dir, data) = database(20);
    std::fs::write(data.join("quiver.json"), b"\0\0garbage").unwrap();
    let o = quiver(&["check"], &data);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("check --repair"),
        "{}",
        text(&o)
    );
    let o = quiver(&["check", "--repair"], &data);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read(data.join("quiver.json.damaged")).unwrap(),
        b"\0\0garbage"
    );
    assert_eq!(points(&data), 20);
}

#[test]
fn check_reports_an_unnamed_directory_and_leaves_it_in_place() {
    let (_dir, data) = database(10);
    let stray = data.join("collections/stray");
    std::fs::create_dir(&stray).unwrap();
    std::fs::write(stray.join("vectors.dat"), b"someone's data").unwrap();
    for _ in 0..2 {
        let o = quiver(&["check"], &data);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("stray") && out.contains("ok    c"),
            "{}",
            text(&o)
        );
        assert_eq!(
            std::fs::read(stray.join("vectors.dat")).unwrap(),
            b"someone's data"
        );
    }
    // Without a config.json, repair cannot adopt it either: still reported, still there.
    let o = quiver(&["check", "--repair"], &data);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("left out"),
        "{}",
        text(&o)
    );
    assert!(stray.join("vectors.dat").is_file());
    assert_eq!(points(&data), 10);
}
