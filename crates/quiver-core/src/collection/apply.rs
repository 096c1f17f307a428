//! The one way a logged operation ([`Op`]) changes the collection.
//!
//! An operation touches five parts: the vector store, the payload store,
//! the id map (with the live set and the decoded payloads), the payload
//! indexes and the graph. Each part has one step function here, and both
//! paths run the same steps in the same order:
//!
//! - a live write ([`Collection::commit`]) logs the operation, then runs
//!   every step: [`link`] while the log syncs (see below), [`store`],
//!   the publish ([`State::apply`] = ids + indexes) under the state write
//!   lock, then [`retire_in_graph`] and [`drop_records`];
//! - recovery replays the whole log onto the stores ([`store`],
//!   [`drop_records`]), and onto each derived part only the operations
//!   after the sequence number its checkpoint covers ([`State::apply_ids`],
//!   [`apply_indexes`], [`link`] + [`retire_in_graph`]).
//!
//! # Why replay is idempotent
//!
//! Every step writes full values under internal ids the operation names:
//! [`store`] puts vectors and payload records, [`drop_records`] removes
//! records if present, [`State::apply_ids`] sets map entries. So applying
//! an operation onto a part that already holds it changes nothing, and
//! applying the log in order onto a part holding the checkpoint plus any
//! prefix of later changes ends in the state after the last operation. The
//! new and the retired ids of one operation are disjoint (new versions go
//! under ids that are not live; retired ones are live), so the order of
//! [`store`] and [`drop_records`] within an operation does not matter.
//! The payload indexes and the graph are not idempotent in that sense
//! (an index forgets by the old payload; a graph insert links anew), which
//! is why their checkpoints are tagged and only later operations replay
//! onto them. Vectors of retired versions are never dropped here: the
//! graph keeps them as deleted nodes (see `Collection::checkpoint`).
//!
//! # Linking while the log syncs
//!
//! A live upsert links its new versions into the graph while the log's
//! fsync is in flight: they sit under fresh ids that no reader can reach
//! until the publish, and if the append fails [`Collection::unlink`] turns
//! them into deleted nodes again. A link that fails after the append, or
//! any step failing after it, marks the collection broken: memory may then
//! differ from disk, and the reopen replays the log. The lock order of the
//! module doc holds: no step runs on the graph while `payloads` or
//! `vectors` is held.

use std::path::Path;

use rayon::prelude::*;

use crate::filter::PayloadIndexes;
use crate::index::hnsw::Hnsw;
use crate::storage::{LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage};
use crate::{Error, Result};

use super::oplog::{Op, OpJson, UpsertEntry};
use super::{Collection, State, Writer, stored_record};

const PAYLOADS_FILE: &str = "payloads.log";

impl Collection {
    /// Log `op` (the commit point), apply it, and checkpoint if the log is
    /// large. An error before the log append changes nothing; an error while
    /// applying marks the collection broken (the reopen replays the log).
    /// The disk room the stores need is reserved before the append, so a
    /// full disk fails the write before its commit point, never while it
    /// is applied.
    ///
    /// An upsert links its new versions into the graph while the log syncs:
    /// they sit under fresh ids that no reader can reach until `apply`
    /// publishes them, and if the append fails they are deleted again.
    /// Returns the operation's sequence number.
    pub(super) fn commit(&self, writer: &mut Writer, op: Op) -> Result<u64> {
        let dimension = self.config.dimension;
        // Each payload is serialised here once: the log frame and the
        // payload records are built from these bytes.
        let json = OpJson::encode(&op).map_err(self.io_err("ops.log"))?;
        let records = records(&op, &json).map_err(self.io_err(PAYLOADS_FILE))?;
        self.reserve_room(&op, &records)?;
        let (logged, linked) = match &op {
            Op::Upsert(entries) => writer
                .log
                .append_with(&op, &json, dimension, || link(&self.graph, entries)),
            _ => (writer.log.append(&op, &json, dimension), None),
        };
        let seq = match logged {
            Ok(seq) => seq,
            Err(err) => {
                if let (Op::Upsert(entries), Some(linked)) = (&op, linked) {
                    self.unlink(writer, entries, linked);
                }
                return Err(self.io_err("ops.log")(err));
            }
        };
        if let Some(Err(err)) = linked {
            writer.broken = Some(err.to_string());
            return Err(err);
        }
        if let Err(err) = self.apply(writer, &op, &records, seq) {
            writer.broken = Some(err.to_string());
            return Err(err);
        }
        if writer.log.len_bytes() > self.checkpoint_bytes
            && let Err(err) = self.checkpoint(writer)
        {
            // The write itself is durable in the log; only the checkpoint failed.
            tracing::warn!(collection = %self.name, error = %err, "automatic checkpoint failed");
        }
        Ok(seq)
    }

