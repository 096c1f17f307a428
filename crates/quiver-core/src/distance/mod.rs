//! Distance metrics and the SIMD kernels behind them.
//!
//! `scalar.rs` holds portable kernels (the fallback and the twins every SIMD
//! kernel is tested against), `x86.rs` AVX-512 and AVX2+FMA kernels,
//! `aarch64.rs` NEON kernels. The fastest set this CPU supports is detected
//! once, on first use, and kept in a `OnceLock`; every distance afterwards is
//! one indirect call.
//!
//! Internal distances are "smaller is closer" on preprocessed vectors:
//! Cosine is `1 - dot` of unit vectors, Dot is `-dot`, Euclid is squared L2.

#[cfg(target_arch = "aarch64")]
mod aarch64;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// A similarity metric, named as Qdrant names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    /// Cosine similarity; vectors are normalised to unit length on the way in.
    Cosine,
    /// Euclidean (L2) distance; squared internally.
    Euclid,
    /// Inner product; vectors are used as given.
    Dot,
}

impl Metric {
    /// In-place preparation of a vector before it is stored or searched:
    /// normalises to unit length for Cosine (a zero vector stays zero),
    /// no-op otherwise. Any finite vector normalises exactly, however large
    /// or small its components: where the `f32` sum of squares overflows or
    /// underflows, the norm is taken in `f64`, which holds the sum of
    /// squares of every finite `f32` vector of up to 2^60 components.
    pub fn preprocess(self, v: &mut [f32]) {
        if self != Metric::Cosine {
            return;
        }
        let fast = dot(v, v);
        if fast.is_normal() {
            let inv = (1.0 / f64::from(fast).sqrt()) as f32;
            v.iter_mut().for_each(|x| *x *= inv);
            return;
        }
        let norm = v
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 && norm.is_finite() {
            let inv = 1.0 / norm;
            v.iter_mut().for_each(|x| *x = (f64::from(*x) * inv) as f32);
        }
    }

    /// Internal distance, smaller is closer, on preprocessed vectors:
    /// Cosine `1 - dot`, Dot `-dot`, Euclid squared L2. Uses the fastest
    /// kernel of this CPU. Only the common prefix of `a` and `b` is used.
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        self.kernel().eval(a, b)
    }

    /// The user-facing score (Qdrant convention) for an internal distance:
    /// Cosine `1 - d` (similarity), Dot `-d`, Euclid `sqrt(d)` (L2 distance).
    pub fn score(self, distance: f32) -> f32 {
        match self {
            Metric::Cosine => 1.0 - distance,
            Metric::Dot => -distance,
            Metric::Euclid => distance.max(0.0).sqrt(),
        }
    }

    /// True for Cosine and Dot (larger score is better); false for Euclid.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Cosine | Metric::Dot)
    }

    /// The internal-distance kernel of this metric, for hot loops that call
    /// it many times.
    #[inline]
    pub fn kernel(self) -> DistanceFn {
        let k = kernels();
        match self {
            Metric::Cosine => k.cosine,
            Metric::Dot => k.neg_dot,
            Metric::Euclid => k.l2sq,
        }
    }
}

/// Inner product with the fastest kernel of this CPU (common prefix of `a` and `b`).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    kernels().dot.eval(a, b)
}

/// Squared Euclidean distance with the fastest kernel of this CPU.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    kernels().l2sq.eval(a, b)
}

/// Sum of products of two byte-code vectors (common prefix of `a` and `b`),
/// with the fastest kernel of this CPU. Exact for up to 66,051 components,
/// which covers every dimension a collection allows.
#[inline]
pub fn dot_u8(a: &[u8], b: &[u8]) -> u32 {
    let k = kernels();
    // SAFETY: the table holds a byte kernel only after detection found the features it enables.
    unsafe { (k.dot_u8)(a, b) }
}

/// Number of differing bits between two bit-packed binary vectors
/// (common prefix of `a` and `b`).
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    let k = kernels();
    // SAFETY: the table holds a bit kernel only after detection found the features it enables.
    unsafe { (k.hamming)(a, b) }
}

