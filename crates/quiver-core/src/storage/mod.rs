//! Crash-safe storage: memory-mapped vectors with a write-ahead log, and a
//! log-structured JSON payload store.
//!
//! The contract is `spec/storage.md`; this module implements it as follows.
//!
//! ```
//! use quiver_core::storage::{MmapStorage, VectorStorage};
//! # fn main() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let mut store = MmapStorage::new(dir.path(), 3)?;
//! store.store(7, &[1.0, 2.0, 3.0])?;
//! store.flush()?; // durable from here on
//! drop(store);
//! let store = MmapStorage::new(dir.path(), 3)?;
//! assert_eq!(store.retrieve(7)?, Some(vec![1.0, 2.0, 3.0]));
//! assert_eq!(&*store.retrieve_ref(7)?.expect("stored above"), &[1.0, 2.0, 3.0]);
//! # Ok(()) }
//! ```
//!
//! | file | role |
//! |---|---|
//! | `mmap.rs` | [`MmapStorage`]: `vectors.dat` (mapped), `vectors.idx` (checkpoint), `vectors.wal`; owns the store's state, which other files see only through its `Slots` view |
//! | `guard.rs` | [`VectorSliceGuard`]: a zero-copy view that pins the mapping |
//! | `wal.rs` | the record layout (store / delete frames) shared by `vectors.wal` and `payloads.log` |
//! | `checkpoint.rs` | the `vectors.idx` codec |
//! | `verify.rs` | [`MmapStorage::verify`]: every vector against its CRC |
//! | `compaction.rs` | rewriting `vectors.dat` and the open-time repair of an interrupted rewrite |
//! | `payload_log.rs` | [`LogPayloadStorage`]: `payloads.log` + `payloads.idx` snapshot |
//! | `metrics.rs` | [`StorageMetrics`]: growth latency and resize counters |
//!
//! The file mechanics underneath (atomic replacement, the paired rewrite
//! with `.bak` repair that compaction and the payload log share, the
//! framed-log reader and writer, the bounds-checked decoder, hole punching,
//! crash points) live in the crate's `file` module, below storage. The
//! crash points are re-exported here as `storage::fault` for the crash
//! tests (hidden from the docs).
//!
//! # Invariants
//!
//! - Write-ahead: every change reaches `vectors.wal` (the OS, via `write`)
//!   before the mapped data or the in-memory index changes, so a killed
//!   process replays to a state that contains every change whose frame was
//!   written and no torn vector.
//! - `vectors.idx` and `payloads.idx` are only ever replaced atomically;
//!   they describe data that was synced before they were renamed in.
//! - The mapping of `vectors.dat` is replaced only under the write lock of
//!   `MmapStorage`'s map; a [`VectorSliceGuard`] holds the read lock.
//! - Lock order when both are held: WAL mutex, then the map lock.
//!
//! # What is durable when a call returns
//!
//! - `store` / `store_batch` / `delete`: the WAL frame is in the OS (survives
//!   the process being killed, not a power loss) in `Fsync` and `FlushOnly`
//!   mode; nothing is durable in `None` mode.
//! - `flush` in `Fsync` mode: everything earlier survives a power loss. The
//!   steps are: fsync the WAL (the commit point), msync the map, replace
//!   `vectors.idx` atomically, empty the WAL, release the blocks of deleted
//!   slots. `FlushOnly` does the same work without the fsyncs. In `None`
//!   mode `flush` only msyncs; `flush_full` also writes the index.
//! - `compact`: the old or the new file, never a mix, at every instant; the
//!   result is fsynced in every mode.
//! - `LogPayloadStorage::store` / `delete`: the record is in the OS (one
//!   `write`) in every mode. `flush` and `checkpoint` fsync the log (and
//!   `checkpoint` then replaces `payloads.idx` atomically) in `Fsync` and
//!   `None` mode; in `FlushOnly` mode they skip the fsyncs.
//! - `Drop`: a best-effort checkpoint, never a commit point.
//!
//! Overwrites are in place, as the contract asks. A killed process can never
//! expose a torn vector (the frame reaches the OS before the map changes),
//! but after a power loss an overwrite that no `flush` covered yet may be
//! read back part old, part new if its frame did not reach the disk before
//! the kernel wrote the data page back.
//!
//! # Concurrency
//!
//! Writers take `&mut self`; readers (`retrieve`, `retrieve_ref`,
//! `for_each_vector`) take `&self` and the map's read lock. A caller that
//! shares a store wraps it in a `RwLock`; `compact` then runs under the
//! write side, so reads wait for it rather than running beside it.
mod checkpoint;
mod compaction;
mod guard;
mod metrics;
mod mmap;
mod payload_log;
mod verify;
mod wal;

use std::io;

/// The named crash points the crash tests arm (feature `fault-injection`;
/// without it [`fault::arm_process`] reports that none exist).
pub use crate::file::fault;

pub use compaction::CompactionPlan;
pub use guard::VectorSliceGuard;
pub use metrics::{LatencyStats, StorageMetrics};
pub use mmap::MmapStorage;
pub use payload_log::LogPayloadStorage;
pub use verify::{BadVector, VerifyReport};

