//! Queries in stages: prefetches (nested, each a search of its own) whose
//! results a query fuses (RRF, DBSF), re-scores with another vector, or
//! re-ranks for diversity (MMR).
//!
//! Every stage is an ordinary [`Collection::search`]: a re-scoring stage
//! searches exactly among the ids its prefetches returned (a `has_id`
//! condition added to its filter), so scores, filters and thresholds mean
//! what they mean in a search. A query's filter also holds for all its
//! prefetches, as in Qdrant.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::filter::{Condition, Filter, HasIdCondition};
use crate::{Error, PointId, Result, Vector};

use super::request::{MAX_K, Mmr};
use super::{Collection, ScoredPoint, SearchRequest};

/// The default `k` of [`Fusion::Rrf`] (Qdrant's).
pub const DEFAULT_RRF_K: usize = 2;
/// How deep prefetches may nest.
pub const MAX_PREFETCH_DEPTH: usize = 8;
/// How many prefetches one stage may have.
pub const MAX_PREFETCHES: usize = 64;

/// What a stage ranks by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// Nearest to the vector, by the stage's `using` vector (dense or
    /// sparse, as that vector is). Over prefetches: the prefetched points
    /// re-scored exactly by it.
    Nearest(Vector),
    /// The nearest (as [`Query::Nearest`]) re-ranked by maximal marginal
    /// relevance (see [`Mmr`]); dense vectors only.
    Mmr {
        /// The query vector.
        vector: Vector,
        /// The diversity and the candidate pool.
        mmr: Mmr,
    },
    /// The prefetches' result lists fused into one.
    Fusion(Fusion),
}

/// How [`Query::Fusion`] merges result lists. Each list is best first; a
/// point's fused score sums its contributions from the lists it is in, and
/// the fused list is ordered by that score (ties by point id).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal rank fusion: `1 / (k + position)`, positions from 0.
    Rrf {
        /// At least 1; Qdrant's default is [`DEFAULT_RRF_K`].
        k: usize,
    },
    /// Distribution-based score fusion: each list's scores mapped by
    /// `(s - (mean - 3 sd)) / (6 sd)` (sample standard deviation; a list of
    /// one point or of equal scores gives 0.5), then summed. Scores that
    /// are better when lower (Euclid distances) are negated first.
    Dbsf,
}

/// A stage whose results feed the stage above it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prefetch {
    /// Its own prefetches; with them, `query` is required.
    #[serde(default)]
    pub prefetch: Vec<Prefetch>,
    /// What it ranks by; `None` passes on its one prefetch's results.
    #[serde(default)]
    pub query: Option<Query>,
    /// The vector `query` ranks by (`""` = the default one).
    #[serde(default)]
    pub using: String,
    /// Only points matching this (and every enclosing stage's filter).
    #[serde(default)]
    pub filter: Option<Filter>,
    /// How many results it passes on, 1..=100 000.
    pub limit: usize,
    /// Drop results worse than this score.
    #[serde(default)]
    pub score_threshold: Option<f32>,
    /// HNSW beam width of its search.
    #[serde(default)]
    pub ef: Option<usize>,
    /// Exhaustive search instead of the HNSW graph.
    #[serde(default)]
    pub exact: bool,
}

impl Prefetch {
    /// The `limit` nearest to `vector` by `using`.
    pub fn nearest(vector: impl Into<Vector>, using: &str, limit: usize) -> Self {
        Prefetch {
            prefetch: Vec::new(),
            query: Some(Query::Nearest(vector.into())),
            using: using.to_owned(),
            filter: None,
            limit,
            score_threshold: None,
            ef: None,
            exact: false,
        }
    }
}

/// A query in stages (see the module documentation): the top stage's
/// results, after `offset`, `limit` of them, hydrated as asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// The stage itself, whose results are returned.
    #[serde(flatten)]
    pub stage: Prefetch,
    /// Results to skip before the `limit` returned.
    #[serde(default)]
    pub offset: usize,
    /// Return payloads.
    #[serde(default)]
    pub with_payload: bool,
    /// Return vectors.
    #[serde(default)]
    pub with_vector: bool,
}

impl QueryRequest {
    /// The query of one stage, `limit` results, nothing hydrated.
    pub fn new(stage: Prefetch) -> Self {
        QueryRequest {
            stage,
            offset: 0,
            with_payload: false,
            with_vector: false,
        }
    }
}

/// A stage's results, best first, and whether their scores are better when
/// lower (dense Euclid distances).
struct Ranked {
    hits: Vec<(PointId, f32)>,
    lower_is_better: bool,
}

