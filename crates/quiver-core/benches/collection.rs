//! Collection reopen: loading the graph checkpoint versus rebuilding the
//! graph from the stored vectors.
//!
//! Builds a collection of `QUIVER_BENCH_POINTS` (default 100 000) random
//! vectors of `QUIVER_BENCH_DIM` (default 128) floats, checkpoints it, then
//! times `Database::open` + first `collection()` (which recovers) with the
//! graph checkpoint present, and again with `hnsw.graph` removed (parallel
//! rebuild; skipped with `QUIVER_BENCH_REBUILD=0`), and filtered search
//! latency by selectivity. Prints wall-clock medians; asserts nothing.
//!
//! Run: `cargo bench -p quiver-core --bench collection`

use std::time::{Duration, Instant};

use quiver_core::filter::{FieldType, Filter};
use quiver_core::{CollectionConfig, Database, DurabilityMode, Metric, Point, SearchRequest};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn reopen(dir: &std::path::Path, query: &[f32]) -> Duration {
    let start = Instant::now();
    let db = Database::open(dir).expect("open");
    let c = db.collection("bench").expect("collection");
    let took = start.elapsed();
    let hits = c
        .search(&SearchRequest::new(query.to_vec(), 10))
        .expect("search");
    assert_eq!(hits.len(), 10);
    took
}

/// Filtered search latency by selectivity: the default strategy (exact scan
/// below the threshold, filtered graph search above) against a forced
/// exact scan, to place the threshold.
fn filtered_search(dir: &std::path::Path, dim: usize, rng: &mut SmallRng) {
    let db = Database::open(dir).expect("open");
    let c = db.collection("bench").expect("collection");
    let queries: Vec<Vec<f32>> = (0..50)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    for per_mille in [1u64, 5, 10, 20, 50, 200] {
        let filter: Filter = serde_json::from_value(
            serde_json::json!({"must": [{"key": "bucket", "range": {"lt": per_mille}}]}),
        )
        .expect("filter");
        let mut times = [Duration::ZERO; 2];
        for (slot, exact) in [(0, false), (1, true)] {
            let start = Instant::now();
            for q in &queries {
                let mut req = SearchRequest::new(q.clone(), 10);
                req.filter = Some(filter.clone());
                req.exact = exact;
                assert_eq!(c.search(&req).expect("search").len(), 10);
            }
            times[slot] = start.elapsed() / queries.len() as u32;
        }
        println!(
            "collection/filtered_search/{:.1}%: default {:.0} us, exact scan {:.0} us",
            per_mille as f64 / 10.0,
            times[0].as_secs_f64() * 1e6,
            times[1].as_secs_f64() * 1e6
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects nothing here.
    let points = env_or("QUIVER_BENCH_POINTS", 100_000);
    let dim = env_or("QUIVER_BENCH_DIM", 128);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut rng = SmallRng::seed_from_u64(1);
    let query: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();

    let start = Instant::now();
    {
        let db = Database::open(tmp.path()).expect("open");
        let mut config = CollectionConfig::new(dim, Metric::Cosine);
        config.durability = DurabilityMode::FlushOnly;
        let c = db.create_collection("bench", config).expect("create");
        let mut next = 0u64;
        while (next as usize) < points {
            let batch: Vec<Point> = (0..1000.min(points - next as usize))
                .map(|i| {
                    let v = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
                    let id = next + i as u64;
                    let payload = serde_json::json!({"bucket": id % 1000});
                    Point::new(id, v).with_payload(payload.as_object().expect("object").clone())
                })
                .collect();
            next += batch.len() as u64;
            c.upsert(batch).expect("upsert");
        }
        c.create_field_index("bucket", FieldType::Integer)
            .expect("index");
        c.flush().expect("flush");
    }
    println!(
        "collection/build/{points}x{dim}: {:.1} s (upserts of 1000 + checkpoint)",
        start.elapsed().as_secs_f64()
    );

    let loads: Vec<Duration> = (0..5).map(|_| reopen(tmp.path(), &query)).collect();
    println!(
        "collection/reopen_checkpoint/{points}x{dim}: median {:.1} ms over {} runs",
        median(loads.clone()).as_secs_f64() * 1e3,
        loads.len()
    );

    filtered_search(tmp.path(), dim, &mut rng);

    if std::env::var("QUIVER_BENCH_REBUILD").is_ok_and(|v| v == "0") {
        return;
    }
    let graph = tmp.path().join("collections/bench/hnsw.graph");
    let mut rebuilds = Vec::new();
    for _ in 0..2 {
        std::fs::remove_file(&graph).expect("remove graph");
        rebuilds.push(reopen(tmp.path(), &query));
    }
    let rebuild = median(rebuilds.clone());
    println!(
        "collection/reopen_rebuild/{points}x{dim}: median {:.1} ms over {} runs ({:.0}x the checkpoint load)",
        rebuild.as_secs_f64() * 1e3,
        rebuilds.len(),
        rebuild.as_secs_f64() / median(loads).as_secs_f64()
    );
}
