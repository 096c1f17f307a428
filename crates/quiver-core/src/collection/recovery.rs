//! Open-time recovery: bring every part of a collection to the state after
//! the last logged operation.
//!
//! Following step 4 of the durability argument in the module doc of
//! `collection`: the whole log is replayed onto the stores; the id map,
//! the payload indexes and the graph are loaded from their checkpoints when
//! their tags lie within the log and brought forward with the operations
//! after their tags (through `apply.rs`, as live writes are), or rebuilt
//! from the stores when missing, stale or damaged.

use std::io;
use std::path::Path;

use roaring::RoaringBitmap;

use crate::filter::{FieldType, PayloadIndexes};
use crate::index::hnsw::Hnsw;
use crate::storage::{
    DurabilityMode, LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage,
};
use crate::{Error, Result, SparseVector};

use super::apply;
use super::checkpoint::{
    DATA_FILE, GRAPH_FILE, ID_MAP_FILE, OPLOG_FILE, PAYLOAD_INDEX_PREFIX, SNAPSHOT_FILE,
    VECTOR_INDEX_FILE, index_checkpoints,
};
use super::config::{StoredConfig, VectorParams};
use super::fields::{self, DenseField, SPARSE_DIR};
use super::id_map;
use super::oplog::{self, Op, OpJson, OpLogWriter};
use super::{State, Writer, decode_stored};

/// Everything recovery hands to the collection.
pub(super) struct Parts {
    pub(super) writer: Writer,
    pub(super) state: State,
    pub(super) dense: Vec<DenseField>,
    pub(super) payloads: LogPayloadStorage,
    pub(super) sparse_store: Option<LogPayloadStorage>,
    /// The log held operations or a derived part was rebuilt: checkpoint
    /// now so the next open is fast.
    pub(super) needs_checkpoint: bool,
    /// What recovery found and did.
    pub(super) report: RecoveryReport,
}

/// What an open found on disk and did with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RecoveryReport {
    /// Operations in the op log, all replayed onto the stores.
    pub(super) logged_ops: usize,
    /// Operations replayed onto the loaded graph checkpoints (those after
    /// their tags, summed over the dense vectors); `None` when a graph was
    /// rebuilt from its vectors.
    pub(super) graph_replayed: Option<usize>,
    /// The same for the payload index checkpoint.
    pub(super) indexes_replayed: Option<usize>,
    /// Checkpoint files that failed to load (checksum, format) and were
    /// rebuilt, one line each naming the file and the cause. Files are
    /// replaced atomically, so a crash never leaves one damaged.
    pub(super) damaged: Vec<String>,
}

/// Open every part of the existing collection in `dir` and bring it to
/// the state after the last logged operation.
#[cfg(test)]
pub(super) fn recover(dir: &Path, stored: &StoredConfig) -> Result<Parts> {
    recover_with(dir, stored, false)
}

