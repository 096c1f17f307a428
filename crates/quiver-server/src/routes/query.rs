//! The universal query (`points/query`, its batch) and the legacy search
//! (`points/search`, its batch), both decoded into one [`QueryPlan`] and
//! run by the engine's staged query ([`Collection::query`]).
//!
//! A plan is decoded without the collection (every field is checked or
//! refused then, naming it); it is run on the blocking pool, where point
//! id queries are resolved to the stored vectors they name (in the queried
//! collection, or in `lookup_from`'s) and the answer is shaped for the
//! collection (a plain vector list for a collection with only the default
//! vector, else vectors by name).

use std::sync::Arc;

use quiver_core::filter::{Condition, Filter, HasIdCondition};
use quiver_core::{Collection, CollectionConfig, DEFAULT_RRF_K, Fusion, MAX_K, PointId, Vector};
use serde_json::Value;

use super::budget::{Demand, HIT_OVERHEAD_BYTES, PAYLOAD_ESTIMATE_BYTES, vector_bytes};
use super::model::{
    LookupLocation, PrefetchQuery, QueryRequest, ScoredPoint, SearchParams, SearchRequest,
    WithPayload, WithVector,
};
use super::points::vector_output;
use super::query_vector::{Input, input};
use super::vectors::VectorOutput;
use super::{AppState, accept_only, blocking};
use crate::error::{ApiError, ApiResult};

/// Default `limit` of a query and of each prefetch, as in Qdrant.
pub const DEFAULT_LIMIT: usize = 10;
/// Qdrant's default `mmr.diversity`.
const DEFAULT_DIVERSITY: f32 = 0.5;
/// Most stages (the query and all its prefetches, nested or not) one query
/// may have. The engine bounds each stage's prefetches and their depth;
/// this bounds their product, the searches one request can start.
pub const MAX_STAGES: usize = 64;

/// Finds a collection by name for `lookup_from` and `with_lookup`.
pub type Lookup<'a> = &'a dyn Fn(&str) -> ApiResult<Arc<Collection>>;

/// A query or search decoded from the wire: the stages, what to return,
/// and the point id queries still to resolve.
#[derive(Clone, Debug)]
pub struct QueryPlan {
    /// The top stage; `None` for a listing (no query, no prefetch).
    pub(crate) top: Option<Stage>,
    /// Results returned, after `offset`.
    pub(crate) limit: usize,
    /// Results skipped first.
    pub(crate) offset: usize,
    /// The listing's filter (a stage carries its own).
    listing_filter: Option<Filter>,
    /// Payload keys to return.
    pub(crate) with_payload: WithPayload,
    /// Vectors to return.
    pub(crate) with_vector: WithVector,
}

/// One stage before its point id query (if any) is resolved.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    prefetch: Vec<Stage>,
    query: Option<StageQuery>,
    using: String,
    filter: Option<Filter>,
    pub(crate) limit: usize,
    score_threshold: Option<f32>,
    ef: Option<usize>,
    exact: bool,
    lookup_from: Option<LookupFrom>,
}

/// `lookup_from` decoded: the collection and the vector (the stage's
/// `using` when not given).
#[derive(Clone, Debug)]
struct LookupFrom {
    collection: String,
    vector: String,
}

/// What a stage ranks by.
#[derive(Clone, Debug, PartialEq)]
enum StageQuery {
    /// Nearest to the input, diversified when `mmr` is set.
    Nearest { input: Input, mmr: Option<MmrWire> },
    /// The prefetches fused.
    Fusion(Fusion),
}

/// `mmr` of a nearest query; the engine checks the bounds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MmrWire {
    diversity: Option<f32>,
    candidates_limit: Option<usize>,
}

/// The fields a stage has on the wire, wherever it stands.
struct StageWire {
    prefetch: Option<Value>,
    query: Option<Value>,
    using: Option<String>,
    filter: Option<Filter>,
    params: Option<SearchParams>,
    score_threshold: Option<f32>,
    limit: Option<usize>,
    lookup_from: Option<LookupLocation>,
}

