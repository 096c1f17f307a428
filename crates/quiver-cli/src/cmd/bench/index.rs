//! `quiver bench` on the bare HNSW index: build it (or load it with
//! `--index`), optionally delete every N-th point, then time single-thread
//! searches per `ef` (and 1- and 2-thread batches for `--peers-json`).
//!
//! With `--quantization int8` the graph holds int8 codes (quantizer trained
//! on the base inside the timed build: the least-error range, or
//! `--quantile`) and every search
//! rescores its best `oversampling * k` candidates against the float32
//! base, which this process keeps in RAM (a collection would read them
//! from its mapped `vectors.dat`).

use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use quiver_core::HnswConfig;
use quiver_core::index::Neighbor;
use quiver_core::index::hnsw::{Hnsw, Linking, QuantizationSearch, RowVectors};
use quiver_core::quantization::ScalarQuantizer;
use rayon::prelude::*;
use serde_json::{Value, json};

use super::dataset::{Dataset, Matrix};
use super::measure::{cpu_model, process_cpu_seconds, rss_bytes, thread_cpu_ns, timed_passes};
use super::report::{Row, print_table, write_json};
use super::stats::{Latency, PerEf, recall};
use super::{BenchArgs, LinkingArg, QuantizationArg};

/// One timed measurement of one ef.
struct Cell {
    latency: Latency,
    cpu_util: Option<f64>,
    batch_1t: Option<f64>,
    batch_2t: Option<f64>,
    /// Recall of the 2-thread batch search (first repeat, with batches).
    recall_batch: Option<f64>,
}

type Run = PerEf<Cell>;

/// Name of the int8 dot kernel this CPU runs (`avx512vnni`, `avx2`, ...).
fn byte_kernel_name() -> Option<&'static str> {
    quiver_core::distance::available_byte_kernels()
        .first()
        .map(|k| k.name)
}

/// The index and how one query is searched in it.
struct Searcher<'a> {
    index: &'a Hnsw,
    /// Set for a quantized index: the rescoring parameters and the float32
    /// vectors (the preprocessed base) they read.
    rescore: Option<(QuantizationSearch, RowVectors<'a>)>,
}

impl Searcher<'_> {
    fn search(&self, q: &[f32], k: usize, ef: usize) -> Vec<Neighbor> {
        match &self.rescore {
            Some((params, source)) => {
                self.index
                    .search_quantized(q, k, ef, *params, source, None)
                    .0
            }
            None => self.index.search(q, k, ef, None),
        }
    }
}

/// The index and what building (or loading) it cost.
struct Built {
    index: Hnsw,
    was_loaded: bool,
    threads: usize,
    seconds: f64,
    cpu_seconds: Option<f64>,
    rss_delta: Option<u64>,
    index_bytes: usize,
}

