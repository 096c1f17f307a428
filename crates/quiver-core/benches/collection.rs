//! Collection benchmarks, printed as tables (wall-clock medians); they
//! assert nothing.
//!
//! 1. `filtered`: filtered search by selectivity. 10 000 x 384 cosine
//!    vectors with 200 queries: the shared dev dataset when
//!    `QUIVER_BENCH_DATA=/path/to/wordnet-minilm-dev` is given, generated
//!    vectors otherwise. Each point has one bool payload field per
//!    selectivity (100 %, 50 %, 10 %, 1 %, 0.1 % of points `true`, drawn
//!    independently of the vectors), all indexed. For each selectivity and
//!    `ef`: the strategy the collection chooses, recall@10 against the exact
//!    *filtered* ground truth (computed here by brute force), whether every
//!    query got `min(k, matching)` hits, and single-thread queries/s, p50
//!    and p99.
//! 2. `reopen`: a collection of `QUIVER_BENCH_POINTS` (default 100 000)
//!    random vectors of `QUIVER_BENCH_DIM` (default 128) floats,
//!    checkpointed; times `Database::open` + first `collection()` (which
//!    recovers) with the graph checkpoint present, with the checkpoint plus
//!    a tail of later writes in the op log (a crash image), and with
//!    `hnsw.graph` removed (parallel rebuild; skipped with
//!    `QUIVER_BENCH_REBUILD=0`). Also times a checkpoint after 500
//!    rewritten points and prints the sizes of `hnsw.graph` and
//!    `vectors.dat`.
//!
//! 3. `upserts`: durable (`Fsync`) single-point upserts from 1, 2, 8 and 32
//!    threads at once into one collection of 128-d vectors, 3 runs each:
//!    acknowledged upserts per second (median), and how many log frames
//!    (commits, one fsync each) they took, which shows the group commit.
//!
//! 4. `unindexed`: `QUIVER_BENCH_POINTS` (default 20 000) random 64-d
//!    cosine points whose payload has an *unindexed* integer field `tag`
//!    (half of the points have `tag = 1`) and a few other keys: graph
//!    searches filtered on `tag = 1` (single thread, queries/s), then
//!    `FlushOnly` upserts of 100-point batches with payloads that replace
//!    existing points (points/s). Medians of 3 runs.
//!
//! `QUIVER_BENCH_ONLY=filtered|reopen|upserts|unindexed` runs one part.
//!
//! Run: `QUIVER_BENCH_DATA=/work/shared/datasets/wordnet-minilm-dev cargo bench -p quiver-core --bench collection`

use std::path::Path;
use std::time::{Duration, Instant};

