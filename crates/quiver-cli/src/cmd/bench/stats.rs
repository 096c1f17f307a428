//! The statistics of a bench run: percentiles and medians of timings, and
//! recall against the ground truth.

use super::dataset::Matrix;

/// The `p`-th percentile (0..=100) of `sorted` (ascending), interpolated
/// linearly between neighbours as `numpy.percentile` does; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The median of `values` (in any order); 0 when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 50.0)
}

/// Fraction of the first `k` ground-truth ids of each query found among
/// its first `k` hits; `results` holds the hit ids of query 0, 1, ...
pub fn recall<R, I>(results: R, gt: &Matrix<i64>, k: usize) -> f64
where
    R: IntoIterator<Item = I>,
    I: IntoIterator<Item = u64>,
{
    let (mut hits, mut queries) = (0usize, 0usize);
    for (i, ids) in results.into_iter().enumerate() {
        let truth = &gt.row(i)[..k];
        hits += ids
            .into_iter()
            .take(k)
            .filter(|&id| i64::try_from(id).is_ok_and(|id| truth.contains(&id)))
            .count();
        queries += 1;
    }
    hits as f64 / (k * queries).max(1) as f64
}

/// The measurements of one `ef` over the repeats: one cell `C` a repeat.
pub struct PerEf<C> {
    /// Search beam width.
    pub ef: usize,
    /// Recall@k, from the first repeat.
    pub recall: f64,
    /// One measurement a repeat.
    pub cells: Vec<C>,
}

impl<C> PerEf<C> {
    /// One empty entry for each of `efs`.
    pub fn each(efs: &[usize]) -> Vec<PerEf<C>> {
        efs.iter()
            .map(|&ef| PerEf {
                ef,
                recall: 0.0,
                cells: Vec::new(),
            })
            .collect()
    }

    /// The median of `f` over the repeats.
    pub fn median(&self, f: impl Fn(&C) -> f64) -> f64 {
        median(self.cells.iter().map(f).collect())
    }
}

/// Single-query timings of one pass set.
pub struct Latency {
    /// Queries per second over the summed latencies.
    pub qps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Mean latency, microseconds.
    pub mean_us: f64,
}

impl Latency {
    /// The summary of per-query latencies `lat_us` (microseconds).
    pub fn of(mut lat_us: Vec<f64>) -> Latency {
        let total_us: f64 = lat_us.iter().sum();
        let n = lat_us.len();
        lat_us.sort_by(f64::total_cmp);
        Latency {
            qps: n as f64 / (total_us / 1e6),
            p50_us: percentile(&lat_us, 50.0),
            p99_us: percentile(&lat_us, 99.0),
            mean_us: total_us / n.max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 99.0) - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn recall_counts_the_first_k_of_each_side() {
        let gt = Matrix {
            rows: 2,
            cols: 3,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        // k = 2: truth {1, 2} and {4, 5}; hits past k do not count.
        let results = [vec![2u64, 9, 1], vec![4, 5]];
        let r = recall(results.iter().map(|r| r.iter().copied()), &gt, 2);
        assert_eq!(r, 0.75);
        assert_eq!(recall(Vec::<Vec<u64>>::new(), &gt, 2), 0.0);
    }
}
