//! Scalar (int8) quantization: each component becomes one byte on a range
//! shared by every dimension, learnt from a sample of the data.
//!
//! A component `x` is stored as the code `c = round((clamp(x) - lo) /
//! step)` in `0..=255`, so it reads back as `lo + step * c`. The dot product
//! of two read-back vectors expands to
//!
//! `n lo² + lo step (Σ ca + Σ cb) + step² Σ ca cb`,
//!
//! whose only per-pair term is the integer byte dot product (the `dot_u8`
//! kernel); the rest is a per-vector constant kept beside the codes. The
//! squared L2 distance of the read-back vectors is `|a|² + |b|² - 2 a·b`
//! with each read-back norm also kept per vector. Distances are therefore
//! exact for the read-back vectors, which differ from the originals by at
//! most half a step per component (plus what the range clamps).

use serde::{Deserialize, Serialize};

use crate::distance::{Metric, dot_u8};
use crate::error::{Error, Result};

/// The most values a training sample contributes; larger samples are
/// strided, which keeps training time and memory bounded.
const MAX_TRAINING_VALUES: usize = 1 << 22;

/// A trained int8 quantizer for vectors of one dimension.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalarQuantizer {
    dimension: usize,
    lo: f32,
    step: f32,
}

/// What each encoded vector keeps beside its codes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CodeTerms {
    /// `Σ c`: the vector's share of the cross term of the dot product.
    pub sum: u32,
    /// The squared norm of the read-back vector.
    pub norm2: f32,
}

/// [`CodeTerms`] folded for the hot loop of a graph search: the dot
/// product of two read-back vectors is `a.offset + b.offset + step² Σ ca cb`
/// ([`ScalarQuantizer::folded_distance`]), one multiply-add per pair beyond
/// the byte kernel. Kept in `f32` beside the codes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FoldedTerms {
    /// `n lo² / 2 + lo step Σ c`: the vector's share of the constant and
    /// cross terms of the dot product.
    pub offset: f32,
    /// The squared norm of the read-back vector.
    pub norm2: f32,
}

