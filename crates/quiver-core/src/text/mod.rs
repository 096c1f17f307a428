//! Text to sparse vectors, on the engine's side.
//!
//! - `bm25.rs`: [`Bm25`], the BM25 term weighting that Qdrant names
//!   `qdrant/bm25` (and fastembed computes on the client): the same tokens,
//!   token ids and weights, so vectors made on either side can be mixed in
//!   one collection.
//! - `tokens.rs`: splitting text into words, lower-casing, stop words and
//!   stemming, per [`Language`].

mod bm25;
mod tokens;

pub use bm25::{Bm25, Bm25Config};
pub use tokens::Language;
