//! `quiver bench`: build an HNSW index from a dataset, then measure recall@k,
//! single-thread queries/s and latency for each `ef`, like the peer harness
//! (`shared/bench/peers.py`) does for other engines.

use crate::dataset::{self, Matrix};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use quiver_core::index::Neighbor;
use quiver_core::{Hnsw, HnswConfig, Metric};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Metric names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MetricArg {
    /// Cosine similarity (vectors are normalised).
    Cosine,
    /// Euclidean distance.
    L2,
    /// Inner product.
    Dot,
}

impl MetricArg {
    fn metric(self) -> Metric {
        match self {
            MetricArg::Cosine => Metric::Cosine,
            MetricArg::L2 => Metric::Euclid,
            MetricArg::Dot => Metric::Dot,
        }
    }
    fn name(self) -> &'static str {
        match self {
            MetricArg::Cosine => "cosine",
            MetricArg::L2 => "l2",
            MetricArg::Dot => "dot",
        }
    }
}

/// Arguments of `quiver bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Base vectors (.fvecs or .npy float32).
    #[arg(long)]
    pub base: PathBuf,
    /// Query vectors (.fvecs or .npy float32).
    #[arg(long)]
    pub query: PathBuf,
    /// Ground-truth neighbour ids per query, best first (.ivecs or .npy int32/int64).
    #[arg(long)]
    pub groundtruth: PathBuf,
    /// Distance metric.
    #[arg(long, value_enum, default_value_t = MetricArg::Cosine)]
    pub metric: MetricArg,
    /// HNSW links per node (level 0 keeps 2*m).
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    /// HNSW build beam width.
    #[arg(long, default_value_t = 200)]
    pub ef_construction: usize,
    /// Search beam widths to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256,512")]
    pub ef: Vec<usize>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of the HNSW level draws.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Build threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Measure every ef this many times (outer loop), report the median.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Repeat the single-query pass until this many seconds have passed...
    #[arg(long, default_value_t = 1.0)]
    pub min_time: f64,
    /// ...or this many passes were made.
    #[arg(long, default_value_t = 5)]
    pub max_passes: usize,
    /// Use only the first N queries (0 = all).
    #[arg(long, default_value_t = 0)]
    pub max_queries: usize,
    /// Dataset name in the reports (default: the base file's directory name).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Keep the built index in this file: load it from there when it holds
    /// an index of this dimension and metric (the build is skipped and
    /// reported as such), otherwise build and save it. Lets several search
    /// experiments share one slow build.
    #[arg(long, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// After the build, delete every N-th point (ids 0, N, 2N, ...) to
    /// measure search with tombstones in the graph; the ground truth then
    /// skips the deleted ids. Keep N above 4 or the graph is rebuilt
    /// without them (0: delete nothing).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub delete_every: usize,
    /// Write the summary as one JSON object here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write per-ef records in the schema `peers.py table` merges (also
    /// measures 1- and 2-thread batch QPS).
    #[arg(long)]
    pub peers_json: Option<PathBuf>,
    /// `--collection` and its options.
    #[command(flatten)]
    pub collection: super::bench_collection::CollectionArgs,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::InvalidData {
        e
    } else {
        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
    }
}

/// Resident set size of this process in bytes (Linux), for the build's
/// memory delta.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// CPU time this thread has run, in nanoseconds (Linux), to report how much
/// of the wall time the single-thread timing really got on a busy machine.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU time of the whole process in seconds (Linux; clock ticks of 10 ms).
fn process_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Linear interpolation, as numpy.percentile does.
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}

fn recall(results: &[Vec<Neighbor>], gt: &Matrix<i64>, k: usize) -> f64 {
    let mut hits = 0usize;
    for (i, r) in results.iter().enumerate() {
        let truth = &gt.row(i)[..k];
        hits += r
            .iter()
            .take(k)
            .filter(|n| truth.contains(&i64::from(n.id)))
            .count();
    }
    hits as f64 / (k * results.len()).max(1) as f64
}

/// One timed measurement of one ef.
struct Cell {
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    cpu_util: Option<f64>,
    batch_1t: Option<f64>,
    batch_2t: Option<f64>,
}

struct Run {
    ef: usize,
    recall: f64,
    recall_batch: Option<f64>,
    cells: Vec<Cell>,
}

