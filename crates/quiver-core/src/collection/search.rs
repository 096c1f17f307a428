//! Every read: search, get, scroll and count.
//!
//! A read holds the state read lock for its whole call, so it sees each
//! write entirely or not at all. Filtered searches choose between an exact
//! scan of the allowed points and an HNSW search that only admits allowed
//! points, by the planner's estimate of how many points match.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::distance::Metric;
use crate::filter::{Filter, Plan};
use crate::index::Neighbor;
use crate::index::flat::TopK;
use crate::storage::VectorStorage;
use crate::{Error, NamedVectors, PointId, Result, SparseVector, Vector};

use super::fields::DenseField;
use super::oplog::{DenseSlots, SparseSlots};
use super::request::MAX_K;
use super::{
    Collection, Mmr, Payload, Record, ScoredPoint, ScrollPage, ScrollRequest, SearchRequest, State,
};

/// Beam width when the request names none.
const DEFAULT_EF: usize = 128;
/// Filtered searches whose estimate is at most this many points always
/// scan them exactly.
const EXACT_SCAN_MIN: u64 = 2048;
/// Above that, a filtered graph search keeps `ef` *allowed* points in its
/// beam, so it expands about `ef / selectivity` nodes of ~`m` links each,
/// while a scan costs `selectivity * n` distances: the scan wins while
/// `estimate^2 < SCAN_COST_RATIO * ef * n` (ratio measured in
/// `benches/collection.rs`, rounded down).
const SCAN_COST_RATIO: f64 = 16.0;

impl Collection {
    /// The `k` points nearest to the request's vector (matching its filter),
    /// best first, hydrated as asked. Returns `min(k, matching points)`
    /// results (fewer only when `score_threshold` drops some). With
    /// `mmr`, at most `k` of the `mmr.candidates` nearest, in the order
    /// [`Mmr`] picks them.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidInput`] (empty or
    /// non-finite vector, `k` or `ef` out of 1..=100 000),
    /// [`Error::InvalidFilter`]; I/O errors reading payloads or vectors.
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<ScoredPoint>> {
        self.check_open()?;
        request.validate(&self.config)?;
        let state = self.state.read();
        // The metric of a dense search; a sparse one scores minus the distance.
        let (hits, metric): (Vec<Neighbor>, Option<Metric>) = match &request.vector {
            Vector::Dense(vector) => {
                let field = self.field(&request.using)?;
                let metric = field.params.metric;
                let mut query = vector.clone();
                metric.preprocess(&mut query);
                let hits = match &request.mmr {
                    None => self.ranked(&state, field, &query, request)?,
                    Some(mmr) => {
                        let pool = SearchRequest {
                            k: mmr.candidates,
                            ..request.clone()
                        };
                        let candidates = self.ranked(&state, field, &query, &pool)?;
                        self.diversify(field, candidates, &query, mmr, request.k)?
                    }
                };
                (hits, Some(metric))
            }
            Vector::Sparse(query) => {
                if request.mmr.is_some() {
                    return Err(Error::InvalidInput(
                        "mmr needs a dense vector; the query is sparse".into(),
                    ));
                }
                (self.sparse_ranked(&state, query, request)?, None)
            }
        };
        let mut out = Vec::with_capacity(hits.len());
        for n in hits {
            let Some(id) = state.point_id(n.id) else {
                return Err(Error::Internal(format!(
                    "search returned internal id {} that maps to no point",
                    n.id
                )));
            };
            let (payload, vectors) =
                self.hydrate(&state, n.id, request.with_payload, request.with_vector)?;
            out.push(ScoredPoint {
                id,
                score: metric.map_or(-n.distance, |m| m.score(n.distance)),
                payload,
                vectors,
            });
        }
        Ok(out)
    }

