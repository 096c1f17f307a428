//! Filter planning and evaluation over 100K generated payloads, on an
//! indexed field and on the same values in an unindexed field, at several
//! selectivities. Groups: `filter/plan_eval/{indexed,unindexed}/<percent>`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use quiver_core::PointId;
use quiver_core::filter::{FieldType, Filter, PayloadIndexes};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use roaring::RoaringBitmap;
use serde_json::{Map, Value, json};

const POINTS: u32 = 100_000;

fn payloads() -> Vec<Map<String, Value>> {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut ranks: Vec<u32> = (0..POINTS).collect();
    ranks.shuffle(&mut rng);
    ranks
        .into_iter()
        .map(|rank| {
            let city = ["London", "Berlin", "Moscow", "Paris"][rng.random_range(0..4)];
            let v = json!({
                "indexed": rank,
                "plain": rank,
                "city": city,
                "tags": ["a", "b"],
                "price": rng.random_range(0.0..100.0),
            });
            match v {
                Value::Object(map) => map,
                _ => Map::new(),
            }
        })
        .collect()
}

/// Plans, then checks candidates with `matches` when the plan is inexact.
fn plan_eval(
    index: &PayloadIndexes,
    filter: &Filter,
    all: &RoaringBitmap,
    payloads: &[Map<String, Value>],
) -> u64 {
    let resolve = |id: &PointId| match id {
        PointId::Num(n) => u32::try_from(*n).ok(),
        PointId::Uuid(_) => None,
    };
    let plan = index.plan(filter, all, &resolve);
    if plan.exact {
        return plan.candidates.len();
    }
    plan.candidates
        .iter()
        .filter(|&id| {
            payloads
                .get(id as usize)
                .is_some_and(|p| filter.matches(&PointId::Num(u64::from(id)), p))
        })
        .count() as u64
}

fn bench(c: &mut Criterion) {
    let payloads = payloads();
    let mut index = PayloadIndexes::new();
    index
        .create(
            "indexed",
            FieldType::Integer,
            payloads.iter().enumerate().map(|(i, p)| (i as u32, p)),
        )
        .expect("a valid field name");
    let all: RoaringBitmap = (0..POINTS).collect();
    let mut group = c.benchmark_group("filter/plan_eval");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for percent in [50.0, 10.0, 1.0, 0.1] {
        let below = f64::from(POINTS) * percent / 100.0;
        for field in ["indexed", "plain"] {
            let filter: Filter = serde_json::from_value(json!({
                "must": [{"key": field, "range": {"lt": below}}]
            }))
            .expect("a valid filter");
            let name = if field == "indexed" {
                "indexed"
            } else {
                "unindexed"
            };
            group.bench_with_input(BenchmarkId::new(name, percent), &filter, |b, filter| {
                b.iter(|| black_box(plan_eval(&index, filter, &all, &payloads)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
