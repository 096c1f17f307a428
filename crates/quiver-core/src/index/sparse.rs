//! Exact top-k search over sparse vectors: an inverted index (one posting
//! list per dimension, ids ascending) searched document-at-a-time with
//! MaxScore pruning.
//!
//! The score of a document is its dot product with the query (optionally
//! with each query weight multiplied by the dimension's IDF). MaxScore keeps
//! the query's dimensions ordered by their best possible contribution
//! (query weight times the list's largest weight); once the k-th best score
//! so far is above the sum of the smallest bounds, those dimensions can no
//! longer bring a document into the top k on their own, so only documents
//! of the other lists are visited and the small lists are probed by
//! skipping. The answer is the same as scoring every document: pruning only
//! leaves out documents that provably cannot enter the top k. Negative
//! weights break the bounds, so a query that meets one is scored
//! exhaustively.
//!
//! Results are [`Neighbor`]s whose `distance` is the negated score, so
//! they sort like every other index's (best first, ties by id).

use rustc_hash::FxHashMap;

use super::Neighbor;
use super::flat::TopK;
use crate::point::SparseVector;

/// One dimension's documents, ids ascending, with the bound MaxScore uses.
#[derive(Debug, Default, Clone)]
struct Postings {
    ids: Vec<u32>,
    weights: Vec<f32>,
    /// At least every weight in the list (stays an upper bound after
    /// removals, which never raise it).
    max_weight: f32,
    /// Whether any weight is below zero (then bounds do not hold).
    negative: bool,
}

impl Postings {
    fn insert(&mut self, id: u32, weight: f32) {
        let at = match self.ids.last() {
            Some(&last) if last < id => self.ids.len(),
            None => 0,
            _ => self.ids.partition_point(|&x| x < id),
        };
        self.ids.insert(at, id);
        self.weights.insert(at, weight);
        self.max_weight = if self.ids.len() == 1 {
            weight
        } else {
            self.max_weight.max(weight)
        };
        self.negative |= weight < 0.0;
    }

    fn remove(&mut self, id: u32) -> bool {
        match self.ids.binary_search(&id) {
            Ok(at) => {
                self.ids.remove(at);
                self.weights.remove(at);
                true
            }
            Err(_) => false,
        }
    }
}

/// How query weights are scaled before scoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Modifier {
    /// Plain dot product.
    #[default]
    None,
    /// Each query weight is multiplied by the dimension's inverse document
    /// frequency, `ln(1 + (n - df + 0.5) / (df + 0.5))` over the `n`
    /// documents indexed now, `df` of which hold the dimension.
    Idf,
}

/// An inverted index of sparse vectors keyed by internal `u32` ids.
///
/// The caller owns the vectors: [`remove`](Self::remove) takes the vector
/// that was inserted, so the index keeps no second copy.
#[derive(Debug, Default, Clone)]
pub struct SparseIndex {
    lists: FxHashMap<u32, Postings>,
    docs: usize,
}

/// One query dimension during a search.
struct Cursor<'a> {
    ids: &'a [u32],
    weights: &'a [f32],
    at: usize,
    query_weight: f32,
    bound: f32,
}

impl Cursor<'_> {
    #[inline]
    fn doc(&self) -> u32 {
        self.ids.get(self.at).copied().unwrap_or(u32::MAX)
    }

    /// Moves to the first id at or after `target` (galloping, then binary
    /// search), so probing a long list for a few documents is cheap.
    #[inline]
    fn seek(&mut self, target: u32) {
        if self.doc() >= target {
            return;
        }
        let mut step = 1;
        let mut lo = self.at;
        while lo + step < self.ids.len() && self.ids[lo + step] < target {
            lo += step;
            step *= 2;
        }
        let hi = (lo + step + 1).min(self.ids.len());
        self.at = lo + self.ids[lo..hi].partition_point(|&x| x < target);
    }

    #[inline]
    fn take(&mut self) -> f32 {
        let w = self.weights[self.at];
        self.at += 1;
        self.query_weight * w
    }
}

