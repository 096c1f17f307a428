//! Service routes: root, health probes, metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppState, blocking};
use crate::error::ApiResult;
use crate::metrics::CollectionGauges;

/// The Qdrant REST API version whose routes and shapes Quiver serves.
/// Clients compare it with their own (qdrant-client warns when the minor
/// versions differ by more than one), so it follows the client the interop
/// test pins.
pub const QDRANT_API_VERSION: &str = "1.15.0";

/// `GET /` answer (not enveloped, as in Qdrant).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionInfo {
    /// Qdrant's title, `qdrant - vector search engine`: clients that
    /// check what they talk to compare it.
    pub title: &'static str,
    /// The Qdrant API version served (what Qdrant clients check).
    pub version: &'static str,
    /// Quiver's own version.
    pub quiver_version: &'static str,
}

/// Name, the Qdrant API version served, and Quiver's version.
#[utoipa::path(get, path = "/", tag = "service",
    responses((status = 200, description = "Name and versions", body = VersionInfo)))]
pub async fn root() -> axum::Json<VersionInfo> {
    axum::Json(VersionInfo {
        title: "qdrant - vector search engine",
        version: QDRANT_API_VERSION,
        quiver_version: crate::version(),
    })
}

/// Health probe (no key needed).
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "Serving", body = String)))]
pub async fn healthz() -> &'static str {
    "healthz check passed"
}

/// Liveness probe (no key needed).
#[utoipa::path(get, path = "/livez", tag = "service",
    responses((status = 200, description = "Alive", body = String)))]
pub async fn livez() -> &'static str {
    "livez check passed"
}

/// Readiness probe (no key needed): the database is open once the server
/// listens, so listening means ready.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, description = "Ready", body = String)))]
pub async fn readyz() -> &'static str {
    "all shards are ready"
}

/// Prometheus metrics: requests and latency per route, points and bytes per
/// collection.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let db = state.db.clone();
    let gauges = blocking(move || {
        let mut gauges = Vec::new();
        for name in db.list_collections() {
            // A collection dropped between listing and lookup is skipped.
            let Ok(collection) = db.collection(&name) else {
                continue;
            };
            let info = collection.info()?;
            gauges.push(CollectionGauges {
                name,
                points: info.points,
                ram_bytes: info.ram_bytes,
                disk_bytes: info.disk_bytes,
            });
        }
        Ok(gauges)
    })
    .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&gauges),
    ))
}
