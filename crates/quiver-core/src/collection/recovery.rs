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
use crate::{Error, Result};

use super::apply;
use super::checkpoint::{
    DATA_FILE, GRAPH_FILE, ID_MAP_FILE, OPLOG_FILE, PAYLOAD_INDEX_PREFIX, SNAPSHOT_FILE,
    VECTOR_INDEX_FILE, index_checkpoints,
};
use super::config::StoredConfig;
use super::id_map;
use super::oplog::{self, Op, OpJson, OpLogWriter};
use super::{State, Writer, decode_stored};

/// Everything recovery hands to the collection.
pub(super) struct Parts {
    pub(super) writer: Writer,
    pub(super) state: State,
    pub(super) graph: Hnsw,
    pub(super) payloads: LogPayloadStorage,
    pub(super) vectors: MmapStorage,
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
    /// Operations replayed onto the loaded graph checkpoint (those after its
    /// tag); `None` when the graph was rebuilt from the vectors.
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
    let dimension = config.dimension;
    let io_at = |file: &str| {
        let path = dir.join(file);
        move |e: io::Error| Error::io(path, e)
    };
    let lost = |file: &str, detail: String| Error::Corrupt {
        path: dir.join(file),
        detail,
    };

    let log_path = dir.join(OPLOG_FILE);
    let content = match oplog::read(&log_path, dimension).map_err(io_at(OPLOG_FILE))? {
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
    if !creating && !dir.join(DATA_FILE).exists() {
        return Err(lost(
            DATA_FILE,
            "the file is missing: every vector it held is lost".into(),
        ));
    }
    if checkpointed && !dir.join(VECTOR_INDEX_FILE).exists() {
        return Err(lost(
            VECTOR_INDEX_FILE,
            format!(
                "the file is missing though the collection checkpointed (at operation {base}): \
                 which slot of {DATA_FILE} holds which vector is lost"
            ),
        ));
    }
    let mut damaged: Vec<String> = Vec::new();
    if checkpointed {
        for (file, source) in [
            (SNAPSHOT_FILE, "the log"),
            (GRAPH_FILE, "the vectors"),
            (ID_MAP_FILE, "the payloads"),
        ] {
            if !dir.join(file).exists() {
                damaged.push(format!(
                    "{file} was missing though the collection checkpointed (at operation {base}); rebuilt from {source}"
                ));
            }
        }
    }
    let mut vectors = MmapStorage::new_with_durability(dir, dimension, DurabilityMode::None)
        .map_err(io_at(DATA_FILE))?;
    let mut payloads = if creating {
        LogPayloadStorage::new_with_durability(dir, DurabilityMode::None)
    } else {
        LogPayloadStorage::open_existing(dir, DurabilityMode::None)
    }
    .map_err(io_at("payloads.log"))?;

    let mut needs_checkpoint = !content.ops.is_empty();
    damaged.extend(payloads.repaired_on_open().map(str::to_owned));
    needs_checkpoint |= !damaged.is_empty();

    // 1. Stores: replay the whole log (idempotent, full values).
    for (_, op) in &content.ops {
        let records = OpJson::encode(op)
            .and_then(|json| apply::records(op, &json))
            .map_err(io_at("payloads.log"))?;
        apply::store(dir, &mut vectors, &mut payloads, op, &records)?;
        apply::drop_records(dir, &mut payloads, op)?;
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
        load_id_map(dir, base, last, &content.ops, payloads.len(), &mut damaged)
    };
    let mut state = match loaded {
        Some(mut state) => {
            load_payloads(dir, &payloads, &mut state)?;
            state
        }
        None => {
            needs_checkpoint = true;
            scan_payloads(dir, &payloads, rebuild_indexes.then_some(&mut indexes))?
        }
    };
    state.indexes = indexes;
    state.last_seq = last;
    let live = state.live.clone();
    for internal in &live {
        if vectors
            .retrieve_ref(u64::from(internal))
            .map_err(io_at("vectors.dat"))?
            .is_none()
        {
            return Err(Error::Corrupt {
                path: dir.join("vectors.idx"),
                detail: format!(
                    "internal id {internal} has a payload record but no vector ({} points)",
                    live.len()
                ),
            });
        }
    }

    // 4. Graph: checkpoint + later operations, or rebuilt from the vectors.
    //    Its nodes take their vectors from the store, deleted nodes too.
    let mut graph_replayed = None;
    let graph = match load_graph(dir, stored, &vectors, base, last, &mut damaged) {
        Some((graph, tag)) => {
            let mut n = 0;
            for (_, op) in content.ops.iter().filter(|(s, _)| *s > tag) {
                apply::replay_graph(&graph, op)?;
                n += 1;
            }
            if graph.len() as u64 == live.len() {
                graph_replayed = Some(n);
                Some(graph)
            } else {
                tracing::warn!(dir = %dir.display(), graph = graph.len(), points = live.len(), "graph checkpoint disagrees with the points; rebuilding");
                None
            }
        }
        None => None,
    };
    let graph = match graph {
        Some(g) => g,
        None => {
            needs_checkpoint |= !live.is_empty();
            build_graph(&vectors, &live, stored).map_err(io_at("vectors.dat"))?
        }
    };

    // A graph file that carries its own vectors (written before graph
    // checkpoints took them from the store) may hold deleted nodes whose
    // vectors the store dropped: put them back, or the next checkpoint,
    // which has no vectors, could not load.
    for id in graph.node_ids() {
        let stored = vectors
            .retrieve_ref(u64::from(id))
            .map_err(io_at("vectors.dat"))?
            .is_some();
        if stored {
            continue;
        }
        if let Some(v) = graph.node_vector(id) {
            vectors
                .store(u64::from(id), &v)
                .map_err(io_at("vectors.dat"))?;
            needs_checkpoint = true;
        }
    }

    // Vectors of retired versions the graph no longer holds.
    let held_by_graph: RoaringBitmap = graph.node_ids().into_iter().collect();
    let mut top_stored = None;
    for key in vectors.ids() {
        match u32::try_from(key) {
            Ok(i) if live.contains(i) || held_by_graph.contains(i) => {
                top_stored = top_stored.max(Some(i));
            }
            _ => {
                vectors.delete(key).map_err(io_at("vectors.dat"))?;
                needs_checkpoint = true;
            }
        }
    }

    let report = RecoveryReport {
        logged_ops: content.ops.len(),
        graph_replayed,
        indexes_replayed,
        damaged,
    };
    // Ids below the highest the graph or a point uses; the retired ones the
    // graph still holds wait for its next rebuild (see `Writer::held`).
    let next_internal = live.max().max(top_stored).map_or(0, |m| m + 1);
    let (held, free): (Vec<u32>, Vec<u32>) = (0..next_internal)
        .filter(|i| !live.contains(*i))
        .partition(|&i| held_by_graph.contains(i));
    let seen_rebuilds = graph.rebuilds();
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
        graph,
        payloads,
        vectors,
        needs_checkpoint,
        report,
    })
}

