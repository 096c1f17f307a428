//! Test support shared by the integration tests, examples and benches of
//! Quiver's crates. Nothing here is part of a published crate.
//!
//! - [`Tmpfs`]: a small tmpfs mounted for one test, for full-disk tests.
//! - [`vectors`] and [`cosine`]: deterministic data and the reference
//!   similarity that answers are checked against.
//! - [`flip_first`] and [`crash_image`]: damage a stored file at a known
//!   place; copy a database as a crash leaves it.

mod damage;
mod tmpfs;
mod vectors;

pub use damage::{crash_image, flip_first};
pub use tmpfs::Tmpfs;
pub use vectors::{cosine, vectors};
