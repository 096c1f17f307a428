//! The collection's vectors as parts: one vector store and one HNSW graph
//! per dense vector, one record store for every sparse vector, and where
//! their files live.
//!
//! The default vector (`""`) keeps the files a collection had before named
//! vectors (`vectors.dat/.idx/.wal`, `hnsw.graph` in the collection's
//! directory), so a one-vector collection's directory is unchanged. Each
//! other dense vector has the same files in `vectors/<hex of its name>/`
//! (hex, so that any name is a valid file name). The sparse vectors of a
//! point version are one JSON record `{"<name>": {"indices": [..],
//! "values": [..]}, ..}` in `sparse/payloads.log`, keyed by internal id
//! like the payload records, written once with the version and dropped
//! when it is retired; their inverted indexes are derived state, built
//! from that store when the collection opens.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;

use crate::index::hnsw::Hnsw;
use crate::storage::MmapStorage;

use super::config::{CollectionConfig, SparseVectorParams, VectorParams};
use super::oplog::LogSchema;

/// The directory of the sparse vector store, inside the collection's.
pub(super) const SPARSE_DIR: &str = "sparse";
/// The directory of the named dense vectors, inside the collection's.
pub(super) const VECTORS_DIR: &str = "vectors";

/// One dense vector of the collection: its store and its graph.
pub(super) struct DenseField {
    pub(super) name: String,
    pub(super) params: VectorParams,
    /// Its directory relative to the collection's (empty for the default
    /// vector).
    pub(super) rel: PathBuf,
    pub(super) graph: Hnsw,
    pub(super) vectors: RwLock<MmapStorage>,
}

impl DenseField {
    /// `file` of this vector, relative to the collection's directory (for
    /// errors and file checks).
    pub(super) fn file(&self, file: &str) -> String {
        rel_file(&self.rel, file)
    }
}

/// `file` inside `rel`, as a `/`-separated path.
pub(super) fn rel_file(rel: &Path, file: &str) -> String {
    if rel.as_os_str().is_empty() {
        file.to_owned()
    } else {
        format!("{}/{file}", rel.display())
    }
}

/// The directory of dense vector `name`, relative to the collection's.
pub(super) fn dense_dir(name: &str) -> PathBuf {
    if name.is_empty() {
        return PathBuf::new();
    }
    let mut hex = String::with_capacity(name.len() * 2);
    for b in name.bytes() {
        let _ = write!(hex, "{b:02x}");
    }
    Path::new(VECTORS_DIR).join(hex)
}

/// The dense vectors in slot order (name order), with their directories.
pub(super) fn dense_slots(config: &CollectionConfig) -> Vec<(String, VectorParams, PathBuf)> {
    config
        .vectors
        .iter()
        .map(|(name, params)| (name.clone(), params.clone(), dense_dir(name)))
        .collect()
}

/// The sparse vectors in slot order (name order).
pub(super) fn sparse_slots(config: &CollectionConfig) -> Vec<(String, SparseVectorParams)> {
    config
        .sparse_vectors
        .iter()
        .map(|(name, params)| (name.clone(), *params))
        .collect()
}

/// The op log's view of `config`'s vectors.
pub(super) fn log_schema(config: &CollectionConfig) -> LogSchema {
    LogSchema {
        dense: config.vectors.values().map(|p| p.dimension).collect(),
        sparse: config.sparse_vectors.len(),
        default_slot: config.vectors.keys().position(String::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metric;

    #[test]
    fn the_default_vector_lives_in_the_collection_directory_and_others_under_hex_names() {
        assert_eq!(dense_dir(""), PathBuf::new());
        assert_eq!(dense_dir("a/ b"), Path::new("vectors").join("612f2062"));
        assert_eq!(dense_dir("é"), Path::new("vectors").join("c3a9"));
        assert_eq!(rel_file(&dense_dir(""), "hnsw.graph"), "hnsw.graph");
        assert_eq!(
            rel_file(&dense_dir("x"), "hnsw.graph"),
            "vectors/78/hnsw.graph"
        );
        let mut config = CollectionConfig::with_vectors([
            ("text".into(), VectorParams::new(4, Metric::Dot)),
            (String::new(), VectorParams::new(2, Metric::Cosine)),
        ]);
        config
            .sparse_vectors
            .insert("bm25".into(), SparseVectorParams::default());
        let schema = log_schema(&config);
        assert_eq!(schema.dense, vec![2, 4]);
        assert_eq!(schema.default_slot, Some(0));
        assert_eq!(schema.sparse, 1);
    }
}
