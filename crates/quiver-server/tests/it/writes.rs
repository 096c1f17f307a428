//! Writes and `?wait=`: an error answer means nothing was applied, a write
//! that has started is never cut off by the request timeout, and writes
//! acknowledged without waiting apply in order.

use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, vectors};

fn count(s: &TestServer) -> u64 {
    s.ok(s.post("/collections/c/points/count", json!({})))["count"]
        .as_u64()
        .unwrap()
}

fn big_batch(n: usize, dim: usize) -> Value {
    let vs = vectors(n, dim, 7);
    json!({"batch": {"ids": (0..n as u64).collect::<Vec<_>>(), "vectors": vs}})
}

/// 30,000 points take longer than the 1 s limit to index here; the answer
/// must say the write happened, never that it was abandoned.
#[test]
fn a_write_longer_than_the_request_timeout_completes_and_says_so() {
    let s = TestServer::with(|c| {
        c.request_timeout_secs = 1;
        c.max_body_bytes = 256 << 20;
    });
    s.create("c", 64, "Cosine");
    let r = s.put("/collections/c/points?wait=true", big_batch(30_000, 64));
    let result = s.ok(r);
    assert_eq!(result["status"], "completed");
    assert_eq!(count(&s), 30_000);
    let filter = json!({"filter": {"must": [{"has_id": (0..20_000).collect::<Vec<u64>>()}]}});
    let r = s.post("/collections/c/points/delete?wait=true", filter);
    assert_eq!(s.ok(r)["status"], "completed");
    assert_eq!(count(&s), 10_000);
}

#[test]
fn without_wait_writes_are_acknowledged_and_apply_in_order() {
    // The default time limit: waiting for earlier writes counts against it.
    let s = TestServer::start();
    s.create("c", 8, "Dot");
    let r = s.put("/collections/c/points", big_batch(5_000, 8));
    let first = s.ok(r);
    assert_eq!(first["status"], "acknowledged");
    // Queued behind the upsert: deletes half of it, then changes a payload.
    let r = s.post(
        "/collections/c/points/delete?wait=false",
        json!({"filter": {"must": [{"has_id": (0..2_500).collect::<Vec<u64>>()}]}}),
    );
    let second = s.ok(r);
    assert_eq!(second["status"], "acknowledged");
    assert!(second["operation_id"].as_u64() > first["operation_id"].as_u64());
    s.ok(s.post(
        "/collections/c/points/payload",
        json!({"payload": {"late": true}, "points": [4_999]}),
    ));
    // A waiting write starts only after every write acknowledged before it.
    let r = s.put(
        "/collections/c/points?wait=true",
        json!({"points": [{"id": 9_999, "vector": [1, 0, 0, 0, 0, 0, 0, 0]}]}),
    );
    let last = s.ok(r);
    assert_eq!(last["status"], "completed");
    assert!(last["operation_id"].as_u64() > second["operation_id"].as_u64());
    assert_eq!(count(&s), 2_501);
    let p = s.ok(s.get("/collections/c/points/4999"));
    assert_eq!(p["payload"], json!({"late": true}));

    // Mistakes found before writing are answered even without waiting.
    let msg = error_of(
        s.put(
            "/collections/c/points",
            json!({"points": [{"id": 1, "vector": [1, 2]}]}),
        ),
        400,
    );
    assert!(msg.contains("expected 8, got 2"), "{msg}");
    error_of(
        s.put(
            "/collections/nope/points",
            json!({"points": [{"id": 1, "vector": [1, 2]}]}),
        ),
        404,
    );
    assert_eq!(count(&s), 2_501);
}

#[test]
fn payload_writes_on_a_missing_point_are_404_and_change_nothing() {
    let s = TestServer::start();
    s.create("c", 2, "Dot");
    s.ok(s.put(
        "/collections/c/points?wait=true",
        json!({"points": [{"id": 1, "vector": [1, 0], "payload": {"a": 1}}]}),
    ));
    let bodies = [
        (
            "/points/payload",
            json!({"payload": {"b": 2}, "points": [1, 42]}),
        ),
        (
            "/points/payload/delete",
            json!({"keys": ["a"], "points": [1, 42]}),
        ),
        ("/points/payload/clear", json!({"points": [1, 42]})),
    ];
    for (path, body) in bodies {
        let msg = error_of(
            s.post(&format!("/collections/c{path}?wait=true"), body),
            404,
        );
        assert_eq!(msg, "No point with id 42 found");
    }
    let msg = error_of(
        s.put(
            "/collections/c/points/payload?wait=true",
            json!({"payload": {"b": 2}, "points": [42, 1]}),
        ),
        404,
    );
    assert_eq!(msg, "No point with id 42 found");
    let p = s.ok(s.get("/collections/c/points/1"));
    assert_eq!(p["payload"], json!({"a": 1}));
    // By filter, a missing point is just not matched.
    s.ok(s.post(
        "/collections/c/points/payload?wait=true",
        json!({"payload": {"b": 2}, "filter": {"must": [{"has_id": [1, 42]}]}}),
    ));
    let p = s.ok(s.get("/collections/c/points/1"));
    assert_eq!(p["payload"], json!({"a": 1, "b": 2}));
}
