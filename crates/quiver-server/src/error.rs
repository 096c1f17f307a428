//! The one mapping from errors to HTTP: status code plus Qdrant's error body
//! `{"status":{"error":"..."},"time":secs}`.
//!
//! Core errors arrive through [`From<quiver_core::Error>`], classified by
//! [`quiver_core::ErrorKind`]; axum's extractor rejections (which answer in
//! plain text by default) are turned into the same JSON here, so a client
//! never has to parse two error formats.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quiver_core::ErrorKind;
use serde_json::json;

use crate::envelope;

/// An error answer: the HTTP status and a message for the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

/// What every handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is wrong; nothing changed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: the named collection or point does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500: a failure of the server, not of the request.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The status code for a class of core error.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::Corrupt | ErrorKind::Io | ErrorKind::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        // ErrorKind is non_exhaustive: a new class is a server-side surprise
        // until it gets its own mapping here.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<quiver_core::Error> for ApiError {
    fn from(e: quiver_core::Error) -> Self {
        if let quiver_core::Error::Io { source, .. } = &e
            && source.kind() == std::io::ErrorKind::StorageFull
        {
            // Not a server fault: the write was refused whole and succeeds
            // again once the disk has room.
            tracing::warn!(error = %e, "write refused: disk full");
            return ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("the disk holding the data directory is full; nothing was written: {e}"),
            );
        }
        let status = status_for(e.kind());
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        ApiError::new(status, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        // body_text() names the field and position for data errors, and the
        // limit for oversized bodies; status() is 400/413/415/422.
        let status = match r.status() {
            // Qdrant answers wrong types with 400, not 422.
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            s => s,
        };
        ApiError::new(status, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": { "error": self.message },
            "time": envelope::elapsed_secs(),
        });
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_error_kinds_map_to_client_or_server_statuses() {
        let e = ApiError::from(quiver_core::Error::DimensionMismatch {
            expected: 3,
            got: 2,
        });
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.message().contains("expected 3"));
        let e = ApiError::from(quiver_core::Error::CollectionNotFound { name: "x".into() });
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let e = ApiError::from(quiver_core::Error::CollectionExists { name: "x".into() });
        assert_eq!(e.status(), StatusCode::CONFLICT);
        let e = ApiError::from(quiver_core::Error::Internal("bug".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_full_disk_is_insufficient_storage_naming_the_file() {
        let e = ApiError::from(quiver_core::Error::io(
            "/data/collections/c/ops.log",
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        ));
        assert_eq!(e.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(e.message().contains("disk"), "{}", e.message());
        assert!(e.message().contains("ops.log"), "{}", e.message());
        let e = ApiError::from(quiver_core::Error::io(
            "/data/x",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
