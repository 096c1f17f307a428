//! Named dense and sparse vectors over HTTP, as Qdrant has them: creating
//! collections with them, upserting any subset (lists, sparse objects, BM25
//! documents), reading them back in Qdrant's shapes, updating and deleting
//! some of a point's vectors; every mistake a 400 (or 404) naming what is
//! wrong, with nothing changed.

use quiver_core::text::{Bm25, Bm25Config};
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of};

/// A collection `c` with the default vector (2-d Dot), `title` (3-d
/// Cosine, its own HNSW m), and sparse `kw` (idf) and `plain`.
fn named_collection(s: &TestServer) {
    let r = s.put(
        "/collections/c",
        json!({
            "vectors": {
                "": {"size": 2, "distance": "Dot"},
                "title": {"size": 3, "distance": "Cosine", "hnsw_config": {"m": 8}, "on_disk": false}
            },
            "hnsw_config": {"ef_construct": 50},
            "sparse_vectors": {
                "kw": {"modifier": "idf", "index": {"on_disk": false}},
                "plain": {}
            }
        }),
    );
    assert_eq!(s.ok(r), json!(true));
}

fn count(s: &TestServer, name: &str) -> u64 {
    let r = s.post(&format!("/collections/{name}/points/count"), json!({}));
    s.ok(r)["count"].as_u64().unwrap()
}

/// `point`'s record with every vector.
fn vectors_of(s: &TestServer, name: &str, id: u64) -> Value {
    let r = s.get(&format!("/collections/{name}/points/{id}"));
    s.ok(r)["vector"].clone()
}

/// `v` as the server writes it: f32s in their shortest form (`json!`
/// would widen them to f64 first, 0.3 becoming 0.30000001192092896).
fn f32s(v: &[f32]) -> Value {
    serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()
}

fn sparse(indices: &[u32], values: &[f32]) -> Value {
    json!({"indices": indices, "values": f32s(values)})
}

fn bm25_json(text: &str, config: &Bm25Config) -> Value {
    let v = Bm25::new(config).unwrap().embed_document(text);
    sparse(v.indices(), v.values())
}

#[test]
fn collections_take_named_dense_and_sparse_vectors_and_report_them() {
    let s = TestServer::start();
    named_collection(&s);
    let info = s.ok(s.get("/collections/c"));
    let params = &info["config"]["params"];
    assert_eq!(params["vectors"][""]["size"], 2);
    assert_eq!(params["vectors"][""]["distance"], "Dot");
    assert_eq!(params["vectors"]["title"]["size"], 3);
    assert_eq!(params["vectors"]["title"]["distance"], "Cosine");
    // Per-vector HNSW over the collection's: title has m 8 and ef 50.
    assert_eq!(
        params["vectors"]["title"]["hnsw_config"],
        json!({"m": 8, "ef_construct": 50})
    );
    assert!(params["vectors"][""].get("hnsw_config").is_none());
    assert_eq!(info["config"]["hnsw_config"]["ef_construct"], 50);
    assert_eq!(info["config"]["hnsw_config"]["m"], 16);
    assert_eq!(params["sparse_vectors"]["kw"]["modifier"], "idf");
    assert_eq!(params["sparse_vectors"]["plain"]["modifier"], "none");

    // `{"": {...}}` and `{...}` are the same collection, reported in the
    // single form.
    for (name, vectors) in [
        ("single", json!({"size": 4, "distance": "Euclid"})),
        ("dict", json!({"": {"size": 4, "distance": "Euclid"}})),
    ] {
        s.ok(s.put(&format!("/collections/{name}"), json!({"vectors": vectors})));
        let info = s.ok(s.get(&format!("/collections/{name}")));
        assert_eq!(
            info["config"]["params"]["vectors"],
            json!({"size": 4, "distance": "Euclid"}),
            "{name}"
        );
        assert!(info["config"]["params"].get("sparse_vectors").is_none());
    }

    // Sparse vectors only: `vectors` empty.
    let r = s.put(
        "/collections/text",
        json!({"vectors": {}, "sparse_vectors": {"bm25": {"modifier": "idf"}}}),
    );
    s.ok(r);
    let info = s.ok(s.get("/collections/text"));
    assert_eq!(info["config"]["params"]["vectors"], json!({}));
    assert_eq!(
        info["config"]["params"]["sparse_vectors"]["bm25"]["modifier"],
        "idf"
    );
}

