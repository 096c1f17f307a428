//! Power cuts under a real `quiver serve`: HTTP clients write with
//! `?wait=true`, the power is cut at a random moment, the server is
//! restarted on what the disk kept, and every acknowledged write is read
//! back over HTTP.
//!
//! The server runs with its defaults: collection durability `Fsync`, so an
//! answer to a `wait=true` write comes only after its `ops.log` frame was
//! fdatasync'ed (docs/durability.md, "Over HTTP"). Acknowledged therefore
//! means on stable storage, and nothing acknowledged may be lost.
//!
//! Each client owns the ids `id % writers == k`, so its acknowledged writes
//! and its one write in flight fully decide what those ids may hold after
//! a cut: the acknowledged state, or that state with the write in flight
//! applied whole.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::Mounted;
use crate::http::{Api, CallError, QuiverServer, log_tail};
use crate::points::{Points, Verdict, Written, apply, choose_write, judge};
use crate::workload::{DIMENSION, ID_SPACE, Op};

/// The collection the clients write.
const COLLECTION: &str = "c";
/// How long a cut waits for its acknowledgements before cutting anyway.
const ACK_WAIT: Duration = Duration::from_secs(60);

/// What a run does.
#[derive(Clone, Debug)]
pub struct CutConfig {
    /// The `quiver` binary.
    pub quiver: PathBuf,
    /// Power cuts to make.
    pub cuts: usize,
    /// Seed of every random choice (printed, to replay a run).
    pub seed: u64,
    /// Concurrent HTTP clients.
    pub writers: usize,
    /// Where the server's stderr is appended (off the power-cut disk).
    pub log: PathBuf,
    /// `QUIVER_CHECKPOINT_LOG_BYTES` for the server: a small value makes
    /// automatic checkpoints happen every few writes, so cuts land around
    /// them.
    pub checkpoint_bytes: u64,
}

/// What a run counted.
#[derive(Debug, Default)]
pub struct CutFigures {
    /// Cuts made.
    pub cuts: usize,
    /// Points written by acknowledged writes.
    pub acked_writes: usize,
    /// See [`Verdict::lost`].
    pub lost: usize,
    /// See [`Verdict::torn`].
    pub torn: usize,
    /// Cuts after which a write in flight came back, whole.
    pub in_flight_kept: usize,
    /// Writes answered with an error (the server's answer, not a cut).
    pub errors: usize,
    /// Descriptions of the first problems.
    pub problems: Vec<String>,
}

impl CutFigures {
    /// `N cuts, A acknowledged writes, L lost, T torn`.
    pub fn summary(&self) -> String {
        format!(
            "{} cuts, {} acknowledged writes, {} lost, {} torn",
            self.cuts, self.acked_writes, self.lost, self.torn
        )
    }

    /// Nothing lost, nothing torn, no error answer, no other problem.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.torn == 0 && self.errors == 0 && self.problems.is_empty()
    }
}

/// What one client did until the power went.
struct Outcome {
    acked: Points,
    in_flight: Option<Op>,
    acked_writes: usize,
    error: Option<String>,
}

/// Write `ids` until the server stops answering.
fn write_until_gone(
    api: &Api,
    ids: &[u64],
    mut acked: Points,
    versions: &AtomicU64,
    written: &Mutex<Written>,
    acks: &AtomicUsize,
    seed: u64,
) -> Outcome {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut acked_writes = 0;
    loop {
        let op = choose_write(&mut rng, &acked, ids, || {
            versions.fetch_add(1, Ordering::Relaxed)
        });
        if let Ok(mut w) = written.lock() {
            w.note(&op);
        }
        match api.send(&op) {
            Ok(()) => {
                acked_writes += apply(&mut acked, &op);
                acks.fetch_add(1, Ordering::Relaxed);
            }
            Err(CallError::Transport(_)) => {
                return Outcome {
                    acked,
                    in_flight: Some(op),
                    acked_writes,
                    error: None,
                };
            }
            Err(CallError::Answer(e)) => {
                return Outcome {
                    acked,
                    in_flight: None,
                    acked_writes,
                    error: Some(e),
                };
            }
        }
    }
}

/// The ids client `k` of `writers` owns.
fn ids_of(k: usize, writers: usize) -> Vec<u64> {
    (0..ID_SPACE)
        .filter(|id| id % writers as u64 == k as u64)
        .collect()
}

fn start(config: &CutConfig, data: &Path) -> Result<QuiverServer> {
    let bytes = config.checkpoint_bytes.to_string();
    QuiverServer::start(
        &config.quiver,
        data,
        &config.log,
        &[("QUIVER_CHECKPOINT_LOG_BYTES", bytes.as_str())],
    )
}

