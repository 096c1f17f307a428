//! Point writes and retrieval: both upsert forms, get, delete, payload ops.

use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, seed_points};

fn ids(records: &Value) -> Vec<u64> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn list_and_batch_upserts_store_vectors_and_payloads() {
    let s = TestServer::start();
    s.create("c", 3, "Dot");
    let r = s.put(
        "/collections/c/points?wait=true",
        json!({"points": [
            {"id": 1, "vector": [1.0, 0.0, 0.0], "payload": {"a": 1}},
            {"id": "550e8400-e29b-41d4-a716-446655440000", "vector": [0.0, 1.0, 0.0]}
        ]}),
    );
    let result = s.ok(r);
    assert_eq!(result["status"], "completed");
    assert!(result["operation_id"].is_u64());
    let r = s.put(
        "/collections/c/points?wait=true",
        json!({"batch": {"ids": [2, 3], "vectors": [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]], "payloads": [{"b": 2}, null]}}),
    );
    s.ok(r);
    let got = s.ok(s.post(
        "/collections/c/points",
        json!({"ids": [3, 2, 99, "550e8400-e29b-41d4-a716-446655440000"], "with_vector": true}),
    ));
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 3, "{got:?}");
    let by_id = |id: Value| got.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(by_id(json!(2))["payload"], json!({"b": 2}));
    assert_eq!(by_id(json!(2))["vector"], json!([0.0, 0.0, 1.0]));
    assert_eq!(by_id(json!(3))["vector"], json!([1.0, 1.0, 1.0]));
    assert_eq!(
        by_id(json!("550e8400-e29b-41d4-a716-446655440000"))["vector"],
        json!([0.0, 1.0, 0.0])
    );

    let one = s.ok(s.get("/collections/c/points/1"));
    assert_eq!(one["id"], 1);
    assert_eq!(one["payload"], json!({"a": 1}));
    assert_eq!(one["vector"], json!([1.0, 0.0, 0.0]));
    let one = s.ok(s.get("/collections/c/points/550e8400-e29b-41d4-a716-446655440000"));
    assert_eq!(one["vector"], json!([0.0, 1.0, 0.0]));
    error_of(s.get("/collections/c/points/77"), 404);
    error_of(s.get("/collections/c/points/not-an-id"), 400);
    error_of(s.get("/collections/nope/points/1"), 404);
}

#[test]
fn a_bad_point_rejects_the_whole_batch() {
    let s = TestServer::start();
    s.create("c", 3, "Cosine");
    let msg = error_of(
        s.put(
            "/collections/c/points",
            json!({"points": [{"id": 1, "vector": [1, 2, 3]}, {"id": 2, "vector": [1, 2]}]}),
        ),
        400,
    );
    assert!(msg.contains('3') && msg.contains('2'), "{msg}");
    assert_eq!(
        s.ok(s.post("/collections/c/points/count", json!({})))["count"],
        0
    );
    let msg = error_of(
        s.put(
            "/collections/c/points",
            json!({"batch": {"ids": [1, 2], "vectors": [[1, 2, 3]]}}),
        ),
        400,
    );
    assert!(msg.contains("2 ids but 1 vectors"), "{msg}");
    error_of(s.put("/collections/c/points", json!({})), 400);
    error_of(
        s.put(
            "/collections/c/points",
            json!({"points": [{"id": -1, "vector": [1, 2, 3]}]}),
        ),
        400,
    );
    error_of(
        s.put(
            "/collections/c/points",
            json!({"points": [{"id": 1, "vector": [1, "x", 3]}]}),
        ),
        400,
    );
    error_of(
        s.put("/collections/nope/points", json!({"points": []})),
        404,
    );
}

#[test]
fn delete_by_ids_and_by_filter() {
    let s = TestServer::start();
    s.create("c", 4, "Cosine");
    seed_points(&s, "c", 12, 4);
    let r = s.post(
        "/collections/c/points/delete?wait=true",
        json!({"points": [0, 1, 500]}),
    );
    assert_eq!(s.ok(r)["status"], "completed");
    assert_eq!(
        s.ok(s.post("/collections/c/points/count", json!({})))["count"],
        10
    );
    let r = s.post(
        "/collections/c/points/delete?wait=true",
        json!({"filter": {"must": [{"key": "group", "match": {"value": 2}}]}}),
    );
    s.ok(r);
    // ids 2, 5, 8, 11 had group 2; 0 and 1 were already gone.
    let left = s.ok(s.post("/collections/c/points/scroll", json!({"limit": 100})));
    assert_eq!(ids(&left["points"]), vec![3, 4, 6, 7, 9, 10]);
    error_of(
        s.post("/collections/c/points/delete?wait=true", json!({})),
        400,
    );
    error_of(
        s.post(
            "/collections/c/points/delete?wait=true",
            json!({"points": [1], "filter": {"must": []}}),
        ),
        400,
    );
}

#[test]
fn payload_set_overwrite_delete_keys_and_clear() {
    let s = TestServer::start();
    s.create("c", 4, "Cosine");
    seed_points(&s, "c", 4, 4);
    let payload = |id: u64| s.ok(s.get(&format!("/collections/c/points/{id}")))["payload"].clone();

    s.ok(s.post(
        "/collections/c/points/payload?wait=true",
        json!({"payload": {"x": 1}, "points": [0]}),
    ));
    assert_eq!(payload(0), json!({"group": 0, "tag": "t0", "x": 1}));
    s.ok(s.put(
        "/collections/c/points/payload?wait=true",
        json!({"payload": {"y": 2}, "points": [0]}),
    ));
    assert_eq!(payload(0), json!({"y": 2}));
    s.ok(s.post(
        "/collections/c/points/payload?wait=true",
        json!({"payload": {"z": true}, "filter": {"must": [{"key": "tag", "match": {"value": "t1"}}]}}),
    ));
    assert_eq!(payload(1), json!({"group": 1, "tag": "t1", "z": true}));
    assert_eq!(payload(3), json!({"group": 0, "tag": "t1", "z": true}));
    assert_eq!(payload(2), json!({"group": 2, "tag": "t0"}));
    s.ok(s.post(
        "/collections/c/points/payload/delete?wait=true",
        json!({"keys": ["z", "group"], "points": [1]}),
    ));
    assert_eq!(payload(1), json!({"tag": "t1"}));
    s.ok(s.post(
        "/collections/c/points/payload/clear?wait=true",
        json!({"points": [2, 3]}),
    ));
    assert_eq!(payload(2), json!({}));
    assert_eq!(payload(3), json!({}));
    let msg = error_of(
        s.post(
            "/collections/c/points/payload?wait=true",
            json!({"payload": {"a": 1}, "points": [0], "key": "n"}),
        ),
        400,
    );
    assert!(msg.contains("key"), "{msg}");
    error_of(
        s.post(
            "/collections/c/points/payload?wait=true",
            json!({"payload": 5, "points": [0]}),
        ),
        400,
    );
}