    /// The dense vector named `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming it if the collection has no dense
    /// vector of that name.
    pub(super) fn field(&self, name: &str) -> Result<&DenseField> {
        self.dense
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| self.config.unknown_vector(name))
    }

    /// The nearest points by `field`, best first, cut at the request's
    /// score threshold.
    fn ranked(
        &self,
        state: &State,
        field: &DenseField,
        query: &[f32],
        request: &SearchRequest,
    ) -> Result<Vec<Neighbor>> {
        let mut hits = self.nearest(state, field, query, request)?;
        if let Some(t) = request.score_threshold {
            let metric = field.params.metric;
            // Hits are sorted best first: the rest are worse.
            let keep = hits
                .iter()
                .take_while(|n| {
                    let score = metric.score(n.distance);
                    if metric.higher_is_better() {
                        score >= t
                    } else {
                        score <= t
                    }
                })
                .count();
            hits.truncate(keep);
        }
        Ok(hits)
    }

    /// The points with the highest dot product with sparse `query` by the
    /// sparse vector `request.using` (exact; query weights scaled by IDF
    /// when the vector's modifier says so), best first, matching the
    /// filter and cut at the score threshold. Points sharing no dimension
    /// with the query are not returned.
    fn sparse_ranked(
        &self,
        state: &State,
        query: &SparseVector,
        request: &SearchRequest,
    ) -> Result<Vec<Neighbor>> {
        let Some(slot) = self.sparse.iter().position(|(n, _)| *n == request.using) else {
            return Err(self.config.unknown_vector(&request.using));
        };
        let sparse = &state.sparse[slot];
        let modifier = self.sparse[slot].1.modifier.into();
        let mut hits = match &request.filter {
            None => {
                let accept = |id: u32| state.live.contains(id);
                sparse
                    .index
                    .search(query, request.k, modifier, Some(&accept))
            }
            Some(filter) => {
                let plan = self.plan(state, filter);
                let damaged = AtomicU64::new(u64::MAX);
                let accept = admitter(state, filter, &plan, &damaged);
                let hits = sparse
                    .index
                    .search(query, request.k, modifier, Some(&accept));
                if let Ok(internal) = u32::try_from(damaged.load(Ordering::Relaxed)) {
                    state.payload(internal)?;
                }
                hits
            }
        };
        if let Some(t) = request.score_threshold {
            hits.retain(|n| -n.distance >= t);
        }
        Ok(hits)
    }

    /// Picks `k` of `candidates` (best first) by maximal marginal
    /// relevance (see [`Mmr`]); the similarity is minus the internal
    /// distance, which differs from the rule's only by a constant for
    /// Cosine and so picks the same points.
    fn diversify(
        &self,
        field: &DenseField,
        candidates: Vec<Neighbor>,
        query: &[f32],
        mmr: &Mmr,
        k: usize,
    ) -> Result<Vec<Neighbor>> {
        let kernel = field.params.metric.kernel();
        let vectors: Vec<Vec<f32>> = {
            let store = field.vectors.read();
            candidates
                .iter()
                .map(|n| {
                    store
                        .retrieve(u64::from(n.id))
                        .map_err(self.io_err(&field.file("vectors.dat")))?
                        .ok_or_else(|| {
                            self.corrupt(
                                &field.file("vectors.idx"),
                                format!("internal id {} found by a search has no vector", n.id),
                            )
                        })
                })
                .collect::<Result<_>>()?
        };
        let relevance: Vec<f32> = vectors.iter().map(|v| -kernel.eval(query, v)).collect();
        let weight = 1.0 - mmr.diversity;
        let mut picked: Vec<usize> = Vec::with_capacity(k.min(candidates.len()));
        // For each candidate not yet picked: its highest similarity to a pick.
        let mut closest = vec![f32::NEG_INFINITY; candidates.len()];
        let mut pending: Vec<usize> = (0..candidates.len()).collect();
        while picked.len() < k && !pending.is_empty() {
            let at = if picked.is_empty() {
                0
            } else {
                let mut best = 0;
                let mut best_score = f32::NEG_INFINITY;
                for (at, &c) in pending.iter().enumerate() {
                    let score = weight * relevance[c] - mmr.diversity * closest[c];
                    if at == 0 || score > best_score {
                        best = at;
                        best_score = score;
                    }
                }
                best
            };
            let chosen = pending.remove(at);
            for &c in &pending {
                let sim = -kernel.eval(&vectors[c], &vectors[chosen]);
                closest[c] = closest[c].max(sim);
            }
            picked.push(chosen);
        }
        Ok(picked.into_iter().map(|i| candidates[i]).collect())
    }

    /// [`Collection::search`] for many requests, in parallel; result `i`
    /// belongs to `requests[i]`.
    ///
    /// # Errors
    /// The first failing request's error.
    pub fn search_batch(&self, requests: &[SearchRequest]) -> Result<Vec<Vec<ScoredPoint>>> {
        requests.par_iter().map(|r| self.search(r)).collect()
    }

    /// The points with these ids that exist, in the order asked (each once).
    ///
    /// # Errors
    /// I/O errors reading payloads or vectors.
    pub fn get(
        &self,
        ids: &[PointId],
        with_payload: bool,
        with_vector: bool,
    ) -> Result<Vec<Record>> {
        self.check_open()?;
        let state = self.state.read();
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(&internal) = state.by_id.get(id) else {
                continue;
            };
            if !seen.insert(*id) {
                continue;
            }
            let (payload, vectors) = self.hydrate(&state, internal, with_payload, with_vector)?;
            out.push(Record {
                id: *id,
                payload,
                vectors,
            });
        }
        Ok(out)
    }

    /// A page of points in id order (numbers ascending, then UUIDs),
    /// starting at `offset`, matching the filter.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a `limit` out of 1..=100 000;
    /// [`Error::InvalidFilter`]; I/O errors.
    pub fn scroll(&self, request: &ScrollRequest) -> Result<ScrollPage> {
        self.check_open()?;
        if request.limit == 0 || request.limit > MAX_K {
            return Err(Error::InvalidInput(format!(
                "limit = {} is out of range 1..={MAX_K}",
                request.limit
            )));
        }
        if let Some(f) = &request.filter {
            f.validate()?;
        }
        let state = self.state.read();
        let plan = request.filter.as_ref().map(|f| self.plan(&state, f));
        let mut points = Vec::with_capacity(request.limit);
        let mut next_offset = None;
        let range = match request.offset {
            Some(start) => state.by_id.range(start..),
            None => state.by_id.range(..),
        };
        for (&id, &internal) in range {
            if let (Some(f), Some(plan)) = (&request.filter, &plan)
                && !admits(&state, plan, f, &id, internal)?
            {
                continue;
            }
            if points.len() == request.limit {
                next_offset = Some(id);
                break;
            }
            let (payload, vectors) =
                self.hydrate(&state, internal, request.with_payload, request.with_vector)?;
            points.push(Record {
                id,
                payload,
                vectors,
            });
        }
        Ok(ScrollPage {
            points,
            next_offset,
        })
    }

    /// Number of points, or of points matching `filter`.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`]; I/O errors reading payloads.
    pub fn count(&self, filter: Option<&Filter>) -> Result<u64> {
        self.check_open()?;
        let state = self.state.read();
        let Some(filter) = filter else {
            return Ok(state.live.len());
        };
        filter.validate()?;
        let plan = self.plan(&state, filter);
        if plan.exact {
            return Ok(plan.candidates.len());
        }
        Ok(self.matching(&state, filter)?.len() as u64)
    }

    /// The planner's candidate set, restricted to live points.
    pub(super) fn plan(&self, state: &State, filter: &Filter) -> Plan {
        let resolve = |id: &PointId| state.by_id.get(id).copied();
        let mut plan = state.indexes.plan(filter, &state.live, &resolve);
        plan.candidates &= &state.live;
        plan
    }

    /// The strategy [`Collection::search`] would use for `request` on the
    /// current points (the first choice: a graph search that reaches fewer
    /// than `min(k, matching)` points still falls back to a scan).
    ///
    /// # Errors
    /// As [`Collection::search`] for an invalid request.
    pub fn search_strategy(&self, request: &SearchRequest) -> Result<SearchStrategy> {
        self.check_open()?;
        request.validate(&self.config)?;
        if matches!(request.vector, Vector::Sparse(_)) {
            return Ok(SearchStrategy::Sparse);
        }
        let state = self.state.read();
        Ok(self.choose(&state, request).0)
    }

    /// The strategy for `request`, and the filter's plan if it has one.
    fn choose(&self, state: &State, request: &SearchRequest) -> (SearchStrategy, Option<Plan>) {
        let Some(filter) = &request.filter else {
            let strategy = if request.exact {
                SearchStrategy::Scan
            } else {
                SearchStrategy::Graph
            };
            return (strategy, None);
        };
        let plan = self.plan(state, filter);
        let ef = request.ef.unwrap_or(DEFAULT_EF).max(request.k);
        let threshold = scan_threshold(ef, state.live.len());
        let strategy =
            if request.exact || plan.estimate <= threshold || plan.candidates.len() <= threshold {
                SearchStrategy::Scan
            } else {
                SearchStrategy::FilteredGraph
            };
        (strategy, Some(plan))
    }

    fn nearest(
        &self,
        state: &State,
        field: &DenseField,
        query: &[f32],
        request: &SearchRequest,
    ) -> Result<Vec<Neighbor>> {
        let k = request.k;
        let ef = request.ef.unwrap_or(DEFAULT_EF).max(k);
        let (strategy, plan) = self.choose(state, request);
        let (Some(filter), Some(plan)) = (&request.filter, plan) else {
            if strategy == SearchStrategy::Scan {
                return self.scan(field, query, &state.live, k);
            }
            let allow = |id: u32| state.live.contains(id);
            let hits = field.graph.search(query, k, ef, Some(&allow));
            // The graph's live nodes are the live points with this vector.
            if hits.len() < k.min(field.graph.len()) {
                // The graph could not reach enough live points: be exact.
                return self.scan(field, query, &state.live, k);
            }
            return Ok(hits);
        };
        if strategy == SearchStrategy::Scan {
            let allowed = self.filter_candidates(state, filter, &plan)?;
            return self.scan(field, query, &allowed, k);
        }
        // Runs inside the graph's read lock, so it only reads memory.
        let damaged = AtomicU64::new(u64::MAX);
        let allow = admitter(state, filter, &plan, &damaged);
        let hits = field.graph.search(query, k, ef, Some(&allow));
        if let Ok(internal) = u32::try_from(damaged.load(Ordering::Relaxed)) {
            state.payload(internal)?;
        }
        if hits.len() < k && (hits.len() as u64) < plan.candidates.len() {
            // Fewer than k hits while more candidates exist: the graph did
            // not reach them (or they do not match, or lack the vector); an
            // exact scan settles it.
            let allowed = self.filter_candidates(state, filter, &plan)?;
            return self.scan(field, query, &allowed, k);
        }
        Ok(hits)
    }

    /// The plan's candidates that really match.
    fn filter_candidates(
        &self,
        state: &State,
        filter: &Filter,
        plan: &Plan,
    ) -> Result<RoaringBitmap> {
        if plan.exact {
            return Ok(plan.candidates.clone());
        }
        Ok(self
            .matching(state, filter)?
            .into_iter()
            .map(|(internal, _)| internal)
            .collect())
    }

    /// Exact top-`k` by `field` over those of `ids` that have that vector,
    /// reading vectors from its store.
    fn scan(
        &self,
        field: &DenseField,
        query: &[f32],
        ids: &RoaringBitmap,
        k: usize,
    ) -> Result<Vec<Neighbor>> {
        let kernel = field.params.metric.kernel();
        let vectors = field.vectors.read();
        let mut top = TopK::new(k);
        for id in ids {
            let Some(v) = vectors
                .retrieve_ref(u64::from(id))
                .map_err(self.io_err(&field.file("vectors.dat")))?
            else {
                continue;
            };
            let distance = kernel.eval(query, &v);
            if distance <= top.threshold() {
                top.push(Neighbor { id, distance });
            }
        }
        Ok(top.into_sorted_vec())
    }

    /// Payload and vectors of one live version, as asked.
    fn hydrate(
        &self,
        state: &State,
        internal: u32,
        with_payload: bool,
        with_vectors: bool,
    ) -> Result<(Option<Payload>, Option<NamedVectors>)> {
        let payload = if with_payload {
            Some(state.payload(internal)?.clone())
        } else {
            None
        };
        if !with_vectors {
            return Ok((payload, None));
        }
        let (dense, sparse) = self.stored_slots(state, internal)?;
        let names = self.dense.iter().map(|f| &f.name);
        let dense = names
            .zip(dense)
            .filter_map(|(n, v)| Some((n.clone(), Vector::Dense(v?))));
        let names = self.sparse.iter().map(|(n, _)| n);
        let sparse = names
            .zip(sparse)
            .filter_map(|(n, v)| Some((n.clone(), Vector::Sparse(v?))));
        let vectors: NamedVectors = dense.chain(sparse).collect();
        Ok((payload, Some(vectors)))
    }

    /// The vectors stored for the version `internal`, by slot, as the
    /// stores hold them (dense ones preprocessed for their metric).
    pub(super) fn stored_slots(
        &self,
        state: &State,
        internal: u32,
    ) -> Result<(DenseSlots, SparseSlots)> {
        let dense = self
            .dense
            .iter()
            .map(|field| {
                field
                    .vectors
                    .read()
                    .retrieve(u64::from(internal))
                    .map_err(self.io_err(&field.file("vectors.dat")))
            })
            .collect::<Result<_>>()?;
        let sparse = state
            .sparse
            .iter()
            .map(|s| s.vectors.get(&internal).cloned())
            .collect();
        Ok((dense, sparse))
    }
}

