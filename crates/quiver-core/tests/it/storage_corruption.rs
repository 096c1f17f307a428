//! Torn and corrupt files: a torn log tail is cut off (and later appends
//! are not lost behind it), corrupt bytes are `InvalidData`, and nothing
//! ever panics.

#![cfg(test)]

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use quiver_core::storage::{
    DurabilityMode, LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::storage_support::{bits, crash, pattern};

const DIM: usize = 4;
/// The damage tests open many stores; fsyncs add nothing to what they check.
const MODE: DurabilityMode = DurabilityMode::FlushOnly;

fn open(dir: &Path) -> std::io::Result<MmapStorage> {
    MmapStorage::new_with_durability(dir, DIM, MODE)
}

fn open_payloads(dir: &Path) -> std::io::Result<LogPayloadStorage> {
    LogPayloadStorage::new_with_durability(dir, MODE)
}

/// How the last WAL frame is damaged.
#[derive(Clone, Copy, Debug)]
enum Damage {
    CutAt(usize),
    Flip(usize),
}

/// Stores ids 0..5 (checkpointed), then 10 and 11 in the WAL, then a last
/// frame (a store of new id 12, or a delete of 3) that gets damaged.
fn damaged_store(dir: &Path, last_is_delete: bool, damage: Damage) -> usize {
    let mut s = open(dir).unwrap();
    for id in 0..5 {
        s.store(id, &pattern(id, 0, DIM)).unwrap();
    }
    s.flush().unwrap();
    s.store(10, &pattern(10, 0, DIM)).unwrap();
    s.store(11, &pattern(11, 0, DIM)).unwrap();
    let wal = dir.join("vectors.wal");
    let before_last = fs::metadata(&wal).unwrap().len() as usize;
    if last_is_delete {
        s.delete(3).unwrap();
    } else {
        s.store(12, &pattern(12, 0, DIM)).unwrap();
    }
    crash(s);
    let mut bytes = fs::read(&wal).unwrap();
    let frame_len = bytes.len() - before_last;
    match damage {
        Damage::CutAt(at) => bytes.truncate(before_last + at),
        Damage::Flip(at) => bytes[before_last + at] ^= 0x20,
    }
    fs::write(&wal, bytes).unwrap();
    frame_len
}

fn check_after_damage(dir: &Path, what: &str) {
    let mut s = open(dir).unwrap();
    assert_eq!(s.ids(), vec![0, 1, 2, 3, 4, 10, 11], "{what}");
    for id in s.ids() {
        assert_eq!(
            bits(&s.retrieve(id).unwrap().unwrap()),
            bits(&pattern(id, 0, DIM)),
            "{what}: id {id}"
        );
    }
    // A later append must not be hidden behind the torn bytes.
    s.store(20, &pattern(20, 0, DIM)).unwrap();
    crash(s);
    let s = open(dir).unwrap();
    assert_eq!(
        s.ids(),
        vec![0, 1, 2, 3, 4, 10, 11, 20],
        "{what}: after append"
    );
}

#[test]
fn torn_wal_tail_is_truncated_at_every_byte() {
    for last_is_delete in [false, true] {
        let probe = tempfile::tempdir().unwrap();
        let frame_len = damaged_store(probe.path(), last_is_delete, Damage::CutAt(0));
        for cut in 0..frame_len {
            let dir = tempfile::tempdir().unwrap();
            damaged_store(dir.path(), last_is_delete, Damage::CutAt(cut));
            check_after_damage(dir.path(), &format!("delete {last_is_delete} cut {cut}"));
        }
        for flip in 0..frame_len {
            let dir = tempfile::tempdir().unwrap();
            damaged_store(dir.path(), last_is_delete, Damage::Flip(flip));
            check_after_damage(dir.path(), &format!("delete {last_is_delete} flip {flip}"));
        }
    }
}

#[test]
fn wal_frame_of_wrong_length_is_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());
    // A well-formed frame holding 3 floats for a 4-d store.
    let mut frame = vec![1u8];
    frame.extend_from_slice(&7u64.to_le_bytes());
    frame.extend_from_slice(&12u32.to_le_bytes());
    frame.extend_from_slice(&[0u8; 12]);
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    // Good frames first: a failed open must not checkpoint them and cut the WAL.
    let mut wal = Vec::new();
    for id in 0..3u64 {
        let start = wal.len();
        wal.push(1u8);
        wal.extend_from_slice(&id.to_le_bytes());
        wal.extend_from_slice(&16u32.to_le_bytes());
        wal.extend(pattern(id, 0, DIM).iter().flat_map(|x| x.to_le_bytes()));
        let crc = crc32fast::hash(&wal[start..]);
        wal.extend_from_slice(&crc.to_le_bytes());
    }
    wal.extend_from_slice(&frame);
    fs::write(dir.path().join("vectors.wal"), &wal).unwrap();
    let err = open(dir.path()).unwrap_err();
    assert_eq!(
        fs::read(dir.path().join("vectors.wal")).unwrap(),
        wal,
        "the WAL is left as found"
    );
    assert!(!dir.path().join("vectors.idx").exists());
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let msg = err.to_string();
    assert!(
        msg.contains("vectors.wal") && msg.contains("dimension 4"),
        "{msg}"
    );
}

