//! No option is silently ignored: each Qdrant body field is applied,
//! accepted because its value asks for what Quiver does, or refused with a
//! 400 naming it; unknown fields are refused the same way; null is "not set".

use serde_json::{Value, json};

use crate::harness::{TestServer, error_of};

fn vectors() -> Value {
    json!({"size": 2, "distance": "Dot"})
}

/// `base` with `path` (dot-separated) set to `value`.
fn with(mut base: Value, path: &str, value: Value) -> Value {
    let mut at = &mut base;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            at[key] = value;
            break;
        }
        if at.get(key).is_none_or(Value::is_null) {
            at[key] = json!({});
        }
        at = &mut at[key];
    }
    base
}

#[test]
fn create_accepts_nulls_and_values_that_ask_for_what_quiver_does() {
    let s = TestServer::start();
    // What qdrant-client sends for a plain create: every option null.
    let nulls = json!({
        "vectors": {"size": 2, "distance": "Dot", "hnsw_config": null, "quantization_config": null,
                    "on_disk": null, "datatype": null, "multivector_config": null},
        "shard_number": null, "sharding_method": null, "replication_factor": null,
        "write_consistency_factor": null, "on_disk_payload": null, "hnsw_config": null,
        "wal_config": null, "optimizers_config": null, "init_from": null,
        "quantization_config": null, "sparse_vectors": null, "strict_mode_config": null
    });
    s.ok(s.put("/collections/nulls", nulls));
    let base = json!({"vectors": vectors()});
    for (i, (field, value)) in [
        ("shard_number", json!(1)),
        ("sharding_method", json!("auto")),
        ("replication_factor", json!(1)),
        ("write_consistency_factor", json!(1)),
        ("on_disk_payload", json!(true)),
        ("hnsw_config.max_indexing_threads", json!(0)),
        ("hnsw_config.on_disk", json!(false)),
        ("vectors.on_disk", json!(false)),
        ("vectors.datatype", json!("float32")),
        ("sparse_vectors", json!({})),
        ("sparse_vectors", json!({"text": {}})),
        ("vectors.hnsw_config", json!({"m": 4})),
        ("strict_mode_config", json!({"enabled": false})),
    ]
    .into_iter()
    .enumerate()
    {
        let body = with(base.clone(), field, value);
        let r = s.put(&format!("/collections/ok{i}"), body.clone());
        assert_eq!(r.0, 200, "{body}: {}", r.1);
    }
}

#[test]
fn create_refuses_options_quiver_lacks_naming_them() {
    let s = TestServer::start();
    let base = json!({"vectors": vectors()});
    for (field, value) in [
        ("shard_number", json!(2)),
        ("sharding_method", json!("custom")),
        ("replication_factor", json!(3)),
        ("write_consistency_factor", json!(2)),
        ("on_disk_payload", json!(false)),
        ("optimizers_config", json!({"indexing_threshold": 0})),
        ("init_from", json!({"collection": "other"})),
        ("quantization_config", json!({"scalar": {"type": "int8"}})),
        ("strict_mode_config", json!({"enabled": true})),
        ("hnsw_config.full_scan_threshold", json!(100)),
        ("hnsw_config.max_indexing_threads", json!(2)),
        ("hnsw_config.on_disk", json!(true)),
        ("hnsw_config.payload_m", json!(16)),
        ("vectors.hnsw_config", json!({"payload_m": 4})),
        ("vectors.quantization_config", json!({"binary": {}})),
        ("vectors.on_disk", json!(true)),
        ("vectors.datatype", json!("float16")),
        (
            "vectors.multivector_config",
            json!({"comparator": "max_sim"}),
        ),
        ("shards", json!(1)),
        ("vectors.dims", json!(1)),
        ("hnsw_config.ef", json!(1)),
    ] {
        let body = with(base.clone(), field, value);
        let message = error_of(s.put("/collections/c", body.clone()), 400);
        let leaf = field.rsplit('.').next().unwrap();
        assert!(message.contains(leaf), "{body}: {message}");
    }
    let (_, listing) = s.get("/collections");
    assert_eq!(
        listing["result"]["collections"],
        json!([]),
        "a refused create made a collection"
    );
}

#[test]
fn request_bodies_refuse_unknown_fields_and_shard_keys_naming_them() {
    let s = TestServer::start();
    s.create("c", 2, "Dot");
    let upsert = |extra: (&str, Value)| {
        let mut body = json!({"points": [{"id": 1, "vector": [1.0, 0.0]}]});
        body[extra.0] = extra.1;
        s.put("/collections/c/points?wait=true", body)
    };
    s.ok(upsert(("shard_key", Value::Null)));
    assert!(error_of(upsert(("shard_key", json!("a"))), 400).contains("shard_key"));
    assert!(error_of(upsert(("wait", json!(true))), 400).contains("wait"));
    for (path, body, field) in [
        (
            "/collections/c/points/search",
            json!({"vector": [1.0, 0.0], "limit": 1, "top": 3}),
            "top",
        ),
        (
            "/collections/c/points/search",
            json!({"vector": [1.0, 0.0], "limit": 1, "shard_key": 1}),
            "shard_key",
        ),
        (
            "/collections/c/points/search",
            json!({"vector": [1.0, 0.0], "limit": 1, "params": {"ef": 5}}),
            "ef",
        ),
        (
            "/collections/c/points/search",
            json!({"vector": [1.0, 0.0], "limit": 1, "params": {"indexed_only": true}}),
            "indexed_only",
        ),
        (
            "/collections/c/points/search",
            json!({"vector": [1.0, 0.0], "limit": 1, "params": {"quantization": {"rescore": true}}}),
            "quantization",
        ),
        (
            "/collections/c/points/query",
            json!({"query": [1.0, 0.0], "lookup_from": {"collection": "d"}}),
            "lookup_from",
        ),
        (
            "/collections/c/points/query",
            json!({"query": [1.0, 0.0], "limits": 2}),
            "limits",
        ),
        (
            "/collections/c/points/scroll",
            json!({"limit": 1, "order": "asc"}),
            "order",
        ),
        (
            "/collections/c/points/count",
            json!({"exactly": true}),
            "exactly",
        ),
        (
            "/collections/c/points",
            json!({"ids": [1], "with_vectors": true}),
            "with_vectors",
        ),
        (
            "/collections/c/points/delete",
            json!({"points": [1], "ids": [1]}),
            "ids",
        ),
    ] {
        let message = error_of(s.post(path, body.clone()), 400);
        assert!(message.contains(field), "{path} {body}: {message}");
    }
    // The same bodies with the options null or at Quiver's behaviour pass.
    s.ok(s.post(
        "/collections/c/points/search",
        json!({"vector": [1.0, 0.0], "limit": 1, "shard_key": null,
               "params": {"indexed_only": false, "quantization": null}}),
    ));
    s.ok(s.post(
        "/collections/c/points/query",
        json!({"query": [1.0, 0.0], "lookup_from": null, "shard_key": null}),
    ));
}