/// Runs `quiver bench` without `--collection`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let metric = args.metric.metric();
    if args.k == 0 || args.ef.is_empty() || args.repeats == 0 {
        bail!("--k, --ef and --repeats must be positive");
    }
    let Dataset {
        mut base,
        mut query,
        groundtruth,
    } = Dataset::load(args)?;
    if base.rows > u32::MAX as usize {
        bail!("base has {} vectors", base.rows);
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
    let dataset_name = Dataset::name(args);

    let oversampling = args.checked_oversampling()?;
    if oversampling.is_some() && args.index.is_some() {
        bail!(
            "--index saves float32 graphs only: a graph over int8 codes has no checkpoint format yet"
        );
    }
    let built = build(args, &base, &dataset_name, query.rows)?;
    let index = &built.index;
    let gt = if args.delete_every > 0 {
        delete_every(args, index, base.rows, &groundtruth)?
    } else {
        groundtruth
    };
    let mem = index.memory();
    // The float32 vectors this process keeps for the index: inside the
    // graph, or (quantized) the base array rescoring reads.
    let vectors_ram_bytes = match oversampling {
        Some(_) => base.data.len() * 4,
        None => mem.vectors_bytes,
    };
    let memory = json!({
        "graph_bytes": mem.graph_bytes,
        "codes_bytes": mem.codes_bytes,
        "vectors_ram_bytes": vectors_ram_bytes,
    });
    eprintln!(
        "memory: graph {:.1} MiB, codes {:.1} MiB, float32 vectors in RAM {:.1} MiB",
        mem.graph_bytes as f64 / 1048576.0,
        mem.codes_bytes as f64 / 1048576.0,
        vectors_ram_bytes as f64 / 1048576.0
    );
    let searcher = Searcher {
        index,
        rescore: oversampling.map(|f| {
            (
                QuantizationSearch {
                    oversampling: f,
                    ..QuantizationSearch::default()
                },
                RowVectors::new(&base.data, dim),
            )
        }),
    };
    let runs = measure(args, &searcher, &queries, &gt)?;

    let rows: Vec<Row> = runs
        .iter()
        .map(|r| Row::median_of(r, |c| &c.latency))
        .collect();
    print_table(&rows);
    let verb = if built.was_loaded { "load" } else { "build" };
    println!(
        "{verb}_seconds={:.2} build_threads={} index_bytes={}",
        built.seconds, built.threads, built.index_bytes
    );

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
            "build_seconds": (!built.was_loaded).then_some(built.seconds),
            "load_seconds": built.was_loaded.then_some(built.seconds),
            "build_threads": built.threads,
            "build_cpu_seconds": built.cpu_seconds,
            "index_bytes": built.index_bytes,
            "delete_every": args.delete_every,
            "quantization": args.quantization.name(),
            "oversampling": oversampling,
            "memory": memory,
            "runs": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        });
        write_json(path, &doc)?;
    }
    if let Some(path) = &args.peers_json {
        let records = peers_records(
            args,
            &built,
            &runs,
            &dataset_name,
            &base,
            query.rows,
            oversampling,
            &memory,
        );
        write_json(path, &Value::Array(records))?;
    }
    Ok(())
}

