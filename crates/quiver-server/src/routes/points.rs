//! Point writes and retrieval: upsert, get by ids, delete, vector and
//! payload updates.

use axum::extract::State;
use quiver_core::{Collection, NamedVectors, Point, PointId};
use uuid::Uuid;

use super::budget::{Demand, vector_bytes};
use super::model::{
    DeletePayload, DeleteVectors, PointInsertOperations, PointRequest, PointsSelector, Record,
    SetPayload, UpdateResult, UpdateVectors, WaitParams, WithPayload, WithVector, has_vector,
    unknown_vector,
};
use super::vectors::{Embedder, VectorOutput};
use super::{AppState, blocking, selector, with_collection};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::writes::Gate;

/// The engine's own check of every point's vectors (names, dimensions,
/// finite values), run before a write that does not `wait` is queued, so
/// that the mistake is answered all the same. A write that waits skips it:
/// the engine makes the same check before writing anything, and answers it.
pub(crate) fn vectors_of(
    points: &[Point],
    wait: bool,
) -> impl FnOnce(&Collection) -> ApiResult<()> + Send + use<> {
    // Only the vectors matter to the check: a copy without payloads.
    let vectors: Option<Vec<Point>> = (!wait).then(|| {
        points
            .iter()
            .map(|p| Point {
                id: p.id,
                vectors: p.vectors.clone(),
                payload: None,
            })
            .collect()
    });
    move |c| match vectors {
        Some(vectors) => Ok(c.config().check_points(&vectors)?),
        None => Ok(()),
    }
}

fn no_check(_: &Collection) -> ApiResult<()> {
    Ok(())
}

/// "point 3 (17): " for messages about the point at index `i` of a body.
fn at_point(i: usize, id: PointId) -> impl Fn(String) -> ApiError {
    move |e| ApiError::bad_request(format!("point {i} ({id}): {e}"))
}

/// The points of an upsert body, in either of Qdrant's two forms, with
/// their documents embedded. Runs BM25 for documents: call it off the
/// async threads ([`super::blocking`]).
///
/// # Errors
/// 400 naming the point and the vector for a vector that cannot be read,
/// and for a batch whose lists differ in length.
pub(crate) fn points_of(body: PointInsertOperations) -> ApiResult<Vec<Point>> {
    let mut embedder = Embedder::default();
    match (body.points, body.batch) {
        (Some(points), None) => points
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let vectors = p
                    .vector
                    .into_named(&mut embedder)
                    .map_err(at_point(i, p.id))?;
                Ok(Point {
                    id: p.id,
                    vectors,
                    payload: p.payload,
                })
            })
            .collect(),
        (None, Some(batch)) => {
            let n = batch.ids.len();
            let vectors = batch
                .vectors
                .into_points(n, &mut embedder)
                .map_err(ApiError::bad_request)?;
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
                .map(|((id, vectors), payload)| Point {
                    id,
                    vectors,
                    payload,
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

/// The points of an update-vectors body, documents embedded, each with
/// only the vectors it sets. Runs BM25: call it off the async threads.
///
/// # Errors
/// 400 naming the point and the vector for a vector that cannot be read.
pub(crate) fn vector_updates_of(body: UpdateVectors) -> ApiResult<Vec<Point>> {
    let mut embedder = Embedder::default();
    body.points
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let vectors = p
                .vector
                .into_named(&mut embedder)
                .map_err(at_point(i, p.id))?;
            Ok(Point {
                id: p.id,
                vectors,
                payload: None,
            })
        })
        .collect()
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
    let points = blocking(move || points_of(body)).await?;
    let check = vectors_of(&points, wait.wait());
    state
        .write(&gate, name, wait.wait(), check, move |c| {
            Ok(Some(c.upsert(points)?.operation_id))
        })
        .await
}

/// The wire form of a point's stored vectors under `with_vector` (None:
/// not asked for): the selected ones, a plain list when the default
/// vector is the only one, `{name: vector}` otherwise.
pub fn vector_output(
    vectors: Option<NamedVectors>,
    with_vector: Option<&WithVector>,
) -> Option<VectorOutput> {
    match (vectors, with_vector) {
        (Some(v), Some(w)) if w.wanted() => Some(w.output(v)),
        _ => None,
    }
}

/// Converts engine records to wire records: payload keys selected by
/// `with_payload`, vectors by `with_vector` (None: none).
///
/// # Errors
/// 400 when the vectors read, sparse ones counted at their size
/// ([`vector_bytes`]), take the answer past `max_bytes` (with `demand`'s
/// estimate of the rest).
pub fn records(
    found: Vec<quiver_core::Record>,
    with_payload: &WithPayload,
    with_vector: Option<&WithVector>,
    demand: &Demand,
    max_bytes: usize,
) -> ApiResult<Vec<Record>> {
    let records: Vec<Record> = found
        .into_iter()
        .map(|r| Record {
            id: r.id,
            vector: vector_output(r.vectors, with_vector),
            payload: r.payload.map(|p| with_payload.project(p)),
        })
        .collect();
    let read: u64 = records
        .iter()
        .filter_map(|r| r.vector.as_ref())
        .map(vector_bytes)
        .fold(0, u64::saturating_add);
    demand.check_read(read, max_bytes)?;
    Ok(records)
}

/// Get points by ids (missing ids are skipped).
#[utoipa::path(post, path = "/collections/{name}/points", tag = "points",
    params(("name" = String, Path, description = "Collection name")),
    request_body = PointRequest,
    responses(
        (status = 200, description = "The points found, in request order", body = Envelope<Vec<Record>>),
        (status = 400, description = "Unknown vector name in `with_vector`, or too large an answer"),
        (status = 404, description = "No such collection"),
    ))]