fn index_file(dim: u32, next_slot: u64, entries: &[(u64, u64)]) -> Vec<u8> {
    let mut out = b"QVVECIDX".to_vec();
    out.push(1);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&dim.to_le_bytes());
    out.extend_from_slice(&next_slot.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (id, off) in entries {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn corrupt_offsets_in_the_index_are_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path()).unwrap();
    s.store(0, &pattern(0, 0, DIM)).unwrap();
    s.flush().unwrap();
    drop(s);
    let entries = [
        (0, 0),
        (1, 1 << 40),
        (2, 2),
        (3, u64::MAX - 2),
        (4, 16 * 1024 * 1024 - 8),
    ];
    fs::write(
        dir.path().join("vectors.idx"),
        index_file(DIM as u32, 6, &entries),
    )
    .unwrap();
    let mut s = open(dir.path()).unwrap();
    assert_eq!(
        bits(&s.retrieve(0).unwrap().unwrap()),
        bits(&pattern(0, 0, DIM))
    );
    for id in 1..5 {
        assert_eq!(
            s.retrieve(id).unwrap_err().kind(),
            ErrorKind::InvalidData,
            "id {id}"
        );
        assert_eq!(
            s.retrieve_ref(id).unwrap_err().kind(),
            ErrorKind::InvalidData,
            "id {id}"
        );
        assert_eq!(
            s.store(id, &pattern(id, 1, DIM)).unwrap_err().kind(),
            ErrorKind::InvalidData,
            "overwrite of id {id}"
        );
    }
    assert_eq!(
        s.for_each_vector(|_, _| {}).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    // Compaction refuses to drop what it cannot read, and changes nothing.
    assert_eq!(s.compact().unwrap_err().kind(), ErrorKind::InvalidData);
    assert_eq!(s.ids(), vec![0, 1, 2, 3, 4]);
    assert_eq!(
        bits(&s.retrieve(0).unwrap().unwrap()),
        bits(&pattern(0, 0, DIM))
    );
    let report = s.verify().unwrap();
    let bad: Vec<u64> = report.bad.iter().map(|b| b.id).collect();
    assert_eq!(bad.len(), 4, "{report:?}");
}

#[test]
fn missing_data_file_with_an_index_is_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path()).unwrap();
    s.store(1, &pattern(1, 0, DIM)).unwrap();
    s.flush().unwrap();
    drop(s);
    fs::remove_file(dir.path().join("vectors.dat")).unwrap();
    let err = open(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("vectors.dat"), "{err}");
}