impl From<PrefetchQuery> for StageWire {
    fn from(p: PrefetchQuery) -> Self {
        StageWire {
            prefetch: p.prefetch,
            query: p.query,
            using: p.using,
            filter: p.filter,
            params: p.params,
            score_threshold: p.score_threshold,
            limit: p.limit,
            lookup_from: p.lookup_from,
        }
    }
}

impl QueryPlan {
    /// Decodes a universal query.
    ///
    /// # Errors
    /// 400 naming the field for anything refused or malformed.
    pub fn from_query(r: QueryRequest) -> ApiResult<QueryPlan> {
        let offset = r.offset.unwrap_or(0);
        let limit = r.limit.unwrap_or(DEFAULT_LIMIT);
        window(limit, offset)?;
        let with_payload = r.with_payload.unwrap_or(WithPayload::Enable(false));
        let with_vector = r.with_vector.unwrap_or(WithVector::Enable(false));
        if r.query.is_none() && r.prefetch.is_none() {
            // A listing ranks nothing: the fields that rank are refused.
            if r.score_threshold.is_some() {
                return Err(ApiError::bad_request(
                    "`score_threshold` needs a `query`: without one points are listed in id \
                     order with score 0",
                ));
            }
            if r.lookup_from.is_some() {
                return Err(ApiError::bad_request(
                    "`lookup_from` needs a point id `query` whose vector it provides",
                ));
            }
            params(r.params, "params")?;
            return Ok(QueryPlan {
                top: None,
                limit,
                offset,
                listing_filter: r.filter,
                with_payload,
                with_vector,
            });
        }
        let mut count = 0;
        let top = stage(
            StageWire {
                prefetch: r.prefetch,
                query: r.query,
                using: r.using,
                filter: r.filter,
                params: r.params,
                score_threshold: r.score_threshold,
                limit: Some(limit),
                lookup_from: r.lookup_from,
            },
            "query",
            0,
            &mut count,
        )?;
        if let Some(StageQuery::Nearest { mmr: Some(_), .. }) = &top.query
            && offset > 0
        {
            return Err(ApiError::bad_request(
                "`offset` is not supported with `mmr`: the picks depend on every candidate",
            ));
        }
        Ok(QueryPlan {
            top: Some(top),
            limit,
            offset,
            listing_filter: None,
            with_payload,
            with_vector,
        })
    }

    /// Decodes a legacy search: one stage, nearest to `vector`.
    ///
    /// # Errors
    /// 400 naming the field for anything refused or malformed.
    pub fn from_search(r: SearchRequest) -> ApiResult<QueryPlan> {
        let offset = r.offset.unwrap_or(0);
        window(r.limit, offset)?;
        let (ef, exact) = params(r.params, "params")?;
        Ok(QueryPlan {
            top: Some(Stage {
                prefetch: Vec::new(),
                query: Some(StageQuery::Nearest {
                    input: Input::Vector(r.vector.vector),
                    mmr: None,
                }),
                using: r.vector.name,
                filter: r.filter,
                limit: r.limit,
                score_threshold: r.score_threshold,
                ef,
                exact,
                lookup_from: None,
            }),
            limit: r.limit,
            offset,
            listing_filter: None,
            with_payload: r.with_payload.unwrap_or(WithPayload::Enable(false)),
            with_vector: r.with_vector.unwrap_or(WithVector::Enable(false)),
        })
    }

    /// Adds the results this plan may return to `demand`.
    pub fn demand(&self, demand: &mut Demand) {
        demand.add(
            self.limit,
            self.with_vector.wanted(),
            self.with_payload.wanted(),
        );
    }

    /// Runs the plan on `c` (on the blocking pool); `lookup` finds the
    /// collections `lookup_from` names.
    ///
    /// # Errors
    /// 400 for what the engine refuses (unknown vector, wrong dimension,
    /// bad filter, a point without the vector asked for), 404 for a query
    /// point or `lookup_from` collection that does not exist.
    pub fn run(self, c: &Collection, lookup: Lookup<'_>) -> ApiResult<Vec<ScoredPoint>> {
        let config = c.config();
        self.with_vector.check(&config)?;
        if self.top.is_none() {
            return self.list(c);
        }
        let hits = self.ranked(
            c,
            lookup,
            self.limit,
            self.with_payload.wanted(),
            self.with_vector.wanted(),
        )?;
        Ok(hits
            .into_iter()
            .map(|h| ScoredPoint {
                id: h.id,
                version: 0,
                score: h.score,
                vector: vector_output(h.vectors, Some(&self.with_vector)),
                payload: h.payload.map(|p| self.with_payload.project(p)),
            })
            .collect())
    }

