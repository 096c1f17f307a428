//! Storage benchmarks: store / store_batch throughput per durability mode,
//! bulk load,
//! flush latency, retrieve vs retrieve_ref, compaction, and reopening from a
//! checkpoint vs from WAL replay. Groups are named `storage/op/param`.
//!
//! Data is generated. Sample sizes are small so the whole file runs in a
//! few minutes; the big cases (`compact`, `reopen`) take one sample per
//! rebuilt fixture.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use quiver_core::storage::{DurabilityMode, MmapStorage, VectorStorage};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MODES: [(DurabilityMode, &str); 3] = [
    (DurabilityMode::Fsync, "fsync"),
    (DurabilityMode::FlushOnly, "flush_only"),
    (DurabilityMode::None, "none"),
];

fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect()
}

/// Store `n` vectors of `dim` (ids 0..n) in batches of 10 000.
fn fill(store: &mut MmapStorage, n: usize, dim: usize) {
    let block = vectors(10_000, dim, 1);
    store.reserve_capacity(n).expect("reserve");
    for start in (0..n).step_by(block.len()) {
        let items: Vec<(u64, &[f32])> = (start..n.min(start + block.len()))
            .map(|id| (id as u64, block[id - start].as_slice()))
            .collect();
        store.store_batch(&items).expect("store_batch");
    }
}

fn store_throughput(c: &mut Criterion) {
    // Ids cycle through this many slots so the file stays bounded; after
    // the first lap stores are overwrites in place.
    const SLOTS: u64 = 50_000;
    for dim in [384, 768] {
        let data = vectors(1000, dim, 2);
        let mut group = c.benchmark_group(format!("storage/store/{dim}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(2));
        group.throughput(Throughput::Elements(1));
        for (mode, name) in MODES {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut store = MmapStorage::new_with_durability(dir.path(), dim, mode).expect("open");
            let mut id = 0u64;
            group.bench_function(name, |b| {
                b.iter(|| {
                    let v = &data[(id % 1000) as usize];
                    store.store(id % SLOTS, v).expect("store");
                    id += 1;
                    // A flush every 10 000 stores keeps the WAL bounded; it is
                    // timed, so each mode's figure includes its flush cost.
                    if id.is_multiple_of(10_000) {
                        store.flush().expect("flush");
                    }
                });
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("storage/store_batch/{dim}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(1000));
        for (mode, name) in MODES {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut store = MmapStorage::new_with_durability(dir.path(), dim, mode).expect("open");
            let mut round = 0u64;
            group.bench_function(name, |b| {
                b.iter(|| {
                    let base = (round % 50) * 1000;
                    let items: Vec<(u64, &[f32])> = data
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (base + i as u64, v.as_slice()))
                        .collect();
                    store.store_batch(&items).expect("store_batch");
                    round += 1;
                    // A (timed) flush every 10 batches, as in `store`.
                    if round.is_multiple_of(10) {
                        store.flush().expect("flush");
                    }
                });
            });
        }
        group.finish();
    }
}

fn flush_latency(c: &mut Criterion) {
    let dim = 384;
    let data = vectors(100, dim, 3);
    let mut group = c.benchmark_group("storage/flush");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for batch in [1usize, 100] {
        for (mode, name) in MODES {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut store = MmapStorage::new_with_durability(dir.path(), dim, mode).expect("open");
            fill(&mut store, 10_000, dim);
            store.flush_full().expect("flush_full");
            let mut rng = SmallRng::seed_from_u64(4);
            group.bench_function(
                BenchmarkId::new(format!("{name}/after_{batch}_stores"), dim),
                |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            for v in data.iter().take(batch) {
                                store.store(rng.random_range(0..20_000), v).expect("store");
                            }
                            let start = Instant::now();
                            store.flush().expect("flush");
                            total += start.elapsed();
                        }
                        total
                    });
                },
            );
        }
    }
    group.finish();
}

fn retrieve(c: &mut Criterion) {
    let dim = 384;
    let n = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store =
        MmapStorage::new_with_durability(dir.path(), dim, DurabilityMode::None).expect("open");
    fill(&mut store, n, dim);
    store.flush_full().expect("flush_full");
    let mut group = c.benchmark_group("storage/retrieve");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(1));
    let mut rng = SmallRng::seed_from_u64(5);
    group.bench_function(BenchmarkId::new("copy", dim), |b| {
        b.iter(|| {
            let v = store
                .retrieve(rng.random_range(0..n as u64))
                .expect("retrieve");
            black_box(v.map(|v| v[0]))
        });
    });
    group.bench_function(BenchmarkId::new("ref", dim), |b| {
        b.iter(|| {
            let v = store
                .retrieve_ref(rng.random_range(0..n as u64))
                .expect("retrieve_ref");
            black_box(v.map(|v| v[0]))
        });
    });
    group.finish();
}

