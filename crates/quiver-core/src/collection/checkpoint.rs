//! Checkpoints and compaction.
//!
//! See step 3 of the durability argument in the module doc of
//! `collection`: a checkpoint saves the graph tagged with the last
//! sequence number, makes the stores durable, saves the id map and the
//! payload indexes with the same tag, and only then replaces the log.

use std::fs;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;

use crate::Result;
use crate::file::atomic::sync_dir;
use crate::file::fault::crash_point;
use parking_lot::RwLock;

use crate::storage::{LogPayloadStorage, VectorStorage};

use super::apply::sparse_file;
use super::fields::DenseField;
use super::id_map;
use super::{Collection, Writer};

pub(super) const OPLOG_FILE: &str = "ops.log";
pub(super) const GRAPH_FILE: &str = "hnsw.graph";
pub(super) const ID_MAP_FILE: &str = "ids.map";
pub(super) const PAYLOAD_INDEX_PREFIX: &str = "payload_index.";
pub(super) const DATA_FILE: &str = "vectors.dat";
pub(super) const VECTOR_INDEX_FILE: &str = "vectors.idx";
pub(super) const SNAPSHOT_FILE: &str = "payloads.idx";

/// Payload index checkpoints in `dir`, newest first, as (sequence, path).
pub(super) fn index_checkpoints(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let seq = name
                .to_str()?
                .strip_prefix(PAYLOAD_INDEX_PREFIX)?
                .parse()
                .ok()?;
            Some((seq, e.path()))
        })
        .collect();
    found.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    found
}

