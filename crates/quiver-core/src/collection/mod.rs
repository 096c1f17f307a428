//! A collection: vectors, payloads, the HNSW graph and the payload indexes of
//! one set of points, behind one operation log.
//!
//! Files (in `collections/<name>/`):
//!
//! | file | owner | role |
//! |---|---|---|
//! | `config.json` | `config.rs` | configuration + indexed payload fields (replaced atomically) |
//! | `ops.log` | `oplog.rs` | every write since the last checkpoint, CRC-framed, one frame per call (or per group of concurrent upserts) |
//! | `vectors.dat/.idx/.wal` | `MmapStorage` (mode `None`) | preprocessed vectors keyed by internal id |
//! | `payloads.log/.idx` | `LogPayloadStorage` (mode `None`) | `{"id": <point id>, "payload": {..}}` keyed by internal id |
//! | `hnsw.graph` | `Hnsw::save_without_vectors` | graph checkpoint (links only; node vectors come from `vectors.dat`) tagged with the sequence number it covers |
//! | `payload_index.<seq>` | `PayloadIndexes::save` | payload index checkpoint covering operations up to `<seq>` |
//! | `ids.map` | `id_map.rs` | internal id -> point id checkpoint, tagged like the graph |
//!
//! Work is split as: `upsert.rs` turns every write (upsert, delete,
//! payload changes) into one [`oplog::Op`], `group.rs` merges concurrent
//! upserts into one, `apply.rs` logs an operation and applies it (the one
//! apply path, shared with recovery), `search.rs` every read (search,
//! get, scroll, count), `recovery.rs` open-time recovery, `checkpoint.rs`
//! checkpoints and compaction, `field_index.rs` creating and dropping
//! payload indexes, `info.rs` [`Collection::info`], `files.rs` the file
//! check behind `quiver check`.
//!
//! # Internal ids
//!
//! Each point version lives under a dense `u32` internal id. An upsert
//! always writes the new version under a *fresh* internal id and retires the
//! old one, so the vector of an internal id never changes while it is live.
//! A retired id stays a deleted node of the graph (it still routes
//! searches) until the graph rebuilds itself past its tombstone ratio.
//! Until then it is *held*: not reused, because re-linking a node in place
//! replaces its out-links and can cut off nodes reached only through them,
//! and its vector stays in `vectors.dat` (the graph checkpoint has no
//! vectors of its own). Once a rebuild drops it, the id goes to the free
//! list for a later write to reuse (no reader can still be looking at it:
//! readers hold the state lock for a whole call, and an id is retired
//! under its write lock), and the next checkpoint deletes its vector.
//!
//! # Durability argument
//!
//! 1. *Log first.* A write validates everything, builds one [`oplog::Op`]
//!    holding full values (internal ids, preprocessed vectors, new payloads,
//!    and the old payloads the indexes must forget), appends it to `ops.log`
//!    as one CRC-framed frame and, in `Fsync` mode, fsyncs it. Only then is
//!    any store or index touched, and only after all of them is the
//!    call acknowledged. (The one exception is the in-memory graph: an
//!    upsert links its new versions while the fsync is in flight, under
//!    fresh ids no reader can reach until they are published, and deletes
//!    them again if the append fails. Nothing on disk is written early.) (Upserts that arrive while another commit holds
//!    the writer lock are merged into one such operation and acknowledged
//!    together: one frame, one fsync; see `group.rs`.) So every
//!    acknowledged write is in the log, and
//!    anything a store holds beyond the last checkpoint came from a logged
//!    operation. A torn final frame fails its CRC and is dropped whole:
//!    a batch is replayed entirely or not at all.
//! 2. *Replay is idempotent.* Applying a frame means "store these full
//!    vectors and payloads under these internal ids, remove those ids", so
//!    replaying every frame of the log, in order, onto stores that hold the
//!    checkpoint state plus any subset of later changes gives exactly the
//!    state after the last frame. The stores run with durability `None`:
//!    they need no write-ahead log of their own.
//! 3. *Checkpoints are tagged.* A checkpoint runs under the writer lock: it
//!    saves the graph tagged with the last sequence number `S`, deletes
//!    the vectors neither a point nor the graph holds, makes the vector and
//!    payload stores durable (`flush_full`, `checkpoint`, both fsync),
//!    saves the id map and the payload indexes tagged `S`, and only then
//!    atomically replaces `ops.log` by an empty log whose base is `S`. A
//!    crash before the replacement leaves the old log, which replays
//!    harmlessly on top; replay never deletes a vector, so every vector an
//!    older graph checkpoint needs is still there.
//! 4. *Derived state is exact or rebuilt.* On open the stores are replayed
//!    with the whole log; the id map, the graph and the payload indexes are
//!    loaded from their checkpoints only if their tag lies within the log
//!    (base <= tag <= last), then brought forward by replaying just the
//!    frames after their tag (frames carry what they need: point ids,
//!    vectors for the graph, old and new payloads for the indexes). A
//!    missing, corrupt or stale checkpoint is rebuilt from the stores (the
//!    id map is read back from the payload store, which holds each internal
//!    id's point id; a loaded map that disagrees with it is dropped). Hence after `kill -9` or a power loss, the collection
//!    holds exactly the acknowledged writes, plus possibly the one write in
//!    flight, whole.
//!
//! `FlushOnly` and `None` skip the per-write fsync of the log (survives a
//! killed process; a power loss keeps what the last flush made durable).
//!
//! # Concurrency and lock order
//!
//! One writer at a time (`writer` mutex, held for a whole write, checkpoint
//! or compaction); readers never take it. A write first puts new versions
//! into the stores and the graph under fresh ids nobody can see, then
//! publishes them (id map, live set, payload indexes) under a short
//! `state` write lock, then retires the old ids. Readers hold `state` for
//! reading for their whole call and see each write entirely or not at all.
//! Locks are taken in this order and never the other way:
//! `writer` -> `state` -> graph (its internal lock) -> `payloads` -> `vectors`.
//! A filtered graph search checks candidates from inside the graph's read
//! lock (the `allow` predicate) against the plan's bitmap and the decoded
//! payloads the state holds, never against a store; still, writers never
//! hold `payloads` or `vectors` while they insert into or delete from the
//! graph.

