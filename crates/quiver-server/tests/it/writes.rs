//! Writes and `?wait=`: an error answer means nothing was applied, a write
//! that has started is never cut off by the request timeout, and writes
//! acknowledged without waiting apply in order.

use serde_json::{Value, json};

use quiver_server::ServerConfig;

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
    // Not logged yet when answered: no sequence number to report.
    assert!(first["operation_id"].is_null(), "{first}");
    assert!(second["operation_id"].is_null(), "{second}");
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
    // Logged after the three acknowledged writes.
    assert!(last["operation_id"].as_u64() >= Some(3), "{last}");
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

/// `operation_id` is the write's sequence number in the collection's log:
/// one more for each logged write, and it carries on after a restart (a
/// per-process counter would start again).
#[test]
fn operation_ids_are_log_sequence_numbers_and_continue_after_a_restart() {
    let s = TestServer::start();
    s.create("c", 2, "Dot");
    let upsert = |s: &TestServer, id: u64| {
        let r = s.put(
            "/collections/c/points?wait=true",
            json!({"points": [{"id": id, "vector": [1.0, id as f32]}]}),
        );
        s.ok(r)["operation_id"]
            .as_u64()
            .expect("a logged write has an id")
    };
    let mut ids = vec![upsert(&s, 1), upsert(&s, 2)];
    let r = s.post(
        "/collections/c/points/payload?wait=true",
        json!({"payload": {"a": 1}, "points": [1]}),
    );
    ids.push(s.ok(r)["operation_id"].as_u64().unwrap());
    let r = s.post(
        "/collections/c/points/delete?wait=true",
        json!({"points": [2]}),
    );
    ids.push(s.ok(r)["operation_id"].as_u64().unwrap());
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    // A payload index change logs no operation.
    let r = s.put(
        "/collections/c/index?wait=true",
        json!({"field_name": "a", "field_schema": "integer"}),
    );
    assert!(s.ok(r)["operation_id"].is_null());

    let (result, dir) = s.stop();
    result.unwrap();
    let config = ServerConfig {
        data_dir: dir.path().join("db"),
        port: 0,
        ..ServerConfig::default()
    };
    let s = TestServer::with_config(config, dir, reqwest::blocking::Client::new());
    let after = upsert(&s, 3);
    assert_eq!(after, ids[ids.len() - 1] + 1, "{ids:?} then {after}");
}
