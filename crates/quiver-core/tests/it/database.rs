//! Database directory: manifest, LOCK file, creating and deleting collections.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quiver_core::{
    CollectionConfig, Database, Error, ErrorKind, Metric, Point, PointId, ScrollRequest,
    SearchRequest,
};

use crate::kill_child::{child_command, parent_env};

const PROBE_ENV: &str = "QUIVER_TEST_LOCK_PROBE";

fn config() -> CollectionConfig {
    CollectionConfig::new(3, Metric::Euclid)
}

#[test]
fn open_creates_directory_manifest_and_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = Database::open(&dir).unwrap();
    assert!(dir.join("quiver.json").is_file());
    assert!(dir.join("LOCK").is_file());
    assert!(db.list_collections().is_empty());
}

#[test]
fn second_open_in_the_same_process_is_locked_until_the_first_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let err = Database::open(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    let c = db.create_collection("c", config()).unwrap();
    drop(db);
    // The open collection still holds the lock.
    assert!(matches!(
        Database::open(tmp.path()),
        Err(Error::Locked { .. })
    ));
    drop(c);
    Database::open(tmp.path()).unwrap();
}

/// Entry point of the child process that [`probe`] starts: it opens the
/// database once and prints what happened.
#[test]
#[ignore = "child process of second_open_in_another_process_is_locked and deleting_the_lock_file_does_not_let_a_second_open_in; started by them with --ignored"]
fn lock_probe_child() {
    let dir = parent_env(
        PROBE_ENV,
        "database::second_open_in_another_process_is_locked",
    );
    match Database::open(&dir) {
        Ok(_) => println!("PROBE: opened"),
        Err(Error::Locked { .. }) => println!("PROBE: locked"),
        Err(e) => println!("PROBE: error {e}"),
    }
}

fn probe(dir: &std::path::Path) -> String {
    let out = child_command("database::lock_probe_child")
        .env(PROBE_ENV, dir)
        .output()
        .expect("test fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.split("PROBE: ").nth(1))
        .unwrap_or_else(|| panic!("child printed no probe line: {stdout}"))
        .to_owned()
}

#[test]
fn second_open_in_another_process_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(probe(tmp.path()), "locked");
    drop(db);
    assert_eq!(probe(tmp.path()), "opened");
}

#[test]
fn deleting_the_lock_file_does_not_let_a_second_open_in() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db.create_collection("c", config()).unwrap();
    std::fs::remove_file(tmp.path().join("LOCK")).unwrap();
    let err = Database::open(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert_eq!(probe(tmp.path()), "locked");
    // An open collection alone still keeps others out.
    drop(db);
    std::fs::remove_file(tmp.path().join("LOCK")).unwrap();
    assert_eq!(probe(tmp.path()), "locked");
    drop(c);
    assert_eq!(probe(tmp.path()), "opened");
}

#[test]
fn collections_are_created_listed_and_deleted_durably() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        db.create_collection("b", config()).unwrap();
        db.create_collection("a", config()).unwrap();
        assert_eq!(db.list_collections(), vec!["a", "b"]);
        let err = db.create_collection("a", config()).unwrap_err();
        assert!(matches!(err, Error::CollectionExists { .. }));
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        db.collection("a")
            .unwrap()
            .upsert(vec![Point::new(1, vec![1.0, 2.0, 3.0])])
            .unwrap();
    }
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(db.list_collections(), vec!["a", "b"]);
    let a = db.collection("a").unwrap();
    assert_eq!(a.count(None).unwrap(), 1);
    assert_eq!(a.config(), config());

    assert!(db.delete_collection("a").unwrap());
    assert!(!db.delete_collection("a").unwrap());
    assert!(!tmp.path().join("collections/a").exists());
    assert_eq!(
        std::fs::read_dir(tmp.path().join("dropped"))
            .unwrap()
            .count(),
        0
    );
    // A handle held across the delete fails cleanly.
    assert!(matches!(
        a.search(&SearchRequest::new(vec![0.0; 3], 1)),
        Err(Error::CollectionNotFound { .. })
    ));
    let err = db.collection("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    drop((a, db));
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(db.list_collections(), vec!["b"]);
    // The name is free again, and the new collection starts empty.
    let a = db.create_collection("a", config()).unwrap();
    assert_eq!(a.count(None).unwrap(), 0);
}

