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
            json!({"vectors": {"text": {"size": 3, "distance": "Dot"}}}),
        ),
        400,
    );
    assert!(msg.contains("named vectors"), "{msg}");
    error_of(
        s.put(
            "/collections/d",
            json!({"vectors": {"size": "three", "distance": "Dot"}}),
        ),
        400,
    );
    error_of(
        s.put(
            "/collections/.hidden",
            json!({"vectors": {"size": 3, "distance": "Dot"}}),
        ),
        400,
    );
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
