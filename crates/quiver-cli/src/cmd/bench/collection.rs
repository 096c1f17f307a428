//! `quiver bench --collection`: the same measurement as the bare-index bench,
//! but end to end through a [`Database`] on disk: durable upserts in batches
//! (op log, vector and payload stores, graph, payload index), then searches
//! that hydrate each hit's payload. Prints ingest points/s, checkpoint and
//! reopen times, and recall, queries/s, p50 and p99 per `ef`, in the table
//! format of the bare bench, so the two can be compared line by line (plus
//! the queries/s of the same searches without payloads).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use quiver_core::filter::FieldType;
use quiver_core::storage::DurabilityMode;
use quiver_core::{CollectionConfig, Database, HnswConfig, Point, PointId, SearchRequest};
use serde_json::json;

use super::BenchArgs;
use super::dataset::Dataset;
use super::measure::timed_passes;
use super::report::{Row, print_table, write_json};
use super::stats::{Latency, PerEf, recall};

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

/// One timed measurement of one ef.
struct Cell {
    latency: Latency,
    /// Queries/s of the same searches without payloads: what hydration costs.
    qps_no_payload: f64,
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

fn scratch_dir(given: Option<&Path>) -> anyhow::Result<Scratch> {
    if let Some(dir) = given {
        if dir.join("quiver.json").exists() {
            bail!(
                "{} already holds a database; give a new directory",
                dir.display()
            );
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

/// Runs `quiver bench --collection`.
///
/// # Errors
///
/// Unreadable or malformed input files, inconsistent dimensions, a
/// database directory already in use, engine errors, or a failure to write
/// the JSON report.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let opts = &args.collection;
    let metric = args.metric.metric();
    if args.k == 0 || args.ef.is_empty() || args.repeats == 0 || opts.batch_size == 0 {
        bail!("--k, --ef, --repeats and --batch-size must be positive");
    }
    let durability = match opts.durability.as_str() {
        "fsync" => DurabilityMode::Fsync,
        "flush-only" => DurabilityMode::FlushOnly,
        "none" => DurabilityMode::None,
        other => bail!("--durability {other}: expected fsync, flush-only or none"),
    };
    let Dataset {
        base,
        query,
        groundtruth: gt,
    } = Dataset::load(args)?;
    let dim = base.cols;
    let scratch = scratch_dir(opts.collection_dir.as_deref())?;
    let mut params = quiver_core::VectorParams::new(dim, metric);
    params.hnsw = HnswConfig {
        m: args.m,
        ef_construction: args.ef_construction,
        seed: args.seed.unwrap_or(HnswConfig::default().seed),
    };
    let mut config = CollectionConfig::with_vectors([(String::new(), params)]);
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
    let db = Database::open(&scratch.dir)?;
    let c = db.create_collection(COLLECTION, config)?;
    c.create_field_index("group", FieldType::Integer)?;
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
        c.upsert(points)?;
    }
    let ingest_seconds = t0.elapsed().as_secs_f64();
    let ingest_pps = base.rows as f64 / ingest_seconds;
    let t1 = Instant::now();
    c.flush()?;
    let checkpoint_seconds = t1.elapsed().as_secs_f64();
    drop(c);
    drop(db);
    let t2 = Instant::now();
    let db = Database::open(&scratch.dir)?;
    let c = db.collection(COLLECTION)?;
    let reopen_seconds = t2.elapsed().as_secs_f64();
    let info = c.info()?;
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
    let mut runs: Vec<PerEf<Cell>> = PerEf::each(&args.ef);
    for rep in 0..args.repeats {
        for run in &mut runs {
            let reqs = requests(run.ef, true);
            for r in reqs.iter().take(200) {
                std::hint::black_box(c.search(r)?);
            }
            let mut ids = Vec::with_capacity(reqs.len());
            let lat_us = timed_passes(
                reqs.len(),
                args.max_passes,
                args.min_time,
                |i| Ok(c.search(&reqs[i])?),
                |pass, hits| {
                    if pass == 0 && rep == 0 {
                        ids.push(hit_rows(&hits)?);
                    }
                    Ok(())
                },
            )?;
            if rep == 0 {
                run.recall = recall(ids.iter().map(|r| r.iter().copied()), &gt, k);
            }
            let latency = Latency::of(lat_us);
            let (qps, p50, p99) = (latency.qps, latency.p50_us, latency.p99_us);
            eprintln!(
                "  rep={rep} ef={:>4} recall@{k}={:.4} qps1t={qps:>9.1} p50={p50:>7.1}us p99={p99:>7.1}us",
                run.ef, run.recall
            );
            let plain = requests(run.ef, false);
            let (mut n, start) = (0usize, Instant::now());
            for _ in 0..args.max_passes.max(1) {
                for r in &plain {
                    std::hint::black_box(c.search(r)?);
                }
                n += plain.len();
                if start.elapsed() >= Duration::from_secs_f64(args.min_time) {
                    break;
                }
            }
            run.cells.push(Cell {
                latency,
                qps_no_payload: n as f64 / start.elapsed().as_secs_f64(),
            });
        }
    }

    println!(
        "ingest_points_per_s={ingest_pps:.0} ingest_seconds={ingest_seconds:.2} batch={} durability={} checkpoint_seconds={checkpoint_seconds:.2} reopen_ms={:.1}",
        opts.batch_size,
        opts.durability,
        reopen_seconds * 1e3
    );
    let rows: Vec<Row> = runs
        .iter()
        .map(|r| Row {
            qps_no_payload: Some(r.median(|c| c.qps_no_payload)),
            ..Row::median_of(r, |c| &c.latency)
        })
        .collect();
    print_table(&rows);
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
            "runs": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        });
        write_json(path, &doc)?;
    }
    Ok(())
}

/// Row numbers of the hits, checking that each hit's payload was hydrated
/// and names the same row.
fn hit_rows(hits: &[quiver_core::ScoredPoint]) -> anyhow::Result<Vec<u64>> {
    hits.iter()
        .map(|h| {
            let PointId::Num(row) = h.id else {
                bail!("unexpected point id {}", h.id);
            };
            let stored = h
                .payload
                .as_ref()
                .and_then(|p| p.get("row"))
                .and_then(serde_json::Value::as_u64);
            if stored != Some(row) {
                bail!("point {row}: payload {:?} does not name its row", h.payload);
            }
            Ok(row)
        })
        .collect()
}