#[test]
fn create_refuses_what_it_cannot_do_naming_the_field_and_creates_nothing() {
    let s = TestServer::start();
    let dense = json!({"size": 2, "distance": "Dot"});
    for (body, field) in [
        (
            json!({"vectors": {"a": {"size": 2, "distance": "Dot", "quantization_config": {"scalar": {"type": "int8"}}}}}),
            "vectors.a.quantization_config",
        ),
        (
            json!({"vectors": {"a": {"size": 2, "distance": "Dot", "datatype": "uint8"}}}),
            "vectors.a.datatype",
        ),
        (
            json!({"vectors": {"": {"size": 2, "distance": "Dot", "on_disk": true}}}),
            "vectors.\"\".on_disk",
        ),
        (
            json!({"vectors": {"a": {"size": 2, "distance": "Dot", "hnsw_config": {"payload_m": 4}}}}),
            "vectors.a.hnsw_config.payload_m",
        ),
        (
            json!({"vectors": {"a": {"size": 2, "distance": "Dot", "colour": 1}}}),
            "colour",
        ),
        (
            json!({"vectors": dense, "sparse_vectors": {"s": {"modifier": "bm42"}}}),
            "sparse_vectors.s.modifier",
        ),
        (
            json!({"vectors": dense, "sparse_vectors": {"s": {"index": {"on_disk": true}}}}),
            "sparse_vectors.s.index.on_disk",
        ),
        (
            json!({"vectors": dense, "sparse_vectors": {"s": {"index": {"full_scan_threshold": 10}}}}),
            "sparse_vectors.s.index.full_scan_threshold",
        ),
        (
            json!({"vectors": dense, "sparse_vectors": {"s": {"index": {"datatype": "float16"}}}}),
            "sparse_vectors.s.index.datatype",
        ),
        (
            json!({"vectors": dense, "sparse_vectors": {"s": {"weights": 1}}}),
            "weights",
        ),
        (
            json!({"vectors": dense, "strict_mode_config": {"enabled": true}}),
            "strict_mode_config.enabled",
        ),
        (
            json!({"vectors": dense, "strict_mode_config": {"max_query_limit": 10}}),
            "strict_mode_config.max_query_limit",
        ),
        (
            json!({"vectors": dense, "quantization_config": {"binary": {}}}),
            "quantization_config",
        ),
        (
            json!({"vectors": {"a": dense}, "sparse_vectors": {"a": {}}}),
            "`a` is the name of a dense and of a sparse vector",
        ),
        (
            json!({"vectors": {"a": dense}, "sparse_vectors": {"": {}}}),
            "a sparse vector needs a name",
        ),
    ] {
        let msg = error_of(s.put("/collections/c", body.clone()), 400);
        assert!(msg.contains(field), "{body}: {msg}");
    }
    let listing = s.ok(s.get("/collections"));
    assert_eq!(listing["collections"], json!([]));
    // Strict mode off is what Quiver does.
    for off in [
        json!({}),
        json!({"enabled": false, "max_query_limit": null}),
    ] {
        let r = s.put(
            "/collections/strict",
            json!({"vectors": dense, "strict_mode_config": off}),
        );
        s.ok(r);
        s.ok(s.delete("/collections/strict"));
    }
}

#[test]
fn points_carry_any_subset_of_the_vectors_in_every_form() {
    let s = TestServer::start();
    named_collection(&s);
    let r = s.put(
        "/collections/c/points?wait=true",
        json!({"points": [
            {"id": 1, "vector": [1.0, 2.0]},
            {"id": 2, "vector": {"title": [3.0, 0.0, 4.0], "kw": sparse(&[9, 3], &[0.9, 0.3])}},
            {"id": 3, "vector": {"": [0.5, 0.5], "plain": {"text": "Running dogs, running!", "model": "Qdrant/bm25"}}},
            {"id": 4, "vector": {}, "payload": {"a": 1}},
            {"id": 5, "vector": {"kw": {"text": "the cats", "model": "qdrant/bm25", "options": {"k": 2.0, "avg_len": 10.0}}}}
        ]}),
    );
    assert_eq!(s.ok(r)["status"], "completed");
    assert_eq!(count(&s, "c"), 5);
    assert_eq!(vectors_of(&s, "c", 1), json!([1.0, 2.0]));
    assert_eq!(
        vectors_of(&s, "c", 2),
        json!({"title": [0.6, 0.0, 0.8], "kw": sparse(&[3, 9], &[0.3, 0.9])})
    );
    assert_eq!(
        vectors_of(&s, "c", 3),
        json!({"": [0.5, 0.5], "plain": bm25_json("Running dogs, running!", &Bm25Config::default())})
    );
    assert_eq!(vectors_of(&s, "c", 4), json!({}));
    let custom = Bm25Config {
        k: 2.0,
        avg_len: 10.0,
        ..Bm25Config::default()
    };
    assert_eq!(
        vectors_of(&s, "c", 5),
        json!({"kw": bm25_json("the cats", &custom)})
    );

    // The batch form, with named columns.
    let r = s.put(
        "/collections/c/points?wait=true",
        json!({"batch": {
            "ids": [10, 11],
            "vectors": {
                "title": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                "kw": [sparse(&[1], &[1.0]), {"text": "dogs", "model": "qdrant/bm25"}]
            },
            "payloads": [{"n": 10}, {"n": 11}]
        }}),
    );
    s.ok(r);
    assert_eq!(
        vectors_of(&s, "c", 11),
        json!({"title": [0.0, 1.0, 0.0], "kw": bm25_json("dogs", &Bm25Config::default())})
    );
    let r = s.put(
        "/collections/c/points?wait=true",
        json!({"batch": {"ids": [12], "vectors": [[2.0, 2.0]]}}),
    );
    s.ok(r);
    assert_eq!(vectors_of(&s, "c", 12), json!([2.0, 2.0]));
}

