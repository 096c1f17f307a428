//! Quiver: an embeddable vector database engine.
//!
//! Open a [`storage::MmapStorage`] for raw vectors, or (above it) a database
//! directory of collections. The layers, from the bottom:
//!
//! - [`storage`]: crash-safe, memory-mapped vector files with a CRC-framed
//!   write-ahead log, and a log-structured JSON payload store.
//! - [`distance`]: metrics and the SIMD kernels chosen for the running CPU.
//! - [`index`]: exact (flat) and HNSW nearest-neighbour indexes.
//! - [`filter`]: the filter language over JSON payloads and payload indexes.
#![warn(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!(
    "quiver stores little-endian f32 and views file bytes directly; big-endian targets are not supported"
);

mod collection;
mod database;
pub mod distance;
mod error;
mod file;
pub mod filter;
pub mod index;
mod point;
pub mod storage;

pub use collection::SearchStrategy;
pub use collection::{
    Collection, CollectionConfig, CollectionInfo, FileCheck, FileState, MAX_DIMENSION, MAX_EF,
    MAX_K, MAX_VECTOR_NORM, OpLogRepair, Payload, Point, PointSelector, Record, ScoredPoint,
    ScrollPage, ScrollRequest, SearchRequest, UpdateResult,
};
pub use database::{Database, ManifestRepair};
pub use distance::Metric;
pub use error::{Error, ErrorKind, Result};
pub use filter::{FieldType, Filter, PayloadIndexes, Plan};
pub use index::Neighbor;
pub use index::hnsw::{Hnsw, HnswConfig};
pub use point::PointId;
pub use storage::{
    DurabilityMode, LogPayloadStorage, MmapStorage, PayloadStorage, StorageMetrics,
    VectorSliceGuard, VectorStorage,
};
