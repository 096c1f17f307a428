//! Point writes and retrieval: upsert, get by ids, delete, payload updates.

use axum::extract::State;
use quiver_core::{Collection, Point, PointId};
use uuid::Uuid;

use super::budget::Demand;
use super::model::{
    DeletePayload, PointInsertOperations, PointRequest, PointsSelector, Record, SetPayload,
    UpdateResult, WaitParams, WithPayload,
};
use super::{AppState, selector, with_collection};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::writes::Gate;

/// Checks every vector's length against the collection's dimension, as
/// the engine would, so that the mistake is answered even without waiting.
pub(crate) fn dimensions_of(
    points: &[Point],
) -> impl FnOnce(&Collection) -> ApiResult<()> + Send + use<> {
    let mut lens: Vec<usize> = points
        .iter()
        .filter_map(|p| {
            p.vectors
                .get("")
                .and_then(|v| v.as_dense())
                .map(<[f32]>::len)
        })
        .collect();
    lens.sort_unstable();
    lens.dedup();
    move |c| {
        let config = c.config();
        let expected = config.dense("")?.dimension;
        match lens.into_iter().find(|&got| got != expected) {
            Some(got) => Err(quiver_core::Error::DimensionMismatch { expected, got }.into()),
            None => Ok(()),
        }
    }
}

fn no_check(_: &Collection) -> ApiResult<()> {
    Ok(())
}

/// The points of an upsert body, in either of Qdrant's two forms.
pub(crate) fn points_of(body: PointInsertOperations) -> ApiResult<Vec<Point>> {
    match (body.points, body.batch) {
        (Some(points), None) => Ok(points
            .into_iter()
            .map(|p| Point {
                payload: p.payload,
                ..Point::new(p.id, p.vector.0)
            })
            .collect()),
        (None, Some(batch)) => {
            let n = batch.ids.len();
            let vectors = batch.vectors.0;
            if vectors.len() != n {
                return Err(ApiError::bad_request(format!(
                    "batch has {n} ids but {} vectors",
                    vectors.len()
                )));
            }
            let payloads = match batch.payloads {
                Some(p) if p.len() != n => {
                    return Err(ApiError::bad_request(format!(
                        "batch has {n} ids but {} payloads",
                        p.len()
                    )));
                }
                Some(p) => p,
                None => vec![None; n],
            };
            Ok(batch
                .ids
                .into_iter()
                .zip(vectors)
                .zip(payloads)
                .map(|((id, vector), payload)| Point {
                    payload,
                    ..Point::new(id, vector)
                })
                .collect())
        }
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give either `points` or `batch`, not both",
        )),
        (None, None) => Err(ApiError::bad_request(
            "missing points: give `points` (a list of {id, vector, payload}) or `batch` ({ids, vectors, payloads})",
        )),
    }
}

/// Insert or replace points.
#[utoipa::path(put, path = "/collections/{name}/points", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = PointInsertOperations,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 400, description = "Bad point (nothing written)"),
        (status = 404, description = "No such collection"),
    ))]
pub async fn upsert(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<PointInsertOperations>,
) -> ApiResult<Envelope<UpdateResult>> {
    let points = points_of(body)?;
    let check = dimensions_of(&points);
    state
        .write(&gate, name, wait.wait(), check, move |c| {
            Ok(Some(c.upsert(points)?.operation_id))
        })
        .await
}

/// Converts engine records to wire records, applying payload key selection.
pub fn records(found: Vec<quiver_core::Record>, with_payload: &WithPayload) -> Vec<Record> {
    found
        .into_iter()
        .map(|r| Record {
            id: r.id,
            vector: r.vector().map(<[f32]>::to_vec),
            payload: r.payload.map(|p| with_payload.project(p)),
        })
        .collect()
}