impl Collection {
    /// Runs a staged query: prefetches first (depth first), then each
    /// stage's query over its prefetches' results.
    ///
    /// Scores are those of the top stage: a search's scores (as
    /// [`Collection::search`]), or the fused scores of [`Fusion`].
    ///
    /// Hybrid search, dense and sparse results fused by RRF:
    ///
    /// ```
    /// use quiver_core::{
    ///     CollectionConfig, Database, Fusion, Metric, Point, Prefetch, Query, QueryRequest,
    ///     SparseVector, SparseVectorParams, VectorParams,
    /// };
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let mut config =
    ///     CollectionConfig::with_vectors([("dense".to_owned(), VectorParams::new(2, Metric::Cosine))]);
    /// config.sparse_vectors.insert("bm25".to_owned(), SparseVectorParams::default());
    /// let c = db.create_collection("docs", config)?;
    /// c.upsert(vec![
    ///     Point::without_vectors(1)
    ///         .with_vector("dense", vec![1.0, 0.0])
    ///         .with_vector("bm25", SparseVector::new(vec![3], vec![1.0])?),
    ///     Point::without_vectors(2).with_vector("dense", vec![0.8, 0.6]),
    /// ])?;
    /// let mut hybrid = Prefetch::nearest(vec![1.0, 0.1], "dense", 10);
    /// hybrid.query = Some(Query::Fusion(Fusion::Rrf { k: 2 }));
    /// hybrid.prefetch = vec![
    ///     Prefetch::nearest(vec![1.0, 0.1], "dense", 20),
    ///     Prefetch::nearest(SparseVector::new(vec![3], vec![1.0])?, "bm25", 20),
    /// ];
    /// let hits = c.query(&QueryRequest::new(hybrid))?;
    /// // Point 1 is first in both lists: 1/2 + 1/2.
    /// assert_eq!(hits[0].score, 1.0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the stage for a stage with several
    /// prefetches and no query, a fusion without prefetches, a stage with
    /// neither, `limit` out of 1..=100 000, `offset + limit` past it, RRF
    /// `k` of 0, prefetches nested deeper than [`MAX_PREFETCH_DEPTH`] or more
    /// than [`MAX_PREFETCHES`] in a stage; any error of
    /// [`Collection::search`] for a stage's search.
    pub fn query(&self, request: &QueryRequest) -> Result<Vec<ScoredPoint>> {
        self.check_open()?;
        let window = request.offset.saturating_add(request.stage.limit);
        if window > MAX_K {
            return Err(Error::InvalidInput(format!(
                "offset {} + limit {} is more than {MAX_K}",
                request.offset, request.stage.limit
            )));
        }
        let mut top = request.stage.clone();
        top.limit = window;
        check_stage(&top, "query", 0)?;
        let ranked = self.run_stage(&top, None, "query")?;
        let hits: Vec<(PointId, f32)> = ranked.hits.into_iter().skip(request.offset).collect();
        if !request.with_payload && !request.with_vector {
            return Ok(hits
                .into_iter()
                .map(|(id, score)| ScoredPoint {
                    id,
                    score,
                    payload: None,
                    vectors: None,
                })
                .collect());
        }
        let ids: Vec<PointId> = hits.iter().map(|h| h.0).collect();
        let mut records: HashMap<PointId, _> = self
            .get(&ids, request.with_payload, request.with_vector)?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        // A point deleted since its stage ran is left out.
        Ok(hits
            .into_iter()
            .filter_map(|(id, score)| {
                let r = records.remove(&id)?;
                Some(ScoredPoint {
                    id,
                    score,
                    payload: r.payload,
                    vectors: r.vectors,
                })
            })
            .collect())
    }

