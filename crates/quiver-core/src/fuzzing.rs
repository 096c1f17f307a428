//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not a
//! stable interface): every decoder of bytes the engine reads from disk,
//! run on an in-memory slice through the same code the open path uses.
//!
//! Each function decodes `bytes` as one file and returns the decoder's
//! `Result` (a count of what it found, or the error it gave). Where the
//! format has an encoder, bytes the decoder accepts are also encoded again
//! and decoded again, and the function panics if that changes what was
//! decoded: a panic from any of them is a bug for the fuzzer to report,
//! whatever the bytes.

use std::io;
use std::path::Path;

use crate::collection::{self, StoredConfig};
use crate::database;
use crate::distance::Metric;
use crate::filter::{PayloadIndexReader, PayloadIndexWriter};
use crate::index::hnsw::Hnsw;
use crate::storage::{self, RecordFrame};
use crate::{Point, PointId, Result};

/// `vectors.wal` or `payloads.log` records (the layout both share), from
/// the start of `bytes`: how many whole frames precede the end or the
/// first torn frame, or the reason that torn frame is not whole.
///
/// # Panics
/// If encoding the frames read does not give back the bytes they came from.
pub fn wal_records(bytes: &[u8]) -> std::result::Result<usize, &'static str> {
    let mut reader = storage::record_reader(bytes, 0);
    let mut again = Vec::new();
    let mut frames = 0;
    for (_, frame) in reader.by_ref() {
        frames += 1;
        match frame {
            RecordFrame::Store { id, body } => {
                assert!(storage::encode_store(&mut again, id, body).is_ok());
            }
            RecordFrame::Delete { id } => storage::encode_delete(&mut again, id),
        }
    }
    assert_eq!(
        again.as_slice(),
        bytes.get(..reader.good_len()).unwrap_or_default(),
        "records re-encode to other bytes"
    );
    match reader.torn() {
        Some((_, reason)) => Err(reason),
        None => Ok(frames),
    }
}

/// A `payloads.idx` snapshot: its entries.
///
/// # Errors
/// The decoder's `InvalidData`.
///
/// # Panics
/// If the round trip changes the snapshot.
pub fn payload_snapshot(bytes: &[u8]) -> io::Result<usize> {
    storage::snapshot_round_trip(Path::new("payloads.idx"), bytes)
}

/// A `vectors.idx` checkpoint: its entries.
///
/// # Errors
/// The decoder's `InvalidData`.
///
/// # Panics
/// If the round trip of a version 2 file changes the checkpoint.
pub fn vector_index(bytes: &[u8]) -> io::Result<usize> {
    let path = Path::new("vectors.idx");
    let ck = storage::decode_vector_index(path, bytes)?;
    if let Some(crcs) = &ck.crcs {
        let again = storage::decode_vector_index(
            path,
            &storage::encode_vector_index(ck.dimension, ck.next_slot, &ck.offsets, crcs),
        )?;
        assert_eq!(again, ck, "vectors.idx round trip");
    }
    Ok(ck.offsets.len())
}

/// An `ops.log` of a collection of `dimension`: the operations it holds.
///
/// # Errors
/// The decoder's `InvalidData`.
///
/// # Panics
/// If the log written from the operations read does not read back as the
/// same log (compared as bytes, so vectors holding NaNs compare too).
pub fn op_log(bytes: &[u8], dimension: usize) -> io::Result<usize> {
    let path = Path::new("ops.log");
    // The default vector of `dimension`, a named one of 2 and a sparse one,
    // so that frames of both upsert kinds decode.
    let schema = &collection::LogSchema {
        dense: vec![dimension, 2],
        sparse: 1,
        default_slot: Some(0),
    };
    let content = collection::decode_op_log(path, bytes, schema)?;
    let first = collection::encode_op_log(content.base_seq, &content.ops, schema)?;
    let again = collection::decode_op_log(path, &first, schema)?;
    assert_eq!(
        again.valid_len,
        first.len() as u64,
        "ops.log re-read stops early"
    );
    let second = collection::encode_op_log(again.base_seq, &again.ops, schema)?;
    assert_eq!(first, second, "ops.log round trip");
    Ok(content.ops.len())
}