impl ScalarQuantizer {
    /// Learns the range from `sample` (vectors of `dimension` components,
    /// already preprocessed for the metric): the central `quantile` of all
    /// their values (0.99 leaves out the 0.5% at either end; 1.0 keeps the
    /// whole range). Fails on an empty sample, a vector of another length,
    /// a non-finite value or a quantile outside (0, 1].
    pub fn train<'a>(
        dimension: usize,
        sample: impl IntoIterator<Item = &'a [f32]>,
        quantile: f32,
    ) -> Result<ScalarQuantizer> {
        if !(quantile > 0.0 && quantile <= 1.0) {
            return Err(Error::InvalidInput(format!(
                "quantization quantile must be in (0, 1], not {quantile}"
            )));
        }
        let mut values = sample_values(dimension, sample)?;
        let tail = ((1.0 - f64::from(quantile)) / 2.0 * values.len() as f64) as usize;
        let last = values.len() - 1;
        let (lo_at, hi_at) = (tail.min(last), last.saturating_sub(tail));
        let lo = *values.select_nth_unstable_by(lo_at, f32::total_cmp).1;
        let hi = *values.select_nth_unstable_by(hi_at, f32::total_cmp).1;
        Ok(ScalarQuantizer::on_range(dimension, lo, hi))
    }

    /// Learns the range from `sample` as [`train`](Self::train) does, but
    /// picks how much of either tail to clamp instead of taking a fixed
    /// quantile: the range whose codes have the least error over the
    /// sample's values (each value clamped into the range, then rounded to
    /// one of 256 steps across it; squared errors weighted by the value's
    /// square, as they enter the dot product with a near neighbour), among
    /// ranges that clamp at most 1% of the values at either end.
    ///
    /// A wide range wastes steps on a few extreme values; a narrow one
    /// clamps too many: on unit-norm 384-dimensional embeddings the
    /// quantile 0.99 clamps enough values that the clamping, not the
    /// rounding, dominates the error of a dot product. Fails as `train`.
    pub fn fit<'a>(
        dimension: usize,
        sample: impl IntoIterator<Item = &'a [f32]>,
    ) -> Result<ScalarQuantizer> {
        let mut values = sample_values(dimension, sample)?;
        values.sort_unstable_by(f32::total_cmp);
        let (lo, hi) = least_error_range(&values);
        Ok(ScalarQuantizer::on_range(dimension, lo, hi))
    }

    fn on_range(dimension: usize, lo: f32, hi: f32) -> ScalarQuantizer {
        let step = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        ScalarQuantizer {
            dimension,
            lo,
            step,
        }
    }

    /// The range codes span: values below the first or above the second
    /// are clamped to it.
    pub fn range(&self) -> (f32, f32) {
        (self.lo, self.lo + 255.0 * self.step)
    }

    /// The dimension this quantizer encodes.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Bytes of codes per vector.
    pub fn code_len(&self) -> usize {
        self.dimension
    }

    /// Encodes `v` (of [`dimension`](Self::dimension) components; extra
    /// ones are ignored, missing ones read as `lo`) into `codes`, replacing
    /// its contents, and returns the vector's terms.
    pub fn encode(&self, v: &[f32], codes: &mut Vec<u8>) -> CodeTerms {
        codes.clear();
        codes.extend((0..self.dimension).map(|i| {
            let x = v.get(i).copied().unwrap_or(self.lo);
            ((x - self.lo) / self.step).round().clamp(0.0, 255.0) as u8
        }));
        self.terms(codes)
    }

    /// The terms of already encoded `codes`.
    pub fn terms(&self, codes: &[u8]) -> CodeTerms {
        let sum: u32 = codes.iter().map(|&c| u32::from(c)).sum();
        let sq = dot_u8(codes, codes);
        CodeTerms {
            sum,
            norm2: self.expand(sum, sum, sq),
        }
    }

    /// Reads `codes` back as floats (`lo + step * c`).
    pub fn decode(&self, codes: &[u8]) -> Vec<f32> {
        codes
            .iter()
            .map(|&c| self.lo + self.step * f32::from(c))
            .collect()
    }

    fn expand(&self, sum_a: u32, sum_b: u32, cross: u32) -> f32 {
        let n = self.dimension as f64;
        let (lo, step) = (f64::from(self.lo), f64::from(self.step));
        (n * lo * lo
            + lo * step * (f64::from(sum_a) + f64::from(sum_b))
            + step * step * f64::from(cross)) as f32
    }

    /// The folded form of `terms` (see [`FoldedTerms`]).
    pub fn fold(&self, terms: CodeTerms) -> FoldedTerms {
        let n = self.dimension as f64;
        let (lo, step) = (f64::from(self.lo), f64::from(self.step));
        FoldedTerms {
            offset: (n * lo * lo / 2.0 + lo * step * f64::from(terms.sum)) as f32,
            norm2: terms.norm2,
        }
    }

    /// `step²`, the factor of the byte dot product in
    /// [`folded_distance`](Self::folded_distance).
    pub fn step2(&self) -> f32 {
        self.step * self.step
    }

    /// The internal distance of two encoded vectors from their folded
    /// terms and `cross`, the byte dot product of their codes: equal to
    /// [`distance`](Self::distance) up to `f32` rounding, which is far
    /// below a quantization step. `step2` is [`step2`](Self::step2), passed
    /// in so a hot loop keeps it in a register.
    #[inline(always)]
    pub fn folded_distance(
        metric: Metric,
        step2: f32,
        a: FoldedTerms,
        b: FoldedTerms,
        cross: u32,
    ) -> f32 {
        let dot = a.offset + b.offset + step2 * cross as f32;
        match metric {
            Metric::Cosine => 1.0 - dot,
            Metric::Dot => -dot,
            Metric::Euclid => (a.norm2 + b.norm2 - 2.0 * dot).max(0.0),
        }
    }

    /// The dot product of two encoded vectors' read-back values.
    #[inline]
    pub fn dot(&self, a: &[u8], ta: CodeTerms, b: &[u8], tb: CodeTerms) -> f32 {
        self.expand(ta.sum, tb.sum, dot_u8(a, b))
    }

    /// The internal distance (smaller is closer, as
    /// [`Metric::distance`]) of two encoded vectors' read-back values.
    #[inline]
    pub fn distance(
        &self,
        metric: Metric,
        a: &[u8],
        ta: CodeTerms,
        b: &[u8],
        tb: CodeTerms,
    ) -> f32 {
        let dot = self.dot(a, ta, b, tb);
        match metric {
            Metric::Cosine => 1.0 - dot,
            Metric::Dot => -dot,
            Metric::Euclid => (ta.norm2 + tb.norm2 - 2.0 * dot).max(0.0),
        }
    }
}