/// Get points by ids (missing ids are skipped).
#[utoipa::path(post, path = "/collections/{name}/points", tag = "points",
    params(("name" = String, Path, description = "Collection name")),
    request_body = PointRequest,
    responses(
        (status = 200, description = "The points found, in request order", body = Envelope<Vec<Record>>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn retrieve(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PointRequest>,
) -> ApiResult<Envelope<Vec<Record>>> {
    let with_payload = body.with_payload.unwrap_or(WithPayload::Enable(true));
    let with_vector = body.with_vector.is_some_and(|w| w.wanted());
    let wants_payload = with_payload.wanted();
    let mut demand = Demand::default();
    demand.add(body.ids.len(), with_vector, wants_payload);
    let max = state.max_result_bytes;
    let found = with_collection(&state, name, move |c| {
        demand.check(c.config().floats_per_point(), max)?;
        Ok(c.get(&body.ids, wants_payload, with_vector)?)
    })
    .await?;
    Ok(ok(records(found, &with_payload)))
}

/// Parses a point id from a path segment: an unsigned integer or a UUID.
fn parse_id(text: &str) -> ApiResult<PointId> {
    if let Ok(n) = text.parse::<u64>() {
        return Ok(PointId::Num(n));
    }
    Uuid::parse_str(text).map(PointId::Uuid).map_err(|_| {
        ApiError::bad_request(format!(
            "invalid point id `{text}`: expected an unsigned integer or a UUID"
        ))
    })
}

/// Get one point, with payload and vector.
#[utoipa::path(get, path = "/collections/{name}/points/{id}", tag = "points",
    params(("name" = String, Path, description = "Collection name"),
           ("id" = String, Path, description = "Point id: unsigned integer or UUID")),
    responses(
        (status = 200, description = "The point", body = Envelope<Record>),
        (status = 404, description = "No such collection or point"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> ApiResult<Envelope<Record>> {
    let id = parse_id(&id)?;
    let found = with_collection(&state, name, move |c| Ok(c.get(&[id], true, true)?)).await?;
    let record = records(found, &WithPayload::Enable(true))
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("point {id} not found")))?;
    Ok(ok(record))
}

/// Delete points by ids or filter.
#[utoipa::path(post, path = "/collections/{name}/points/delete", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = PointsSelector,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<PointsSelector>,
) -> ApiResult<Envelope<UpdateResult>> {
    let selector = selector(body.points, body.filter, wait.wait())?;
    state
        .write(&gate, name, wait.wait(), no_check, move |c| {
            Ok(Some(c.delete(&selector)?.operation_id))
        })
        .await
}

pub(crate) fn no_nested_key(key: Option<&String>) -> ApiResult<()> {
    match key {
        Some(k) => Err(ApiError::bad_request(format!(
            "setting payload under a nested `key` (`{k}`) is not supported; set the top-level keys instead"
        ))),
        None => Ok(()),
    }
}

/// Set payload keys (merge: other keys stay).
#[utoipa::path(post, path = "/collections/{name}/points/payload", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = SetPayload,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn set_payload(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<SetPayload>,
) -> ApiResult<Envelope<UpdateResult>> {
    no_nested_key(body.key.as_ref())?;
    let selector = selector(body.points, body.filter, wait.wait())?;
    state
        .write(&gate, name, wait.wait(), no_check, move |c| {
            Ok(Some(c.set_payload(&selector, body.payload)?.operation_id))
        })
        .await
}

/// Replace the whole payload.
#[utoipa::path(put, path = "/collections/{name}/points/payload", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = SetPayload,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn overwrite_payload(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<SetPayload>,
) -> ApiResult<Envelope<UpdateResult>> {
    no_nested_key(body.key.as_ref())?;
    let selector = selector(body.points, body.filter, wait.wait())?;
    state
        .write(&gate, name, wait.wait(), no_check, move |c| {
            Ok(Some(
                c.overwrite_payload(&selector, body.payload)?.operation_id,
            ))
        })
        .await
}

/// Remove payload keys.
#[utoipa::path(post, path = "/collections/{name}/points/payload/delete", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = DeletePayload,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn delete_payload(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<DeletePayload>,
) -> ApiResult<Envelope<UpdateResult>> {
    let selector = selector(body.points, body.filter, wait.wait())?;
    state
        .write(&gate, name, wait.wait(), no_check, move |c| {
            Ok(Some(
                c.delete_payload_keys(&selector, &body.keys)?.operation_id,
            ))
        })
        .await
}

/// Remove the whole payload.
#[utoipa::path(post, path = "/collections/{name}/points/payload/clear", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = PointsSelector,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn clear_payload(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<PointsSelector>,
) -> ApiResult<Envelope<UpdateResult>> {
    let selector = selector(body.points, body.filter, wait.wait())?;
    state
        .write(&gate, name, wait.wait(), no_check, move |c| {
            Ok(Some(c.clear_payload(&selector)?.operation_id))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_form_must_have_one_vector_per_id() {
        let body: PointInsertOperations = serde_json::from_value(json!({
            "batch": {"ids": [1, 2], "vectors": [[1.0, 2.0]]}
        }))
        .unwrap();
        assert!(
            points_of(body)
                .unwrap_err()
                .message()
                .contains("2 ids but 1 vectors")
        );
        let body: PointInsertOperations = serde_json::from_value(json!({
            "batch": {"ids": [1, 2], "vectors": [[1.0], [2.0]], "payloads": [{"a": 1}, null]}
        }))
        .unwrap();
        let points = points_of(body).unwrap();
        assert_eq!(points.len(), 2);
        assert!(points[1].payload.is_none());
    }

    #[test]
    fn path_ids_are_integers_or_uuids() {
        assert_eq!(parse_id("7").unwrap(), PointId::Num(7));
        assert!(matches!(
            parse_id("550e8400-e29b-41d4-a716-446655440000").unwrap(),
            PointId::Uuid(_)
        ));
        assert!(parse_id("-1").is_err());
    }
}
