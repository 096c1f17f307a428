//! The filter language over JSON payloads, payload indexes, and planning.
//!
//! Filters are Qdrant's filter JSON, deserialised directly with serde so the
//! server accepts Qdrant request bodies unchanged.
//!
//! - `parse.rs`: the model types, their serde shapes, key paths, datetime
//!   parsing and [`Filter::validate`].
//! - `eval.rs`: [`Filter::matches`], the naive reference evaluation on one
//!   payload. Everything else must agree with it.
//! - `payload_index.rs`: [`PayloadIndexes`], per-key value -> id bitmaps,
//!   maintained by `insert` / `remove`.
//! - `plan.rs`: [`PayloadIndexes::plan`], a candidate bitmap from the indexes.
//! - `persist.rs`: the index checkpoint file (`save` / `load`).
//!
//! ```
//! use quiver_core::PointId;
//! use quiver_core::filter::Filter;
//!
//! let filter: Filter = serde_json::from_str(
//!     r#"{"must": [{"key": "city", "match": {"value": "London"}}],
//!         "must_not": [{"key": "price", "range": {"gt": 100}}]}"#,
//! )?;
//! filter.validate()?;
//! let payload = serde_json::json!({"city": ["London", "Paris"], "price": 80});
//! let payload = payload.as_object().expect("an object");
//! assert!(filter.matches(&PointId::Num(7), payload));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Invariants: a [`Plan`]'s candidates are always a superset of the matching
//! ids among the live ids given, and exactly them when `exact`; an index
//! holds, for each id, the values of the payload last passed to `insert`
//! (provided `remove` was called with that payload before a change).

mod eval;
mod parse;
mod payload_index;
mod persist;
mod plan;

pub use parse::{
    Condition, Datetime, FieldCondition, Filter, HasIdCondition, IsEmptyCondition, IsNullCondition,
    Match, MatchValue, MinShould, Nested, NestedCondition, PayloadField, Range, RangeBound,
    ValuesCount,
};
pub use payload_index::FieldType;
#[cfg(feature = "internals")]
pub use payload_index::PayloadIndexes;
#[cfg(not(feature = "internals"))]
pub(crate) use payload_index::PayloadIndexes;
#[cfg(feature = "internals")]
pub use plan::Plan;
#[cfg(not(feature = "internals"))]
pub(crate) use plan::Plan;
// The checkpoint codec, for the fuzz targets (see `crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) use persist::{PayloadIndexReader, PayloadIndexWriter};