mod apply;
mod checkpoint;
mod config;
mod field_index;
mod fields;
mod files;
mod group;
mod id_map;
mod info;
mod oplog;
mod query;
mod recovery;
mod request;
mod search;
mod upsert;
mod vector_writes;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::filter::{FieldType, PayloadIndexes};
use crate::index::sparse::SparseIndex;
use crate::storage::LogPayloadStorage;
use crate::{Error, PointId, Result, SparseVector};

pub use config::{
    CollectionConfig, MAX_DIMENSION, MAX_VECTOR_NAME_BYTES, MAX_VECTORS, SparseModifier,
    SparseVectorParams, VectorParams,
};
pub(crate) use files::repair_op_log;
pub use files::{FileCheck, FileState};
pub use oplog::OpLogRepair;
pub use query::{
    DEFAULT_RRF_K, Fusion, MAX_PREFETCH_DEPTH, MAX_PREFETCHES, Prefetch, Query, QueryRequest,
};
pub use request::{
    CollectionInfo, MAX_EF, MAX_K, MAX_VECTOR_NORM, Mmr, Payload, Point, PointSelector, Record,
    ScoredPoint, ScrollPage, ScrollRequest, SearchRequest, UpdateResult,
};
pub use search::SearchStrategy;

pub(crate) use config::StoredConfig;
// The decoders of the collection's files, for the fuzz targets (see `crate::fuzzing`).
use fields::DenseField;
#[cfg(feature = "fuzzing")]
pub(crate) use id_map::{decode as decode_id_map, encode as encode_id_map};
#[cfg(not(feature = "fuzzing"))]
use oplog::LogSchema;
use oplog::OpLogWriter;
#[cfg(feature = "fuzzing")]
pub(crate) use oplog::{LogSchema, decode as decode_op_log, encode as encode_op_log};
#[cfg(feature = "fuzzing")]
pub(crate) use request::check_points;

