//! HNSW build and search on generated data, or on the shared dev dataset
//! (`QUIVER_BENCH_DATA=/path/to/wordnet-minilm-dev`) when it is given.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use quiver_core::index::hnsw::Hnsw;
use quiver_core::{HnswConfig, Metric};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

#[path = "support/fvecs.rs"]
mod fvecs;
use fvecs::read_fvecs;

fn data() -> (String, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    if let Ok(dir) = std::env::var("QUIVER_BENCH_DATA") {
        let dir = Path::new(&dir);
        if let (Some(b), Some(q)) = (
            read_fvecs(&dir.join("base.fvecs")),
            read_fvecs(&dir.join("query.fvecs")),
        ) {
            return ("dataset".into(), b, q);
        }
    }
    let mut rng = SmallRng::seed_from_u64(3);
    let mut gen_set = |n: usize| -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| {
                let mut v: Vec<f32> = (0..128).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                Metric::Cosine.preprocess(&mut v);
                v
            })
            .collect()
    };
    let base = gen_set(20_000);
    let queries = gen_set(200);
    ("random-20k-128".into(), base, queries)
}

fn hnsw(c: &mut Criterion) {
    let (name, base, queries) = data();
    let dim = base[0].len();
    let items: Vec<(u32, &[f32])> = base
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32, v.as_slice()))
        .collect();
    let config = HnswConfig::default();
    let mut group = c.benchmark_group(format!("hnsw/build/{name}"));
    group.sample_size(10);
    group.bench_function("all-threads", |b| {
        b.iter(|| Hnsw::build(dim, Metric::Cosine, config, &items))
    });
    group.finish();

    let index = Hnsw::build(dim, Metric::Cosine, config, &items);
    let mut group = c.benchmark_group(format!("hnsw/search/{name}"));
    for ef in [16usize, 64, 256] {
        group.bench_with_input(BenchmarkId::new("ef", ef), &ef, |b, &ef| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % queries.len();
                index.search(&queries[i], 10, ef, None)
            })
        });
    }
    let allow = |id: u32| id.is_multiple_of(10);
    group.bench_function("filtered-10pct/ef64", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            index.search(&queries[i], 10, 64, Some(&allow))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = hnsw
}
criterion_main!(benches);