/// [`recover`]; `creating` = the collection is new, so its stores and log
/// are created. Otherwise a missing store or log is corruption: creating
/// it empty would silently drop every point.
pub(super) fn recover_with(dir: &Path, stored: &StoredConfig, creating: bool) -> Result<Parts> {
    let config = &stored.config;
    let schema = fields::log_schema(config);
    let sparse_slots = fields::sparse_slots(config);
    let io_at = |file: &str| {
        let path = dir.join(file);
        move |e: io::Error| Error::io(path, e)
    };
    let lost = |file: &str, detail: String| Error::Corrupt {
        path: dir.join(file),
        detail,
    };

    let log_path = dir.join(OPLOG_FILE);
    let content = match oplog::read(&log_path, &schema).map_err(io_at(OPLOG_FILE))? {
        Some(content) => content,
        None if creating => oplog::create(&log_path, 0).map_err(io_at(OPLOG_FILE))?,
        None => {
            return Err(lost(
                OPLOG_FILE,
                "the file is missing: the writes since the last checkpoint are lost".into(),
            ));
        }
    };
    let base = content.base_seq;
    let last = content.ops.last().map_or(base, |(s, _)| *s);
    // A checkpoint wrote every checkpoint file before the log took its base.
    let checkpointed = base > 0;
    let slots = fields::dense_slots(config);
    let mut damaged: Vec<String> = Vec::new();
    let mut stores = Vec::with_capacity(slots.len());
    for (_, params, rel) in &slots {
        let data = fields::rel_file(rel, DATA_FILE);
        let field_dir = dir.join(rel);
        if creating {
            crate::file::atomic::create_dir_all_durable(&field_dir).map_err(io_at(&data))?;
        } else if !field_dir.join(DATA_FILE).exists() {
            return Err(lost(
                &data,
                "the file is missing: every vector it held is lost".into(),
            ));
        }
        if checkpointed && !field_dir.join(VECTOR_INDEX_FILE).exists() {
            let index = fields::rel_file(rel, VECTOR_INDEX_FILE);
            return Err(lost(
                &index,
                format!(
                    "the file is missing though the collection checkpointed (at operation {base}): \
                     which slot of {data} holds which vector is lost"
                ),
            ));
        }
        if checkpointed && !field_dir.join(GRAPH_FILE).exists() {
            damaged.push(format!(
                "{} was missing though the collection checkpointed (at operation {base}); rebuilt from the vectors",
                fields::rel_file(rel, GRAPH_FILE)
            ));
        }
        stores.push(
            MmapStorage::new_with_durability(&field_dir, params.dimension, DurabilityMode::None)
                .map_err(io_at(&data))?,
        );
    }
    if checkpointed {
        for (file, source) in [(SNAPSHOT_FILE, "the log"), (ID_MAP_FILE, "the payloads")] {
            if !dir.join(file).exists() {
                damaged.push(format!(
                    "{file} was missing though the collection checkpointed (at operation {base}); rebuilt from {source}"
                ));
            }
        }
    }
    let mut payloads = if creating {
        LogPayloadStorage::new_with_durability(dir, DurabilityMode::None)
    } else {
        LogPayloadStorage::open_existing(dir, DurabilityMode::None)
    }
    .map_err(io_at("payloads.log"))?;
    let sparse_file = apply::sparse_file();
    let mut sparse_store = if sparse_slots.is_empty() {
        None
    } else {
        let sparse_dir = dir.join(SPARSE_DIR);
        let store = if creating {
            crate::file::atomic::create_dir_all_durable(&sparse_dir)
                .map_err(io_at(&sparse_file))?;
            LogPayloadStorage::new_with_durability(&sparse_dir, DurabilityMode::None)
        } else {
            LogPayloadStorage::open_existing(&sparse_dir, DurabilityMode::None)
        }
        .map_err(io_at(&sparse_file))?;
        damaged.extend(
            store
                .repaired_on_open()
                .map(|line| format!("{SPARSE_DIR}/{line}")),
        );
        Some(store)
    };

    let mut needs_checkpoint = !content.ops.is_empty();
    damaged.extend(payloads.repaired_on_open().map(str::to_owned));
    needs_checkpoint |= !damaged.is_empty();

    // 1. Stores: replay the whole log (idempotent, full values).
    for (_, op) in &content.ops {
        let records = OpJson::encode(op)
            .and_then(|json| apply::records(op, &json, &sparse_slots))
            .map_err(io_at("payloads.log"))?;
        apply::store_records(dir, &mut payloads, sparse_store.as_mut(), &records)?;
        for (slot, vectors) in stores.iter_mut().enumerate() {
            apply::store_vectors(dir, &slots[slot].2, slot, vectors, op)?;
        }
        apply::drop_records(dir, &mut payloads, sparse_store.as_mut(), op)?;
    }

    // 2. Payload indexes: checkpoint + later operations, or rebuilt below.
    let mut indexes = load_indexes(
        dir,
        (base, last),
        checkpointed,
        &stored.payload_indexes,
        &mut damaged,
    );
    let mut indexes_replayed = None;
    if let Some((ix, tag)) = &mut indexes {
        let mut n = 0;
        for (_, op) in content.ops.iter().filter(|(s, _)| s > tag) {
            apply::apply_indexes(ix, op);
            n += 1;
        }
        indexes_replayed = Some(n);
    }
    let rebuild_indexes = indexes.is_none();
    let mut indexes = match indexes {
        Some((ix, _)) => ix,
        None => {
            needs_checkpoint |= !stored.payload_indexes.is_empty();
            let mut ix = PayloadIndexes::new();
            for (field, ty) in &stored.payload_indexes {
                ix.create(field, *ty, std::iter::empty())?;
            }
            ix
        }
    };

    // 3. Id map: its checkpoint + later operations, or read back from the
    //    payload store (the scan also fills payload indexes being rebuilt).
    let loaded = if rebuild_indexes {
        None
    } else {
        load_id_map(
            dir,
            (base, last),
            &content.ops,
            payloads.len(),
            sparse_slots.len(),
            &mut damaged,
        )
    };
    let mut state = match loaded {
        Some(mut state) => {
            load_payloads(dir, &payloads, &mut state)?;
            state
        }
        None => {
            needs_checkpoint = true;
            scan_payloads(
                dir,
                &payloads,
                sparse_slots.len(),
                rebuild_indexes.then_some(&mut indexes),
            )?
        }
    };
    state.indexes = indexes;
    state.last_seq = last;
    let live = state.live.clone();
    if let Some(store) = sparse_store.as_mut() {
        needs_checkpoint |= load_sparse(dir, store, &sparse_slots, &mut state)?;
    }

    // 4. Graphs: checkpoint + later operations, or rebuilt from the
    //    vectors. Their nodes take their vectors from the stores, deleted
    //    nodes too.
    let mut graph_replayed = Some(0);
    let mut dense = Vec::with_capacity(slots.len());
    let mut held_by_graphs = RoaringBitmap::new();
    let mut top_stored = None;
    for (slot, ((name, params, rel), mut vectors)) in slots.into_iter().zip(stores).enumerate() {
        let data = fields::rel_file(&rel, DATA_FILE);
        let field_dir = dir.join(&rel);
        let with_vector = live_with_vector(&vectors, &live).map_err(io_at(&data))?;
        let graph_file = fields::rel_file(&rel, GRAPH_FILE);
        let graph = match load_graph(
            &field_dir,
            &graph_file,
            &params,
            &vectors,
            (base, last),
            &mut damaged,
        ) {
            Some((graph, tag)) => {
                let mut n = 0;
                for (_, op) in content.ops.iter().filter(|(s, _)| *s > tag) {
                    apply::replay_graph(&graph, slot, op)?;
                    n += 1;
                }
                if graph.len() as u64 == with_vector.len() {
                    graph_replayed = graph_replayed.map(|r| r + n);
                    Some(graph)
                } else {
                    tracing::warn!(dir = %dir.display(), vector = %name, graph = graph.len(), points = with_vector.len(), "graph checkpoint disagrees with the points; rebuilding");
                    None
                }
            }
            None => None,
        };
        let graph = match graph {
            Some(g) => g,
            None => {
                graph_replayed = None;
                needs_checkpoint |= !with_vector.is_empty();
                build_graph(&vectors, &with_vector, &params).map_err(io_at(&data))?
            }
        };

        // A graph file that carries its own vectors (written before graph
        // checkpoints took them from the store) may hold deleted nodes whose
        // vectors the store dropped: put them back, or the next checkpoint,
        // which has no vectors, could not load.
        for id in graph.node_ids() {
            let present = vectors
                .retrieve_ref(u64::from(id))
                .map_err(io_at(&data))?
                .is_some();
            if present {
                continue;
            }
            if let Some(v) = graph.node_vector(id) {
                vectors.store(u64::from(id), &v).map_err(io_at(&data))?;
                needs_checkpoint = true;
            }
        }

        // Vectors of retired versions this graph no longer holds.
        let held: RoaringBitmap = graph.node_ids().into_iter().collect();
        for key in vectors.ids() {
            match u32::try_from(key) {
                Ok(i) if live.contains(i) || held.contains(i) => {
                    top_stored = top_stored.max(Some(i));
                }
                _ => {
                    vectors.delete(key).map_err(io_at(&data))?;
                    needs_checkpoint = true;
                }
            }
        }
        held_by_graphs |= held;
        dense.push(DenseField {
            name,
            params: params.clone(),
            rel,
            graph,
            vectors: parking_lot::RwLock::new(vectors),
        });
    }

    let report = RecoveryReport {
        logged_ops: content.ops.len(),
        graph_replayed,
        indexes_replayed,
        damaged,
    };
    // Ids below the highest a graph or a point uses; the retired ones a
    // graph still holds wait for its next rebuild (see `Writer::held`).
    let next_internal = live.max().max(top_stored).map_or(0, |m| m + 1);
    let (held, free): (Vec<u32>, Vec<u32>) = (0..next_internal)
        .filter(|i| !live.contains(*i))
        .partition(|&i| held_by_graphs.contains(i));
    let seen_rebuilds = dense.iter().map(|f| f.graph.rebuilds()).sum();
    let log = OpLogWriter::open(
        &log_path,
        &content,
        config.durability == DurabilityMode::Fsync,
    )
    .map_err(io_at(OPLOG_FILE))?;
    Ok(Parts {
        writer: Writer {
            log,
            free,
            held,
            seen_rebuilds,
            next_internal,
            fields: stored.payload_indexes.clone(),
            checkpointed: (!needs_checkpoint).then_some(last),
            broken: None,
        },
        state,
        dense,
        payloads,
        sparse_store,
        needs_checkpoint,
        report,
    })
}

