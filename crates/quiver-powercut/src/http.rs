//! A real `quiver serve` process, and a blocking HTTP client for one
//! collection of it.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::points::{Payload, Points, bits};
use crate::workload::{Op, payload, vector};

/// How long a server may take to print that it listens.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `quiver serve`. Dropping it kills the process.
pub struct QuiverServer {
    child: Child,
    url: String,
}

impl QuiverServer {
    /// Start `bin serve` on `data` and a free loopback port, its stderr
    /// appended to `log`, with `envs` added to its environment; returns
    /// once it prints that it listens.
    ///
    /// # Errors
    /// It cannot start, exits, or says nothing usable in time (the error
    /// quotes its last log lines).
    pub fn start(bin: &Path, data: &Path, log: &Path, envs: &[(&str, &str)]) -> Result<Self> {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut child = Command::new(bin)
            .args(["serve", "--host", "127.0.0.1", "--port", "0", "--data"])
            .arg(data)
            .env("QUIVER_LOG", "warn")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the server's stdout was not piped"))?;
        let (tx, rx) = mpsc::channel();
        // Reads the listening line, then keeps the pipe drained so the
        // server never blocks on a full stdout.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    sent = tx.send(line).is_ok();
                }
            }
        });
        let mut server = QuiverServer {
            child,
            url: String::new(),
        };
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| anyhow!("quiver serve printed no listening line: {}", log_tail(log)))?;
        let url = line
            .split_ascii_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or_else(|| anyhow!("no address in the server's line {line:?}"))?;
        server.url = url.to_owned();
        Ok(server)
    }

    /// The base address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process, for [`crate::Mounted::kill_and_cut`].
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// SIGTERM, then wait: the server finishes its writes and flushes every
    /// collection before it exits.
    ///
    /// # Errors
    /// The signal cannot be sent, or the server exits unsuccessfully.
    pub fn stop(mut self) -> Result<()> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32)
            .ok_or_else(|| anyhow!("bad pid"))?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("sending SIGTERM to the server")?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("quiver serve exited with {status} after SIGTERM");
        }
        Ok(())
    }
}

impl Drop for QuiverServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a server log, for an error message.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..].join("\n");
    format!("{} says:\n{tail}", log.display())
}

/// How a call failed.
#[derive(Debug)]
pub enum CallError {
    /// No answer (connection refused or cut, timeout): a write may or may
    /// not have happened.
    Transport(String),
    /// An answer other than 2xx, or an answer that is not the expected
    /// JSON: per the server's rule a write did not happen.
    Answer(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transport(e) => write!(f, "no answer: {e}"),
            CallError::Answer(e) => write!(f, "{e}"),
        }
    }
}

/// A blocking client for one collection of a server.
#[derive(Clone)]
pub struct Api {
    client: reqwest::blocking::Client,
    base: String,
    collection: String,
}

