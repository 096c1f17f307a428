//! Process kill under churn: a child process adds points in batches and
//! deletes the oldest in batches, so the graph keeps many deleted nodes,
//! rebuilds itself past its tombstone ratio, and checkpoints often (a small
//! log limit). Deleted points' vectors must stay in the vector store while a
//! graph checkpoint still holds them. After each SIGKILL the parent checks
//! that the collection opened without repairing anything (every graph
//! checkpoint found its vectors), that it holds exactly the acknowledged
//! points (or those plus the one operation in flight, whole), each with its
//! vector, and that the graph finds every point by its own vector.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::kill_child::{parent_env, run_and_kill};

use quiver_core::{
    CollectionConfig, Database, Metric, Point, PointId, PointSelector, ScrollRequest, SearchRequest,
};

use quiver_core::storage::DurabilityMode;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "QUIVER_TEST_CHURN_CHILD";
const ROUND_ENV: &str = "QUIVER_TEST_CHURN_ROUND";
const PARENT: &str = "collection_churn_crash::churn_survives_sigkill";
const DIM: usize = 8;
const BATCH: u64 = 40;
const ROUNDS: u64 = 20;

fn pattern(id: u64) -> Vec<f32> {
    // SplitMix64 of (id, j): a distinct, well-spread vector per id.
    (0..DIM as u64)
        .map(|j| {
            let mut z = (id << 4 | j).wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn live_ids(c: &quiver_core::Collection) -> BTreeSet<u64> {
    let mut req = ScrollRequest::new(100_000);
    req.with_payload = false;
    c.scroll(&req)
        .expect("scroll")
        .points
        .into_iter()
        .map(|r| match r.id {
            PointId::Num(id) => id,
            PointId::Uuid(u) => panic!("unexpected uuid {u}"),
        })
        .collect()
}

fn join(ids: impl Iterator<Item = u64>) -> String {
    ids.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// Entry point of the child process of `churn_survives_sigkill`.
#[test]
#[ignore = "child process of churn_survives_sigkill; started by it with --ignored"]
fn churn_crash_child() {
    let dir = parent_env(CHILD_ENV, PARENT);
    let round: u64 = parent_env(ROUND_ENV, PARENT).parse().unwrap();
    let db = Database::open(&dir).unwrap();
    let c = db.collection("c").unwrap();
    let mut live = live_ids(&c);
    let mut next = round * 1_000_000;
    println!();
    for step in 0u64.. {
        if step % 5 == 4 {
            println!("BEGIN flush");
            c.flush().unwrap();
            println!("ACK flush");
        } else if live.len() < 3 * BATCH as usize || step % 2 == 0 {
            let ids: Vec<u64> = (next..next + BATCH).collect();
            next += BATCH;
            println!("BEGIN add {}", join(ids.iter().copied()));
            c.upsert(ids.iter().map(|&i| Point::new(i, pattern(i))).collect())
                .unwrap();
            println!("ACK add");
            live.extend(ids);
        } else {
            let ids: Vec<u64> = live.iter().copied().take(BATCH as usize).collect();
            println!("BEGIN drop {}", join(ids.iter().copied()));
            let selector = PointSelector::Ids(ids.iter().map(|&i| PointId::Num(i)).collect());
            assert_eq!(c.delete(&selector).unwrap().points, BATCH);
            println!("ACK drop");
            for i in ids {
                live.remove(&i);
            }
        }
    }
}

/// Acknowledged points and the one operation in flight, from the child's lines.
fn replay(lines: &[String], model: &mut BTreeSet<u64>) -> Option<(bool, Vec<u64>)> {
    let mut pending: Option<(bool, Vec<u64>)> = None;
    for line in lines {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some("BEGIN"), Some(kind @ ("add" | "drop")), Some(ids)) => {
                let ids = ids.split(',').map(|i| i.parse().expect("an id")).collect();
                pending = Some((kind == "add", ids));
            }
            (Some("ACK"), Some("add" | "drop"), None) => {
                let (add, ids) = pending.take().expect("ACK without BEGIN");
                for id in ids {
                    if add {
                        model.insert(id);
                    } else {
                        model.remove(&id);
                    }
                }
            }
            _ => {}
        }
    }
    pending
}

#[test]
fn churn_survives_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let mut config = CollectionConfig::new(DIM, Metric::Euclid);
        config.durability = DurabilityMode::Fsync;
        config.checkpoint_log_bytes = 30000;
        db.create_collection("c", config).unwrap();
    }
    let mut rng = SmallRng::seed_from_u64(0xc4u64 << 8);
    let mut model: BTreeSet<u64> = BTreeSet::new();
    let mut deletions = 0usize;
    for round in 0..ROUNDS {
        let lines = run_and_kill(
            "collection_churn_crash::churn_crash_child",
            &[
                (CHILD_ENV, tmp.path().display().to_string()),
                (ROUND_ENV, round.to_string()),
            ],
            // Every fourth kill may land while the child is still opening.
            if round % 4 == 0 { 0 } else { 3 },
            Duration::from_millis(rng.random_range(60..500)),
        );
        deletions += lines.iter().filter(|l| l == &"ACK drop").count();
        let pending = replay(&lines, &mut model);

        let db = Database::open(tmp.path()).unwrap();
        let c = db.collection("c").unwrap();
        assert!(
            c.repaired_on_open().is_empty(),
            "round {round}: {:?}",
            c.repaired_on_open()
        );
        let present = live_ids(&c);
        let mut with_pending = model.clone();
        if let Some((add, ids)) = &pending {
            for id in ids {
                if *add {
                    with_pending.insert(*id);
                } else {
                    with_pending.remove(id);
                }
            }
        }
        assert!(
            present == model || present == with_pending,
            "round {round}: {} present, {} acknowledged, pending {:?}",
            present.len(),
            model.len(),
            pending.map(|(add, ids)| (add, ids.len()))
        );
        model = present;
        assert_eq!(c.info().unwrap().indexed_vectors, model.len() as u64);
        let ids: Vec<PointId> = model.iter().map(|&i| PointId::Num(i)).collect();
        for r in c.get(&ids, false, true).unwrap() {
            let PointId::Num(id) = r.id else {
                unreachable!("numeric ids only")
            };
            assert_eq!(
                r.vector().unwrap().to_vec(),
                pattern(id),
                "round {round}: vector of {id}"
            );
        }
        for &id in &model {
            let mut req = SearchRequest::new(pattern(id), 1);
            req.ef = Some(64);
            let hits = c.search(&req).unwrap();
            assert!(
                hits.first().is_some_and(|h| h.score <= 1e-6),
                "round {round}: the graph does not find point {id}: {hits:?}"
            );
        }
    }
    assert!(
        deletions >= 10,
        "only {deletions} batch deletions were acknowledged: no churn"
    );
}