    /// Reserves the disk blocks that applying `op` writes into: the vector
    /// slots of an upsert's new versions (which [`Collection::unlink`] also
    /// uses after a failed append) and the payload `records` and deletes.
    fn reserve_room(&self, op: &Op, records: &[(u64, Vec<u8>)]) -> Result<()> {
        let deletes = match op {
            Op::Upsert(entries) => {
                let keys: Vec<u64> = entries.iter().map(|e| u64::from(e.internal)).collect();
                self.vectors
                    .write()
                    .reserve_for(&keys)
                    .map_err(self.io_err("vectors.dat"))?;
                entries.iter().filter(|e| e.replaced.is_some()).count()
            }
            Op::Delete(entries) => entries.len(),
            Op::SetPayload(_) => 0,
        };
        self.payloads
            .write()
            .reserve_for(records.iter().map(|(_, r)| r.len()), deletes)
            .map_err(self.io_err(PAYLOADS_FILE))
    }

    /// Takes back [`link`] after the upsert failed to log, so
    /// the graph holds no version that was never committed. The ids become
    /// deleted graph nodes, held like retired ones, and like theirs their
    /// vectors go into the store, where the graph checkpoint finds every
    /// node's vector.
    fn unlink(&self, writer: &mut Writer, entries: &[UpsertEntry], linked: Result<()>) {
        if let Err(err) = linked {
            // A half-linked graph cannot be trusted; the reopen rebuilds it.
            writer.broken = Some(err.to_string());
            return;
        }
        let ids: rustc_hash::FxHashSet<u32> = entries.iter().map(|e| e.internal).collect();
        for &id in &ids {
            self.graph.delete(id);
        }
        let items: Vec<(u64, &[f32])> = entries
            .iter()
            .map(|e| (u64::from(e.internal), e.vector.as_slice()))
            .collect();
        if let Err(err) = self.vectors.write().store_batch(&items) {
            // The graph now holds nodes without a stored vector.
            writer.broken = Some(format!("vectors.dat: {err}"));
        }
        writer.free.retain(|i| !ids.contains(i));
        if let Some(&top) = ids.iter().max() {
            writer.next_internal = writer.next_internal.max(top + 1);
        }
        writer.held.extend(ids);
    }

    /// Runs every step of a logged `op` but the graph links (done by
    /// `commit` while the log synced).
    fn apply(
        &self,
        writer: &mut Writer,
        op: &Op,
        records: &[(u64, Vec<u8>)],
        seq: u64,
    ) -> Result<()> {
        {
            // New versions under fresh ids: invisible until published.
            // Readers take payloads from the state, so the stores change
            // before it.
            let mut payloads = self.payloads.write();
            let mut vectors = self.vectors.write();
            store(&self.dir, &mut vectors, &mut payloads, op, records)?;
        }
        if let Op::Upsert(entries) = op {
            for e in entries {
                writer.next_internal = writer.next_internal.max(e.internal + 1);
            }
            let used: rustc_hash::FxHashSet<u32> = entries.iter().map(|e| e.internal).collect();
            writer.free.retain(|i| !used.contains(i));
        }
        self.state.write().apply(op, seq);
        let retired = retire_in_graph(&self.graph, op);
        drop_records(&self.dir, &mut self.payloads.write(), op)?;
        // The vectors stay in the store while the graph keeps the retired
        // ids as deleted routing nodes: the graph checkpoint takes every
        // node's vector from there. A checkpoint drops the ones the graph
        // no longer holds.
        writer.held.extend(retired);
        Ok(())
    }
}

/// The internal ids `op` retires: replaced and deleted versions.
fn retired(op: &Op) -> Vec<u32> {
    match op {
        Op::Upsert(entries) => entries
            .iter()
            .filter_map(|e| e.replaced.as_ref().map(|(old, _)| *old))
            .collect(),
        Op::Delete(entries) => entries.iter().map(|e| e.internal).collect(),
        Op::SetPayload(_) => Vec::new(),
    }
}

/// The payload-store records `op` writes, keyed by internal id: the new
/// versions of an upsert, the new payloads of a set-payload. `json` is
/// [`OpJson::encode`] of `op`.
pub(super) fn records(op: &Op, json: &OpJson) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
    let entries = json.entries();
    match op {
        Op::Upsert(ops) => ops
            .iter()
            .zip(entries)
            .map(|(e, j)| Ok((u64::from(e.internal), stored_record(&e.id, &j.payload)?)))
            .collect(),
        Op::Delete(_) => Ok(Vec::new()),
        Op::SetPayload(ops) => ops
            .iter()
            .zip(entries)
            .map(|(e, j)| Ok((u64::from(e.internal), stored_record(&e.id, &j.payload)?)))
            .collect(),
    }
}

