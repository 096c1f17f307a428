//! A long mixed load against a real `quiver serve`, checked against a
//! model of every acknowledged write.
//!
//! Each connection is one thread with its own HTTP client, and owns the
//! ids `id % connections == k`: its writes (`?wait=true`) decide exactly
//! what those ids hold, so its reads of them must agree with its model at
//! every moment, and the whole collection must agree with the union of the
//! models at the end. Besides writes (upserts with payloads, deletes,
//! payload merges, overwrites and clears) the connections search (plain and
//! filtered, legacy `search` and `query`), scroll, count and retrieve.
//!
//! Checkpoints happen inside the server as the op log fills
//! (`QUIVER_CHECKPOINT_LOG_BYTES`); the HTTP API has no route that flushes or
//! compacts. So at the end the server is stopped with SIGTERM (which
//! flushes every collection), `quiver compact` and `quiver check` run on
//! its directory, and a restarted server must still hold every
//! acknowledged write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::http::{Api, CallError, QuiverServer, log_tail};
use crate::points::{Points, Verdict, Written, apply, choose_write, describe, judge};
use crate::workload::{DIMENSION, Op, vector};

/// The collection the soak works on.
const COLLECTION: &str = "soak";

/// What a soak does.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// The `quiver` binary.
    pub quiver: PathBuf,
    /// A directory for the database and the server's log.
    pub work: PathBuf,
    /// How long the load runs.
    pub duration: Duration,
    /// Concurrent connections (one thread each).
    pub connections: usize,
    /// Ids each connection owns.
    pub ids_per_connection: u64,
    /// Time between samples of the server's memory and descriptors.
    pub sample_every: Duration,
    /// `QUIVER_CHECKPOINT_LOG_BYTES` for the server.
    pub checkpoint_bytes: u64,
    /// Seed of the random choices.
    pub seed: u64,
    /// Print each sample to stderr as it is taken.
    pub print_samples: bool,
}

/// Latencies of one operation kind, in microseconds.
#[derive(Clone, Debug, Default)]
pub struct OpStats {
    /// Every call's latency (failed calls included).
    pub micros: Vec<u32>,
    /// Calls that failed.
    pub errors: usize,
}

impl OpStats {
    /// The `q` quantile (0..=1) of the latencies, in microseconds.
    pub fn quantile(&self, q: f64) -> u32 {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        match sorted.len() {
            0 => 0,
            n => sorted[((n - 1) as f64 * q).round() as usize],
        }
    }
}

/// One sample of the server process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Seconds since the load began.
    pub secs: f64,
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Of which anonymous memory, the heap mostly (`RssAnon`), KiB.
    pub anon_kib: u64,
    /// Of which resident pages of mapped files of the data directory
    /// (`vectors.dat` mostly), summed from `/proc/<pid>/smaps`, KiB.
    pub data_mapped_kib: u64,
    /// Disk space the data directory takes (allocated blocks), KiB.
    pub disk_kib: u64,
    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fds: usize,
    /// Operations completed so far.
    pub ops: u64,
}

impl Sample {
    /// Each figure's name and unit, in the order of [`Sample::figures`].
    const FIGURES: [(&'static str, &'static str); 7] = [
        ("t", "s"),
        ("rss", "MiB"),
        ("anon", "MiB"),
        ("mapped", "MiB"),
        ("disk", "MiB"),
        ("fds", ""),
        ("ops", ""),
    ];

    /// The figures as printed: seconds; RSS, anonymous, mapped data files
    /// and disk MiB; descriptors; operations.
    fn figures(&self) -> [String; 7] {
        let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
        [
            format!("{:.0}", self.secs),
            mib(self.rss_kib),
            mib(self.anon_kib),
            mib(self.data_mapped_kib),
            mib(self.disk_kib),
            self.fds.to_string(),
            self.ops.to_string(),
        ]
    }

    /// Samples process `pid` serving the data directory `data`; `None`
    /// once the process is gone.
    fn take(pid: u32, data: &Path, secs: f64, ops: u64) -> Option<Sample> {
        let (rss_kib, anon_kib, fds) = sample_process(pid)?;
        Some(Sample {
            secs,
            rss_kib,
            anon_kib,
            data_mapped_kib: mapped_kib_under(pid, data).unwrap_or(0),
            disk_kib: allocated_kib(data),
            fds,
            ops,
        })
    }