    /// The engine's answer to the plan's stages with the top stage
    /// returning `limit` results after the plan's offset, hydrated as
    /// asked: what [`QueryPlan::run`] shapes, and what groups are formed
    /// from. A listing plan ranks nothing and returns no hits.
    ///
    /// # Errors
    /// As [`QueryPlan::run`].
    pub(crate) fn ranked(
        &self,
        c: &Collection,
        lookup: Lookup<'_>,
        limit: usize,
        with_payload: bool,
        with_vector: bool,
    ) -> ApiResult<Vec<quiver_core::ScoredPoint>> {
        let Some(top) = &self.top else {
            return Ok(Vec::new());
        };
        let mut top = top.clone();
        // Set before resolving: `mmr.candidates_limit` defaults to it.
        top.limit = limit;
        let request = quiver_core::QueryRequest {
            stage: resolve(&top, c, lookup)?,
            offset: self.offset,
            with_payload,
            with_vector,
        };
        Ok(c.query(&request)?)
    }

    /// A query without a vector: matching points in id order, score 0.
    fn list(&self, c: &Collection) -> ApiResult<Vec<ScoredPoint>> {
        let page = c.scroll(&quiver_core::ScrollRequest {
            filter: self.listing_filter.clone(),
            limit: self.limit.saturating_add(self.offset),
            offset: None,
            with_payload: self.with_payload.wanted(),
            with_vector: self.with_vector.wanted(),
        })?;
        Ok(page
            .points
            .into_iter()
            .skip(self.offset)
            .map(|r| ScoredPoint {
                id: r.id,
                version: 0,
                score: 0.0,
                vector: vector_output(r.vectors, Some(&self.with_vector)),
                payload: r.payload.map(|p| self.with_payload.project(p)),
            })
            .collect())
    }
}

/// `limit + offset` within the engine's bound (checked here because it is
/// the sum of two wire fields, and what the budget is computed from).
fn window(limit: usize, offset: usize) -> ApiResult<()> {
    if limit.saturating_add(offset) > MAX_K {
        return Err(ApiError::bad_request(format!(
            "limit + offset must be at most {MAX_K}"
        )));
    }
    Ok(())
}

/// The HNSW beam width and exactness of `params`; quantization is refused.
fn params(params: Option<SearchParams>, at: &str) -> ApiResult<(Option<usize>, bool)> {
    let params = params.unwrap_or_default();
    accept_only(
        &format!("{at}.quantization"),
        &params.quantization,
        |_| false,
        "collections are searched unquantized",
    )?;
    accept_only(
        &format!("{at}.indexed_only"),
        &params.indexed_only,
        |b| !*b,
        "every point is searched, indexed or not",
    )?;
    Ok((params.hnsw_ef, params.exact))
}

