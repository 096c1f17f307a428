//! Distance kernels: every kernel set this CPU runs, the auto-selected one,
//! and the `simsimd` crate for comparison, at common embedding sizes.
//! Throughput is reported as bytes of both operands read per second.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use quiver_core::distance::{self, available_kernels};
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_millis(800))
        .sample_size(30);
    targets = kernels, bits
}
criterion_main!(benches);
