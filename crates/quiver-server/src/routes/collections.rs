//! Collections: create, describe, list, check, delete.

use axum::extract::State;
use quiver_core::Metric;
use quiver_core::{CollectionConfig, CollectionInfo};
use serde_json::{Map, Value, json};

use super::model::{
    CollectionDescription, CollectionExistence, CollectionsResponse, CreateCollection, VectorParams,
};
use super::vectors::DEFAULT_VECTOR;
use super::{AppState, accept_only, blocking, with_collection};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::writes::Gate;

/// Reported as `full_scan_threshold` (KB of vectors below which Qdrant
/// scans instead of using HNSW); clients require the field.
const FULL_SCAN_THRESHOLD_KB: u64 = 10_000;

/// Qdrant's unit for `wal_config.wal_capacity_mb`.
const MIB: u64 = 1 << 20;

fn parse_metric(distance: &str) -> ApiResult<Metric> {
    serde_json::from_value(Value::String(distance.to_string())).map_err(|_| {
        ApiError::bad_request(format!(
            "unsupported distance `{distance}`: use Cosine, Euclid or Dot"
        ))
    })
}

/// The engine's configuration for a create body; the engine checks the
/// bounds. `checkpoint_log_bytes` applies unless the body sets
/// `wal_config.wal_capacity_mb`.
pub(crate) fn parse_config(
    body: CreateCollection,
    checkpoint_log_bytes: u64,
) -> ApiResult<CollectionConfig> {
    // `{"": {...}}` names the default vector: the same collection as `{...}`.
    let vectors = match body.vectors.clone() {
        Value::Object(mut map) if !map.contains_key("size") => {
            let names: Vec<String> = map.keys().map(|k| format!("`{k}`")).collect();
            match map.remove(DEFAULT_VECTOR) {
                Some(params) if map.is_empty() => params,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "named vectors other than the default `\"\"` are not supported (got {}): give `vectors` as {{\"size\": N, \"distance\": \"Cosine\"}} or {{\"\": {{...}}}}",
                        names.join(", ")
                    )));
                }
            }
        }
        v => v,
    };
    let params: VectorParams = serde_json::from_value(vectors)
        .map_err(|e| ApiError::bad_request(format!("vectors: {e}")))?;
    refuse_unsupported(&body, &params)?;
    let mut default = quiver_core::VectorParams::new(params.size, parse_metric(&params.distance)?);
    if let Some(diff) = body.hnsw_config {
        default.hnsw.m = diff.m.unwrap_or(default.hnsw.m);
        default.hnsw.ef_construction = diff.ef_construct.unwrap_or(default.hnsw.ef_construction);
    }
    let mut config = CollectionConfig::with_vectors([(String::new(), default)]);
    config.checkpoint_log_bytes = checkpoint_log_bytes;
    if let Some(wal) = body.wal_config {
        if wal.wal_segments_ahead.is_some() {
            return Err(ApiError::bad_request(
                "wal_config.wal_segments_ahead is not supported: the op log is one file",
            ));
        }
        if let Some(mb) = wal.wal_capacity_mb {
            if mb == 0 {
                return Err(ApiError::bad_request(
                    "wal_config.wal_capacity_mb must be at least 1",
                ));
            }
            config.checkpoint_log_bytes = mb.saturating_mul(MIB);
        }
    }
    Ok(config)
}

