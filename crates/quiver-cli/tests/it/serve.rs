//! `quiver serve` as a real child process: SIGTERM while writes are in
//! flight stops it cleanly, and every acknowledged write is there after a
//! restart; SIGINT does the same. A log that cannot be written changes
//! no answer.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

const DIM: usize = 16;
const BATCH: usize = 50;

struct Serve {
    child: Child,
    stdout: BufReader<ChildStdout>,
    base: String,
}

/// Starts `quiver serve` on a free port and reads the address it prints.
/// With `from_env` the settings come from `QUIVER_*` variables, not flags.
fn serve(data: &Path, from_env: bool) -> Serve {
    serve_logging(data, from_env, "warn", Stdio::inherit())
}

/// As [`serve`], logging at level `log` to `stderr`.
fn serve_logging(data: &Path, from_env: bool, log: &str, stderr: Stdio) -> Serve {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quiver"));
    if from_env {
        command
            .arg("serve")
            .env("QUIVER_DATA", data)
            .env("QUIVER_HOST", "127.0.0.1")
            .env("QUIVER_PORT", "0");
    } else {
        command.args(["serve", "--port", "0", "--data"]).arg(data);
    }
    let mut child = command
        .env("QUIVER_LOG", log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Serve {
        child,
        stdout,
        base,
    }
}

/// Sends `signal` (TERM or INT) to the child, waits for it to exit, and
/// returns whether it exited with success and what it printed after the
/// address line.
fn stop(mut s: Serve, signal: &str) -> (bool, String) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(s.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = s.child.wait().unwrap();
    let mut rest = String::new();
    s.stdout.read_to_string(&mut rest).unwrap();
    (exit.success(), rest)
}

/// The vector of point `id`: deterministic, different for every id.
fn vector(id: usize) -> Vec<f32> {
    (0..DIM)
        .map(|d| ((id * 31 + d * 7) % 97) as f32 / 97.0 + if d == id % DIM { 1.0 } else { 0.0 })
        .collect()
}

fn upsert_batch(client: &Client, base: &str, first: usize) -> bool {
    let points: Vec<Value> = (first..first + BATCH)
        .map(|id| json!({"id": id, "vector": vector(id), "payload": {"batch": first / BATCH}}))
        .collect();
    client
        .put(format!("{base}/collections/docs/points?wait=true"))
        .json(&json!({ "points": points }))
        .send()
        .is_ok_and(|r| r.status().is_success())
}

/// Creates collection `docs` (`DIM`-d, Euclid) on the server at `base`.
fn create_docs(client: &Client, base: &str) {
    let r = client
        .put(format!("{base}/collections/docs"))
        .json(&json!({"vectors": {"size": DIM, "distance": "Euclid"}}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[test]
fn sigterm_during_writes_keeps_every_acknowledged_point_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let s = serve(&data, false);
    let client = Client::new();
    create_docs(&client, &s.base);

    // A writer upserts batch after batch until the server stops answering;
    // `acked` counts the batches answered with 200, in order.
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let acked = Arc::clone(&acked);
        let base = s.base.clone();
        std::thread::spawn(move || {
            let client = Client::new();
            let mut batch = 0;
            while batch < 10_000 && upsert_batch(&client, &base, batch * BATCH) {
                batch += 1;
                acked.store(batch, Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < 10 {
        assert!(Instant::now() < deadline, "writer made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (clean, said) = stop(s, "TERM");
    writer.join().unwrap();
    assert!(clean, "serve did not exit cleanly on SIGTERM: {said}");
    assert!(said.contains("all collections flushed"), "{said}");
    let batches = acked.load(Ordering::SeqCst);
    assert!(batches >= 10);

    // Restart on the same directory (configured through the environment
    // this time): the lock was released and every acknowledged point is
    // there with its vector and payload.
    let s = serve(&data, true);
    let count: Value = client
        .post(format!("{}/collections/docs/points/count", s.base))
        .json(&json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let count = count["result"]["count"].as_u64().unwrap() as usize;
    // A batch in flight when the signal came may have been applied without
    // its answer reaching the writer, so there can be one batch more.
    assert!(
        count == batches * BATCH || count == (batches + 1) * BATCH,
        "{count} points after restart, {batches} batches acknowledged"
    );
    let ids: Vec<usize> = (0..batches * BATCH).collect();
    let got: Value = client
        .post(format!("{}/collections/docs/points", s.base))
        .json(&json!({"ids": ids, "with_vector": true, "with_payload": true}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let records = got["result"].as_array().unwrap();
    assert_eq!(records.len(), batches * BATCH);
    for r in records {
        let id = r["id"].as_u64().unwrap() as usize;
        let v: Vec<f32> = serde_json::from_value(r["vector"].clone()).unwrap();
        assert_eq!(v, vector(id), "vector of point {id}");
        assert_eq!(r["payload"]["batch"], json!(id / BATCH));
    }

    // SIGINT (Ctrl-C) stops it the same way, after a last write.
    assert!(upsert_batch(&client, &s.base, 1_000_000));
    let (clean, said) = stop(s, "INT");
    assert!(clean, "serve did not exit cleanly on SIGINT: {said}");
    assert!(said.contains("all collections flushed"), "{said}");
    let db = quiver_core::Database::open(&data).unwrap();
    let c = db.collection("docs").unwrap();
    assert_eq!(c.count(None).unwrap() as usize, count + BATCH);
}

/// Writes acknowledged without waiting (`wait` absent, Qdrant's default) are
/// applied before the server exits on SIGTERM, in the order they were sent.
#[test]
fn sigterm_after_writes_acknowledged_without_waiting_applies_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let s = serve(&data, false);
    let client = Client::new();
    create_docs(&client, &s.base);
    const BATCHES: usize = 40;
    for batch in 0..BATCHES {
        let points: Vec<Value> = (batch * BATCH..(batch + 1) * BATCH)
            .map(|id| json!({"id": id, "vector": vector(id), "payload": {"batch": batch}}))
            .collect();
        let answer: Value = client
            .put(format!("{}/collections/docs/points", s.base))
            .json(&json!({ "points": points }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(answer["result"]["status"], "acknowledged", "{answer}");
    }
    // Queued last: rewrites the payload of point 0.
    let answer: Value = client
        .put(format!("{}/collections/docs/points/payload", s.base))
        .json(&json!({"payload": {"batch": "last"}, "points": [0]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["result"]["status"], "acknowledged", "{answer}");
    let (clean, said) = stop(s, "TERM");
    assert!(clean, "serve did not exit cleanly on SIGTERM: {said}");
    let db = quiver_core::Database::open(&data).unwrap();
    let c = db.collection("docs").unwrap();
    assert_eq!(c.count(None).unwrap() as usize, BATCHES * BATCH);
    let first = c.get(&[quiver_core::PointId::Num(0)], true, false).unwrap();
    assert_eq!(
        first[0].payload.as_ref().map(|p| p["batch"].clone()),
        Some(json!("last"))
    );
}

#[test]
fn an_unwritable_log_changes_no_answer_and_no_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    // Every write to /dev/full fails with ENOSPC, as stderr on a full disk.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    // debug: opening the new collection logs from the request's worker.
    let s = serve_logging(&dir.path().join("db"), false, "debug", full.into());
    let client = Client::new();
    let r = client
        .put(format!("{}/collections/c", s.base))
        .json(&json!({"vectors": {"size": 2, "distance": "Dot"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let r = client
        .put(format!("{}/collections/c/points?wait=true", s.base))
        .json(&json!({"points": [{"id": 1, "vector": [1.0, 0.0]}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let r = client
        .get(format!("{}/collections/missing", s.base))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let (clean, said) = stop(s, "TERM");
    assert!(clean, "serve did not exit cleanly: {said}");
}