#[test]
fn garbage_index_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path()).unwrap();
    for id in 0..50 {
        s.store(id, &pattern(id, 0, DIM)).unwrap();
    }
    s.flush().unwrap();
    drop(s);
    let idx = dir.path().join("vectors.idx");
    let good = fs::read(&idx).unwrap();
    let mut rng = SmallRng::seed_from_u64(3);
    for round in 0..300 {
        let bad: Vec<u8> = match round % 3 {
            0 => (0..rng.random_range(0..2000))
                .map(|_| rng.random())
                .collect(),
            1 => good[..rng.random_range(0..good.len())].to_vec(),
            _ => {
                let mut b = good.clone();
                let at = rng.random_range(0..b.len());
                b[at] ^= 1 << rng.random_range(0..8);
                b
            }
        };
        fs::write(&idx, &bad).unwrap();
        let err = open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "round {round}: {err}");
    }
    fs::write(&idx, &good).unwrap();
    assert_eq!(open(dir.path()).unwrap().len(), 50);
}

#[test]
fn garbage_anywhere_in_the_wal_never_panics() {
    let mut rng = SmallRng::seed_from_u64(11);
    for round in 0..60 {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path()).unwrap();
        for id in 0..20 {
            s.store(id, &pattern(id, 0, DIM)).unwrap();
            if id % 4 == 0 {
                s.delete(id / 2).unwrap();
            }
        }
        crash(s);
        let wal = dir.path().join("vectors.wal");
        let mut bytes = fs::read(&wal).unwrap();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        fs::write(&wal, &bytes).unwrap();
        match open(dir.path()) {
            Ok(s) => {
                for id in s.ids() {
                    // Whatever survived is a whole, correct vector.
                    assert_eq!(
                        bits(&s.retrieve(id).unwrap().unwrap()),
                        bits(&pattern(id, 0, DIM)),
                        "round {round}"
                    );
                }
            }
            Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidData, "round {round}: {err}"),
        }
    }
}

/// Stores payloads 0..4, then a last record (store of 9 or delete of 1) that gets damaged.
fn damaged_payloads(dir: &Path, last_is_delete: bool, damage: Damage) -> usize {
    let mut p = open_payloads(dir).unwrap();
    for id in 0..4u64 {
        p.store(id, &json!({"id": id})).unwrap();
    }
    let log = dir.join("payloads.log");
    let before_last = fs::metadata(&log).unwrap().len() as usize;
    if last_is_delete {
        p.delete(1).unwrap();
    } else {
        p.store(9, &json!({"id": 9, "s": "last"})).unwrap();
    }
    std::mem::forget(p);
    let mut bytes = fs::read(&log).unwrap();
    let frame_len = bytes.len() - before_last;
    match damage {
        Damage::CutAt(at) => bytes.truncate(before_last + at),
        Damage::Flip(at) => bytes[before_last + at] ^= 0x20,
    }
    fs::write(&log, bytes).unwrap();
    frame_len
}

#[test]
fn torn_payload_log_tail_is_truncated_at_every_byte() {
    for last_is_delete in [false, true] {
        let probe = tempfile::tempdir().unwrap();
        let frame_len = damaged_payloads(probe.path(), last_is_delete, Damage::CutAt(0));
        let damages = (0..frame_len)
            .map(Damage::CutAt)
            .chain((0..frame_len).map(Damage::Flip));
        for damage in damages {
            let what = format!("delete {last_is_delete} {damage:?}");
            let dir = tempfile::tempdir().unwrap();
            damaged_payloads(dir.path(), last_is_delete, damage);
            let mut p = open_payloads(dir.path()).unwrap();
            assert_eq!(p.ids(), vec![0, 1, 2, 3], "{what}");
            assert_eq!(p.retrieve(2).unwrap(), Some(json!({"id": 2})), "{what}");
            p.store(20, &json!("later")).unwrap();
            std::mem::forget(p);
            let p = open_payloads(dir.path()).unwrap();
            assert_eq!(p.ids(), vec![0, 1, 2, 3, 20], "{what}: after append");
            assert_eq!(p.retrieve(20).unwrap(), Some(json!("later")));
        }
    }
}