/// The values of `sample`, checked (each vector of `dimension` finite
/// components, at least one) and strided down to at most
/// [`MAX_TRAINING_VALUES`].
fn sample_values<'a>(
    dimension: usize,
    sample: impl IntoIterator<Item = &'a [f32]>,
) -> Result<Vec<f32>> {
    let mut vectors = Vec::new();
    for v in sample {
        if v.len() != dimension {
            return Err(Error::DimensionMismatch {
                expected: dimension,
                got: v.len(),
            });
        }
        vectors.push(v);
    }
    if vectors.is_empty() || dimension == 0 {
        return Err(Error::InvalidInput(
            "quantization needs at least one non-empty vector to train on".into(),
        ));
    }
    let total = vectors.len().saturating_mul(dimension);
    let stride = total.div_ceil(MAX_TRAINING_VALUES).max(1);
    let mut values = Vec::with_capacity(total.div_ceil(stride));
    for (i, x) in vectors.iter().flat_map(|v| v.iter()).enumerate() {
        if !x.is_finite() {
            return Err(Error::InvalidInput(format!(
                "quantization sample holds a non-finite value ({x})"
            )));
        }
        if i % stride == 0 {
            values.push(*x);
        }
    }
    Ok(values)
}

/// The range `[sorted[j], sorted[n - 1 - j]]` with the least code error
/// over `sorted` (ascending, not empty), for `j` from 0 up to 1% of the
/// values on a geometric grid.
///
/// The error that matters is that of the dot product of a vector with a
/// near neighbour, whose component in the same dimension is close to the
/// value itself: so each value's squared error is weighted by its own
/// square, `Σ x² e²`. A clamped value errs by its distance to the range
/// (exact, from prefix sums of x², x³ and x⁴); a value inside by a rounding
/// error uniform over a step, `step² / 12` on average. The weight makes
/// clamping the large values costlier than a plain squared error says.
fn least_error_range(sorted: &[f32]) -> (f32, f32) {
    let n = sorted.len();
    // Prefix sums of x², x³ and x⁴, in f64: with millions of values the
    // sums need the precision.
    let mut sums = Vec::with_capacity(n + 1);
    let mut acc = [0.0f64; 3];
    sums.push(acc);
    for &x in sorted {
        let x = f64::from(x);
        let x2 = x * x;
        acc[0] += x2;
        acc[1] += x2 * x;
        acc[2] += x2 * x2;
        sums.push(acc);
    }
    let between = |from: usize, to: usize| -> [f64; 3] {
        let (a, b) = (sums[from], sums[to]);
        [b[0] - a[0], b[1] - a[1], b[2] - a[2]]
    };
    // Σ x² (x - edge)² = Σ x⁴ - 2 edge Σ x³ + edge² Σ x².
    let clamped = |s: [f64; 3], edge: f64| (s[2] - 2.0 * edge * s[1] + edge * edge * s[0]).max(0.0);
    let error = |j: usize| -> f64 {
        let (lo, hi) = (f64::from(sorted[j]), f64::from(sorted[n - 1 - j]));
        let step = (hi - lo) / 255.0;
        clamped(between(0, j), lo)
            + clamped(between(n - j, n), hi)
            + between(j, n - j)[0] * step * step / 12.0
    };
    let most = (n / 100).min((n - 1) / 2);
    let mut best = (error(0), 0);
    let mut j = 1;
    while j <= most {
        let e = error(j);
        if e < best.0 {
            best = (e, j);
        }
        j = (j + 1).max(j + j / 8);
    }
    (sorted[best.1], sorted[n - 1 - best.1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Neighbor;
    use crate::index::flat::TopK;
    use proptest::prelude::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Points around a few centres, like real embeddings (not uniform noise).
    fn clustered(rng: &mut SmallRng, n: usize, dim: usize, metric: Metric) -> Vec<Vec<f32>> {
        let centres: Vec<Vec<f32>> = (0..16)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % centres.len()];
                let mut v: Vec<f32> = c
                    .iter()
                    .map(|x| x + rng.random_range(-0.3f32..0.3))
                    .collect();
                metric.preprocess(&mut v);
                v
            })
            .collect()
    }

    #[test]
    fn training_rejects_what_it_cannot_learn_from() {
        let none: Vec<&[f32]> = Vec::new();
        assert!(ScalarQuantizer::train(4, none, 0.99).is_err());
        let short = [vec![1.0f32; 3]];
        assert!(matches!(
            ScalarQuantizer::train(4, short.iter().map(Vec::as_slice), 0.99),
            Err(Error::DimensionMismatch {
                expected: 4,
                got: 3
            })
        ));
        let nan = [vec![1.0, f32::NAN]];
        assert!(ScalarQuantizer::train(2, nan.iter().map(Vec::as_slice), 0.99).is_err());
        let ok = [vec![1.0, 2.0]];
        assert!(ScalarQuantizer::train(2, ok.iter().map(Vec::as_slice), 0.0).is_err());
        assert!(ScalarQuantizer::train(2, ok.iter().map(Vec::as_slice), 1.5).is_err());
        // A constant sample still gives a usable quantizer.
        let q =
            ScalarQuantizer::train(2, [vec![3.0f32, 3.0]].iter().map(Vec::as_slice), 1.0).unwrap();
        let mut codes = Vec::new();
        q.encode(&[3.0, 3.0], &mut codes);
        assert_eq!(q.decode(&codes), [3.0, 3.0]);
    }

    /// Mean of `x² e²` over every value `x` of `data`, `e` its error
    /// after `q`'s codes: what [`ScalarQuantizer::fit`] minimises.
    fn weighted_code_error(q: &ScalarQuantizer, data: &[Vec<f32>]) -> f64 {
        let (mut sum, mut n) = (0.0f64, 0usize);
        let mut codes = Vec::new();
        for v in data {
            q.encode(v, &mut codes);
            for (x, y) in v.iter().zip(q.decode(&codes)) {
                sum += f64::from(*x).powi(2) * f64::from(x - y).powi(2);
                n += 1;
            }
        }
        sum / n as f64
    }

    /// A standard normal value (Box-Muller).
    fn normal(rng: &mut SmallRng) -> f32 {
        let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    /// The fitted range has codes at least as accurate (by the error it
    /// minimises) as any fixed quantile's, on light tails, uniform values,
    /// far outliers and clustered unit vectors.
    #[test]
    fn fitted_range_beats_every_fixed_quantile() {
        let mut rng = SmallRng::seed_from_u64(11);
        let dim = 64;
        let gaussian: Vec<Vec<f32>> = (0..400)
            .map(|_| (0..dim).map(|_| normal(&mut rng)).collect())
            .collect();
        let uniform: Vec<Vec<f32>> = (0..400)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        let mut outliers = gaussian.clone();
        for v in outliers.iter_mut().step_by(50) {
            v[3] = 40.0;
            v[7] = -40.0;
        }
        let embeddings = clustered(&mut rng, 400, dim, Metric::Cosine);
        for (name, data) in [
            ("gaussian", &gaussian),
            ("uniform", &uniform),
            ("outliers", &outliers),
            ("embeddings", &embeddings),
        ] {
            let fitted = ScalarQuantizer::fit(dim, data.iter().map(Vec::as_slice)).unwrap();
            let got = weighted_code_error(&fitted, data);
            for quantile in [0.98, 0.99, 0.999, 0.9999, 1.0] {
                let fixed =
                    ScalarQuantizer::train(dim, data.iter().map(Vec::as_slice), quantile).unwrap();
                let want = weighted_code_error(&fixed, data);
                assert!(
                    got <= want * 1.02,
                    "{name}: fitted range {:?} has squared error {got:e}, quantile {quantile} {want:e}",
                    fitted.range()
                );
            }
        }
        // Far outliers are kept: clamping one costs its error times its
        // own size, more than the steps the range spends on it.
        let fitted = ScalarQuantizer::fit(dim, outliers.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(fitted.range().0, -40.0);
    }

    /// A lone value just past a large body is clamped: the finer steps
    /// for every other value outweigh its error.
    #[test]
    fn fitted_range_clamps_a_lone_value_just_past_the_body() {
        let mut values: Vec<f32> = (0..1_000_000)
            .map(|i| -1.0 + 2.0 * i as f32 / 999_999.0)
            .collect();
        values.push(1.5);
        let (lo, hi) = least_error_range(&values);
        // As many values are left out at either end.
        assert!(lo < -0.99 && hi < 1.01, "range {lo}..{hi}");
        // Without the body there is nothing to gain.
        let (lo, hi) = least_error_range(&[-1.0, 0.0, 1.0, 1.5]);
        assert_eq!((lo, hi), (-1.0, 1.5));
    }

    #[test]
    fn fitting_rejects_what_training_rejects() {
        let none: Vec<&[f32]> = Vec::new();
        assert!(ScalarQuantizer::fit(4, none).is_err());
        let short = [vec![1.0f32; 3]];
        assert!(ScalarQuantizer::fit(4, short.iter().map(Vec::as_slice)).is_err());
        let inf = [vec![1.0, f32::INFINITY]];
        assert!(ScalarQuantizer::fit(2, inf.iter().map(Vec::as_slice)).is_err());
        let one = ScalarQuantizer::fit(1, [vec![2.5f32]].iter().map(Vec::as_slice)).unwrap();
        let mut codes = Vec::new();
        one.encode(&[2.5], &mut codes);
        assert_eq!(one.decode(&codes), [2.5]);
    }

    proptest! {
        /// Codes read back within half a step of every in-range value, and
        /// the distances equal those of the read-back vectors.
        #[test]
        fn distances_are_those_of_the_read_back_vectors(
            data in proptest::collection::vec(proptest::collection::vec(-4.0f32..4.0, 24), 2..20),
        ) {
            let q = ScalarQuantizer::train(24, data.iter().map(Vec::as_slice), 1.0).unwrap();
            let mut encoded = Vec::new();
            for v in &data {
                let mut codes = Vec::new();
                let terms = q.encode(v, &mut codes);
                let back = q.decode(&codes);
                for (x, y) in v.iter().zip(&back) {
                    prop_assert!((x - y).abs() <= q.step * 0.5 + 1e-5, "{x} read back as {y}");
                }
                encoded.push((codes, terms, back));
            }
            for (a, ta, fa) in &encoded {
                for (b, tb, fb) in &encoded {
                    for metric in [Metric::Dot, Metric::Euclid] {
                        let want = metric.distance(fa, fb);
                        let got = q.distance(metric, a, *ta, b, *tb);
                        prop_assert!((got - want).abs() <= 1e-3 * want.abs().max(1.0), "{metric:?}: {got} vs {want}");
                        let folded = ScalarQuantizer::folded_distance(
                            metric, q.step2(), q.fold(*ta), q.fold(*tb), dot_u8(a, b),
                        );
                        prop_assert!((folded - want).abs() <= 1e-3 * want.abs().max(1.0), "{metric:?} folded: {folded} vs {want}");
                    }
                }
            }
        }
    }

    /// Exact search over the codes, then the best `oversampling * k`
    /// rescored with the floats, finds the true top 10 (what the HNSW over
    /// codes will do per candidate).
    #[test]
    fn codes_with_rescoring_find_the_true_neighbours() {
        let mut rng = SmallRng::seed_from_u64(7);
        for metric in [Metric::Cosine, Metric::Euclid, Metric::Dot] {
            let data = clustered(&mut rng, 2000, 64, metric);
            let q = ScalarQuantizer::fit(64, data.iter().map(Vec::as_slice)).unwrap();
            let codes: Vec<(Vec<u8>, CodeTerms)> = data
                .iter()
                .map(|v| {
                    let mut c = Vec::new();
                    let t = q.encode(v, &mut c);
                    (c, t)
                })
                .collect();
            let (mut found, mut total) = (0, 0);
            for query in clustered(&mut rng, 50, 64, metric) {
                let mut qc = Vec::new();
                let qt = q.encode(&query, &mut qc);
                let mut coarse = TopK::new(20);
                let mut exact = TopK::new(10);
                for (id, (c, t)) in codes.iter().enumerate() {
                    let id = id as u32;
                    coarse.push(Neighbor {
                        id,
                        distance: q.distance(metric, &qc, qt, c, *t),
                    });
                    exact.push(Neighbor {
                        id,
                        distance: metric.distance(&query, &data[id as usize]),
                    });
                }
                let mut rescored = TopK::new(10);
                for n in coarse.into_sorted_vec() {
                    rescored.push(Neighbor {
                        id: n.id,
                        distance: metric.distance(&query, &data[n.id as usize]),
                    });
                }
                let want: Vec<u32> = exact.into_sorted_vec().iter().map(|n| n.id).collect();
                let got: Vec<u32> = rescored.into_sorted_vec().iter().map(|n| n.id).collect();
                found += got.iter().filter(|id| want.contains(id)).count();
                total += want.len();
            }
            let recall = found as f64 / total as f64;
            assert!(
                recall >= 0.97,
                "{metric:?}: recall@10 {recall} with int8 codes and 2x rescoring"
            );
        }
    }
}