    fn run_stage(&self, stage: &Prefetch, outer: Option<&Filter>, at: &str) -> Result<Ranked> {
        let filter = merge(outer, stage.filter.as_ref());
        let sources = stage
            .prefetch
            .iter()
            .enumerate()
            .map(|(i, p)| self.run_stage(p, filter.as_ref(), &format!("{at}.prefetch[{i}]")))
            .collect::<Result<Vec<Ranked>>>()?;
        let Some(query) = &stage.query else {
            // `check_stage` let through exactly one prefetch.
            let mut only = sources.into_iter().next().ok_or_else(|| {
                Error::Internal(format!("{at}: a stage without query or prefetch"))
            })?;
            only.hits.truncate(stage.limit);
            return Ok(self.threshold(only, stage.score_threshold));
        };
        let (vector, mmr) = match query {
            Query::Fusion(fusion) => {
                let fused = fuse(sources, *fusion, stage.limit);
                return Ok(self.threshold(fused, stage.score_threshold));
            }
            Query::Nearest(v) => (v, None),
            Query::Mmr { vector, mmr } => (vector, Some(*mmr)),
        };
        let mut search = SearchRequest::new(vector.clone(), stage.limit).using(&stage.using);
        search.ef = stage.ef;
        search.exact = stage.exact;
        search.score_threshold = stage.score_threshold;
        search.mmr = mmr;
        search.filter = filter;
        if !stage.prefetch.is_empty() {
            let ids: BTreeSet<PointId> = sources
                .iter()
                .flat_map(|s| s.hits.iter().map(|h| h.0))
                .collect();
            if ids.is_empty() {
                return Ok(Ranked {
                    hits: Vec::new(),
                    lower_is_better: false,
                });
            }
            let among = Filter {
                must: vec![Condition::HasId(HasIdCondition { has_id: ids })],
                ..Filter::default()
            };
            search.filter = merge(search.filter.as_ref(), Some(&among));
            // Re-scoring reads each candidate's vector: exact, not the graph.
            search.exact = true;
        }
        let lower_is_better = match vector {
            Vector::Dense(_) => !self.config.dense(&stage.using)?.metric.higher_is_better(),
            Vector::Sparse(_) => false,
        };
        let hits = self
            .search(&search)
            .map_err(|e| match e {
                Error::InvalidInput(m) => Error::InvalidInput(format!("{at}: {m}")),
                other => other,
            })?
            .into_iter()
            .map(|h| (h.id, h.score))
            .collect();
        Ok(Ranked {
            hits,
            lower_is_better,
        })
    }

    /// `ranked` without the hits worse than `threshold`.
    fn threshold(&self, mut ranked: Ranked, threshold: Option<f32>) -> Ranked {
        if let Some(t) = threshold {
            let lower = ranked.lower_is_better;
            ranked
                .hits
                .retain(|&(_, s)| if lower { s <= t } else { s >= t });
        }
        ranked
    }
}

/// Checks the shape of `stage` and its prefetches (what a search checks is
/// left to the search).
fn check_stage(stage: &Prefetch, at: &str, depth: usize) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidInput(format!("{at}: {m}")));
    if depth > MAX_PREFETCH_DEPTH {
        return bad(format!("prefetches nest deeper than {MAX_PREFETCH_DEPTH}"));
    }
    if stage.prefetch.len() > MAX_PREFETCHES {
        return bad(format!(
            "{} prefetches, more than {MAX_PREFETCHES}",
            stage.prefetch.len()
        ));
    }
    if stage.limit == 0 || stage.limit > MAX_K {
        return bad(format!("limit {} is out of range 1..={MAX_K}", stage.limit));
    }
    match (&stage.query, stage.prefetch.len()) {
        (None, 0) => return bad("needs a query or a prefetch".into()),
        (None, 1) => {}
        (None, n) => return bad(format!("{n} prefetches need a query to merge them")),
        (Some(Query::Fusion(_)), 0) => return bad("a fusion needs prefetches to fuse".into()),
        (Some(Query::Fusion(Fusion::Rrf { k: 0 })), _) => {
            return bad("rrf k must be at least 1".into());
        }
        _ => {}
    }
    for (i, p) in stage.prefetch.iter().enumerate() {
        check_stage(p, &format!("{at}.prefetch[{i}]"), depth + 1)?;
    }
    Ok(())
}

/// Both filters (AND); `None` when neither is given.
fn merge(a: Option<&Filter>, b: Option<&Filter>) -> Option<Filter> {
    match (a, b) {
        (None, None) => None,
        (Some(f), None) | (None, Some(f)) => Some(f.clone()),
        (Some(a), Some(b)) => Some(Filter {
            must: vec![Condition::Filter(a.clone()), Condition::Filter(b.clone())],
            ..Filter::default()
        }),
    }
}

/// The fused list of `sources`, best first, at most `limit` long.
fn fuse(sources: Vec<Ranked>, fusion: Fusion, limit: usize) -> Ranked {
    let mut scores: HashMap<PointId, f64> = HashMap::new();
    for source in sources {
        let contributions: Vec<f64> = match fusion {
            Fusion::Rrf { k } => (0..source.hits.len())
                .map(|pos| 1.0 / (k as f64 + pos as f64))
                .collect(),
            Fusion::Dbsf => {
                let sign = if source.lower_is_better { -1.0 } else { 1.0 };
                distribution_normalised(
                    &source
                        .hits
                        .iter()
                        .map(|h| sign * f64::from(h.1))
                        .collect::<Vec<_>>(),
                )
            }
        };
        for ((id, _), c) in source.hits.iter().zip(contributions) {
            *scores.entry(*id).or_insert(0.0) += c;
        }
    }
    let mut hits: Vec<(PointId, f64)> = scores.into_iter().collect();
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.truncate(limit);
    Ranked {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "scores are reported as f32, as every score is"
        )]
        hits: hits.into_iter().map(|(id, s)| (id, s as f32)).collect(),
        lower_is_better: false,
    }
}

