//! x86_64 kernels: AVX-512F and AVX2+FMA for f32, POPCNT for bit vectors.
//!
//! # Safety
//!
//! - Every kernel is a safe `#[target_feature]` fn. The kernel table in
//!   `mod.rs` stores one only after `is_x86_feature_detected!` found every
//!   feature it enables, and calling through the table is the only way code
//!   outside this file reaches them.
//! - Loads read `ptr.add(i)` for `i + width <= n`, where `n` is the length of
//!   the shorter slice, so no load leaves either slice. AVX-512 tails use
//!   masked loads, which do not touch masked-off lanes.
//! - `prefetch` only hints the cache; a prefetch never faults, whatever the
//!   address.

use std::arch::x86_64::{
    __m256, __m512, _MM_HINT_T0, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehl_ps,
    _mm_prefetch, _mm_shuffle_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps,
    _mm256_loadu_ps, _mm256_setzero_ps, _mm256_sub_ps, _mm512_add_ps, _mm512_fmadd_ps,
    _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_reduce_add_ps, _mm512_setzero_ps, _mm512_sub_ps,
};

#[target_feature(enable = "avx2,fma")]
fn hsum256(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2_inner(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8 * j + 8 <= i + 32 <= n, inside both slices.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(pa.add(i + 8 * j)),
                    _mm256_loadu_ps(pb.add(i + 8 * j)),
                )
            };
            *s = _mm256_fmadd_ps(x, y, *s);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, inside both slices.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    let s01 = std::arch::x86_64::_mm256_add_ps(acc[0], acc[1]);
    let s23 = std::arch::x86_64::_mm256_add_ps(acc[2], acc[3]);
    let mut sum = hsum256(std::arch::x86_64::_mm256_add_ps(s01, s23));
    for k in i..n {
        sum += a[k] * b[k];
    }
    sum
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn l2sq_avx2_inner(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8 * j + 8 <= i + 32 <= n, inside both slices.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(pa.add(i + 8 * j)),
                    _mm256_loadu_ps(pb.add(i + 8 * j)),
                )
            };
            let d = _mm256_sub_ps(x, y);
            *s = _mm256_fmadd_ps(d, d, *s);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, inside both slices.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        let d = _mm256_sub_ps(x, y);
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        i += 8;
    }
    let s01 = std::arch::x86_64::_mm256_add_ps(acc[0], acc[1]);
    let s23 = std::arch::x86_64::_mm256_add_ps(acc[2], acc[3]);
    let mut sum = hsum256(std::arch::x86_64::_mm256_add_ps(s01, s23));
    for k in i..n {
        let d = a[k] - b[k];
        sum += d * d;
    }
    sum
}

/// Inner product, AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_avx2_inner(a, b)
}

/// Cosine distance `1 - dot`, AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) fn cosine_avx2(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot_avx2_inner(a, b)
}

/// Negated inner product, AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) fn neg_dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    -dot_avx2_inner(a, b)
}

/// Squared L2, AVX2 + FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
    l2sq_avx2_inner(a, b)
}

/// Mask with the low `r` bits set, `r < 16`.
#[inline]
fn tail_mask(r: usize) -> u16 {
    ((1u32 << r) - 1) as u16
}

#[inline]
#[target_feature(enable = "avx512f")]
fn dot_avx512_inner(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc: [__m512; 4] = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16 * j + 16 <= i + 64 <= n, inside both slices.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_ps(pa.add(i + 16 * j)),
                    _mm512_loadu_ps(pb.add(i + 16 * j)),
                )
            };
            *s = _mm512_fmadd_ps(x, y, *s);
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, inside both slices.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: the mask enables only lanes i..n, inside both slices; masked lanes are not read.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
            )
        };
        acc[2] = _mm512_fmadd_ps(x, y, acc[2]);
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(s)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn l2sq_avx512_inner(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc: [__m512; 4] = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16 * j + 16 <= i + 64 <= n, inside both slices.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_ps(pa.add(i + 16 * j)),
                    _mm512_loadu_ps(pb.add(i + 16 * j)),
                )
            };
            let d = _mm512_sub_ps(x, y);
            *s = _mm512_fmadd_ps(d, d, *s);
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, inside both slices.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        let d = _mm512_sub_ps(x, y);
        acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: the mask enables only lanes i..n, inside both slices; masked lanes are not read.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
            )
        };
        let d = _mm512_sub_ps(x, y);
        acc[2] = _mm512_fmadd_ps(d, d, acc[2]);
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(s)
}

