//! Process-kill crash test: a child process stores, deletes and flushes in
//! a loop and prints every flush that returned; the parent SIGKILLs it at
//! random moments and checks after each kill that the store opens and holds
//! every acknowledged change bit-exact, and no torn vector.
//!
//! The child is [`crash_child_entry`], which the parent starts through the
//! kill harness.

#![cfg(test)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use quiver_core::storage::{MmapStorage, VectorStorage};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::kill_child::{parent_env, run_and_kill};
use crate::storage_support::{decode, pattern};

const CHILD_ENV: &str = "QUIVER_STORAGE_CRASH_DIR";
const START_ENV: &str = "QUIVER_STORAGE_CRASH_START";
const PARENT: &str = "storage_crash::killed_writer_keeps_every_acknowledged_flush";
const DIM: usize = 48;
const IDS: u64 = 400;
const KILLS: usize = 24;

#[derive(Clone, Debug)]
enum Op {
    Store(u64),
    Batch(Vec<u64>),
    Delete(u64),
}

/// The deterministic operations of round `round`; every vector stored in it
/// has version `round`.
fn round_ops(round: u64) -> Vec<Op> {
    let mut rng = SmallRng::seed_from_u64(round ^ 0x5EED);
    let mut ops = Vec::new();
    for _ in 0..rng.random_range(1..4) {
        let n = rng.random_range(1..40);
        ops.push(Op::Batch(
            (0..n).map(|_| rng.random_range(0..IDS)).collect(),
        ));
        ops.push(Op::Store(rng.random_range(0..IDS)));
        ops.push(Op::Delete(rng.random_range(0..IDS)));
    }
    ops
}

/// Per-id state: `Some(version)` or `None` (absent).
type Model = HashMap<u64, u64>;

fn apply(model: &mut Model, round: u64, op: &Op) {
    match op {
        Op::Store(id) => {
            model.insert(*id, round);
        }
        Op::Batch(ids) => {
            for id in ids {
                model.insert(*id, round);
            }
        }
        Op::Delete(id) => {
            model.remove(id);
        }
    }
}

fn run_child(dir: &Path, start: u64) {
    use std::io::Write;
    let mut store = MmapStorage::new(dir, DIM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut round = start;
    while Instant::now() < deadline {
        for op in round_ops(round) {
            match op {
                Op::Store(id) => store.store(id, &pattern(id, round, DIM)).unwrap(),
                Op::Batch(ids) => {
                    let vecs: Vec<Vec<f32>> =
                        ids.iter().map(|&id| pattern(id, round, DIM)).collect();
                    let items: Vec<(u64, &[f32])> = ids
                        .iter()
                        .zip(&vecs)
                        .map(|(&id, v)| (id, v.as_slice()))
                        .collect();
                    store.store_batch(&items).unwrap();
                }
                Op::Delete(id) => store.delete(id).unwrap(),
            }
        }
        store.flush().unwrap();
        // One write per line: the parent sees whole lines only.
        writeln!(std::io::stdout(), "ACK {round}").unwrap();
        round += 1;
    }
}

/// Entry point of the child process of
/// `killed_writer_keeps_every_acknowledged_flush`.
#[test]
#[ignore = "child process of killed_writer_keeps_every_acknowledged_flush; started by it with --ignored"]
fn crash_child_entry() {
    let dir = parent_env(CHILD_ENV, PARENT);
    let start = parent_env(START_ENV, PARENT).parse().unwrap();
    run_child(Path::new(&dir), start);
}

#[test]
fn killed_writer_keeps_every_acknowledged_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(7);
    // `acked` = last round whose flush returned; `model` = state after it.
    let mut acked: Option<u64> = None;
    let mut model = Model::new();
    let began = Instant::now();
    for kill in 0..KILLS {
        let start = acked.map_or(0, |a| a + 1);
        let lines = run_and_kill(
            "storage_crash::crash_child_entry",
            &[
                (CHILD_ENV, dir.path().display().to_string()),
                (START_ENV, start.to_string()),
            ],
            // Every fourth kill may land while the child is still opening.
            if kill % 4 == 0 { 0 } else { 1 },
            Duration::from_millis(rng.random_range(30..250)),
        );
        for line in &lines {
            // libtest may have printed "test ... " on the same line first.
            if let Some(r) = line.rfind("ACK ").map(|at| &line[at + 4..]) {
                let r: u64 = r.parse().unwrap();
                assert_eq!(
                    Some(r),
                    Some(acked.map_or(0, |a| a + 1)),
                    "rounds ack in order"
                );
                for op in round_ops(r) {
                    apply(&mut model, r, &op);
                }
                acked = Some(r);
            }
        }

        // Every state an id may be in: the acknowledged one, or one reached
        // part way through the next (unacknowledged) round.
        let next = acked.map_or(0, |a| a + 1);
        let mut allowed: HashMap<u64, HashSet<Option<u64>>> = HashMap::new();
        let mut partial = model.clone();
        for id in 0..IDS {
            allowed
                .entry(id)
                .or_default()
                .insert(partial.get(&id).copied());
        }
        for op in round_ops(next) {
            apply(&mut partial, next, &op);
            for id in 0..IDS {
                allowed
                    .entry(id)
                    .or_default()
                    .insert(partial.get(&id).copied());
            }
        }

        let store = MmapStorage::new(dir.path(), DIM).unwrap();
        for id in 0..IDS {
            let got = match store.retrieve(id).unwrap() {
                None => None,
                Some(v) => {
                    let (vid, version) = decode(&v).unwrap_or_else(|| {
                        panic!("kill {kill}: id {id} holds a torn vector {v:?}")
                    });
                    assert_eq!(vid, id, "kill {kill}: id {id} holds the vector of id {vid}");
                    Some(version)
                }
            };
            assert!(
                allowed[&id].contains(&got),
                "kill {kill}: id {id} is {got:?}, acknowledged {:?} (round {acked:?}), allowed {:?}",
                model.get(&id),
                allowed[&id]
            );
        }
        drop(store);
    }
    let acked = acked.expect("the child acknowledged at least one flush");
    assert!(
        acked >= 3,
        "too little progress to mean anything: {acked} rounds"
    );
    println!(
        "{KILLS} kills, {} rounds acknowledged, {:?}",
        acked + 1,
        began.elapsed()
    );
}