/// The live versions whose vector `vectors` holds.
fn live_with_vector(vectors: &MmapStorage, live: &RoaringBitmap) -> io::Result<RoaringBitmap> {
    Ok(vectors
        .ids()
        .into_iter()
        .filter_map(|key| u32::try_from(key).ok())
        .filter(|i| live.contains(*i))
        .collect())
}

/// Fills the sparse vectors and indexes of `state` (its live set known)
/// from the sparse store, dropping records of versions that are not live.
/// Returns whether it dropped any.
///
/// # Errors
/// [`Error::Corrupt`] for a record that does not decode or names a vector
/// the collection does not have.
fn load_sparse(
    dir: &Path,
    store: &mut LogPayloadStorage,
    slots: &[(String, super::SparseVectorParams)],
    state: &mut State,
) -> Result<bool> {
    let path = dir.join(apply::sparse_file());
    let corrupt = |detail: String| Error::Corrupt {
        path: path.clone(),
        detail,
    };
    let mut dropped = false;
    for key in store.ids() {
        let internal = u32::try_from(key).ok().filter(|i| state.live.contains(*i));
        let Some(internal) = internal else {
            store.delete(key).map_err(|e| Error::io(&path, e))?;
            dropped = true;
            continue;
        };
        let Some(value) = store.retrieve(key).map_err(|e| Error::io(&path, e))? else {
            continue;
        };
        let serde_json::Value::Object(record) = value else {
            return Err(corrupt(format!("sparse record {key} is not an object")));
        };
        for (name, v) in record {
            let Some(slot) = slots.iter().position(|(n, _)| *n == name) else {
                return Err(corrupt(format!(
                    "sparse record {key} holds vector `{name}`, which the collection does not have"
                )));
            };
            let v: SparseVector = serde_json::from_value(v)
                .map_err(|e| corrupt(format!("sparse record {key}, vector `{name}`: {e}")))?;
            state.sparse[slot].insert(internal, v);
        }
    }
    Ok(dropped)
}

