//! Collection routes: create, info in Qdrant's shape, list, exists, delete.

use serde_json::json;

use crate::harness::{TestServer, error_of, seed_points};

#[test]
fn collection_lifecycle_and_info_shape() {
    let s = TestServer::start();
    let r = s.put(
        "/collections/docs",
        json!({"vectors": {"size": 4, "distance": "Cosine"}, "hnsw_config": {"m": 8, "ef_construct": 64}}),
    );
    assert_eq!(s.ok(r), json!(true));
    seed_points(&s, "docs", 10, 4);
    let info = s.ok(s.get("/collections/docs"));
    assert_eq!(info["status"], "green");
    assert_eq!(info["optimizer_status"], "ok");
    assert_eq!(info["points_count"], 10);
    assert_eq!(info["segments_count"], 1);
    assert_eq!(
        info["config"]["params"]["vectors"],
        json!({"size": 4, "distance": "Cosine"})
    );
    assert_eq!(info["config"]["hnsw_config"]["m"], 8);
    assert_eq!(info["config"]["hnsw_config"]["ef_construct"], 64);
    assert!(info["config"]["hnsw_config"]["full_scan_threshold"].is_number());
    assert!(info["config"]["optimizer_config"]["deleted_threshold"].is_number());
    assert_eq!(info["payload_schema"], json!({}));

    let list = s.ok(s.get("/collections"));
    assert_eq!(list, json!({"collections": [{"name": "docs"}]}));
    assert_eq!(
        s.ok(s.get("/collections/docs/exists")),
        json!({"exists": true})
    );
    assert_eq!(
        s.ok(s.get("/collections/nope/exists")),
        json!({"exists": false})
    );

    assert_eq!(s.ok(s.delete("/collections/docs")), json!(true));
    assert_eq!(s.ok(s.delete("/collections/docs")), json!(false));
    assert_eq!(s.ok(s.get("/collections")), json!({"collections": []}));
    let msg = error_of(s.get("/collections/docs"), 404);
    assert!(msg.contains("docs"), "{msg}");
}

#[test]
fn creating_twice_is_a_conflict_and_bad_configs_are_400() {
    let s = TestServer::start();
    s.create("c", 3, "Dot");
    let body = json!({"vectors": {"size": 3, "distance": "Dot"}});
    error_of(s.put("/collections/c", body), 409);
    let msg = error_of(
        s.put(
            "/collections/d",
            json!({"vectors": {"size": 3, "distance": "Manhattan"}}),
        ),
        400,
    );
    assert!(msg.contains("Manhattan"), "{msg}");
    error_of(
        s.put(
            "/collections/d",
            json!({"vectors": {"size": 0, "distance": "Dot"}}),
        ),
        400,
    );
    let msg = error_of(
        s.put(
            "/collections/d",
            json!({"vectors": {"text": {"size": 0, "distance": "Dot"}}}),
        ),
        400,
    );
    assert!(msg.contains("vector `text`: dimension 0"), "{msg}");
    error_of(
        s.put(
            "/collections/d",
            json!({"vectors": {"size": "three", "distance": "Dot"}}),
        ),
        400,
    );
    let msg = error_of(
        s.put(
            "/collections/.hidden",
            json!({"vectors": {"size": 3, "distance": "Dot"}}),
        ),
        400,
    );
    assert!(msg.contains(".hidden"), "{msg}");
    assert_eq!(
        s.ok(s.get("/collections")),
        json!({"collections": [{"name": "c"}]})
    );
}