    /// One line for the live log: `t=12s rss=10.5MiB ...`.
    fn log_line(&self) -> String {
        let parts: Vec<String> = Self::FIGURES
            .iter()
            .zip(self.figures())
            .map(|((name, unit), value)| format!("{name}={value}{unit}"))
            .collect();
        parts.join(" ")
    }
}

/// How the heap moved over part of a soak.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeapTrend {
    /// Where the part began, seconds since the load began.
    pub from_secs: f64,
    /// Least anonymous memory sampled, MiB.
    pub min_mib: f64,
    /// Most anonymous memory sampled, MiB.
    pub max_mib: f64,
    /// The fitted rate of change, MiB per 10 minutes.
    pub mib_per_10_min: f64,
}

impl HeapTrend {
    /// `heap from 900 s: 40.1 to 42.0 MiB (spread 1.9 MiB), trend +0.3 MiB per 10 min`.
    pub fn line(&self) -> String {
        format!(
            "heap from {:.0} s: {:.1} to {:.1} MiB (spread {:.1} MiB), trend {:+.1} MiB per 10 min",
            self.from_secs,
            self.min_mib,
            self.max_mib,
            self.max_mib - self.min_mib,
            self.mib_per_10_min
        )
    }
}

/// What a soak measured.
#[derive(Debug, Default)]
pub struct SoakReport {
    /// Per operation kind.
    pub ops: BTreeMap<&'static str, OpStats>,
    /// The server over time.
    pub samples: Vec<Sample>,
    /// Seconds the load ran.
    pub secs: f64,
    /// Acknowledged writes missing or wrong (live reads and final checks).
    pub lost: usize,
    /// Points matching no write.
    pub torn: usize,
    /// Descriptions of the first errors and problems.
    pub problems: Vec<String>,
    /// What `quiver compact` printed.
    pub compact: String,
    /// `VmRSS` and `RssAnon` (KiB) of the server restarted after the
    /// compaction, once it has read every point back.
    pub restarted_rss_kib: Option<(u64, u64)>,
}

impl SoakReport {
    /// Every operation.
    pub fn operations(&self) -> usize {
        self.ops.values().map(|s| s.micros.len()).sum()
    }

    /// Every failed operation.
    pub fn errors(&self) -> usize {
        self.ops.values().map(|s| s.errors).sum()
    }

    /// Lost and torn writes together (a torn point lost its write too).
    pub fn lost_writes(&self) -> usize {
        self.lost + self.torn
    }

    /// `soak: O operations, E errors, L lost writes, RSS start S MiB end T MiB`.
    pub fn summary(&self) -> String {
        let mib = |s: Option<&Sample>| s.map_or(0.0, |s| s.rss_kib as f64 / 1024.0);
        format!(
            "soak: {} operations, {} errors, {} lost writes, RSS start {:.1} MiB end {:.1} MiB",
            self.operations(),
            self.errors(),
            self.lost_writes(),
            mib(self.samples.first()),
            mib(self.samples.last())
        )
    }

    /// The per-operation table and the samples, as markdown.
    pub fn tables(&self, max_samples: usize) -> String {
        let ms = |us: u32| f64::from(us) / 1000.0;
        let mut out = String::from(
            "| operation | count | per s | p50 ms | p99 ms | max ms | errors |\n|---|---:|---:|---:|---:|---:|---:|\n",
        );
        for (name, s) in &self.ops {
            out += &format!(
                "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |\n",
                s.micros.len(),
                s.micros.len() as f64 / self.secs.max(1e-9),
                ms(s.quantile(0.5)),
                ms(s.quantile(0.99)),
                ms(s.quantile(1.0)),
                s.errors
            );
        }
        out += &format!(
            "| all | {} | {:.0} | | | | {} |\n\n| t s | RSS MiB | of which anonymous MiB | of which mapped data files MiB | data on disk MiB | open fds | operations |\n|---:|---:|---:|---:|---:|---:|---:|\n",
            self.operations(),
            self.operations() as f64 / self.secs.max(1e-9),
            self.errors()
        );
        let step = self.samples.len().div_ceil(max_samples.max(1)).max(1);
        let last = self.samples.len().saturating_sub(1);
        for (i, s) in self.samples.iter().enumerate() {
            if i % step == 0 || i == last {
                out += &format!("| {} |\n", s.figures().join(" | "));
            }
        }
        out
    }