#[test]
fn bad_vectors_are_refused_naming_point_and_vector_and_change_nothing() {
    let s = TestServer::start();
    named_collection(&s);
    s.ok(s.put(
        "/collections/c/points?wait=true",
        json!({"points": [{"id": 1, "vector": [1.0, 1.0], "payload": {"v": 1}}]}),
    ));
    let good = json!({"id": 7, "vector": {"title": [1.0, 0.0, 0.0]}});
    for wait in ["true", "false"] {
        for (bad, want) in [
            (
                json!({"id": 9, "vector": {"kw": sparse(&[4, 4], &[1.0, 2.0])}}),
                "point 1 (9): vector `kw`: sparse vector index 4 appears twice",
            ),
            (
                json!({"id": 9, "vector": {"kw": {"indices": [1, 2], "values": [1.0]}}}),
                "point 1 (9): vector `kw`: sparse vector has 2 indices but 1 values",
            ),
            (
                json!({"id": 9, "vector": {"kw": {"indices": [-3], "values": [1.0]}}}),
                "point 1 (9): vector `kw`: sparse vector: invalid value",
            ),
            (
                json!({"id": 9, "vector": {"kw": {"indices": [1], "values": ["x"]}}}),
                "point 1 (9): vector `kw`",
            ),
            (
                json!({"id": 9, "vector": {"title": [1.0, 2.0]}}),
                "point 1 (9): vector `title`: dimension mismatch: expected 3, got 2",
            ),
            (
                json!({"id": 9, "vector": {"nope": [1.0]}}),
                "point 1 (9): the collection has no vector named `nope`",
            ),
            (
                json!({"id": 9, "vector": {"kw": [1.0, 2.0]}}),
                "point 1 (9): vector `kw`: is a sparse vector, given a dense one",
            ),
            (
                json!({"id": 9, "vector": {"title": sparse(&[1], &[1.0])}}),
                "point 1 (9): vector `title`: is a dense vector, given a sparse one",
            ),
            (
                json!({"id": 9, "vector": {"kw": {"text": "x", "model": "sentence-transformers/all-MiniLM-L6-v2"}}}),
                "point 1 (9): vector `kw`: document model `sentence-transformers/all-MiniLM-L6-v2` is not available",
            ),
            (
                json!({"id": 9, "vector": {"kw": {"text": "x", "model": "qdrant/bm25", "options": {"tokenizer": "word"}}}}),
                "unknown field `tokenizer`",
            ),
            (
                json!({"id": 9, "vector": {"kw": {"text": "x", "model": "qdrant/bm25", "options": {"k": -1.0}}}}),
                "point 1 (9): vector `kw`: document options",
            ),
        ] {
            let body = json!({"points": [good, bad]});
            let msg = error_of(
                s.put(&format!("/collections/c/points?wait={wait}"), body.clone()),
                400,
            );
            assert!(msg.contains(want), "wait={wait} {body}: {msg}");
        }
        let msg = error_of(
            s.put(
                &format!("/collections/c/points?wait={wait}"),
                json!({"batch": {"ids": [7, 8], "vectors": {"title": [[1.0, 0.0, 0.0]]}}}),
            ),
            400,
        );
        assert!(
            msg.contains("2 ids but 1 vectors for vector `title`"),
            "{msg}"
        );
    }
    assert_eq!(count(&s, "c"), 1);
    assert_eq!(vectors_of(&s, "c", 1), json!([1.0, 1.0]));
}