// The decoders of the stores' files, for the fuzz targets (see `crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) use checkpoint::{decode as decode_vector_index, encode as encode_vector_index};
#[cfg(feature = "fuzzing")]
pub(crate) use payload_log::snapshot_round_trip;
#[cfg(feature = "fuzzing")]
pub(crate) use wal::{Frame as RecordFrame, encode_delete, encode_store, reader as record_reader};

/// Largest vector dimension the store accepts.
pub(crate) const MAX_DIMENSION: usize = 65_536;

/// How hard writes are pushed to disk. One meaning for every store:
///
/// | mode | each write | `flush` / `checkpoint` / `flush_full` / `compact` |
/// |---|---|---|
/// | `Fsync` | logged (reaches the OS) | fsynced: survives a power loss |
/// | `FlushOnly` | logged (reaches the OS) | written to the OS, never fsynced: survives a killed process, not a power loss |
/// | `None` | not logged by the vector store (the caller keeps its own log); the payload log is still written, since it is the only copy | fsynced, like `Fsync` |
///
/// `None` is for a caller that logs every change itself (a collection's
/// `ops.log`) or can re-derive the data (a bulk load): it may cut its own
/// log only after a store's checkpoint returned, and that checkpoint is on
/// stable storage when it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DurabilityMode {
    /// Every change is logged; `flush` fsyncs the log, the data and the
    /// checkpoint. Acknowledged data survives a power loss.
    #[default]
    Fsync,
    /// Every change is logged and `flush` writes everything to the OS, but
    /// skips the fsyncs: survives the process being killed, not a power loss.
    FlushOnly,
    /// No write-ahead log of the vector store's own: for callers that log
    /// every change themselves, or bulk loads whose data can be re-derived.
    /// State becomes durable at `flush_full` (vectors) or `checkpoint`
    /// (payloads), which fsync.
    None,
}

impl DurabilityMode {
    /// Whether durability points (flush, checkpoint, compaction) fsync.
    pub(crate) fn syncs(self) -> bool {
        self != DurabilityMode::FlushOnly
    }
}

/// A store of fixed-dimension `f32` vectors keyed by `u64` ids.
pub trait VectorStorage: Send + Sync {
    /// Store `v` under `id`, replacing any earlier vector of that id.
    ///
    /// # Errors
    /// `InvalidInput` if `v.len()` is not the store's dimension; I/O errors.
    fn store(&mut self, id: u64, v: &[f32]) -> io::Result<()>;
    /// Store many vectors; validated as a whole before anything is written.
    /// Returns the number of items stored (`items.len()`).
    ///
    /// # Errors
    /// `InvalidInput` (and nothing written) if any vector has the wrong length.
    fn store_batch(&mut self, items: &[(u64, &[f32])]) -> io::Result<usize>;
    /// A copy of the vector of `id`, or `None`.
    ///
    /// # Errors
    /// `InvalidData` if the index points outside the data file.
    fn retrieve(&self, id: u64) -> io::Result<Option<Vec<f32>>>;
    /// Remove `id`; removing a missing id is not an error.
    ///
    /// # Errors
    /// I/O errors writing the log.
    fn delete(&mut self, id: u64) -> io::Result<()>;
    /// The durability barrier: see [`DurabilityMode`].
    ///
    /// # Errors
    /// I/O errors; the earlier state is still intact on disk.
    fn flush(&mut self) -> io::Result<()>;
    /// Number of live vectors.
    fn len(&self) -> usize;
    /// True when no vector is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The live ids, ascending.
    fn ids(&self) -> Vec<u64>;
}

/// A store of JSON payloads keyed by `u64` ids.
pub trait PayloadStorage: Send + Sync {
    /// Store `payload` under `id`, replacing any earlier one.
    ///
    /// # Errors
    /// I/O errors writing the log.
    fn store(&mut self, id: u64, payload: &serde_json::Value) -> io::Result<()>;
    /// The payload of `id`, or `None`.
    ///
    /// # Errors
    /// `InvalidData` if the record on disk is corrupt.
    fn retrieve(&self, id: u64) -> io::Result<Option<serde_json::Value>>;
    /// Remove `id`; removing a missing id is not an error.
    ///
    /// # Errors
    /// I/O errors writing the log.
    fn delete(&mut self, id: u64) -> io::Result<()>;
    /// Push every earlier change to disk according to the durability mode.
    ///
    /// # Errors
    /// I/O errors.
    fn flush(&mut self) -> io::Result<()>;
    /// The live ids, ascending.
    fn ids(&self) -> Vec<u64>;
}

/// `InvalidInput` for a caller mistake.
pub(crate) fn invalid_input(detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, detail.to_string())
}

/// Checks a dimension against the contract's bounds (1..=65 536).
pub(crate) fn check_dimension(dimension: usize) -> io::Result<()> {
    if dimension == 0 || dimension > MAX_DIMENSION {
        return Err(invalid_input(format!(
            "dimension {dimension} is out of range 1..={MAX_DIMENSION}"
        )));
    }
    Ok(())
}

/// Disk blocks (in bytes) the files `names` of `dir` occupy; a missing
/// file counts as none. Holes punched in a file do not count.
fn allocated_bytes_of(dir: &std::path::Path, names: &[&str]) -> io::Result<u64> {
    let mut total = 0;
    for name in names {
        match std::fs::metadata(dir.join(name)) {
            Ok(meta) => total += crate::file::sys::allocated_bytes(&meta),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(total)
}
