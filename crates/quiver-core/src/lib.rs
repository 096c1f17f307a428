//! Quiver: an embeddable vector database engine.
//!
//! Open a [`Database`] on a directory, create a [`Collection`] in it, and
//! upsert, search, filter, scroll and delete points:
//!
//! ```
//! use quiver_core::filter::{FieldType, Filter};
//! use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, SearchRequest};
//! use serde_json::json;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let docs = db.create_collection("docs", CollectionConfig::new(3, Metric::Cosine))?;
//! let payload = |city: &str| json!({"city": city}).as_object().cloned().unwrap();
//! let written = docs.upsert(vec![
//!     Point::new(1, vec![1.0, 0.0, 0.0]).with_payload(payload("London")),
//!     Point::new(2, vec![0.9, 0.1, 0.0]).with_payload(payload("Paris")),
//! ])?; // durable when it returns (the default durability is `Fsync`)
//! assert_eq!(written.points, 2);
//! docs.create_field_index("city", FieldType::Keyword)?;
//!
//! let mut query = SearchRequest::new(vec![1.0, 0.0, 0.0], 10);
//! query.filter = Some(serde_json::from_value::<Filter>(
//!     json!({"must": [{"key": "city", "match": {"value": "Paris"}}]}),
//! )?);
//! let hits = docs.search(&query)?;
//! assert_eq!(hits[0].id, PointId::Num(2));
//! # Ok(()) }
//! ```
//!
//! A collection may hold several named vectors, dense and sparse; a point
//! carries any subset of them, and a search names the one it ranks by:
//!
//! ```
//! use quiver_core::{
//!     CollectionConfig, Database, Metric, Point, SearchRequest, SparseVector, SparseVectorParams,
//!     VectorParams,
//! };
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let mut config = CollectionConfig::with_vectors([
//!     ("title".to_owned(), VectorParams::new(2, Metric::Cosine)),
//!     ("body".to_owned(), VectorParams::new(3, Metric::Dot)),
//! ]);
//! config.sparse_vectors.insert("keywords".to_owned(), SparseVectorParams::default());
//! let docs = db.create_collection("docs", config)?;
//! docs.upsert(vec![
//!     Point::without_vectors(1)
//!         .with_vector("title", vec![1.0, 0.0])
//!         .with_vector("keywords", SparseVector::new(vec![7, 42], vec![0.5, 2.0])?),
//!     Point::without_vectors(2).with_vector("body", vec![0.0, 1.0, 0.0]),
//! ])?;
//! let hits = docs.search(&SearchRequest::new(SparseVector::new(vec![42], vec![1.0])?, 5).using("keywords"))?;
//! assert_eq!(hits.len(), 1); // only point 1 has a `keywords` vector
//! assert_eq!(hits[0].score, 2.0);
//! # Ok(()) }
//! ```
//!
//! # What is public
//!
//! The crate root holds what a user names: [`Database`], [`Collection`],
//! their configuration, request and result types, [`Error`], [`Metric`] and
//! [`PointId`]. Two modules are public as namespaces: [`filter`], the filter
//! language (and [`filter::FieldType`] for payload indexes), and
//! [`storage`], the stores whose names `spec/storage.md` fixes, usable on
//! their own. The feature `internals` also exposes the building blocks
//! (`index`: the HNSW, flat and sparse indexes; `distance`: the SIMD
//! kernels; `quantization`: int8 codes;
//! `filter::PayloadIndexes` and `filter::Plan`) for benchmarks and tests;
//! they are not a stable interface. The feature `fault-injection` adds the
//! crash points the crash tests arm (`storage::fault`). The feature
//! `fuzzing` adds `fuzzing`: every decoder of bytes from disk, on a slice,
//! for the fuzz targets in `fuzz/` (see `docs/fuzzing.md`); not a stable
//! interface either.
//!
//! # Layout
//!
//! Each top-level module owns one idea, and dependencies point one way
//! (the test `tests/it/layers.rs` parses the sources and fails on any that
//! does not):
//!
//! | module | owns | may use |
//! |---|---|---|
//! | `file` | atomic replace, directory sync, `.bak` repair, the one CRC-framed log codec, the bounds-checked byte reader, crash points, platform calls | - |
//! | `distance` | [`Metric`] and the SIMD kernels picked for the running CPU | - |
//! | `error`, `point` | [`Error`], [`PointId`], [`SparseVector`] | - |
//! | [`text`] | BM25: text to sparse vectors (tokens, stop words, stemming, token ids) | point, error |
//! | [`storage`] | `MmapStorage` (vectors.dat / .idx / .wal), `LogPayloadStorage` (payloads.log / .idx), compaction | file, distance |
//! | `quantization` | compressed codes of dense vectors (int8) and their distances | distance |
//! | `index` | HNSW (graph, build, search, persistence), exact search, the sparse inverted index | file, distance |
//! | [`filter`] | the filter language, payload indexes, planning, their checkpoint | file |
//! | `collection` | one collection: its op log, the one apply path for live writes and replay, recovery, checkpoints, field indexes, search, info | storage, index, filter |
//! | `database` | a directory of collections: manifest, locks, create / drop / repair | collection |
//!
//! Each module's own doc lists its files and what each holds.
#![warn(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!(
    "quiver stores little-endian f32 and views file bytes directly; big-endian targets are not supported"
);

mod collection;
mod database;
mod error;
mod file;
pub mod filter;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod point;
pub mod storage;
pub mod text;

// Building blocks for benchmarks and tests; private (dead code allowed for
// what only those use) unless the `internals` feature asks for them.
#[cfg(feature = "internals")]
pub mod distance;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)]
mod distance;
#[cfg(feature = "internals")]
pub mod index;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)]
mod index;
#[cfg(feature = "internals")]
pub mod quantization;
#[cfg(not(feature = "internals"))]
#[allow(dead_code, unused_imports)]
mod quantization;

pub use collection::{
    Collection, CollectionConfig, CollectionInfo, DEFAULT_RRF_K, FileCheck, FileState, Fusion,
    MAX_DIMENSION, MAX_EF, MAX_K, MAX_PREFETCH_DEPTH, MAX_PREFETCHES, MAX_VECTOR_NAME_BYTES,
    MAX_VECTOR_NORM, MAX_VECTORS, Mmr, OpLogRepair, Payload, Point, PointSelector, Prefetch, Query,
    QueryRequest, Record, ScoredPoint, ScrollPage, ScrollRequest, SearchRequest, SearchStrategy,
    SparseModifier, SparseVectorParams, UpdateResult, VectorParams,
};
pub use database::{Database, ManifestRepair};
pub use distance::{Metric, kernel_name};
pub use error::{Error, ErrorKind, Result};
pub use index::hnsw::HnswConfig;
pub use point::{MAX_SPARSE_ENTRIES, NamedVectors, PointId, SparseVector, Vector};