    /// Heap (anonymous) memory over the second half of the run, where a
    /// working set that has filled should hold still: `None` with fewer
    /// than two samples there.
    pub fn second_half_heap(&self) -> Option<HeapTrend> {
        let end = self.samples.last()?.secs;
        let half: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.secs >= end / 2.0)
            .map(|s| (s.secs, s.anon_kib as f64 / 1024.0))
            .collect();
        if half.len() < 2 {
            return None;
        }
        let min = half.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max = half.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        // Least-squares slope, so one outlier sample does not decide it.
        let n = half.len() as f64;
        let mean_t = half.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_m = half.iter().map(|p| p.1).sum::<f64>() / n;
        let var_t: f64 = half.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
        let cov: f64 = half.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_m)).sum();
        let slope = if var_t > 0.0 { cov / var_t } else { 0.0 };
        Some(HeapTrend {
            from_secs: half[0].0,
            min_mib: min,
            max_mib: max,
            mib_per_10_min: slope * 600.0,
        })
    }

    fn problem(&mut self, what: String) {
        if self.problems.len() < 30 {
            self.problems.push(what);
        }
    }
}

/// `VmRSS` and `RssAnon` (KiB) and the number of open descriptors of
/// process `pid`.
fn sample_process(pid: u32) -> Option<(u64, u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((field("VmRSS:")?, field("RssAnon:")?, fds))
}

/// Resident KiB of the mappings of process `pid` whose file is under
/// `dir` (`/proc/<pid>/smaps`: a mapping's header line ends with its path,
/// its `Rss:` line follows).
fn mapped_kib_under(pid: u32, dir: &Path) -> Option<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let dir = std::fs::canonicalize(dir).ok()?;
    let mut inside = false;
    let mut total = 0;
    for line in smaps.lines() {
        if let Some(kib) = line.strip_prefix("Rss:") {
            if inside {
                total += kib
                    .split_ascii_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        } else if line
            .split_ascii_whitespace()
            .next()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            // A mapping's header: `start-end perms offset dev inode [path]`.
            inside = line
                .split_ascii_whitespace()
                .nth(5)
                .is_some_and(|path| Path::new(path).starts_with(&dir));
        }
    }
    Some(total)
}

/// KiB of disk the files under `dir` take (allocated 512-byte blocks, so
/// holes punched into a file do not count).
fn allocated_kib(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_kib(&e.path()),
            Ok(m) => m.blocks() / 2,
            Err(_) => 0,
        })
        .sum()
}

/// What one connection did.
#[derive(Default)]
struct Connection {
    ops: BTreeMap<&'static str, OpStats>,
    acked: Points,
    /// Ids whose last write got no answer: their state is unknown.
    uncertain: Vec<u64>,
    lost: usize,
    problems: Vec<String>,
}

impl Connection {
    fn record<T>(&mut self, name: &'static str, began: Instant, result: &Result<T, CallError>) {
        let stats = self.ops.entry(name).or_default();
        stats
            .micros
            .push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        if let Err(e) = result {
            stats.errors += 1;
            if self.problems.len() < 10 {
                self.problems.push(format!("{name}: {e}"));
            }
        }
    }
}

fn write_name(op: &Op) -> &'static str {
    match op {
        Op::Store(_) => "upsert",
        Op::Delete(_) => "delete",
        Op::SetTag(..) => "set_payload",
        Op::StorePayload(..) => "overwrite_payload",
        Op::DeletePayload(_) => "clear_payload",
        _ => "other",
    }
}

/// A filter on the `id` payload field (indexed) over a random tenth of the
/// id space.
fn id_filter(rng: &mut SmallRng, space: u64) -> Value {
    let from = rng.random_range(0..space);
    json!({"must": [{"key": "id", "range": {"gte": from, "lt": from + space / 10}}]})
}

struct Shared<'a> {
    api: Api,
    ids: Vec<u64>,
    space: u64,
    versions: &'a AtomicU64,
    written: &'a Mutex<Written>,
    done_ops: &'a AtomicU64,
    deadline: Instant,
    seed: u64,
}