/// Refuses every create option Quiver does not implement, unless its value
/// asks for exactly what Quiver does (docs/server.md lists each).
fn refuse_unsupported(body: &CreateCollection, vectors: &VectorParams) -> ApiResult<()> {
    let one = |n: &u64| *n == 1;
    let none = |_: &Value| false;
    accept_only(
        "shard_number",
        &body.shard_number,
        one,
        "a collection is one shard",
    )?;
    accept_only(
        "sharding_method",
        &body.sharding_method,
        |m| m == "auto",
        "a collection is one shard",
    )?;
    accept_only(
        "replication_factor",
        &body.replication_factor,
        one,
        "there is one replica",
    )?;
    accept_only(
        "write_consistency_factor",
        &body.write_consistency_factor,
        one,
        "there is one replica",
    )?;
    accept_only(
        "on_disk_payload",
        &body.on_disk_payload,
        |b| *b,
        "payloads always live on disk",
    )?;
    accept_only(
        "optimizers_config",
        &body.optimizers_config,
        none,
        "there is no background optimizer",
    )?;
    accept_only(
        "init_from",
        &body.init_from,
        none,
        "collections start empty",
    )?;
    accept_only(
        "quantization_config",
        &body.quantization_config,
        none,
        "vectors are stored unquantized",
    )?;
    accept_only(
        "sparse_vectors",
        &body.sparse_vectors,
        // LangChain's dense mode sends an empty map: no sparse vectors.
        |v| v.as_object().is_some_and(|m| m.is_empty()),
        "collections hold one dense vector per point",
    )?;
    accept_only(
        "strict_mode_config",
        &body.strict_mode_config,
        none,
        "there is no strict mode",
    )?;
    if let Some(hnsw) = &body.hnsw_config {
        accept_only(
            "hnsw_config.full_scan_threshold",
            &hnsw.full_scan_threshold,
            |_| false,
            "search uses the graph unless `exact` is set",
        )?;
        accept_only(
            "hnsw_config.max_indexing_threads",
            &hnsw.max_indexing_threads,
            |n| *n == 0,
            "graph builds use every core (0)",
        )?;
        accept_only(
            "hnsw_config.on_disk",
            &hnsw.on_disk,
            |b| !*b,
            "the graph is held in memory",
        )?;
        accept_only(
            "hnsw_config.payload_m",
            &hnsw.payload_m,
            |_| false,
            "there are no per-payload graphs",
        )?;
    }
    accept_only(
        "vectors.hnsw_config",
        &vectors.hnsw_config,
        none,
        "set the collection's `hnsw_config` instead",
    )?;
    accept_only(
        "vectors.quantization_config",
        &vectors.quantization_config,
        none,
        "vectors are stored unquantized",
    )?;
    accept_only(
        "vectors.on_disk",
        &vectors.on_disk,
        |b| !*b,
        "every vector is held in memory, in its HNSW graph node (vectors.dat on disk is the durable copy)",
    )?;
    accept_only(
        "vectors.datatype",
        &vectors.datatype,
        |d| d == "float32",
        "components are 32-bit floats",
    )?;
    accept_only(
        "vectors.multivector_config",
        &vectors.multivector_config,
        none,
        "a point has one vector",
    )?;
    Ok(())
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
    let config = parse_config(body, state.checkpoint_log_bytes)?;
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
    let default = config.default_vector();
    let distance = default
        .and_then(|v| serde_json::to_value(v.metric).ok())
        .unwrap_or(Value::Null);
    let hnsw = default.map(|v| v.hnsw).unwrap_or_default();
    let payload_schema: Map<String, Value> = info
        .payload_schema
        .iter()
        .map(|(field, ty, points)| (field.clone(), json!({ "data_type": ty, "points": points })))
        .collect();
    json!({
        // Qdrant's health colours: green when the graph holds every point.
        "status": if info.fully_indexed() { "green" } else { "yellow" },
        "optimizer_status": "ok",
        "indexed_vectors_count": info.indexed_vectors,
        "points_count": info.points,
        "segments_count": 1,
        "config": {
            "params": {
                "vectors": { "size": default.map(|v| v.dimension), "distance": distance },
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": true,
            },
            "hnsw_config": {
                "m": hnsw.m,
                "ef_construct": hnsw.ef_construction,
                "full_scan_threshold": FULL_SCAN_THRESHOLD_KB,
                "on_disk": false,
            },
            "optimizer_config": {
                "deleted_threshold": 0.2,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 1,
                "flush_interval_sec": 5,
            },
            "wal_config": {
                "wal_capacity_mb": config.checkpoint_log_bytes.div_ceil(MIB),
                "wal_segments_ahead": 0,
            },
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

    const DEFAULT: u64 = crate::config::DEFAULT_CHECKPOINT_LOG_BYTES;

    #[test]
    fn config_parses_qdrant_vectors_and_hnsw_fields() {
        let body: CreateCollection = serde_json::from_value(json!({
            "vectors": {"size": 4, "distance": "Dot"},
            "hnsw_config": {"m": 8, "ef_construct": 50}
        }))
        .unwrap();
        let c = parse_config(body, DEFAULT).unwrap();
        let c = c.default_vector().unwrap();
        assert_eq!(
            (c.dimension, c.metric, c.hnsw.m, c.hnsw.ef_construction),
            (4, Metric::Dot, 8, 50)
        );
        let body: CreateCollection =
            serde_json::from_value(json!({"vectors": {"size": 4, "distance": "Manhattan"}}))
                .unwrap();
        assert!(
            parse_config(body, DEFAULT)
                .unwrap_err()
                .message()
                .contains("Manhattan")
        );
        let body: CreateCollection =
            serde_json::from_value(json!({"vectors": {"img": {"size": 4, "distance": "Dot"}}}))
                .unwrap();
        assert!(
            parse_config(body, DEFAULT)
                .unwrap_err()
                .message()
                .contains("named vectors")
        );
    }

    #[test]
    fn wal_capacity_sets_the_checkpoint_size_and_other_wal_fields_are_refused() {
        let vectors = json!({"size": 4, "distance": "Dot"});
        let body: CreateCollection = serde_json::from_value(json!({"vectors": vectors})).unwrap();
        assert_eq!(parse_config(body, 5000).unwrap().checkpoint_log_bytes, 5000);
        let body: CreateCollection = serde_json::from_value(
            json!({"vectors": vectors, "wal_config": {"wal_capacity_mb": 3, "wal_segments_ahead": null}}),
        )
        .unwrap();
        assert_eq!(
            parse_config(body, DEFAULT).unwrap().checkpoint_log_bytes,
            3 << 20
        );
        let body: CreateCollection = serde_json::from_value(
            json!({"vectors": vectors, "wal_config": {"wal_segments_ahead": 2}}),
        )
        .unwrap();
        let e = parse_config(body, DEFAULT).unwrap_err();
        assert!(
            e.message().contains("wal_segments_ahead"),
            "{}",
            e.message()
        );
        let body: CreateCollection = serde_json::from_value(
            json!({"vectors": vectors, "wal_config": {"wal_capacity_mb": 0}}),
        )
        .unwrap();
        let e = parse_config(body, DEFAULT).unwrap_err();
        assert!(e.message().contains("wal_capacity_mb"), "{}", e.message());
        let unknown = serde_json::from_value::<CreateCollection>(
            json!({"vectors": vectors, "wal_config": {"wal_retain_closed": 1}}),
        )
        .unwrap_err();
        assert!(
            unknown.to_string().contains("wal_retain_closed"),
            "{unknown}"
        );
    }
}