#[test]
fn payload_indexes_show_in_collection_info() {
    let s = TestServer::start();
    s.create("c", 4, "Euclid");
    seed_points(&s, "c", 9, 4);
    let r = s.put(
        "/collections/c/index?wait=true",
        json!({"field_name": "tag", "field_schema": "keyword"}),
    );
    assert_eq!(s.ok(r)["status"], "completed");
    let r = s.put(
        "/collections/c/index?wait=true",
        json!({"field_name": "group", "field_schema": {"type": "integer"}}),
    );
    s.ok(r);
    let info = s.ok(s.get("/collections/c"));
    assert_eq!(info["payload_schema"]["tag"]["data_type"], "keyword");
    assert_eq!(info["payload_schema"]["group"]["data_type"], "integer");
    assert_eq!(info["payload_schema"]["tag"]["points"], 9);
    let msg = error_of(
        s.put(
            "/collections/c/index?wait=true",
            json!({"field_name": "g", "field_schema": "geo"}),
        ),
        400,
    );
    assert!(msg.contains("geo"), "{msg}");
    error_of(
        s.put("/collections/c/index?wait=true", json!({"field_name": "g"})),
        400,
    );
    error_of(
        s.put(
            "/collections/zz/index",
            json!({"field_name": "g", "field_schema": "keyword"}),
        ),
        404,
    );
    s.ok(s.delete("/collections/c/index/tag?wait=true"));
    let info = s.ok(s.get("/collections/c"));
    assert!(info["payload_schema"].get("tag").is_none(), "{info}");
    assert_eq!(info["payload_schema"]["group"]["data_type"], "integer");
}

/// The engine's one name rule decides, and its message names the name.
#[test]
fn names_the_engine_refuses_are_400_naming_them() {
    let s = TestServer::start();
    let body = json!({"vectors": {"size": 3, "distance": "Dot"}});
    for bad in [".hidden", ".creating", "a%20b", "%C3%A9", "..."] {
        let msg = error_of(s.put(&format!("/collections/{bad}"), body.clone()), 400);
        let shown = bad.replace("%20", " ").replace("%C3%A9", "\u{e9}");
        assert!(msg.contains(&format!("`{shown}`")), "{bad}: {msg}");
    }
    let long = "x".repeat(256);
    let msg = error_of(s.put(&format!("/collections/{long}"), body.clone()), 400);
    assert!(msg.contains("255"), "{msg}");
    s.ok(s.put("/collections/docs_v1.2-a", body));
    assert_eq!(
        s.ok(s.get("/collections")),
        json!({"collections": [{"name": "docs_v1.2-a"}]})
    );
}

/// The server's `checkpoint_log_bytes` and a request's
/// `wal_config.wal_capacity_mb` become the collection's checkpoint size:
/// its op log stays below it.
#[test]
fn the_checkpoint_size_comes_from_the_server_setting_or_wal_config() {
    let s = TestServer::with(|c| c.checkpoint_log_bytes = 4096);
    s.create("small", 16, "Dot");
    let r = s.put(
        "/collections/wal",
        json!({"vectors": {"size": 16, "distance": "Dot"}, "wal_config": {"wal_capacity_mb": 2}}),
    );
    s.ok(r);
    let info = s.ok(s.get("/collections/wal"));
    assert_eq!(info["config"]["wal_config"]["wal_capacity_mb"], 2);
    let info = s.ok(s.get("/collections/small"));
    assert_eq!(info["config"]["wal_config"]["wal_capacity_mb"], 1);
    let op_log = |name: &str| {
        std::fs::metadata(
            s.dir
                .path()
                .join("db/collections")
                .join(name)
                .join("ops.log"),
        )
        .unwrap()
        .len()
    };
    for round in 0..30u64 {
        let points: Vec<_> = (0..8)
            .map(|i| json!({"id": round * 8 + i, "vector": vec![i as f32; 16]}))
            .collect();
        for name in ["small", "wal"] {
            let r = s.put(
                &format!("/collections/{name}/points?wait=true"),
                json!({"points": points}),
            );
            s.ok(r);
        }
        assert!(op_log("small") < 4096 + 2048, "{}", op_log("small"));
    }
    // 2 MiB is far from reached: every write is still in the log.
    assert!(op_log("wal") > 4 * 4096, "{}", op_log("wal"));
    let msg = error_of(
        s.put(
            "/collections/bad",
            json!({"vectors": {"size": 16, "distance": "Dot"}, "wal_config": {"wal_segments_ahead": 1}}),
        ),
        400,
    );
    assert!(msg.contains("wal_segments_ahead"), "{msg}");
}