/// Inner product, AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    dot_avx512_inner(a, b)
}

/// Cosine distance `1 - dot`, AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) fn cosine_avx512(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot_avx512_inner(a, b)
}

/// Negated inner product, AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) fn neg_dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    -dot_avx512_inner(a, b)
}

/// Squared L2, AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) fn l2sq_avx512(a: &[f32], b: &[f32]) -> f32 {
    l2sq_avx512_inner(a, b)
}

/// Sum of products of two byte-code vectors, AVX2: bytes widened to 16
/// bits, multiplied and summed in pairs into 32-bit lanes (`vpmaddwd`).
/// Exact, like its scalar twin, for up to 66,051 components.
#[target_feature(enable = "avx2")]
pub(super) fn dot_u8_avx2(a: &[u8], b: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32,
        _mm256_add_epi32, _mm256_cvtepu8_epi16, _mm256_extracti128_si256, _mm256_madd_epi16,
        _mm256_setzero_si256,
    };
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_si256(); 2];
    let mut i = 0;
    while i + 32 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16 * j + 16 <= i + 32 <= n, inside both slices;
            // unaligned loads of 16 bytes.
            let (x, y) = unsafe {
                (
                    _mm_loadu_si128(pa.add(i + 16 * j).cast::<__m128i>()),
                    _mm_loadu_si128(pb.add(i + 16 * j).cast::<__m128i>()),
                )
            };
            let (x, y) = (_mm256_cvtepu8_epi16(x), _mm256_cvtepu8_epi16(y));
            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(x, y));
        }
        i += 32;
    }
    if i + 16 <= n {
        // SAFETY: i + 16 <= n, inside both slices.
        let (x, y) = unsafe {
            (
                _mm_loadu_si128(pa.add(i).cast::<__m128i>()),
                _mm_loadu_si128(pb.add(i).cast::<__m128i>()),
            )
        };
        let (x, y) = (_mm256_cvtepu8_epi16(x), _mm256_cvtepu8_epi16(y));
        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, y));
        i += 16;
    }
    let s = _mm256_add_epi32(acc[0], acc[1]);
    let s = _mm_add_epi32(
        std::arch::x86_64::_mm256_castsi256_si128(s),
        _mm256_extracti128_si256::<1>(s),
    );
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    // The lanes hold non-negative sums below 2^32; the bits are the u32.
    let mut sum = _mm_cvtsi128_si32(s) as u32;
    for k in i..n {
        sum = sum.wrapping_add(u32::from(a[k]) * u32::from(b[k]));
    }
    sum
}

