//! Reads that rank or list: search, batch search, universal query, scroll,
//! count.

use axum::extract::State;
use quiver_core::filter::{Condition, Filter, HasIdCondition};
use quiver_core::{Collection, MAX_K, PointId};
use serde_json::Value;

use super::budget::Demand;
use super::model::{
    CountRequest, CountResult, QueryRequest, QueryRequestBatch, QueryResponse, ScoredPoint,
    ScrollRequest, ScrollResult, SearchBatch, SearchParams, SearchRequest, WithPayload, WithVector,
};
use super::points::records;
use super::vectors::PointVector;
use super::{AppState, accept_only, with_collection};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};

/// Default page size of scroll and query, as in Qdrant.
const DEFAULT_LIMIT: usize = 10;

/// A search decoded from the wire: the engine's request (with `k` =
/// `limit + offset`) plus what only the wire has. The engine checks the
/// request (bounds, vector, filter) when it runs.
pub(crate) struct Plan {
    query: Query,
    request: quiver_core::SearchRequest,
    offset: usize,
    with_payload: WithPayload,
}

/// What to rank by.
#[derive(Debug)]
enum Query {
    /// The request's vector.
    Vector,
    /// The stored vector of this point.
    Point(PointId),
    /// No ranking: points in id order.
    List,
}

/// Parts of Qdrant's search and query bodies that map onto the engine's request.
struct Wire {
    vector: Vec<f32>,
    filter: Option<Filter>,
    params: Option<SearchParams>,
    limit: usize,
    offset: Option<usize>,
    with_payload: Option<WithPayload>,
    with_vector: Option<WithVector>,
    score_threshold: Option<f32>,
}

impl Plan {
    fn new(query: Query, wire: Wire) -> ApiResult<Plan> {
        let offset = wire.offset.unwrap_or(0);
        // Checked here, not left to the engine: the sum of two wire fields,
        // and what the result budget is computed from.
        let k = wire.limit.saturating_add(offset);
        if k > MAX_K {
            return Err(ApiError::bad_request(format!(
                "limit + offset must be at most {MAX_K}"
            )));
        }
        let with_payload = wire.with_payload.unwrap_or(WithPayload::Enable(false));
        let params = wire.params.unwrap_or_default();
        accept_only(
            "params.quantization",
            &params.quantization,
            |_| false,
            "vectors are stored unquantized",
        )?;
        accept_only(
            "params.indexed_only",
            &params.indexed_only,
            |b| !*b,
            "every point is searched, indexed or not",
        )?;
        let mut request = quiver_core::SearchRequest::new(wire.vector, k);
        request.filter = wire.filter;
        request.ef = params.hnsw_ef;
        request.exact = params.exact;
        request.score_threshold = wire.score_threshold;
        request.with_payload = with_payload.wanted();
        request.with_vector = wire.with_vector.is_some_and(|w| w.wanted());
        Ok(Plan {
            query,
            request,
            offset,
            with_payload,
        })
    }

    pub(crate) fn from_search(r: SearchRequest) -> ApiResult<Plan> {
        Plan::new(
            Query::Vector,
            Wire {
                vector: r.vector.0,
                filter: r.filter,
                params: r.params,
                limit: r.limit,
                offset: r.offset,
                with_payload: r.with_payload,
                with_vector: r.with_vector,
                score_threshold: r.score_threshold,
            },
        )
    }

    pub(crate) fn from_query(r: QueryRequest) -> ApiResult<Plan> {
        if r.prefetch.is_some() {
            return Err(ApiError::bad_request(
                "`prefetch` (multi-stage queries) is not supported",
            ));
        }
        accept_only(
            "lookup_from",
            &r.lookup_from,
            |_| false,
            "vectors come from the queried collection",
        )?;
        if let Some(using) = r.using.as_deref().filter(|u| !u.is_empty()) {
            return Err(ApiError::bad_request(format!(
                "collections have one unnamed vector; `using: \"{using}\"` is not supported"
            )));
        }
        let (query, vector, mmr) = match query_vector(r.query)? {
            QueryVector::Vector(v, mmr) => (Query::Vector, v, mmr),
            QueryVector::Point(id) => (Query::Point(id), Vec::new(), None),
            QueryVector::None => (Query::List, Vec::new(), None),
        };
        let limit = r.limit.unwrap_or(DEFAULT_LIMIT);
        if mmr.is_some() && r.offset.unwrap_or(0) > 0 {
            return Err(ApiError::bad_request(
                "`offset` is not supported with `mmr`: the picks depend on every candidate",
            ));
        }
        let mut plan = Plan::new(
            query,
            Wire {
                vector,
                filter: r.filter,
                params: r.params,
                limit,
                offset: r.offset,
                with_payload: r.with_payload,
                with_vector: r.with_vector,
                score_threshold: r.score_threshold,
            },
        )?;
        if let Some(mmr) = mmr {
            plan.request.mmr = Some(quiver_core::Mmr {
                diversity: mmr.diversity.unwrap_or(DEFAULT_DIVERSITY),
                candidates: mmr.candidates_limit.unwrap_or(limit),
            });
        }
        Ok(plan)
    }