/// Builds the index of `base` (or loads it from `--index` when that holds
/// one of the same size and M, and saves a new build there).
fn build(
    args: &BenchArgs,
    base: &Matrix<f32>,
    dataset_name: &str,
    queries: usize,
) -> anyhow::Result<Built> {
    let metric = args.metric.metric();
    let dim = base.cols;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let config = HnswConfig {
        m: args.m,
        ef_construction: args.ef_construction,
        seed: args.seed.unwrap_or(HnswConfig::default().seed),
    };
    eprintln!(
        "quiver bench: {dataset_name}: {} x {dim} base, {queries} queries, metric {}, kernel {}, quantization {}, M={} ef_construction={} threads={threads}",
        base.rows,
        args.metric.name(),
        quiver_core::kernel_name(),
        match args.quantization {
            QuantizationArg::None => "none".to_string(),
            q => format!(
                "{} (byte kernel {})",
                q.name(),
                byte_kernel_name().unwrap_or("-")
            ),
        },
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
    let index = match (loaded, args.quantization) {
        (Some(index), _) => index,
        (None, QuantizationArg::Int8) => pool.install(|| -> anyhow::Result<Hnsw> {
            let quantizer = match args.quantile {
                Some(q) => ScalarQuantizer::train(dim, base.data.chunks(dim), q)?,
                None => ScalarQuantizer::fit(dim, base.data.chunks(dim))?,
            };
            let (lo, hi) = quantizer.range();
            eprintln!("int8 codes span {lo:.6} to {hi:.6}");
            let rows = RowVectors::new(&base.data, dim);
            let linking = match args.linking_or_default() {
                LinkingArg::Codes => Linking::Codes,
                LinkingArg::Exact => Linking::Exact(&rows),
            };
            Ok(Hnsw::build_quantized(
                dim,
                metric,
                config,
                quantizer,
                &items,
                linking,
                Some(&progress),
            )?)
        })?,
        (None, _) => {
            pool.install(|| Hnsw::build_with_progress(dim, metric, config, &items, Some(&progress)))
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    if let Some(path) = &args.index
        && !was_loaded
    {
        index
            .save(path, 0)
            .with_context(|| format!("{}", path.display()))?;
    }
    let cpu_seconds = process_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    bar.finish_and_clear();
    let rss_delta = rss_bytes().zip(rss0).map(|(a, b)| a.saturating_sub(b));
    let index_bytes = index.memory_bytes();
    eprintln!(
        "{} in {seconds:.2} s on {threads} threads ({:.1} CPU s); index {:.1} MiB (rss delta {:.1} MiB)",
        if was_loaded { "loaded" } else { "built" },
        cpu_seconds.unwrap_or(f64::NAN),
        index_bytes as f64 / 1048576.0,
        rss_delta.unwrap_or(0) as f64 / 1048576.0
    );
    Ok(Built {
        index,
        was_loaded,
        threads,
        seconds,
        cpu_seconds,
        rss_delta,
        index_bytes,
    })
}

/// Deletes ids 0, N, 2N, ... (`--delete-every N`) from the index and
/// returns the ground truth without them.
fn delete_every(
    args: &BenchArgs,
    index: &Hnsw,
    n: usize,
    gt: &Matrix<i64>,
) -> anyhow::Result<Matrix<i64>> {
    let every = args.delete_every;
    for id in (0..n).step_by(every) {
        index.delete(id as u32);
    }
    let live = |id: &&i64| usize::try_from(**id).map_or(true, |i| !i.is_multiple_of(every));
    let rows: Vec<Vec<i64>> = (0..gt.rows)
        .map(|r| gt.row(r).iter().filter(live).copied().collect())
        .collect();
    let cols = rows.iter().map(Vec::len).min().unwrap_or(0);
    if cols < args.k {
        bail!(
            "after deleting every {every}-th point the ground truth keeps {cols} ids per query, need {}",
            args.k
        );
    }
    eprintln!(
        "deleted {} points (every {every}-th); {} live",
        n.div_ceil(every),
        index.len()
    );
    Ok(Matrix {
        rows: gt.rows,
        cols,
        data: rows
            .iter()
            .flat_map(|r| r[..cols].iter().copied())
            .collect(),
    })
}

fn hit_ids(results: &[Vec<Neighbor>]) -> impl Iterator<Item = impl Iterator<Item = u64>> {
    results.iter().map(|r| r.iter().map(|n| u64::from(n.id)))
}

/// Times every `--ef`, `--repeats` times (outer loop repeats, inner loop ef).
fn measure(
    args: &BenchArgs,
    index: &Searcher<'_>,
    queries: &[&[f32]],
    gt: &Matrix<i64>,
) -> anyhow::Result<Vec<Run>> {
    let batch_pools = if args.peers_json.is_some() {
        let mk = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build();
        Some((mk(1)?, mk(2)?))
    } else {
        None
    };
    let k = args.k;
    let mut runs: Vec<Run> = PerEf::each(&args.ef);
    for rep in 0..args.repeats {
        for run in runs.iter_mut() {
            let ef = run.ef;
            for q in queries.iter().take(200) {
                std::hint::black_box(index.search(q, k, ef));
            }
            let mut first: Vec<Vec<Neighbor>> = Vec::with_capacity(queries.len());
            let start = Instant::now();
            let cpu0 = thread_cpu_ns();
            let lat_us = timed_passes(
                queries.len(),
                args.max_passes,
                args.min_time,
                |i| Ok(index.search(queries[i], k, ef)),
                |pass, r| {
                    if pass == 0 {
                        first.push(r);
                    }
                    Ok(())
                },
            )?;
            let wall_ns = start.elapsed().as_nanos() as f64;
            let cpu_util = thread_cpu_ns()
                .zip(cpu0)
                .map(|(b, a)| b.saturating_sub(a) as f64 / wall_ns);
            if rep == 0 {
                run.recall = recall(hit_ids(&first), gt, k);
            }
            let mut cell = Cell {
                latency: Latency::of(lat_us),
                cpu_util,
                batch_1t: None,
                batch_2t: None,
                recall_batch: None,
            };
            if let Some((p1, p2)) = &batch_pools {
                let batch = |pool: &rayon::ThreadPool| -> (f64, Vec<Vec<Neighbor>>) {
                    let search = || -> Vec<Vec<Neighbor>> {
                        pool.install(|| {
                            queries.par_iter().map(|q| index.search(q, k, ef)).collect()
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
                    cell.recall_batch = Some(recall(hit_ids(&res2), gt, k));
                }
            }
            eprintln!(
                "  rep={rep} ef={ef:>4} recall@{k}={:.4} qps1t={:>9.1} p50={:>7.1}us p99={:>7.1}us cpu={:.2}{}",
                run.recall,
                cell.latency.qps,
                cell.latency.p50_us,
                cell.latency.p99_us,
                cell.cpu_util.unwrap_or(f64::NAN),
                match (cell.batch_1t, cell.batch_2t) {
                    (Some(a), Some(b)) => format!(" batch1t={a:.1} batch2t={b:.1}"),
                    _ => String::new(),
                }
            );
            run.cells.push(cell);
        }
    }
    Ok(runs)
}

/// Per-ef records in the schema `peers.py table` merges.
#[expect(
    clippy::too_many_arguments,
    reason = "one record field per argument, all borrowed from run()"
)]
fn peers_records(
    args: &BenchArgs,
    built: &Built,
    runs: &[Run],
    dataset_name: &str,
    base: &Matrix<f32>,
    n_query: usize,
    oversampling: Option<f64>,
    memory: &Value,
) -> Vec<Value> {
    // Each payload is its own engine in the peers table.
    let engine = match oversampling {
        Some(_) => match args.linking_or_default() {
            LinkingArg::Codes => format!("quiver-{}", args.quantization.name()),
            LinkingArg::Exact => format!("quiver-{}-exact", args.quantization.name()),
        },
        None => "quiver".to_string(),
    };
    let k = args.k;
    let host = json!({"cpu_model": cpu_model(), "ncpu": std::thread::available_parallelism().map_or(1, |n| n.get())});
    runs.iter()
        .map(|r| {
            let all = |f: &dyn Fn(&Cell) -> f64| -> Vec<f64> {
                r.cells.iter().map(|c| (f(c) * 10.0).round() / 10.0).collect()
            };
            json!({
                "engine": engine, "impl": "rust", "package": "quiver-core",
                "engine_version": env!("CARGO_PKG_VERSION"),
                "dataset": dataset_name, "data_dir": args.base.parent().map(|p| p.display().to_string()),
                "n_base": base.rows, "n_query": n_query, "dim": base.cols, "k": k,
                "params": {"M": args.m, "ef_construction": args.ef_construction, "metric": args.metric.name(),
                           "kernel": quiver_core::kernel_name(),
                           "quantization": args.quantization.name(), "oversampling": oversampling,
                           "linking": oversampling.map(|_| args.linking_or_default().name()),
                           "quantile": oversampling.map(|_| args.quantile.map_or(json!("least-error"), |q| json!(q))),
                           "byte_kernel": oversampling.and(byte_kernel_name()),
                           "mapping": "M=m (layer0 keeps 2*M), ef_construction, search ef=max(ef,k)"},
                "build_time_s": (!built.was_loaded).then(|| (built.seconds * 1e4).round() / 1e4), "build_threads": built.threads,
                "build_cpu_s": built.cpu_seconds,
                "index_mem_rss_delta_bytes": built.rss_delta,
                "index_size_lib_bytes": built.index_bytes,
                "raw_vectors_bytes": base.data.len() * 4,
                "memory": memory,
                "host": host,
                "ef_search": r.ef, "ef_effective": r.ef.max(k), "mode": "ef",
                "recall_at_10": (r.recall * 1e5).round() / 1e5,
                "repeats": r.cells.len(),
                "qps_1t": r.median(|c| c.latency.qps), "qps_1t_all": all(&|c| c.latency.qps),
                "lat_p50_us": r.median(|c| c.latency.p50_us), "lat_p99_us": r.median(|c| c.latency.p99_us),
                "lat_mean_us": r.median(|c| c.latency.mean_us),
                "cpu_util_single": r.cells.iter().all(|c| c.cpu_util.is_some())
                    .then(|| (r.median(|c| c.cpu_util.unwrap_or(0.0)) * 1000.0).round() / 1000.0),
                "qps_batch_1t": r.median(|c| c.batch_1t.unwrap_or(0.0)),
                "qps_batch_2t": r.median(|c| c.batch_2t.unwrap_or(0.0)),
                "batch_threads": 2,
                "recall_at_10_batch": r.cells.first().and_then(|c| c.recall_batch),
                "aggregation": "median over repeats (outer loop repeats, inner loop ef)",
            })
        })
        .collect()
}