use quiver_core::filter::{FieldType, Filter};
use quiver_core::index::hnsw::Hnsw;
use quiver_core::storage::DurabilityMode;
use quiver_core::{CollectionConfig, Database, HnswConfig, Metric, Point, PointId, SearchRequest};
use quiver_testkit::crash_image;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[path = "support/fvecs.rs"]
mod fvecs;
use fvecs::read_fvecs;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// (name, base, queries), unit length.
fn filtered_data() -> (String, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let (name, mut base, mut queries) = match std::env::var("QUIVER_BENCH_DATA") {
        Ok(dir) => {
            let dir = Path::new(&dir);
            let base = read_fvecs(&dir.join("base.fvecs")).expect("base.fvecs");
            let queries = read_fvecs(&dir.join("query.fvecs")).expect("query.fvecs");
            let name = dir
                .file_name()
                .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
            (name, base, queries)
        }
        Err(_) => {
            let mut rng = SmallRng::seed_from_u64(3);
            let mut gen_set = |n: usize| -> Vec<Vec<f32>> {
                (0..n)
                    .map(|_| (0..384).map(|_| rng.random_range(-1.0f32..1.0)).collect())
                    .collect()
            };
            let base = gen_set(10_000);
            let queries = gen_set(200);
            ("random-10k-384".into(), base, queries)
        }
    };
    for v in base.iter_mut().chain(queries.iter_mut()) {
        Metric::Cosine.preprocess(v);
    }
    (name, base, queries)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Exact filtered top-`k` ids by cosine similarity.
fn filtered_truth(base: &[Vec<f32>], allowed: &[bool], q: &[f32], k: usize) -> Vec<u64> {
    let mut all: Vec<(f32, u64)> = base
        .iter()
        .enumerate()
        .filter(|(i, _)| allowed[*i])
        .map(|(i, v)| (dot(q, v), i as u64))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    all.truncate(k);
    all.into_iter().map(|(_, i)| i).collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn filtered() {
    const K: usize = 10;
    let (name, base, queries) = filtered_data();
    let n = base.len();
    let dim = base[0].len();
    let efs: Vec<usize> = std::env::var("QUIVER_BENCH_EF")
        .unwrap_or_else(|_| "16,32,64,128".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let selectivities = [
        ("p100", 1.0),
        ("p50", 0.5),
        ("p10", 0.1),
        ("p1", 0.01),
        ("p01", 0.001),
    ];
    // allowed[field][point]: each field's `true` points are a random subset
    // of the exact size, independent of the vectors and of other fields.
    let mut rng = SmallRng::seed_from_u64(11);
    let allowed: Vec<Vec<bool>> = selectivities
        .iter()
        .map(|&(_, s)| {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            let take = (n as f64 * s).round() as usize;
            let mut a = vec![false; n];
            for &i in &order[..take] {
                a[i] = true;
            }
            a
        })
        .collect();

    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Database::open(tmp.path()).expect("open");
    let mut config = CollectionConfig::new(dim, Metric::Cosine);
    config.durability = DurabilityMode::FlushOnly;
    let c = db.create_collection("filtered", config).expect("create");
    for (field, _) in &selectivities {
        c.create_field_index(field, FieldType::Bool).expect("index");
    }
    let start = Instant::now();
    let points: Vec<Point> = base
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut payload = serde_json::Map::new();
            for (f, (field, _)) in selectivities.iter().enumerate() {
                payload.insert((*field).into(), allowed[f][i].into());
            }
            Point::new(i as u64, v.clone()).with_payload(payload)
        })
        .collect();
    for chunk in points.chunks(1000) {
        c.upsert(chunk.to_vec()).expect("upsert");
    }
    c.flush().expect("flush");
    println!(
        "collection/filtered/{name}: {n} x {dim} cosine, {} queries, k={K}; ingest {:.1} s",
        queries.len(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "| selectivity | matching | ef | strategy | recall@10 | min(k,matching) always | qps (1 thread) | p50 us | p99 us | forced scan qps |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let truths: Vec<Vec<Vec<u64>>> = allowed
        .iter()
        .map(|a| {
            queries
                .iter()
                .map(|q| filtered_truth(&base, a, q, K))
                .collect()
        })
        .collect();
    unfiltered_rows(&c, &queries, &truths[0], &efs);
    for (f, (field, s)) in selectivities.iter().enumerate() {
        let matching = allowed[f].iter().filter(|&&a| a).count();
        let filter: Filter = serde_json::from_value(
            serde_json::json!({"must": [{"key": field, "match": {"value": true}}]}),
        )
        .expect("filter");
        let truth = &truths[f];
        let scan_qps = {
            let t = Instant::now();
            for q in &queries {
                let mut r = SearchRequest::new(q.clone(), K);
                r.filter = Some(filter.clone());
                r.exact = true;
                std::hint::black_box(c.search(&r).expect("search"));
            }
            queries.len() as f64 / t.elapsed().as_secs_f64()
        };
        for &ef in &efs {
            let requests: Vec<SearchRequest> = queries
                .iter()
                .map(|q| {
                    let mut r = SearchRequest::new(q.clone(), K);
                    r.filter = Some(filter.clone());
                    r.ef = Some(ef);
                    r
                })
                .collect();
            let strategy = c.search_strategy(&requests[0]).expect("strategy");
            let mut hits = 0usize;
            let mut full = true;
            for (r, t) in requests.iter().zip(truth) {
                let got = c.search(r).expect("search");
                full &= got.len() == K.min(matching);
                hits += got
                    .iter()
                    .filter(|h| match h.id {
                        PointId::Num(i) => t.contains(&i),
                        PointId::Uuid(_) => false,
                    })
                    .count();
            }
            let recall = hits as f64 / (queries.len() * K.min(matching)) as f64;
            let (qps, lat_us) = timed(
                |i| {
                    std::hint::black_box(c.search(&requests[i]).expect("search"));
                },
                requests.len(),
            );
            println!(
                "| {:.1} % | {matching} | {ef} | {strategy:?} | {recall:.4} | {} | {qps:.0} | {:.0} | {:.0} | {scan_qps:.0} |",
                s * 100.0,
                if full { "yes" } else { "NO" },
                percentile(&lat_us, 50.0),
                percentile(&lat_us, 99.0)
            );
        }
    }
    drop(c);
    drop(db);
    forced_graph(&base, &queries, &allowed, &truths, &efs);
}

/// Search of one request: latencies of up to 5 passes (at least 2, stop
/// after 0.7 s), as (qps from the summed latencies, sorted latencies in us).
fn timed(mut search: impl FnMut(usize), count: usize) -> (f64, Vec<f64>) {
    let mut lat_us = Vec::new();
    let t0 = Instant::now();
    for pass in 0..5 {
        for i in 0..count {
            let t = Instant::now();
            search(i);
            lat_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        if pass > 0 && t0.elapsed() > Duration::from_millis(700) {
            break;
        }
    }
    let qps = lat_us.len() as f64 / (lat_us.iter().sum::<f64>() / 1e6);
    lat_us.sort_by(f64::total_cmp);
    (qps, lat_us)
}

/// Baseline rows: the same collection searched without a filter.
fn unfiltered_rows(
    c: &quiver_core::Collection,
    queries: &[Vec<f32>],
    truth: &[Vec<u64>],
    efs: &[usize],
) {
    for &ef in efs {
        let requests: Vec<SearchRequest> = queries
            .iter()
            .map(|q| {
                let mut r = SearchRequest::new(q.clone(), truth[0].len());
                r.ef = Some(ef);
                r
            })
            .collect();
        let strategy = c.search_strategy(&requests[0]).expect("strategy");
        let hits: usize = requests
            .iter()
            .zip(truth)
            .map(|(r, t)| {
                let got = c.search(r).expect("search");
                got.iter()
                    .filter(|h| matches!(h.id, PointId::Num(i) if t.contains(&i)))
                    .count()
            })
            .sum();
        let recall = hits as f64 / (requests.len() * truth[0].len()) as f64;
        let (qps, lat) = timed(
            |i| {
                std::hint::black_box(c.search(&requests[i]).expect("search"));
            },
            requests.len(),
        );
        println!(
            "| no filter | all | {ef} | {strategy:?} | {recall:.4} | yes | {qps:.0} | {:.0} | {:.0} | |",
            percentile(&lat, 50.0),
            percentile(&lat, 99.0)
        );
    }
}

/// The filtered graph traversal forced at every selectivity, on a bare
/// `Hnsw` built from the same vectors: what the scan threshold trades.
fn forced_graph(
    base: &[Vec<f32>],
    queries: &[Vec<f32>],
    allowed: &[Vec<bool>],
    truths: &[Vec<Vec<u64>>],
    efs: &[usize],
) {
    let items: Vec<(u32, &[f32])> = base
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32, v.as_slice()))
        .collect();
    let graph = Hnsw::build(base[0].len(), Metric::Cosine, HnswConfig::default(), &items);
    println!("bare index, filter-aware traversal forced at every selectivity:");
    println!("| selectivity | ef | recall@10 | min(k,matching) always | qps (1 thread) | p50 us |");
    println!("|---|---|---|---|---|---|");
    for (a, truth) in allowed.iter().zip(truths) {
        let matching = a.iter().filter(|&&x| x).count();
        let allow = |id: u32| a[id as usize];
        for &ef in efs {
            let mut hits = 0;
            let mut full = true;
            for (q, t) in queries.iter().zip(truth) {
                let got = graph.search(q, 10, ef, Some(&allow));
                full &= got.len() == 10.min(matching);
                hits += got.iter().filter(|n| t.contains(&u64::from(n.id))).count();
            }
            let recall = hits as f64 / (queries.len() * 10.min(matching)) as f64;
            let (qps, lat) = timed(
                |i| {
                    std::hint::black_box(graph.search(&queries[i], 10, ef, Some(&allow)));
                },
                queries.len(),
            );
            println!(
                "| {:.1} % | {ef} | {recall:.4} | {} | {qps:.0} | {:.0} |",
                matching as f64 * 100.0 / a.len() as f64,
                if full { "yes" } else { "NO" },
                percentile(&lat, 50.0)
            );
        }
    }
}

fn reopen(dir: &Path, query: &[f32]) -> Duration {
    let start = Instant::now();
    let db = Database::open(dir).expect("open");
    let c = db.collection("bench").expect("collection");
    let took = start.elapsed();
    let hits = c
        .search(&SearchRequest::new(query.to_vec(), 10))
        .expect("search");
    assert_eq!(hits.len(), 10);
    took
}

fn random_points(rng: &mut SmallRng, ids: std::ops::Range<u64>, dim: usize) -> Vec<Point> {
    ids.map(|id| {
        let v = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let payload = serde_json::json!({"bucket": id % 1000});
        Point::new(id, v).with_payload(payload.as_object().expect("object").clone())
    })
    .collect()
}

fn reopen_vs_rebuild() {
    let points = env_or("QUIVER_BENCH_POINTS", 100_000) as u64;
    let dim = env_or("QUIVER_BENCH_DIM", 128);
    let tail = 2000u64.min(points);
    let tmp = tempfile::tempdir().expect("tempdir");
    let live = tmp.path().join("live");
    let mut rng = SmallRng::seed_from_u64(1);
    let query: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();

    let start = Instant::now();
    {
        let db = Database::open(&live).expect("open");
        let mut config = CollectionConfig::new(dim, Metric::Cosine);
        config.durability = DurabilityMode::FlushOnly;
        let c = db.create_collection("bench", config).expect("create");
        c.create_field_index("bucket", FieldType::Integer)
            .expect("index");
        let mut next = 0u64;
        while next < points {
            let end = (next + 1000).min(points);
            c.upsert(random_points(&mut rng, next..end, dim))
                .expect("upsert");
            next = end;
        }
        c.flush().expect("flush");
        println!(
            "collection/build/{points}x{dim}: {:.1} s (upserts of 1000 + checkpoint)",
            start.elapsed().as_secs_f64()
        );
        // Later writes, only in the op log: rewrites of `tail` points.
        for lo in (0..tail).step_by(500) {
            c.upsert(random_points(&mut rng, lo..(lo + 500).min(tail), dim))
                .expect("upsert");
        }
        crash_image(&live, &tmp.path().join("tail"));
        // A checkpoint (as `flush` or the automatic one runs it, under the
        // writer lock) after 500 rewritten points, 3 times.
        let mut checkpoints = Vec::new();
        for round in 0..3u64 {
            let lo = round * 500 % points;
            c.upsert(random_points(&mut rng, lo..(lo + 500).min(points), dim))
                .expect("upsert");
            let start = Instant::now();
            c.flush().expect("flush");
            checkpoints.push(start.elapsed());
        }
        let dir = live.join("collections/bench");
        let mib =
            |f: &str| std::fs::metadata(dir.join(f)).map_or(0.0, |m| m.len() as f64 / 1048576.0);
        println!(
            "collection/checkpoint/{points}x{dim}: median {:.1} ms over {} runs (hnsw.graph {:.1} MiB, vectors.dat {:.1} MiB)",
            median(checkpoints.clone()).as_secs_f64() * 1e3,
            checkpoints.len(),
            mib("hnsw.graph"),
            mib("vectors.dat")
        );
    }

    let loads: Vec<Duration> = (0..5).map(|_| reopen(&live, &query)).collect();
    let load = median(loads.clone());
    println!(
        "collection/reopen_checkpoint/{points}x{dim}: median {:.1} ms over {} runs",
        load.as_secs_f64() * 1e3,
        loads.len()
    );
    let mut tails = Vec::new();
    for i in 0..3 {
        let image = tmp.path().join(format!("tail{i}"));
        crash_image(&tmp.path().join("tail"), &image);
        tails.push(reopen(&image, &query));
        std::fs::remove_dir_all(&image).expect("rm");
    }
    println!(
        "collection/reopen_checkpoint_plus_{tail}_logged_upserts/{points}x{dim}: median {:.1} ms over {} runs (replay + new checkpoint)",
        median(tails.clone()).as_secs_f64() * 1e3,
        tails.len()
    );

    if std::env::var("QUIVER_BENCH_REBUILD").is_ok_and(|v| v == "0") {
        return;
    }
    let graph = live.join("collections/bench/hnsw.graph");
    let mut rebuilds = Vec::new();
    for _ in 0..2 {
        std::fs::remove_file(&graph).expect("remove graph");
        rebuilds.push(reopen(&live, &query));
    }
    let rebuild = median(rebuilds.clone());
    println!(
        "collection/reopen_rebuild/{points}x{dim}: median {:.1} ms over {} runs ({:.0}x the checkpoint load)",
        rebuild.as_secs_f64() * 1e3,
        rebuilds.len(),
        rebuild.as_secs_f64() / load.as_secs_f64()
    );
}

fn concurrent_upserts() {
    const DIM: usize = 128;
    let per_run = 2000usize;
    println!("collection/upserts: {per_run} single-point durable upserts per run, {DIM}-d");
    println!("| threads | upserts/s (median of 3) | commits per run (median) |");
    println!("|---|---|---|");
    for threads in [1usize, 2, 8, 32] {
        let mut rates = Vec::new();
        let mut commits = Vec::new();
        for run in 0..3u64 {
            let tmp = tempfile::tempdir().expect("tempdir");
            let db = Database::open(tmp.path()).expect("open");
            let c = db
                .create_collection("c", CollectionConfig::new(DIM, Metric::Cosine))
                .expect("create");
            let before = c.info().expect("info").last_operation_id;
            let next = std::sync::atomic::AtomicUsize::new(0);
            let t0 = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let (c, next) = (&c, &next);
                    scope.spawn(move || {
                        let mut rng = SmallRng::seed_from_u64(run * 1000 + t as u64);
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= per_run {
                                break;
                            }
                            let v: Vec<f32> =
                                (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
                            c.upsert(vec![Point::new(i as u64, v)]).expect("upsert");
                        }
                    });
                }
            });
            rates.push(per_run as f64 / t0.elapsed().as_secs_f64());
            commits.push(c.info().expect("info").last_operation_id - before);
        }
        rates.sort_by(f64::total_cmp);
        commits.sort_unstable();
        println!("| {threads} | {:.0} | {} |", rates[1], commits[1]);
    }
}