/// Decodes one stage at `at`, `depth` prefetches down; `count` counts the
/// stages decoded so far.
fn stage(wire: StageWire, at: &str, depth: usize, count: &mut usize) -> ApiResult<Stage> {
    *count += 1;
    if *count > MAX_STAGES {
        return Err(ApiError::bad_request(format!(
            "{at}: a query may have at most {MAX_STAGES} stages (itself and all its prefetches)"
        )));
    }
    if depth > quiver_core::MAX_PREFETCH_DEPTH {
        return Err(ApiError::bad_request(format!(
            "{at}: prefetches nest deeper than {}",
            quiver_core::MAX_PREFETCH_DEPTH
        )));
    }
    let prefetch = match wire.prefetch {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| prefetch(v, &format!("{at}.prefetch[{i}]"), depth + 1, count))
            .collect::<ApiResult<Vec<_>>>()?,
        Some(one) => vec![prefetch(one, &format!("{at}.prefetch"), depth + 1, count)?],
    };
    let query = wire
        .query
        .filter(|q| !q.is_null())
        .map(|q| stage_query(q, at))
        .transpose()?;
    if wire.lookup_from.is_some()
        && !matches!(
            &query,
            Some(StageQuery::Nearest {
                input: Input::Point(_),
                ..
            })
        )
    {
        return Err(ApiError::bad_request(format!(
            "{at}.lookup_from: needs a point id query whose vector it provides"
        )));
    }
    let using = wire.using.unwrap_or_default();
    // A fusion, or a stage passing its prefetch on, searches no vector.
    // Its `params` are accepted all the same: Qdrant defines them for
    // stages without prefetches, and LangChain's hybrid search sends the
    // same params to the fusion as to its prefetches.
    if !using.is_empty() && !matches!(query, Some(StageQuery::Nearest { .. })) {
        return Err(ApiError::bad_request(format!(
            "{at}.using: `{using}` names a vector, but this stage searches none (it {})",
            if query.is_some() {
                "fuses its prefetches"
            } else {
                "passes its prefetch on"
            }
        )));
    }
    // Without `vector`, the stage's `using` names the vector there too:
    // what Qdrant does (its client's docs say "the default vector", its
    // local mode and server take `using`).
    let lookup_from = wire.lookup_from.map(|l| LookupFrom {
        collection: l.collection,
        vector: l.vector.unwrap_or_else(|| using.clone()),
    });
    let (ef, exact) = params(wire.params, &format!("{at}.params"))?;
    Ok(Stage {
        prefetch,
        query,
        using,
        filter: wire.filter,
        limit: wire.limit.unwrap_or(DEFAULT_LIMIT),
        score_threshold: wire.score_threshold,
        ef,
        exact,
        lookup_from,
    })
}

fn prefetch(value: Value, at: &str, depth: usize, count: &mut usize) -> ApiResult<Stage> {
    let wire: PrefetchQuery =
        serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("{at}: {e}")))?;
    stage(wire.into(), at, depth, count)
}

/// Decodes the `query` of the stage at `at`.
fn stage_query(value: Value, at: &str) -> ApiResult<StageQuery> {
    let at = format!("{at}.query");
    let Value::Object(mut map) = value else {
        return Ok(StageQuery::Nearest {
            input: input(value, &at)?,
            mmr: None,
        });
    };
    const UNSUPPORTED: [&str; 6] = [
        "recommend",
        "discover",
        "context",
        "order_by",
        "formula",
        "sample",
    ];
    if let Some(kind) = UNSUPPORTED.iter().find(|k| map.contains_key(**k)) {
        return Err(ApiError::bad_request(format!(
            "{at}: `{kind}` queries are not supported; use a vector, a point id, a Document, \
             `nearest` (with `mmr`), `fusion` or `rrf`"
        )));
    }
    let only = |map: &serde_json::Map<String, Value>, keys: &[&str]| -> ApiResult<()> {
        match map.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(ApiError::bad_request(format!(
                "{at}: unknown field `{k}` beside `{}`",
                keys[0]
            ))),
            None => Ok(()),
        }
    };
    if let Some(nearest) = map.remove("nearest") {
        only(&map, &["nearest", "mmr"])?;
        let mmr = match map.remove("mmr") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value::<MmrWire>(v)
                    .map_err(|e| ApiError::bad_request(format!("{at}.mmr: {e}")))?,
            ),
        };
        return Ok(StageQuery::Nearest {
            input: input(nearest, &format!("{at}.nearest"))?,
            mmr,
        });
    }
    if let Some(fusion) = map.remove("fusion") {
        only(&map, &["fusion"])?;
        return match fusion.as_str() {
            Some("rrf") => Ok(StageQuery::Fusion(Fusion::Rrf { k: DEFAULT_RRF_K })),
            Some("dbsf") => Ok(StageQuery::Fusion(Fusion::Dbsf)),
            _ => Err(ApiError::bad_request(format!(
                "{at}.fusion: expected \"rrf\" or \"dbsf\", got {fusion}"
            ))),
        };
    }
    if let Some(rrf) = map.remove("rrf") {
        only(&map, &["rrf"])?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RrfWire {
            k: Option<usize>,
        }
        let rrf: RrfWire = serde_json::from_value(rrf)
            .map_err(|e| ApiError::bad_request(format!("{at}.rrf: {e}")))?;
        return Ok(StageQuery::Fusion(Fusion::Rrf {
            k: rrf.k.unwrap_or(DEFAULT_RRF_K),
        }));
    }
    Ok(StageQuery::Nearest {
        input: input(Value::Object(map), &at)?,
        mmr: None,
    })
}