/// An `ids.map`: its entries.
///
/// # Errors
/// The decoder's `InvalidData`.
///
/// # Panics
/// If the map written from a decoded map with distinct, ascending and
/// small internal ids (the ones a collection writes) decodes differently.
pub fn id_map(bytes: &[u8]) -> io::Result<usize> {
    let path = Path::new("ids.map");
    let (entries, tag) = collection::decode_id_map(path, bytes)?;
    let ascending = entries.windows(2).all(|w| w[0].0 < w[1].0);
    if ascending && entries.last().is_none_or(|e| e.0 < 1 << 16) {
        let mut ids: Vec<Option<PointId>> =
            vec![None; entries.last().map_or(0, |e| e.0 as usize + 1)];
        for &(internal, id) in &entries {
            ids[internal as usize] = Some(id);
        }
        let again = collection::decode_id_map(path, &collection::encode_id_map(tag, &ids)?)?;
        assert_eq!(again, (entries.clone(), tag), "ids.map round trip");
    }
    Ok(entries.len())
}

/// An `hnsw.graph` checkpoint of `dimension` and `metric`, of either
/// version (one without vectors takes a constant vector for every node):
/// the nodes it holds. A graph that loads is searched once, which must
/// not panic either.
///
/// # Errors
/// The decoder's `InvalidData`.
///
/// # Panics
/// If the file written from the graph read does not read back as the same
/// file.
pub fn hnsw_graph(bytes: &[u8], dimension: usize, metric: Metric) -> io::Result<usize> {
    let path = Path::new("hnsw.graph");
    let mut source = |_: u32, v: &mut [f32]| {
        v.fill(0.5);
        true
    };
    let (graph, tag) = Hnsw::decode(path, bytes, dimension, metric, Some(&mut source))?;
    let query = vec![0.25; dimension];
    let hits = graph.search(&query, 3, 16, None);
    assert!(hits.len() <= 3, "search returned more than k");
    for with_vectors in [true, false] {
        let first = graph.encode(tag, with_vectors)?;
        let (again, again_tag) = Hnsw::decode(path, &first, dimension, metric, Some(&mut source))?;
        assert_eq!(again_tag, tag, "hnsw.graph tag round trip");
        assert_eq!(
            again.encode(tag, with_vectors)?,
            first,
            "hnsw.graph round trip"
        );
    }
    Ok(graph.len())
}

/// A `payload_index.*` checkpoint: the fields it indexes.
///
/// # Errors
/// The decoder's `InvalidData`.
///
/// # Panics
/// If the round trip changes the indexes.
pub fn payload_index(bytes: &[u8]) -> io::Result<usize> {
    let path = Path::new("payload_index.0");
    let indexes = PayloadIndexReader::decode(path, bytes)?;
    let again = PayloadIndexReader::decode(path, &PayloadIndexWriter::encode(&indexes)?)?;
    assert_eq!(again, indexes, "payload index round trip");
    Ok(indexes.fields().len())
}

/// A collection's `config.json`: its number of vectors, dense and sparse.
///
/// # Errors
/// [`crate::Error::Corrupt`] for a file that is not a valid configuration.
///
/// # Panics
/// If the configuration written back does not read back the same.
pub fn collection_config(bytes: &[u8]) -> Result<usize> {
    let path = Path::new("config.json");
    let stored = json_round_trip(bytes, |b| StoredConfig::decode(path, b))?;
    Ok(stored.config.vectors.len() + stored.config.sparse_vectors.len())
}

/// The database manifest `quiver.json`: the collections it names.
///
/// # Errors
/// [`crate::Error::Corrupt`] for a file that is not a valid manifest.
///
/// # Panics
/// If the manifest written back does not read back the same.
pub fn manifest(bytes: &[u8]) -> Result<usize> {
    let path = Path::new("quiver.json");
    let manifest = json_round_trip(bytes, |b| database::decode_manifest(path, b))?;
    Ok(manifest.collections.len())
}

/// `decode(bytes)`, checked to read back the same once written as the
/// engine writes its JSON files.
fn json_round_trip<T: serde::Serialize + PartialEq + std::fmt::Debug>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T>,
) -> Result<T> {
    let value = decode(bytes)?;
    let written = serde_json::to_vec_pretty(&value)
        .map_err(|e| crate::Error::Internal(format!("does not serialise: {e}")))?;
    assert_eq!(decode(&written)?, value, "JSON round trip");
    Ok(value)
}

/// The check [`crate::Collection::upsert`] makes of its points before it
/// writes anything, for a collection of `dimension` and `metric`: for a
/// caller (the server's fuzz targets) that checks request bodies without
/// writing them.
///
/// # Errors
/// As [`crate::Collection::upsert`] for a bad vector.
pub fn check_points(points: &[Point], dimension: usize, metric: Metric) -> Result<()> {
    collection::check_points(points, &crate::CollectionConfig::new(dimension, metric))
}