/// Stores what `op` writes: the vectors of new versions, and the payload
/// `records` ([`records`] of `op`).
/// `dir` is the collection's, for errors.
pub(super) fn store(
    dir: &Path,
    vectors: &mut MmapStorage,
    payloads: &mut LogPayloadStorage,
    op: &Op,
    records: &[(u64, Vec<u8>)],
) -> Result<()> {
    if let Op::Upsert(entries) = op {
        let items: Vec<(u64, &[f32])> = entries
            .iter()
            .map(|e| (u64::from(e.internal), e.vector.as_slice()))
            .collect();
        vectors
            .store_batch(&items)
            .map_err(|e| Error::io(dir.join("vectors.dat"), e))?;
    }
    for (internal, record) in records {
        payloads
            .store_encoded(*internal, record)
            .map_err(|e| Error::io(dir.join(PAYLOADS_FILE), e))?;
    }
    Ok(())
}

/// Removes the payload records of the versions `op` retires.
pub(super) fn drop_records(dir: &Path, payloads: &mut LogPayloadStorage, op: &Op) -> Result<()> {
    for old in retired(op) {
        payloads
            .delete(u64::from(old))
            .map_err(|e| Error::io(dir.join(PAYLOADS_FILE), e))?;
    }
    Ok(())
}

/// Links the new versions of an upsert into the graph (all cores).
pub(super) fn link(graph: &Hnsw, entries: &[UpsertEntry]) -> Result<()> {
    entries
        .par_iter()
        .try_for_each(|e| graph.insert(e.internal, &e.vector))
}

/// Turns the versions `op` retires into deleted graph nodes; returns them.
pub(super) fn retire_in_graph(graph: &Hnsw, op: &Op) -> Vec<u32> {
    let retired = retired(op);
    for &old in &retired {
        graph.delete(old);
    }
    retired
}

/// Replays `op` onto a graph checkpoint that does not cover it.
pub(super) fn replay_graph(graph: &Hnsw, op: &Op) -> Result<()> {
    if let Op::Upsert(entries) = op {
        link(graph, entries)?;
    }
    retire_in_graph(graph, op);
    Ok(())
}

/// Makes the payload indexes forget the old payloads `op` replaces and
/// learn the new ones.
pub(super) fn apply_indexes(indexes: &mut PayloadIndexes, op: &Op) {
    match op {
        Op::Upsert(entries) => {
            for e in entries {
                if let Some((old, payload)) = &e.replaced {
                    indexes.remove(*old, payload);
                }
                indexes.insert(e.internal, &e.payload);
            }
        }
        Op::Delete(entries) => {
            for e in entries {
                indexes.remove(e.internal, &e.payload);
            }
        }
        Op::SetPayload(entries) => {
            for e in entries {
                indexes.remove(e.internal, &e.old);
                indexes.insert(e.internal, &e.new);
            }
        }
    }
}

impl State {
    /// Publishes a logged write: id map, live set, decoded payloads and
    /// payload indexes.
    pub(super) fn apply(&mut self, op: &Op, seq: u64) {
        self.apply_ids(op, seq);
        apply_indexes(&mut self.indexes, op);
    }

    /// [`State::apply`] without the payload indexes.
    pub(super) fn apply_ids(&mut self, op: &Op, seq: u64) {
        match op {
            Op::Upsert(entries) => {
                for e in entries {
                    if let Some((old, _)) = &e.replaced {
                        self.live.remove(*old);
                        self.set_point_id(*old, None);
                        self.forget_payload(*old);
                    }
                    self.by_id.insert(e.id, e.internal);
                    self.set_point_id(e.internal, Some(e.id));
                    self.live.insert(e.internal);
                    self.payloads.insert(e.internal, e.payload.clone());
                }
            }
            Op::Delete(entries) => {
                for e in entries {
                    self.live.remove(e.internal);
                    self.set_point_id(e.internal, None);
                    if self.by_id.get(&e.id) == Some(&e.internal) {
                        self.by_id.remove(&e.id);
                    }
                    self.forget_payload(e.internal);
                }
            }
            Op::SetPayload(entries) => {
                for e in entries {
                    self.damaged_payloads.remove(&e.internal);
                    self.payloads.insert(e.internal, e.new.clone());
                }
            }
        }
        self.last_seq = seq;
    }
}