/// One collection. `Send + Sync`; every method takes `&self`.
///
/// Obtain it from [`crate::Database`]. Writes are serialised; reads run
/// concurrently with each other, with a write, with a checkpoint and with
/// compaction.
pub struct Collection {
    name: String,
    dir: PathBuf,
    config: CollectionConfig,
    checkpoint_bytes: u64,
    writer: Mutex<Writer>,
    /// Upserts waiting to be committed together.
    upserts: group::UpsertQueue,
    state: RwLock<State>,
    /// The dense vectors, in slot (name) order.
    dense: Vec<DenseField>,
    /// The sparse vectors' names and settings, in slot (name) order.
    sparse: Vec<(String, SparseVectorParams)>,
    /// The op log's view of the vectors.
    schema: LogSchema,
    payloads: RwLock<LogPayloadStorage>,
    /// The sparse vectors of every version that has one (see `fields.rs`);
    /// `None` when the collection has no sparse vector.
    sparse_store: Option<RwLock<LogPayloadStorage>>,
    deleted: AtomicBool,
    /// Damaged checkpoint files the open rebuilt (see [`Collection::repaired_on_open`]).
    repaired: Vec<String>,
    /// The database LOCK file: held while this collection can write.
    _lock: Arc<File>,
}

/// What only the writer touches.
struct Writer {
    log: OpLogWriter,
    /// Internal ids retired by earlier writes, free for reuse.
    free: Vec<u32>,
    /// Retired ids the graph still holds as deleted nodes. They are not
    /// reused while it does: re-linking a node in place can cut off nodes
    /// reached only through it. A graph rebuild drops them (see
    /// [`Collection::release_held`]).
    held: Vec<u32>,
    /// `Hnsw::rebuilds` when `held` was last sorted out.
    seen_rebuilds: u64,
    /// Lowest internal id never used.
    next_internal: u32,
    /// Indexed payload fields, as in `config.json`.
    fields: Vec<(String, FieldType)>,
    /// Sequence number a complete checkpoint on disk covers (stores, graph
    /// and payload indexes), if known: a checkpoint at it has nothing to do.
    checkpointed: Option<u64>,
    /// Set when applying a logged write failed half-way: memory may then
    /// differ from disk, so writes are refused until the collection is
    /// reopened (which replays the log).
    broken: Option<String>,
}

/// What readers see; changed only under its write lock.
struct State {
    /// Point id -> internal id of its live version, in scroll order.
    by_id: BTreeMap<PointId, u32>,
    /// Internal id -> point id, `None` for free ids.
    ids: Vec<Option<PointId>>,
    /// Internal ids of live versions.
    live: RoaringBitmap,
    indexes: PayloadIndexes,
    /// The decoded payload of every live version. Reads and writes take
    /// payloads from here, so a filtered graph search (which checks
    /// payloads inside the graph's lock) and a write that must log the
    /// payload it replaces touch no disk and parse no JSON; `payloads.log`
    /// is read only when the collection opens.
    payloads: FxHashMap<u32, Payload>,
    /// Live versions whose record in `payloads.log` could not be read when
    /// the collection opened, with the error: reading such a payload fails
    /// with it (as reading the damaged record would), and a write that
    /// replaces or deletes the version clears it.
    damaged_payloads: FxHashMap<u32, (std::path::PathBuf, String)>,
    /// Per sparse vector (slot order): the vectors of the live versions
    /// that have one, and their inverted index.
    sparse: Vec<SparseState>,
    /// Sequence number of the last published write.
    last_seq: u64,
}

/// The live sparse vectors of one name, and their index.
#[derive(Default)]
struct SparseState {
    vectors: FxHashMap<u32, SparseVector>,
    index: SparseIndex,
}

impl SparseState {
    fn insert(&mut self, internal: u32, vector: SparseVector) {
        if let Some(old) = self.vectors.remove(&internal) {
            self.index.remove(internal, &old);
        }
        self.index.insert(internal, &vector);
        self.vectors.insert(internal, vector);
    }

    fn remove(&mut self, internal: u32) {
        if let Some(old) = self.vectors.remove(&internal) {
            self.index.remove(internal, &old);
        }
    }
}

impl State {
    /// An empty state at sequence number `last_seq`, for `sparse` sparse
    /// vectors.
    fn new(last_seq: u64, sparse: usize) -> State {
        State {
            sparse: (0..sparse).map(|_| SparseState::default()).collect(),
            by_id: BTreeMap::new(),
            ids: Vec::new(),
            live: RoaringBitmap::new(),
            indexes: PayloadIndexes::new(),
            payloads: FxHashMap::default(),
            damaged_payloads: FxHashMap::default(),
            last_seq,
        }
    }