    /// Adds the results this search may return to `demand`.
    fn demand(&self, demand: &mut Demand) {
        demand.add(
            self.request.k,
            self.request.with_vector,
            self.request.with_payload,
        );
    }

    /// Runs on the blocking pool.
    pub(crate) fn run(mut self, c: &Collection) -> ApiResult<Vec<ScoredPoint>> {
        match self.query {
            Query::Vector => {}
            Query::Point(id) => {
                self.request.vector = c
                    .get(&[id], false, true)?
                    .into_iter()
                    .next()
                    .and_then(|r| r.vector().map(<[f32]>::to_vec))
                    .ok_or_else(|| ApiError::not_found(format!("query point {id} not found")))?
                    .into();
                // As in Qdrant, the point a query names is not among its answers.
                self.request.filter = Some(excluding(self.request.filter.take(), id));
            }
            Query::List => return self.list(c),
        }
        let hits = c.search(&self.request)?;
        Ok(hits
            .into_iter()
            .skip(self.offset)
            .map(|h| ScoredPoint {
                id: h.id,
                version: 0,
                score: h.score,
                vector: h.vector().map(<[f32]>::to_vec),
                payload: h.payload.map(|p| self.with_payload.project(p)),
            })
            .collect())
    }

    /// A query without a vector: matching points in id order, score 0.
    fn list(self, c: &Collection) -> ApiResult<Vec<ScoredPoint>> {
        let page = c.scroll(&quiver_core::ScrollRequest {
            filter: self.request.filter,
            limit: self.request.k,
            offset: None,
            with_payload: self.request.with_payload,
            with_vector: self.request.with_vector,
        })?;
        Ok(page
            .points
            .into_iter()
            .skip(self.offset)
            .map(|r| ScoredPoint {
                id: r.id,
                version: 0,
                score: 0.0,
                vector: r.vector().map(<[f32]>::to_vec),
                payload: r.payload.map(|p| self.with_payload.project(p)),
            })
            .collect())
    }
}

/// The `query` of a universal query, decoded.
#[derive(Debug)]
enum QueryVector {
    /// This vector, re-ranked by maximal marginal relevance when `mmr` is set.
    Vector(Vec<f32>, Option<MmrWire>),
    /// The stored vector of this point.
    Point(PointId),
    /// No ranking: points in id order.
    None,
}

/// What a list of searches may return, summed.
pub(crate) fn demand_of(plans: &[Plan]) -> Demand {
    let mut demand = Demand::default();
    for plan in plans {
        plan.demand(&mut demand);
    }
    demand
}

/// Qdrant's default `mmr.diversity`.
const DEFAULT_DIVERSITY: f32 = 0.5;

/// `mmr` of a nearest query; the engine checks the bounds.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MmrWire {
    diversity: Option<f32>,
    candidates_limit: Option<usize>,
}