/// Each score mapped into mean ± 3 sample standard deviations (as
/// [`Fusion::Dbsf`] says).
fn distribution_normalised(scores: &[f64]) -> Vec<f64> {
    let n = scores.len();
    if n < 2 {
        return vec![0.5; n];
    }
    let mean = scores.iter().sum::<f64>() / n as f64;
    let variance = scores.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / (n - 1) as f64;
    let sd = variance.sqrt();
    if sd == 0.0 {
        return vec![0.5; n];
    }
    let low = mean - 3.0 * sd;
    scores.iter().map(|s| (s - low) / (6.0 * sd)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(ids: &[u64], scores: &[f32], lower_is_better: bool) -> Ranked {
        Ranked {
            hits: ids
                .iter()
                .zip(scores)
                .map(|(&i, &s)| (PointId::Num(i), s))
                .collect(),
            lower_is_better,
        }
    }

    #[test]
    fn rrf_sums_reciprocal_positions_from_zero() {
        let a = ranked(&[1, 2, 3], &[0.9, 0.8, 0.7], false);
        let b = ranked(&[3, 1], &[5.0, 4.0], false);
        let got = fuse(vec![a, b], Fusion::Rrf { k: 2 }, 10).hits;
        let want = [
            (1, 1.0 / 2.0 + 1.0 / 3.0),
            (3, 1.0 / 4.0 + 1.0 / 2.0),
            (2, 1.0 / 3.0),
        ];
        assert_eq!(got.len(), 3);
        for ((id, s), (wid, ws)) in got.iter().zip(want) {
            assert_eq!(*id, PointId::Num(wid));
            assert!((f64::from(*s) - ws).abs() < 1e-6, "{s} vs {ws}");
        }
        // Ties go to the smaller id; the limit cuts.
        let a = ranked(&[5], &[1.0], false);
        let b = ranked(&[4], &[1.0], false);
        let got = fuse(vec![a, b], Fusion::Rrf { k: 60 }, 1).hits;
        assert_eq!(got, vec![(PointId::Num(4), 1.0 / 60.0)]);
    }

    #[test]
    fn dbsf_maps_each_list_by_its_distribution_and_flips_distances() {
        assert_eq!(distribution_normalised(&[3.0]), vec![0.5]);
        assert_eq!(distribution_normalised(&[2.0, 2.0]), vec![0.5, 0.5]);
        let got = distribution_normalised(&[1.0, 2.0, 3.0]);
        // mean 2, sample sd 1: (s - (2 - 3)) / 6.
        for (g, w) in got.iter().zip([2.0 / 6.0, 3.0 / 6.0, 4.0 / 6.0]) {
            assert!((g - w).abs() < 1e-12);
        }
        // Distances: the nearest (smallest) gets the largest share.
        let d = ranked(&[1, 2, 3], &[1.0, 2.0, 3.0], true);
        let got = fuse(vec![d], Fusion::Dbsf, 10).hits;
        assert_eq!(got[0].0, PointId::Num(1));
        assert!((got[0].1 - 4.0 / 6.0).abs() < 1e-6);
    }

    #[test]
    fn stage_shapes_that_cannot_run_are_refused_naming_the_stage() {
        let leaf = Prefetch::nearest(vec![1.0], "", 5);
        let mut two = leaf.clone();
        two.query = None;
        two.prefetch = vec![leaf.clone(), leaf.clone()];
        let mut fusion_alone = leaf.clone();
        fusion_alone.query = Some(Query::Fusion(Fusion::Dbsf));
        let mut rrf0 = two.clone();
        rrf0.query = Some(Query::Fusion(Fusion::Rrf { k: 0 }));
        let mut empty = leaf.clone();
        empty.query = None;
        let mut no_limit = leaf.clone();
        no_limit.limit = 0;
        let mut nested = leaf.clone();
        nested.prefetch = vec![no_limit.clone()];
        let mut deep = leaf.clone();
        for _ in 0..=MAX_PREFETCH_DEPTH {
            let mut up = leaf.clone();
            up.prefetch = vec![deep];
            deep = up;
        }
        for (stage, needle) in [
            (two, "2 prefetches need a query"),
            (fusion_alone, "fusion needs prefetches"),
            (rrf0, "k must be at least 1"),
            (empty, "needs a query or a prefetch"),
            (no_limit, "limit 0"),
            (nested, "query.prefetch[0]: limit 0"),
            (deep, "deeper"),
        ] {
            let err = check_stage(&stage, "query", 0).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should say {needle}");
        }
    }
}