    /// The payload of live version `internal`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if its record was damaged when the collection
    /// opened.
    fn payload(&self, internal: u32) -> Result<&Payload> {
        if let Some(payload) = self.payloads.get(&internal) {
            return Ok(payload);
        }
        match self.damaged_payloads.get(&internal) {
            Some((path, detail)) => Err(Error::Corrupt {
                path: path.clone(),
                detail: detail.clone(),
            }),
            None => Err(Error::Internal(format!(
                "live internal id {internal} has no payload"
            ))),
        }
    }

    /// Forgets the payload of version `internal`, read or damaged.
    fn forget_payload(&mut self, internal: u32) {
        self.payloads.remove(&internal);
        self.damaged_payloads.remove(&internal);
    }

    fn point_id(&self, internal: u32) -> Option<PointId> {
        self.ids.get(internal as usize).copied().flatten()
    }

    fn set_point_id(&mut self, internal: u32, id: Option<PointId>) {
        let i = internal as usize;
        if self.ids.len() <= i {
            self.ids.resize(i + 1, None);
        }
        self.ids[i] = id;
    }
}

impl Collection {
    /// Create a new collection in `dir` (which must not hold one).
    pub(crate) fn create(
        dir: &Path,
        name: &str,
        config: CollectionConfig,
        lock: Arc<File>,
    ) -> Result<Collection> {
        crate::file::atomic::create_dir_all_durable(dir).map_err(|e| Error::io(dir, e))?;
        let stored = StoredConfig {
            config,
            payload_indexes: Vec::new(),
        };
        stored.write(dir)?;
        Self::open_stored(dir, name, stored, lock, true)
    }

    /// Open the collection in `dir`, recovering from a crash.
    pub(crate) fn open(dir: &Path, name: &str, lock: Arc<File>) -> Result<Collection> {
        let stored = StoredConfig::read(dir)?;
        Self::open_stored(dir, name, stored, lock, false)
    }