/// The id map checkpoint brought forward by the operations after its tag,
/// if it loads, lies within the log and agrees with the payload store.
fn load_id_map(
    dir: &Path,
    base: u64,
    last: u64,
    ops: &[(u64, Op)],
    stored_points: usize,
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
    let mut state = State::new(tag);
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
    mut indexes: Option<&mut PayloadIndexes>,
) -> Result<State> {
    let path = dir.join("payloads.log");
    let mut state = State::new(0);
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

/// The graph checkpoint, if it loads (its nodes' vectors from `vectors`)
/// and its tag lies within the log.
fn load_graph(
    dir: &Path,
    stored: &StoredConfig,
    vectors: &MmapStorage,
    base: u64,
    last: u64,
    damaged: &mut Vec<String>,
) -> Option<(Hnsw, u64)> {
    let path = dir.join(GRAPH_FILE);
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
    let (dimension, metric) = (stored.config.dimension, stored.config.metric);
    match Hnsw::load_with_vectors(&path, dimension, metric, vector) {
        Ok((graph, tag)) if (base..=last).contains(&tag) => Some((graph, tag)),
        Ok((_, tag)) => {
            tracing::warn!(path = %path.display(), tag, base, last, "graph checkpoint is stale; rebuilding");
            None
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "graph checkpoint unreadable; rebuilding");
            damaged.push(format!(
                "{GRAPH_FILE} was unreadable ({err}); rebuilt from the vectors"
            ));
            None
        }
    }
}

/// Build the graph from the vectors of the `live` points (all cores).
fn build_graph(
    vectors: &MmapStorage,
    live: &RoaringBitmap,
    stored: &StoredConfig,
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
    let c = &stored.config;
    Ok(Hnsw::build(c.dimension, c.metric, c.hnsw, &refs))
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
