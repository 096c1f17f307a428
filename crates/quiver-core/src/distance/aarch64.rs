//! aarch64 kernels: NEON for f32.
//!
//! # Safety
//!
//! - Each kernel is a safe `#[target_feature(enable = "neon")]` fn; the kernel
//!   table in `mod.rs` stores one only after `is_aarch64_feature_detected!`
//!   found NEON.
//! - Loads read `ptr.add(i)` for `i + width <= n`, where `n` is the length of
//!   the shorter slice, so no load leaves either slice.

use std::arch::aarch64::{
    float32x4_t, vaddq_f32, vaddvq_f32, vdupq_n_f32, vfmaq_f32, vld1q_f32, vsubq_f32,
};

#[inline]
#[target_feature(enable = "neon")]
fn dot_inner(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc: [float32x4_t; 4] = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 4 * j + 4 <= i + 16 <= n, inside both slices.
            let (x, y) = unsafe { (vld1q_f32(pa.add(i + 4 * j)), vld1q_f32(pb.add(i + 4 * j))) };
            *s = vfmaq_f32(*s, x, y);
        }
        i += 16;
    }
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, inside both slices.
        let (x, y) = unsafe { (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
        acc[0] = vfmaq_f32(acc[0], x, y);
        i += 4;
    }
    let mut sum = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for k in i..n {
        sum += a[k] * b[k];
    }
    sum
}

#[inline]
#[target_feature(enable = "neon")]
fn l2sq_inner(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc: [float32x4_t; 4] = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 4 * j + 4 <= i + 16 <= n, inside both slices.
            let (x, y) = unsafe { (vld1q_f32(pa.add(i + 4 * j)), vld1q_f32(pb.add(i + 4 * j))) };
            let d = vsubq_f32(x, y);
            *s = vfmaq_f32(*s, d, d);
        }
        i += 16;
    }
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, inside both slices.
        let (x, y) = unsafe { (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
        let d = vsubq_f32(x, y);
        acc[0] = vfmaq_f32(acc[0], d, d);
        i += 4;
    }
    let mut sum = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for k in i..n {
        let d = a[k] - b[k];
        sum += d * d;
    }
    sum
}

/// Inner product, NEON.
#[target_feature(enable = "neon")]
pub(super) fn dot_neon(a: &[f32], b: &[f32]) -> f32 {
    dot_inner(a, b)
}

/// Cosine distance `1 - dot`, NEON.
#[target_feature(enable = "neon")]
pub(super) fn cosine_neon(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot_inner(a, b)
}

/// Negated inner product, NEON.
#[target_feature(enable = "neon")]
pub(super) fn neg_dot_neon(a: &[f32], b: &[f32]) -> f32 {
    -dot_inner(a, b)
}

/// Squared L2, NEON.
#[target_feature(enable = "neon")]
pub(super) fn l2sq_neon(a: &[f32], b: &[f32]) -> f32 {
    l2sq_inner(a, b)
}
