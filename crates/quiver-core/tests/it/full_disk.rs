//! A full disk: a child process fills a small tmpfs with a collection of
//! 4096-d points (growing `vectors.dat`, checkpointing, replacing and
//! deleting points) until writes fail. Every write must either succeed or
//! return an error naming the lack of space, the process must not die of
//! SIGBUS, and the collection must keep working. The parent then reopens
//! on the still full disk, finds every acknowledged write bit-exact and
//! nothing else, frees space and writes again.
//!
//! The test mounts the tmpfs itself (root only); where mounting is not
//! permitted it prints why it skipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use crate::kill_child::{child_command, parent_env};
use quiver_testkit::Tmpfs;

use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, PointSelector};
use serde_json::json;

const CHILD_ENV: &str = "QUIVER_TEST_FULL_DISK_CHILD";
const DIM: usize = 4096;
const TMPFS_SIZE: &str = "20m";
/// Room the test frees at the end; the rest of the disk is the collection.
const FILLER_BYTES: usize = 1 << 20;
/// The child stops after this many failed writes.
const MAX_ERRORS: usize = 40;
const MAX_ATTEMPTS: u64 = 4000;

/// The vector of point `id` at `version`.
fn vector(id: u64, version: u64) -> Vec<f32> {
    crate::storage_support::pattern(id, version, DIM)
}