/// The same churn in one process, checked after every step: a deleted
/// point's id is not reused while the graph still holds it as a routing
/// node (re-linking it in place would cut off nodes reached only through
/// it), so every point stays findable by its own vector.
#[test]
fn churn_keeps_every_point_findable_by_its_vector() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::Euclid))
        .unwrap();
    let mut live: BTreeSet<u64> = BTreeSet::new();
    let mut next = 0u64;
    for step in 0..300u64 {
        if live.len() < 3 * BATCH as usize || step % 3 == 0 {
            let ids: Vec<u64> = (next..next + BATCH).collect();
            next += BATCH;
            c.upsert(ids.iter().map(|&i| Point::new(i, pattern(i))).collect())
                .unwrap();
            live.extend(ids);
        } else {
            let ids: Vec<u64> = live.iter().copied().take(BATCH as usize).collect();
            c.delete(&PointSelector::Ids(
                ids.iter().map(|&i| PointId::Num(i)).collect(),
            ))
            .unwrap();
            for i in ids {
                live.remove(&i);
            }
        }
        for &id in &live {
            let mut req = SearchRequest::new(pattern(id), 1);
            req.ef = Some(64);
            let hits = c.search(&req).unwrap();
            assert!(
                hits.first().is_some_and(|h| h.id == PointId::Num(id)),
                "step {step}: point {id} not found by its own vector: {hits:?}"
            );
        }
    }
}
