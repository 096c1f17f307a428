//! Collections: create, describe, list, check, delete.

use axum::extract::State;
use quiver_core::distance::Metric;
use quiver_core::index::hnsw::HnswConfig;
use quiver_core::{CollectionConfig, CollectionInfo};
use serde_json::{Map, Value, json};

use super::model::{
    CollectionDescription, CollectionExistence, CollectionsResponse, CreateCollection, VectorParams,
};
use super::{AppState, blocking, with_collection};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::writes::Gate;

/// Reported as `full_scan_threshold` (KB of vectors below which Qdrant
/// scans instead of using HNSW); clients require the field.
const FULL_SCAN_THRESHOLD_KB: u64 = 10_000;

/// Longest collection name accepted (it becomes a directory name).
const MAX_NAME_LEN: usize = 255;

/// Checks a name before it reaches the engine, which uses it as a directory.
fn check_name(name: &str) -> ApiResult<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > MAX_NAME_LEN || !ok_chars || name.starts_with('.') {
        return Err(ApiError::bad_request(format!(
            "invalid collection name `{name}`: use 1 to {MAX_NAME_LEN} ASCII letters, digits, `_`, `-` or `.`, not starting with `.`"
        )));
    }
    Ok(())
}

fn parse_metric(distance: &str) -> ApiResult<Metric> {
    serde_json::from_value(Value::String(distance.to_string())).map_err(|_| {
        ApiError::bad_request(format!(
            "unsupported distance `{distance}`: use Cosine, Euclid or Dot"
        ))
    })
}

fn parse_config(body: CreateCollection) -> ApiResult<CollectionConfig> {
    let params: VectorParams = match body.vectors {
        Value::Object(map) if !map.contains_key("size") => {
            return Err(ApiError::bad_request(
                "named vectors are not supported: give `vectors` as {\"size\": N, \"distance\": \"Cosine\"}",
            ));
        }
        v => {
            serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("vectors: {e}")))?
        }
    };
    if params.size == 0 {
        return Err(ApiError::bad_request("vectors.size must be at least 1"));
    }
    let mut hnsw = HnswConfig::default();
    if let Some(diff) = body.hnsw_config {
        if let Some(m) = diff.m {
            if m < 2 {
                return Err(ApiError::bad_request("hnsw_config.m must be at least 2"));
            }
            hnsw.m = m;
        }
        if let Some(ef) = diff.ef_construct {
            if ef == 0 {
                return Err(ApiError::bad_request(
                    "hnsw_config.ef_construct must be at least 1",
                ));
            }
            hnsw.ef_construction = ef;
        }
    }
    Ok(CollectionConfig {
        dimension: params.size,
        metric: parse_metric(&params.distance)?,
        hnsw,
        durability: Default::default(),
        quantization: None,
    })
}

/// Create a collection.
#[utoipa::path(put, path = "/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "Collection name")),
    request_body = CreateCollection,
    responses(
        (status = 200, description = "Created", body = Envelope<bool>),
        (status = 400, description = "Bad configuration"),
        (status = 409, description = "Exists already"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<CreateCollection>,
) -> ApiResult<Envelope<bool>> {
    check_name(&name)?;
    let config = parse_config(body)?;
    let db = state.db.clone();
    state
        .writes
        .run_started(&gate, move || {
            db.create_collection(&name, config)?;
            Ok(())
        })
        .await?;
    Ok(ok(true))
}

/// Qdrant's `CollectionInfo` for an engine [`CollectionInfo`].
pub fn info_json(info: &CollectionInfo) -> Value {
    let config = &info.config;
    let distance = serde_json::to_value(config.metric).unwrap_or(Value::Null);
    let payload_schema: Map<String, Value> = info
        .payload_schema
        .iter()
        .map(|(field, ty, points)| (field.clone(), json!({ "data_type": ty, "points": points })))
        .collect();
    json!({
        "status": info.status,
        "optimizer_status": "ok",
        "indexed_vectors_count": info.indexed_vectors,
        "points_count": info.points,
        "segments_count": 1,
        "config": {
            "params": {
                "vectors": { "size": config.dimension, "distance": distance },
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": true,
            },
            "hnsw_config": {
                "m": config.hnsw.m,
                "ef_construct": config.hnsw.ef_construction,
                "full_scan_threshold": FULL_SCAN_THRESHOLD_KB,
                "on_disk": false,
            },
            "optimizer_config": {
                "deleted_threshold": 0.2,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 1,
                "flush_interval_sec": 5,
            },
            "wal_config": { "wal_capacity_mb": 32, "wal_segments_ahead": 0 },
            "quantization_config": null,
        },
        "payload_schema": payload_schema,
    })
}

/// Describe a collection: status, counts, configuration, payload indexes.
#[utoipa::path(get, path = "/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "Collection name")),
    responses(
        (status = 200, description = "Qdrant's CollectionInfo", body = Envelope<Object>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn info(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Envelope<Value>> {
    let info = with_collection(&state, name, |c| Ok(c.info()?)).await?;
    Ok(ok(info_json(&info)))
}

/// List collections.
#[utoipa::path(get, path = "/collections", tag = "collections",
    responses((status = 200, description = "All collections", body = Envelope<CollectionsResponse>)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Envelope<CollectionsResponse>> {
    let db = state.db.clone();
    let names = blocking(move || Ok(db.list_collections())).await?;
    Ok(ok(CollectionsResponse {
        collections: names
            .into_iter()
            .map(|name| CollectionDescription { name })
            .collect(),
    }))
}

/// Does a collection exist?
#[utoipa::path(get, path = "/collections/{name}/exists", tag = "collections",
    params(("name" = String, Path, description = "Collection name")),
    responses((status = 200, description = "Existence", body = Envelope<CollectionExistence>)))]
pub async fn exists(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Envelope<CollectionExistence>> {
    let db = state.db.clone();
    let exists = blocking(move || Ok(db.list_collections().contains(&name))).await?;
    Ok(ok(CollectionExistence { exists }))
}

/// Delete a collection and its files; `false` if it did not exist.
#[utoipa::path(delete, path = "/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "Collection name")),
    responses((status = 200, description = "Whether it existed", body = Envelope<bool>)))]
pub async fn delete(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Envelope<bool>> {
    let db = state.db.clone();
    let deleted = state
        .writes
        .run_started(&gate, move || Ok(db.delete_collection(&name)?))
        .await?;
    Ok(ok(deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_data_directory_are_refused() {
        assert!(check_name("docs_v1.2-a").is_ok());
        for bad in ["", ".", "..", ".hidden", "a/b", "a\\b", "a b", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn config_parses_qdrant_vectors_and_hnsw_fields() {
        let body: CreateCollection = serde_json::from_value(json!({
            "vectors": {"size": 4, "distance": "Dot"},
            "hnsw_config": {"m": 8, "ef_construct": 50}
        }))
        .unwrap();
        let c = parse_config(body).unwrap();
        assert_eq!(
            (c.dimension, c.metric, c.hnsw.m, c.hnsw.ef_construction),
            (4, Metric::Dot, 8, 50)
        );
        let body: CreateCollection =
            serde_json::from_value(json!({"vectors": {"size": 4, "distance": "Manhattan"}}))
                .unwrap();
        assert!(
            parse_config(body)
                .unwrap_err()
                .message()
                .contains("Manhattan")
        );
        let body: CreateCollection =
            serde_json::from_value(json!({"vectors": {"img": {"size": 4, "distance": "Dot"}}}))
                .unwrap();
        assert!(
            parse_config(body)
                .unwrap_err()
                .message()
                .contains("named vectors")
        );
    }
}