/// Jaccard distance `1 - |a & b| / |a | b|` between two bit-packed binary
/// vectors; 0 when both are empty (all bits clear).
pub fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    let k = kernels();
    // SAFETY: the table holds a bit kernel only after detection found the features it enables.
    let (inter, union) = unsafe { (k.and_or)(a, b) };
    if union == 0 {
        0.0
    } else {
        1.0 - inter as f32 / union as f32
    }
}

/// Hints the CPU to load the start of `v` into cache; a no-op where there is
/// no prefetch instruction. Never faults.
#[inline(always)]
pub fn prefetch<T>(v: &[T]) {
    #[cfg(target_arch = "x86_64")]
    x86::prefetch(v);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Name of the kernel set chosen for this CPU: `avx512`, `avx2+fma`, `neon`
/// or `scalar`.
pub fn kernel_name() -> &'static str {
    kernels().name
}

/// A distance kernel that this CPU can run. Values of this type are only
/// made after runtime feature detection, so calling one is safe.
#[derive(Clone, Copy)]
pub struct DistanceFn {
    f: unsafe fn(&[f32], &[f32]) -> f32,
}

impl DistanceFn {
    /// Evaluates the kernel over the common prefix of `a` and `b`.
    #[inline(always)]
    pub fn eval(self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `DistanceFn` is built only in `detect`, from a kernel whose
        // target features were detected on this CPU (or from a portable one).
        unsafe { (self.f)(a, b) }
    }
}

impl std::fmt::Debug for DistanceFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DistanceFn")
    }
}

/// One complete set of kernels for one instruction set.
#[derive(Clone, Copy, Debug)]
pub struct KernelSet {
    /// `avx512`, `avx2+fma`, `neon` or `scalar`.
    pub name: &'static str,
    /// Inner product.
    pub dot: DistanceFn,
    /// `1 - dot`.
    pub cosine: DistanceFn,
    /// `-dot`.
    pub neg_dot: DistanceFn,
    /// Squared L2.
    pub l2sq: DistanceFn,
    hamming: BitCountFn,
    and_or: AndOrFn,
    dot_u8: ByteDotFn,
}

type ByteDotFn = unsafe fn(&[u8], &[u8]) -> u32;
type BitCountFn = unsafe fn(&[u64], &[u64]) -> u32;
type AndOrFn = unsafe fn(&[u64], &[u64]) -> (u32, u32);

impl KernelSet {
    /// Hamming distance with this set's bit kernel.
    pub fn hamming(&self, a: &[u64], b: &[u64]) -> u32 {
        // SAFETY: a `KernelSet` is built only in `detect`, after feature detection.
        unsafe { (self.hamming)(a, b) }
    }

    /// Byte-code dot product with this set's kernel (see [`dot_u8`]).
    pub fn dot_u8(&self, a: &[u8], b: &[u8]) -> u32 {
        // SAFETY: a `KernelSet` is built only in `detect`, after feature detection.
        unsafe { (self.dot_u8)(a, b) }
    }
}

const SCALAR: KernelSet = KernelSet {
    name: "scalar",
    dot: DistanceFn { f: scalar::dot },
    cosine: DistanceFn { f: scalar::cosine },
    neg_dot: DistanceFn { f: scalar::neg_dot },
    l2sq: DistanceFn { f: scalar::l2sq },
    hamming: scalar::hamming,
    and_or: scalar::and_or_counts,
    dot_u8: scalar::dot_u8,
};

/// A byte-code dot product kernel (see [`dot_u8`]) this CPU can run.
/// Values are only made after runtime feature detection.
#[derive(Clone, Copy, Debug)]
pub struct ByteDot {
    /// `avx512vnni`, `avxvnni`, `avx2` or `scalar`.
    pub name: &'static str,
    f: ByteDotFn,
}

