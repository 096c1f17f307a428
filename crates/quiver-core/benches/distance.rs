//! Distance kernels: every kernel set this CPU runs, the auto-selected one,
//! and the `simsimd` crate for comparison, at common embedding sizes.
//! Throughput is reported as bytes of both operands read per second.
//!
//! Two reference points put those figures in context: `membw/*` measures
//! this machine's single-thread memory bandwidth (a sum and a copy over
//! buffers far larger than the last-level cache), and `distance/dot-cold`
//! evaluates the selected kernel against rows picked at random from such a
//! buffer, the access pattern of a graph search on a large index.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use quiver_core::distance::{self, available_byte_kernels, available_kernels};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use simsimd::SpatialSimilarity;

const DIMS: [usize; 4] = [128, 384, 768, 1536];

fn vectors(dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SmallRng::seed_from_u64(dim as u64);
    let a = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let b = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    (a, b)
}

fn bench_op(c: &mut Criterion, op: &str) {
    let mut group = c.benchmark_group(format!("distance/{op}"));
    for dim in DIMS {
        let (a, b) = vectors(dim);
        group.throughput(Throughput::Bytes((2 * dim * 4) as u64));
        for k in available_kernels() {
            let f = if op == "dot" { k.dot } else { k.l2sq };
            group.bench_with_input(BenchmarkId::new(k.name, dim), &dim, |bch, _| {
                bch.iter(|| f.eval(black_box(&a), black_box(&b)))
            });
        }
        group.bench_with_input(BenchmarkId::new("selected", dim), &dim, |bch, _| {
            if op == "dot" {
                bch.iter(|| distance::dot(black_box(&a), black_box(&b)))
            } else {
                bch.iter(|| distance::l2sq(black_box(&a), black_box(&b)))
            }
        });
        group.bench_with_input(BenchmarkId::new("simsimd", dim), &dim, |bch, _| {
            if op == "dot" {
                bch.iter(|| f32::dot(black_box(&a), black_box(&b)))
            } else {
                bch.iter(|| f32::sqeuclidean(black_box(&a), black_box(&b)))
            }
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    eprintln!("selected kernel set: {}", distance::kernel_name());
    bench_op(c, "dot");
    bench_op(c, "l2sq");
}

fn bits(c: &mut Criterion) {
    let mut group = c.benchmark_group("distance/hamming");
    for words in [2usize, 16, 64] {
        let mut rng = SmallRng::seed_from_u64(words as u64);
        let a: Vec<u64> = (0..words).map(|_| rng.random()).collect();
        let b: Vec<u64> = (0..words).map(|_| rng.random()).collect();
        group.throughput(Throughput::Bytes((2 * words * 8) as u64));
        group.bench_with_input(
            BenchmarkId::new("selected", words * 64),
            &words,
            |bch, _| bch.iter(|| distance::hamming(black_box(&a), black_box(&b))),
        );
    }
    group.finish();
}

/// Int8 codes against the f32 dot product of the same dimension: elements
/// per second is what compares (one code is one component).
fn bytes(c: &mut Criterion) {
    let mut group = c.benchmark_group("distance/dot_u8");
    for dim in DIMS {
        let mut rng = SmallRng::seed_from_u64(dim as u64);
        let a: Vec<u8> = (0..dim).map(|_| rng.random()).collect();
        let b: Vec<u8> = (0..dim).map(|_| rng.random()).collect();
        let (fa, fb) = vectors(dim);
        group.throughput(Throughput::Elements(dim as u64));
        // Every byte kernel this CPU runs (VNNI ones where present), not
        // the kernel sets: the sets share one byte kernel.
        for k in available_byte_kernels() {
            group.bench_with_input(BenchmarkId::new(k.name, dim), &dim, |bch, _| {
                bch.iter(|| k.eval(black_box(&a), black_box(&b)))
            });
        }
        group.bench_with_input(BenchmarkId::new("selected", dim), &dim, |bch, _| {
            bch.iter(|| distance::dot_u8(black_box(&a), black_box(&b)))
        });
        group.bench_with_input(BenchmarkId::new("f32-selected", dim), &dim, |bch, _| {
            bch.iter(|| distance::dot(black_box(&fa), black_box(&fb)))
        });
    }
    group.finish();
}

/// Bytes in each buffer of the bandwidth and cold-row benches: 16 times the
/// 32 MiB last-level cache of the machines we measure on.
const BIG: usize = 512 << 20;

fn membw(c: &mut Criterion) {
    let mut group = c.benchmark_group("membw");
    group.sample_size(10);
    let words = BIG / 8;
    let src: Vec<u64> = (0..words as u64).collect();
    group.throughput(Throughput::Bytes(BIG as u64));
    group.bench_function("read-sum", |b| {
        b.iter(|| {
            black_box(&src)
                .iter()
                .fold(0u64, |acc, &x| acc.wrapping_add(x))
        })
    });
    let mut dst = vec![0u64; words];
    // Read plus write traffic.
    group.throughput(Throughput::Bytes(2 * BIG as u64));
    group.bench_function("copy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    group.finish();
}

fn cold_rows(c: &mut Criterion) {
    let mut group = c.benchmark_group("distance/dot-cold");
    for dim in DIMS {
        let rows = BIG / (dim * 4);
        let mut rng = SmallRng::seed_from_u64(7);
        let data: Vec<f32> = (0..rows * dim)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let order: Vec<usize> = (0..1 << 16).map(|_| rng.random_range(0..rows)).collect();
        let (q, _) = vectors(dim);
        group.throughput(Throughput::Bytes((dim * 4) as u64));
        group.bench_with_input(BenchmarkId::new("selected", dim), &dim, |bch, _| {
            let mut i = 0;
            bch.iter(|| {
                i = (i + 1) & (order.len() - 1);
                let r = order[i] * dim;
                distance::dot(black_box(&q), &data[r..r + dim])
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_millis(800))
        .sample_size(30);
    targets = kernels, bits, bytes, membw, cold_rows
}
criterion_main!(benches);