fn compact(c: &mut Criterion) {
    let (n, dim) = (100_000, 384);
    let mut group = c.benchmark_group("storage/compact");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes((n / 2 * dim * 4) as u64));
    group.bench_function("100k_x_384_half_deleted", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut store =
                    MmapStorage::new_with_durability(dir.path(), dim, DurabilityMode::None)
                        .expect("open");
                fill(&mut store, n, dim);
                for id in (0..n as u64).step_by(2) {
                    store.delete(id).expect("delete");
                }
                store.flush_full().expect("flush_full");
                (dir, store)
            },
            |(dir, mut store)| {
                black_box(store.compact().expect("compact"));
                (dir, store)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn copy_file(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy");
}

fn reopen(c: &mut Criterion) {
    let (n, dim) = (1_000_000, 128);
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine_wal = dir.path().join("pristine.wal");
    {
        let mut store =
            MmapStorage::new_with_durability(dir.path(), dim, DurabilityMode::FlushOnly)
                .expect("open");
        fill(&mut store, n, dim);
        // The WAL now holds all n frames; keep a copy before Drop checkpoints.
        copy_file(&dir.path().join("vectors.wal"), &pristine_wal);
    }
    let mut group = c.benchmark_group("storage/reopen");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("1m_x_128/checkpoint", |b| {
        b.iter(|| {
            let store = MmapStorage::new(dir.path(), dim).expect("open");
            black_box(store.len())
        });
    });
    // Replay in FlushOnly mode: measures reading and applying the WAL (and
    // writing the checkpoint), not the disk's writeback speed.
    group.bench_function("1m_x_128/wal_replay", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let _ = std::fs::remove_file(dir.path().join("vectors.idx"));
                copy_file(&pristine_wal, &dir.path().join("vectors.wal"));
                let start = Instant::now();
                let store =
                    MmapStorage::new_with_durability(dir.path(), dim, DurabilityMode::FlushOnly)
                        .expect("open");
                total += start.elapsed();
                assert_eq!(store.len(), n);
            }
            total
        });
    });
    group.finish();
}

/// Bulk load: 100 000 x 384 into a fresh store in batches of 10 000, then
/// `flush_full`, so every mode ends durable. Throughput is in vector bytes,
/// to set beside the machine's memory and disk bandwidth.
fn bulk_load(c: &mut Criterion) {
    const N: usize = 100_000;
    const DIM: usize = 384;
    let block = vectors(10_000, DIM, 5);
    let mut group = c.benchmark_group("storage/bulk_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes((N * DIM * 4) as u64));
    for (mode, name) in MODES {
        group.bench_function(BenchmarkId::new(name, "100k_x_384"), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    let mut store =
                        MmapStorage::new_with_durability(dir.path(), DIM, mode).expect("open");
                    store.reserve_capacity(N).expect("reserve");
                    for start in (0..N).step_by(block.len()) {
                        let items: Vec<(u64, &[f32])> = block
                            .iter()
                            .enumerate()
                            .map(|(i, v)| ((start + i) as u64, v.as_slice()))
                            .collect();
                        store.store_batch(&items).expect("store_batch");
                    }
                    store.flush_full().expect("flush_full");
                    // Dropped after timing, with the directory.
                    (store, dir)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    store_throughput,
    bulk_load,
    flush_latency,
    retrieve,
    compact,
    reopen
);
criterion_main!(benches);