/// Hamming distance with the POPCNT instruction.
#[target_feature(enable = "popcnt")]
pub(super) fn hamming_popcnt(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// `(|a & b|, |a | b|)` with the POPCNT instruction.
#[target_feature(enable = "popcnt")]
pub(super) fn and_or_counts_popcnt(a: &[u64], b: &[u64]) -> (u32, u32) {
    a.iter().zip(b).fold((0, 0), |(i, u), (x, y)| {
        (i + (x & y).count_ones(), u + (x | y).count_ones())
    })
}

/// Hints the CPU to pull the first (up to four) cache lines of `v` into L1.
#[inline(always)]
pub(super) fn prefetch<T>(v: &[T]) {
    let p = v.as_ptr().cast::<i8>();
    // SAFETY: a prefetch is only a hint and never faults; SSE is part of the x86_64 baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    // The next lines too: the hardware prefetcher takes over after a few.
    let lines = (std::mem::size_of_val(v) / 64).min(4);
    for line in 1..lines {
        // SAFETY: as above; line * 64 < size_of_val(v), so the address is inside `v`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(line * 64)) };
    }
}

/// Sum of products of two byte-code vectors with AVX-512 VNNI: `vpdpbusd`
/// multiplies unsigned bytes of `a` by *signed* bytes and sums each four
/// products into a 32-bit lane. `b` is made signed by flipping its top bit
/// (`b - 128`), and the `128 Σ a` this takes away is added back from a
/// second `vpdpbusd` of `a` with ones. Every step is exact modulo 2^32
/// (lanes wrap, they never saturate) and the true sum is below 2^32 for up
/// to 66,051 components, so the result equals the scalar twin's.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) fn dot_u8_avx512vnni(a: &[u8], b: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m512i, _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_maskz_loadu_epi8,
        _mm512_reduce_add_epi32, _mm512_set1_epi8, _mm512_setzero_si512, _mm512_xor_si512,
    };
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let flip = _mm512_set1_epi8(i8::MIN);
    let ones = _mm512_set1_epi8(1);
    let (mut acc, mut sum_a) = ([_mm512_setzero_si512(); 2], [_mm512_setzero_si512(); 2]);
    let mut i = 0;
    while i + 128 <= n {
        for j in 0..2 {
            // SAFETY: i + 64 * j + 64 <= i + 128 <= n, inside both slices;
            // unaligned 64-byte loads.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_si512(pa.add(i + 64 * j).cast::<__m512i>()),
                    _mm512_loadu_si512(pb.add(i + 64 * j).cast::<__m512i>()),
                )
            };
            acc[j] = _mm512_dpbusd_epi32(acc[j], x, _mm512_xor_si512(y, flip));
            sum_a[j] = _mm512_dpbusd_epi32(sum_a[j], x, ones);
        }
        i += 128;
    }
    while i < n {
        let left = n - i;
        let m: u64 = if left >= 64 {
            u64::MAX
        } else {
            (1u64 << left) - 1
        };
        // SAFETY: the mask enables only bytes i..min(i + 64, n), inside both
        // slices; masked-off bytes are not read and load as zero, and a zero
        // byte of `a` adds nothing to either sum.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_epi8(m, pa.add(i).cast::<i8>()),
                _mm512_maskz_loadu_epi8(m, pb.add(i).cast::<i8>()),
            )
        };
        acc[0] = _mm512_dpbusd_epi32(acc[0], x, _mm512_xor_si512(y, flip));
        sum_a[0] = _mm512_dpbusd_epi32(sum_a[0], x, ones);
        i += 64;
    }
    // Wrapping throughout: the parts may leave the i32 range, their sum
    // modulo 2^32 is the exact u32 result.
    let signed = (_mm512_reduce_add_epi32(acc[0]) as u32)
        .wrapping_add(_mm512_reduce_add_epi32(acc[1]) as u32);
    let sum = (_mm512_reduce_add_epi32(sum_a[0]) as u32)
        .wrapping_add(_mm512_reduce_add_epi32(sum_a[1]) as u32);
    signed.wrapping_add(sum.wrapping_mul(128))
}

/// [`dot_u8_avx512vnni`] with 256-bit AVX-VNNI (`vpdpbusd` in its VEX
/// form, on CPUs that have it without AVX-512); same method, same exact
/// result. Tails of fewer than 32 bytes are summed in scalar code.
#[target_feature(enable = "avx2,avxvnni")]
pub(super) fn dot_u8_avxvnni(a: &[u8], b: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m256i, _mm256_dpbusd_avx_epi32, _mm256_loadu_si256, _mm256_set1_epi8,
        _mm256_setzero_si256, _mm256_xor_si256,
    };
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let flip = _mm256_set1_epi8(i8::MIN);
    let ones = _mm256_set1_epi8(1);
    let (mut acc, mut sum_a) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n, inside both slices; unaligned 32-byte loads.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(pa.add(i).cast::<__m256i>()),
                _mm256_loadu_si256(pb.add(i).cast::<__m256i>()),
            )
        };
        acc = _mm256_dpbusd_avx_epi32(acc, x, _mm256_xor_si256(y, flip));
        sum_a = _mm256_dpbusd_avx_epi32(sum_a, x, ones);
        i += 32;
    }
    let lanes = |v: __m256i| -> u32 {
        let words: [i32; 8] = lanes_i32(v);
        words.iter().fold(0u32, |s, &w| s.wrapping_add(w as u32))
    };
    let mut total = lanes(acc).wrapping_add(lanes(sum_a).wrapping_mul(128));
    for k in i..n {
        total = total.wrapping_add(u32::from(a[k]) * u32::from(b[k]));
    }
    total
}

/// The eight 32-bit lanes of `v`, extracted one by one (safe intrinsics,
/// no transmute).
#[inline]
#[target_feature(enable = "avx2")]
fn lanes_i32(v: std::arch::x86_64::__m256i) -> [i32; 8] {
    use std::arch::x86_64::{_mm_extract_epi32, _mm256_castsi256_si128, _mm256_extracti128_si256};
    let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    [
        _mm_extract_epi32::<0>(lo),
        _mm_extract_epi32::<1>(lo),
        _mm_extract_epi32::<2>(lo),
        _mm_extract_epi32::<3>(lo),
        _mm_extract_epi32::<0>(hi),
        _mm_extract_epi32::<1>(hi),
        _mm_extract_epi32::<2>(hi),
        _mm_extract_epi32::<3>(hi),
    ]
}
