//! In-process load test: the same search and upsert calls the HTTP routes
//! make, without HTTP, from 1, 8 and 32 threads, each bounded in time.
//! The counterpart of the `wrk` runs against `quiver serve` (see the
//! server's load-test notes); it prints requests/s and p50/p99 latency.
//!
//! ```text
//! cargo run --release -p quiver-server --example load_inprocess -- \
//!     BASE.fvecs QUERY.fvecs [SECS [OPS [THREADS]]]
//! ```
//! OPS is a comma-separated subset of `search,upsert` (default both),
//! THREADS a comma-separated list (default `1,8,32`). Without file
//! arguments it generates 10,000 random 384-d vectors. Like `quiver import`
//! followed by `quiver serve`, it loads the points, closes the database and
//! reopens it before measuring.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, SearchRequest};

fn read_fvecs(path: &str) -> Vec<Vec<f32>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(head) = bytes.get(pos..pos + 4) {
        let d = i32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let body = &bytes[pos + 4..pos + 4 + 4 * d];
        out.push(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        );
        pos += 4 + 4 * d;
    }
    out
}

/// CPU time (user + system) this process has used, in clock ticks, from
/// `/proc/self/stat` (Linux); `None` elsewhere.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at
    // field 3; utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// Runs `op` from `threads` threads for `secs`; returns (calls/s, p50 us,
/// p99 us, CPU us per call). CPU per call does not depend on how much of
/// the machine other processes take, so it is the figure to compare with
/// the server's on a shared machine.
fn run(threads: usize, secs: f64, op: &(dyn Fn(u64) + Sync)) -> (f64, f64, f64, f64) {
    let cpu_before = cpu_ticks();
    let counter = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut latencies: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let i = counter.fetch_add(1, Ordering::Relaxed);
                        let t = Instant::now();
                        op(i);
                        lat.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a load thread panicked"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    let cpu_us = match (cpu_before, cpu_ticks()) {
        (Some(a), Some(b)) => (b - a) as f64 / TICKS_PER_SEC * 1e6 / latencies.len() as f64,
        _ => f64::NAN,
    };
    (
        latencies.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        cpu_us,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (base, queries) = match (args.get(1), args.get(2)) {
        (Some(b), Some(q)) => (read_fvecs(b), read_fvecs(q)),
        _ => (
            quiver_testkit::vectors(10_000, 384, 1),
            quiver_testkit::vectors(200, 384, 2),
        ),
    };
    let secs: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let dim = base[0].len();
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::open(dir.path()).expect("open database");
    let c = db
        .create_collection("load", CollectionConfig::new(dim, Metric::Cosine))
        .expect("create collection");
    let t = Instant::now();
    let points: Vec<Point> = base
        .iter()
        .enumerate()
        .map(|(i, v)| Point::new(i as u64, v.clone()))
        .collect();
    for chunk in points.chunks(1000) {
        c.upsert(chunk.to_vec()).expect("load points");
    }
    c.flush().expect("flush");
    drop(c);
    drop(db);
    let db = Database::open(dir.path()).expect("reopen database");
    let c = db.collection("load").expect("collection");
    let ops = args.get(4).map_or("search,upsert", String::as_str);
    let thread_counts: Vec<usize> = args
        .get(5)
        .map_or("1,8,32", String::as_str)
        .split(',')
        .map(|t| t.parse().expect("THREADS: comma-separated numbers"))
        .collect();
    println!(
        "loaded {} x {dim}-d in {:.1} s; {secs} s per run",
        base.len(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "{:<8} {:>8} {:>12} {:>10} {:>10} {:>12}",
        "op", "threads", "calls/s", "p50 us", "p99 us", "cpu us/call"
    );
    for &threads in thread_counts.iter().filter(|_| ops.contains("search")) {
        let search = |i: u64| {
            let q = &queries[i as usize % queries.len()];
            let mut r = SearchRequest::new(q.clone(), 10);
            r.with_payload = true;
            c.search(&r).expect("search");
        };
        let (rps, p50, p99, cpu) = run(threads, secs, &search);
        println!(
            "{:<8} {threads:>8} {rps:>12.0} {p50:>10.0} {p99:>10.0} {cpu:>12.0}",
            "search"
        );
    }
    for &threads in thread_counts.iter().filter(|_| ops.contains("upsert")) {
        let upsert = |i: u64| {
            let v = queries[i as usize % queries.len()].clone();
            // The same point the wrk upsert script sends.
            let mut payload = serde_json::Map::new();
            payload.insert("src".into(), serde_json::Value::from("wrk"));
            // Fresh ids, as the wrk script sends: inserts, not updates.
            let id = PointId::Num(1_000_000 * (threads as u64 + 1) + i);
            c.upsert(vec![Point::new(id, v).with_payload(payload)])
                .expect("upsert");
        };
        let (rps, p50, p99, cpu) = run(threads, secs, &upsert);
        println!(
            "{:<8} {threads:>8} {rps:>12.0} {p50:>10.0} {p99:>10.0} {cpu:>12.0}",
            "upsert"
        );
    }
}