/// Decodes `query`: a vector, a point id, `{"nearest": vector | id}` (with
/// `mmr` beside a vector), or absent.
fn query_vector(query: Option<Value>) -> ApiResult<QueryVector> {
    let Some(query) = query else {
        return Ok(QueryVector::None);
    };
    let (inner, mmr) = match query {
        Value::Object(mut map) => {
            let nearest = map.remove("nearest");
            let mmr = map.remove("mmr");
            match nearest {
                Some(nearest) if map.is_empty() => (nearest, mmr),
                _ => {
                    let kinds: Vec<String> = map.keys().map(|k| format!("`{k}`")).collect();
                    return Err(ApiError::bad_request(format!(
                        "unsupported query {}: use a vector, a point id or {{\"nearest\": ..}}",
                        kinds.join(", ")
                    )));
                }
            }
        }
        other => (other, None),
    };
    let mmr = match mmr {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value::<MmrWire>(value)
                .map_err(|e| ApiError::bad_request(format!("query.mmr: {e}")))?,
        ),
    };
    match inner {
        Value::Array(_) | Value::Object(_) => serde_json::from_value::<PointVector>(inner)
            .map(|v| QueryVector::Vector(v.0, mmr))
            .map_err(|e| ApiError::bad_request(format!("query vector: {e}"))),
        Value::Number(_) | Value::String(_) if mmr.is_some() => Err(ApiError::bad_request(
            "`mmr` needs a query vector, not a point id",
        )),
        Value::Number(_) | Value::String(_) => serde_json::from_value(inner)
            .map(QueryVector::Point)
            .map_err(|_| {
                ApiError::bad_request("query point id must be an unsigned integer or a UUID")
            }),
        other => Err(ApiError::bad_request(format!(
            "query must be a vector, a point id or {{\"nearest\": ..}}, got {other}"
        ))),
    }
}

/// `filter` and also "not point `id`".
fn excluding(filter: Option<Filter>, id: PointId) -> Filter {
    let mut filter = filter.unwrap_or_default();
    filter.must_not.push(Condition::HasId(HasIdCondition {
        has_id: [id].into(),
    }));
    filter
}

/// Nearest neighbours of a vector.
#[utoipa::path(post, path = "/collections/{name}/points/search", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Hits, best first", body = Envelope<Vec<ScoredPoint>>),
        (status = 400, description = "Wrong dimension or bad filter"),
        (status = 404, description = "No such collection"),
    ))]
pub async fn search(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SearchRequest>,
) -> ApiResult<Envelope<Vec<ScoredPoint>>> {
    let plan = Plan::from_search(body)?;
    let demand = demand_of(std::slice::from_ref(&plan));
    let max = state.max_result_bytes;
    let hits = with_collection(&state, name, move |c| {
        demand.check(c.config().floats_per_point(), max)?;
        plan.run(c)
    })
    .await?;
    Ok(ok(hits))
}

/// Several searches in one request.
#[utoipa::path(post, path = "/collections/{name}/points/search/batch", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = SearchBatch,
    responses(
        (status = 200, description = "One hit list per search", body = Envelope<Vec<Vec<ScoredPoint>>>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn search_batch(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SearchBatch>,
) -> ApiResult<Envelope<Vec<Vec<ScoredPoint>>>> {
    let plans = body
        .searches
        .into_iter()
        .map(Plan::from_search)
        .collect::<ApiResult<Vec<_>>>()?;
    let demand = demand_of(&plans);
    let max = state.max_result_bytes;
    let hits = with_collection(&state, name, move |c| {
        demand.check(c.config().floats_per_point(), max)?;
        plans.into_iter().map(|p| p.run(c)).collect()
    })
    .await?;
    Ok(ok(hits))
}

/// Universal query: nearest to a vector or a point, or a filtered listing.
#[utoipa::path(post, path = "/collections/{name}/points/query", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = QueryRequest,
    responses(
        (status = 200, description = "Hits, best first", body = Envelope<QueryResponse>),
        (status = 400, description = "Wrong dimension, bad filter or unsupported query"),
        (status = 404, description = "No such collection or query point"),
    ))]
pub async fn query(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<QueryRequest>,
) -> ApiResult<Envelope<QueryResponse>> {
    let plan = Plan::from_query(body)?;
    let demand = demand_of(std::slice::from_ref(&plan));
    let max = state.max_result_bytes;
    let points = with_collection(&state, name, move |c| {
        demand.check(c.config().floats_per_point(), max)?;
        plan.run(c)
    })
    .await?;
    Ok(ok(QueryResponse { points }))
}

