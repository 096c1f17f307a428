//! Exact k-nearest-neighbour search: the ground truth for recall tests and
//! the fallback for small candidate sets.

use super::{Neighbor, Ranked};
use crate::distance::Metric;
use rayon::prelude::*;
use std::collections::BinaryHeap;

/// A bounded max-heap that keeps the `k` best (smallest) neighbours seen.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    /// An empty heap keeping at most `k` neighbours.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.saturating_add(1).min(1 << 16)),
        }
    }

    /// Offers a neighbour; kept if it ranks among the best `k` so far.
    #[inline]
    pub fn push(&mut self, n: Neighbor) {
        if self.heap.len() < self.k {
            self.heap.push(Ranked(n));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && n.cmp_rank(&worst.0).is_lt()
        {
            *worst = Ranked(n);
        }
    }

    /// The distance a candidate must beat to enter a full heap
    /// (`f32::INFINITY` while the heap is not full).
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |w| w.0.distance)
        }
    }

    /// Number of neighbours held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no neighbour is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The kept neighbours, best first (distance ascending, ties by id).
    pub fn into_sorted_vec(self) -> Vec<Neighbor> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect()
    }
}

/// Exact top-`k` of `candidates` for `query` (both preprocessed), sorted by
/// distance ascending, ties by id.
pub fn search<'a>(
    metric: Metric,
    query: &[f32],
    candidates: impl Iterator<Item = (u32, &'a [f32])>,
    k: usize,
) -> Vec<Neighbor> {
    let kernel = metric.kernel();
    let mut top = TopK::new(k);
    if k == 0 {
        return Vec::new();
    }
    for (id, v) in candidates {
        let distance = kernel.eval(query, v);
        if distance <= top.threshold() {
            top.push(Neighbor { id, distance });
        }
    }
    top.into_sorted_vec()
}

/// Exact top-`k` for many queries at once, in parallel over the queries
/// (rayon's global pool). Result `i` belongs to `queries[i]`.
pub fn search_batch(
    metric: Metric,
    queries: &[&[f32]],
    candidates: &[(u32, &[f32])],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    queries
        .par_iter()
        .map(|q| search(metric, q, candidates.iter().copied(), k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_k_best_sorted_with_id_ties() {
        let data: Vec<(u32, Vec<f32>)> = (0..20u32)
            .map(|i| (i, vec![(i % 10) as f32, 0.0]))
            .collect();
        let got = search(
            Metric::Euclid,
            &[0.0, 0.0],
            data.iter().map(|(i, v)| (*i, v.as_slice())),
            4,
        );
        let ids: Vec<u32> = got.iter().map(|n| n.id).collect();
        assert_eq!(ids, vec![0, 10, 1, 11]);
        assert_eq!(got[2].distance, 1.0);
    }

    #[test]
    fn fewer_candidates_than_k_and_k_zero() {
        let data = [(3u32, [1.0f32, 0.0]), (5, [0.0, 1.0])];
        let got = search(
            Metric::Dot,
            &[1.0, 0.0],
            data.iter().map(|(i, v)| (*i, &v[..])),
            10,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, 3);
        let none = search(
            Metric::Dot,
            &[1.0, 0.0],
            data.iter().map(|(i, v)| (*i, &v[..])),
            0,
        );
        assert!(none.is_empty());
    }

    #[test]
    fn batch_equals_one_by_one() {
        let vs: Vec<Vec<f32>> = (0..50)
            .map(|i| vec![(i as f32).sin(), (i as f32).cos()])
            .collect();
        let cands: Vec<(u32, &[f32])> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, v.as_slice()))
            .collect();
        let qs: Vec<&[f32]> = vs.iter().take(5).map(|v| v.as_slice()).collect();
        let batch = search_batch(Metric::Cosine, &qs, &cands, 3);
        for (q, b) in qs.iter().zip(&batch) {
            assert_eq!(&search(Metric::Cosine, q, cands.iter().copied(), 3), b);
        }
    }
}