impl ByteDot {
    /// Sum of products over the common prefix of `a` and `b`, exact for up
    /// to 66,051 components.
    #[inline(always)]
    pub fn eval(self, a: &[u8], b: &[u8]) -> u32 {
        // SAFETY: a `ByteDot` is built only in `available_byte_kernels`,
        // after detection found the features its kernel enables.
        unsafe { (self.f)(a, b) }
    }
}

/// Every byte-code dot kernel this CPU can run, fastest first; the last is
/// `scalar`. [`dot_u8`] and every [`KernelSet`] use the first. VNNI
/// (`vpdpbusd`) kernels come first where the CPU has them: one instruction
/// multiplies and sums four byte pairs per 32-bit lane, where AVX2 widens
/// to 16 bits first.
pub fn available_byte_kernels() -> Vec<ByteDot> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
            out.push(ByteDot {
                name: "avx512vnni",
                f: x86::dot_u8_avx512vnni,
            });
        }
        if has!("avx2") && has!("avxvnni") {
            out.push(ByteDot {
                name: "avxvnni",
                f: x86::dot_u8_avxvnni,
            });
        }
        if has!("avx2") {
            out.push(ByteDot {
                name: "avx2",
                f: x86::dot_u8_avx2,
            });
        }
    }
    out.push(ByteDot {
        name: "scalar",
        f: scalar::dot_u8,
    });
    out
}

/// The byte-code dot kernel [`dot_u8`] uses, for hot loops that call it
/// many times.
#[inline]
pub fn byte_kernel() -> ByteDot {
    ByteDot {
        name: "selected",
        f: kernels().dot_u8,
    }
}

/// Every kernel set this CPU can run, fastest first; the last is `scalar`.
/// For benchmarks and tests that compare kernels.
pub fn available_kernels() -> Vec<KernelSet> {
    let mut sets = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let popcnt = std::arch::is_x86_feature_detected!("popcnt");
        let (hamming, and_or): (BitCountFn, AndOrFn) = if popcnt {
            (x86::hamming_popcnt, x86::and_or_counts_popcnt)
        } else {
            (scalar::hamming, scalar::and_or_counts)
        };
        let dot_u8 = available_byte_kernels()
            .first()
            .map_or(scalar::dot_u8 as ByteDotFn, |k| k.f);
        if std::arch::is_x86_feature_detected!("avx512f") {
            sets.push(KernelSet {
                name: "avx512",
                dot: DistanceFn { f: x86::dot_avx512 },
                cosine: DistanceFn {
                    f: x86::cosine_avx512,
                },
                neg_dot: DistanceFn {
                    f: x86::neg_dot_avx512,
                },
                l2sq: DistanceFn {
                    f: x86::l2sq_avx512,
                },
                hamming,
                and_or,
                dot_u8,
            });
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            sets.push(KernelSet {
                name: "avx2+fma",
                dot: DistanceFn { f: x86::dot_avx2 },
                cosine: DistanceFn {
                    f: x86::cosine_avx2,
                },
                neg_dot: DistanceFn {
                    f: x86::neg_dot_avx2,
                },
                l2sq: DistanceFn { f: x86::l2sq_avx2 },
                hamming,
                and_or,
                dot_u8,
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            sets.push(KernelSet {
                name: "neon",
                dot: DistanceFn {
                    f: aarch64::dot_neon,
                },
                cosine: DistanceFn {
                    f: aarch64::cosine_neon,
                },
                neg_dot: DistanceFn {
                    f: aarch64::neg_dot_neon,
                },
                l2sq: DistanceFn {
                    f: aarch64::l2sq_neon,
                },
                hamming: scalar::hamming,
                and_or: scalar::and_or_counts,
                dot_u8: scalar::dot_u8,
            });
        }
    }
    sets.push(SCALAR);
    sets
}

fn kernels() -> &'static KernelSet {
    static TABLE: OnceLock<KernelSet> = OnceLock::new();
    TABLE.get_or_init(|| available_kernels().first().copied().unwrap_or(SCALAR))
}

#[cfg(test)]
mod tests;
