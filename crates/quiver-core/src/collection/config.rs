//! A collection's settings and the `config.json` that holds them.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::distance::Metric;
use crate::file::atomic::write_atomic;
use crate::filter::FieldType;
use crate::index::hnsw::HnswConfig;
use crate::storage::DurabilityMode;
use crate::{Error, Result};

/// Largest vector dimension a collection accepts.
pub const MAX_DIMENSION: usize = crate::storage::MAX_DIMENSION;
const HNSW_M: std::ops::RangeInclusive<usize> = 2..=128;
const HNSW_EF_CONSTRUCTION: std::ops::RangeInclusive<usize> = 4..=4096;

/// Longest vector name, in bytes.
pub const MAX_VECTOR_NAME_BYTES: usize = 255;
/// Most named vectors (dense and sparse together) a collection may have.
pub const MAX_VECTORS: usize = 64;

/// One dense vector of a collection: its size, how it is compared and its
/// HNSW graph. Each dense vector has its own vector file and graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorParams {
    /// Floats per vector, 1..=65 536.
    pub dimension: usize,
    /// How vectors are compared.
    pub metric: Metric,
    /// HNSW graph parameters (`m` 2..=128, `ef_construction` 4..=4096).
    #[serde(default)]
    pub hnsw: HnswConfig,
}

impl VectorParams {
    /// `dimension` floats compared by `metric`, default HNSW parameters.
    pub fn new(dimension: usize, metric: Metric) -> Self {
        VectorParams {
            dimension,
            metric,
            hnsw: HnswConfig::default(),
        }
    }

    fn validate(&self, name: &str) -> Result<()> {
        let at = vector_label(name);
        if !(1..=MAX_DIMENSION).contains(&self.dimension) {
            return Err(Error::InvalidInput(format!(
                "{at}dimension {} is out of range 1..={MAX_DIMENSION}",
                self.dimension
            )));
        }
        if !HNSW_M.contains(&self.hnsw.m) {
            return Err(Error::InvalidInput(format!(
                "{at}hnsw.m {} is out of range {}..={}",
                self.hnsw.m,
                HNSW_M.start(),
                HNSW_M.end()
            )));
        }
        if !HNSW_EF_CONSTRUCTION.contains(&self.hnsw.ef_construction) {
            return Err(Error::InvalidInput(format!(
                "{at}hnsw.ef_construction {} is out of range {}..={}",
                self.hnsw.ef_construction,
                HNSW_EF_CONSTRUCTION.start(),
                HNSW_EF_CONSTRUCTION.end()
            )));
        }
        Ok(())
    }
}

/// `vector `name`: ` for a named vector, nothing for the default one, to
/// start an error message with.
pub(crate) fn vector_label(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("vector `{name}`: ")
    }
}

/// One sparse vector of a collection, searched exactly through an
/// inverted index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseVectorParams {
    /// How query weights are scaled: `none` (plain dot product) or `idf`
    /// (each by its dimension's inverse document frequency, as BM25 needs).
    #[serde(default)]
    pub modifier: SparseModifier,
}

/// [`SparseVectorParams::modifier`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SparseModifier {
    /// Plain dot product.
    #[default]
    None,
    /// Query weights times the inverse document frequency of their
    /// dimension over the points stored when the query runs.
    Idf,
}

impl From<SparseModifier> for crate::index::sparse::Modifier {
    fn from(m: SparseModifier) -> Self {
        match m {
            SparseModifier::None => crate::index::sparse::Modifier::None,
            SparseModifier::Idf => crate::index::sparse::Modifier::Idf,
        }
    }
}

/// How a collection is set up; fixed when it is created.
///
/// A collection has named dense vectors ([`CollectionConfig::vectors`]) and
/// named sparse vectors ([`CollectionConfig::sparse_vectors`]); `""` is the
/// name of the default vector, the one a plain list of floats means. A
/// point may carry any subset of them.
///
/// In JSON, the one-vector form `{"dimension": N, "metric": M, "hnsw": ..}`
/// (the only form before named vectors) reads as the default vector alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConfigWire")]
pub struct CollectionConfig {
    /// Dense vectors by name (`""` = the default vector).
    pub vectors: BTreeMap<String, VectorParams>,
    /// Sparse vectors by name (never `""`, never a dense vector's name).
    #[serde(default)]
    pub sparse_vectors: BTreeMap<String, SparseVectorParams>,
    /// When a write is durable: `Fsync` (default) = when the call returns,
    /// even across a power loss; `FlushOnly` and `None` = across a killed
    /// process, and across a power loss only after [`crate::Collection::flush`].
    #[serde(default)]
    pub durability: DurabilityMode,
    /// Reserved for quantization settings; stored and otherwise ignored.
    #[serde(default)]
    pub quantization: Option<serde_json::Value>,
    /// The op log is checkpointed once it grows past this many bytes: a
    /// write that takes it past the limit saves the graph, the stores and
    /// the payload indexes and starts a new log. Smaller means shorter
    /// replay on open and more checkpoint work while writing. At least
    /// [`Self::MIN_CHECKPOINT_LOG_BYTES`]; [`Self::DEFAULT_CHECKPOINT_LOG_BYTES`] when
    /// absent (as in every `config.json` written before the setting existed).
    #[serde(default = "default_checkpoint_log_bytes")]
    pub checkpoint_log_bytes: u64,
}