/// Several universal queries in one request.
#[utoipa::path(post, path = "/collections/{name}/points/query/batch", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = QueryRequestBatch,
    responses(
        (status = 200, description = "One answer per query", body = Envelope<Vec<QueryResponse>>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn query_batch(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<QueryRequestBatch>,
) -> ApiResult<Envelope<Vec<QueryResponse>>> {
    let plans = body
        .searches
        .into_iter()
        .map(Plan::from_query)
        .collect::<ApiResult<Vec<_>>>()?;
    let demand = demand_of(&plans);
    let max = state.max_result_bytes;
    let answers = with_collection(&state, name, move |c| {
        demand.check(c.config().floats_per_point(), max)?;
        plans
            .into_iter()
            .map(|p| p.run(c).map(|points| QueryResponse { points }))
            .collect()
    })
    .await?;
    Ok(ok(answers))
}

/// Page through points in id order.
#[utoipa::path(post, path = "/collections/{name}/points/scroll", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = ScrollRequest,
    responses(
        (status = 200, description = "One page", body = Envelope<ScrollResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn scroll(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ScrollRequest>,
) -> ApiResult<Envelope<ScrollResult>> {
    let (request, with_payload, with_vector, demand) = scroll_of(body)?;
    let max = state.max_result_bytes;
    let (points, next_page_offset) = with_collection(&state, name, move |c| {
        let config = c.config();
        with_vector.check(&config)?;
        demand.check(with_vector.dense_floats(&config), max)?;
        let page = c.scroll(&request)?;
        let points = records(page.points, &with_payload, Some(&with_vector), &demand, max)?;
        Ok((points, page.next_offset))
    })
    .await?;
    Ok(ok(ScrollResult {
        points,
        next_page_offset,
    }))
}

/// The engine's request for a scroll body, the payload keys and vectors to
/// return and the results it may return.
///
/// # Errors
/// 400 for `order_by` or a limit over the maximum.
pub(crate) fn scroll_of(
    body: ScrollRequest,
) -> ApiResult<(quiver_core::ScrollRequest, WithPayload, WithVector, Demand)> {
    if body.order_by.is_some() {
        return Err(ApiError::bad_request(
            "`order_by` is not supported: scroll pages are in id order",
        ));
    }
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_K {
        return Err(ApiError::bad_request(format!(
            "limit must be at most {MAX_K}"
        )));
    }
    let with_payload = body.with_payload.unwrap_or(WithPayload::Enable(true));
    let with_vector = body.with_vector.unwrap_or(WithVector::Enable(false));
    let request = quiver_core::ScrollRequest {
        filter: body.filter,
        limit,
        offset: body.offset,
        with_payload: with_payload.wanted(),
        with_vector: with_vector.wanted(),
    };
    let mut demand = Demand::default();
    demand.add(limit, request.with_vector, request.with_payload);
    Ok((request, with_payload, with_vector, demand))
}

/// Count points, optionally matching a filter.
#[utoipa::path(post, path = "/collections/{name}/points/count", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = CountRequest,
    responses(
        (status = 200, description = "The count", body = Envelope<CountResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn count(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<CountRequest>,
) -> ApiResult<Envelope<CountResult>> {
    let filter = body.filter;
    let count = with_collection(&state, name, move |c| Ok(c.count(filter.as_ref())?)).await?;
    Ok(ok(CountResult { count }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_accepts_vector_nearest_and_point_id_forms() {
        assert!(
            matches!(query_vector(Some(json!([1.0, 2.0]))).unwrap(), QueryVector::Vector(v, None) if v == [1.0, 2.0])
        );
        assert!(matches!(
            query_vector(Some(json!({"nearest": [1.0]}))).unwrap(),
            QueryVector::Vector(_, None)
        ));
        assert!(matches!(
            query_vector(Some(json!({"nearest": {"": [1.0]}}))).unwrap(),
            QueryVector::Vector(v, None) if v == [1.0]
        ));
        let mmr = json!({"nearest": [1.0], "mmr": {"diversity": 0.2, "candidates_limit": 7}});
        assert!(matches!(
            query_vector(Some(mmr)).unwrap(),
            QueryVector::Vector(_, Some(MmrWire { diversity: Some(d), candidates_limit: Some(7) })) if d == 0.2
        ));
        let e = query_vector(Some(json!({"nearest": [1.0], "mmr": {"lambda": 1}}))).unwrap_err();
        assert!(e.message().contains("lambda"), "{}", e.message());
        let e = query_vector(Some(json!({"nearest": 3, "mmr": {}}))).unwrap_err();
        assert!(e.message().contains("point id"), "{}", e.message());
        assert!(matches!(
            query_vector(Some(json!({"nearest": 5}))).unwrap(),
            QueryVector::Point(PointId::Num(5))
        ));
        assert!(matches!(query_vector(None).unwrap(), QueryVector::None));
        let e = query_vector(Some(json!({"recommend": {}}))).unwrap_err();
        assert!(e.message().contains("recommend"), "{}", e.message());
        assert!(query_vector(Some(json!(true))).is_err());
    }
}