impl SparseIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of documents indexed.
    pub fn len(&self) -> usize {
        self.docs
    }

    /// True when no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    /// Adds document `id` with `vector`. The id must not be indexed already
    /// (remove the old vector first); an empty vector counts as a document
    /// that no query matches.
    pub fn insert(&mut self, id: u32, vector: &SparseVector) {
        for (&dim, &w) in vector.indices().iter().zip(vector.values()) {
            self.lists.entry(dim).or_default().insert(id, w);
        }
        self.docs += 1;
    }

    /// Removes document `id`, which was inserted with `vector`.
    pub fn remove(&mut self, id: u32, vector: &SparseVector) {
        for dim in vector.indices() {
            if let Some(list) = self.lists.get_mut(dim) {
                list.remove(id);
                if list.ids.is_empty() {
                    self.lists.remove(dim);
                }
            }
        }
        self.docs = self.docs.saturating_sub(1);
    }

    /// Heap bytes the index holds, estimated from its capacities.
    pub fn memory_bytes(&self) -> usize {
        self.lists.capacity() * (std::mem::size_of::<(u32, Postings)>() + 1)
            + self
                .lists
                .values()
                .map(|l| l.ids.capacity() * 4 + l.weights.capacity() * 4)
                .sum::<usize>()
    }

    /// Number of documents holding dimension `dim`.
    pub fn document_frequency(&self, dim: u32) -> usize {
        self.lists.get(&dim).map_or(0, |l| l.ids.len())
    }

    /// The IDF of `dim` (see [`Modifier::Idf`]).
    pub fn idf(&self, dim: u32) -> f32 {
        let n = self.docs as f64;
        let df = self.document_frequency(dim) as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32
    }

    /// The `k` documents with the highest score for `query` among those
    /// `accept` lets through, best first (ties by id); documents sharing no
    /// dimension with the query are never returned. Exact.
    pub fn search(
        &self,
        query: &SparseVector,
        k: usize,
        modifier: Modifier,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        if k == 0 {
            return Vec::new();
        }
        let mut cursors = Vec::with_capacity(query.len());
        let mut exhaustive = false;
        for (&dim, &qw) in query.indices().iter().zip(query.values()) {
            let Some(list) = self.lists.get(&dim) else {
                continue;
            };
            let query_weight = match modifier {
                Modifier::None => qw,
                Modifier::Idf => qw * self.idf(dim),
            };
            if query_weight == 0.0 {
                continue;
            }
            exhaustive |= list.negative || query_weight < 0.0;
            cursors.push(Cursor {
                ids: &list.ids,
                weights: &list.weights,
                at: 0,
                query_weight,
                bound: query_weight * list.max_weight,
            });
        }
        let mut top = TopK::new(k);
        if exhaustive {
            score_all(&mut cursors, accept, &mut top);
        } else {
            max_score(&mut cursors, accept, &mut top);
        }
        top.into_sorted_vec()
    }
}

