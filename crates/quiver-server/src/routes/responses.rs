//! The error answers the middleware and extractors can give on any route,
//! added to the OpenAPI document after every route is in it, so that the
//! document lists each status code a client can receive and the body that
//! comes with it (Qdrant's `{"status": {"error": ..}, "time": ..}`).
//!
//! Which route can answer what is decided from its shape (path parameters,
//! query parameters, request body, `wait`), the same facts the extractors
//! and middleware act on, so a new route is described without being listed
//! here.

use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::OPEN_PATHS;

/// Body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub status: ErrorStatus,
    /// Seconds the server spent on the request.
    pub time: f64,
}

/// The `status` of an error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorStatus {
    /// A message naming what was wrong.
    pub error: String,
}

const JSON: &str = "application/json";

/// Adds to every operation of `doc` the error statuses it can answer, and
/// gives every documented error status the error body.
pub fn describe_errors(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let open = OPEN_PATHS.contains(&path.as_str());
        let named = path.contains("{name}");
        let writes_collection = named && !path.contains("/points/") && !path.contains("/index");
        for (method, op) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ] {
            let Some(op) = op.as_mut() else { continue };
            let has_body = op.request_body.is_some();
            let params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let waits = op.parameters.iter().flatten().any(|p| p.name == "wait");
            if has_body || params {
                add(
                    op,
                    "400",
                    "The request is malformed or asks for something unsupported; the message names it",
                );
            }
            if !open {
                add(
                    op,
                    "401",
                    "No key given, or a wrong one, while the server requires one",
                );
                add(op, "403", "The read-only key was given for a write");
            }
            if named {
                add(op, "404", "No such collection");
            }
            if has_body {
                add(
                    op,
                    "413",
                    "The body is larger than the server's max_body_bytes",
                );
                add(op, "415", "The body is not sent as application/json");
            }
            add(
                op,
                "503",
                "The request took longer than the server's request timeout",
            );
            if waits || (writes_collection && method != "get") {
                add(
                    op,
                    "507",
                    "The disk holding the data directory is full; nothing was written",
                );
            }
            with_error_bodies(op);
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        ("ErrorResponse", ErrorResponse::schema()),
        ("ErrorStatus", ErrorStatus::schema()),
    ] {
        components.schemas.insert(name.to_string(), schema);
    }
}

/// Documents `status` on `op` unless the route documents it already.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(description).build()));
}

/// Gives each 4xx/5xx response without a body the error body.
fn with_error_bodies(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let RefOr::T(response) = response
            && is_error
            && response.content.is_empty()
        {
            response.content.insert(
                JSON.to_string(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorResponse")))
                    .build(),
            );
        }
    }
}
