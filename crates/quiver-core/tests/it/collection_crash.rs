//! Process kill: a child process upserts, deletes, sets and removes payload
//! keys, flushes and compacts in a loop, printing each operation before it starts
//! (`BEGIN`) and after it returns (`ACK`). The parent SIGKILLs it at random
//! moments, reopens, and checks that every acknowledged change is there and
//! nothing else: the one unacknowledged operation is either absent or
//! present whole.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::kill_child::{parent_env, run_and_kill};

use quiver_core::filter::FieldType;
use quiver_core::storage::DurabilityMode;
use quiver_core::{
    CollectionConfig, Database, Metric, Payload, Point, PointId, PointSelector, ScrollRequest,
    SearchRequest,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const CHILD_ENV: &str = "QUIVER_TEST_CRASH_CHILD";
const SEED_ENV: &str = "QUIVER_TEST_CRASH_SEED";
const PARENT: &str = "collection_crash::acknowledged_writes_survive_sigkill";
const DIM: usize = 8;
const IDS: u64 = 48;
const ROUNDS: u64 = 24;

/// The vector of point `id` at `version`: the check that a vector belongs to
/// the payload's version.
fn pattern(id: u64, version: u64) -> Vec<f32> {
    crate::storage_support::pattern(id, version, DIM)
}

/// Entry point of the child process of `acknowledged_writes_survive_sigkill`.
#[test]
#[ignore = "child process of acknowledged_writes_survive_sigkill; started by it with --ignored"]
fn crash_child() {
    let dir = parent_env(CHILD_ENV, PARENT);
    let seed: u64 = parent_env(SEED_ENV, PARENT).parse().unwrap();
    let db = Database::open(&dir).unwrap();
    let c = db.collection("c").unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    println!();
    loop {
        let roll = rng.random_range(0..100);
        let op = if roll < 50 {
            let n = rng.random_range(1..=4);
            let points: Vec<(u64, u64)> = (0..n)
                .map(|_| (rng.random_range(0..IDS), rng.random_range(0..1_000_000)))
                .collect();
            json!({"op": "upsert", "points": points})
        } else if roll < 70 {
            let ids: Vec<u64> = (0..rng.random_range(1..=3))
                .map(|_| rng.random_range(0..IDS))
                .collect();
            json!({"op": "delete", "ids": ids})
        } else if roll < 85 {
            let ids: Vec<u64> = (0..rng.random_range(1..=3))
                .map(|_| rng.random_range(0..IDS))
                .collect();
            json!({"op": "tag", "ids": ids, "tag": rng.random_range(0..4)})
        } else if roll < 92 {
            let ids: Vec<u64> = (0..rng.random_range(1..=3))
                .map(|_| rng.random_range(0..IDS))
                .collect();
            json!({"op": "untag", "ids": ids})
        } else if roll < 97 {
            json!({"op": "flush"})
        } else {
            json!({"op": "compact"})
        };
        println!("BEGIN {op}");
        match op["op"].as_str().unwrap() {
            "upsert" => {
                let points = op["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let (id, v) = (p[0].as_u64().unwrap(), p[1].as_u64().unwrap());
                        let payload = json!({"v": v});
                        Point::new(id, pattern(id, v))
                            .with_payload(payload.as_object().unwrap().clone())
                    })
                    .collect();
                c.upsert(points).unwrap();
            }
            "delete" => {
                c.delete(&PointSelector::Ids(ids_of(&op))).unwrap();
            }
            "tag" => {
                let payload = json!({"tag": op["tag"]});
                c.set_payload(
                    &PointSelector::Ids(ids_of(&op)),
                    payload.as_object().unwrap().clone(),
                )
                .unwrap();
            }
            "untag" => {
                c.delete_payload_keys(&PointSelector::Ids(ids_of(&op)), &["tag".to_owned()])
                    .unwrap();
            }
            "flush" => c.flush().unwrap(),
            _ => c.compact().unwrap(),
        }
        println!("ACK");
    }
}

fn ids_of(op: &Value) -> Vec<PointId> {
    op["ids"]
        .as_array()
        .expect("test fixture")
        .iter()
        .map(|v| PointId::Num(v.as_u64().expect("test fixture")))
        .collect()
}