impl Api {
    /// A client of `collection` on the server at `url`, with its own
    /// connection pool.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(url: &str, collection: &str) -> Result<Api> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Api {
            client,
            base: url.trim_end_matches('/').to_owned(),
            collection: collection.to_owned(),
        })
    }

    /// `method` on `/collections/<name><path>` with a JSON body; the
    /// `result` of the answer.
    ///
    /// # Errors
    /// [`CallError`].
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let url = format!("{}/collections/{}{path}", self.base, self.collection);
        let mut request = self.client.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .map_err(|e| CallError::Transport(format!("{method} {path}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| CallError::Transport(format!("{method} {path}: reading: {e}")))?;
        if !status.is_success() {
            return Err(CallError::Answer(format!(
                "{method} {path}: {status}: {text}"
            )));
        }
        let mut value: Value = serde_json::from_str(&text)
            .map_err(|e| CallError::Answer(format!("{method} {path}: not JSON ({e}): {text}")))?;
        Ok(value
            .get_mut("result")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// A write with `?wait=true`: `Ok` once the server answered that it is
    /// applied.
    ///
    /// # Errors
    /// [`CallError`]; an answer without `"status": "completed"` is an
    /// [`CallError::Answer`].
    pub fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<(), CallError> {
        let path = format!("{path}?wait=true");
        let result = self.call(method, &path, Some(body))?;
        match result.get("status").and_then(Value::as_str) {
            Some("completed") => Ok(()),
            _ => Err(CallError::Answer(format!(
                "{path}: the write is not completed: {result}"
            ))),
        }
    }

    /// Create the collection with `dimension` and `distance`.
    ///
    /// # Errors
    /// [`CallError`].
    pub fn create(&self, dimension: usize, distance: &str) -> Result<(), CallError> {
        let body = json!({"vectors": {"size": dimension, "distance": distance}});
        self.call(reqwest::Method::PUT, "", Some(&body)).map(drop)
    }

    /// Whether the collection exists.
    ///
    /// # Errors
    /// [`CallError`].
    pub fn exists(&self) -> Result<bool, CallError> {
        let result = self.call(reqwest::Method::GET, "/exists", None)?;
        Ok(result.get("exists").and_then(Value::as_bool) == Some(true))
    }

    /// Upsert `points`, each `(id, vector, payload)`.
    ///
    /// # Errors
    /// [`CallError`].
    pub fn upsert(&self, points: &[(u64, Vec<f32>, Payload)]) -> Result<(), CallError> {
        let points: Vec<Value> = points
            .iter()
            .map(|(id, v, p)| json!({"id": id, "vector": v, "payload": p}))
            .collect();
        self.write(
            reqwest::Method::PUT,
            "/points",
            &json!({ "points": points }),
        )
    }

    /// Delete the points `ids`.
    ///
    /// # Errors
    /// [`CallError`].
    pub fn delete(&self, ids: &[u64]) -> Result<(), CallError> {
        self.write(
            reqwest::Method::POST,
            "/points/delete",
            &json!({ "points": ids }),
        )
    }

    /// Merge `payload` into the payloads of `ids` (every id must exist).
    ///
    /// # Errors
    /// [`CallError`].
    pub fn set_payload(&self, ids: &[u64], payload: &Payload) -> Result<(), CallError> {
        self.write(
            reqwest::Method::POST,
            "/points/payload",
            &json!({ "payload": payload, "points": ids }),
        )
    }

    /// Replace the payloads of `ids` by `payload` (every id must exist).
    ///
    /// # Errors
    /// [`CallError`].
    pub fn overwrite_payload(&self, ids: &[u64], payload: &Payload) -> Result<(), CallError> {
        self.write(
            reqwest::Method::PUT,
            "/points/payload",
            &json!({ "payload": payload, "points": ids }),
        )
    }

    /// Remove the whole payload of `ids`.
    ///
    /// # Errors
    /// [`CallError`].
    pub fn clear_payload(&self, ids: &[u64]) -> Result<(), CallError> {
        self.write(
            reqwest::Method::POST,
            "/points/payload/clear",
            &json!({ "points": ids }),
        )
    }

    /// Send a collection write (see [`crate::points::apply`] for what each
    /// [`Op`] means), with `?wait=true`.
    ///
    /// # Errors
    /// [`CallError`]; an op that is not a collection write is an
    /// [`CallError::Answer`] and sends nothing.
    pub fn send(&self, op: &Op) -> Result<(), CallError> {
        let tag = |v: u64| {
            let mut p = Payload::new();
            p.insert("tag".to_owned(), json!(v));
            p
        };
        match op {
            Op::Store(items) => {
                let points: Vec<(u64, Vec<f32>, Payload)> = items
                    .iter()
                    .map(|&(id, v)| (id, vector(id, v), payload(id, v)))
                    .collect();
                self.upsert(&points)
            }
            Op::Delete(ids) => self.delete(ids),
            Op::SetTag(v, ids) => self.set_payload(ids, &tag(*v)),
            Op::StorePayload(id, v) => self.overwrite_payload(&[*id], &payload(*id, *v)),
            Op::DeletePayload(id) => self.clear_payload(&[*id]),
            other => Err(CallError::Answer(format!(
                "{other:?} is not a collection write"
            ))),
        }
    }

    /// The points of `ids` that exist, with vector (as bits) and payload
    /// (empty when it has none).
    ///
    /// # Errors
    /// [`CallError`], or an answer of the wrong shape.
    pub fn retrieve(&self, ids: &[u64]) -> Result<Points, CallError> {
        let body = json!({"ids": ids, "with_payload": true, "with_vector": true});
        let result = self.call(reqwest::Method::POST, "/points", Some(&body))?;
        let bad = |what: &str| CallError::Answer(format!("retrieve: {what} in {result}"));
        let records = result.as_array().ok_or_else(|| bad("not a list"))?;
        let mut points = Points::new();
        for r in records {
            let id = r
                .get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("a record without a numeric id"))?;
            let vector: Vec<f32> = r
                .get("vector")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| bad("a record without a vector"))?;
            let payload = match r.get("payload") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(p)) => p.clone(),
                Some(_) => return Err(bad("a payload that is not an object")),
            };
            points.insert(id, (bits(&vector), payload));
        }
        Ok(points)
    }
}

/// The `quiver` binary: `$QUIVER_BIN`, else `quiver` next to `sibling` (a
/// binary of the same cargo target directory and profile).
///
/// # Errors
/// Neither exists.
pub fn quiver_bin(sibling: &Path) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("QUIVER_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let bin = sibling.with_file_name("quiver");
    if bin.is_file() {
        Ok(bin)
    } else {
        bail!(
            "{} does not exist: build it (cargo build -p quiver-cli) or set QUIVER_BIN",
            bin.display()
        )
    }
}
