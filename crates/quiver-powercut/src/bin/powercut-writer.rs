//! The process a power-cut test kills: writes to Quiver in a loop and
//! prints what it did (see `quiver_powercut::workload`).
//!
//! `powercut-writer storage <dir> <seed> <first-version>` drives
//! `MmapStorage` + `LogPayloadStorage` in `Fsync` mode, acknowledging at
//! each flush. `powercut-writer collection <dir> <seed> <first-version>`
//! drives a collection of a `Database` (default durability), acknowledging
//! each call. Both run until killed.
//!
//! With `QUIVER_POWERCUT_POINT=<crash point>` (a build with quiver-core's
//! `fault-injection` feature, as this crate's tests are), the collection
//! scenario arms that point once its collection exists; the first thread
//! to reach it prints `point <name>` and waits there to be killed,
//! so the test can cut the power at exactly that moment.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use quiver_core::storage::{DurabilityMode, LogPayloadStorage, MmapStorage, fault};
use quiver_core::storage::{PayloadStorage, VectorStorage};
use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, PointSelector};
use quiver_powercut::workload::{DIMENSION, ID_SPACE, Line, Op, payload, vector};
use serde_json::{Map, Value, json};

/// Name of the collection the collection scenario writes.
const COLLECTION: &str = "c";

/// A small deterministic generator: the writer needs no crate for this.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Writer {
    seq: u64,
    version: u64,
    rng: Rng,
    out: std::io::Stdout,
}

impl Writer {
    fn say(&mut self, line: &Line) -> Result<()> {
        let mut out = self.out.lock();
        writeln!(out, "{}", line.render())?;
        out.flush()?;
        Ok(())
    }

    fn begin(&mut self, op: Op) -> Result<Op> {
        self.seq += 1;
        self.say(&Line::Op(self.seq, op.clone()))?;
        Ok(op)
    }

    fn ack(&mut self) -> Result<()> {
        let seq = self.seq;
        self.say(&Line::Ack(seq))
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn some_ids(&mut self, max: u64) -> Vec<u64> {
        let n = 1 + self.rng.below(max);
        let mut ids: Vec<u64> = (0..n).map(|_| self.rng.below(ID_SPACE)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn storage(dir: &Path, w: &mut Writer) -> Result<()> {
    let mut vectors =
        MmapStorage::new_with_durability(dir.join("vectors"), DIMENSION, DurabilityMode::Fsync)
            .context("opening the vector store")?;
    let mut payloads =
        LogPayloadStorage::new_with_durability(dir.join("payloads"), DurabilityMode::Fsync)
            .context("opening the payload store")?;
    loop {
        let roll = w.rng.below(100);
        let op = if roll < 35 {
            let id = w.rng.below(ID_SPACE);
            let v = w.next_version();
            Op::Store(vec![(id, v)])
        } else if roll < 45 {
            Op::Delete(vec![w.rng.below(ID_SPACE)])
        } else if roll < 75 {
            let id = w.rng.below(ID_SPACE);
            let v = w.next_version();
            Op::StorePayload(id, v)
        } else if roll < 82 {
            Op::DeletePayload(w.rng.below(ID_SPACE))
        } else if roll < 97 {
            Op::Flush
        } else if roll < 99 {
            Op::Checkpoint
        } else {
            Op::Compact
        };
        match w.begin(op)? {
            Op::Store(items) => {
                for (id, v) in items {
                    vectors.store(id, &vector(id, v))?;
                }
            }
            Op::Delete(items) => {
                for id in items {
                    vectors.delete(id)?;
                }
            }
            Op::StorePayload(id, v) => payloads.store(id, &Value::Object(payload(id, v)))?,
            Op::DeletePayload(id) => payloads.delete(id)?,
            Op::Flush => {
                vectors.flush()?;
                payloads.flush()?;
                w.ack()?;
            }
            Op::Checkpoint => payloads.checkpoint()?,
            Op::Compact => {
                payloads.compact()?;
            }
            Op::SetTag(..) | Op::Create => bail!("not a storage op"),
        }
    }
}

fn collection(dir: &Path, w: &mut Writer) -> Result<()> {
    let db = Database::open(dir).context("opening the database")?;
    let c = if db.list_collections().iter().any(|n| n == COLLECTION) {
        db.collection(COLLECTION)?
    } else {
        w.begin(Op::Create)?;
        let mut config = CollectionConfig::new(DIMENSION, Metric::Dot);
        // Checkpoints every few operations, so cuts land around them.
        config.checkpoint_log_bytes = 8192;
        let c = db.create_collection(COLLECTION, config)?;
        w.ack()?;
        c
    };
    // Armed once the collection exists, so the cut lands among its writes.
    if let Ok(point) = std::env::var(POINT_ENV) {
        stop_at(&point)?;
    }
    let selector = |ids: &[u64]| PointSelector::Ids(ids.iter().map(|&i| PointId::Num(i)).collect());
    loop {
        let roll = w.rng.below(100);
        let op = if roll < 55 {
            let ids = w.some_ids(4);
            Op::Store(ids.into_iter().map(|id| (id, w.next_version())).collect())
        } else if roll < 70 {
            Op::Delete(w.some_ids(3))
        } else if roll < 88 {
            let v = w.next_version();
            Op::SetTag(v, w.some_ids(3))
        } else if roll < 97 {
            Op::Flush
        } else {
            Op::Compact
        };
        match w.begin(op)? {
            Op::Store(items) => {
                let points = items
                    .iter()
                    .map(|&(id, v)| Point::new(id, vector(id, v)).with_payload(payload(id, v)))
                    .collect();
                c.upsert(points)?;
            }
            Op::Delete(items) => {
                c.delete(&selector(&items))?;
            }
            Op::SetTag(v, items) => {
                let mut tag = Map::new();
                tag.insert("tag".to_owned(), json!(v));
                // A payload write naming a missing id fails whole, so name
                // only the points that exist: the model tags just those.
                let wanted: Vec<PointId> = items.iter().map(|&i| PointId::Num(i)).collect();
                let present: Vec<PointId> = c
                    .get(&wanted, false, false)?
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                if !present.is_empty() {
                    c.set_payload(&PointSelector::Ids(present), tag)?;
                }
            }
            Op::Flush => c.flush()?,
            Op::Compact => c.compact()?,
            Op::StorePayload(..) | Op::DeletePayload(_) | Op::Checkpoint | Op::Create => {
                bail!("not a collection op")
            }
        }
        w.ack()?;
    }
}

/// Names the crash point to stop at.
const POINT_ENV: &str = "QUIVER_POWERCUT_POINT";

/// Arms `point` so that reaching it prints `point <name>` and parks the
/// thread until the test kills the process.
fn stop_at(point: &str) -> Result<()> {
    let line = format!("point {point}");
    let armed = fault::arm_process(point, move || {
        let mut out = std::io::stdout().lock();
        // The test cuts on reading this line; nothing else gets written.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        loop {
            std::thread::park();
        }
    });
    if !armed {
        bail!("{POINT_ENV} is set, but quiver-core was built without crash points");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, scenario, dir, seed, first_version] = args.as_slice() else {
        bail!("usage: powercut-writer storage|collection <dir> <seed> <first-version>");
    };
    let dir = PathBuf::from(dir);
    let mut w = Writer {
        seq: 0,
        version: first_version.parse().context("first-version")?,
        rng: Rng(seed.parse().context("seed")?),
        out: std::io::stdout(),
    };
    match scenario.as_str() {
        "storage" => storage(&dir, &mut w),
        "collection" => collection(&dir, &mut w),
        other => bail!("unknown scenario {other:?}: expected storage or collection"),
    }
}
