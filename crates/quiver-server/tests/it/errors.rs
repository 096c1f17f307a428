//! Bad requests get Qdrant's error JSON with the right status, never axum's
//! plain-text rejections.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, error_of, send};

#[test]
fn malformed_json_and_wrong_types_are_400_with_a_message() {
    let s = TestServer::start();
    s.create("c", 3, "Cosine");
    let r = s
        .request(Method::PUT, "/collections/c/points")
        .header("content-type", "application/json")
        .body("{\"points\": [");
    let msg = error_of(send(r), 400);
    assert!(!msg.is_empty());
    let msg = error_of(
        s.post(
            "/collections/c/points/search",
            json!({"vector": "abc", "limit": 1}),
        ),
        400,
    );
    assert!(msg.contains("vector"), "{msg}");
    let msg = error_of(
        s.post("/collections/c/points/search", json!({"vector": [1, 2, 3]})),
        400,
    );
    assert!(msg.contains("limit"), "{msg}");
    let r = s
        .request(Method::POST, "/collections/c/points/count")
        .body("{}");
    let msg = error_of(send(r), 415);
    assert!(msg.to_lowercase().contains("content-type"), "{msg}");
}

#[test]
fn unknown_routes_and_methods_answer_in_json() {
    let s = TestServer::start();
    error_of(s.get("/nothing/here"), 404);
    error_of(s.call(Method::PATCH, "/collections", None), 405);
}

#[test]
fn oversized_bodies_are_413() {
    let s = TestServer::with(|c| c.max_body_bytes = 4096);
    s.create("c", 3, "Cosine");
    let points: Vec<_> = (0..500)
        .map(|i| json!({"id": i, "vector": [1.0, 2.0, 3.0]}))
        .collect();
    let msg = error_of(
        s.put("/collections/c/points", json!({"points": points})),
        413,
    );
    assert!(!msg.is_empty());
    let small: Vec<_> = (0..5)
        .map(|i| json!({"id": i, "vector": [1.0, 2.0, 3.0]}))
        .collect();
    s.ok(s.put("/collections/c/points", json!({"points": small})));
}