fn connection(s: Shared<'_>) -> Connection {
    let mut rng = SmallRng::seed_from_u64(s.seed);
    let mut c = Connection::default();
    while Instant::now() < s.deadline {
        let roll = rng.random_range(0..100);
        let began = Instant::now();
        if roll < 35 {
            let op = choose_write(&mut rng, &c.acked, &s.ids, || {
                s.versions.fetch_add(1, Ordering::Relaxed)
            });
            if let Ok(mut w) = s.written.lock() {
                w.note(&op);
            }
            let result = s.api.send(&op);
            c.record(write_name(&op), began, &result);
            match result {
                Ok(()) => {
                    apply(&mut c.acked, &op);
                }
                Err(CallError::Transport(_)) => c.uncertain.extend(touched(&op)),
                Err(CallError::Answer(_)) => {}
            }
        } else if roll < 85 {
            let (name, path, body) = read_request(&mut rng, roll, s.space);
            let result = s.api.call(reqwest::Method::POST, path, Some(&body));
            let result = result.and_then(|r| check_read_shape(name, &r));
            c.record(name, began, &result);
        } else {
            // Read back some own points: they must be as acknowledged.
            let mut ids: Vec<u64> = (0..8)
                .map(|_| s.ids[rng.random_range(0..s.ids.len())])
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let result = s.api.retrieve(&ids);
            c.record("retrieve", began, &result);
            if let Ok(seen) = result {
                for id in ids.iter().filter(|id| !c.uncertain.contains(id)) {
                    if seen.get(id) != c.acked.get(id) {
                        c.lost += 1;
                        if c.problems.len() < 10 {
                            c.problems.push(format!(
                                "retrieve {id}: acknowledged {}, read {}",
                                describe(c.acked.get(id)),
                                describe(seen.get(id))
                            ));
                        }
                    }
                }
            }
        }
        s.done_ops.fetch_add(1, Ordering::Relaxed);
    }
    c
}

fn touched(op: &Op) -> Vec<u64> {
    match op {
        Op::Store(items) => items.iter().map(|(id, _)| *id).collect(),
        Op::Delete(ids) | Op::SetTag(_, ids) => ids.clone(),
        Op::StorePayload(id, _) | Op::DeletePayload(id) => vec![*id],
        _ => Vec::new(),
    }
}

/// A read: its name, path and body.
fn read_request(rng: &mut SmallRng, roll: u32, space: u64) -> (&'static str, &'static str, Value) {
    let query = vector(rng.random_range(0..space), rng.random());
    match roll {
        35..=49 => (
            "search",
            "/points/search",
            json!({"vector": query, "limit": 10, "with_payload": true}),
        ),
        50..=59 => (
            "search_filtered",
            "/points/search",
            json!({"vector": query, "limit": 10, "filter": id_filter(rng, space)}),
        ),
        60..=67 => {
            let filter = rng.random_bool(0.5).then(|| id_filter(rng, space));
            (
                "query",
                "/points/query",
                json!({"query": query, "limit": 10, "filter": filter, "with_payload": true}),
            )
        }
        68..=77 => {
            let filter = rng.random_bool(0.3).then(|| id_filter(rng, space));
            (
                "scroll",
                "/points/scroll",
                json!({"offset": rng.random_range(0..space), "limit": 20, "filter": filter, "with_payload": true}),
            )
        }
        _ => {
            let filter = rng.random_bool(0.5).then(|| id_filter(rng, space));
            ("count", "/points/count", json!({"filter": filter}))
        }
    }
}

/// A read answer of the wrong shape is an error.
fn check_read_shape(name: &str, result: &Value) -> Result<(), CallError> {
    let ok = match name {
        "search" | "search_filtered" => result.is_array(),
        "query" | "scroll" => result.get("points").is_some_and(Value::is_array),
        _ => result.get("count").is_some_and(Value::is_u64),
    };
    if ok {
        Ok(())
    } else {
        Err(CallError::Answer(format!(
            "{name}: unexpected answer {result}"
        )))
    }
}

/// What the collection must hold at the end of the load.
struct Expected<'a> {
    model: &'a Points,
    /// Ids whose last write got no answer: left out of the comparison.
    uncertain: &'a [u64],
    space: u64,
    written: &'a Written,
}