fn unindexed_payload(rng: &mut SmallRng, i: u64) -> serde_json::Map<String, serde_json::Value> {
    let mut payload = serde_json::Map::new();
    payload.insert("tag".into(), (i % 2).into());
    payload.insert("name".into(), format!("point-{i}").into());
    payload.insert("score".into(), rng.random_range(0.0..1.0).into());
    payload.insert("labels".into(), serde_json::json!(["a", "b", i % 7]));
    payload
}

fn unindexed() {
    const DIM: usize = 64;
    const K: usize = 10;
    let n = env_or("QUIVER_BENCH_POINTS", 20_000) as u64;
    let mut rng = SmallRng::seed_from_u64(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Database::open(tmp.path()).expect("open");
    let mut config = CollectionConfig::new(DIM, Metric::Cosine);
    config.durability = DurabilityMode::FlushOnly;
    let c = db.create_collection("u", config).expect("create");
    let mut points = random_points(&mut rng, 0..n, DIM);
    for p in &mut points {
        let PointId::Num(i) = p.id else { continue };
        p.payload = Some(unindexed_payload(&mut rng, i));
    }
    for chunk in points.chunks(1000) {
        c.upsert(chunk.to_vec()).expect("upsert");
    }
    c.flush().expect("flush");
    let filter: Filter = serde_json::from_value(
        serde_json::json!({"must": [{"key": "tag", "match": {"value": 1}}]}),
    )
    .expect("filter");
    let requests: Vec<SearchRequest> = (0..200)
        .map(|_| {
            let q: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut r = SearchRequest::new(q, K);
            r.filter = Some(filter.clone());
            r.ef = Some(64);
            r
        })
        .collect();
    let strategy = c.search_strategy(&requests[0]).expect("strategy");
    println!(
        "collection/unindexed: {n} x {DIM} cosine, filter on an unindexed field matching 50 %, k={K}, ef=64, strategy {strategy:?}"
    );
    let mut qps = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        for r in &requests {
            std::hint::black_box(c.search(r).expect("search"));
        }
        qps.push(requests.len() as f64 / t.elapsed().as_secs_f64());
    }
    qps.sort_by(f64::total_cmp);
    let mut rates = Vec::new();
    for run in 0..3u64 {
        let batches: Vec<Vec<Point>> = (0..20u64)
            .map(|b| {
                let start = (run * 20 + b) * 100 % n;
                let mut batch = random_points(&mut rng, start..start + 100, DIM);
                for p in &mut batch {
                    let PointId::Num(i) = p.id else { continue };
                    p.payload = Some(unindexed_payload(&mut rng, i));
                }
                batch
            })
            .collect();
        let t = Instant::now();
        for batch in batches {
            c.upsert(batch).expect("upsert");
        }
        rates.push(2000.0 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!("| filtered qps (median of 3) | replacing upserts points/s (median of 3) |");
    println!("|---|---|");
    println!("| {:.0} | {:.0} |", qps[1], rates[1]);
}

fn main() {
    // `cargo bench` passes `--bench`; arguments select nothing here.
    let only = std::env::var("QUIVER_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "filtered" {
        filtered();
    }
    if only.is_empty() || only == "reopen" {
        reopen_vs_rebuild();
    }
    if only.is_empty() || only == "upserts" {
        concurrent_upserts();
    }
    if only.is_empty() || only == "unindexed" {
        unindexed();
    }
}
