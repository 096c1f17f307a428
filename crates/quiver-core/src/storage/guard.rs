//! [`VectorSliceGuard`]: a borrowed, zero-copy view of one stored vector.
//!
//! # Safety
//!
//! This file holds no `unsafe`: the guard owns the read lock of the mapping
//! (so no remap or unmap can happen while it lives, see `mmap.rs`) and views
//! the bytes through `bytemuck`'s checked cast.

use std::ops::{Deref, Range};

use parking_lot::RwLockReadGuard;

use super::mmap::MapState;

/// A stored vector, read in place from the memory map.
///
/// The guard holds a read lock on the mapping for its whole life: the data
/// file cannot be remapped (grown or swapped by compaction) while it lives,
/// and the epoch it reports stays valid. Several guards may live at once.
/// Keep guards short-lived: writers that need to grow the file wait for them.
pub struct VectorSliceGuard<'a> {
    map: RwLockReadGuard<'a, MapState>,
    range: Range<usize>,
}

impl<'a> VectorSliceGuard<'a> {
    /// Wrap a byte range that the caller validated against this mapping
    /// (in bounds, 4-byte aligned, a whole vector).
    pub(crate) fn new(map: RwLockReadGuard<'a, MapState>, range: Range<usize>) -> Self {
        Self { map, range }
    }

    /// The mapping epoch this view was taken from; bumped on every remap.
    pub fn epoch(&self) -> u64 {
        self.map.epoch
    }

    /// The vector's values.
    pub fn as_slice(&self) -> &[f32] {
        // The range was checked against this very mapping when the guard was
        // made and the mapping cannot change while we hold the read lock, so
        // the fallback to an empty slice is never taken.
        self.map
            .bytes()
            .get(self.range.clone())
            .and_then(|bytes| bytemuck::try_cast_slice(bytes).ok())
            .unwrap_or_default()
    }
}

impl Deref for VectorSliceGuard<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        self.as_slice()
    }
}

impl AsRef<[f32]> for VectorSliceGuard<'_> {
    fn as_ref(&self) -> &[f32] {
        self.as_slice()
    }
}

impl std::fmt::Debug for VectorSliceGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorSliceGuard")
            .field("epoch", &self.map.epoch)
            .field("values", &self.as_slice())
            .finish()
    }
}
