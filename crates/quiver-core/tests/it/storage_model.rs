//! Random sequences of operations against a `HashMap` model, including
//! compaction, clean reopens and simulated crashes (reopen without `Drop`).

#![cfg(test)]

use std::collections::HashMap;

use proptest::prelude::*;
use quiver_core::storage::{
    DurabilityMode, LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage,
};
use serde_json::json;

use crate::storage_support::{bits, crash, pattern};

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
                Op::Delete(id) => {
                    store.delete(*id).unwrap();
                    model.remove(id);
                }
                Op::Flush => store.flush().unwrap(),
                Op::Compact => {
                    store.compact().unwrap();
                    prop_assert_eq!(store.fragmentation_ratio(), 0.0);
                }
                Op::Reopen => {
                    drop(store);
                    store = MmapStorage::new_with_durability(dir.path(), DIM, mode).unwrap();
                }
                Op::Crash => {
                    // Every frame was written to the OS, so nothing is lost.
                    crash(store);
                    store = MmapStorage::new_with_durability(dir.path(), DIM, mode).unwrap();
                }
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
                Op::Delete(id) => {
                    store.delete(*id).unwrap();
                    model.remove(id);
                }
                Op::Flush => store.flush().unwrap(),
                Op::Compact => {
                    store.compact().unwrap();
                    prop_assert_eq!(store.dead_bytes(), 0);
                }
                Op::Reopen => {
                    drop(store);
                    store = LogPayloadStorage::new_with_durability(dir.path(), mode).unwrap();
                }
                Op::Crash => {
                    std::mem::forget(store);
                    store = LogPayloadStorage::new_with_durability(dir.path(), mode).unwrap();
                }
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