/// The JSON of a [`CollectionConfig`]: the named form, or the one-vector
/// form of configs written before named vectors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigWire {
    #[serde(default)]
    vectors: Option<BTreeMap<String, VectorParams>>,
    #[serde(default)]
    sparse_vectors: BTreeMap<String, SparseVectorParams>,
    #[serde(default)]
    dimension: Option<usize>,
    #[serde(default)]
    metric: Option<Metric>,
    #[serde(default)]
    hnsw: Option<HnswConfig>,
    #[serde(default)]
    durability: DurabilityMode,
    #[serde(default)]
    quantization: Option<serde_json::Value>,
    #[serde(default = "default_checkpoint_log_bytes")]
    checkpoint_log_bytes: u64,
}

impl TryFrom<ConfigWire> for CollectionConfig {
    type Error = String;

    fn try_from(w: ConfigWire) -> std::result::Result<Self, String> {
        let vectors = match (w.vectors, w.dimension, w.metric) {
            (Some(vectors), None, None) if w.hnsw.is_none() => vectors,
            (Some(_), _, _) => {
                return Err(
                    "give either `vectors` or `dimension` and `metric` (the default vector), not both"
                        .into(),
                );
            }
            (None, Some(dimension), Some(metric)) => BTreeMap::from([(
                String::new(),
                VectorParams {
                    dimension,
                    metric,
                    hnsw: w.hnsw.unwrap_or_default(),
                },
            )]),
            (None, None, _) if w.hnsw.is_none() => BTreeMap::new(),
            (None, _, _) => {
                return Err("the default vector needs both `dimension` and `metric`".into());
            }
        };
        Ok(CollectionConfig {
            vectors,
            sparse_vectors: w.sparse_vectors,
            durability: w.durability,
            quantization: w.quantization,
            checkpoint_log_bytes: w.checkpoint_log_bytes,
        })
    }
}

fn default_checkpoint_log_bytes() -> u64 {
    CollectionConfig::DEFAULT_CHECKPOINT_LOG_BYTES
}

impl CollectionConfig {
    /// Default of [`CollectionConfig::checkpoint_log_bytes`]: 64 MiB.
    pub const DEFAULT_CHECKPOINT_LOG_BYTES: u64 = 64 << 20;
    /// Smallest [`CollectionConfig::checkpoint_log_bytes`] accepted: below
    /// it a checkpoint would follow nearly every write.
    pub const MIN_CHECKPOINT_LOG_BYTES: u64 = 1024;

    /// A configuration of the default vector alone (`dimension` floats
    /// compared by `metric`, default HNSW parameters), `Fsync` durability
    /// and the default checkpoint size.
    pub fn new(dimension: usize, metric: Metric) -> Self {
        Self::with_vectors([(String::new(), VectorParams::new(dimension, metric))])
    }

    /// A configuration of these named dense vectors and no sparse one,
    /// `Fsync` durability and the default checkpoint size.
    pub fn with_vectors(vectors: impl IntoIterator<Item = (String, VectorParams)>) -> Self {
        CollectionConfig {
            vectors: vectors.into_iter().collect(),
            sparse_vectors: BTreeMap::new(),
            durability: DurabilityMode::default(),
            quantization: None,
            checkpoint_log_bytes: Self::DEFAULT_CHECKPOINT_LOG_BYTES,
        }
    }

    /// Check every bound.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first value out of range.
    pub fn validate(&self) -> Result<()> {
        if self.vectors.is_empty() && self.sparse_vectors.is_empty() {
            return Err(Error::InvalidInput(
                "a collection needs at least one vector, dense or sparse".into(),
            ));
        }
        if self.vectors.len() + self.sparse_vectors.len() > MAX_VECTORS {
            return Err(Error::InvalidInput(format!(
                "{} vectors are more than the {MAX_VECTORS} a collection may have",
                self.vectors.len() + self.sparse_vectors.len()
            )));
        }
        for (name, params) in &self.vectors {
            check_name(name)?;
            params.validate(name)?;
        }
        for name in self.sparse_vectors.keys() {
            if name.is_empty() {
                return Err(Error::InvalidInput(
                    "a sparse vector needs a name (\"\" is the default dense vector)".into(),
                ));
            }
            check_name(name)?;
            if self.vectors.contains_key(name) {
                return Err(Error::InvalidInput(format!(
                    "`{name}` is the name of a dense and of a sparse vector"
                )));
            }
        }
        if self.checkpoint_log_bytes < Self::MIN_CHECKPOINT_LOG_BYTES {
            return Err(Error::InvalidInput(format!(
                "checkpoint_log_bytes {} is below the minimum of {}",
                self.checkpoint_log_bytes,
                Self::MIN_CHECKPOINT_LOG_BYTES
            )));
        }
        Ok(())
    }