/// The id map checkpoint brought forward by the operations after its tag,
/// if it loads, lies within the log and agrees with the payload store.
fn load_id_map(
    dir: &Path,
    (base, last): (u64, u64),
    ops: &[(u64, Op)],
    stored_points: usize,
    sparse: usize,
    damaged: &mut Vec<String>,
) -> Option<State> {
    let path = dir.join(ID_MAP_FILE);
    if !path.exists() {
        return None;
    }
    let (entries, tag) = match id_map::load(&path) {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "id map unreadable; scanning payloads");
            damaged.push(format!(
                "{ID_MAP_FILE} was unreadable ({err}); read back from the payloads"
            ));
            return None;
        }
    };
    if !(base..=last).contains(&tag) {
        tracing::warn!(path = %path.display(), tag, base, last, "id map is stale; scanning payloads");
        return None;
    }
    let mut state = State::new(tag, sparse);
    for (internal, id) in entries {
        state.by_id.insert(id, internal);
        state.set_point_id(internal, Some(id));
        state.live.insert(internal);
    }
    for (seq, op) in ops.iter().filter(|(s, _)| *s > tag) {
        state.apply_ids(op, *seq);
    }
    let points = state.live.len();
    if points != stored_points as u64 || state.by_id.len() as u64 != points {
        tracing::warn!(path = %path.display(), points, stored_points, "id map disagrees with the payload store; scanning payloads");
        // Both are written by the same checkpoint: a disagreement is damage
        // (of either file), never a crash.
        damaged.push(format!(
            "{ID_MAP_FILE} lists {points} points but payloads.log holds {stored_points} records; the points were read back from payloads.log"
        ));
        return None;
    }
    Some(state)
}

