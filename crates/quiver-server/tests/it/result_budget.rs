//! Reads whose answer could exceed `max_result_bytes` are refused with 400
//! before any work, whoever sends them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, send};

#[test]
fn a_small_batch_asking_for_huge_vectors_is_refused_for_the_read_only_key() {
    let s = TestServer::with(|c| {
        c.api_key = Some("s3cret".into());
        c.read_only_api_key = Some("reader".into());
    });
    let dim = 65_536;
    let r = s
        .request(Method::PUT, "/collections/wide")
        .header("api-key", "s3cret")
        .json(&json!({"vectors": {"size": dim, "distance": "Dot"}}));
    assert_eq!(send(r).0, 200);
    let read = |path: &str, body: &Value| {
        send(
            s.request(Method::POST, path)
                .header("api-key", "reader")
                .json(body),
        )
    };
    let query = json!({"query": 7, "limit": 199, "with_vector": true});
    let batch = json!({"searches": vec![query; 100]});
    assert!(batch.to_string().len() < 5000);
    let msg = error_of(read("/collections/wide/points/query/batch", &batch), 400);
    assert!(msg.contains("max_result_bytes = 67108864"), "{msg}");
    assert!(msg.contains("19900 results over 100 requests"), "{msg}");
    assert!(msg.contains("65536-d"), "{msg}");

    let vector = vec![0.5f32; dim];
    let searches: Vec<Value> = (0..100)
        .map(|_| json!({"vector": vector, "limit": 199, "with_vector": true}))
        .collect();
    error_of(
        read(
            "/collections/wide/points/search/batch",
            &json!({"searches": searches}),
        ),
        400,
    );
    let one = json!({"vector": vector, "limit": 1000, "with_vector": true});
    error_of(read("/collections/wide/points/search", &one), 400);
    let one = json!({"limit": 1000, "with_vector": true});
    error_of(read("/collections/wide/points/query", &one), 400);
    error_of(read("/collections/wide/points/scroll", &one), 400);
    let ids: Vec<u64> = (0..1000).collect();
    let msg = error_of(
        read(
            "/collections/wide/points",
            &json!({"ids": ids, "with_vector": true}),
        ),
        400,
    );
    assert!(msg.contains("1000 results"), "{msg}");

    // Within the budget: the same shapes answer.
    let (status, body) = read(
        "/collections/wide/points/query/batch",
        &json!({"searches": [{"limit": 10, "with_vector": true}]}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = read(
        "/collections/wide/points",
        &json!({"ids": ids, "with_vector": false}),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_budget_is_a_setting() {
    let s = TestServer::with(|c| c.max_result_bytes = 10_000);
    s.create("c", 4, "Dot");
    // 100 results x (64 overhead + 256 payload) = 32,000 bytes.
    let msg = error_of(
        s.post("/collections/c/points/scroll", json!({"limit": 100})),
        400,
    );
    assert!(msg.contains("32000 bytes"), "{msg}");
    assert!(msg.contains("max_result_bytes = 10000"), "{msg}");
    s.ok(s.post(
        "/collections/c/points/scroll",
        json!({"limit": 100, "with_payload": false}),
    ));
}