    /// The floats of all dense vectors of one point together: what
    /// returning a point's vectors costs at most.
    pub fn floats_per_point(&self) -> usize {
        self.vectors.values().map(|p| p.dimension).sum()
    }

    /// The default vector's parameters, if the collection has one.
    pub fn default_vector(&self) -> Option<&VectorParams> {
        self.vectors.get("")
    }

    /// The parameters of dense vector `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the vector if the collection has no
    /// dense vector of that name.
    pub fn dense(&self, name: &str) -> Result<&VectorParams> {
        self.vectors
            .get(name)
            .ok_or_else(|| self.unknown_vector(name))
    }

    /// The error for a vector name the collection does not have, listing
    /// the names it has.
    pub(crate) fn unknown_vector(&self, name: &str) -> Error {
        let have: Vec<String> = self
            .vectors
            .keys()
            .chain(self.sparse_vectors.keys())
            .map(|n| format!("`{n}`"))
            .collect();
        let what = if name.is_empty() {
            "default vector (\"\")".to_owned()
        } else {
            format!("vector named `{name}`")
        };
        Error::InvalidInput(format!(
            "the collection has no {what}; its vectors are {}",
            have.join(", ")
        ))
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.len() > MAX_VECTOR_NAME_BYTES {
        return Err(Error::InvalidInput(format!(
            "vector name of {} bytes is longer than {MAX_VECTOR_NAME_BYTES}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "vector name {name:?} holds a control character"
        )));
    }
    Ok(())
}

/// The content of `config.json`: the configuration plus the payload fields
/// that are indexed (their index content is derived data, see
/// `checkpoint.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredConfig {
    pub(crate) config: CollectionConfig,
    #[serde(default)]
    pub(crate) payload_indexes: Vec<(String, FieldType)>,
}

pub(crate) const CONFIG_FILE: &str = "config.json";

impl StoredConfig {
    pub(crate) fn read(dir: &Path) -> Result<StoredConfig> {
        let path = dir.join(CONFIG_FILE);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Self::decode(&path, &bytes)
    }