    fn open_stored(
        dir: &Path,
        name: &str,
        stored: StoredConfig,
        lock: Arc<File>,
        creating: bool,
    ) -> Result<Collection> {
        let checkpoint_bytes = stored.config.checkpoint_log_bytes;
        let parts = recovery::recover_with(dir, &stored, creating)?;
        let report = &parts.report;
        tracing::debug!(
            collection = name,
            logged_ops = report.logged_ops,
            graph_replayed = ?report.graph_replayed,
            indexes_replayed = ?report.indexes_replayed,
            "opened (replayed = operations applied on top of a checkpoint; none = rebuilt)"
        );
        let collection = Collection {
            name: name.to_owned(),
            dir: dir.to_owned(),
            config: stored.config.clone(),
            checkpoint_bytes,
            writer: Mutex::new(parts.writer),
            upserts: group::UpsertQueue::default(),
            state: RwLock::new(parts.state),
            dense: parts.dense,
            sparse: fields::sparse_slots(&stored.config),
            schema: fields::log_schema(&stored.config),
            payloads: RwLock::new(parts.payloads),
            sparse_store: parts.sparse_store.map(RwLock::new),
            deleted: AtomicBool::new(false),
            repaired: parts.report.damaged.clone(),
            _lock: lock,
        };
        if parts.needs_checkpoint {
            let mut writer = collection.writer.lock();
            match collection.checkpoint(&mut writer) {
                Ok(()) => {}
                // Only a speed-up for the next open: the log still holds
                // every write, and a full disk must not keep the data from
                // being read (or space from being freed through it).
                Err(Error::Io { path, source })
                    if source.kind() == std::io::ErrorKind::StorageFull =>
                {
                    tracing::warn!(collection = name, path = %path.display(), error = %source, "no room for the checkpoint after recovery; the next open replays the log again");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(collection)
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checkpoint files (graph, id map, payload indexes, the payload
    /// store's snapshot) that failed their checksum or format check, or
    /// were missing although the collection had checkpointed, when this
    /// collection opened: one line each, starting with the file's name and
    /// giving the cause. Each was rebuilt from the stores and the log, and
    /// checkpointed anew, so the collection is whole; the damage itself
    /// points at the disk. Empty when everything loaded. A crash never
    /// causes this: those files are replaced atomically, and all are
    /// written before the log records the checkpoint.
    pub fn repaired_on_open(&self) -> &[String] {
        &self.repaired
    }

    /// The collection's configuration.
    pub fn config(&self) -> CollectionConfig {
        self.config.clone()
    }

    /// Called by the database when the collection is deleted: waits for a
    /// write in flight, then turns every later call into `CollectionNotFound`.
    pub(crate) fn mark_deleted(&self) {
        let _writer = self.writer.lock();
        self.deleted.store(true, Ordering::SeqCst);
    }

    fn check_open(&self) -> Result<()> {
        if self.deleted.load(Ordering::SeqCst) {
            return Err(Error::CollectionNotFound {
                name: self.name.clone(),
            });
        }
        Ok(())
    }

    fn io_err(&self, file: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        let path = self.dir.join(file);
        move |e| Error::io(path, e)
    }

    fn corrupt(&self, file: &str, detail: String) -> Error {
        Error::Corrupt {
            path: self.dir.join(file),
            detail,
        }
    }
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for Collection {
    /// Best effort: checkpoint if no write is in flight, so the next open
    /// replays nothing. Never blocks on a lock, never panics.
    fn drop(&mut self) {
        if self.deleted.load(Ordering::SeqCst) {
            return;
        }
        let Some(mut writer) = self.writer.try_lock() else {
            return;
        };
        if writer.broken.is_some() || writer.checkpointed == Some(writer.log.last_seq()) {
            return;
        }
        if let Err(err) = self.checkpoint(&mut writer) {
            tracing::warn!(collection = %self.name, error = %err, "checkpoint on close failed; the next open replays the log");
        }
    }
}

/// The payload-store record of a point version, `{"id":..,"payload":..}`,
/// around the payload's JSON text `payload_json`: the bytes
/// `serde_json::to_vec` writes for that object, without serialising the
/// payload again.
fn stored_record(id: &PointId, payload_json: &[u8]) -> io::Result<Vec<u8>> {
    let id_json =
        serde_json::to_vec(id).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut record = Vec::with_capacity(payload_json.len() + id_json.len() + 18);
    record.extend_from_slice(b"{\"id\":");
    record.extend_from_slice(&id_json);
    record.extend_from_slice(b",\"payload\":");
    record.extend_from_slice(payload_json);
    record.push(b'}');
    Ok(record)
}

fn decode_stored(value: Value) -> std::result::Result<(PointId, Payload), String> {
    let Value::Object(mut record) = value else {
        return Err("payload record is not an object".into());
    };
    let id = record
        .remove("id")
        .ok_or("payload record has no id")
        .and_then(|v| {
            serde_json::from_value::<PointId>(v).map_err(|_| "payload record has a bad id")
        })?;
    match record.remove("payload") {
        Some(Value::Object(p)) => Ok((id, p)),
        _ => Err(format!(
            "payload record of point {id} has no payload object"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record the payload store held before records were built from
    /// pre-serialised payloads: a JSON object of the id and the payload.
    fn record_as_a_value(id: &PointId, payload: &Payload) -> Vec<u8> {
        let mut record = serde_json::Map::new();
        record.insert("id".into(), serde_json::json!(id));
        record.insert("payload".into(), Value::Object(payload.clone()));
        serde_json::to_vec(&Value::Object(record)).unwrap()
    }

    #[test]
    fn stored_record_is_the_bytes_of_the_record_object() {
        let payloads = [
            serde_json::json!({}),
            serde_json::json!({"z": 1, "a": [1.5, -0.0, 1e300, null], "id": "x"}),
            serde_json::json!({"s": "quote \" backslash \\ tab \t \u{1} é 日本", "n": {"deep": {"er": true}}}),
            serde_json::json!({"f": 0.1, "i": -9_223_372_036_854_775_808_i64, "u": u64::MAX}),
        ];
        let ids = [
            PointId::Num(0),
            PointId::Num(u64::MAX),
            PointId::Uuid(uuid::Uuid::from_u128(
                0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
            )),
        ];
        for p in &payloads {
            let payload = p.as_object().unwrap();
            let json = serde_json::to_vec(payload).unwrap();
            for id in &ids {
                let record = stored_record(id, &json).unwrap();
                assert_eq!(record, record_as_a_value(id, payload));
                let value: Value = serde_json::from_slice(&record).unwrap();
                assert_eq!(decode_stored(value).unwrap(), (*id, payload.clone()));
            }
        }
    }
}
