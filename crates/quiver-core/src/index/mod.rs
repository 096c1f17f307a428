//! Nearest-neighbour indexes over internal `u32` ids.
//!
//! `flat.rs` is exact search (a bounded heap over candidates), the ground
//! truth and the fallback for tiny filtered sets. `hnsw/` is the
//! approximate graph index: see its module doc for layout and locking.
//! `sparse.rs` is the inverted index of sparse vectors, exact top-k by dot
//! product with MaxScore pruning.
//! Both take preprocessed vectors (see [`crate::distance::Metric::preprocess`])
//! and report internal distances, smaller is closer.

pub mod flat;
pub mod hnsw;
pub mod sparse;

use std::cmp::Ordering;

/// One search result: an internal id and its internal distance.
///
/// Result lists are sorted by distance ascending, ties by id ascending.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// Internal id, as given by the caller when the vector was added.
    pub id: u32,
    /// Internal distance (see [`crate::distance::Metric::distance`]).
    pub distance: f32,
}

impl Neighbor {
    /// Total order used for result lists: distance (NaN last), then id.
    pub fn cmp_rank(&self, other: &Neighbor) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.id.cmp(&other.id))
    }
}

/// `Neighbor` ordered by [`Neighbor::cmp_rank`], for heaps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ranked(pub Neighbor);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp_rank(&other.0)
    }
}
