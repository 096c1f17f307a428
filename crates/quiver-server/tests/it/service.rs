//! Root, metrics, OpenAPI document and graceful shutdown.

use serde_json::json;

use crate::harness::{TestServer, seed_points};

#[test]
fn root_names_the_server_and_version() {
    let s = TestServer::start();
    let (status, body) = s.get("/");
    assert_eq!(status, 200);
    assert_eq!(body["title"], "qdrant - vector search engine");
    // Qdrant clients read `version` as the API version they talk to.
    assert_eq!(body["version"], "1.15.0");
    assert_eq!(body["quiver_version"], quiver_server::version());
}

#[test]
fn metrics_count_requests_by_route_and_points_by_collection() {
    let s = TestServer::start();
    s.create("docs", 4, "Cosine");
    seed_points(&s, "docs", 7, 4);
    s.get("/collections/docs");
    s.get("/collections/missing");
    let (status, body) = s.get("/metrics");
    assert_eq!(status, 200);
    let text = body.as_str().unwrap();
    assert!(text.contains(
        "quiver_http_requests_total{method=\"GET\",route=\"/collections/{name}\",status=\"200\"} 1"
    ), "{text}");
    assert!(text.contains(
        "quiver_http_requests_total{method=\"GET\",route=\"/collections/{name}\",status=\"404\"} 1"
    ));
    assert!(text.contains("quiver_http_request_duration_seconds_bucket{method=\"PUT\",route=\"/collections/{name}/points\",le=\"+Inf\"} 1"));
    assert!(text.contains("quiver_collection_points{collection=\"docs\"} 7"));
    assert!(text.contains("quiver_collection_disk_bytes{collection=\"docs\",component="));
    assert!(text.contains("quiver_collection_ram_bytes{collection=\"docs\",component="));
}

#[test]
fn openapi_document_lists_every_route() {
    let s = TestServer::start();
    let (status, doc) = s.get("/openapi.json");
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/collections/{name}", "put"),
        ("/collections/{name}", "get"),
        ("/collections/{name}", "delete"),
        ("/collections/{name}/exists", "get"),
        ("/collections/{name}/points", "put"),
        ("/collections/{name}/points", "post"),
        ("/collections/{name}/points/{id}", "get"),
        ("/collections/{name}/points/delete", "post"),
        ("/collections/{name}/points/payload", "post"),
        ("/collections/{name}/points/payload", "put"),
        ("/collections/{name}/points/payload/delete", "post"),
        ("/collections/{name}/points/payload/clear", "post"),
        ("/collections/{name}/points/scroll", "post"),
        ("/collections/{name}/points/count", "post"),
        ("/collections/{name}/points/search", "post"),
        ("/collections/{name}/points/search/batch", "post"),
        ("/collections/{name}/points/query", "post"),
        ("/collections/{name}/index", "put"),
        ("/collections/{name}/index/{field}", "delete"),
        ("/metrics", "get"),
        ("/healthz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("PointInsertOperations"));
    assert!(schemas.contains_key("QueryRequest"));
    assert_eq!(
        doc["components"]["securitySchemes"]["api-key"]["in"],
        json!("header")
    );
}

#[test]
fn shutdown_flushes_and_releases_the_database() {
    let s = TestServer::start();
    s.create("docs", 4, "Cosine");
    seed_points(&s, "docs", 20, 4);
    let (result, dir) = s.stop();
    result.unwrap();
    // The LOCK is released and every acknowledged point is on disk.
    let db = quiver_core::Database::open(dir.path().join("db")).unwrap();
    let c = db.collection("docs").unwrap();
    assert_eq!(c.count(None).unwrap(), 20);
}
