/// `n` deterministic pseudo-random vectors of `dim` components in [-1, 1)
/// (xorshift64 seeded from `seed`): the same arguments give the same
/// vectors on every machine.
pub fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
                })
                .collect()
        })
        .collect()
}

/// Cosine similarity, computed plainly in f32 (the reference answers are
/// checked against).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_in_range_and_differ_by_seed() {
        let a = vectors(50, 8, 7);
        assert_eq!(a, vectors(50, 8, 7));
        assert_ne!(a, vectors(50, 8, 8));
        assert!(a.iter().flatten().all(|x| (-1.0..1.0).contains(x)));
        let mean = a.iter().flatten().sum::<f32>() / 400.0;
        assert!(mean.abs() < 0.15, "components are not centred: {mean}");
    }

    #[test]
    fn cosine_of_parallel_and_opposite_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-3.0, 0.0]) + 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
    }
}
