//! The OpenAPI document tells the truth: the answers the server really gives
//! are the ones it documents, status codes and bodies alike.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, send};

/// Every operation of the document as (method, path template, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op.clone()));
        }
    }
    ops
}

/// `path` with its parameters filled in with existing things.
fn concrete(path: &str) -> String {
    path.replace("{name}", "docs")
        .replace("{id}", "1")
        .replace("{field}", "city")
}

/// Whether `op` documents `status` with the error body.
fn documents_error(op: &Value, status: u16) -> bool {
    let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
    schema["$ref"] == "#/components/schemas/ErrorResponse"
}

#[test]
fn the_error_answers_of_every_body_route_are_documented() {
    let s = TestServer::start();
    s.create("docs", 4, "Cosine");
    let (_, doc) = s.get("/openapi.json");
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        if op.get("requestBody").is_none() {
            continue;
        }
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = concrete(&path);
        let (status, body) = send(s.request(method.clone(), &url).body("{}"));
        assert_eq!(status, 415, "{method} {url} without content type: {body}");
        assert!(documents_error(&op, 415), "{method} {path} lacks 415: {op}");
        let (status, body) = send(
            s.request(method.clone(), &url)
                .header("content-type", "application/json")
                .body("{"),
        );
        assert_eq!(status, 400, "{method} {url} with broken JSON: {body}");
        assert!(documents_error(&op, 400), "{method} {path} lacks 400: {op}");
        if path.contains("{name}") {
            let (status, _) = send(
                s.request(
                    method.clone(),
                    &concrete(&path.replace("{name}", "missing")),
                )
                .json(&json!({})),
            );
            assert!(status == 404 || status == 400, "{method} {path}: {status}");
            assert!(documents_error(&op, 404), "{method} {path} lacks 404");
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} operations with a body");
}

/// Whether `value` fits one branch of the `oneOf` of schema `name`, judged
/// by JSON type alone.
fn fits_one_of(doc: &Value, name: &str, value: &Value) -> bool {
    let branches = doc["components"]["schemas"][name]["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} is not a oneOf"));
    branches.iter().any(|b| match b["type"].as_str() {
        Some("integer") => value.is_u64(),
        Some("string") => value.is_string(),
        _ => false,
    })
}

#[test]
fn point_ids_in_answers_fit_the_documented_point_id_schema() {
    let s = TestServer::start();
    s.create("docs", 2, "Dot");
    s.ok(s.put(
        "/collections/docs/points?wait=true",
        json!({"points": [
            {"id": 7, "vector": [1.0, 0.0]},
            {"id": "550e8400-e29b-41d4-a716-446655440000", "vector": [0.0, 1.0]}
        ]}),
    ));
    let (_, doc) = s.get("/openapi.json");
    let page = s.ok(s.post("/collections/docs/points/scroll", json!({"limit": 1})));
    let hits = s.ok(s.post(
        "/collections/docs/points/search",
        json!({"vector": [1.0, 1.0], "limit": 2}),
    ));
    let mut ids: Vec<Value> = page["points"]
        .as_array()
        .unwrap()
        .iter()
        .chain(hits.as_array().unwrap())
        .map(|p| p["id"].clone())
        .collect();
    ids.push(page["next_page_offset"].clone());
    assert!(ids.iter().any(Value::is_u64) && ids.iter().any(Value::is_string));
    for id in ids {
        assert!(fits_one_of(&doc, "ExtendedPointId", &id), "{id}");
    }
}
