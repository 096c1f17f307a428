//! Portable kernels: the fallback on CPUs without a SIMD kernel, and the
//! twins every SIMD kernel is tested against.
//!
//! The f32 loops keep eight independent accumulators so the compiler can
//! vectorise them with the baseline instruction set (SSE2 on x86_64).

const LANES: usize = 8;

/// Inner product over the common prefix of `a` and `b`.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

/// Squared Euclidean distance over the common prefix of `a` and `b`.
pub(super) fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for l in 0..LANES {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Cosine distance `1 - dot` on unit vectors.
pub(super) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b)
}

/// Negated inner product, so smaller is closer.
pub(super) fn neg_dot(a: &[f32], b: &[f32]) -> f32 {
    -dot(a, b)
}

/// Number of differing bits over the common prefix of `a` and `b`.
pub(super) fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// `(|a & b|, |a | b|)` in bits over the common prefix of `a` and `b`.
pub(super) fn and_or_counts(a: &[u64], b: &[u64]) -> (u32, u32) {
    a.iter().zip(b).fold((0, 0), |(i, u), (x, y)| {
        (i + (x & y).count_ones(), u + (x | y).count_ones())
    })
}

/// Sum of products of two byte-code vectors over their common prefix; exact
/// for up to 66,051 components (255 * 255 * 66,051 < 2^32).
pub(super) fn dot_u8(a: &[u8], b: &[u8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| u32::from(x) * u32::from(y))
        .sum()
}
