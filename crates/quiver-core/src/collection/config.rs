//! A collection's settings and the `config.json` that holds them.

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

/// How a collection is set up; fixed when it is created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// Floats per vector, 1..=65 536.
    pub dimension: usize,
    /// How vectors are compared.
    pub metric: Metric,
    /// HNSW graph parameters (`m` 2..=128, `ef_construction` 4..=4096).
    #[serde(default)]
    pub hnsw: HnswConfig,
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

fn default_checkpoint_log_bytes() -> u64 {
    CollectionConfig::DEFAULT_CHECKPOINT_LOG_BYTES
}

impl CollectionConfig {
    /// Default of [`CollectionConfig::checkpoint_log_bytes`]: 64 MiB.
    pub const DEFAULT_CHECKPOINT_LOG_BYTES: u64 = 64 << 20;
    /// Smallest [`CollectionConfig::checkpoint_log_bytes`] accepted: below
    /// it a checkpoint would follow nearly every write.
    pub const MIN_CHECKPOINT_LOG_BYTES: u64 = 1024;

    /// A configuration with default HNSW parameters, `Fsync` durability and
    /// the default checkpoint size.
    pub fn new(dimension: usize, metric: Metric) -> Self {
        CollectionConfig {
            dimension,
            metric,
            hnsw: HnswConfig::default(),
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
        if !(1..=MAX_DIMENSION).contains(&self.dimension) {
            return Err(Error::InvalidInput(format!(
                "dimension {} is out of range 1..={MAX_DIMENSION}",
                self.dimension
            )));
        }
        if !HNSW_M.contains(&self.hnsw.m) {
            return Err(Error::InvalidInput(format!(
                "hnsw.m {} is out of range {}..={}",
                self.hnsw.m,
                HNSW_M.start(),
                HNSW_M.end()
            )));
        }
        if !HNSW_EF_CONSTRUCTION.contains(&self.hnsw.ef_construction) {
            return Err(Error::InvalidInput(format!(
                "hnsw.ef_construction {} is out of range {}..={}",
                self.hnsw.ef_construction,
                HNSW_EF_CONSTRUCTION.start(),
                HNSW_EF_CONSTRUCTION.end()
            )));
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
        let mut c = ok.clone();
        c.dimension = 0;
        assert!(c.validate().is_err());
        c.dimension = MAX_DIMENSION + 1;
        assert!(c.validate().is_err());
        c.dimension = MAX_DIMENSION;
        assert!(c.validate().is_ok());
        let mut c = ok.clone();
        c.hnsw.m = 1;
        assert!(c.validate().is_err());
        c.hnsw.m = 129;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.hnsw.ef_construction = 3;
        assert!(c.validate().is_err());
        c.hnsw.ef_construction = 4097;
        assert!(c.validate().is_err());
        let mut c = ok;
        c.checkpoint_log_bytes = CollectionConfig::MIN_CHECKPOINT_LOG_BYTES - 1;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("checkpoint_log_bytes"), "{err}");
        c.checkpoint_log_bytes = CollectionConfig::MIN_CHECKPOINT_LOG_BYTES;
        assert!(c.validate().is_ok());
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
        assert_eq!(stored.config.hnsw.m, 12);
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
