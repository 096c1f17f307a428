//! HTTP API over the Quiver engine, with Qdrant-compatible routes.
//!
//! [`Server::bind`] opens the database and the listening socket;
//! [`Server::run`] serves until a shutdown future resolves, lets in-flight
//! requests finish, then flushes every collection. [`router`] builds the
//! axum router alone, for embedding in another server.
//!
//! Request path, outermost layer first: request clock (fills `time` in every
//! body) -> metrics -> body size limit -> per-request timeout -> API keys ->
//! route handler, which runs engine calls on the blocking pool. Below the
//! router, [`connection`] times each connection's phases and caps how many
//! are served; [`writes`] decides when a write has started (after which the
//! timeout no longer cuts it) and orders writes answered without waiting.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod connection;
mod envelope;
pub mod error;
mod extract;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod metrics;
pub mod routes;
pub mod writes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_server::tls_rustls::RustlsConfig;
use quiver_core::Database;

pub use config::{ConfigError, ServerConfig};
pub use error::ApiError;
pub use metrics::Metrics;
pub use routes::AppState;

/// The README's code blocks, compiled as doc tests so its library example
/// stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// How long shutdown waits for in-flight requests before closing connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The server's version, as served at `/`.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or flushed.
    #[error(transparent)]
    Database(#[from] quiver_core::Error),
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load TLS certificate/key: {0}")]
    Tls(#[source] std::io::Error),
    /// The address could not be bound, or the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A worker thread failed.
    #[error("internal failure: {0}")]
    Internal(String),
}

/// The full router over `state`, with every middleware in place.
pub fn router(mut state: AppState, config: &ServerConfig) -> Router {
    state.max_result_bytes = config.max_result_bytes;
    state.checkpoint_log_bytes = config.checkpoint_log_bytes;
    let (api, mut openapi) = routes::api().split_for_parts();
    routes::responses::describe_errors(&mut openapi);
    let openapi = Arc::new(openapi);
    let auth = auth::Auth::new(
        config.api_key.as_deref(),
        config.read_only_api_key.as_deref(),
    );
    api.route(
        "/openapi.json",
        get(move || {
            let openapi = Arc::clone(&openapi);
            async move { Json(openapi.as_ref().clone()) }
        }),
    )
    .fallback(not_found)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(from_fn_with_state(auth, auth::require_key))
    .layer(from_fn_with_state(config.request_timeout(), limit_time))
    .layer(DefaultBodyLimit::max(config.max_body_bytes))
    .layer(from_fn_with_state(state.metrics.clone(), metrics::track))
    .layer(from_fn(envelope::start_clock))
    .with_state(state)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!("no route for {}", request.uri().path()))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Middleware: answers 503 when a request takes longer than the limit,
/// unless it is a write that has started, which runs to its end and answers
/// (see [`writes`]).
async fn limit_time(State(limit): State<Duration>, mut request: Request, next: Next) -> Response {
    let gate = writes::WriteGate::default();
    request.extensions_mut().insert(gate.clone());
    let answer = next.run(request);
    tokio::pin!(answer);
    match tokio::time::timeout(limit, &mut answer).await {
        Ok(response) => response,
        Err(_) if gate.started() => answer.await,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "request took longer than {} s and was abandoned",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// A server with its database open and its socket bound, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    app: Router,
    db: Arc<Database>,
    tls: Option<RustlsConfig>,
    writes: writes::Writes,
    timeouts: config::ConnectionTimeouts,
    max_connections: usize,
}

impl Server {
    /// Validates `config`, opens the database, loads TLS files and binds.
    ///
    /// # Errors
    /// [`ServeError`] naming what failed: a setting, the database (e.g.
    /// locked by another process), the TLS files or the address.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServeError> {
        config.validate()?;
        let data_dir = config.data_dir.clone();
        let db = tokio::task::spawn_blocking(move || Database::open(&data_dir))
            .await
            .map_err(|e| ServeError::Internal(e.to_string()))??;
        Self::with_database(config, Arc::new(db)).await
    }

    /// Like [`Server::bind`] over a database that is already open.
    ///
    /// # Errors
    /// As [`Server::bind`], except opening the database.
    pub async fn with_database(
        config: ServerConfig,
        db: Arc<Database>,
    ) -> Result<Server, ServeError> {
        config.validate()?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(
                RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(ServeError::Tls)?,
            ),
            _ => None,
        };
        let addr = config.socket_addr()?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServeError::Listen { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServeError::Listen { addr, source })?;
        let state = AppState::new(Arc::clone(&db), Metrics::default());
        let writes = state.writes.clone();
        Ok(Server {
            listener,
            local_addr,
            app: router(state, &config),
            db,
            tls,
            writes,
            timeouts: config.connection_timeouts(),
            max_connections: config.max_connections,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The open database.
    pub fn database(&self) -> Arc<Database> {
        Arc::clone(&self.db)
    }

    /// Whether the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` resolves, then stops accepting, waits up to
    /// 30 s for in-flight requests, and flushes every collection.
    ///
    /// # Errors
    /// [`ServeError::Listen`] if the listener fails, [`ServeError::Database`]
    /// if the final flush fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = self.local_addr;
        let handle = axum_server::Handle::new();
        let trigger = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            trigger.graceful_shutdown(Some(SHUTDOWN_GRACE));
        });
        let service = connection::Capped::new(self.app.into_make_service(), self.max_connections);
        let guard = connection::Guard::new(axum_server::accept::DefaultAcceptor, self.timeouts);
        let listen_error = |source| ServeError::Listen { addr, source };
        match self.tls {
            None => {
                axum_server::from_tcp(self.listener)
                    .map_err(listen_error)?
                    .acceptor(guard)
                    .handle(handle)
                    .serve(service)
                    .await
                    .map_err(listen_error)?;
            }
            Some(tls) => {
                axum_server::tls_rustls::from_tcp_rustls(self.listener, tls)
                    .map_err(listen_error)?
                    .map(|tls| tls.acceptor(guard))
                    .handle(handle)
                    .serve(service)
                    .await
                    .map_err(listen_error)?;
            }
        }
        // Writes acknowledged without waiting, and writes whose client left,
        // end before the final flush.
        self.writes.drain().await;
        let db = self.db;
        tokio::task::spawn_blocking(move || db.flush_all())
            .await
            .map_err(|e| ServeError::Internal(e.to_string()))??;
        tracing::info!("all collections flushed");
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn slow_requests_are_answered_with_503_in_qdrant_json() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "done"
                }),
            )
            .route("/fast", get(|| async { "done" }))
            .layer(from_fn_with_state(Duration::from_millis(50), limit_time))
            .layer(from_fn(envelope::start_clock));
        let slow = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        let bytes = axum::body::to_bytes(slow.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            body["status"]["error"]
                .as_str()
                .unwrap()
                .contains("longer than")
        );
        assert!(body["time"].as_f64().unwrap() >= 0.05);
        let fast = app
            .oneshot(Request::get("/fast").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(fast.status(), StatusCode::OK);
    }

    /// Every (method, path) of the served OpenAPI document reaches a handler
    /// of the real router (not the 404/405 fallbacks) and answers bad
    /// bodies without a 5xx, and the document
    /// covers every route of the Qdrant API that Quiver serves. Routes and
    /// their documentation are registered together by `routes!` in
    /// [`routes::api`]; only `/openapi.json` itself is routed outside it.
    #[tokio::test]
    async fn openapi_document_and_router_agree() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open(dir.path()).unwrap());
        let app = router(
            AppState::new(db, Metrics::default()),
            &ServerConfig::default(),
        );
        let response = app
            .clone()
            .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                if ["parameters", "summary", "description", "servers"].contains(&method.as_str()) {
                    continue;
                }
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        // An existing collection `c` and one that does not exist, `nope`:
        // every route answers bad bodies with a 4xx naming the problem,
        // never a 5xx.
        let create = Request::put("/collections/c")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"vectors": {"size": 2, "distance": "Dot"}}"#))
            .unwrap();
        assert_eq!(
            app.clone().oneshot(create).await.unwrap().status(),
            StatusCode::OK
        );
        let bad_bodies = [
            "{}",
            "[1,",
            "null",
            r#"{"vector": "x", "query": [1], "limit": -1, "points": {}, "filter": 3, "ids": [-1]}"#,
            r#"{"points": [{"id": 1, "vector": [1, 2, 3]}], "filter": {"must": [{"key": ""}]}}"#,
        ];
        for (method, path) in &documented {
            for name in ["c", "nope"] {
                for body in bad_bodies {
                    let uri = path
                        .replace("{name}", name)
                        .replace("{id}", "1")
                        .replace("{field}", "f");
                    let request = Request::builder()
                        .method(method.as_str())
                        .uri(&uri)
                        .header("content-type", "application/json")
                        .body(Body::from(body))
                        .unwrap();
                    let response = app.clone().oneshot(request).await.unwrap();
                    let status = response.status();
                    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                        .await
                        .unwrap();
                    let text = String::from_utf8_lossy(&bytes);
                    let what = format!("{method} {uri} with {body}: {status} {text}");
                    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
                    assert!(
                        !text.contains("no route for"),
                        "documented but not routed: {what}"
                    );
                    assert!(!status.is_server_error(), "{what}");
                }
            }
        }
        let required = [
            ("GET", "/"),
            ("GET", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/livez"),
            ("GET", "/metrics"),
            ("GET", "/collections"),
            ("PUT", "/collections/{name}"),
            ("PATCH", "/collections/{name}"),
            ("GET", "/collections/{name}"),
            ("DELETE", "/collections/{name}"),
            ("GET", "/collections/{name}/exists"),
            ("PUT", "/collections/{name}/points"),
            ("POST", "/collections/{name}/points"),
            ("GET", "/collections/{name}/points/{id}"),
            ("POST", "/collections/{name}/points/delete"),
            ("PUT", "/collections/{name}/points/vectors"),
            ("POST", "/collections/{name}/points/vectors/delete"),
            ("POST", "/collections/{name}/points/payload"),
            ("PUT", "/collections/{name}/points/payload"),
            ("POST", "/collections/{name}/points/payload/delete"),
            ("POST", "/collections/{name}/points/payload/clear"),
            ("POST", "/collections/{name}/points/scroll"),
            ("POST", "/collections/{name}/points/count"),
            ("POST", "/collections/{name}/points/search"),
            ("POST", "/collections/{name}/points/search/batch"),
            ("POST", "/collections/{name}/points/query"),
            ("POST", "/collections/{name}/points/query/batch"),
            ("POST", "/collections/{name}/points/search/groups"),
            ("POST", "/collections/{name}/points/query/groups"),
            ("PUT", "/collections/{name}/index"),
            ("DELETE", "/collections/{name}/index/{field}"),
        ];
        for (method, path) in required {
            assert!(
                documented.contains(&(method.to_string(), path.to_string())),
                "{method} {path} is not in /openapi.json"
            );
        }
        assert_eq!(documented.len(), required.len(), "{documented:?}");
    }
}
