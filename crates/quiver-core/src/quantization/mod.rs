//! Compressed codes for dense vectors, searched in place of the floats and
//! rescored with them.
//!
//! - `scalar.rs`: [`ScalarQuantizer`], int8 codes on a range learnt from a
//!   sample (Qdrant's `scalar` quantization with `quantile`), with distances
//!   from the integer byte dot product kernel ([`FoldedTerms`] is the form
//!   the HNSW over codes keeps beside each node's codes).

mod scalar;

pub use scalar::{CodeTerms, FoldedTerms, ScalarQuantizer};