pub async fn retrieve(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PointRequest>,
) -> ApiResult<Envelope<Vec<Record>>> {
    let with_payload = body.with_payload.unwrap_or(WithPayload::Enable(true));
    let with_vector = body.with_vector.unwrap_or(WithVector::Enable(false));
    let wants_payload = with_payload.wanted();
    let mut demand = Demand::default();
    demand.add(body.ids.len(), with_vector.wanted(), wants_payload);
    let max = state.max_result_bytes;
    let records = with_collection(&state, name, move |c| {
        let config = c.config();
        with_vector.check(&config)?;
        demand.check(with_vector.dense_floats(&config), max)?;
        let found = c.get(&body.ids, wants_payload, with_vector.wanted())?;
        records(found, &with_payload, Some(&with_vector), &demand, max)
    })
    .await?;
    Ok(ok(records))
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
    let max = state.max_result_bytes;
    let found = with_collection(&state, name, move |c| {
        let mut demand = Demand::default();
        demand.add(1, true, true);
        let found = c.get(&[id], true, true)?;
        let all = WithVector::Enable(true);
        records(found, &WithPayload::Enable(true), Some(&all), &demand, max)
    })
    .await?;
    let record = found
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

/// Set some vectors of existing points, keeping their other vectors and
/// payloads; all or nothing.
#[utoipa::path(put, path = "/collections/{name}/points/vectors", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = UpdateVectors,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 400, description = "Bad vector (nothing written)"),
        (status = 404, description = "No such collection or point (nothing written)"),
    ))]
pub async fn update_vectors(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<UpdateVectors>,
) -> ApiResult<Envelope<UpdateResult>> {
    let points = blocking(move || vector_updates_of(body)).await?;
    if let Some((i, p)) = points
        .iter()
        .enumerate()
        .find(|(_, p)| p.vectors.is_empty())
    {
        return Err(ApiError::bad_request(format!(
            "point {i} ({}): no vector given to update",
            p.id
        )));
    }
    let check = vectors_of(&points, wait.wait());
    state
        .write(&gate, name, wait.wait(), check, move |c| {
            Ok(Some(c.update_vectors(points)?.operation_id))
        })
        .await
}

/// Remove named vectors from points, keeping their other vectors and
/// payloads.
#[utoipa::path(post, path = "/collections/{name}/points/vectors/delete", tag = "points",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = DeleteVectors,
    responses(
        (status = 200, description = "Applied (wait=true: completed) or queued (acknowledged)", body = Envelope<UpdateResult>),
        (status = 400, description = "No or unknown vector name (nothing changed)"),
        (status = 404, description = "No such collection or point (nothing changed)"),
    ))]
pub async fn delete_vectors(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<DeleteVectors>,
) -> ApiResult<Envelope<UpdateResult>> {
    let selector = selector(body.points, body.filter, wait.wait())?;
    let names = body.vector;
    if names.is_empty() {
        return Err(ApiError::bad_request("`vector` names no vector to delete"));
    }
    let wanted = names.clone();
    let check = move |c: &Collection| {
        let config = c.config();
        match wanted.iter().find(|n| !has_vector(&config, n)) {
            Some(n) => Err(ApiError::bad_request(unknown_vector(&config, n))),
            None => Ok(()),
        }
    };
    state
        .write(&gate, name, wait.wait(), check, move |c| {
            Ok(Some(c.delete_vectors(&selector, &names)?.operation_id))
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