/// Compare the whole collection with the model (leaving out the ids whose
/// last write got no answer), adding what differs to `report`.
fn check_all(
    api: &Api,
    expected: &Expected<'_>,
    report: &mut SoakReport,
    when: &str,
) -> Result<()> {
    let Expected {
        model,
        uncertain,
        space,
        written,
    } = *expected;
    let mut verdict = Verdict::default();
    let ids: Vec<u64> = (0..space).filter(|id| !uncertain.contains(id)).collect();
    for chunk in ids.chunks(500) {
        let seen = api
            .retrieve(chunk)
            .map_err(|e| anyhow!("{when}: reading back: {e}"))?;
        for &id in chunk {
            judge(&[id], model, model, &seen, written, &mut verdict);
        }
    }
    if uncertain.is_empty() {
        let count = api
            .call(reqwest::Method::POST, "/points/count", Some(&json!({})))
            .map_err(|e| anyhow!("{when}: counting: {e}"))?;
        let count = count.get("count").and_then(Value::as_u64);
        if count != Some(model.len() as u64) {
            verdict.lost += 1;
            verdict.problem(format!(
                "count {count:?}, {} points acknowledged",
                model.len()
            ));
        }
    }
    report.lost += verdict.lost;
    report.torn += verdict.torn;
    for p in verdict.problems {
        report.problem(format!("{when}: {p}"));
    }
    Ok(())
}

fn start(config: &SoakConfig, data: &Path, log: &Path) -> Result<QuiverServer> {
    let bytes = config.checkpoint_bytes.to_string();
    QuiverServer::start(
        &config.quiver,
        data,
        log,
        &[("QUIVER_CHECKPOINT_LOG_BYTES", bytes.as_str())],
    )
}