/// The engine's stage for `stage`, its point id queries replaced by the
/// stored vectors they name.
fn resolve(stage: &Stage, c: &Collection, lookup: Lookup<'_>) -> ApiResult<quiver_core::Prefetch> {
    let prefetch = stage
        .prefetch
        .iter()
        .map(|p| resolve(p, c, lookup))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut filter = stage.filter.clone();
    let query = match &stage.query {
        None => None,
        Some(StageQuery::Fusion(f)) => Some(quiver_core::Query::Fusion(*f)),
        Some(StageQuery::Nearest { input, mmr }) => {
            let vector = match input {
                Input::Vector(v) => v.clone(),
                Input::Point(id) => {
                    let vector = point_vector(*id, stage, c, lookup)?;
                    // As in Qdrant, the point a query names is not among its
                    // answers, unless it comes from another collection.
                    if stage.lookup_from.is_none() {
                        filter = Some(excluding(filter, *id));
                    }
                    vector
                }
            };
            Some(match mmr {
                None => quiver_core::Query::Nearest(vector),
                Some(m) => quiver_core::Query::Mmr {
                    vector,
                    mmr: quiver_core::Mmr {
                        diversity: m.diversity.unwrap_or(DEFAULT_DIVERSITY),
                        candidates: m.candidates_limit.unwrap_or(stage.limit),
                    },
                },
            })
        }
    };
    Ok(quiver_core::Prefetch {
        prefetch,
        query,
        using: stage.using.clone(),
        filter,
        limit: stage.limit,
        score_threshold: stage.score_threshold,
        ef: stage.ef,
        exact: stage.exact,
    })
}

/// The stored vector a point id query names: vector `using` of point `id`
/// in `c`, or with `lookup_from`, vector `lookup_from.vector` (default:
/// `using`) of point `id` in `lookup_from.collection`.
fn point_vector(
    id: PointId,
    stage: &Stage,
    c: &Collection,
    lookup: Lookup<'_>,
) -> ApiResult<Vector> {
    let (source, name, place) = match &stage.lookup_from {
        None => (None, stage.using.as_str(), String::new()),
        Some(l) => (
            Some(lookup(&l.collection)?),
            l.vector.as_str(),
            format!(" in collection `{}`", l.collection),
        ),
    };
    let source: &Collection = source.as_deref().unwrap_or(c);
    let record = source
        .get(&[id], false, true)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("query point {id} not found{place}")))?;
    record
        .vectors
        .and_then(|mut v| v.remove(name))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "query point {id}{place} has no vector `{name}` ({})",
                if stage.lookup_from.is_some() {
                    "`lookup_from.vector`"
                } else {
                    "the stage's `using`"
                }
            ))
        })
}

/// `filter` and also "not point `id`".
fn excluding(filter: Option<Filter>, id: PointId) -> Filter {
    let mut filter = filter.unwrap_or_default();
    filter.must_not.push(Condition::HasId(HasIdCondition {
        has_id: [id].into(),
    }));
    filter
}

/// What a list of plans may return, summed.
pub fn demand_of(plans: &[QueryPlan]) -> Demand {
    let mut demand = Demand::default();
    for plan in plans {
        plan.demand(&mut demand);
    }
    demand
}

/// Checks `plans` against the result budget of `c`: the largest selection
/// of dense vectors any of them returns is counted for all.
///
/// # Errors
/// 400 as [`Demand::check`].
pub fn check_budget(plans: &[QueryPlan], config: &CollectionConfig, max: usize) -> ApiResult<()> {
    let floats = plans
        .iter()
        .map(|p| p.with_vector.dense_floats(config))
        .max()
        .unwrap_or(0);
    demand_of(plans).check(floats, max)
}