/// Runs `quiver bench`.
///
/// # Errors
///
/// Unreadable or malformed input files, inconsistent dimensions, or a
/// failure to write the JSON reports.
pub fn run(args: &BenchArgs) -> io::Result<()> {
    if args.collection.collection {
        return super::bench_collection::run(args);
    }
    let metric = args.metric.metric();
    if args.k == 0 || args.ef.is_empty() || args.repeats == 0 {
        return Err(invalid("--k, --ef and --repeats must be positive"));
    }
    let mut base = dataset::read_vectors(&args.base).map_err(|e| with_path(&args.base, e))?;
    let mut query = dataset::read_vectors(&args.query).map_err(|e| with_path(&args.query, e))?;
    let gt = dataset::read_ids(&args.groundtruth).map_err(|e| with_path(&args.groundtruth, e))?;
    if base.cols != query.cols {
        return Err(invalid(format!(
            "base has dimension {}, queries {}",
            base.cols, query.cols
        )));
    }
    if base.rows == 0 || base.rows > u32::MAX as usize {
        return Err(invalid(format!("base has {} vectors", base.rows)));
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
    base.data
        .par_chunks_mut(dim)
        .for_each(|v| metric.preprocess(v));
    query
        .data
        .chunks_mut(dim)
        .for_each(|v| metric.preprocess(v));
    let queries: Vec<&[f32]> = query.data.chunks(dim).collect();
    let dataset_name = args.dataset.clone().unwrap_or_else(|| {
        args.base
            .canonicalize()
            .ok()
            .and_then(|p| {
                p.parent()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "dataset".to_string())
    });

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let config = HnswConfig {
        m: args.m,
        ef_construction: args.ef_construction,
        seed: args.seed.unwrap_or(HnswConfig::default().seed),
    };
    eprintln!(
        "quiver bench: {dataset_name}: {} x {dim} base, {} queries, metric {}, kernel {}, M={} ef_construction={} threads={threads}",
        base.rows,
        query.rows,
        args.metric.name(),
        quiver_core::distance::kernel_name(),
        args.m,
        args.ef_construction
    );
    let items: Vec<(u32, &[f32])> = base
        .data
        .chunks(dim)
        .enumerate()
        .map(|(i, v)| (i as u32, v))
        .collect();
    let bar = ProgressBar::new(base.rows as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "building {bar:40} {pos}/{len} [{elapsed_precise}, eta {eta}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let rss0 = rss_bytes();
    let cpu0 = process_cpu_seconds();
    let t0 = Instant::now();
    let progress = |n: usize| bar.set_position(n as u64);
    let loaded = match &args.index {
        Some(path) if path.exists() => match Hnsw::load(path, dim, metric) {
            Ok((index, _)) if index.len() == base.rows && index.config().m == args.m => Some(index),
            Ok(_) => {
                eprintln!(
                    "{}: holds an index of another size or M; rebuilding",
                    path.display()
                );
                None
            }
            Err(e) => {
                eprintln!("{}: {e}; rebuilding", path.display());
                None
            }
        },
        _ => None,
    };
    let was_loaded = loaded.is_some();
    let index = match loaded {
        Some(index) => index,
        None => {
            pool.install(|| Hnsw::build_with_progress(dim, metric, config, &items, Some(&progress)))
        }
    };
    let build_seconds = t0.elapsed().as_secs_f64();
    if let Some(path) = &args.index
        && !was_loaded
    {
        index.save(path, 0).map_err(|e| with_path(path, e))?;
    }
    let build_cpu_seconds = process_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    bar.finish_and_clear();
    let rss_delta = rss_bytes().zip(rss0).map(|(a, b)| a.saturating_sub(b));
    let index_bytes = index.memory_bytes();
    drop(items);
    eprintln!(
        "{} in {build_seconds:.2} s on {threads} threads ({:.1} CPU s); index {:.1} MiB (rss delta {:.1} MiB)",
        if was_loaded { "loaded" } else { "built" },
        build_cpu_seconds.unwrap_or(f64::NAN),
        index_bytes as f64 / 1048576.0,
        rss_delta.unwrap_or(0) as f64 / 1048576.0
    );

    let gt = if args.delete_every > 0 {
        let every = args.delete_every;
        for id in (0..base.rows).step_by(every) {
            index.delete(id as u32);
        }
        let live = |id: &&i64| usize::try_from(**id).map_or(true, |i| !i.is_multiple_of(every));
        let rows: Vec<Vec<i64>> = (0..gt.rows)
            .map(|r| gt.row(r).iter().filter(live).copied().collect())
            .collect();
        let cols = rows.iter().map(Vec::len).min().unwrap_or(0);
        if cols < args.k {
            return Err(invalid(format!(
                "after deleting every {every}-th point the ground truth keeps {cols} ids per query, need {}",
                args.k
            )));
        }
        eprintln!(
            "deleted {} points (every {every}-th); {} live",
            base.rows.div_ceil(every),
            index.len()
        );
        Matrix {
            rows: gt.rows,
            cols,
            data: rows
                .iter()
                .flat_map(|r| r[..cols].iter().copied())
                .collect(),
        }
    } else {
        gt
    };
    let batch_pools = if args.peers_json.is_some() {
        let mk = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| io::Error::other(e.to_string()))
        };
        Some((mk(1)?, mk(2)?))
    } else {
        None
    };
    let k = args.k;
    let mut runs: Vec<Run> = args
        .ef
        .iter()
        .map(|&ef| Run {
            ef,
            recall: 0.0,
            recall_batch: None,
            cells: Vec::new(),
        })
        .collect();
    for rep in 0..args.repeats {
        for run in runs.iter_mut() {
            let ef = run.ef;
            for q in queries.iter().take(200) {
                std::hint::black_box(index.search(q, k, ef, None));
            }
            let mut lat_us = Vec::with_capacity(queries.len() * args.max_passes);
            let mut first: Option<Vec<Vec<Neighbor>>> = None;
            let start = Instant::now();
            let cpu0 = thread_cpu_ns();
            for pass in 0..args.max_passes.max(1) {
                let mut results = Vec::with_capacity(queries.len());
                for q in &queries {
                    let t = Instant::now();
                    let r = index.search(q, k, ef, None);
                    lat_us.push(t.elapsed().as_secs_f64() * 1e6);
                    results.push(r);
                }
                if pass == 0 {
                    first = Some(results);
                }
                if start.elapsed() >= Duration::from_secs_f64(args.min_time) {
                    break;
                }
            }
            let wall_ns = start.elapsed().as_nanos() as f64;
            let cpu_util = thread_cpu_ns()
                .zip(cpu0)
                .map(|(b, a)| b.saturating_sub(a) as f64 / wall_ns);
            if rep == 0
                && let Some(f) = &first
            {
                run.recall = recall(f, &gt, k);
            }
            let total_us: f64 = lat_us.iter().sum();
            let n = lat_us.len();
            lat_us.sort_by(f64::total_cmp);
            let mut cell = Cell {
                qps: n as f64 / (total_us / 1e6),
                p50_us: percentile(&lat_us, 50.0),
                p99_us: percentile(&lat_us, 99.0),
                mean_us: total_us / n.max(1) as f64,
                cpu_util,
                batch_1t: None,
                batch_2t: None,
            };
            if let Some((p1, p2)) = &batch_pools {
                let batch = |pool: &rayon::ThreadPool| -> (f64, Vec<Vec<Neighbor>>) {
                    let search = || -> Vec<Vec<Neighbor>> {
                        pool.install(|| {
                            queries
                                .par_iter()
                                .map(|q| index.search(q, k, ef, None))
                                .collect()
                        })
                    };
                    let res = search();
                    let (mut reps, t) = (0usize, Instant::now());
                    while reps < args.max_passes.max(1)
                        && (reps == 0 || t.elapsed().as_secs_f64() < args.min_time)
                    {
                        std::hint::black_box(search());
                        reps += 1;
                    }
                    (
                        (reps * queries.len()) as f64 / t.elapsed().as_secs_f64(),
                        res,
                    )
                };
                let (b1, _) = batch(p1);
                let (b2, res2) = batch(p2);
                cell.batch_1t = Some(b1);
                cell.batch_2t = Some(b2);
                if rep == 0 {
                    run.recall_batch = Some(recall(&res2, &gt, k));
                }
            }
            eprintln!(
                "  rep={rep} ef={ef:>4} recall@{k}={:.4} qps1t={:>9.1} p50={:>7.1}us p99={:>7.1}us cpu={:.2}{}",
                run.recall,
                cell.qps,
                cell.p50_us,
                cell.p99_us,
                cell.cpu_util.unwrap_or(f64::NAN),
                match (cell.batch_1t, cell.batch_2t) {
                    (Some(a), Some(b)) => format!(" batch1t={a:.1} batch2t={b:.1}"),
                    _ => String::new(),
                }
            );
            run.cells.push(cell);
        }
    }

    println!(
        "{:>6} {:>9} {:>10} {:>9} {:>9}",
        "ef", "recall", "qps", "p50_us", "p99_us"
    );
    let med = |r: &Run, f: &dyn Fn(&Cell) -> f64| median(r.cells.iter().map(f).collect());
    let mut summary_runs = Vec::new();
    for r in &runs {
        let (qps, p50, p99) = (
            med(r, &|c| c.qps),
            med(r, &|c| c.p50_us),
            med(r, &|c| c.p99_us),
        );
        println!(
            "{:>6} {:>9.4} {:>10.1} {:>9.1} {:>9.1}",
            r.ef, r.recall, qps, p50, p99
        );
        summary_runs.push(
            json!({"ef": r.ef, "recall": r.recall, "qps": qps, "p50_us": p50, "p99_us": p99}),
        );
    }
    let verb = if was_loaded { "load" } else { "build" };
    println!("{verb}_seconds={build_seconds:.2} build_threads={threads} index_bytes={index_bytes}");

    if let Some(path) = &args.json {
        let doc = json!({
            "engine": "quiver",
            "version": env!("CARGO_PKG_VERSION"),
            "dataset": dataset_name,
            "n": base.rows,
            "dim": dim,
            "metric": args.metric.name(),
            "m": args.m,
            "ef_construction": args.ef_construction,
            "build_seconds": (!was_loaded).then_some(build_seconds),
            "load_seconds": was_loaded.then_some(build_seconds),
            "build_threads": threads,
            "build_cpu_seconds": build_cpu_seconds,
            "index_bytes": index_bytes,
            "delete_every": args.delete_every,
            "runs": summary_runs,
        });
        write_json(path, &doc)?;
    }
    if let Some(path) = &args.peers_json {
        let host = json!({"cpu_model": cpu_model(), "ncpu": std::thread::available_parallelism().map_or(1, |n| n.get())});
        let records: Vec<Value> = runs
            .iter()
            .map(|r| {
                let all = |f: &dyn Fn(&Cell) -> f64| -> Vec<f64> {
                    r.cells.iter().map(|c| (f(c) * 10.0).round() / 10.0).collect()
                };
                json!({
                    "engine": "quiver", "impl": "rust", "package": "quiver-core",
                    "engine_version": env!("CARGO_PKG_VERSION"),
                    "dataset": dataset_name, "data_dir": args.base.parent().map(|p| p.display().to_string()),
                    "n_base": base.rows, "n_query": query.rows, "dim": dim, "k": k,
                    "params": {"M": args.m, "ef_construction": args.ef_construction, "metric": args.metric.name(),
                               "kernel": quiver_core::distance::kernel_name(),
                               "mapping": "M=m (layer0 keeps 2*M), ef_construction, search ef=max(ef,k)"},
                    "build_time_s": (!was_loaded).then(|| (build_seconds * 1e4).round() / 1e4), "build_threads": threads,
                    "build_cpu_s": build_cpu_seconds,
                    "index_mem_rss_delta_bytes": rss_delta,
                    "index_size_lib_bytes": index_bytes,
                    "raw_vectors_bytes": base.data.len() * 4,
                    "host": host,
                    "ef_search": r.ef, "ef_effective": r.ef.max(k), "mode": "ef",
                    "recall_at_10": (r.recall * 1e5).round() / 1e5,
                    "repeats": r.cells.len(),
                    "qps_1t": med(r, &|c| c.qps), "qps_1t_all": all(&|c| c.qps),
                    "lat_p50_us": med(r, &|c| c.p50_us), "lat_p99_us": med(r, &|c| c.p99_us),
                    "lat_mean_us": med(r, &|c| c.mean_us),
                    "cpu_util_single": r.cells.iter().all(|c| c.cpu_util.is_some())
                        .then(|| (med(r, &|c| c.cpu_util.unwrap_or(0.0)) * 1000.0).round() / 1000.0),
                    "qps_batch_1t": med(r, &|c| c.batch_1t.unwrap_or(0.0)),
                    "qps_batch_2t": med(r, &|c| c.batch_2t.unwrap_or(0.0)),
                    "batch_threads": 2,
                    "recall_at_10_batch": r.recall_batch,
                    "aggregation": "median over repeats (outer loop repeats, inner loop ef)",
                })
            })
            .collect();
        write_json(path, &Value::Array(records))?;
    }
    Ok(())
}

fn write_json(path: &Path, v: &Value) -> io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    std::fs::write(path, text).map_err(|e| with_path(path, e))
}