#[test]
fn corrupt_payload_snapshot_falls_back_to_a_scan_and_bad_records_are_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = open_payloads(dir.path()).unwrap();
    for id in 0..30u64 {
        p.store(
            id,
            &json!({"id": id, "text": "some text to make the record longer"}),
        )
        .unwrap();
    }
    p.checkpoint().unwrap();
    drop(p);
    let snap = dir.path().join("payloads.idx");
    let good = fs::read(&snap).unwrap();
    let mut rng = SmallRng::seed_from_u64(5);
    for _ in 0..50 {
        let mut bad = good.clone();
        let at = rng.random_range(0..bad.len());
        bad[at] ^= 1 << rng.random_range(0..8);
        fs::write(&snap, &bad).unwrap();
        let p = open_payloads(dir.path()).unwrap();
        assert_eq!(p.len(), 30);
        let repaired = p.repaired_on_open().unwrap_or_default();
        assert!(
            repaired.starts_with("payloads.idx"),
            "flip at {at}: {repaired:?}"
        );
        assert_eq!(
            p.retrieve(29).unwrap(),
            Some(json!({"id": 29, "text": "some text to make the record longer"}))
        );
        std::mem::forget(p);
    }
    fs::write(&snap, &good).unwrap();
    let p = open_payloads(dir.path()).unwrap();
    assert_eq!(
        p.repaired_on_open(),
        None,
        "an intact snapshot is no repair"
    );
    std::mem::forget(p);
    // A flipped byte inside a covered (not tail) record: that record is InvalidData.
    let log = dir.path().join("payloads.log");
    let mut bytes = fs::read(&log).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(&log, &bytes).unwrap();
    let p = open_payloads(dir.path()).unwrap();
    let errors = (0..30u64)
        .filter(|&id| match p.retrieve(id) {
            Ok(v) => {
                assert!(v.is_some());
                false
            }
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::InvalidData);
                true
            }
        })
        .count();
    assert_eq!(errors, 1);
    // A header that is not a payload log is InvalidData.
    std::mem::forget(p);
    bytes[0] ^= 0xFF;
    fs::write(&log, &bytes).unwrap();
    assert_eq!(
        open_payloads(dir.path()).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
}

/// Ids 0..10 stored and flushed, then id 3 deleted and flushed (so
/// compaction has a dead slot to reclaim). Returns the data file's path.
fn flushed_store(dir: &Path) -> std::path::PathBuf {
    let mut s = open(dir).unwrap();
    for id in 0..10 {
        s.store(id, &pattern(id, 0, DIM)).unwrap();
    }
    s.flush().unwrap();
    s.delete(3).unwrap();
    s.flush().unwrap();
    drop(s);
    dir.join("vectors.dat")
}