/// Scores every document of every list (for queries where bounds fail).
fn score_all(cursors: &mut [Cursor<'_>], accept: Option<&dyn Fn(u32) -> bool>, top: &mut TopK) {
    let mut scores: FxHashMap<u32, f64> = FxHashMap::default();
    for c in cursors.iter() {
        for (&id, &w) in c.ids.iter().zip(c.weights) {
            *scores.entry(id).or_insert(0.0) += f64::from(c.query_weight * w);
        }
    }
    for (id, score) in scores {
        if accept.is_none_or(|ok| ok(id)) {
            top.push(Neighbor {
                id,
                distance: -(score as f32),
            });
        }
    }
}

/// MaxScore, document-at-a-time, over lists whose weights are all >= 0.
fn max_score(cursors: &mut [Cursor<'_>], accept: Option<&dyn Fn(u32) -> bool>, top: &mut TopK) {
    cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
    // prefix[i]: the most the cursors 0..=i can add together.
    let prefix: Vec<f32> = cursors
        .iter()
        .scan(0.0f32, |sum, c| {
            *sum += c.bound;
            Some(*sum)
        })
        .collect();
    // Cursors before `essential` cannot lift a document into the top k on
    // their own; documents are drawn only from the others.
    let mut essential = 0;
    while let Some(doc) = cursors[essential..].iter().map(Cursor::doc).min() {
        if doc == u32::MAX {
            break;
        }
        if accept.is_some_and(|ok| !ok(doc)) {
            for c in &mut cursors[essential..] {
                if c.doc() == doc {
                    c.at += 1;
                }
            }
            continue;
        }
        let mut score = 0.0f32;
        for c in &mut cursors[essential..] {
            if c.doc() == doc {
                score += c.take();
            }
        }
        let threshold = -top.threshold();
        for i in (0..essential).rev() {
            // Even every remaining list at its best cannot beat the k-th.
            if score + prefix[i] <= threshold {
                break;
            }
            let c = &mut cursors[i];
            c.seek(doc);
            if c.doc() == doc {
                score += c.take();
            }
        }
        top.push(Neighbor {
            id: doc,
            distance: -score,
        });
        let threshold = -top.threshold();
        while essential < cursors.len() && prefix[essential] <= threshold {
            essential += 1;
        }
        if essential == cursors.len() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sv(pairs: &[(u32, f32)]) -> SparseVector {
        let (i, v) = pairs.iter().copied().unzip();
        SparseVector::new(i, v).unwrap()
    }

    /// Every accepted document that shares a dimension with the query,
    /// scored plainly, best first, ties by id.
    fn brute_force(
        docs: &[(u32, SparseVector)],
        index: &SparseIndex,
        query: &SparseVector,
        k: usize,
        modifier: Modifier,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let q = match modifier {
            Modifier::None => query.clone(),
            Modifier::Idf => {
                let values = query
                    .indices()
                    .iter()
                    .zip(query.values())
                    .map(|(&d, &w)| w * index.idf(d))
                    .collect();
                SparseVector::new(query.indices().to_vec(), values).unwrap()
            }
        };
        let mut all: Vec<(u32, f32)> = docs
            .iter()
            .filter(|(id, v)| {
                let shared = |d: &u32| {
                    let at = query.indices().iter().position(|x| x == d);
                    at.is_some_and(|at| query.values()[at] != 0.0)
                };
                accept(*id) && v.indices().iter().any(shared)
            })
            .map(|(id, v)| (*id, v.dot(&q)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    /// Same scores in the same order; ids must agree except where two
    /// scores tie within rounding.
    fn assert_same(got: &[Neighbor], want: &[(u32, f32)]) {
        assert_eq!(got.len(), want.len(), "got {got:?}\nwant {want:?}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let tol = 1e-4 * w.1.abs().max(1.0);
            assert!(
                (-g.distance - w.1).abs() <= tol,
                "rank {i}: {got:?}\n{want:?}"
            );
            let tied = want.iter().any(|o| o.0 != w.0 && (o.1 - w.1).abs() <= tol);
            assert!(g.id == w.0 || tied, "rank {i}: {got:?}\n{want:?}");
        }
    }

    #[test]
    fn scores_are_dot_products_and_non_matching_documents_are_left_out() {
        let mut index = SparseIndex::new();
        index.insert(0, &sv(&[(1, 1.0), (2, 2.0)]));
        index.insert(1, &sv(&[(2, 1.0), (3, 5.0)]));
        index.insert(2, &sv(&[(7, 9.0)]));
        let got = index.search(&sv(&[(2, 1.0), (3, 1.0)]), 10, Modifier::None, None);
        let pairs: Vec<(u32, f32)> = got.iter().map(|n| (n.id, -n.distance)).collect();
        assert_eq!(pairs, [(1, 6.0), (0, 2.0)]);
        assert!(index.search(&sv(&[]), 10, Modifier::None, None).is_empty());
        assert!(
            index
                .search(&sv(&[(2, 1.0)]), 0, Modifier::None, None)
                .is_empty()
        );
    }

    #[test]
    fn idf_favours_rare_dimensions() {
        let mut index = SparseIndex::new();
        for id in 0..10 {
            index.insert(id, &sv(&[(1, 1.0)]));
        }
        index.insert(10, &sv(&[(2, 1.0)]));
        assert!(index.idf(2) > index.idf(1));
        // n = 11, df = 10: ln(1 + 1.5 / 10.5).
        assert!((index.idf(1) - (1.0f32 + 1.5 / 10.5).ln()).abs() < 1e-6);
        let got = index.search(&sv(&[(1, 1.0), (2, 1.0)]), 1, Modifier::Idf, None);
        assert_eq!(got[0].id, 10);
    }

    #[test]
    fn removed_documents_are_gone_and_reinserted_ones_back() {
        let mut index = SparseIndex::new();
        let a = sv(&[(1, 3.0)]);
        let b = sv(&[(1, 1.0), (4, 1.0)]);
        index.insert(5, &a);
        index.insert(2, &b);
        index.remove(5, &a);
        assert_eq!(index.len(), 1);
        assert_eq!(index.document_frequency(1), 1);
        let got = index.search(&sv(&[(1, 1.0)]), 5, Modifier::None, None);
        assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), [2]);
        index.insert(5, &a);
        let got = index.search(&sv(&[(1, 1.0)]), 5, Modifier::None, None);
        assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), [5, 2]);
    }

    fn doc() -> impl Strategy<Value = SparseVector> {
        proptest::collection::btree_map(0u32..40, 0.0f32..4.0, 0..8).prop_map(|m| {
            SparseVector::new(m.keys().copied().collect(), m.values().copied().collect()).unwrap()
        })
    }

    fn signed_doc() -> impl Strategy<Value = SparseVector> {
        proptest::collection::btree_map(0u32..40, -2.0f32..4.0, 0..8).prop_map(|m| {
            SparseVector::new(m.keys().copied().collect(), m.values().copied().collect()).unwrap()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn search_equals_brute_force(
            docs in proptest::collection::vec(doc(), 0..120),
            removed in proptest::collection::vec(any::<bool>(), 120),
            query in doc(),
            k in 1usize..15,
            idf in any::<bool>(),
            filtered in any::<bool>(),
        ) {
            let mut index = SparseIndex::new();
            // Ids out of order, so lists are built by insertion in the middle.
            let docs: Vec<(u32, SparseVector)> = docs
                .into_iter()
                .enumerate()
                .map(|(i, v)| (((i * 37) % 211) as u32, v))
                .collect();
            for (id, v) in &docs {
                index.insert(*id, v);
            }
            let mut live = Vec::new();
            for ((id, v), gone) in docs.into_iter().zip(removed) {
                if gone {
                    index.remove(id, &v);
                } else {
                    live.push((id, v));
                }
            }
            let modifier = if idf { Modifier::Idf } else { Modifier::None };
            let accept = |id: u32| !filtered || !id.is_multiple_of(3);
            let got = index.search(&query, k, modifier, Some(&accept));
            assert_same(&got, &brute_force(&live, &index, &query, k, modifier, &accept));
        }

        #[test]
        fn negative_weights_are_scored_exactly(
            docs in proptest::collection::vec(signed_doc(), 0..60),
            query in signed_doc(),
            k in 1usize..10,
        ) {
            let mut index = SparseIndex::new();
            let docs: Vec<(u32, SparseVector)> =
                docs.into_iter().enumerate().map(|(i, v)| (i as u32, v)).collect();
            for (id, v) in &docs {
                index.insert(*id, v);
            }
            let got = index.search(&query, k, Modifier::None, None);
            assert_same(&got, &brute_force(&docs, &index, &query, k, Modifier::None, &|_| true));
        }
    }
}
