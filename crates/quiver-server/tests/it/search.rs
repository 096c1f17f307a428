//! Ranked and listed reads checked against brute force: search, batch,
//! universal query, scroll, count.

use serde_json::{Value, json};

use crate::harness::{TestServer, brute_force, cosine, error_of, seed_points, vectors};

fn ids(points: &Value) -> Vec<u64> {
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn search_and_query_match_brute_force_with_and_without_filters() {
    let s = TestServer::start();
    s.create("c", 8, "Cosine");
    let points = seed_points(&s, "c", 300, 8);
    let in_group_1: Vec<(u64, Vec<f32>)> = points
        .iter()
        .filter(|(id, _)| id % 3 == 1)
        .cloned()
        .collect();
    let group_1 = json!({"must": [{"key": "group", "match": {"value": 1}}]});
    for (qi, q) in vectors(5, 8, 7).iter().enumerate() {
        let want = brute_force(&points, q, 10);
        let hits = s.ok(s.post(
            "/collections/c/points/search",
            json!({"vector": q, "limit": 10, "params": {"exact": true}}),
        ));
        assert_eq!(ids(&hits), want, "query {qi}");
        let best = &hits[0];
        let score = best["score"].as_f64().unwrap() as f32;
        let id = best["id"].as_u64().unwrap() as usize;
        assert!((score - cosine(q, &points[id].1)).abs() < 1e-4);
        assert_eq!(best["version"], 0);
        assert!(best.get("payload").is_none_or(Value::is_null));

        let answer = s.ok(s.post(
            "/collections/c/points/query",
            json!({"query": q, "limit": 10, "params": {"exact": true}}),
        ));
        assert_eq!(ids(&answer["points"]), want);
        let answer = s.ok(s.post(
            "/collections/c/points/query",
            json!({"query": {"nearest": q}, "limit": 5, "filter": group_1, "with_payload": true}),
        ));
        let want_filtered = brute_force(&in_group_1, q, 5);
        assert_eq!(ids(&answer["points"]), want_filtered, "filtered query {qi}");
        for p in answer["points"].as_array().unwrap() {
            assert_eq!(p["payload"]["group"], 1);
        }
        // HNSW (no exact flag) finds the same top hit on this small set.
        let approx = s.ok(s.post(
            "/collections/c/points/query",
            json!({"query": q, "limit": 10}),
        ));
        assert_eq!(ids(&approx["points"])[0], want[0]);
    }
}

#[test]
fn offset_threshold_payload_selection_and_query_by_id() {
    let s = TestServer::start();
    s.create("c", 8, "Cosine");
    let points = seed_points(&s, "c", 100, 8);
    let q = &vectors(1, 8, 3)[0];
    let want = brute_force(&points, q, 8);
    let page = s.ok(s.post(
        "/collections/c/points/query",
        json!({"query": q, "limit": 4, "offset": 4, "params": {"exact": true}}),
    ));
    assert_eq!(ids(&page["points"]), want[4..8].to_vec());

    let all = s.ok(s.post(
        "/collections/c/points/search",
        json!({"vector": q, "limit": 100, "params": {"exact": true}}),
    ));
    let threshold = all[9]["score"].as_f64().unwrap() as f32;
    let above = s.ok(s.post(
        "/collections/c/points/search",
        json!({"vector": q, "limit": 100, "score_threshold": threshold, "params": {"exact": true}}),
    ));
    assert!(above.as_array().unwrap().len() >= 10);
    assert!(above.as_array().unwrap().len() < 100);
    for h in above.as_array().unwrap() {
        assert!(h["score"].as_f64().unwrap() as f32 >= threshold);
    }

    let hits = s.ok(s.post(
        "/collections/c/points/search",
        json!({"vector": q, "limit": 1, "with_payload": ["tag"], "with_vector": true}),
    ));
    assert_eq!(hits[0]["payload"].as_object().unwrap().len(), 1);
    assert_eq!(hits[0]["vector"].as_array().unwrap().len(), 8);

    // The named point's neighbours, without the point itself (as Qdrant),
    // also when a filter is given.
    let by_id = s.ok(s.post(
        "/collections/c/points/query",
        json!({"query": {"nearest": 17}, "limit": 3, "params": {"exact": true}}),
    ));
    let others: Vec<(u64, Vec<f32>)> = points.iter().filter(|(id, _)| *id != 17).cloned().collect();
    assert_eq!(
        ids(&by_id["points"]),
        brute_force(&others, &points[17].1, 3)
    );
    let filtered = s.ok(s.post(
        "/collections/c/points/query",
        json!({"query": 17, "limit": 3, "params": {"exact": true},
               "filter": {"must": [{"key": "tag", "match": {"value": "t1"}}]}}),
    ));
    let odd: Vec<(u64, Vec<f32>)> = others.into_iter().filter(|(id, _)| id % 2 == 1).collect();
    assert_eq!(
        ids(&filtered["points"]),
        brute_force(&odd, &points[17].1, 3)
    );
    error_of(
        s.post(
            "/collections/c/points/query",
            json!({"query": {"nearest": 100_000}}),
        ),
        404,
    );
    let msg = error_of(
        s.post(
            "/collections/c/points/query",
            json!({"query": {"recommend": {"positive": [1]}}}),
        ),
        400,
    );
    assert!(msg.contains("recommend"), "{msg}");
    error_of(
        s.post("/collections/c/points/query", json!({"query": [1.0, 2.0]})),
        400,
    );
    error_of(
        s.post(
            "/collections/c/points/search",
            json!({"vector": [1.0], "limit": 3}),
        ),
        400,
    );
    // An empty prefetch list is no prefetch, as in Qdrant.
    let no_prefetch = s.ok(s.post(
        "/collections/c/points/query",
        json!({"query": q, "prefetch": [], "params": {"exact": true}}),
    ));
    let exact = s.ok(s.post(
        "/collections/c/points/query",
        json!({"query": q, "params": {"exact": true}}),
    ));
    assert_eq!(no_prefetch["points"], exact["points"]);
    error_of(
        s.post("/collections/nope/points/query", json!({"query": q})),
        404,
    );
    let listing = s.ok(s.post("/collections/c/points/query", json!({"limit": 3})));
    assert_eq!(ids(&listing["points"]), vec![0, 1, 2]);
}

#[test]
fn batches_answer_in_request_order() {
    let s = TestServer::start();
    s.create("c", 8, "Cosine");
    let points = seed_points(&s, "c", 60, 8);
    let qs = vectors(3, 8, 11);
    let searches: Vec<Value> = qs
        .iter()
        .map(|q| json!({"vector": q, "limit": 3, "params": {"exact": true}}))
        .collect();
    let answers = s.ok(s.post(
        "/collections/c/points/search/batch",
        json!({"searches": searches}),
    ));
    let queries: Vec<Value> = qs
        .iter()
        .map(|q| json!({"query": q, "limit": 3, "params": {"exact": true}}))
        .collect();
    let query_answers = s.ok(s.post(
        "/collections/c/points/query/batch",
        json!({"searches": queries}),
    ));
    for (i, q) in qs.iter().enumerate() {
        assert_eq!(ids(&answers[i]), brute_force(&points, q, 3));
        assert_eq!(ids(&query_answers[i]["points"]), brute_force(&points, q, 3));
    }
}

#[test]
fn scroll_pages_through_everything_and_count_agrees() {
    let s = TestServer::start();
    s.create("c", 4, "Dot");
    seed_points(&s, "c", 95, 4);
    let mut seen = Vec::new();
    let mut offset = Value::Null;
    loop {
        let mut body = json!({"limit": 10, "with_payload": false});
        if !offset.is_null() {
            body["offset"] = offset.clone();
        }
        let page = s.ok(s.post("/collections/c/points/scroll", body));
        for p in page["points"].as_array().unwrap() {
            assert!(p.get("payload").is_none_or(Value::is_null));
            seen.push(p["id"].as_u64().unwrap());
        }
        offset = page["next_page_offset"].clone();
        if offset.is_null() {
            break;
        }
    }
    assert_eq!(seen, (0..95).collect::<Vec<_>>());
    let filter = json!({"must": [{"key": "tag", "match": {"value": "t0"}}]});
    let count = s.ok(s.post(
        "/collections/c/points/count",
        json!({"filter": filter, "exact": true}),
    ));
    assert_eq!(count["count"], 48);
    let page = s.ok(s.post(
        "/collections/c/points/scroll",
        json!({"filter": filter, "limit": 1000}),
    ));
    assert_eq!(page["points"].as_array().unwrap().len(), 48);
    assert!(page["next_page_offset"].is_null());
    assert_eq!(page["points"][0]["payload"]["tag"], "t0");
    assert_eq!(
        s.ok(s.post("/collections/c/points/count", json!({})))["count"],
        95
    );
    error_of(
        s.post("/collections/c/points/scroll", json!({"order_by": "group"})),
        400,
    );
    error_of(
        s.post(
            "/collections/c/points/count",
            json!({"filter": {"must": [{"key": "", "match": {"value": 1}}]}}),
        ),
        400,
    );
}

/// A `min_should.min_count` far above its conditions (found by fuzzing: it
/// once sized an allocation and aborted the server) matches nothing, on
/// every route that takes a filter, and the server keeps serving.
#[test]
fn a_huge_min_should_count_matches_nothing() {
    let s = TestServer::start();
    s.create("c", 4, "Dot");
    seed_points(&s, "c", 20, 4);
    let filter = json!({"min_should": {
        "conditions": [{"key": "tag", "match": {"value": "t0"}}],
        "min_count": 444_444_444_440u64,
    }});
    let page = s.ok(s.post(
        "/collections/c/points/scroll",
        json!({"filter": filter, "limit": 5}),
    ));
    assert_eq!(page["points"], json!([]));
    let count = s.ok(s.post("/collections/c/points/count", json!({"filter": filter})));
    assert_eq!(count["count"], 0);
    let hits = s.ok(s.post(
        "/collections/c/points/search",
        json!({"vector": [1.0, 0.0, 0.0, 0.0], "limit": 5, "filter": filter}),
    ));
    assert_eq!(hits, json!([]));
    s.ok(s.post(
        "/collections/c/points/delete?wait=true",
        json!({"filter": filter}),
    ));
    assert_eq!(
        s.ok(s.post("/collections/c/points/count", json!({})))["count"],
        20
    );
}
