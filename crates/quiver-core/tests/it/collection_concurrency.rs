//! Readers keep running, and see only whole, live points, while a writer
//! upserts, another deletes, and compaction and checkpoints run; nothing
//! deadlocks (a watchdog bounds the run).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use quiver_core::filter::{FieldType, Filter};
use quiver_core::{
    Collection, CollectionConfig, Database, Metric, Point, PointId, PointSelector, ScoredPoint,
    SearchRequest,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const DIM: usize = 8;
/// Ids the writer keeps rewriting.
const UPDATED: u64 = 150;
/// Ids `UPDATED..TOTAL` are deleted one by one and never written again.
const TOTAL: u64 = 200;
const RUN: Duration = Duration::from_millis(2500);
const WATCHDOG: Duration = Duration::from_secs(60);

fn pattern(id: u64, version: u64) -> Vec<f32> {
    crate::storage_support::pattern(id, version, DIM)
}

fn point(id: u64, version: u64) -> Point {
    let payload = json!({"v": version, "odd": id % 2 == 1});
    Point::new(id, pattern(id, version)).with_payload(payload.as_object().expect("object").clone())
}

fn num(id: PointId) -> u64 {
    match id {
        PointId::Num(n) => n,
        PointId::Uuid(_) => panic!("numeric ids only"),
    }
}

/// A hit is whole: its vector is the one written with its payload's version.
fn check_whole(hit: &ScoredPoint, deleted_before: &HashSet<u64>) {
    let id = num(hit.id);
    assert!(
        !deleted_before.contains(&id),
        "search returned deleted point {id}"
    );
    let payload = hit.payload.as_ref().expect("payload asked for");
    let version = payload["v"].as_u64().expect("version");
    assert_eq!(
        hit.vector(),
        Some(pattern(id, version).as_slice()),
        "point {id}: vector is not the one of version {version}"
    );
    assert_eq!(payload["odd"], json!(id % 2 == 1));
}

fn reader(c: &Collection, deleted: &RwLock<HashSet<u64>>, stop: &AtomicBool, seed: u64) -> u64 {
    let mut rng = SmallRng::seed_from_u64(seed);
    let odd: Filter =
        serde_json::from_value(json!({"must": [{"key": "odd", "match": {"value": true}}]}))
            .expect("filter");
    let mut searches = 0;
    while !stop.load(Ordering::Relaxed) {
        let deleted_before = deleted.read().clone();
        let q: Vec<f32> = (0..DIM).map(|_| rng.random_range(0.0..89.0)).collect();
        let mut req = SearchRequest::new(q, 20);
        req.with_payload = true;
        req.with_vector = true;
        if rng.random_bool(0.3) {
            req.filter = Some(odd.clone());
        }
        let hits = c.search(&req).expect("search");
        assert_eq!(
            hits.len(),
            20,
            "fewer hits than k while enough points exist"
        );
        for hit in &hits {
            check_whole(hit, &deleted_before);
            if req.filter.is_some() {
                assert_eq!(num(hit.id) % 2, 1, "filter violated");
            }
        }
        let got = c
            .get(&[PointId::Num(rng.random_range(0..TOTAL))], true, true)
            .expect("get");
        for r in got {
            let version = r.payload.as_ref().expect("payload")["v"]
                .as_u64()
                .expect("v");
            assert_eq!(
                r.vector().map(<[f32]>::to_vec),
                Some(pattern(num(r.id), version))
            );
        }
        searches += 1;
    }
    searches
}

#[test]
fn readers_see_whole_live_points_during_writes_deletes_and_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::Euclid))
        .unwrap();
    c.create_field_index("odd", FieldType::Bool).unwrap();
    c.upsert((0..TOTAL).map(|i| point(i, 0)).collect()).unwrap();

    let deleted = Arc::new(RwLock::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let version = Arc::new(AtomicU64::new(1));
    let (done_tx, done_rx) = mpsc::channel::<(&'static str, u64)>();
    let mut handles = Vec::new();

    for r in 0..3u64 {
        let (c, deleted, stop, tx) = (c.clone(), deleted.clone(), stop.clone(), done_tx.clone());
        handles.push(std::thread::spawn(move || {
            let n = reader(&c, &deleted, &stop, r);
            tx.send(("reader", n)).expect("watchdog alive");
        }));
    }
    {
        let (c, stop, version, tx) = (c.clone(), stop.clone(), version.clone(), done_tx.clone());
        handles.push(std::thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(99);
            let mut writes = 0;
            while !stop.load(Ordering::Relaxed) {
                let points: Vec<Point> = (0..rng.random_range(1..20))
                    .map(|_| {
                        point(
                            rng.random_range(0..UPDATED),
                            version.fetch_add(1, Ordering::Relaxed),
                        )
                    })
                    .collect();
                c.upsert(points).expect("upsert");
                writes += 1;
            }
            tx.send(("writer", writes)).expect("watchdog alive");
        }));
    }
    {
        let (c, deleted, stop, tx) = (c.clone(), deleted.clone(), stop.clone(), done_tx.clone());
        handles.push(std::thread::spawn(move || {
            let mut next = UPDATED;
            while !stop.load(Ordering::Relaxed) && next < TOTAL - 30 {
                let n = c
                    .delete(&PointSelector::Ids(vec![PointId::Num(next)]))
                    .expect("delete")
                    .points;
                assert_eq!(n, 1);
                deleted.write().insert(next);
                next += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            tx.send(("deleter", next - UPDATED))
                .expect("watchdog alive");
        }));
    }
    {
        let (c, stop, tx) = (c.clone(), stop.clone(), done_tx.clone());
        handles.push(std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                if rounds % 2 == 0 {
                    c.compact().expect("compact");
                } else {
                    c.flush().expect("flush");
                }
                rounds += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            tx.send(("maintenance", rounds)).expect("watchdog alive");
        }));
    }
    drop(done_tx);

    let start = Instant::now();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    let mut finished = Vec::new();
    for _ in 0..handles.len() {
        let left = WATCHDOG.saturating_sub(start.elapsed());
        match done_rx.recv_timeout(left) {
            Ok(done) => finished.push(done),
            Err(_) => panic!(
                "watchdog: threads still running after {WATCHDOG:?} (deadlock?); finished: {finished:?}"
            ),
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    for (who, n) in &finished {
        assert!(*n > 0, "{who} made no progress: {finished:?}");
    }
    let deleted = deleted.read();
    assert_eq!(c.count(None).unwrap(), TOTAL - deleted.len() as u64);
    assert_eq!(
        c.info().unwrap().indexed_vectors,
        TOTAL - deleted.len() as u64
    );
}
