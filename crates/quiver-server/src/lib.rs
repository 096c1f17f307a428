//! HTTP API over the Quiver engine, with Qdrant-compatible routes.
#![forbid(unsafe_code)]

/// The server's name and version, as served at `/`.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
