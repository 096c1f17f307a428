//! Random sequences of operations against a `HashMap` model, including
//! compaction, clean reopens and simulated crashes (reopen without `Drop`).

#![cfg(test)]

use std::collections::HashMap;

use proptest::prelude::*;
use quiver_core::storage::{
    DurabilityMode, LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage,
};
use serde_json::json;

use crate::storage_support::{bits, pattern};

const DIM: usize = 6;

#[derive(Clone, Debug)]
enum Op {
    Store(u64),
    Batch(Vec<u64>),
    Delete(u64),
    Flush,
    Compact,
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..24).prop_map(Op::Store),
        3 => proptest::collection::vec(0u64..24, 0..8).prop_map(Op::Batch),
        3 => (0u64..24).prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn mode() -> impl Strategy<Value = DurabilityMode> {
    prop_oneof![Just(DurabilityMode::Fsync), Just(DurabilityMode::FlushOnly)]
}

/// The store calls the two model tests make alike.
trait Maintained {
    fn delete(&mut self, id: u64);
    fn flush(&mut self);
    /// Compacts and says whether no garbage is left.
    fn compact_fully(&mut self) -> bool;
}

impl Maintained for MmapStorage {
    fn delete(&mut self, id: u64) {
        VectorStorage::delete(self, id).unwrap();
    }
    fn flush(&mut self) {
        VectorStorage::flush(self).unwrap();
    }
    fn compact_fully(&mut self) -> bool {
        self.compact().unwrap();
        self.fragmentation_ratio() == 0.0
    }
}

impl Maintained for LogPayloadStorage {
    fn delete(&mut self, id: u64) {
        PayloadStorage::delete(self, id).unwrap();
    }
    fn flush(&mut self) {
        PayloadStorage::flush(self).unwrap();
    }
    fn compact_fully(&mut self) -> bool {
        self.compact().unwrap();
        self.dead_bytes() == 0
    }
}

/// Applies a step that is not a write (delete, flush, compact, reopen,
/// crash) to `store` and `model`; `open` reopens the store's files.
fn maintain<S: Maintained, V>(
    op: &Op,
    mut store: S,
    model: &mut HashMap<u64, V>,
    open: impl Fn() -> S,
) -> Result<S, TestCaseError> {
    match op {
        Op::Delete(id) => {
            store.delete(*id);
            model.remove(id);
        }
        Op::Flush => store.flush(),
        Op::Compact => prop_assert!(store.compact_fully(), "garbage left after compaction"),
        Op::Reopen => {
            drop(store);
            store = open();
        }
        Op::Crash => {
            std::mem::forget(store);
            store = open();
        }
        Op::Store(_) | Op::Batch(_) => unreachable!("writes are the caller's"),
    }
    Ok(store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn vector_store_matches_a_hashmap(mode in mode(), ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = MmapStorage::new_with_durability(dir.path(), DIM, mode).unwrap();
        let mut model: HashMap<u64, u64> = HashMap::new();
        for (step, op) in ops.iter().enumerate() {
            let version = step as u64;
            match op {
                Op::Store(id) => {
                    store.store(*id, &pattern(*id, version, DIM)).unwrap();
                    model.insert(*id, version);
                }
                Op::Batch(ids) => {
                    let vecs: Vec<Vec<f32>> = ids.iter().map(|&id| pattern(id, version, DIM)).collect();
                    let items: Vec<(u64, &[f32])> = ids.iter().zip(&vecs).map(|(&id, v)| (id, v.as_slice())).collect();
                    prop_assert_eq!(store.store_batch(&items).unwrap(), ids.len());
                    for id in ids {
                        model.insert(*id, version);
                    }
                }
                // Every frame was written to the OS, so a crash loses nothing.
                _ => store = maintain(op, store, &mut model, || {
                    MmapStorage::new_with_durability(dir.path(), DIM, mode).unwrap()
                })?,
            }
            let mut ids: Vec<u64> = model.keys().copied().collect();
            ids.sort_unstable();
            prop_assert_eq!(store.ids(), ids, "after step {} {:?}", step, op);
            for (&id, &version) in &model {
                let got = store.retrieve(id).unwrap().unwrap();
                prop_assert_eq!(bits(&got), bits(&pattern(id, version, DIM)), "id {} after step {}", id, step);
            }
        }
    }

    #[test]
    fn payload_store_matches_a_hashmap(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mode = DurabilityMode::FlushOnly;
        let mut store = LogPayloadStorage::new_with_durability(dir.path(), mode).unwrap();
        let mut model: HashMap<u64, serde_json::Value> = HashMap::new();
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Store(id) => {
                    let v = json!({"id": id, "step": step, "f": step as f64 / 3.0});
                    store.store(*id, &v).unwrap();
                    model.insert(*id, v);
                }
                Op::Batch(ids) => {
                    for id in ids {
                        let v = json!([id, step, null]);
                        store.store(*id, &v).unwrap();
                        model.insert(*id, v);
                    }
                }
                _ => store = maintain(op, store, &mut model, || {
                    LogPayloadStorage::new_with_durability(dir.path(), mode).unwrap()
                })?,
            }
            let mut ids: Vec<u64> = model.keys().copied().collect();
            ids.sort_unstable();
            prop_assert_eq!(store.ids(), ids);
            for (id, v) in &model {
                let got = store.retrieve(*id).unwrap();
                prop_assert_eq!(got.as_ref(), Some(v));
            }
        }
    }
}
