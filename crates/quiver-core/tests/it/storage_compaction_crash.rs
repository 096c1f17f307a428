//! Crashes at every named point of compaction (and of the flush
//! checkpoint): reopening yields exactly the live data from before.

#![cfg(test)]

use std::collections::HashMap;
use std::path::Path;

use quiver_core::storage::fault;
use quiver_core::storage::{LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage};
use serde_json::json;

use crate::storage_support::{bits, crash, pattern};

const DIM: usize = 8;

/// A store with overwrites, deletes, and changes both before and after the
/// last flush (so some live only in the WAL). Returns the model id -> version.
fn populated(dir: &Path) -> (MmapStorage, HashMap<u64, u64>) {
    let mut s = MmapStorage::new(dir, DIM).unwrap();
    let mut model = HashMap::new();
    for id in 0..300u64 {
        s.store(id, &pattern(id, 0, DIM)).unwrap();
        model.insert(id, 0);
    }
    for id in (0..300u64).step_by(3) {
        s.delete(id).unwrap();
        model.remove(&id);
    }
    s.flush().unwrap();
    for id in (1..300u64).step_by(5) {
        s.store(id, &pattern(id, 1, DIM)).unwrap();
        model.insert(id, 1);
    }
    for id in (2..300u64).step_by(7) {
        s.delete(id).unwrap();
        model.remove(&id);
    }
    for id in 300..320u64 {
        s.store(id, &pattern(id, 2, DIM)).unwrap();
        model.insert(id, 2);
    }
    s.delete(301).unwrap();
    model.remove(&301);
    (s, model)
}

fn assert_matches(dir: &Path, model: &HashMap<u64, u64>, what: &str) {
    let s = MmapStorage::new(dir, DIM).unwrap();
    let mut ids: Vec<u64> = model.keys().copied().collect();
    ids.sort_unstable();
    assert_eq!(s.ids(), ids, "{what}: ids");
    for (&id, &version) in model {
        let got = s.retrieve(id).unwrap().unwrap();
        assert_eq!(
            bits(&got),
            bits(&pattern(id, version, DIM)),
            "{what}: id {id}"
        );
    }
}

fn exists(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}

#[test]
fn crash_at_each_compaction_step_keeps_the_live_data() {
    let points = [
        ("compact:after_data_tmp", true, false),
        ("compact:after_index_tmp", true, true),
        ("compact:after_data_rename", false, true),
        ("compact:after_index_rename", false, false),
    ];
    for (point, data_tmp, index_tmp) in points {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, model) = populated(dir.path());
        fault::arm(point);
        let err = s.compact().unwrap_err();
        fault::disarm();
        assert!(err.to_string().contains(point), "{point}: {err}");
        crash(s);
        assert_eq!(
            exists(dir.path(), "vectors.dat.tmp"),
            data_tmp,
            "{point}: dat.tmp"
        );
        assert_eq!(
            exists(dir.path(), "vectors.idx.tmp"),
            index_tmp,
            "{point}: idx.tmp"
        );
        assert_matches(dir.path(), &model, point);
        assert_failed_compaction_then_drop_is_safe(point, data_tmp);
        assert!(!exists(dir.path(), "vectors.dat.tmp") && !exists(dir.path(), "vectors.idx.tmp"));
        // The repaired store compacts and reopens cleanly.
        let mut s = MmapStorage::new(dir.path(), DIM).unwrap();
        s.compact().unwrap();
        assert_eq!(s.fragmentation_ratio(), 0.0);
        drop(s);
        assert_matches(dir.path(), &model, &format!("{point} then compact"));
    }
}

/// The same failure without a crash: the store refuses further writes if
/// the failure came after the commit point, and its `Drop` leaves the files
/// for open-time repair instead of checkpointing stale state.
fn assert_failed_compaction_then_drop_is_safe(point: &str, before_commit: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut model) = populated(dir.path());
    fault::arm(point);
    s.compact().unwrap_err();
    fault::disarm();
    let write = s.store(0, &pattern(0, 9, DIM));
    assert_eq!(
        write.is_ok(),
        before_commit,
        "{point}: write after a failed compaction"
    );
    if before_commit {
        model.insert(0, 9);
    }
    drop(s);
    assert_matches(dir.path(), &model, &format!("{point} then drop"));
}

#[test]
fn interrupted_platform_replace_leaves_a_bak_that_open_resolves() {
    // The commit rename not yet done: vectors.dat moved aside to .bak.
    let dir = tempfile::tempdir().unwrap();
    let (mut s, model) = populated(dir.path());
    fault::arm("compact:after_index_tmp");
    s.compact().unwrap_err();
    crash(s);
    std::fs::rename(
        dir.path().join("vectors.dat"),
        dir.path().join("vectors.dat.bak"),
    )
    .unwrap();
    assert_matches(dir.path(), &model, "bak before commit");
    assert!(!exists(dir.path(), "vectors.dat.bak"));

    // The commit rename done, the stale .bak not yet removed.
    let dir = tempfile::tempdir().unwrap();
    let (mut s, model) = populated(dir.path());
    fault::arm("compact:after_index_tmp");
    s.compact().unwrap_err();
    crash(s);
    let d = dir.path();
    std::fs::rename(d.join("vectors.dat"), d.join("vectors.dat.bak")).unwrap();
    std::fs::rename(d.join("vectors.dat.tmp"), d.join("vectors.dat")).unwrap();
    assert_matches(d, &model, "bak after commit");
    assert!(!exists(d, "vectors.dat.bak"));
}

#[test]
fn crash_inside_flush_keeps_every_change() {
    for point in ["flush:after_wal_sync", "flush:after_index"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, model) = populated(dir.path());
        fault::arm(point);
        s.flush().unwrap_err();
        fault::disarm();
        crash(s);
        assert_matches(dir.path(), &model, point);
    }
}

#[test]
fn crash_at_each_payload_compaction_step_keeps_the_live_records() {
    for point in [
        "payload_compact:after_log_tmp",
        "payload_compact:after_index_tmp",
        "payload_compact:after_log_rename",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut p = LogPayloadStorage::new(dir.path()).unwrap();
        let mut model = HashMap::new();
        for round in 0..3u64 {
            for id in 0..60u64 {
                let v = json!({"id": id, "round": round, "tags": ["a", round]});
                p.store(id, &v).unwrap();
                model.insert(id, v);
            }
            if round == 1 {
                p.checkpoint().unwrap();
            }
        }
        for id in (0..60u64).step_by(4) {
            p.delete(id).unwrap();
            model.remove(&id);
        }
        p.flush().unwrap();
        fault::arm(point);
        let err = p.compact().unwrap_err();
        fault::disarm();
        assert!(err.to_string().contains(point));
        std::mem::forget(p);
        let p = LogPayloadStorage::new(dir.path()).unwrap();
        assert!(!exists(dir.path(), "payloads.log.tmp") && !exists(dir.path(), "payloads.idx.tmp"));
        let mut ids: Vec<u64> = model.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(p.ids(), ids, "{point}");
        for (id, v) in &model {
            assert_eq!(
                p.retrieve(*id).unwrap().as_ref(),
                Some(v),
                "{point}: id {id}"
            );
        }
    }
}
