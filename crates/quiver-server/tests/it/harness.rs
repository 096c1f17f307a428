//! A real server on a free loopback port, over a temporary database.

use std::sync::mpsc;
use std::thread::JoinHandle;

use quiver_server::{ServeError, Server, ServerConfig};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

pub struct TestServer {
    pub base: String,
    pub client: Client,
    pub dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    /// Starts a server with the defaults changed by `configure` (data_dir
    /// and port are set by the harness).
    pub fn with(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            data_dir: dir.path().join("db"),
            port: 0,
            ..ServerConfig::default()
        };
        configure(&mut config);
        Self::with_config(config, dir, Client::new())
    }

    pub fn with_config(config: ServerConfig, dir: TempDir, client: Client) -> Self {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server = match Server::bind(config).await {
                    Ok(s) => s,
                    Err(e) => {
                        addr_tx.send(Err(e.to_string())).unwrap();
                        return Err(e);
                    }
                };
                let scheme = if server.is_tls() { "https" } else { "http" };
                addr_tx
                    .send(Ok(format!("{scheme}://{}", server.local_addr())))
                    .unwrap();
                server
                    .run(async move {
                        let _ = stop_rx.await;
                    })
                    .await
            })
        });
        let base = addr_rx.recv().unwrap().expect("server starts");
        TestServer {
            base,
            client,
            dir,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Sends `body` as JSON (or nothing) and returns status and parsed body
    /// (a JSON string for non-JSON bodies).
    pub fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.request(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        send(r)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body))
    }

    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None)
    }

    /// `result` of a 200 answer; panics with the body otherwise.
    pub fn ok(&self, (status, body): (u16, Value)) -> Value {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok", "{body}");
        assert!(body["time"].as_f64().unwrap() >= 0.0);
        body["result"].clone()
    }

    /// Creates collection `name` with `dim` and `distance`.
    pub fn create(&self, name: &str, dim: usize, distance: &str) {
        let r = self.put(
            &format!("/collections/{name}"),
            json!({"vectors": {"size": dim, "distance": distance}}),
        );
        assert_eq!(self.ok(r), json!(true));
    }

    /// Stops the server (graceful); returns how `run` ended and the
    /// temporary directory holding the database, still alive.
    pub fn stop(mut self) -> (Result<(), ServeError>, TempDir) {
        let result = self.shutdown();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (result, dir)
    }

    fn shutdown(&mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().unwrap(),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

pub fn send(r: RequestBuilder) -> (u16, Value) {
    let resp = r.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The error message of an error answer with `status`; panics otherwise.
pub fn error_of((got, body): (u16, Value), status: u16) -> String {
    assert_eq!(got, status, "{body}");
    assert!(body["time"].is_number(), "{body}");
    body["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
        .to_string()
}

pub use quiver_testkit::{cosine, vectors};

/// Ids of the `k` most cosine-similar vectors to `q` among `(id, vector)`.
pub fn brute_force(points: &[(u64, Vec<f32>)], q: &[f32], k: usize) -> Vec<u64> {
    let mut scored: Vec<(f32, u64)> = points.iter().map(|(id, v)| (cosine(q, v), *id)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Upserts `n` points with ids 0..n, payload {"group": id % 3, "tag": "t{id%2}"}.
pub fn seed_points(s: &TestServer, name: &str, n: usize, dim: usize) -> Vec<(u64, Vec<f32>)> {
    let vs = vectors(n, dim, 42);
    let points: Vec<Value> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"id": i, "vector": v, "payload": {"group": i % 3, "tag": format!("t{}", i % 2)}}))
        .collect();
    let r = s.put(
        &format!("/collections/{name}/points?wait=true"),
        json!({"points": points}),
    );
    let result = s.ok(r);
    assert_eq!(result["status"], "completed");
    vs.into_iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v))
        .collect()
}