impl Collection {
    /// Make everything durable and fast to reopen: a checkpoint of the
    /// stores, the graph and the payload indexes, after which the operation
    /// log is empty. Every earlier write survives a power loss when it
    /// returns, in every durability mode.
    ///
    /// # Errors
    /// I/O errors; the log then still holds every write.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        self.checkpoint(&mut writer)
    }

    /// Reclaim the space of deleted and replaced points in the vector and
    /// payload files (after a checkpoint). Searches keep running; writes
    /// wait.
    ///
    /// # Errors
    /// I/O errors; the files are then the old ones, intact.
    pub fn compact(&self) -> Result<()> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        self.checkpoint(&mut writer)?;
        let mut reclaimed_vectors = 0;
        for field in &self.dense {
            reclaimed_vectors += field
                .vectors
                .write()
                .compact()
                .map_err(self.io_err(&field.file(DATA_FILE)))?;
        }
        let mut reclaimed_payloads = self
            .payloads
            .write()
            .compact()
            .map_err(self.io_err("payloads.log"))?;
        if let Some(store) = &self.sparse_store {
            reclaimed_payloads += store
                .write()
                .compact()
                .map_err(self.io_err(&sparse_file()))?;
        }
        tracing::debug!(collection = %self.name, reclaimed_vectors, reclaimed_payloads, "compacted");
        Ok(())
    }

    /// The checkpoint of the durability argument (steps in order).
    pub(super) fn checkpoint(&self, writer: &mut Writer) -> Result<()> {
        let seq = writer.log.last_seq();
        if writer.checkpointed == Some(seq) {
            return Ok(());
        }
        // A graph file takes its vectors from its vectors.dat, so it goes
        // first, and only vectors it does not hold are dropped after it.
        // Until the new file replaces it, the old graph file is the one on
        // disk, and the stores on disk are the old checkpoint plus the log,
        // which still hold every vector it needs (replay deletes none).
        for field in &self.dense {
            let file = field.file(GRAPH_FILE);
            field
                .graph
                .save_without_vectors(&self.dir.join(&file), seq)
                .map_err(self.io_err(&file))?;
        }
        crash_point("checkpoint:after_graph").map_err(self.io_err(GRAPH_FILE))?;
        let live = self.state.read().live.clone();
        for field in &self.dense {
            // Only writers change the stores and the graphs, and this one
            // holds the writer lock: the list stays true until it is used.
            let held: RoaringBitmap = field.graph.node_ids().into_iter().collect();
            let stored = field.vectors.read().ids();
            let dropped: Vec<u64> = stored
                .into_iter()
                .filter(|&key| {
                    u32::try_from(key).map_or(true, |i| !live.contains(i) && !held.contains(i))
                })
                .collect();
            let data = field.file(DATA_FILE);
            let mut vectors = field.vectors.write();
            for key in dropped {
                vectors.delete(key).map_err(self.io_err(&data))?;
            }
            vectors.flush_full().map_err(self.io_err(&data))?;
        }
        self.payloads
            .write()
            .checkpoint()
            .map_err(self.io_err("payloads.log"))?;
        if let Some(store) = &self.sparse_store {
            store
                .write()
                .checkpoint()
                .map_err(self.io_err(&sparse_file()))?;
        }
        crash_point("checkpoint:after_stores").map_err(self.io_err("payloads.log"))?;
        let old_indexes = index_checkpoints(&self.dir);
        {
            let state = self.state.read();
            id_map::save(&self.dir.join(ID_MAP_FILE), seq, &state.ids)
                .map_err(self.io_err(ID_MAP_FILE))?;
            if !writer.fields.is_empty() {
                let name = format!("{PAYLOAD_INDEX_PREFIX}{seq}");
                state
                    .indexes
                    .save(&self.dir.join(&name))
                    .map_err(self.io_err(&name))?;
            }
        }
        crash_point("checkpoint:after_id_map").map_err(self.io_err(ID_MAP_FILE))?;
        writer.log.rotate(seq).map_err(self.io_err(OPLOG_FILE))?;
        crash_point("checkpoint:after_log_rotate").map_err(self.io_err(OPLOG_FILE))?;
        // Older index checkpoints are now stale (outside the log): remove.
        let mut removed = false;
        for (old, path) in old_indexes {
            if old != seq || writer.fields.is_empty() {
                if let Err(err) = fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %err, "could not remove a stale checkpoint");
                }
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.dir).map_err(self.io_err("."))?;
        }
        writer.checkpointed = Some(seq);
        for field in &self.dense {
            self.reclaim_vector_space(field);
        }
        self.reclaim_payload_space(&self.payloads, "payloads.log");
        if let Some(store) = &self.sparse_store {
            self.reclaim_payload_space(store, &sparse_file());
        }
        Ok(())
    }

    /// Rewrites `vectors.dat` once most of its used part is dead slots.
    /// Every new point version (an upsert of an existing point included)
    /// takes the next slot, and the holes punched into dead slots release
    /// no disk while a slot is smaller than a filesystem block, so a
    /// collection under churn would grow its vector file (and the page
    /// cache mapped from it) without bound until an explicit
    /// [`Collection::compact`]. The live vectors are copied while readers
    /// go on (the caller holds the writer lock, so the store cannot change
    /// before the swap); rewriting only when the dead bytes exceed the live
    /// ones keeps the cost proportional to what was written. A failure
    /// leaves the old files intact and is only logged.
    fn reclaim_vector_space(&self, field: &DenseField) {
        let file = field.file(DATA_FILE);
        let plan = {
            let vectors = field.vectors.read();
            if vectors.dead_bytes() < VECTOR_RECLAIM_MIN_DEAD_BYTES
                || vectors.fragmentation_ratio() < 0.5
            {
                return;
            }
            match vectors.prepare_compaction() {
                Ok(Some(plan)) => plan,
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(collection = %self.name, file, error = %err, "a vector file could not be rewritten; it keeps its dead slots");
                    return;
                }
            }
        };
        match field.vectors.write().finish_compaction(plan) {
            Ok(reclaimed) => {
                tracing::debug!(collection = %self.name, file, reclaimed, "vector file rewritten")
            }
            Err(err) => {
                tracing::warn!(collection = %self.name, file, error = %err, "a vector file could not be rewritten; it keeps its dead slots")
            }
        }
    }

    /// Rewrites `payloads.log` once most of it is dead records (replaced
    /// and deleted payloads): the log only grows otherwise, and a
    /// collection under churn would take disk without bound until an
    /// explicit [`Collection::compact`]. Rewriting only when the dead bytes
    /// exceed the live ones keeps the cost proportional to what was
    /// written. A failure leaves the old files intact (the store's
    /// compaction contract) and is only logged: the checkpoint is done.
    fn reclaim_payload_space(&self, store: &RwLock<LogPayloadStorage>, file: &str) {
        let mut payloads = store.write();
        let dead = payloads.dead_bytes();
        let on_disk = match payloads.disk_bytes() {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(collection = %self.name, file, error = %err, "could not size a record log");
                return;
            }
        };
        if dead < PAYLOAD_RECLAIM_MIN_DEAD_BYTES || dead.saturating_mul(2) < on_disk {
            return;
        }
        match payloads.compact() {
            Ok(reclaimed) => {
                tracing::debug!(collection = %self.name, file, reclaimed, "record log rewritten")
            }
            Err(err) => {
                tracing::warn!(collection = %self.name, file, error = %err, "a record log could not be rewritten; it keeps its dead records")
            }
        }
    }
}

/// Dead bytes below which `vectors.dat` is never rewritten automatically.
const VECTOR_RECLAIM_MIN_DEAD_BYTES: u64 = 1 << 20;

/// Dead bytes below which `payloads.log` is never rewritten automatically.
const PAYLOAD_RECLAIM_MIN_DEAD_BYTES: u64 = 1 << 20;
