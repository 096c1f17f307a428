//! The HTTP routes, one file per family: `collections`, `points` (writes,
//! vector updates and retrieval), `search` (search, query, scroll, count;
//! searches and queries decoded and run by `query`, their vectors read by
//! `query_vector`), `groups` (grouped search and query), `index` (payload
//! indexes) and `service` (root, health, metrics). `model` holds the wire
//! shapes they share, `vectors` the forms a point's vectors take on the
//! wire (`budget` bounds the answers that carry them); `responses` adds the
//! error answers every route can give to the OpenAPI document.
//!
//! Every call into the engine runs on tokio's blocking pool
//! ([`with_collection`], [`blocking`]): engine calls may fsync or scan, and
//! must not stall the threads that serve other connections.

pub mod budget;
pub mod collections;
pub mod groups;
pub mod index;
pub mod model;
pub mod points;
pub mod query;
pub mod query_vector;
pub mod responses;
pub mod search;
pub mod service;
pub mod vectors;

use std::sync::Arc;

use quiver_core::filter::Filter;
use quiver_core::{Collection, Database, PointId, PointSelector};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::writes::{WriteGate, Writes};
use model::UpdateResult;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The open database.
    pub db: Arc<Database>,
    /// Request metrics, rendered at `/metrics`.
    pub metrics: Metrics,
    /// Largest estimated result of one read (see [`budget`]).
    pub max_result_bytes: usize,
    /// Write queues and in-flight writes (see [`crate::writes`]).
    pub writes: Writes,
    /// `checkpoint_log_bytes` of new collections whose create request does
    /// not set `wal_config.wal_capacity_mb`.
    pub checkpoint_log_bytes: u64,
}

impl AppState {
    /// State over an open database.
    pub fn new(db: Arc<Database>, metrics: Metrics) -> Self {
        AppState {
            db,
            metrics,
            max_result_bytes: crate::config::DEFAULT_MAX_RESULT_BYTES,
            writes: Writes::default(),
            checkpoint_log_bytes: crate::config::DEFAULT_CHECKPOINT_LOG_BYTES,
        }
    }

    /// Runs `write` on collection `name` as [`Writes::submit`] does.
    ///
    /// # Errors
    /// As [`Writes::submit`].
    pub async fn write(
        &self,
        gate: &WriteGate,
        name: String,
        wait: bool,
        check: impl FnOnce(&Collection) -> ApiResult<()> + Send + 'static,
        write: impl FnOnce(&Collection) -> ApiResult<Option<u64>> + Send + 'static,
    ) -> ApiResult<Envelope<UpdateResult>> {
        let result = self
            .writes
            .submit(&self.db, gate, name, wait, check, Box::new(write))
            .await?;
        Ok(ok(result))
    }
}

/// Runs `f` on the blocking pool.
///
/// # Errors
/// Whatever `f` returns; a panic inside it becomes a 500.
pub async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("request worker failed: {e}")))?
}

/// Looks up collection `name` and runs `f` on it, on the blocking pool.
///
/// # Errors
/// 404 if the collection does not exist; otherwise whatever `f` returns.
pub async fn with_collection<T, F>(state: &AppState, name: String, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Collection) -> ApiResult<T> + Send + 'static,
{
    let db = Arc::clone(&state.db);
    blocking(move || {
        let collection = db.collection(&name)?;
        f(&collection)
    })
    .await
}

/// Exactly one of ids or filter, as Qdrant's point selectors require.
///
/// The engine checks the filter when the write runs. A write answered
/// before it runs (`wait` false) has it checked here, by the engine's own
/// check, so that the client still hears of the mistake.
///
/// # Errors
/// 400 if both or neither are given, or (without `wait`) the filter is invalid.
pub fn selector(
    points: Option<Vec<PointId>>,
    filter: Option<Filter>,
    wait: bool,
) -> ApiResult<PointSelector> {
    let selector = match (points, filter) {
        (Some(ids), None) => PointSelector::Ids(ids),
        (None, Some(filter)) => PointSelector::Filter(filter),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either `points` (ids) or `filter`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "missing selector: give `points` (a list of ids) or `filter`",
            ));
        }
    };
    if !wait {
        selector.validate()?;
    }
    Ok(selector)
}

/// A Qdrant option Quiver accepts only with values that ask for what it
/// does anyway: absent or null passes, a value `accepted` passes, anything
/// else is a 400 naming `field` and saying `why`.
///
/// # Errors
/// 400 for a set value that `accepted` refuses.
pub fn accept_only<T: std::fmt::Debug>(
    field: &str,
    value: &Option<T>,
    accepted: impl FnOnce(&T) -> bool,
    why: &str,
) -> ApiResult<()> {
    match value {
        Some(v) if !accepted(v) => Err(ApiError::bad_request(format!(
            "`{field}` = {v:?} is not supported: {why}"
        ))),
        _ => Ok(()),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Quiver",
        description = "Qdrant-compatible HTTP API of the Quiver vector database. \
            Successful answers are wrapped as {\"result\": .., \"status\": \"ok\", \"time\": secs}; \
            errors as {\"status\": {\"error\": \"..\"}, \"time\": secs}."
    ),
    components(schemas(model::ExtendedPointIdSchema, model::DistanceSchema)),
    modifiers(&ApiKeyScheme),
    security(("api-key" = []), ("bearer" = []))
)]
struct ApiDoc;

struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api-key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("api-key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(service::root))
        .routes(routes!(service::healthz))
        .routes(routes!(service::livez))
        .routes(routes!(service::readyz))
        .routes(routes!(service::metrics))
        .routes(routes!(collections::list))
        .routes(routes!(
            collections::create,
            collections::update,
            collections::info,
            collections::delete
        ))
        .routes(routes!(collections::exists))
        .routes(routes!(points::upsert, points::retrieve))
        .routes(routes!(points::get_one))
        .routes(routes!(points::delete))
        .routes(routes!(points::update_vectors))
        .routes(routes!(points::delete_vectors))
        .routes(routes!(points::set_payload, points::overwrite_payload))
        .routes(routes!(points::delete_payload))
        .routes(routes!(points::clear_payload))
        .routes(routes!(search::search))
        .routes(routes!(search::search_batch))
        .routes(routes!(search::query))
        .routes(routes!(search::query_batch))
        .routes(routes!(groups::query_groups))
        .routes(routes!(groups::search_groups))
        .routes(routes!(search::scroll))
        .routes(routes!(search::count))
        .routes(routes!(index::create))
        .routes(routes!(index::delete))
}
