//! Integration tests against a real server on 127.0.0.1 (port 0), driven
//! over HTTP with reqwest.

// Test helpers outside #[test] fns panic on failure by design; clippy's
// allow-unwrap-in-tests only covers the #[test] fns themselves.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod harness;

mod collections;
mod connections;
mod errors;
mod named_vectors;
mod openapi;
mod options;
mod points;
mod query_api;
mod result_budget;
mod search;
mod security;
mod service;
mod writes;