#[test]
fn with_vector_selects_by_name_in_qdrants_shapes() {
    let s = TestServer::start();
    named_collection(&s);
    s.create("one", 2, "Dot");
    s.ok(s.put(
        "/collections/one/points?wait=true",
        json!({"points": [{"id": 1, "vector": {"": [1.0, 2.0]}}]}),
    ));
    s.ok(s.put(
        "/collections/c/points?wait=true",
        json!({"points": [
            {"id": 1, "vector": {"": [1.0, 2.0], "title": [0.0, 0.0, 2.0], "kw": sparse(&[5], &[0.5])}},
            {"id": 2, "vector": {"": [3.0, 4.0]}}
        ]}),
    ));
    let get = |name: &str, with_vector: Value| {
        let r = s.post(
            &format!("/collections/{name}/points"),
            json!({"ids": [1, 2], "with_vector": with_vector, "with_payload": false}),
        );
        s.ok(r)
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["vector"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("one", json!(true)), [json!([1.0, 2.0])]);
    assert_eq!(get("one", json!([""])), [json!([1.0, 2.0])]);
    assert_eq!(get("one", json!(false)), [Value::Null]);
    assert_eq!(
        get("c", json!(true)),
        [
            json!({"": [1.0, 2.0], "title": [0.0, 0.0, 1.0], "kw": sparse(&[5], &[0.5])}),
            // The default vector alone goes out as a list, as in Qdrant.
            json!([3.0, 4.0])
        ]
    );
    assert_eq!(
        get("c", json!(["kw", "title"])),
        [
            json!({"title": [0.0, 0.0, 1.0], "kw": sparse(&[5], &[0.5])}),
            json!({})
        ]
    );
    assert_eq!(
        get("c", json!([""])),
        [json!([1.0, 2.0]), json!([3.0, 4.0])]
    );
    let msg = error_of(
        s.post(
            "/collections/c/points",
            json!({"ids": [1], "with_vector": ["kw", "body"]}),
        ),
        400,
    );
    assert!(
        msg.contains("with_vector: the collection has no vector named `body`"),
        "{msg}"
    );

    // Scroll selects the same way.
    let r = s.post(
        "/collections/c/points/scroll",
        json!({"with_vector": ["kw"], "with_payload": false, "limit": 1}),
    );
    let page = s.ok(r);
    assert_eq!(
        page["points"][0]["vector"],
        json!({"kw": sparse(&[5], &[0.5])})
    );
    assert_eq!(page["next_page_offset"], 2);
    let msg = error_of(
        s.post(
            "/collections/c/points/scroll",
            json!({"with_vector": ["zzz"]}),
        ),
        400,
    );
    assert!(msg.contains("`zzz`"), "{msg}");
}

#[test]
fn update_vectors_sets_some_and_keeps_the_rest() {
    let s = TestServer::start();
    named_collection(&s);
    s.ok(s.put(
        "/collections/c/points?wait=true",
        json!({"points": [
            {"id": 1, "vector": {"": [1.0, 2.0], "kw": sparse(&[5], &[0.5])}, "payload": {"p": 1}},
            {"id": 2, "vector": [3.0, 4.0]}
        ]}),
    ));
    let r = s.put(
        "/collections/c/points/vectors?wait=true",
        json!({"points": [
            {"id": 1, "vector": {"title": [0.0, 3.0, 0.0], "plain": {"text": "dogs", "model": "qdrant/bm25"}}},
            {"id": 2, "vector": [5.0, 6.0]}
        ]}),
    );
    assert_eq!(s.ok(r)["status"], "completed");
    assert_eq!(
        vectors_of(&s, "c", 1),
        json!({"": [1.0, 2.0], "title": [0.0, 1.0, 0.0], "kw": sparse(&[5], &[0.5]),
               "plain": bm25_json("dogs", &Bm25Config::default())})
    );
    assert_eq!(vectors_of(&s, "c", 2), json!([5.0, 6.0]));
    let r = s.get("/collections/c/points/1");
    assert_eq!(s.ok(r)["payload"], json!({"p": 1}));

    // Mistakes change nothing: a missing point, a bad vector, no vector.
    let before = (vectors_of(&s, "c", 1), vectors_of(&s, "c", 2));
    let msg = error_of(
        s.put(
            "/collections/c/points/vectors?wait=true",
            json!({"points": [{"id": 2, "vector": [7.0, 7.0]}, {"id": 99, "vector": [1.0, 1.0]}]}),
        ),
        404,
    );
    assert!(msg.contains("99"), "{msg}");
    for wait in ["true", "false"] {
        let msg = error_of(
            s.put(
                &format!("/collections/c/points/vectors?wait={wait}"),
                json!({"points": [{"id": 2, "vector": [7.0, 7.0]}, {"id": 1, "vector": {"kw": sparse(&[1, 1], &[1.0, 1.0])}}]}),
            ),
            400,
        );
        assert!(msg.contains("point 1 (1): vector `kw`"), "{msg}");
        let msg = error_of(
            s.put(
                &format!("/collections/c/points/vectors?wait={wait}"),
                json!({"points": [{"id": 2, "vector": {"title": [1.0]}}]}),
            ),
            400,
        );
        assert!(
            msg.contains("point 0 (2): vector `title`: dimension mismatch"),
            "{msg}"
        );
        let msg = error_of(
            s.put(
                &format!("/collections/c/points/vectors?wait={wait}"),
                json!({"points": [{"id": 2, "vector": {}}]}),
            ),
            400,
        );
        assert!(msg.contains("point 0 (2): no vector given"), "{msg}");
    }
    let msg = error_of(
        s.put(
            "/collections/c/points/vectors",
            json!({"points": [], "filter": {"must": []}}),
        ),
        400,
    );
    assert!(msg.contains("filter"), "{msg}");
    assert_eq!((vectors_of(&s, "c", 1), vectors_of(&s, "c", 2)), before);
}

#[test]
fn delete_vectors_removes_names_by_ids_or_filter() {
    let s = TestServer::start();
    named_collection(&s);
    s.ok(s.put(
        "/collections/c/points?wait=true",
        json!({"points": [
            {"id": 1, "vector": {"": [1.0, 2.0], "title": [1.0, 0.0, 0.0], "kw": sparse(&[5], &[0.5])}, "payload": {"g": "a"}},
            {"id": 2, "vector": {"": [3.0, 4.0], "kw": sparse(&[6], &[0.6])}, "payload": {"g": "b"}}
        ]}),
    ));
    let r = s.post(
        "/collections/c/points/vectors/delete?wait=true",
        json!({"points": [1], "vector": ["title", "kw"]}),
    );
    assert_eq!(s.ok(r)["status"], "completed");
    assert_eq!(vectors_of(&s, "c", 1), json!([1.0, 2.0]));
    assert_eq!(
        vectors_of(&s, "c", 2),
        json!({"": [3.0, 4.0], "kw": sparse(&[6], &[0.6])})
    );
    let r = s.post(
        "/collections/c/points/vectors/delete?wait=true",
        json!({"filter": {"must": [{"key": "g", "match": {"value": "b"}}]}, "vector": [""]}),
    );
    s.ok(r);
    assert_eq!(vectors_of(&s, "c", 2), json!({"kw": sparse(&[6], &[0.6])}));
    assert_eq!(count(&s, "c"), 2);

    let before = (vectors_of(&s, "c", 1), vectors_of(&s, "c", 2));
    for wait in ["true", "false"] {
        let msg = error_of(
            s.post(
                &format!("/collections/c/points/vectors/delete?wait={wait}"),
                json!({"points": [2], "vector": ["kw", "body"]}),
            ),
            400,
        );
        assert!(msg.contains("no vector named `body`"), "{msg}");
        let msg = error_of(
            s.post(
                &format!("/collections/c/points/vectors/delete?wait={wait}"),
                json!({"points": [2], "vector": []}),
            ),
            400,
        );
        assert!(msg.contains("`vector`"), "{msg}");
        let msg = error_of(
            s.post(
                &format!("/collections/c/points/vectors/delete?wait={wait}"),
                json!({"vector": ["kw"]}),
            ),
            400,
        );
        assert!(msg.contains("missing selector"), "{msg}");
    }
    let msg = error_of(
        s.post(
            "/collections/c/points/vectors/delete?wait=true",
            json!({"points": [2, 77], "vector": ["kw"]}),
        ),
        404,
    );
    assert!(msg.contains("77"), "{msg}");
    assert_eq!((vectors_of(&s, "c", 1), vectors_of(&s, "c", 2)), before);
}

#[test]
fn the_root_names_qdrant_and_the_api_version() {
    let s = TestServer::start();
    let (status, body) = s.get("/");
    assert_eq!(status, 200);
    assert_eq!(body["title"], "qdrant - vector search engine");
    assert!(
        body["version"].as_str().unwrap().starts_with("1.15."),
        "{body}"
    );
    assert!(body["quiver_version"].is_string(), "{body}");
}

#[test]
fn sparse_vectors_read_count_against_the_result_budget() {
    let s = TestServer::with(|c| c.max_result_bytes = 20_000);
    let r = s.put(
        "/collections/t",
        json!({"vectors": {}, "sparse_vectors": {"s": {}}}),
    );
    s.ok(r);
    let wide: Vec<u32> = (0..3000).collect();
    let values = vec![1.0f32; wide.len()];
    s.ok(s.put(
        "/collections/t/points?wait=true",
        json!({"points": [{"id": 1, "vector": {"s": sparse(&wide, &values)}},
                          {"id": 2, "vector": {"s": sparse(&[1], &[1.0])}}]}),
    ));
    // Without vectors, or with the small one, the answer fits.
    s.ok(s.post("/collections/t/points", json!({"ids": [1, 2]})));
    s.ok(s.post(
        "/collections/t/points",
        json!({"ids": [2], "with_vector": true}),
    ));
    // 3000 entries at 8 bytes are more than 20 000 bytes.
    let msg = error_of(
        s.post(
            "/collections/t/points",
            json!({"ids": [1, 2], "with_vector": true}),
        ),
        400,
    );
    assert!(msg.contains("max_result_bytes = 20000"), "{msg}");
    assert!(msg.contains("24008 of them vectors"), "{msg}");
    let msg = error_of(
        s.post(
            "/collections/t/points/scroll",
            json!({"with_vector": ["s"]}),
        ),
        400,
    );
    assert!(msg.contains("max_result_bytes = 20000"), "{msg}");
}

#[test]
fn update_collection_passes_only_when_it_asks_for_no_change() {
    let s = TestServer::start();
    named_collection(&s);
    let patch = |body: Value| s.call(reqwest::Method::PATCH, "/collections/c", Some(body));
    let before = s.ok(s.get("/collections/c"))["config"].clone();
    // What the collection already is, or nothing at all.
    for same in [
        json!({}),
        json!({"vectors": {"title": {"hnsw_config": {"m": 8}, "on_disk": false}, "": {"quantization_config": null}},
               "hnsw_config": {"ef_construct": 50, "m": 16},
               "params": {"replication_factor": 1, "on_disk_payload": true},
               "sparse_vectors": {"kw": {"modifier": "idf"}},
               "strict_mode_config": {"enabled": false},
               "optimizers_config": null}),
    ] {
        assert_eq!(s.ok(patch(same.clone())), json!(true), "{same}");
    }
    for (body, field) in [
        (
            json!({"hnsw_config": {"m": 32}}),
            "`hnsw_config` asks for m 32",
        ),
        (
            json!({"vectors": {"title": {"hnsw_config": {"ef_construct": 10}}}}),
            "vectors.title.hnsw_config",
        ),
        (
            json!({"vectors": {"title": {"on_disk": true}}}),
            "vectors.title.on_disk",
        ),
        (
            json!({"vectors": {"body": {}}}),
            "vectors.body: the collection has no vector named `body`",
        ),
        (
            json!({"vectors": {"": {"quantization_config": {"scalar": {"type": "int8"}}}}}),
            "vectors.\"\".quantization_config",
        ),
        (
            json!({"sparse_vectors": {"kw": {"modifier": "none"}}}),
            "sparse_vectors.kw.modifier",
        ),
        (
            json!({"sparse_vectors": {"new": {}}}),
            "no sparse vector named `new`",
        ),
        (
            json!({"optimizers_config": {"indexing_threshold": 0}}),
            "optimizers_config",
        ),
        (
            json!({"quantization_config": {"binary": {}}}),
            "quantization_config",
        ),
        (
            json!({"params": {"replication_factor": 2}}),
            "params.replication_factor",
        ),
        (
            json!({"strict_mode_config": {"max_query_limit": 5}}),
            "strict_mode_config.max_query_limit",
        ),
        (json!({"metadata": {"a": 1}}), "metadata"),
    ] {
        let msg = error_of(patch(body.clone()), 400);
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(s.ok(s.get("/collections/c"))["config"], before);
    error_of(
        s.call(reqwest::Method::PATCH, "/collections/none", Some(json!({}))),
        404,
    );
}