/// Checks results already built against the budget, by their actual
/// vectors (each result given as its vectors and whether it carries a
/// payload): sparse vectors have no size known before they are read.
///
/// # Errors
/// 400 naming the size and the limit.
pub fn check_answer<'a>(
    results: impl IntoIterator<Item = (Option<&'a VectorOutput>, bool)>,
    max: usize,
) -> ApiResult<()> {
    let bytes: u64 = results
        .into_iter()
        .map(|(vector, payload)| {
            HIT_OVERHEAD_BYTES
                + vector.map_or(0, vector_bytes)
                + if payload { PAYLOAD_ESTIMATE_BYTES } else { 0 }
        })
        .sum();
    if bytes > max as u64 {
        return Err(ApiError::bad_request(format!(
            "the answer holds {bytes} bytes of results (sparse vectors at 8 bytes an entry), \
             more than max_result_bytes = {max}; lower `limit`, leave out `with_vector` or \
             split the request"
        )));
    }
    Ok(())
}

/// The results of `answers` as [`check_answer`] takes them.
pub fn results_of(
    answers: &[Vec<ScoredPoint>],
) -> impl Iterator<Item = (Option<&VectorOutput>, bool)> {
    answers
        .iter()
        .flatten()
        .map(|p| (p.vector.as_ref(), p.payload.is_some()))
}

