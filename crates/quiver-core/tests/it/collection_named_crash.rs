//! Process kill with named dense and sparse vectors: a child process
//! upserts points holding random subsets of the vectors, updates and
//! deletes some vectors of points, deletes points, flushes and compacts in
//! a loop, printing each operation before it starts (`BEGIN`) and after it
//! returns (`ACK`). The parent SIGKILLs it at random moments, reopens, and
//! checks every read path and index against the acknowledged operations
//! (`named_support::check`): the one unacknowledged operation is either
//! absent or present whole.

use std::time::Duration;

use quiver_core::storage::DurabilityMode;
use quiver_core::{Database, Point, PointSelector};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::kill_child::{parent_env, run_and_kill};
use crate::named_support::{Held, Model, NAMES, check, config, point, read, vector};

const CHILD_ENV: &str = "QUIVER_TEST_NAMED_CRASH_CHILD";
const SEED_ENV: &str = "QUIVER_TEST_NAMED_CRASH_SEED";
const PARENT: &str = "collection_named_crash::acknowledged_vector_writes_survive_sigkill";
const IDS: u64 = 32;
const ROUNDS: u64 = 16;

fn names(mask: u64) -> impl Iterator<Item = &'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(move |(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("test fixture")
}

/// Entry point of the child process of `acknowledged_vector_writes_survive_sigkill`.
#[test]
#[ignore = "child process of acknowledged_vector_writes_survive_sigkill; started by it with --ignored"]
fn named_crash_child() {
    let dir = parent_env(CHILD_ENV, PARENT);
    let seed: u64 = parent_env(SEED_ENV, PARENT).parse().unwrap();
    let db = Database::open(&dir).unwrap();
    let c = db.collection("c").unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    println!();
    loop {
        let roll = rng.random_range(0..100);
        let ver = rng.random_range(0..9_000);
        let ids: Vec<u64> = (0..rng.random_range(1..=3))
            .map(|_| rng.random_range(0..IDS))
            .collect();
        let mask = rng.random_range(1..8);
        let op = if roll < 45 {
            let points: Vec<(u64, u64)> = (0..rng.random_range(1..=4))
                .map(|_| (rng.random_range(0..IDS), rng.random_range(0..8)))
                .collect();
            json!({"op": "upsert", "points": points, "ver": ver})
        } else if roll < 65 {
            json!({"op": "update", "id": ids[0], "mask": mask, "ver": ver})
        } else if roll < 80 {
            json!({"op": "delete_vectors", "ids": ids, "mask": mask})
        } else if roll < 92 {
            json!({"op": "delete", "ids": ids})
        } else if roll < 97 {
            json!({"op": "flush"})
        } else {
            json!({"op": "compact"})
        };
        println!("BEGIN {op}");
        let has_ids = || {
            let f = json!({"must": [{"has_id": op["ids"]}]});
            PointSelector::Filter(serde_json::from_value(f).expect("test fixture"))
        };
        match op["op"].as_str().unwrap() {
            "upsert" => {
                let points = op["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| point(u(&p[0]), &held(u(&p[1]), ver)))
                    .collect();
                c.upsert(points).unwrap();
            }
            "update" => {
                let id = u(&op["id"]);
                let mut p = Point::without_vectors(id);
                for n in names(mask) {
                    p = p.with_vector(n, vector(n, id, ver));
                }
                // Fails, changing nothing, when the point does not exist.
                let _ = c.update_vectors(vec![p]);
            }
            "delete_vectors" => {
                let gone: Vec<String> = names(mask).map(str::to_owned).collect();
                c.delete_vectors(&has_ids(), &gone).unwrap();
            }
            "delete" => {
                c.delete(&has_ids()).unwrap();
            }
            "flush" => c.flush().unwrap(),
            _ => c.compact().unwrap(),
        }
        println!("ACK");
    }
}

/// What an upserted point holds: the vectors of `mask`, all at `ver`.
fn held(mask: u64, ver: u64) -> Held {
    Held {
        payload: ver,
        vectors: names(mask).map(|n| (n.to_owned(), ver)).collect(),
    }
}

fn apply(model: &mut Model, op: &Value) {
    let ids = || op["ids"].as_array().expect("test fixture").iter().map(u);
    match op["op"].as_str().expect("test fixture") {
        "upsert" => {
            for p in op["points"].as_array().expect("test fixture") {
                model.insert(u(&p[0]), held(u(&p[1]), u(&op["ver"])));
            }
        }
        "update" => {
            if let Some(h) = model.get_mut(&u(&op["id"])) {
                for n in names(u(&op["mask"])) {
                    h.vectors.insert(n.to_owned(), u(&op["ver"]));
                }
            }
        }
        "delete_vectors" => {
            for id in ids() {
                if let Some(h) = model.get_mut(&id) {
                    for n in names(u(&op["mask"])) {
                        h.vectors.remove(n);
                    }
                }
            }
        }
        "delete" => {
            for id in ids() {
                model.remove(&id);
            }
        }
        _ => {}
    }
}

#[test]
fn acknowledged_vector_writes_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let mut cfg = config();
        cfg.durability = DurabilityMode::Fsync;
        // Small, so that kills also land inside checkpoints.
        cfg.checkpoint_log_bytes = 3000;
        db.create_collection("c", cfg).unwrap();
    }
    let mut model = Model::new();
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let mut acked_total = 0;
    for round in 0..ROUNDS {
        let lines = run_and_kill(
            "collection_named_crash::named_crash_child",
            &[
                (CHILD_ENV, tmp.path().display().to_string()),
                (SEED_ENV, round.to_string()),
            ],
            if round % 4 == 0 { 0 } else { 6 },
            Duration::from_millis(rng.random_range(40..400)),
        );
        let mut pending: Option<Value> = None;
        for line in &lines {
            if let Some(at) = line.find("BEGIN ") {
                assert!(pending.is_none(), "BEGIN without ACK before it");
                pending = Some(serde_json::from_str(&line[at + 6..]).unwrap());
            } else if line.trim_end() == "ACK" {
                apply(&mut model, &pending.take().expect("ACK without BEGIN"));
                acked_total += 1;
            }
        }
        let db = Database::open(tmp.path()).unwrap();
        let c = db.collection("c").unwrap();
        let actual = read(&c);
        if actual != model {
            let mut with_pending = model.clone();
            if let Some(op) = &pending {
                apply(&mut with_pending, op);
            }
            assert_eq!(
                actual, with_pending,
                "round {round}: state is neither the acknowledged one nor it plus the pending {pending:?}"
            );
            model = actual;
        }
        check(&c, &model);
    }
    assert!(
        acked_total > 60,
        "only {acked_total} operations were acknowledged"
    );
}