    /// [`StoredConfig::read`] of the bytes of a `config.json` read from `path`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming `path` for bytes that are not a config
    /// or hold one out of bounds.
    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<StoredConfig> {
        let path = path.to_owned();
        let stored: StoredConfig = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            detail: format!("not a collection config: {e}"),
        })?;
        stored.config.validate().map_err(|e| Error::Corrupt {
            path,
            detail: e.to_string(),
        })?;
        Ok(stored)
    }

    /// Replace `config.json` atomically (durable when it returns).
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(CONFIG_FILE);
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| {
            Error::io(
                &path,
                io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            )
        })?;
        write_atomic(&path, &bytes, true).map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        let ok = CollectionConfig::new(4, Metric::Cosine);
        assert!(ok.validate().is_ok());
        let default = |c: &mut CollectionConfig| c.vectors.get_mut("").unwrap().clone();
        let set = |c: &CollectionConfig, p: VectorParams| {
            let mut c = c.clone();
            c.vectors.insert(String::new(), p);
            c
        };
        let mut c = ok.clone();
        let mut p = default(&mut c);
        for (dimension, valid) in [
            (0, false),
            (MAX_DIMENSION + 1, false),
            (MAX_DIMENSION, true),
        ] {
            p.dimension = dimension;
            assert_eq!(set(&c, p.clone()).validate().is_ok(), valid, "{dimension}");
        }
        let mut p = default(&mut c);
        for (m, valid) in [(1, false), (129, false), (128, true)] {
            p.hnsw.m = m;
            assert_eq!(set(&c, p.clone()).validate().is_ok(), valid, "m {m}");
        }
        let mut p = default(&mut c);
        for (ef, valid) in [(3, false), (4097, false), (4, true)] {
            p.hnsw.ef_construction = ef;
            assert_eq!(set(&c, p.clone()).validate().is_ok(), valid, "ef {ef}");
        }
        let mut c = ok;
        c.checkpoint_log_bytes = CollectionConfig::MIN_CHECKPOINT_LOG_BYTES - 1;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("checkpoint_log_bytes"), "{err}");
        c.checkpoint_log_bytes = CollectionConfig::MIN_CHECKPOINT_LOG_BYTES;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn named_vectors_are_checked_and_errors_name_them() {
        let mut c = CollectionConfig::with_vectors([
            ("dense".to_owned(), VectorParams::new(3, Metric::Dot)),
            ("img".to_owned(), VectorParams::new(0, Metric::Cosine)),
        ]);
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("vector `img`") && err.contains("dimension 0"),
            "{err}"
        );
        c.vectors.remove("img");
        assert!(
            c.validate().is_ok(),
            "a collection without a default vector"
        );
        c.sparse_vectors
            .insert("dense".into(), SparseVectorParams::default());
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("`dense` is the name of a dense and of a sparse"),
            "{err}"
        );
        c.sparse_vectors.clear();
        c.sparse_vectors
            .insert(String::new(), SparseVectorParams::default());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("sparse vector needs a name")
        );
        c.sparse_vectors.clear();
        c.sparse_vectors
            .insert("x".repeat(256), SparseVectorParams::default());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("longer than 255")
        );
        let none = CollectionConfig::with_vectors([]);
        assert!(
            none.validate()
                .unwrap_err()
                .to_string()
                .contains("at least one vector")
        );
        let err = CollectionConfig::new(2, Metric::Dot)
            .dense("img")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no vector named `img`; its vectors are ``"),
            "{err}"
        );
    }

    #[test]
    fn the_one_vector_form_and_the_named_form_are_the_same_config() {
        let one: CollectionConfig = serde_json::from_str(
            r#"{"dimension": 3, "metric": "Dot", "hnsw": {"m": 8, "ef_construction": 40, "seed": 1}}"#,
        )
        .unwrap();
        let named: CollectionConfig = serde_json::from_str(
            r#"{"vectors": {"": {"dimension": 3, "metric": "Dot", "hnsw": {"m": 8, "ef_construction": 40, "seed": 1}}}}"#,
        )
        .unwrap();
        assert_eq!(one, named);
        assert_eq!(one.default_vector().unwrap().hnsw.m, 8);
        // What is written reads back the same.
        let text = serde_json::to_string(&one).unwrap();
        assert_eq!(
            serde_json::from_str::<CollectionConfig>(&text).unwrap(),
            one
        );
        let both = r#"{"vectors": {}, "dimension": 3, "metric": "Dot"}"#;
        assert!(serde_json::from_str::<CollectionConfig>(both).is_err());
        let half = r#"{"dimension": 3}"#;
        assert!(serde_json::from_str::<CollectionConfig>(half).is_err());
        let sparse: CollectionConfig = serde_json::from_str(
            r#"{"vectors": {}, "sparse_vectors": {"bm25": {"modifier": "idf"}}}"#,
        )
        .unwrap();
        assert_eq!(sparse.sparse_vectors["bm25"].modifier, SparseModifier::Idf);
        assert!(sparse.validate().is_ok());
    }

    /// The exact `config.json` a collection got before the checkpoint size
    /// was a setting: it still reads, with the default size.
    #[test]
    fn a_stored_config_without_the_checkpoint_size_reads_with_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{
  "config": {
    "dimension": 3,
    "metric": "Euclid",
    "hnsw": {"m": 12, "ef_construction": 90, "seed": 7},
    "durability": "FlushOnly",
    "quantization": null
  },
  "payload_indexes": [["tag", "keyword"]]
}"#;
        fs::write(dir.path().join(CONFIG_FILE), old).unwrap();
        let stored = StoredConfig::read(dir.path()).unwrap();
        assert_eq!(
            stored.config.checkpoint_log_bytes,
            CollectionConfig::DEFAULT_CHECKPOINT_LOG_BYTES
        );
        let default = stored.config.default_vector().unwrap();
        assert_eq!((default.dimension, default.metric), (3, Metric::Euclid));
        assert_eq!(default.hnsw.m, 12);
        assert_eq!(stored.config.durability, DurabilityMode::FlushOnly);
        // Written back, the setting is explicit and reads the same.
        let mut changed = stored.clone();
        changed.config.checkpoint_log_bytes = 4096;
        changed.write(dir.path()).unwrap();
        assert_eq!(StoredConfig::read(dir.path()).unwrap(), changed);
    }

    #[test]
    fn json_uses_defaults_and_rejects_unknown_fields() {
        let c: CollectionConfig =
            serde_json::from_str(r#"{"dimension": 3, "metric": "Dot"}"#).unwrap();
        assert_eq!(c, CollectionConfig::new(3, Metric::Dot));
        assert!(
            serde_json::from_str::<CollectionConfig>(r#"{"dimension": 3, "metric": "L7"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<CollectionConfig>(
                r#"{"dimension": 3, "metric": "Dot", "colour": 1}"#
            )
            .is_err()
        );
    }
}
