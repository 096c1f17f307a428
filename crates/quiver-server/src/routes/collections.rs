//! Collections: create, update (settings are fixed: only no-change
//! updates pass), describe, list, check, delete.

use axum::extract::State;
use std::collections::BTreeMap;

use quiver_core::{CollectionConfig, CollectionInfo, HnswConfig, Metric, SparseModifier};
use serde_json::{Map, Value, json};

use super::model::{
    CollectionDescription, CollectionExistence, CollectionsResponse, CreateCollection,
    HnswConfigDiff, SparseVectorParams, UpdateCollection, VectorParams,
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

/// `vectors.<name>` for messages about one vector of a create body;
/// `vectors` alone for the single-vector form.
fn vector_field(name: Option<&str>) -> String {
    match name {
        None => "vectors".to_owned(),
        Some(name) => format!("vectors.{}", quoted(name)),
    }
}

/// A vector name as it reads in a field path: `""` for the default vector.
fn quoted(name: &str) -> String {
    if name.is_empty() {
        "\"\"".to_owned()
    } else {
        name.to_owned()
    }
}

/// The dense vectors of a create body's `vectors`: `{"size": ..}` is the
/// default vector alone, any other object names its vectors (`{}` none,
/// for a collection of sparse vectors only; null or absent likewise).
/// Each comes with its field path for messages.
fn dense_params_of(vectors: Value) -> ApiResult<Vec<(String, String, VectorParams)>> {
    let parse = |field: &str, v: Value| {
        serde_json::from_value::<VectorParams>(v)
            .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
    };
    match vectors {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) if map.contains_key("size") || map.contains_key("distance") => {
            let field = vector_field(None);
            let params = parse(&field, Value::Object(map))?;
            Ok(vec![(DEFAULT_VECTOR.to_owned(), field, params)])
        }
        Value::Object(map) => map
            .into_iter()
            .map(|(name, v)| {
                let field = vector_field(Some(&name));
                let params = parse(&field, v)?;
                Ok((name, field, params))
            })
            .collect(),
        other => Err(ApiError::bad_request(format!(
            "vectors: expected {{\"size\": N, \"distance\": ..}} or {{name: {{\"size\": N, \"distance\": ..}}}}, got {other}"
        ))),
    }
}

/// `base` with the fields `diff` sets; `field` names the diff in errors.
fn apply_hnsw(
    mut base: HnswConfig,
    diff: Option<&HnswConfigDiff>,
    field: &str,
) -> ApiResult<HnswConfig> {
    let Some(diff) = diff else {
        return Ok(base);
    };
    accept_only(
        &format!("{field}.full_scan_threshold"),
        &diff.full_scan_threshold,
        |_| false,
        "search uses the graph unless `exact` is set",
    )?;
    accept_only(
        &format!("{field}.max_indexing_threads"),
        &diff.max_indexing_threads,
        |n| *n == 0,
        "graph builds use every core (0)",
    )?;
    accept_only(
        &format!("{field}.on_disk"),
        &diff.on_disk,
        |b| !*b,
        "the graph is held in memory",
    )?;
    accept_only(
        &format!("{field}.payload_m"),
        &diff.payload_m,
        |_| false,
        "there are no per-payload graphs",
    )?;
    base.m = diff.m.unwrap_or(base.m);
    base.ef_construction = diff.ef_construct.unwrap_or(base.ef_construction);
    Ok(base)
}

fn parse_modifier(field: &str, modifier: Option<&str>) -> ApiResult<SparseModifier> {
    match modifier {
        None | Some("none") => Ok(SparseModifier::None),
        Some("idf") => Ok(SparseModifier::Idf),
        Some(other) => Err(ApiError::bad_request(format!(
            "{field}.modifier: unknown modifier `{other}`: use `none` or `idf`"
        ))),
    }
}