/// The id map read back from every payload record; fills `indexes` too
/// when given.
fn scan_payloads(
    dir: &Path,
    payloads: &LogPayloadStorage,
    sparse: usize,
    mut indexes: Option<&mut PayloadIndexes>,
) -> Result<State> {
    let path = dir.join("payloads.log");
    let mut state = State::new(0, sparse);
    for key in payloads.ids() {
        let value = payloads.retrieve(key).map_err(|e| Error::io(&path, e))?;
        let Some(value) = value else { continue };
        let internal = u32::try_from(key).map_err(|_| Error::Corrupt {
            path: path.clone(),
            detail: format!("record key {key} is not an internal id"),
        })?;
        let (id, payload) = decode_stored(value).map_err(|detail| Error::Corrupt {
            path: path.clone(),
            detail,
        })?;
        if let Some(other) = state.by_id.insert(id, internal) {
            return Err(Error::Corrupt {
                path,
                detail: format!("point {id} is stored under internal ids {other} and {internal}"),
            });
        }
        state.set_point_id(internal, Some(id));
        state.live.insert(internal);
        if let Some(ix) = indexes.as_deref_mut() {
            ix.insert(internal, &payload);
        }
        state.payloads.insert(internal, payload);
    }
    Ok(state)
}

/// Reads the payload of every live version of `state` (an id map loaded
/// from its checkpoint) from the payload store. A record that fails its
/// checksum or does not decode is kept as damaged: the collection opens,
/// reading that point fails, and `quiver check` reports the file.
fn load_payloads(dir: &Path, payloads: &LogPayloadStorage, state: &mut State) -> Result<()> {
    let path = dir.join("payloads.log");
    state.payloads.clear();
    state.damaged_payloads.clear();
    let live: Vec<u32> = state.live.iter().collect();
    for internal in live {
        let value = match payloads.retrieve(u64::from(internal)) {
            Ok(value) => value,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                state
                    .damaged_payloads
                    .insert(internal, (path.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let Some(value) = value else {
            return Err(Error::Corrupt {
                path,
                detail: format!("no payload record for live internal id {internal}"),
            });
        };
        match decode_stored(value) {
            Ok((_, payload)) => {
                state.payloads.insert(internal, payload);
            }
            Err(detail) => {
                state
                    .damaged_payloads
                    .insert(internal, (path.clone(), detail));
            }
        }
    }
    Ok(())
}

/// The graph checkpoint in `field_dir` (named `file` in messages), if it
/// loads (its nodes' vectors from `vectors`) and its tag lies within the
/// log.
fn load_graph(
    field_dir: &Path,
    file: &str,
    params: &VectorParams,
    vectors: &MmapStorage,
    (base, last): (u64, u64),
    damaged: &mut Vec<String>,
) -> Option<(Hnsw, u64)> {
    let path = field_dir.join(GRAPH_FILE);
    if !path.exists() {
        return None;
    }
    let vector = |id: u32, out: &mut [f32]| match vectors.retrieve_ref(u64::from(id)) {
        Ok(Some(v)) if v.len() == out.len() => {
            out.copy_from_slice(&v);
            true
        }
        _ => false,
    };
    match Hnsw::load_with_vectors(&path, params.dimension, params.metric, vector) {
        Ok((graph, tag)) if (base..=last).contains(&tag) => Some((graph, tag)),
        Ok((_, tag)) => {
            tracing::warn!(path = %path.display(), tag, base, last, "graph checkpoint is stale; rebuilding");
            None
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "graph checkpoint unreadable; rebuilding");
            damaged.push(format!(
                "{file} was unreadable ({err}); rebuilt from the vectors"
            ));
            None
        }
    }
}

/// Build a graph from the vectors of the `live` points (all cores).
fn build_graph(
    vectors: &MmapStorage,
    live: &RoaringBitmap,
    params: &VectorParams,
) -> io::Result<Hnsw> {
    let mut items: Vec<(u32, Vec<f32>)> = Vec::with_capacity(vectors.len());
    vectors.for_each_vector(|key, v| {
        if let Ok(id) = u32::try_from(key)
            && live.contains(id)
        {
            items.push((id, v.to_vec()));
        }
    })?;
    let refs: Vec<(u32, &[f32])> = items.iter().map(|(id, v)| (*id, v.as_slice())).collect();
    Ok(Hnsw::build(
        params.dimension,
        params.metric,
        params.hnsw,
        &refs,
    ))
}

/// The newest payload index checkpoint within the log whose fields are the
/// configured ones (fields differing are fixed up: dropped or rebuilt).
fn load_indexes(
    dir: &Path,
    (base, last): (u64, u64),
    checkpointed: bool,
    fields: &[(String, FieldType)],
    damaged: &mut Vec<String>,
) -> Option<(PayloadIndexes, u64)> {
    if fields.is_empty() {
        return Some((PayloadIndexes::new(), last));
    }
    let Some((tag, path)) = index_checkpoints(dir).into_iter().next() else {
        if checkpointed {
            // Also left by a crash right after the first field index was
            // created, before any checkpoint wrote its file.
            damaged.push(format!(
                "{PAYLOAD_INDEX_PREFIX}{base} was missing though the collection checkpointed (at operation {base}); rebuilt from the payloads"
            ));
        }
        return None;
    };
    if !(base..=last).contains(&tag) {
        tracing::warn!(path = %path.display(), tag, base, last, "payload index checkpoint is stale; rebuilding");
        return None;
    }
    match PayloadIndexes::load(&path) {
        Ok(ix) => {
            let have = ix.fields();
            let same = have.len() == fields.len() && fields.iter().all(|f| have.contains(f));
            if same {
                Some((ix, tag))
            } else {
                tracing::warn!(path = %path.display(), "payload index checkpoint has other fields; rebuilding");
                None
            }
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "payload index checkpoint unreadable; rebuilding");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            damaged.push(format!(
                "{name} was unreadable ({err}); rebuilt from the payloads"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests;
