//! The one way a logged operation ([`Op`]) changes the collection.
//!
//! An operation touches these parts: the vector store of each dense
//! vector, the payload store, the sparse vector store, the id map (with
//! the live set, the decoded payloads and the sparse indexes), the payload
//! indexes and the graph of each dense vector. Each part has one step function here, and both
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
use rustc_hash::FxHashSet;

use crate::filter::PayloadIndexes;
use crate::index::hnsw::Hnsw;
use crate::storage::{LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage};
use crate::{Error, Result};

use super::fields::{DenseField, SPARSE_DIR, rel_file};
use super::oplog::{Op, OpJson, UpsertEntry};
use super::{Collection, State, Writer, stored_record};

const PAYLOADS_FILE: &str = "payloads.log";

/// The records an operation writes, each serialised once: the payload
/// records and the sparse vector records, keyed by internal id.
pub(super) struct Records {
    pub(super) payloads: Vec<(u64, Vec<u8>)>,
    /// One per new version of an upsert (`None`: it has no sparse vector).
    pub(super) sparse: Vec<(u64, Option<Vec<u8>>)>,
}

impl Collection {
    /// Log `op` (the commit point), apply it, and checkpoint if the log is
    /// large. An error before the log append changes nothing; an error while
    /// applying marks the collection broken (the reopen replays the log).
    /// The disk room the stores need is reserved before the append, so a
    /// full disk fails the write before its commit point, never while it
    /// is applied.
    ///
    /// An upsert links its new versions into the graphs while the log syncs:
    /// they sit under fresh ids that no reader can reach until `apply`
    /// publishes them, and if the append fails they are deleted again.
    /// Returns the operation's sequence number.
    pub(super) fn commit(&self, writer: &mut Writer, op: Op) -> Result<u64> {
        // Each payload is serialised here once: the log frame and the
        // payload records are built from these bytes.
        let json = OpJson::encode(&op).map_err(self.io_err("ops.log"))?;
        let records = records(&op, &json, &self.sparse).map_err(self.io_err(PAYLOADS_FILE))?;
        self.reserve_room(&op, &records)?;
        let (logged, linked) = match &op {
            Op::Upsert(entries) => writer
                .log
                .append_with(&op, &json, &self.schema, || link(&self.dense, entries)),
            _ => (writer.log.append(&op, &json, &self.schema), None),
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
    /// uses after a failed append) and the payload and sparse `records`
    /// and deletes.
    fn reserve_room(&self, op: &Op, records: &Records) -> Result<()> {
        let deletes = match op {
            Op::Upsert(entries) => {
                for (slot, field) in self.dense.iter().enumerate() {
                    let keys: Vec<u64> = entries
                        .iter()
                        .filter(|e| e.dense[slot].is_some())
                        .map(|e| u64::from(e.internal))
                        .collect();
                    if !keys.is_empty() {
                        field
                            .vectors
                            .write()
                            .reserve_for(&keys)
                            .map_err(self.io_err(&field.file("vectors.dat")))?;
                    }
                }
                entries.iter().filter(|e| e.replaced.is_some()).count()
            }
            Op::Delete(entries) => entries.len(),
            Op::SetPayload(_) => 0,
        };
        self.payloads
            .write()
            .reserve_for(records.payloads.iter().map(|(_, r)| r.len()), deletes)
            .map_err(self.io_err(PAYLOADS_FILE))?;
        if let Some(store) = &self.sparse_store {
            let written = records.sparse.iter().filter_map(|(_, r)| r.as_ref());
            store
                .write()
                .reserve_for(written.map(Vec::len), deletes + records.sparse.len())
                .map_err(self.io_err(&sparse_file()))?;
        }
        Ok(())
    }

    /// Takes back [`link`] after the upsert failed to log, so no graph
    /// holds a version that was never committed. The ids become deleted
    /// graph nodes, held like retired ones, and like theirs their vectors
    /// go into the stores, where a graph checkpoint finds every node's
    /// vector.
    fn unlink(&self, writer: &mut Writer, entries: &[UpsertEntry], linked: Result<()>) {
        if let Err(err) = linked {
            // A half-linked graph cannot be trusted; the reopen rebuilds it.
            writer.broken = Some(err.to_string());
            return;
        }
        let mut linked_ids = FxHashSet::default();
        for (slot, field) in self.dense.iter().enumerate() {
            let items: Vec<(u64, &[f32])> = entries
                .iter()
                .filter_map(|e| Some((u64::from(e.internal), e.dense[slot].as_deref()?)))
                .collect();
            for e in entries.iter().filter(|e| e.dense[slot].is_some()) {
                field.graph.delete(e.internal);
                linked_ids.insert(e.internal);
            }
            if let Err(err) = field.vectors.write().store_batch(&items) {
                // The graph now holds nodes without a stored vector.
                writer.broken = Some(format!("{}: {err}", field.file("vectors.dat")));
            }
        }
        writer.free.retain(|i| !linked_ids.contains(i));
        if let Some(&top) = linked_ids.iter().max() {
            writer.next_internal = writer.next_internal.max(top + 1);
        }
        writer.held.extend(linked_ids);
    }

    /// Runs every step of a logged `op` but the graph links (done by
    /// `commit` while the log synced).
    fn apply(&self, writer: &mut Writer, op: &Op, records: &Records, seq: u64) -> Result<()> {
        // New versions under fresh ids: invisible until published.
        // Readers take payloads from the state, so the stores change
        // before it.
        {
            let mut payloads = self.payloads.write();
            let mut sparse = self.sparse_store.as_ref().map(|s| s.write());
            store_records(&self.dir, &mut payloads, sparse.as_deref_mut(), records)?;
        }
        for (slot, field) in self.dense.iter().enumerate() {
            store_vectors(&self.dir, &field.rel, slot, &mut field.vectors.write(), op)?;
        }
        if let Op::Upsert(entries) = op {
            for e in entries {
                writer.next_internal = writer.next_internal.max(e.internal + 1);
            }
            let used: FxHashSet<u32> = entries.iter().map(|e| e.internal).collect();
            writer.free.retain(|i| !used.contains(i));
        }
        self.state.write().apply(op, seq);
        let graphs: Vec<&Hnsw> = self.dense.iter().map(|f| &f.graph).collect();
        let retired = retire_in_graphs(&graphs, op);
        drop_records(
            &self.dir,
            &mut self.payloads.write(),
            self.sparse_store.as_ref().map(|s| s.write()).as_deref_mut(),
            op,
        )?;
        // The vectors stay in the stores while a graph keeps the retired
        // ids as deleted routing nodes: the graph checkpoint takes every
        // node's vector from there. A checkpoint drops the ones no graph
        // holds. Ids no graph holds are free at once.
        let (held, free): (Vec<u32>, Vec<u32>) = retired
            .into_iter()
            .partition(|&i| graphs.iter().any(|g| g.holds(i)));
        writer.held.extend(held);
        writer.free.extend(free);
        Ok(())
    }
}

/// The file of the sparse vector store, relative to the collection's directory.
pub(super) fn sparse_file() -> String {
    rel_file(Path::new(SPARSE_DIR), PAYLOADS_FILE)
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

/// The records `op` writes, keyed by internal id: the payload records of
/// the new versions of an upsert and of the new payloads of a set-payload,
/// and the sparse vector records of an upsert's new versions. `json` is
/// [`OpJson::encode`] of `op`; `sparse` the collection's sparse vectors
/// in slot order.
pub(super) fn records(
    op: &Op,
    json: &OpJson,
    sparse: &[(String, super::SparseVectorParams)],
) -> std::io::Result<Records> {
    let entries = json.entries();
    let invalid = |e: serde_json::Error| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    match op {
        Op::Upsert(ops) => {
            let payloads = ops
                .iter()
                .zip(entries)
                .map(|(e, j)| Ok((u64::from(e.internal), stored_record(&e.id, &j.payload)?)))
                .collect::<std::io::Result<_>>()?;
            let sparse = if sparse.is_empty() {
                Vec::new()
            } else {
                ops.iter()
                    .map(|e| {
                        let mut record = serde_json::Map::new();
                        for ((name, _), v) in sparse.iter().zip(&e.sparse) {
                            if let Some(v) = v {
                                record.insert(
                                    name.clone(),
                                    serde_json::to_value(v).map_err(invalid)?,
                                );
                            }
                        }
                        let bytes = (!record.is_empty())
                            .then(|| serde_json::to_vec(&record).map_err(invalid))
                            .transpose()?;
                        Ok((u64::from(e.internal), bytes))
                    })
                    .collect::<std::io::Result<_>>()?
            };
            Ok(Records { payloads, sparse })
        }
        Op::Delete(_) => Ok(Records {
            payloads: Vec::new(),
            sparse: Vec::new(),
        }),
        Op::SetPayload(ops) => Ok(Records {
            payloads: ops
                .iter()
                .zip(entries)
                .map(|(e, j)| Ok((u64::from(e.internal), stored_record(&e.id, &j.payload)?)))
                .collect::<std::io::Result<_>>()?,
            sparse: Vec::new(),
        }),
    }
}

/// Stores the payload and sparse `records` ([`records`] of an operation).
/// A new version without sparse vectors has its id's sparse record
/// removed, so a reused id never shows an earlier version's.
/// `dir` is the collection's, for errors.
pub(super) fn store_records(
    dir: &Path,
    payloads: &mut LogPayloadStorage,
    sparse: Option<&mut LogPayloadStorage>,
    records: &Records,
) -> Result<()> {
    for (internal, record) in &records.payloads {
        payloads
            .store_encoded(*internal, record)
            .map_err(|e| Error::io(dir.join(PAYLOADS_FILE), e))?;
    }
    if let Some(store) = sparse {
        let err = |e| Error::io(dir.join(sparse_file()), e);
        for (internal, record) in &records.sparse {
            match record {
                Some(record) => store.store_encoded(*internal, record).map_err(err)?,
                None => store.delete(*internal).map_err(err)?,
            }
        }
    }
    Ok(())
}

/// Stores the dense vectors of slot `slot` that `op` writes into that
/// vector's store: the vectors of an upsert's new versions; a new version
/// without this vector has its id's stale vector (of an earlier version
/// under a reused id) removed.
/// `rel` is the vector's directory, relative to the collection's `dir`.
pub(super) fn store_vectors(
    dir: &Path,
    rel: &Path,
    slot: usize,
    vectors: &mut MmapStorage,
    op: &Op,
) -> Result<()> {
    let Op::Upsert(entries) = op else {
        return Ok(());
    };
    let err = |e| Error::io(dir.join(rel_file(rel, "vectors.dat")), e);
    let items: Vec<(u64, &[f32])> = entries
        .iter()
        .filter_map(|e| Some((u64::from(e.internal), e.dense[slot].as_deref()?)))
        .collect();
    vectors.store_batch(&items).map_err(err)?;
    for e in entries.iter().filter(|e| e.dense[slot].is_none()) {
        vectors.delete(u64::from(e.internal)).map_err(err)?;
    }
    Ok(())
}

/// Removes the payload and sparse records of the versions `op` retires.
pub(super) fn drop_records(
    dir: &Path,
    payloads: &mut LogPayloadStorage,
    mut sparse: Option<&mut LogPayloadStorage>,
    op: &Op,
) -> Result<()> {
    for old in retired(op) {
        payloads
            .delete(u64::from(old))
            .map_err(|e| Error::io(dir.join(PAYLOADS_FILE), e))?;
        if let Some(store) = sparse.as_deref_mut() {
            store
                .delete(u64::from(old))
                .map_err(|e| Error::io(dir.join(sparse_file()), e))?;
        }
    }
    Ok(())
}

/// Links the new versions of an upsert into the graph of each dense vector
/// they carry (all cores).
pub(super) fn link(fields: &[DenseField], entries: &[UpsertEntry]) -> Result<()> {
    let work: Vec<(&Hnsw, u32, &[f32])> = fields
        .iter()
        .enumerate()
        .flat_map(|(slot, f)| {
            entries
                .iter()
                .filter_map(move |e| Some((&f.graph, e.internal, e.dense[slot].as_deref()?)))
        })
        .collect();
    work.par_iter()
        .try_for_each(|&(graph, id, v)| graph.insert(id, v))
}

/// Turns the versions `op` retires into deleted nodes of every graph that
/// has them; returns them.
pub(super) fn retire_in_graphs(graphs: &[&Hnsw], op: &Op) -> Vec<u32> {
    let retired = retired(op);
    for &old in &retired {
        for g in graphs {
            g.delete(old);
        }
    }
    retired
}

/// Replays `op` onto the graph of dense slot `slot`, a checkpoint that
/// does not cover it.
pub(super) fn replay_graph(graph: &Hnsw, slot: usize, op: &Op) -> Result<()> {
    if let Op::Upsert(entries) = op {
        let items: Vec<(u32, &[f32])> = entries
            .iter()
            .filter_map(|e| Some((e.internal, e.dense[slot].as_deref()?)))
            .collect();
        items
            .par_iter()
            .try_for_each(|&(id, v)| graph.insert(id, v))?;
    }
    retire_in_graphs(&[graph], op);
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
    /// Publishes a logged write: id map, live set, decoded payloads,
    /// sparse indexes and payload indexes.
    pub(super) fn apply(&mut self, op: &Op, seq: u64) {
        self.apply_ids(op, seq);
        self.apply_sparse(op);
        apply_indexes(&mut self.indexes, op);
    }

    /// Makes the sparse indexes forget the versions `op` retires and learn
    /// its new ones.
    pub(super) fn apply_sparse(&mut self, op: &Op) {
        if self.sparse.is_empty() {
            return;
        }
        for old in retired(op) {
            for s in &mut self.sparse {
                s.remove(old);
            }
        }
        if let Op::Upsert(entries) = op {
            for e in entries {
                for (s, v) in self.sparse.iter_mut().zip(&e.sparse) {
                    match v {
                        Some(v) => s.insert(e.internal, v.clone()),
                        None => s.remove(e.internal),
                    }
                }
            }
        }
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
