//! Seeded vector generators shared by the index tests.

use quiver_core::Metric;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// `n` preprocessed vectors of `dim` floats, clustered a little so the graph
/// has structure like real embeddings.
pub fn clustered(seed: u64, n: usize, dim: usize, metric: Metric) -> Vec<Vec<f32>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let centers: Vec<Vec<f32>> = (0..16)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    (0..n)
        .map(|_| {
            let c = &centers[rng.random_range(0..centers.len())];
            let mut v: Vec<f32> = c
                .iter()
                .map(|x| x + rng.random_range(-0.6f32..0.6))
                .collect();
            metric.preprocess(&mut v);
            v
        })
        .collect()
}

/// `(id, vector)` pairs with ids `0..n`.
pub fn items(data: &[Vec<f32>]) -> Vec<(u32, &[f32])> {
    data.iter()
        .enumerate()
        .map(|(i, v)| (i as u32, v.as_slice()))
        .collect()
}