/// The engine's parameters of one sparse vector of a create body.
fn sparse_params_of(
    name: &str,
    params: &SparseVectorParams,
) -> ApiResult<quiver_core::SparseVectorParams> {
    let field = format!("sparse_vectors.{}", quoted(name));
    if let Some(index) = &params.index {
        accept_only(
            &format!("{field}.index.full_scan_threshold"),
            &index.full_scan_threshold,
            |_| false,
            "sparse searches always use the inverted index",
        )?;
        accept_only(
            &format!("{field}.index.on_disk"),
            &index.on_disk,
            |b| !*b,
            "the inverted index is held in memory",
        )?;
        accept_only(
            &format!("{field}.index.datatype"),
            &index.datatype,
            |d| d == "float32",
            "values are 32-bit floats",
        )?;
    }
    Ok(quiver_core::SparseVectorParams {
        modifier: parse_modifier(&field, params.modifier.as_deref())?,
    })
}

/// The engine's configuration for a create body; the engine checks the
/// bounds. `checkpoint_log_bytes` applies unless the body sets
/// `wal_config.wal_capacity_mb`.
pub(crate) fn parse_config(
    body: CreateCollection,
    checkpoint_log_bytes: u64,
) -> ApiResult<CollectionConfig> {
    refuse_unsupported(&body)?;
    let collection_hnsw = apply_hnsw(
        HnswConfig::default(),
        body.hnsw_config.as_ref(),
        "hnsw_config",
    )?;
    let mut dense = BTreeMap::new();
    for (name, field, params) in dense_params_of(body.vectors)? {
        refuse_vector_options(&field, &params)?;
        let mut vector =
            quiver_core::VectorParams::new(params.size, parse_metric(&params.distance)?);
        vector.hnsw = apply_hnsw(
            collection_hnsw,
            params.hnsw_config.as_ref(),
            &format!("{field}.hnsw_config"),
        )?;
        dense.insert(name, vector);
    }
    let mut config = CollectionConfig::with_vectors(dense);
    for (name, params) in body.sparse_vectors.iter().flatten() {
        config
            .sparse_vectors
            .insert(name.clone(), sparse_params_of(name, params)?);
    }
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

/// Refuses a `strict_mode_config` that asks for any limit: Quiver has no
/// strict mode, so only "off" (`{}`, `{"enabled": false}`, every field
/// null) is what it does.
///
/// # Errors
/// 400 naming the first field set.
pub(crate) fn refuse_strict_mode(config: Option<&Map<String, Value>>) -> ApiResult<()> {
    for (key, value) in config.into_iter().flatten() {
        let off = value.is_null() || (key == "enabled" && *value == Value::Bool(false));
        if !off {
            return Err(ApiError::bad_request(format!(
                "`strict_mode_config.{key}` = {value} is not supported: there is no strict mode \
                 (give null, {{}} or {{\"enabled\": false}})"
            )));
        }
    }
    Ok(())
}

/// Refuses every create option Quiver does not implement, unless its value
/// asks for exactly what Quiver does (docs/server.md lists each).
fn refuse_unsupported(body: &CreateCollection) -> ApiResult<()> {
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
    refuse_strict_mode(body.strict_mode_config.as_ref())
}

/// Refuses the options of one dense vector that Quiver does not implement;
/// `field` is the vector's path in the body.
fn refuse_vector_options(field: &str, vector: &VectorParams) -> ApiResult<()> {
    let none = |_: &Value| false;
    accept_only(
        &format!("{field}.quantization_config"),
        &vector.quantization_config,
        none,
        "vectors are stored unquantized",
    )?;
    accept_only(
        &format!("{field}.on_disk"),
        &vector.on_disk,
        |b| !*b,
        "every vector is held in memory, in its HNSW graph node (the memory-mapped vector file is the durable copy)",
    )?;
    accept_only(
        &format!("{field}.datatype"),
        &vector.datatype,
        |d| d == "float32",
        "components are 32-bit floats",
    )?;
    accept_only(
        &format!("{field}.multivector_config"),
        &vector.multivector_config,
        none,
        "a point has one vector of each name",
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

fn hnsw_json(hnsw: &HnswConfig) -> Value {
    json!({
        "m": hnsw.m,
        "ef_construct": hnsw.ef_construction,
        "full_scan_threshold": FULL_SCAN_THRESHOLD_KB,
        "max_indexing_threads": 0,
        "on_disk": false,
    })
}

/// `config.params.vectors` of a collection: the single form
/// `{"size", "distance", ..}` when the default vector is its only dense
/// vector, `{name: {...}}` otherwise. A vector whose HNSW settings differ
/// from the collection's (`collection_hnsw`) reports its own.
fn vectors_json(config: &CollectionConfig, collection_hnsw: &HnswConfig) -> Value {
    let one = |p: &quiver_core::VectorParams| {
        let mut v = json!({
            "size": p.dimension,
            "distance": serde_json::to_value(p.metric).unwrap_or(Value::Null),
        });
        if p.hnsw.m != collection_hnsw.m
            || p.hnsw.ef_construction != collection_hnsw.ef_construction
        {
            v["hnsw_config"] = json!({"m": p.hnsw.m, "ef_construct": p.hnsw.ef_construction});
        }
        v
    };
    match (config.vectors.len(), config.default_vector()) {
        (1, Some(default)) => one(default),
        _ => Value::Object(
            config
                .vectors
                .iter()
                .map(|(name, p)| (name.clone(), one(p)))
                .collect(),
        ),
    }
}

fn sparse_json(config: &CollectionConfig) -> Value {
    Value::Object(
        config
            .sparse_vectors
            .iter()
            .map(|(name, p)| {
                let modifier = match p.modifier {
                    SparseModifier::None => "none",
                    SparseModifier::Idf => "idf",
                };
                let params = json!({
                    "index": {"on_disk": false, "datatype": "float32"},
                    "modifier": modifier,
                });
                (name.clone(), params)
            })
            .collect(),
    )
}

/// The collection's own HNSW settings, as info reports them: those of its
/// default vector, else of its first (per-vector settings are reported
/// where they differ).
fn collection_hnsw(config: &CollectionConfig) -> HnswConfig {
    config
        .default_vector()
        .or_else(|| config.vectors.values().next())
        .map(|v| v.hnsw)
        .unwrap_or_default()
}

/// Qdrant's `CollectionInfo` for an engine [`CollectionInfo`].
pub fn info_json(info: &CollectionInfo) -> Value {
    let config = &info.config;
    let hnsw = collection_hnsw(config);
    let payload_schema: Map<String, Value> = info
        .payload_schema
        .iter()
        .map(|(field, ty, points)| (field.clone(), json!({ "data_type": ty, "points": points })))
        .collect();
    let mut params = json!({
        "vectors": vectors_json(config, &hnsw),
        "shard_number": 1,
        "replication_factor": 1,
        "write_consistency_factor": 1,
        "on_disk_payload": true,
    });
    if !config.sparse_vectors.is_empty() {
        params["sparse_vectors"] = sparse_json(config);
    }
    json!({
        // Qdrant's health colours: green when the graph holds every point.
        "status": if info.fully_indexed() { "green" } else { "yellow" },
        "optimizer_status": "ok",
        "indexed_vectors_count": info.indexed_vectors,
        "points_count": info.points,
        "segments_count": 1,
        "config": {
            "params": params,
            "hnsw_config": hnsw_json(&hnsw),
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

/// Checks a `PATCH` body against the collection's configuration: it may
/// only ask for what the collection is (settings are fixed at create).
///
/// # Errors
/// 400 naming the first field that asks for a change or for what Quiver
/// does not do, and vectors the collection does not have.
pub(crate) fn check_update(body: &UpdateCollection, config: &CollectionConfig) -> ApiResult<()> {
    let none = |_: &Value| false;
    let unchanged = "a collection's settings are fixed when it is created";
    accept_only(
        "optimizers_config",
        &body.optimizers_config,
        none,
        "there is no background optimizer",
    )?;
    accept_only(
        "quantization_config",
        &body.quantization_config,
        none,
        "vectors are stored unquantized",
    )?;
    refuse_strict_mode(body.strict_mode_config.as_ref())?;
    if let Some(params) = &body.params {
        let one = |n: &u64| *n == 1;
        accept_only(
            "params.replication_factor",
            &params.replication_factor,
            one,
            "there is one replica",
        )?;
        accept_only(
            "params.write_consistency_factor",
            &params.write_consistency_factor,
            one,
            "there is one replica",
        )?;
        accept_only(
            "params.read_fan_out_factor",
            &params.read_fan_out_factor,
            |n| *n <= 1,
            "there is one replica",
        )?;
        accept_only(
            "params.on_disk_payload",
            &params.on_disk_payload,
            |b| *b,
            "payloads always live on disk",
        )?;
    }
    let collection_hnsw = collection_hnsw(config);
    let same_hnsw = |field: &str, current: HnswConfig, diff: Option<&HnswConfigDiff>| {
        let asked = apply_hnsw(current, diff, field)?;
        if (asked.m, asked.ef_construction) != (current.m, current.ef_construction) {
            return Err(ApiError::bad_request(format!(
                "`{field}` asks for m {} and ef_construct {}, the graph has {} and {}: {unchanged}",
                asked.m, asked.ef_construction, current.m, current.ef_construction
            )));
        }
        Ok(())
    };
    same_hnsw("hnsw_config", collection_hnsw, body.hnsw_config.as_ref())?;
    for (name, diff) in body.vectors.iter().flatten() {
        let field = vector_field(Some(name));
        let Some(current) = config.vectors.get(name) else {
            return Err(ApiError::bad_request(format!(
                "{field}: {}",
                super::model::unknown_vector(config, name)
            )));
        };
        accept_only(
            &format!("{field}.quantization_config"),
            &diff.quantization_config,
            none,
            "vectors are stored unquantized",
        )?;
        accept_only(
            &format!("{field}.on_disk"),
            &diff.on_disk,
            |b| !*b,
            "every vector is held in memory, in its HNSW graph node",
        )?;
        same_hnsw(
            &format!("{field}.hnsw_config"),
            current.hnsw,
            diff.hnsw_config.as_ref(),
        )?;
    }
    for (name, params) in body.sparse_vectors.iter().flatten() {
        let Some(current) = config.sparse_vectors.get(name) else {
            return Err(ApiError::bad_request(format!(
                "sparse_vectors.{}: the collection has no sparse vector named `{name}`",
                quoted(name)
            )));
        };
        let asked = sparse_params_of(name, params)?;
        if params.modifier.is_some() && asked.modifier != current.modifier {
            return Err(ApiError::bad_request(format!(
                "`sparse_vectors.{}.modifier` asks for a change: {unchanged}",
                quoted(name)
            )));
        }
    }
    Ok(())
}

/// Update a collection's settings: Quiver's are fixed at create, so the
/// body may only ask for what the collection already is (`true`); any
/// change is a 400 naming the field, and nothing changes.
#[utoipa::path(patch, path = "/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "Collection name")),
    request_body = UpdateCollection,
    responses(
        (status = 200, description = "Nothing to change", body = Envelope<bool>),
        (status = 400, description = "A change asked for (nothing changed)"),
        (status = 404, description = "No such collection"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateCollection>,
) -> ApiResult<Envelope<bool>> {
    with_collection(&state, name, move |c| check_update(&body, &c.config())).await?;
    Ok(ok(true))
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
        let body: CreateCollection = serde_json::from_value(json!({
            "vectors": {"img": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 4}}, "": {"size": 2, "distance": "Cosine"}},
            "hnsw_config": {"ef_construct": 40},
            "sparse_vectors": {"kw": {"modifier": "idf"}}
        }))
        .unwrap();
        let c = parse_config(body, DEFAULT).unwrap();
        let img = c.dense("img").unwrap();
        assert_eq!(
            (img.dimension, img.hnsw.m, img.hnsw.ef_construction),
            (4, 4, 40)
        );
        let default = c.default_vector().unwrap();
        assert_eq!(
            (default.dimension, default.metric, default.hnsw.m),
            (2, Metric::Cosine, 16)
        );
        assert_eq!(c.sparse_vectors["kw"].modifier, SparseModifier::Idf);
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