fn run_cli(config: &SoakConfig, args: &[&str], data: &Path) -> Result<String> {
    let out = Command::new(&config.quiver)
        .args(args)
        .arg("--data")
        .arg(data)
        .env("QUIVER_LOG", "warn")
        .output()
        .with_context(|| format!("running quiver {args:?}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("quiver {args:?} failed ({}): {text}", out.status);
    }
    Ok(text.trim().to_owned())
}

/// Run the soak.
///
/// # Errors
/// The server cannot start or set up the collection, or the final reads
/// fail; errors of the load itself are in the report.
pub fn run(config: &SoakConfig) -> Result<SoakReport> {
    let data = config.work.join("db");
    let log = config.work.join("serve.log");
    let connections = config.connections.max(1);
    let space = connections as u64 * config.ids_per_connection.max(1);
    let server = start(config, &data, &log)?;
    let api = Api::new(server.url(), COLLECTION)?;
    api.create(DIMENSION, "Dot")
        .map_err(|e| anyhow!("creating the collection: {e}"))?;
    api.call(
        reqwest::Method::PUT,
        "/index?wait=true",
        Some(&json!({"field_name": "id", "field_schema": "integer"})),
    )
    .map_err(|e| anyhow!("creating the payload index: {e}"))?;

    let versions = AtomicU64::new(1);
    let written = Mutex::new(Written::default());
    let done_ops = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let began = Instant::now();
    let deadline = began + config.duration;
    let pid = server.pid();
    let mut samples = Vec::new();
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let seeds: Vec<u64> = (0..connections).map(|_| rng.random()).collect();
    let conns: Vec<Connection> = thread::scope(|scope| -> Result<Vec<Connection>> {
        let handles = (0..connections)
            .map(|k| {
                let shared = Shared {
                    api: Api::new(server.url(), COLLECTION)?,
                    ids: (0..config.ids_per_connection.max(1))
                        .map(|j| j * connections as u64 + k as u64)
                        .collect(),
                    space,
                    versions: &versions,
                    written: &written,
                    done_ops: &done_ops,
                    deadline,
                    seed: seeds[k],
                };
                Ok(scope.spawn(move || connection(shared)))
            })
            .collect::<Result<Vec<_>>>()?;
        let sampler = scope.spawn(|| {
            let mut next = Instant::now();
            let mut out = Vec::new();
            loop {
                let ops = done_ops.load(Ordering::Relaxed);
                if let Some(sample) = Sample::take(pid, &data, began.elapsed().as_secs_f64(), ops) {
                    if config.print_samples {
                        eprintln!("soak: {}", sample.log_line());
                    }
                    out.push(sample);
                }
                next += config.sample_every;
                while Instant::now() < next {
                    if stop.load(Ordering::Relaxed) {
                        return out;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            }
        });
        let conns = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a connection panicked")))
            .collect::<Result<Vec<_>>>();
        stop.store(true, Ordering::Relaxed);
        samples = sampler
            .join()
            .map_err(|_| anyhow!("the sampler panicked"))?;
        conns
    })?;
    let secs = began.elapsed().as_secs_f64();
    if let Some(sample) = Sample::take(pid, &data, secs, done_ops.load(Ordering::Relaxed)) {
        samples.push(sample);
    }

    let mut report = SoakReport {
        samples,
        secs,
        ..SoakReport::default()
    };
    let mut model = Points::new();
    let mut uncertain = Vec::new();
    for c in conns {
        for (name, stats) in c.ops {
            let all = report.ops.entry(name).or_default();
            all.micros.extend(stats.micros);
            all.errors += stats.errors;
        }
        model.extend(c.acked);
        uncertain.extend(c.uncertain);
        report.lost += c.lost;
        for p in c.problems {
            report.problem(p);
        }
    }
    let written = written
        .into_inner()
        .map_err(|_| anyhow!("a connection panicked"))?;
    let expected = Expected {
        model: &model,
        uncertain: &uncertain,
        space,
        written: &written,
    };
    check_all(&api, &expected, &mut report, "live")?;
    server.stop().context("stopping the server")?;
    report.compact = run_cli(config, &["compact"], &data)?;
    run_cli(config, &["check"], &data).map_err(|e| anyhow!("after compaction: {e}"))?;
    let server = start(config, &data, &log)?;
    let api = Api::new(server.url(), COLLECTION)?;
    check_all(&api, &expected, &mut report, "after restart and compaction")?;
    report.restarted_rss_kib = sample_process(server.pid()).map(|(rss, anon, _)| (rss, anon));
    server.stop().context("stopping the restarted server")?;
    if report.errors() > 0 || report.lost_writes() > 0 {
        report.problem(log_tail(&log));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(secs: f64, anon_mib: u64) -> Sample {
        Sample {
            secs,
            rss_kib: anon_mib * 1024 + 4096,
            anon_kib: anon_mib * 1024,
            data_mapped_kib: 0,
            disk_kib: 0,
            fds: 50,
            ops: 0,
        }
    }

    #[test]
    fn second_half_heap_sees_growth_and_ignores_the_warm_up() {
        let mut report = SoakReport::default();
        assert_eq!(report.second_half_heap(), None);
        // Warm-up to 100 MiB, then flat at 100..=101.
        report.samples = (0u32..=20)
            .map(|i| {
                sample(
                    f64::from(i) * 60.0,
                    if i < 10 {
                        u64::from(10 * i)
                    } else {
                        100 + u64::from(i % 2 == 1)
                    },
                )
            })
            .collect();
        let flat = report.second_half_heap().unwrap();
        assert_eq!(flat.from_secs, 600.0);
        assert_eq!((flat.min_mib, flat.max_mib), (100.0, 101.0));
        assert!(flat.mib_per_10_min.abs() < 0.2, "{flat:?}");
        // A steady leak of 1 MiB a minute after the warm-up.
        report.samples = (0u32..=20)
            .map(|i| sample(f64::from(i) * 60.0, 100 + u64::from(i)))
            .collect();
        let leak = report.second_half_heap().unwrap();
        assert!((leak.mib_per_10_min - 10.0).abs() < 1e-6, "{leak:?}");
        assert!(
            leak.line().contains("trend +10.0 MiB per 10 min"),
            "{}",
            leak.line()
        );
    }

    #[test]
    fn mapped_and_allocated_figures_count_the_data_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("collections");
        std::fs::create_dir(&inner).unwrap();
        let path = inner.join("vectors.dat");
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        assert!(
            allocated_kib(dir.path()) >= 1024,
            "{}",
            allocated_kib(dir.path())
        );

        let pid = std::process::id();
        let before = mapped_kib_under(pid, dir.path()).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: the test owns the file and nothing changes it while mapped.
        let map = unsafe { memmap2::Mmap::map(&file).unwrap() };
        let sum: u64 = map.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        assert_eq!(sum, 7 * 256);
        let after = mapped_kib_under(pid, dir.path()).unwrap();
        assert!(after >= before + 1024, "{before} -> {after}");
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(mapped_kib_under(pid, elsewhere.path()), Some(0));
        drop(map);
    }
}