/// A database holding `kept` (no points) and `data` (points 1..=`n`),
/// closed again.
fn database_with_data(dir: &Path, n: u64) {
    let db = Database::open(dir).expect("test fixture");
    db.create_collection("kept", config())
        .expect("test fixture");
    let c = db
        .create_collection("data", config())
        .expect("test fixture");
    c.upsert(
        (1..=n)
            .map(|i| Point::new(i, vec![i as f32, 0.0, 1.0]))
            .collect(),
    )
    .expect("test fixture");
}

/// Every file under `dir` with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("test fixture") {
            let path = entry.expect("test fixture").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).expect("test fixture"));
            }
        }
    }
    files
}

/// The ids stored in `collection` of `db`, in order.
fn ids(db: &Database, collection: &str) -> Vec<PointId> {
    let page = db
        .collection(collection)
        .expect("test fixture")
        .scroll(&ScrollRequest {
            filter: None,
            limit: 1000,
            offset: None,
            with_payload: false,
            with_vector: false,
        })
        .expect("test fixture");
    page.points.iter().map(|r| r.id).collect()
}

#[test]
fn a_deleted_manifest_stops_the_open_and_repair_brings_every_point_back() {
    let tmp = tempfile::tempdir().unwrap();
    database_with_data(tmp.path(), 40);
    std::fs::remove_file(tmp.path().join("quiver.json")).unwrap();
    let before = snapshot(&tmp.path().join("collections"));
    for _ in 0..2 {
        let err = Database::open(tmp.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(
            matches!(&err, Error::Corrupt { path, .. } if path.ends_with("quiver.json")),
            "{err:?}"
        );
        assert!(err.to_string().contains("repair_manifest"), "{err}");
        assert!(!tmp.path().join("quiver.json").exists());
        assert_eq!(snapshot(&tmp.path().join("collections")), before);
    }
    let repair = Database::repair_manifest(tmp.path()).unwrap();
    assert_eq!(repair.collections, vec!["data", "kept"]);
    assert_eq!(repair.adopted, vec!["data", "kept"]);
    assert!(repair.skipped.is_empty(), "{:?}", repair.skipped);
    assert!(repair.written && repair.kept_damaged.is_none());
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(db.list_collections(), vec!["data", "kept"]);
    assert_eq!(
        ids(&db, "data"),
        (1..=40).map(PointId::from).collect::<Vec<_>>()
    );
    assert!(db.unnamed_entries().is_empty());
}

#[test]
fn a_garbage_manifest_stops_the_open_and_repair_keeps_it_aside() {
    let tmp = tempfile::tempdir().unwrap();
    database_with_data(tmp.path(), 25);
    // A directory whose config does not read is reported and left alone.
    let broken = tmp.path().join("collections/broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("config.json"), b"{\"dimension\": 0}").unwrap();
    std::fs::write(tmp.path().join("quiver.json"), b"{not json").unwrap();
    let before = snapshot(tmp.path());
    let err = Database::open(tmp.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { path, .. } if path.ends_with("quiver.json")),
        "{err:?}"
    );
    assert_eq!(snapshot(tmp.path()), before);
    let repair = Database::repair_manifest(tmp.path()).unwrap();
    assert_eq!(repair.collections, vec!["data", "kept"]);
    assert_eq!(repair.skipped.len(), 1, "{:?}", repair.skipped);
    assert_eq!(repair.skipped[0].0, broken);
    assert!(
        repair.skipped[0].1.contains("config.json"),
        "{:?}",
        repair.skipped
    );
    let damaged = repair.kept_damaged.clone().unwrap();
    assert_eq!(std::fs::read(&damaged).unwrap(), b"{not json");
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(
        ids(&db, "data"),
        (1..=25).map(PointId::from).collect::<Vec<_>>()
    );
    assert!(broken.join("config.json").is_file());
    assert_eq!(db.unnamed_entries(), [broken]);
}

#[test]
fn repair_does_not_rewrite_a_manifest_of_another_format_version() {
    let tmp = tempfile::tempdir().unwrap();
    database_with_data(tmp.path(), 3);
    let newer = br#"{"format_version": 99, "collections": ["data", "kept"]}"#;
    std::fs::write(tmp.path().join("quiver.json"), newer).unwrap();
    let err = Database::repair_manifest(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("99"), "{err}");
    assert_eq!(
        std::fs::read(tmp.path().join("quiver.json")).unwrap(),
        newer
    );
}

#[test]
fn repair_of_a_path_that_does_not_exist_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nothing");
    let err = Database::repair_manifest(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(!dir.exists());
}

#[test]
fn an_unnamed_collection_directory_with_data_is_never_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    database_with_data(tmp.path(), 12);
    // The manifest loses `data` (a restored older manifest, say).
    std::fs::write(
        tmp.path().join("quiver.json"),
        br#"{"format_version": 1, "collections": ["kept"]}"#,
    )
    .unwrap();
    let stray = tmp.path().join("collections/data");
    let before = snapshot(&stray);
    for _ in 0..2 {
        let db = Database::open(tmp.path()).unwrap();
        assert_eq!(db.list_collections(), vec!["kept"]);
        assert_eq!(db.unnamed_entries(), std::slice::from_ref(&stray));
        let err = db.create_collection("data", config()).unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{err:?}"
        );
        assert_eq!(snapshot(&stray), before);
    }
    let repair = Database::repair_manifest(tmp.path()).unwrap();
    assert_eq!(repair.adopted, vec!["data"]);
    assert_eq!(repair.collections, vec!["data", "kept"]);
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(
        ids(&db, "data"),
        (1..=12).map(PointId::from).collect::<Vec<_>>()
    );
    assert!(db.unnamed_entries().is_empty());
}

