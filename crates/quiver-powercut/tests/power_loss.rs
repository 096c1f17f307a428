//! Power-loss tests: a writer process works on the power-cut disk, the
//! power is cut at a random moment (sometimes right after an
//! acknowledgement), and what comes back must hold every acknowledged write.
//!
//! `QUIVER_POWERCUT_CUTS` sets the cuts per test (default 12);
//! `QUIVER_POWERCUT_SEED` replays a run (the seed is printed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use quiver_core::storage::{
    DurabilityMode, LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage,
};
use quiver_core::{Database, PointId};
use quiver_powercut::points::{Points, apply as apply_point};
use quiver_powercut::workload::{DIMENSION, ID_SPACE, Line, Op, payload, vector};
use quiver_powercut::{Mounted, PowerCutFs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

type Payload = Map<String, Value>;

fn cuts() -> usize {
    std::env::var("QUIVER_POWERCUT_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

fn seed() -> u64 {
    std::env::var("QUIVER_POWERCUT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random)
}

/// What one test counted over all its cuts.
#[derive(Debug, Default)]
struct Figures {
    cuts: usize,
    acked_writes: usize,
    /// Acknowledged values missing or reverted after a cut.
    lost: usize,
    /// Values that match no state the writer ever produced.
    torn: usize,
    /// Unacknowledged vector overwrites read back part old, part new (the
    /// storage contract allows this before `flush`).
    torn_unacked: usize,
    /// Cuts where the write in flight came back (whole).
    in_flight_kept: usize,
    problems: Vec<String>,
}

impl Figures {
    fn problem(&mut self, what: String) {
        if self.problems.len() < 20 {
            self.problems.push(what);
        }
    }

    fn finish(&self, test: &str, seed: u64) {
        eprintln!(
            "{test}: seed={seed} cuts={} acked_writes={} lost={} torn={} torn_unacked={} in_flight_kept={}",
            self.cuts,
            self.acked_writes,
            self.lost,
            self.torn,
            self.torn_unacked,
            self.in_flight_kept
        );
        assert!(
            self.lost == 0 && self.torn == 0 && self.problems.is_empty(),
            "{test} (QUIVER_POWERCUT_SEED={seed}): {self:#?}"
        );
    }
}

/// Kills the writer if the test unwinds before it does.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the writer `command` describes, its output piped; returns it and
/// its stdout.
fn spawn_writer(command: &mut Command) -> (Writer, BufReader<std::process::ChildStdout>) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let mut writer = Writer(child);
    let out = BufReader::new(writer.0.stdout.take().expect("piped"));
    (writer, out)
}

/// Run the writer until a random moment, cut the power, and return every
/// line it printed (read to the end, after it died); `Err` with its
/// stderr if it failed on its own before the cut (e.g. it could not reopen
/// what the previous cut left).
fn run_until_cut(
    m: &mut Mounted,
    scenario: &str,
    dir: &Path,
    rng: &mut SmallRng,
    first_version: u64,
) -> Result<Vec<Line>, String> {
    let (mut writer, mut out) = spawn_writer(
        Command::new(env!("CARGO_BIN_EXE_powercut-writer"))
            .args([scenario, &dir.display().to_string()])
            .arg(rng.random::<u64>().to_string())
            .arg(first_version.to_string()),
    );
    // Half the cuts land right after an acknowledgement (the writer has just
    // returned from a flush or a checkpoint), half after a random line.
    let after_acks = rng.random_bool(0.5).then(|| rng.random_range(1..40));
    let after_lines = rng.random_range(1..400);
    let mut lines = Vec::new();
    let mut acks = 0;
    let mut text = String::new();
    loop {
        text.clear();
        if out.read_line(&mut text).expect("read the writer") == 0 {
            let mut err = String::new();
            if let Some(mut e) = writer.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            m.kill_and_cut(&mut writer.0).expect("cut the power");
            let first = err.lines().next().unwrap_or("").to_owned();
            return Err(format!("the writer failed before the cut: {first}"));
        }
        let line = Line::parse(text.trim_end()).expect("a writer line");
        acks += usize::from(matches!(line, Line::Ack(_)));
        lines.push(line);
        let due = match after_acks {
            Some(n) => acks >= n,
            None => lines.len() >= after_lines,
        };
        if due {
            break;
        }
    }
    m.kill_and_cut(&mut writer.0).expect("cut the power");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read the rest");
    lines.extend(rest.lines().map(|l| Line::parse(l).expect("a writer line")));
    Ok(lines)
}

/// Create `dir` on the mount and make its name durable: the directory a
/// user hands to Quiver exists before Quiver runs, so only what Quiver
/// creates inside it is under test.
/// Mounts the power-cut disk for `test` (or skips: `None`) and makes its
/// durable directory `sub`; returns the mount's backing tempdir guard, the
/// mount, the run's seed and the directory.
fn start(test: &str, sub: &str) -> Option<(tempfile::TempDir, Mounted, u64, PathBuf)> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = PowerCutFs::new(env!("CARGO_BIN_EXE_powercut-fs")).mount_or_skip(tmp.path(), test)?;
    let dir = m.path().join(sub);
    durable_dir(&m, &dir);
    Some((tmp, m, seed(), dir))
}

fn durable_dir(m: &Mounted, dir: &Path) {
    std::fs::create_dir(dir).expect("mkdir");
    for d in [dir, m.path()] {
        std::fs::File::open(d)
            .and_then(|f| f.sync_all())
            .expect("fsync dir");
    }
}

/// The acknowledged operations and those after the last acknowledgement.
fn split_acked(lines: &[Line]) -> (Vec<Op>, Vec<Op>) {
    let mut acked = Vec::new();
    let mut pending: Vec<(u64, Op)> = Vec::new();
    for line in lines {
        match line {
            Line::Op(seq, op) => pending.push((*seq, op.clone())),
            Line::Ack(upto) => {
                let (done, later): (Vec<_>, Vec<_>) =
                    pending.drain(..).partition(|(seq, _)| seq <= upto);
                acked.extend(done.into_iter().map(|(_, op)| op));
                pending = later;
            }
        }
    }
    (acked, pending.into_iter().map(|(_, op)| op).collect())
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Storage-level model: vectors and payloads by id.
#[derive(Clone, Default, PartialEq)]
struct StoreModel {
    vectors: BTreeMap<u64, Vec<u32>>,
    payloads: BTreeMap<u64, Payload>,
}

impl StoreModel {
    fn apply(&mut self, op: &Op) -> usize {
        match op {
            Op::Store(items) => {
                for &(id, v) in items {
                    self.vectors.insert(id, bits(&vector(id, v)));
                }
                items.len()
            }
            Op::Delete(items) => {
                for id in items {
                    self.vectors.remove(id);
                }
                items.len()
            }
            Op::StorePayload(id, v) => {
                self.payloads.insert(*id, payload(*id, *v));
                1
            }
            Op::DeletePayload(id) => {
                self.payloads.remove(id);
                1
            }
            _ => 0,
        }
    }
}

fn check_storage(dir: &Path, model: &StoreModel, pending: &[Op], f: &mut Figures) -> StoreModel {
    let vectors =
        MmapStorage::new_with_durability(dir.join("vectors"), DIMENSION, DurabilityMode::Fsync);
    let payloads =
        LogPayloadStorage::new_with_durability(dir.join("payloads"), DurabilityMode::Fsync);
    let (vectors, payloads) = match (vectors, payloads) {
        (Ok(v), Ok(p)) => (v, p),
        (v, p) => {
            f.problem(format!(
                "reopening failed: vectors {:?}, payloads {:?}",
                v.err(),
                p.err()
            ));
            return model.clone();
        }
    };
    let mut seen = StoreModel::default();
    for id in 0..ID_SPACE {
        // The states this id may be in: acknowledged, then after each pending op.
        let mut states = vec![(
            model.vectors.get(&id).cloned(),
            model.payloads.get(&id).cloned(),
        )];
        let mut after = model.clone();
        for op in pending {
            after.apply(op);
            states.push((
                after.vectors.get(&id).cloned(),
                after.payloads.get(&id).cloned(),
            ));
        }
        let touched = states.windows(2).any(|w| w[0] != w[1]);
        let got_v = match vectors.retrieve(id) {
            Ok(v) => v.map(|v| bits(&v)),
            Err(e) => {
                f.problem(format!("vector {id}: {e}"));
                None
            }
        };
        let got_p = match payloads.retrieve(id) {
            Ok(Some(Value::Object(p))) => Some(p),
            Ok(Some(other)) => {
                f.problem(format!("payload {id}: not an object: {other}"));
                None
            }
            Ok(None) => None,
            Err(e) => {
                f.problem(format!("payload {id}: {e}"));
                None
            }
        };
        if !states.iter().any(|(v, _)| *v == got_v) {
            if touched && got_v.is_some() {
                f.torn_unacked += 1;
            } else if got_v.is_none() {
                f.lost += 1;
                f.problem(format!(
                    "vector {id}: acknowledged {:?}, found none",
                    states[0].0.is_some()
                ));
            } else {
                f.torn += 1;
                f.problem(format!("vector {id}: found a value no write produced"));
            }
        }
        if !states.iter().any(|(_, p)| *p == got_p) {
            let wrong_id = got_p
                .as_ref()
                .is_some_and(|p| p.get("id") != Some(&json!(id)));
            if got_p.is_none() || !wrong_id {
                f.lost += 1;
                f.problem(format!(
                    "payload {id}: expected {:?}, found {:?}",
                    states[0].1, got_p
                ));
            } else {
                f.torn += 1;
                f.problem(format!("payload {id}: found {got_p:?}"));
            }
        }
        if let Some(v) = got_v {
            seen.vectors.insert(id, v);
        }
        if let Some(p) = got_p {
            seen.payloads.insert(id, p);
        }
    }
    seen
}

/// Mounts the disk for the test of `scenario` (or skips) and runs [`cuts`]
/// rounds of the writer's `scenario`, each cut at a random moment;
/// `check` gets each round's number, the directory, and the operations the
/// writer acknowledged and those it had begun after its last
/// acknowledgement. Asserts on the figures.
fn cut_rounds(scenario: &str, mut check: impl FnMut(usize, &Path, Vec<Op>, Vec<Op>, &mut Figures)) {
    let test = format!("{scenario} power cuts");
    let Some((_tmp, mut m, seed, dir)) = start(&test, scenario) else {
        return;
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut f = Figures::default();
    for round in 0..cuts() {
        let lines = match run_until_cut(&mut m, scenario, &dir, &mut rng, (round as u64 + 1) << 32)
        {
            Ok(lines) => lines,
            Err(err) => {
                f.problem(format!("round {round}: {err}"));
                break;
            }
        };
        let (acked, pending) = split_acked(&lines);
        f.cuts += 1;
        check(round, &dir, acked, pending, &mut f);
    }
    drop(m);
    f.finish(&test, seed);
}

#[test]
fn storage_keeps_every_flushed_write_across_power_cuts() {
    let mut model = StoreModel::default();
    cut_rounds("storage", |_, dir, acked, pending, f| {
        for op in &acked {
            f.acked_writes += model.apply(op);
        }
        let seen = check_storage(dir, &model, &pending, f);
        let mut with_pending = model.clone();
        for op in &pending {
            with_pending.apply(op);
        }
        if !pending.is_empty() && seen == with_pending && seen != model {
            f.in_flight_kept += 1;
        }
        model = seen;
    });
}

fn read_points(dir: &Path, f: &mut Figures) -> Option<Points> {
    let db = match Database::open(dir) {
        Ok(db) => db,
        Err(e) => {
            f.problem(format!("reopening the database: {e}"));
            return None;
        }
    };
    if !db.list_collections().iter().any(|n| n == "c") {
        return None;
    }
    let c = match db.collection("c") {
        Ok(c) => c,
        Err(e) => {
            f.problem(format!("reopening the collection: {e}"));
            return None;
        }
    };
    let ids: Vec<PointId> = (0..ID_SPACE).map(PointId::Num).collect();
    let records = match c.get(&ids, true, true) {
        Ok(r) => r,
        Err(e) => {
            f.problem(format!("reading the points: {e}"));
            return None;
        }
    };
    let mut points = Points::new();
    for r in records {
        let PointId::Num(id) = r.id else { continue };
        let v = r.vector().map(bits).unwrap_or_default();
        points.insert(id, (v, r.payload.unwrap_or_default()));
    }
    Some(points)
}

/// Count the points of `seen` that differ from `expected`.
fn classify(expected: &Points, seen: &Points, f: &mut Figures) {
    for (id, (v, p)) in expected {
        match seen.get(id) {
            None => {
                f.lost += 1;
                f.problem(format!("point {id}: acknowledged, missing"));
            }
            Some((sv, sp)) if sv != v => {
                let old_version = sp.get("version").and_then(Value::as_u64);
                if old_version.is_some_and(|ver| bits(&vector(*id, ver)) == *sv) {
                    f.lost += 1;
                    f.problem(format!("point {id}: an older version came back"));
                } else {
                    f.torn += 1;
                    f.problem(format!("point {id}: vector matches no write"));
                }
            }
            Some((_, sp)) if sp != p => {
                f.lost += 1;
                f.problem(format!("point {id}: payload {p:?}, found {sp:?}"));
            }
            Some(_) => {}
        }
    }
    for id in seen.keys().filter(|id| !expected.contains_key(id)) {
        f.lost += 1;
        f.problem(format!("point {id}: deleted (acknowledged), came back"));
    }
}

#[test]
fn collection_keeps_every_acknowledged_write_across_power_cuts() {
    let mut model = Points::new();
    let mut created = false;
    cut_rounds("collection", |round, dir, acked, pending, f| {
        for op in &acked {
            created |= *op == Op::Create;
            f.acked_writes += apply_point(&mut model, op);
        }
        let mut with_pending = model.clone();
        for op in &pending {
            apply_point(&mut with_pending, op);
        }
        let Some(seen) = read_points(dir, f) else {
            if created {
                f.lost += model.len().max(1);
                f.problem(format!("round {round}: the created collection is gone"));
            }
            model.clear();
            return;
        };
        if seen == model {
            return;
        }
        if seen == with_pending {
            f.in_flight_kept += 1;
        } else {
            classify(&model, &seen, f);
        }
        model = seen;
    });
}

/// Every named crash point of the storage and collection code; the
/// collection scenario of the writer reaches each of them.
const CRASH_POINTS: &[&str] = &[
    "oplog:sync",
    "flush:after_wal_sync",
    "flush:after_index",
    "checkpoint:after_graph",
    "checkpoint:after_stores",
    "checkpoint:after_id_map",
    "checkpoint:after_log_rotate",
    "compact:after_data_tmp",
    "compact:after_index_tmp",
    "compact:after_data_rename",
    "compact:after_index_rename",
    "payload_compact:after_log_tmp",
    "payload_compact:after_index_tmp",
    "payload_compact:after_log_rename",
];

/// Writer lines within which each crash point must be reached.
const LINES_TO_REACH_A_POINT: usize = 20_000;

/// Run the collection writer in `dir` with `point` armed until it reports
/// standing at the point, then cut the power; return its lines before the
/// point. `Err` when the point is not reached (the writer failed, or ran
/// [`LINES_TO_REACH_A_POINT`] lines without reaching it).
fn run_to_point(m: &mut Mounted, dir: &Path, point: &str, seed: u64) -> Result<Vec<Line>, String> {
    let (mut writer, mut out) = spawn_writer(
        Command::new(env!("CARGO_BIN_EXE_powercut-writer"))
            .args(["collection", &dir.display().to_string()])
            .args([seed.to_string(), "1".to_owned()])
            .env("QUIVER_POWERCUT_POINT", point),
    );
    let mut lines = Vec::new();
    let mut text = String::new();
    let reached = loop {
        text.clear();
        if out.read_line(&mut text).expect("read the writer") == 0 {
            break false;
        }
        let text = text.trim_end();
        if text == format!("point {point}") {
            break true;
        }
        lines.push(Line::parse(text).expect("a writer line"));
        if lines.len() >= LINES_TO_REACH_A_POINT {
            break false;
        }
    };
    let mut err = String::new();
    if !reached && let Some(mut e) = writer.0.stderr.take() {
        writer.0.kill().expect("kill the writer");
        let _ = e.read_to_string(&mut err);
    }
    m.kill_and_cut(&mut writer.0).expect("cut the power");
    if !reached {
        let why = err
            .lines()
            .next()
            .unwrap_or("it ran on without reaching it");
        return Err(format!(
            "crash point {point} was not reached in {} writer lines: {why}",
            lines.len()
        ));
    }
    Ok(lines)
}

#[test]
fn power_cut_at_each_crash_point_keeps_every_acknowledged_write() {
    const TEST: &str = "power_cut_at_each_crash_point_keeps_every_acknowledged_write";
    let Some((_tmp, mut m, seed, root)) = start(TEST, "points") else {
        return;
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut f = Figures::default();
    for (i, point) in CRASH_POINTS.iter().enumerate() {
        let dir = root.join(i.to_string());
        std::fs::create_dir(&dir).expect("mkdir");
        for d in [&dir, &root] {
            std::fs::File::open(d)
                .and_then(|f| f.sync_all())
                .expect("fsync dir");
        }
        let lines = match run_to_point(&mut m, &dir, point, rng.random()) {
            Ok(lines) => lines,
            Err(err) => {
                f.problem(err);
                continue;
            }
        };
        let (acked, pending) = split_acked(&lines);
        f.cuts += 1;
        let mut model = Points::new();
        for op in &acked {
            f.acked_writes += apply_point(&mut model, op);
        }
        let mut with_pending = model.clone();
        for op in &pending {
            apply_point(&mut with_pending, op);
        }
        let (lost, torn, problems) = (f.lost, f.torn, f.problems.len());
        match read_points(&dir, &mut f) {
            None if !acked.contains(&Op::Create) => {}
            None => {
                f.lost += model.len().max(1);
                f.problem(format!("{point}: the created collection is gone"));
            }
            Some(seen) if seen == model => {}
            Some(seen) if seen == with_pending => f.in_flight_kept += 1,
            Some(seen) => classify(&model, &seen, &mut f),
        }
        if (f.lost, f.torn, f.problems.len()) != (lost, torn, problems) {
            f.problem(format!("the cut at {point} lost or tore the writes above"));
        }
    }
    drop(m);
    f.finish(TEST, seed);
}