/// Point id -> payload; the vector follows from the payload's version.
type Model = BTreeMap<u64, Payload>;

fn apply(model: &mut Model, op: &Value) {
    match op["op"].as_str().expect("test fixture") {
        "upsert" => {
            for p in op["points"].as_array().expect("test fixture") {
                let payload = json!({"v": p[1]});
                model.insert(
                    p[0].as_u64().expect("test fixture"),
                    payload.as_object().expect("test fixture").clone(),
                );
            }
        }
        "delete" => {
            for id in op["ids"].as_array().expect("test fixture") {
                model.remove(&id.as_u64().expect("test fixture"));
            }
        }
        "tag" => {
            for id in op["ids"].as_array().expect("test fixture") {
                if let Some(p) = model.get_mut(&id.as_u64().expect("test fixture")) {
                    p.insert("tag".into(), op["tag"].clone());
                }
            }
        }
        "untag" => {
            for id in op["ids"].as_array().expect("test fixture") {
                if let Some(p) = model.get_mut(&id.as_u64().expect("test fixture")) {
                    p.remove("tag");
                }
            }
        }
        _ => {}
    }
}

/// The collection's content, checking each vector against its version and
/// the graph and payload index against the points.
fn read_back(dir: &std::path::Path) -> Model {
    let db = Database::open(dir).expect("test fixture");
    let c = db.collection("c").expect("test fixture");
    let mut req = ScrollRequest::new(1000);
    req.with_vector = true;
    let page = c.scroll(&req).expect("test fixture");
    let mut out = Model::new();
    for r in page.points {
        let PointId::Num(id) = r.id else {
            panic!("uuid")
        };
        let payload = r.payload.clone().expect("test fixture");
        let v = payload["v"].as_u64().expect("test fixture");
        assert_eq!(
            r.vector().map(<[f32]>::to_vec).expect("test fixture"),
            pattern(id, v),
            "vector of {id} is not its version {v}"
        );
        out.insert(id, payload);
    }
    assert_eq!(c.count(None).expect("test fixture"), out.len() as u64);
    // The graph holds exactly the points.
    let info = c.info().expect("test fixture");
    assert_eq!(info.indexed_vectors, out.len() as u64);
    let hits = c
        .search(&SearchRequest::new(vec![0.0; DIM], IDS as usize))
        .expect("test fixture");
    assert_eq!(hits.len(), out.len());
    // The payload index agrees with the payloads.
    for tag in 0..4 {
        let f = serde_json::from_value(json!({"must": [{"key": "tag", "match": {"value": tag}}]}))
            .expect("test fixture");
        let want = out
            .values()
            .filter(|p| p.get("tag") == Some(&json!(tag)))
            .count();
        assert_eq!(
            c.count(Some(&f)).expect("test fixture"),
            want as u64,
            "tag {tag}"
        );
    }
    out
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let mut config = CollectionConfig::new(DIM, Metric::Euclid);
        config.durability = DurabilityMode::Fsync;
        // Small, so that kills also land inside checkpoints.
        config.checkpoint_log_bytes = 3000;
        let c = db.create_collection("c", config).unwrap();
        c.create_field_index("tag", FieldType::Integer).unwrap();
    }
    let mut model = Model::new();
    let mut rng = SmallRng::seed_from_u64(0xc0ffee);
    let mut acked_total = 0;
    for round in 0..ROUNDS {
        let lines = run_and_kill(
            "collection_crash::crash_child",
            &[
                (CHILD_ENV, tmp.path().display().to_string()),
                (SEED_ENV, round.to_string()),
            ],
            // Every fourth kill may land while the child is still opening.
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
        let actual = read_back(tmp.path());
        let with_pending = pending.as_ref().map(|op| {
            let mut m = model.clone();
            apply(&mut m, op);
            m
        });
        if actual == model {
            continue;
        }
        assert_eq!(
            Some(&actual),
            with_pending.as_ref(),
            "round {round}: state is neither the acknowledged one nor it plus the pending {pending:?}"
        );
        model = actual;
    }
    assert!(
        acked_total > 100,
        "only {acked_total} operations were acknowledged"
    );
}