#[test]
fn flipped_bits_in_vectors_dat_fail_verify_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let data = flushed_store(dir.path());
    let s = open(dir.path()).unwrap();
    let report = s.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.checked, 9);
    drop(s);
    // Slot 5 holds id 5: flip one bit of its second float.
    let mut bytes = fs::read(&data).unwrap();
    bytes[5 * DIM * 4 + 5] ^= 0x10;
    fs::write(&data, &bytes).unwrap();
    let mut s = open(dir.path()).unwrap();
    let report = s.verify().unwrap();
    assert_eq!(report.bad.len(), 1, "{report:?}");
    assert_eq!(report.bad[0].id, 5);
    assert_eq!(report.bad[0].offset, (5 * DIM * 4) as u64);
    assert!(report.bad[0].problem.contains("CRC"), "{report:?}");
    let err = s.compact().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("id 5"), "{err}");
    // Nothing was changed: the other vectors read back, the store still writes.
    assert_eq!(s.ids(), vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    assert_eq!(
        bits(&s.retrieve(9).unwrap().unwrap()),
        bits(&pattern(9, 0, DIM))
    );
    // Rewriting the vector gives it a good CRC again.
    s.store(5, &pattern(5, 1, DIM)).unwrap();
    assert!(s.verify().unwrap().is_ok());
    assert!(s.compact().unwrap() > 0);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn zeroed_vectors_dat_fails_verify_for_every_vector() {
    let dir = tempfile::tempdir().unwrap();
    let data = flushed_store(dir.path());
    let len = fs::metadata(&data).unwrap().len();
    fs::write(&data, vec![0u8; len as usize]).unwrap();
    let s = open(dir.path()).unwrap();
    let report = s.verify().unwrap();
    assert_eq!(report.bad.len(), 9, "{report:?}");
}

#[test]
fn version_1_index_opens_unchanged_and_the_next_checkpoint_writes_version_2() {
    let dir = tempfile::tempdir().unwrap();
    flushed_store(dir.path());
    // What the previous release wrote: the same map without CRCs.
    let entries: Vec<(u64, u64)> = (0..10u64)
        .filter(|&id| id != 3)
        .map(|id| (id, id * (DIM as u64) * 4))
        .collect();
    let idx = dir.path().join("vectors.idx");
    fs::write(&idx, index_file(DIM as u32, 10, &entries)).unwrap();
    let mut s = open(dir.path()).unwrap();
    assert_eq!(s.ids(), vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    for id in s.ids() {
        assert_eq!(
            bits(&s.retrieve(id).unwrap().unwrap()),
            bits(&pattern(id, 0, DIM))
        );
    }
    assert!(s.verify().unwrap().is_ok());
    s.store(11, &pattern(11, 0, DIM)).unwrap();
    s.flush().unwrap();
    drop(s);
    assert_eq!(fs::read(&idx).unwrap()[8], 2, "rewritten as version 2");
    let s = open(dir.path()).unwrap();
    assert_eq!(s.len(), 10);
    assert!(s.verify().unwrap().is_ok());
}

/// Payloads 0..40 stored, 0..20 deleted, snapshot written.
fn payloads_with_deletes(dir: &Path) {
    let mut p = open_payloads(dir).unwrap();
    for id in 0..40u64 {
        p.store(id, &json!({"id": id, "text": "padding padding padding"}))
            .unwrap();
    }
    for id in 0..20u64 {
        p.delete(id).unwrap();
    }
    p.checkpoint().unwrap();
    drop(p);
}

#[test]
fn payload_log_shorter_than_its_snapshot_is_data_loss_not_stale() {
    let dir = tempfile::tempdir().unwrap();
    payloads_with_deletes(dir.path());
    let log = dir.path().join("payloads.log");
    let bytes = fs::read(&log).unwrap();
    fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
    // A rescan of the first half would bring deleted ids 0..20 back.
    let err = open_payloads(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let msg = err.to_string();
    assert!(
        msg.contains("payloads.log") && msg.contains("lost"),
        "{msg}"
    );
}

#[test]
fn missing_payload_log_is_invalid_data_unless_the_store_is_new() {
    let dir = tempfile::tempdir().unwrap();
    payloads_with_deletes(dir.path());
    fs::remove_file(dir.path().join("payloads.log")).unwrap();
    let err = open_payloads(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("payloads.log"), "{err}");
    // Without a snapshot, only `open_existing` knows the log must exist.
    fs::remove_file(dir.path().join("payloads.idx")).unwrap();
    let err = LogPayloadStorage::open_existing(dir.path(), MODE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        !dir.path().join("payloads.log").exists(),
        "no fresh log made"
    );
    let p = open_payloads(dir.path()).unwrap();
    assert!(p.is_empty());
}

#[test]
fn payload_verify_finds_a_damaged_dead_record_the_reads_never_touch() {
    let dir = tempfile::tempdir().unwrap();
    payloads_with_deletes(dir.path());
    let p = open_payloads(dir.path()).unwrap();
    assert_eq!(p.verify().unwrap(), Vec::<String>::new());
    drop(p);
    // Id 0's record is dead (deleted); damage it.
    let log = dir.path().join("payloads.log");
    let mut bytes = fs::read(&log).unwrap();
    bytes[16 + 20] ^= 0x04;
    fs::write(&log, &bytes).unwrap();
    let p = open_payloads(dir.path()).unwrap();
    for id in 20..40u64 {
        assert!(p.retrieve(id).unwrap().is_some());
    }
    let problems = p.verify().unwrap();
    assert!(
        problems.iter().any(|l| l.contains("frame at byte 16")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|l| l.contains("covers changed")),
        "{problems:?}"
    );
}
