//! Database directory: manifest, LOCK file, creating and deleting collections.

use std::process::Command;

use quiver_core::{CollectionConfig, Database, Error, ErrorKind, Metric, Point, SearchRequest};

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

/// Entry point of the child process of
/// `second_open_in_another_process_is_locked`; does nothing in a normal run.
#[test]
fn lock_probe_child() {
    let Ok(dir) = std::env::var(PROBE_ENV) else {
        return;
    };
    match Database::open(&dir) {
        Ok(_) => println!("PROBE: opened"),
        Err(Error::Locked { .. }) => println!("PROBE: locked"),
        Err(e) => println!("PROBE: error {e}"),
    }
}

fn probe(dir: &std::path::Path) -> String {
    let out = Command::new(std::env::current_exe().expect("test fixture"))
        .args([
            "database::lock_probe_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
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

#[test]
fn directories_missing_from_the_manifest_are_removed_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        db.create_collection("kept", config()).unwrap();
    }
    // What a crash between "directory written" and "manifest renamed" leaves.
    let orphan = tmp.path().join("collections/orphan");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("config.json"), b"{}").unwrap();
    std::fs::write(tmp.path().join("quiver.json.new"), b"garbage").unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert!(!orphan.exists());
    assert_eq!(db.list_collections(), vec!["kept"]);
    db.collection("kept").unwrap();
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
    bad.dimension = 0;
    assert_eq!(
        db.create_collection("x", bad).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let mut bad = config();
    bad.hnsw.m = 1000;
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
