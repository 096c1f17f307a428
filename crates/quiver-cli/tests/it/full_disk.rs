//! `quiver serve` on a full disk: upserts of 4096-d points over HTTP fill a
//! small tmpfs until they fail. The server must stay up, answer each failed
//! write with a JSON error (507, naming the disk) instead of dropping the
//! connection, keep every acknowledged point, and accept writes again once
//! space is freed.
//!
//! The test mounts the tmpfs itself (root only); where mounting is not
//! permitted it prints why it skipped.

use std::io::BufRead;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use quiver_testkit::Tmpfs;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const DIM: usize = 4096;
const BATCH: u64 = 2;
const MAX_ERRORS: usize = 20;
const FILLER_BYTES: usize = 1 << 20;

/// The server child, killed on drop so a failing test leaves no process
/// holding the mount.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["serve", "--port", "0", "--data"])
        .arg(data)
        // Frequent checkpoints: the disk fills with vectors, so
        // `vectors.dat` has to grow.
        .args(["--checkpoint-log-bytes", &(256 << 10).to_string()])
        .env("QUIVER_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server { child, base }
}

fn vector(id: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|d| ((id * 7919 + d * 31) % 10_007) as f32 / 10_007.0 - 0.5)
        .collect()
}

fn upsert(client: &Client, base: &str, ids: &[u64]) -> reqwest::Result<(StatusCode, Value)> {
    let points: Vec<Value> = ids
        .iter()
        .map(|&id| json!({"id": id, "vector": vector(id), "payload": {"n": id}}))
        .collect();
    let r = client
        .put(format!("{base}/collections/c/points?wait=true"))
        .json(&json!({ "points": points }))
        .send()?;
    let status = r.status();
    Ok((status, r.json()?))
}

/// Every point of `ids`, checked bit for bit.
fn check_points(client: &Client, base: &str, ids: &[u64]) {
    for chunk in ids.chunks(64) {
        let got: Value = client
            .post(format!("{base}/collections/c/points"))
            .json(&json!({"ids": chunk, "with_vector": true, "with_payload": true}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let records = got["result"].as_array().unwrap();
        assert_eq!(records.len(), chunk.len(), "acknowledged points missing");
        for r in records {
            let id = r["id"].as_u64().unwrap();
            let v: Vec<f32> = serde_json::from_value(r["vector"].clone()).unwrap();
            assert!(v == vector(id), "vector of point {id}");
            assert_eq!(r["payload"]["n"], json!(id));
        }
    }
}

#[test]
fn serve_on_a_full_disk_answers_507_stays_up_and_recovers_when_space_is_freed() {
    let disk = match Tmpfs::mount("20m") {
        Ok(disk) => disk,
        Err(why) => {
            println!("skipped: cannot mount tmpfs: {why}");
            return;
        }
    };
    let mut server = serve(&disk.path().join("db"));
    let base = server.base.clone();
    let client = Client::new();
    let r = client
        .put(format!("{base}/collections/c"))
        .json(&json!({"vectors": {"size": DIM, "distance": "Euclid"}}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text());
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![1u8; FILLER_BYTES]).unwrap();

    let mut acked = Vec::new();
    let mut errors = 0;
    let mut next = 0u64;
    while errors < MAX_ERRORS {
        assert!(next < 100_000, "the disk never filled");
        let ids: Vec<u64> = (next..next + BATCH).collect();
        next += BATCH;
        let (status, body) = upsert(&client, &base, &ids)
            .unwrap_or_else(|e| panic!("the server dropped a write instead of answering: {e}"));
        if status.is_success() {
            acked.extend(ids);
            continue;
        }
        errors += 1;
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
        let message = body["status"]["error"].as_str().unwrap_or_default();
        assert!(message.contains("disk"), "{body}");
        let r = client.get(format!("{base}/healthz")).send().unwrap();
        assert!(r.status().is_success(), "healthz: {}", r.status());
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    assert!(!acked.is_empty(), "no write succeeded");
    let dat = disk.path().join("db/collections/c/vectors.dat");
    let grown = std::fs::metadata(dat).unwrap().len();
    assert!(grown > 16 << 20, "vectors.dat never grew ({grown} bytes)");
    check_points(&client, &base, &acked);

    // Free space: writes succeed again.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..4 {
        let ids: Vec<u64> = (next..next + BATCH).collect();
        next += BATCH;
        let (status, body) = upsert(&client, &base, &ids).unwrap();
        assert!(status.is_success(), "after freeing space: {status} {body}");
        acked.extend(ids);
    }
    check_points(&client, &base, &acked);
    let r = client.get(format!("{base}/healthz")).send().unwrap();
    assert!(r.status().is_success());
    drop(server);
}