/// Point `id` at `version`, its payload naming the version.
fn point(id: u64, version: u64) -> Point {
    let mut payload = serde_json::Map::new();
    payload.insert("v".into(), json!(version));
    Point::new(id, vector(id, version)).with_payload(payload)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Entry point of the child process of
/// `a_full_disk_fails_writes_cleanly_and_loses_nothing`.
#[test]
#[ignore = "child process of a_full_disk_fails_writes_cleanly_and_loses_nothing; started by it with --ignored"]
fn full_disk_child() {
    let root = PathBuf::from(parent_env(
        CHILD_ENV,
        "full_disk::a_full_disk_fails_writes_cleanly_and_loses_nothing",
    ));
    let db = Database::open(root.join("db")).unwrap();
    let mut config = CollectionConfig::new(DIM, Metric::Euclid);
    // Frequent checkpoints: the op log stays small, so the disk fills
    // with vectors and `vectors.dat` has to grow.
    config.checkpoint_log_bytes = 256 << 10;
    let c = db.create_collection("c", config).unwrap();
    std::fs::write(root.join("filler"), vec![1u8; FILLER_BYTES]).unwrap();
    say("READY");
    let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut next_id = 0u64;
    let mut errors = 0;
    for attempt in 0..MAX_ATTEMPTS {
        if errors >= MAX_ERRORS {
            break;
        }
        if attempt % 9 == 8 && !acked.is_empty() {
            let id = *acked.keys().nth(attempt as usize % acked.len()).unwrap();
            match c.delete(&PointSelector::Ids(vec![PointId::Num(id)])) {
                Ok(_) => {
                    acked.remove(&id);
                    say(&format!("DEL {id}"));
                }
                Err(err) => {
                    errors += 1;
                    say(&format!("ERR {err}"));
                }
            }
            continue;
        }
        let n = 1 + attempt % 4;
        let mut ids: Vec<u64> = Vec::new();
        if attempt % 5 == 4 && !acked.is_empty() {
            // A replacement retires an old version (payload delete, held vector).
            ids.push(*acked.keys().nth(attempt as usize % acked.len()).unwrap());
        }
        while ids.len() < n as usize {
            ids.push(next_id);
            next_id += 1;
        }
        let points = ids.iter().map(|&id| point(id, attempt)).collect();
        match c.upsert(points) {
            Ok(_) => {
                let list: Vec<String> = ids.iter().map(|id| format!("{id}:{attempt}")).collect();
                for &id in &ids {
                    acked.insert(id, attempt);
                }
                say(&format!("ACK {}", list.join(" ")));
            }
            Err(err) => {
                errors += 1;
                say(&format!("ERR {err}"));
            }
        }
    }
    // Still readable in this process, whatever failed.
    let ids: Vec<PointId> = acked.keys().map(|&id| PointId::Num(id)).collect();
    let got = c.get(&ids, false, true).unwrap();
    assert_eq!(got.len(), acked.len());
    say("DONE");
}

/// Every point of the collection, checked against `model` bit for bit.
fn check_points(c: &quiver_core::Collection, model: &BTreeMap<u64, u64>) {
    assert_eq!(
        c.count(None).expect("count"),
        model.len() as u64,
        "point count"
    );
    let ids: Vec<PointId> = model.keys().map(|&id| PointId::Num(id)).collect();
    for chunk in ids.chunks(256) {
        for r in c.get(chunk, true, true).expect("get") {
            let PointId::Num(id) = r.id else {
                panic!("uuid {}", r.id)
            };
            let version = model[&id];
            let payload = r.payload.clone().expect("asked for the payload");
            assert_eq!(payload["v"], json!(version), "payload of {id}");
            let got: Vec<u32> = r
                .vector()
                .expect("asked for the vector")
                .iter()
                .map(|x| x.to_bits())
                .collect();
            let want: Vec<u32> = vector(id, version).iter().map(|x| x.to_bits()).collect();
            assert!(got == want, "vector of {id} is not version {version}");
        }
    }
}

#[test]
fn a_full_disk_fails_writes_cleanly_and_loses_nothing() {
    let disk = match Tmpfs::mount(TMPFS_SIZE) {
        Ok(disk) => disk,
        Err(why) => {
            println!("skipped: cannot mount tmpfs: {why}");
            return;
        }
    };
    let out = child_command("full_disk::full_disk_child")
        .env(CHILD_ENV, disk.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.signal().is_none(),
            "the child died of signal {:?} (SIGBUS is 7); its output ends:\n{}",
            out.status.signal(),
            tail(&stdout)
        );
    }
    assert!(out.status.success(), "child failed:\n{}", tail(&stdout));
    assert!(stdout.lines().any(|l| l == "DONE"), "{}", tail(&stdout));

    let mut model: BTreeMap<u64, u64> = BTreeMap::new();
    let mut errors = Vec::new();
    for line in stdout.lines() {
        if let Some(list) = line.strip_prefix("ACK ") {
            for item in list.split(' ') {
                let (id, version) = item.split_once(':').unwrap();
                model.insert(id.parse().unwrap(), version.parse().unwrap());
            }
        } else if let Some(id) = line.strip_prefix("DEL ") {
            model.remove(&id.parse::<u64>().unwrap());
        } else if let Some(err) = line.strip_prefix("ERR ") {
            errors.push(err.to_owned());
        }
    }
    assert!(!model.is_empty(), "no write succeeded");
    assert_eq!(errors.len(), MAX_ERRORS, "the disk never filled");
    for err in &errors {
        assert!(
            err.contains("No space left on device"),
            "an error that is not a full disk: {err}"
        );
    }
    let data = disk.path().join("db").join("collections").join("c");
    let grown = std::fs::metadata(data.join("vectors.dat")).unwrap().len();
    assert!(grown > 16 << 20, "vectors.dat never grew ({grown} bytes)");

    // Reopen on the disk that is still full.
    {
        let db = Database::open(disk.path().join("db")).unwrap();
        let c = db.collection("c").unwrap();
        check_points(&c, &model);
        // Closing the child may have freed a little (a checkpoint that went
        // through): what fits is acknowledged like any write.
        let mut failed = None;
        for id in 1_000_000..1_001_000u64 {
            match c.upsert(vec![point(id, 0)]) {
                Ok(_) => {
                    model.insert(id, 0);
                }
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        let err = failed.expect("a write on the full disk fails");
        assert!(err.to_string().contains("No space left on device"), "{err}");
        check_points(&c, &model);
        // Leftover temporary files of failed checkpoints hold no space.
        for entry in std::fs::read_dir(&data).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".new"), "{name} left behind");
        }
    }

    // Free the filler: writes succeed again, and survive a reopen.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    {
        let db = Database::open(disk.path().join("db")).unwrap();
        let c = db.collection("c").unwrap();
        for id in 2_000_000..2_000_008u64 {
            c.upsert(vec![point(id, 1)]).unwrap();
            model.insert(id, 1);
        }
        c.flush().unwrap();
        check_points(&c, &model);
    }
    let db = Database::open(disk.path().join("db")).unwrap();
    check_points(&db.collection("c").unwrap(), &model);
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Recovery replays the op log onto the payload store; a record it already
/// holds must not be appended again, or every reopen on a full disk would
/// fail (and the log grow).
#[test]
fn storing_an_identical_payload_again_appends_nothing() {
    use quiver_core::storage::{LogPayloadStorage, PayloadStorage};
    let tmp = tempfile::tempdir().unwrap();
    let mut store = LogPayloadStorage::new(tmp.path()).unwrap();
    store.store(1, &json!({"a": 1})).unwrap();
    let log = tmp.path().join("payloads.log");
    let len = std::fs::metadata(&log).unwrap().len();
    store.store(1, &json!({"a": 1})).unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
    assert_eq!(store.dead_bytes(), 0);
    store.store(1, &json!({"a": 2})).unwrap();
    assert!(std::fs::metadata(&log).unwrap().len() > len);
    assert_eq!(store.retrieve(1).unwrap(), Some(json!({"a": 2})));
    drop(store);
    let store = LogPayloadStorage::new(tmp.path()).unwrap();
    assert_eq!(store.retrieve(1).unwrap(), Some(json!({"a": 2})));
}
