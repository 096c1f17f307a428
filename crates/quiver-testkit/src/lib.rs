//! Test support shared by the integration tests, examples and benches of
//! Quiver's crates. Nothing here is part of a published crate.
//!
//! - [`Tmpfs`]: a small tmpfs mounted for one test, for full-disk tests.
//! - [`vectors`] and [`cosine`]: deterministic data and the reference
//!   similarity that answers are checked against.
//! - [`flip_first`]: damage a stored file at a known place.

mod damage;
mod tmpfs;
mod vectors;

pub use damage::flip_first;
pub use tmpfs::Tmpfs;
pub use vectors::{cosine, vectors};
