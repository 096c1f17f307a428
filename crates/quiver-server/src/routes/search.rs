//! Reads that rank or list: search, batch search, universal query, scroll,
//! count. Searches and queries are decoded and run by [`super::query`].

use axum::extract::State;
use quiver_core::MAX_K;

use super::budget::Demand;
use super::model::{
    CountRequest, CountResult, QueryRequest, QueryRequestBatch, QueryResponse, ScoredPoint,
    ScrollRequest, ScrollResult, SearchBatch, SearchRequest, WithPayload, WithVector,
};
use super::points::records;
use super::query::{DEFAULT_LIMIT, QueryPlan, run_plans};
use super::{AppState, with_collection};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};

/// Nearest neighbours of a vector (the default, or a named dense or sparse one).
#[utoipa::path(post, path = "/collections/{name}/points/search", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Hits, best first", body = Envelope<Vec<ScoredPoint>>),
        (status = 400, description = "Wrong dimension, unknown vector or bad filter"),
        (status = 404, description = "No such collection"),
    ))]
pub async fn search(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SearchRequest>,
) -> ApiResult<Envelope<Vec<ScoredPoint>>> {
    let plan = QueryPlan::from_search(body)?;
    let mut answers = run_plans(&state, name, vec![plan]).await?;
    Ok(ok(answers.pop().unwrap_or_default()))
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
        .map(QueryPlan::from_search)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(ok(run_plans(&state, name, plans).await?))
}

/// Universal query: nearest to a vector, a sparse vector, a point or a
/// text (BM25), in stages (prefetches fused or re-scored), or a filtered
/// listing.
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
    let plan = QueryPlan::from_query(body)?;
    let mut answers = run_plans(&state, name, vec![plan]).await?;
    Ok(ok(QueryResponse {
        points: answers.pop().unwrap_or_default(),
    }))
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
        .map(QueryPlan::from_query)
        .collect::<ApiResult<Vec<_>>>()?;
    let answers = run_plans(&state, name, plans).await?;
    Ok(ok(answers
        .into_iter()
        .map(|points| QueryResponse { points })
        .collect()))
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
