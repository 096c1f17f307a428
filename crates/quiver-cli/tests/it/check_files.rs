//! `quiver check` names every file of every collection with its state, and
//! its exit code tells the damage apart: 0 all ok, 1 inconsistent or
//! repaired, 2 a collection cannot be opened. `--repair` cuts a damaged
//! ops.log and says what it dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, PointSelector};
use quiver_testkit::crash_image;

fn quiver(args: &[&str], data: &Path) -> Output {
    crate::quiver_at("error", args, data)
}

/// (exit code, stdout)
fn check(data: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let o = quiver(&all, data);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), out)
}

fn points(ids: std::ops::Range<u64>, version: u64) -> Vec<Point> {
    ids.map(|i| {
        let payload = serde_json::json!({"v": version});
        Point::new(i, vec![i as f32, version as f32, 1.0, 0.5])
            .with_payload(payload.as_object().unwrap().clone())
    })
    .collect()
}

/// A database with collection `c`: 200 points checkpointed, 0..50 deleted
/// and checkpointed; with `logged`, three more operations only in ops.log
/// (the image a killed process leaves).
fn database(tmp: &Path, logged: bool) -> PathBuf {
    let live = tmp.join("live");
    let image = tmp.join("db");
    {
        let db = Database::open(&live).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(4, Metric::Euclid))
            .unwrap();
        c.upsert(points(0..200, 0)).unwrap();
        c.flush().unwrap();
        c.delete(&PointSelector::Ids((0..50).map(PointId::Num).collect()))
            .unwrap();
        c.flush().unwrap();
        if logged {
            c.upsert(points(200..210, 1)).unwrap();
            c.upsert(points(210..220, 1)).unwrap();
            c.upsert(points(220..230, 1)).unwrap();
        }
        crash_image(&live, &image);
    }
    image
}

fn file(data: &Path, name: &str) -> PathBuf {
    data.join("collections/c").join(name)
}

/// The line `check` printed for `name`.
fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no line for {name}:\n{out}"))
}

#[test]
fn a_healthy_database_lists_every_file_as_ok() {
    let tmp = tempfile::tempdir().unwrap();
    let data = database(tmp.path(), false);
    let (code, out) = check(&data, &[]);
    assert_eq!(code, Some(0), "{out}");
    for name in [
        "config.json",
        "ops.log",
        "vectors.dat",
        "vectors.idx",
        "payloads.log",
        "payloads.idx",
        "hnsw.graph",
        "ids.map",
    ] {
        assert!(line(&out, name).contains(" ok: "), "{out}");
    }
}

#[test]
fn a_truncated_payload_log_is_unreadable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = database(tmp.path(), false);
    let log = file(&data, "payloads.log");
    let bytes = fs::read(&log).unwrap();
    fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(line(&out, "payloads.log").contains("damaged"), "{out}");
}

#[test]
fn a_deleted_payload_log_is_unreadable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = database(tmp.path(), false);
    fs::remove_file(file(&data, "payloads.log")).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(line(&out, "payloads.log").contains("missing"), "{out}");
}

#[test]
fn flipped_or_zeroed_vectors_are_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = database(tmp.path(), false);
    let copy = tmp.path().join("zeroed");
    crash_image(&data, &copy);
    let dat = file(&data, "vectors.dat");
    let mut bytes = fs::read(&dat).unwrap();
    // Slot 120 holds point 120, which is live.
    bytes[120 * 16 + 1] ^= 0x08;
    fs::write(&dat, &bytes).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, Some(1), "{out}");
    let l = line(&out, "vectors.dat");
    assert!(l.contains("damaged") && l.contains("id 120"), "{out}");

    let dat = file(&copy, "vectors.dat");
    let len = fs::metadata(&dat).unwrap().len();
    fs::write(&dat, vec![0u8; len as usize]).unwrap();
    let (code, out) = check(&copy, &[]);
    assert_eq!(code, Some(1), "{out}");
    let l = line(&out, "vectors.dat");
    let (bad, total) = l
        .split_once("damaged: ")
        .and_then(|(_, rest)| rest.split_once(" vectors are bad"))
        .and_then(|(counts, _)| counts.split_once(" of "))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(bad, total, "every vector is bad: {out}");
}

#[test]
fn deleted_checkpoint_files_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = database(tmp.path(), false);
    for name in ["hnsw.graph", "ids.map", "payloads.idx"] {
        let copy = tmp.path().join(format!("without-{name}"));
        crash_image(&data, &copy);
        fs::remove_file(file(&copy, name)).unwrap();
        let (code, out) = check(&copy, &[]);
        assert_eq!(code, Some(1), "{name}: {out}");
        assert!(line(&out, name).contains("repaired on open"), "{out}");
        // Rebuilt and checkpointed by the first check.
        let (code, out) = check(&copy, &[]);
        assert_eq!(code, Some(0), "{name}: {out}");
    }
    fs::remove_file(file(&data, "vectors.idx")).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(line(&out, "vectors.idx").contains("missing"), "{out}");
}

#[test]
fn a_damaged_op_log_fails_until_repair_cuts_it_and_says_what_it_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = database(tmp.path(), true);
    let log = file(&data, "ops.log");
    let mut bytes = fs::read(&log).unwrap();
    // The second of three frames: header 20 bytes, then len u32 + crc u32 + content.
    let first_len = u32::from_le_bytes(bytes[20..24].try_into().unwrap()) as usize;
    let second = 20 + 8 + first_len;
    bytes[second + 40] ^= 0x01;
    fs::write(&log, &bytes).unwrap();
    let (code, out) = check(&data, &[]);
    assert_eq!(code, Some(2), "{out}");
    let l = line(&out, "ops.log");
    assert!(l.contains("damaged") && l.contains("--repair"), "{out}");

    let (code, out) = check(&data, &["--repair"]);
    assert_eq!(code, Some(1), "repaired is not ok: {out}");
    let l = line(&out, "ops.log");
    assert!(
        l.contains("repaired")
            && l.contains("dropping 2 frames")
            && l.contains(&format!("{} bytes", bytes.len() - second))
            && l.contains("acknowledged"),
        "{out}"
    );
    let (code, out) = check(&data, &[]);
    assert_eq!(code, Some(0), "{out}");
    let db = Database::open(&data).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(
        c.count(None).unwrap(),
        160,
        "the first logged upsert survived"
    );
}
