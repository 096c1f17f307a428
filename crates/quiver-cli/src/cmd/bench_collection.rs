//! `quiver bench --collection`: the same measurement as the bare-index bench,
//! but end to end through a [`Database`] on disk: durable upserts in batches
//! (op log, vector and payload stores, graph, payload index), then searches
//! that hydrate each hit's payload. Prints ingest points/s, checkpoint and
//! reopen times, and recall, queries/s, p50 and p99 per `ef`, in the table
//! format of the bare bench, so the two can be compared line by line (plus
//! the queries/s of the same searches without payloads).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use quiver_core::{
    CollectionConfig, Database, DurabilityMode, FieldType, HnswConfig, Metric, Point, PointId,
    SearchRequest,
};
use serde_json::json;

use super::bench::{BenchArgs, MetricArg};
use crate::dataset::{self, Matrix};

/// Name of the collection the bench creates.
const COLLECTION: &str = "bench";

/// Arguments of `quiver bench` that only apply with `--collection`.
#[derive(Args, Debug)]
pub struct CollectionArgs {
    /// Measure through a collection on disk (durable batched upserts, payload
    /// hydration) instead of the bare index.
    #[arg(long)]
    pub collection: bool,
    /// Database directory for `--collection`; it must not hold a database
    /// yet. Default: a fresh directory under the system temp dir, removed
    /// afterwards.
    #[arg(long, requires = "collection")]
    pub collection_dir: Option<PathBuf>,
    /// Points per upsert with `--collection`.
    #[arg(long, default_value_t = 1000, requires = "collection")]
    pub batch_size: usize,
    /// Upsert durability with `--collection`: `fsync` (each upsert is on
    /// disk when it returns), `flush-only` or `none`.
    #[arg(long, default_value = "fsync", requires = "collection")]
    pub durability: String,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn engine(e: quiver_core::Error) -> io::Error {
    io::Error::other(e.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}

/// Deletes the directory on drop when the bench created it.
struct Scratch {
    dir: PathBuf,
    remove: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn scratch_dir(given: Option<&Path>) -> io::Result<Scratch> {
    if let Some(dir) = given {
        if dir.join("quiver.json").exists() {
            return Err(invalid(format!(
                "{} already holds a database; give a new directory",
                dir.display()
            )));
        }
        return Ok(Scratch {
            dir: dir.to_owned(),
            remove: false,
        });
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("quiver-bench-{}-{nanos}", std::process::id()));
    Ok(Scratch { dir, remove: true })
}

/// Fraction of the first `k` ground-truth ids found among the hits.
fn recall(results: &[Vec<u64>], gt: &Matrix<i64>, k: usize) -> f64 {
    let mut hits = 0usize;
    for (i, r) in results.iter().enumerate() {
        let truth = &gt.row(i)[..k];
        hits += r
            .iter()
            .take(k)
            .filter(|&&id| i64::try_from(id).is_ok_and(|id| truth.contains(&id)))
            .count();
    }
    hits as f64 / (k * results.len()).max(1) as f64
}

/// Runs `quiver bench --collection`.
///
/// # Errors
///
/// Unreadable or malformed input files, inconsistent dimensions, a
/// database directory already in use, engine errors, or a failure to write
/// the JSON report.
pub fn run(args: &BenchArgs) -> io::Result<()> {
    let opts = &args.collection;
    let metric = match args.metric {
        MetricArg::Cosine => Metric::Cosine,
        MetricArg::L2 => Metric::Euclid,
        MetricArg::Dot => Metric::Dot,
    };
    if args.k == 0 || args.ef.is_empty() || args.repeats == 0 || opts.batch_size == 0 {
        return Err(invalid(
            "--k, --ef, --repeats and --batch-size must be positive",
        ));
    }
    let durability = match opts.durability.as_str() {
        "fsync" => DurabilityMode::Fsync,
        "flush-only" => DurabilityMode::FlushOnly,
        "none" => DurabilityMode::None,
        other => {
            return Err(invalid(format!(
                "--durability {other}: expected fsync, flush-only or none"
            )));
        }
    };
    let base = dataset::read_vectors(&args.base)?;
    let mut query = dataset::read_vectors(&args.query)?;
    let gt = dataset::read_ids(&args.groundtruth)?;
    if base.cols != query.cols {
        return Err(invalid(format!(
            "base has dimension {}, queries {}",
            base.cols, query.cols
        )));
    }
    if base.rows == 0 {
        return Err(invalid("base has no vectors"));
    }
    if args.max_queries > 0 && query.rows > args.max_queries {
        query.rows = args.max_queries;
        query.data.truncate(query.rows * query.cols);
    }
    if gt.rows < query.rows || gt.cols < args.k {
        return Err(invalid(format!(
            "ground truth is {}x{}, need at least {}x{}",
            gt.rows, gt.cols, query.rows, args.k
        )));
    }
    let dim = base.cols;
    let scratch = scratch_dir(opts.collection_dir.as_deref())?;
    let mut config = CollectionConfig::new(dim, metric);
    config.hnsw = HnswConfig {
        m: args.m,
        ef_construction: args.ef_construction,
        seed: args.seed.unwrap_or(HnswConfig::default().seed),
    };
    config.durability = durability;
    eprintln!(
        "quiver bench --collection: {} x {dim} base, {} queries, M={} ef_construction={}, upserts of {} ({}), database {}",
        base.rows,
        query.rows,
        args.m,
        args.ef_construction,
        opts.batch_size,
        opts.durability,
        scratch.dir.display()
    );

    // Ingest: durable upserts in batches, each point with a small payload.
    let db = Database::open(&scratch.dir).map_err(engine)?;
    let c = db.create_collection(COLLECTION, config).map_err(engine)?;
    c.create_field_index("group", FieldType::Integer)
        .map_err(engine)?;
    let t0 = Instant::now();
    let rows: Vec<&[f32]> = base.data.chunks(dim).collect();
    for (b, chunk) in rows.chunks(opts.batch_size).enumerate() {
        let points: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let row = (b * opts.batch_size + j) as u64;
                let payload = json!({"row": row, "group": row % 100});
                let payload = payload.as_object().cloned().unwrap_or_default();
                Point::new(row, v.to_vec()).with_payload(payload)
            })
            .collect();
        c.upsert(points).map_err(engine)?;
    }
    let ingest_seconds = t0.elapsed().as_secs_f64();
    let ingest_pps = base.rows as f64 / ingest_seconds;
    let t1 = Instant::now();
    c.flush().map_err(engine)?;
    let checkpoint_seconds = t1.elapsed().as_secs_f64();
    drop(c);
    drop(db);
    let t2 = Instant::now();
    let db = Database::open(&scratch.dir).map_err(engine)?;
    let c = db.collection(COLLECTION).map_err(engine)?;
    let reopen_seconds = t2.elapsed().as_secs_f64();
    let info = c.info().map_err(engine)?;
    eprintln!(
        "ingested {} points in {ingest_seconds:.2} s ({ingest_pps:.0} points/s); checkpoint {checkpoint_seconds:.2} s; reopen {:.1} ms; disk {} B, ram {} B",
        info.points,
        reopen_seconds * 1e3,
        info.disk_bytes.values().sum::<u64>(),
        info.ram_bytes.values().sum::<u64>()
    );

    // Search: hydrate the payload of every hit, as a client would.
    let k = args.k;
    let queries: Vec<&[f32]> = query.data.chunks(dim).collect();
    let requests = |ef: usize, with_payload: bool| -> Vec<SearchRequest> {
        queries
            .iter()
            .map(|q| {
                let mut r = SearchRequest::new(q.to_vec(), k);
                r.ef = Some(ef);
                r.with_payload = with_payload;
                r
            })
            .collect()
    };
    struct Run {
        ef: usize,
        recall: f64,
        qps: Vec<f64>,
        p50: Vec<f64>,
        p99: Vec<f64>,
        /// Queries/s of the same searches without payloads: what hydration costs.
        qps_no_payload: Vec<f64>,
    }
    let mut runs: Vec<Run> = args
        .ef
        .iter()
        .map(|&ef| Run {
            ef,
            recall: 0.0,
            qps: Vec::new(),
            p50: Vec::new(),
            p99: Vec::new(),
            qps_no_payload: Vec::new(),
        })
        .collect();
    for rep in 0..args.repeats {
        for run in &mut runs {
            let reqs = requests(run.ef, true);
            for r in reqs.iter().take(200) {
                std::hint::black_box(c.search(r).map_err(engine)?);
            }
            let mut lat_us = Vec::with_capacity(reqs.len() * args.max_passes);
            let start = Instant::now();
            for pass in 0..args.max_passes.max(1) {
                let mut ids = Vec::with_capacity(reqs.len());
                for r in &reqs {
                    let t = Instant::now();
                    let hits = c.search(r).map_err(engine)?;
                    lat_us.push(t.elapsed().as_secs_f64() * 1e6);
                    if pass == 0 && rep == 0 {
                        ids.push(hit_rows(&hits)?);
                    }
                }
                if pass == 0 && rep == 0 {
                    run.recall = recall(&ids, &gt, k);
                }
                if start.elapsed() >= Duration::from_secs_f64(args.min_time) {
                    break;
                }
            }
            let total_us: f64 = lat_us.iter().sum();
            lat_us.sort_by(f64::total_cmp);
            let qps = lat_us.len() as f64 / (total_us / 1e6);
            let (p50, p99) = (percentile(&lat_us, 50.0), percentile(&lat_us, 99.0));
            eprintln!(
                "  rep={rep} ef={:>4} recall@{k}={:.4} qps1t={qps:>9.1} p50={p50:>7.1}us p99={p99:>7.1}us",
                run.ef, run.recall
            );
            let plain = requests(run.ef, false);
            let (mut n, start) = (0usize, Instant::now());
            for _ in 0..args.max_passes.max(1) {
                for r in &plain {
                    std::hint::black_box(c.search(r).map_err(engine)?);
                }
                n += plain.len();
                if start.elapsed() >= Duration::from_secs_f64(args.min_time) {
                    break;
                }
            }
            run.qps_no_payload
                .push(n as f64 / start.elapsed().as_secs_f64());
            run.qps.push(qps);
            run.p50.push(p50);
            run.p99.push(p99);
        }
    }

    println!(
        "ingest_points_per_s={ingest_pps:.0} ingest_seconds={ingest_seconds:.2} batch={} durability={} checkpoint_seconds={checkpoint_seconds:.2} reopen_ms={:.1}",
        opts.batch_size,
        opts.durability,
        reopen_seconds * 1e3
    );
    println!(
        "{:>6} {:>9} {:>10} {:>9} {:>9} {:>16}",
        "ef", "recall", "qps", "p50_us", "p99_us", "qps_no_payload"
    );
    let mut summary = Vec::new();
    for r in &runs {
        let (qps, p50, p99, qps_no_payload) = (
            median(r.qps.clone()),
            median(r.p50.clone()),
            median(r.p99.clone()),
            median(r.qps_no_payload.clone()),
        );
        println!(
            "{:>6} {:>9.4} {:>10.1} {:>9.1} {:>9.1} {:>16.1}",
            r.ef, r.recall, qps, p50, p99, qps_no_payload
        );
        summary.push(
            json!({"ef": r.ef, "recall": r.recall, "qps": qps, "p50_us": p50,
            "p99_us": p99, "qps_no_payload": qps_no_payload}),
        );
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "engine": "quiver-collection",
            "version": env!("CARGO_PKG_VERSION"),
            "n": base.rows,
            "dim": dim,
            "m": args.m,
            "ef_construction": args.ef_construction,
            "batch_size": opts.batch_size,
            "durability": opts.durability,
            "ingest_seconds": ingest_seconds,
            "ingest_points_per_s": ingest_pps,
            "checkpoint_seconds": checkpoint_seconds,
            "reopen_seconds": reopen_seconds,
            "disk_bytes": info.disk_bytes,
            "ram_bytes": info.ram_bytes,
            "runs": summary,
        });
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Row numbers of the hits, checking that each hit's payload was hydrated
/// and names the same row.
fn hit_rows(hits: &[quiver_core::ScoredPoint]) -> io::Result<Vec<u64>> {
    hits.iter()
        .map(|h| {
            let PointId::Num(row) = h.id else {
                return Err(io::Error::other(format!("unexpected point id {}", h.id)));
            };
            let stored = h
                .payload
                .as_ref()
                .and_then(|p| p.get("row"))
                .and_then(serde_json::Value::as_u64);
            if stored != Some(row) {
                return Err(io::Error::other(format!(
                    "point {row}: payload {:?} does not name its row",
                    h.payload
                )));
            }
            Ok(row)
        })
        .collect()
}