/// Runs `plans` on collection `name` on the blocking pool, budget first.
///
/// # Errors
/// 404 for no such collection; the errors of [`QueryPlan::run`] and the
/// budget checks.
pub async fn run_plans(
    state: &AppState,
    name: String,
    plans: Vec<QueryPlan>,
) -> ApiResult<Vec<Vec<ScoredPoint>>> {
    let db = Arc::clone(&state.db);
    let max = state.max_result_bytes;
    blocking(move || {
        let c = db.collection(&name)?;
        check_budget(&plans, &c.config(), max)?;
        let lookup = |other: &str| -> ApiResult<Arc<Collection>> { Ok(db.collection(other)?) };
        let answers = plans
            .into_iter()
            .map(|p| p.run(&c, &lookup))
            .collect::<ApiResult<Vec<_>>>()?;
        check_answer(results_of(&answers), max)?;
        Ok(answers)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(body: Value) -> ApiResult<QueryPlan> {
        let r: QueryRequest =
            serde_json::from_value(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        QueryPlan::from_query(r)
    }

    fn err(body: Value) -> String {
        plan(body).unwrap_err().message().to_owned()
    }

    #[test]
    fn query_forms_decode_into_stages() {
        let top = |b: Value| plan(b).unwrap().top.unwrap();
        let q = top(json!({"query": [1.0, 2.0]}));
        assert_eq!(
            q.query,
            Some(StageQuery::Nearest {
                input: Input::Vector(Vector::Dense(vec![1.0, 2.0])),
                mmr: None
            })
        );
        let q = top(json!({"query": {"nearest": 5}, "using": "img"}));
        assert_eq!(q.using, "img");
        assert!(matches!(
            q.query,
            Some(StageQuery::Nearest {
                input: Input::Point(PointId::Num(5)),
                ..
            })
        ));
        let q = top(
            json!({"query": {"nearest": [1.0], "mmr": {"diversity": 0.2, "candidates_limit": 7}}}),
        );
        assert!(matches!(
            q.query,
            Some(StageQuery::Nearest { mmr: Some(MmrWire { diversity: Some(d), candidates_limit: Some(7) }), .. }) if d == 0.2
        ));
        let q = top(json!({"query": {"fusion": "dbsf"}, "prefetch": {"query": [1.0]}}));
        assert_eq!(q.query, Some(StageQuery::Fusion(Fusion::Dbsf)));
        assert_eq!(q.prefetch.len(), 1);
        assert_eq!(q.prefetch[0].limit, DEFAULT_LIMIT);
        let q = top(json!({"query": {"rrf": {"k": 60}}, "prefetch": [
            {"query": [1.0], "limit": 30, "params": {"hnsw_ef": 64, "exact": true}},
            {"query": {"indices": [1], "values": [1.0]}, "using": "bm25", "score_threshold": 0.5,
             "prefetch": {"query": [2.0], "filter": {"must": []}}}
        ]}));
        assert_eq!(q.query, Some(StageQuery::Fusion(Fusion::Rrf { k: 60 })));
        assert_eq!(q.prefetch[0].limit, 30);
        assert_eq!(q.prefetch[0].ef, Some(64));
        assert!(q.prefetch[0].exact);
        assert_eq!(q.prefetch[1].using, "bm25");
        assert_eq!(q.prefetch[1].score_threshold, Some(0.5));
        assert_eq!(q.prefetch[1].prefetch.len(), 1);
        let q = top(json!({"query": {"fusion": "rrf"}, "prefetch": []}));
        assert_eq!(
            q.query,
            Some(StageQuery::Fusion(Fusion::Rrf { k: DEFAULT_RRF_K }))
        );
        assert!(plan(json!({"limit": 3})).unwrap().top.is_none());
    }

    #[test]
    fn refused_query_fields_are_named() {
        for (body, needle) in [
            (json!({"query": {"recommend": {}}}), "`recommend`"),
            (json!({"query": {"order_by": "x"}}), "`order_by`"),
            (
                json!({"query": {"nearest": [1.0], "x": 1}}),
                "unknown field `x`",
            ),
            (
                json!({"query": {"nearest": [1.0], "mmr": {"lambda": 1}}}),
                "lambda",
            ),
            (json!({"query": {"fusion": "max"}}), "query.query.fusion"),
            (
                json!({"query": {"rrf": {"k": 2, "weights": [1.0]}}}),
                "weights",
            ),
            (
                json!({"query": [1.0], "params": {"quantization": {"rescore": true}}}),
                "params.quantization",
            ),
            (json!({"query": [1.0], "params": {"acorn": {}}}), "acorn"),
            (
                json!({"query": [1.0], "prefetch": {"query": [1.0], "params": {"quantization": {}}}}),
                "query.prefetch.params.quantization",
            ),
            (
                json!({"query": [1.0], "prefetch": [{"query": [1.0], "bogus": 1}]}),
                "query.prefetch[0]: unknown field `bogus`",
            ),
            (
                json!({"query": [1.0], "lookup_from": {"collection": "o"}}),
                "lookup_from",
            ),
            (
                json!({"query": 1, "lookup_from": {"collection": "o", "x": 1}}),
                "`x`",
            ),
            (json!({"score_threshold": 0.5}), "score_threshold"),
            (json!({"lookup_from": {"collection": "o"}}), "lookup_from"),
            (
                json!({"query": {"nearest": [1.0], "mmr": {}}, "offset": 2}),
                "offset",
            ),
            (
                json!({"query": [1.0], "limit": 100_000, "offset": 1}),
                "limit + offset",
            ),
            (json!({"query": [1.0], "bogus": true}), "bogus"),
            (
                json!({"query": {"fusion": "rrf"}, "using": "d", "prefetch": {"query": [1.0]}}),
                "query.using: `d`",
            ),
            (
                json!({"prefetch": {"query": [1.0], "prefetch": {"query": [1.0]}, "using": "d"}, "using": "e"}),
                "passes its prefetch on",
            ),
        ] {
            let m = err(body.clone());
            assert!(m.contains(needle), "{body}: {m} lacks {needle}");
        }
    }

    #[test]
    fn prefetch_trees_are_bounded_in_depth_and_size() {
        let mut deep = json!({"query": [1.0]});
        for _ in 0..=quiver_core::MAX_PREFETCH_DEPTH {
            deep = json!({"query": [1.0], "prefetch": deep});
        }
        assert!(err(deep).contains("deeper"));
        let wide: Vec<Value> = (0..MAX_STAGES).map(|_| json!({"query": [1.0]})).collect();
        let m = err(json!({"query": {"fusion": "rrf"}, "prefetch": wide}));
        assert!(m.contains("at most 64 stages"), "{m}");
    }
}
