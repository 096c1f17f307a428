//! Process-kill crash test: a child process stores, deletes and flushes in
//! a loop and prints every flush that returned; the parent SIGKILLs it at
//! random moments and checks after each kill that the store opens and holds
//! every acknowledged change bit-exact, and no torn vector.
//!
//! The child is this same test binary, re-run with `CHILD_ENV` set and
//! filtered to [`crash_child_entry`].

#![cfg(test)]

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quiver_core::storage::{MmapStorage, VectorStorage};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::storage_support::{decode, pattern};

const CHILD_ENV: &str = "QUIVER_STORAGE_CRASH_DIR";
const START_ENV: &str = "QUIVER_STORAGE_CRASH_START";
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

/// Entry point of the child process; a no-op unless `CHILD_ENV` is set.
#[test]
fn crash_child_entry() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let start = std::env::var(START_ENV).unwrap().parse().unwrap();
        run_child(Path::new(&dir), start);
    }
}

#[test]
fn killed_writer_keeps_every_acknowledged_flush() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = SmallRng::seed_from_u64(7);
    // `acked` = last round whose flush returned; `model` = state after it.
    let mut acked: Option<u64> = None;
    let mut model = Model::new();
    let began = Instant::now();
    for kill in 0..KILLS {
        let start = acked.map_or(0, |a| a + 1);
        let mut child = Command::new(&exe)
            .args([
                "storage_crash::crash_child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(START_ENV, start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(30..250)));
        child.kill().unwrap();
        child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        for line in out.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            // libtest may have printed "test ... " on the same line first.
            if let Some(r) = line.rfind("ACK ").map(|at| &line[at + 4..line.len() - 1]) {
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