/// The predicate a filtered search admits candidates by: in the plan's
/// candidates and, for a filter the indexes cannot answer alone, matching
/// the state's decoded payload. It only reads memory, so it can run inside
/// an index's lock. A damaged payload cannot be judged: its internal id is
/// stored in `damaged` (for the caller to fail with its error, as reading
/// it would) and it is not admitted.
fn admitter<'a>(
    state: &'a State,
    filter: &'a Filter,
    plan: &'a Plan,
    damaged: &'a AtomicU64,
) -> impl Fn(u32) -> bool + 'a {
    move |internal: u32| {
        plan.candidates.contains(internal)
            && (plan.exact
                || state
                    .point_id(internal)
                    .is_some_and(|id| match state.payloads.get(&internal) {
                        Some(payload) => filter.matches(&id, payload),
                        None => {
                            damaged.store(u64::from(internal), Ordering::Relaxed);
                            false
                        }
                    }))
    }
}

/// Does live version `internal` (of point `id`) pass `filter`, given the
/// filter's plan?
fn admits(
    state: &State,
    plan: &Plan,
    filter: &Filter,
    id: &PointId,
    internal: u32,
) -> Result<bool> {
    if !plan.candidates.contains(internal) {
        return Ok(false);
    }
    if plan.exact {
        return Ok(true);
    }
    Ok(filter.matches(id, state.payload(internal)?))
}

/// How a search finds its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchStrategy {
    /// HNSW search over all live points (no filter).
    Graph,
    /// HNSW search that traverses every node but admits only points
    /// matching the filter (the filter matches many points).
    FilteredGraph,
    /// Exact scan of the matching points (few match, or `exact` was asked).
    Scan,
    /// Exact search of a sparse vector's inverted index.
    Sparse,
}

/// Filtered searches whose estimate is at most this many points scan them.
fn scan_threshold(ef: usize, live: u64) -> u64 {
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a cost estimate; precision is irrelevant and the root is far below u64::MAX"
    )]
    let cost = (SCAN_COST_RATIO * ef as f64 * live as f64).sqrt() as u64;
    EXACT_SCAN_MIN.max(cost)
}