#[test]
fn an_interrupted_create_is_removed_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        db.create_collection("kept", config()).unwrap();
    }
    // What a crash between "directory written" and "manifest renamed" leaves.
    let orphan = tmp.path().join("collections/orphan");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join(".creating"), b"").unwrap();
    std::fs::write(orphan.join("config.json"), b"{}").unwrap();
    std::fs::write(orphan.join("ops.log"), b"partial").unwrap();
    std::fs::write(tmp.path().join("quiver.json.new"), b"garbage").unwrap();
    // A crash right after the mkdir, before the marker, leaves it empty.
    let empty = tmp.path().join("collections/empty");
    std::fs::create_dir(&empty).unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert!(!orphan.exists());
    assert!(!empty.exists());
    assert!(db.unnamed_entries().is_empty());
    assert_eq!(db.list_collections(), vec!["kept"]);
    db.collection("kept").unwrap();
    // The name is free, and nothing of the partial create survives.
    let c = db.create_collection("orphan", config()).unwrap();
    assert_eq!(c.count(None).unwrap(), 0);
    assert!(!orphan.join(".creating").exists());
    assert_eq!(
        std::fs::read_dir(tmp.path().join("dropped"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_create_interrupted_after_the_manifest_named_it_keeps_the_collection() {
    let tmp = tempfile::tempdir().unwrap();
    database_with_data(tmp.path(), 5);
    // The crash came after the manifest rename, before the marker was removed.
    let data = tmp.path().join("collections/data");
    std::fs::write(data.join(".creating"), b"").unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert!(!data.join(".creating").exists());
    assert_eq!(
        ids(&db, "data"),
        (1..=5).map(PointId::from).collect::<Vec<_>>()
    );
}

#[test]
fn an_interrupted_delete_is_finished_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    database_with_data(tmp.path(), 5);
    // Crash after the manifest dropped `data`, before the directory moved.
    std::fs::write(
        tmp.path().join("quiver.json"),
        br#"{"format_version": 1, "collections": ["kept"]}"#,
    )
    .unwrap();
    let data = tmp.path().join("collections/data");
    std::fs::write(data.join(".dropping"), b"").unwrap();
    // Crash in the middle of removing a directory already moved aside.
    let tombstone = tmp.path().join("dropped/old.0");
    std::fs::create_dir_all(&tombstone).unwrap();
    std::fs::write(tombstone.join("vectors.dat"), b"half removed").unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert!(!data.exists());
    assert!(!tombstone.exists());
    assert!(db.unnamed_entries().is_empty());
    assert_eq!(db.list_collections(), vec!["kept"]);
}

#[test]
fn a_delete_interrupted_before_the_manifest_changed_keeps_the_collection() {
    let tmp = tempfile::tempdir().unwrap();
    database_with_data(tmp.path(), 7);
    let data = tmp.path().join("collections/data");
    std::fs::write(data.join(".dropping"), b"").unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert!(!data.join(".dropping").exists());
    assert_eq!(
        ids(&db, "data"),
        (1..=7).map(PointId::from).collect::<Vec<_>>()
    );
}

#[test]
fn an_existing_empty_directory_becomes_a_new_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("collections")).unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert!(tmp.path().join("quiver.json").is_file());
    assert!(db.list_collections().is_empty());
}