/// Run `config.cuts` power cuts with the server's data directory on `m`.
///
/// # Errors
/// The first server cannot start or create the collection, or the disk's
/// server fails; every loss found is in the figures instead.
pub fn run(config: &CutConfig, m: &mut Mounted) -> Result<CutFigures> {
    let data = m.path().join("db");
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let versions = AtomicU64::new(1);
    let written = Mutex::new(Written::default());
    let mut f = CutFigures::default();
    let mut model = Points::new();
    let mut server = start(config, &data)?;
    Api::new(server.url(), COLLECTION)?
        .create(DIMENSION, "Dot")
        .map_err(|e| anyhow::anyhow!("creating the collection: {e}"))?;
    let writers = config.writers.clamp(1, ID_SPACE as usize);
    let all_ids: Vec<u64> = (0..ID_SPACE).collect();
    for round in 0..config.cuts {
        let api = Api::new(server.url(), COLLECTION)?;
        let acks = AtomicUsize::new(0);
        let after_acks = rng.random_bool(0.5).then(|| rng.random_range(1..100));
        let after_time = Duration::from_millis(rng.random_range(0..300));
        let seeds: Vec<u64> = (0..writers).map(|_| rng.random()).collect();
        let outcomes: Vec<Outcome> = thread::scope(|s| -> Result<Vec<Outcome>> {
            let handles: Vec<_> = (0..writers)
                .map(|k| {
                    let ids = ids_of(k, writers);
                    let share: Points = model
                        .iter()
                        .filter(|(id, _)| ids.contains(id))
                        .map(|(id, p)| (*id, p.clone()))
                        .collect();
                    let (api, versions, written, acks) = (&api, &versions, &written, &acks);
                    let seed = seeds[k];
                    s.spawn(move || {
                        write_until_gone(api, &ids, share, versions, written, acks, seed)
                    })
                })
                .collect();
            let began = Instant::now();
            loop {
                let due = match after_acks {
                    Some(n) => acks.load(Ordering::Relaxed) >= n,
                    None => began.elapsed() >= after_time,
                };
                if due || began.elapsed() > ACK_WAIT || handles.iter().all(|h| h.is_finished()) {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
            m.kill_and_cut(server.child_mut())
                .context("cutting the power")?;
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| anyhow::anyhow!("a client panicked")))
                .collect()
        })?;
        f.cuts += 1;
        let mut with_in_flight = Points::new();
        model.clear();
        for (k, o) in outcomes.iter().enumerate() {
            f.acked_writes += o.acked_writes;
            if let Some(e) = &o.error {
                f.errors += 1;
                if f.problems.len() < 20 {
                    f.problems.push(format!("round {round}, client {k}: {e}"));
                }
            }
            let mut after = o.acked.clone();
            if let Some(op) = &o.in_flight {
                apply(&mut after, op);
            }
            with_in_flight.extend(after);
            model.extend(o.acked.clone());
        }
        server = match start(config, &data) {
            Ok(s) => s,
            Err(e) => {
                f.lost += model.len().max(1);
                f.problems
                    .push(format!("round {round}: restarting after the cut: {e:#}"));
                return Ok(f);
            }
        };
        let api = Api::new(server.url(), COLLECTION)?;
        let mut verdict = Verdict::default();
        match api.exists() {
            Ok(true) => {}
            Ok(false) => {
                f.lost += model.len().max(1);
                f.problems
                    .push(format!("round {round}: the collection is gone"));
                return Ok(f);
            }
            Err(e) => bail!("round {round}: asking for the collection: {e}"),
        }
        let seen = api
            .retrieve(&all_ids)
            .map_err(|e| anyhow::anyhow!("round {round}: reading back: {e}"))?;
        let known = written
            .lock()
            .map_err(|_| anyhow::anyhow!("a client panicked"))?
            .clone();
        let mut kept = false;
        for k in 0..writers {
            kept |= judge(
                &ids_of(k, writers),
                &model,
                &with_in_flight,
                &seen,
                &known,
                &mut verdict,
            );
        }
        f.in_flight_kept += usize::from(kept);
        f.lost += verdict.lost;
        f.torn += verdict.torn;
        for p in verdict.problems {
            if f.problems.len() < 20 {
                f.problems.push(format!("round {round}: {p}"));
            }
        }
        model = seen;
    }
    if !f.passed() {
        f.problems.push(log_tail(&config.log));
    }
    Ok(f)
}
