//! Qdrant's success envelope `{"result":..,"status":"ok","time":secs}` and
//! the per-request clock that fills in `time` for answers and errors alike.

use std::time::Instant;

use axum::Json;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    static REQUEST_START: Instant;
}

/// Seconds since the current request arrived; 0 outside a request.
pub fn elapsed_secs() -> f64 {
    REQUEST_START
        .try_with(|start| start.elapsed().as_secs_f64())
        .unwrap_or(0.0)
}

/// Middleware: starts the clock that [`elapsed_secs`] reads.
///
/// The handler and the conversion of its result (or rejection) to a
/// response both run inside this scope, so every body gets a real `time`.
pub async fn start_clock(request: Request, next: Next) -> Response {
    REQUEST_START.scope(Instant::now(), next.run(request)).await
}

/// A successful answer in Qdrant's envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// The operation's result.
    pub result: T,
    /// Always `"ok"` for a successful answer.
    pub status: &'static str,
    /// Seconds the server spent on the request.
    pub time: f64,
}

/// Wraps `result` in the envelope, stamped with the request's elapsed time.
pub fn ok<T: Serialize>(result: T) -> Envelope<T> {
    Envelope {
        result,
        status: "ok",
        time: elapsed_secs(),
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
