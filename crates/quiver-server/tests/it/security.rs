//! API keys (full and read-only), open health probes, and TLS.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, error_of, send};

#[test]
fn keys_gate_reads_and_writes_and_probes_stay_open() {
    let s = TestServer::with(|c| {
        c.api_key = Some("s3cret".into());
        c.read_only_api_key = Some("reader".into());
    });
    for probe in ["/healthz", "/readyz", "/livez"] {
        assert_eq!(s.get(probe).0, 200, "{probe}");
    }
    error_of(s.get("/collections"), 401);
    let r = s
        .request(Method::GET, "/collections")
        .header("api-key", "wrong");
    error_of(send(r), 401);

    let create = |key: &str| {
        send(
            s.request(Method::PUT, "/collections/c")
                .header("api-key", key)
                .json(&json!({"vectors": {"size": 2, "distance": "Dot"}})),
        )
    };
    error_of(create("reader"), 403);
    assert_eq!(create("s3cret").0, 200);
    let r = s
        .request(Method::PUT, "/collections/c/points?wait=true")
        .bearer_auth("s3cret")
        .json(&json!({"points": [{"id": 1, "vector": [1.0, 0.0]}]}));
    assert_eq!(send(r).0, 200);

    // The read-only key can read and search, not write.
    let r = s
        .request(Method::GET, "/collections/c")
        .bearer_auth("reader");
    assert_eq!(send(r).0, 200);
    let r = s
        .request(Method::POST, "/collections/c/points/query")
        .header("api-key", "reader")
        .json(&json!({"query": [1.0, 0.0], "limit": 1}));
    let (status, body) = send(r);
    assert_eq!(status, 200);
    assert_eq!(body["result"]["points"][0]["id"], 1);
    let r = s
        .request(Method::POST, "/collections/c/points/delete")
        .header("api-key", "reader")
        .json(&json!({"points": [1]}));
    error_of(send(r), 403);
    let r = s
        .request(Method::DELETE, "/collections/c")
        .header("api-key", "reader");
    error_of(send(r), 403);
}

#[test]
fn tls_serves_https_with_the_given_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", "127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let config = quiver_server::ServerConfig {
        data_dir: dir.path().join("db"),
        port: 0,
        tls_cert: Some(cert_path),
        tls_key: Some(key_path),
        ..Default::default()
    };
    let s = TestServer::with_config(config, tempfile::tempdir().unwrap(), client);
    assert!(s.base.starts_with("https://127.0.0.1:"));
    let port = s.base.rsplit(':').next().unwrap().to_string();
    let url = format!("https://localhost:{port}/collections");
    let (status, body) = send(s.client.get(&url));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!({"collections": []}));
    // Plain HTTP to the TLS port does not get an answer.
    let plain = reqwest::blocking::get(format!("http://127.0.0.1:{port}/collections"));
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}