#[test]
fn open_existing_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("db");
    let err = Database::open_existing(&missing).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(!missing.exists());
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = Database::open_existing(&empty).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    drop(Database::open(&missing).unwrap());
    Database::open_existing(&missing).unwrap();
}

#[test]
fn bad_names_and_configs_are_rejected_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "../x",
        "sp ace",
        "ünï",
        &"n".repeat(256),
    ] {
        let err = db.create_collection(name, config()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}");
    }
    let mut bad = config();
    bad.vectors.get_mut("").unwrap().dimension = 0;
    assert_eq!(
        db.create_collection("x", bad).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let mut bad = config();
    bad.vectors.get_mut("").unwrap().hnsw.m = 1000;
    assert_eq!(
        db.create_collection("x", bad).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(db.list_collections().is_empty());
    let entries: Vec<_> = std::fs::read_dir(tmp.path().join("collections"))
        .unwrap()
        .collect();
    assert!(entries.is_empty());
    db.create_collection(&"n".repeat(255), config()).unwrap();
}

#[test]
fn unknown_collection_is_not_found_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    db.create_collection("kept", config()).unwrap();
    let manifest = std::fs::read(tmp.path().join("quiver.json")).unwrap();
    let err = db.collection("nope").unwrap_err();
    assert!(matches!(err, Error::CollectionNotFound { ref name } if name == "nope"));
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(!db.delete_collection("nope").unwrap());
    assert_eq!(db.list_collections(), vec!["kept"]);
    assert!(!tmp.path().join("collections/nope").exists());
    assert_eq!(
        std::fs::read(tmp.path().join("quiver.json")).unwrap(),
        manifest
    );
}

#[test]
fn corrupt_manifest_is_reported_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    drop(Database::open(tmp.path()).unwrap());
    std::fs::write(tmp.path().join("quiver.json"), b"{not json").unwrap();
    let err = Database::open(tmp.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    std::fs::write(
        tmp.path().join("quiver.json"),
        br#"{"format_version": 99, "collections": []}"#,
    )
    .unwrap();
    let err = Database::open(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("99"), "{err}");
    assert_eq!(
        std::fs::read(tmp.path().join("quiver.json")).unwrap(),
        br#"{"format_version": 99, "collections": []}"#
    );
}

#[test]
fn flush_all_checkpoints_every_open_collection() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    for name in ["x", "y"] {
        db.create_collection(name, config())
            .unwrap()
            .upsert(vec![Point::new(1, vec![0.5; 3])])
            .unwrap();
    }
    db.flush_all().unwrap();
    for name in ["x", "y"] {
        let log = std::fs::metadata(tmp.path().join("collections").join(name).join("ops.log"))
            .unwrap()
            .len();
        assert_eq!(
            log, 20,
            "{name}: the log holds only its header after a checkpoint"
        );
    }
}
