//! Update churn on a collection: `N` points of `DIM` random floats, then `U`
//! re-upserts of random points with new vectors, in batches of 100. Prints
//! the time taken and how many points a graph search (ef 64) then fails to
//! find by their own vector: an update-heavy workload's effect on the
//! graph.
//!
//! Run: `cargo run --release -p quiver-core --example update_churn [N] [U] [DIM]`
//! (defaults 20000 40000 32).

use std::time::Instant;

use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, SearchRequest};

use quiver_core::storage::DurabilityMode;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(std::env::args()
            .nth(i)
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (n, updates, dim) = (arg(1, 20_000)?, arg(2, 40_000)?, arg(3, 32)?);
    let tmp = tempfile::tempdir()?;
    let db = Database::open(tmp.path())?;
    let mut config = CollectionConfig::new(dim, Metric::Euclid);
    config.durability = DurabilityMode::FlushOnly;
    let c = db.create_collection("churn", config)?;
    let mut rng = SmallRng::seed_from_u64(1);
    let random = |rng: &mut SmallRng| -> Vec<f32> {
        (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()
    };
    let mut vectors: Vec<Vec<f32>> = (0..n).map(|_| random(&mut rng)).collect();
    for lo in (0..n).step_by(1000) {
        let batch = (lo..(lo + 1000).min(n)).map(|i| Point::new(i as u64, vectors[i].clone()));
        c.upsert(batch.collect())?;
    }
    let start = Instant::now();
    for _ in 0..updates / 100 {
        let mut batch = Vec::with_capacity(100);
        for _ in 0..100 {
            let i = rng.random_range(0..n);
            vectors[i] = random(&mut rng);
            batch.push(Point::new(i as u64, vectors[i].clone()));
        }
        c.upsert(batch)?;
    }
    let took = start.elapsed().as_secs_f64();
    let mut misses = 0;
    for (i, v) in vectors.iter().enumerate() {
        let mut req = SearchRequest::new(v.clone(), 1);
        req.ef = Some(64);
        if c.search(&req)?.first().map(|h| h.id) != Some(PointId::Num(i as u64)) {
            misses += 1;
        }
    }
    println!(
        "{n} points x {dim}, {updates} updates: {took:.1} s ({:.0} updates/s); {misses} points not found by their own vector",
        updates as f64 / took
    );
    Ok(())
}
