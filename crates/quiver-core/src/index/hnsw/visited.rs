//! Per-search scratch space, pooled so a query allocates nothing but its
//! result: a visited list cleared in O(1) by bumping an epoch, and the two
//! heaps of the best-first search.

use super::SearchStats;
use crate::distance::prefetch;
use crate::index::Ranked;
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Scratch for one search.
pub(super) struct Scratch {
    tags: Vec<u16>,
    epoch: u16,
    /// Nodes to expand, nearest first.
    pub(super) candidates: BinaryHeap<Reverse<Ranked>>,
    /// Best results so far, worst on top.
    pub(super) top: BinaryHeap<Ranked>,
    /// Neighbour ids read from a link list.
    pub(super) links: Vec<u32>,
    /// Unvisited neighbours of the node being expanded.
    pub(super) fresh: Vec<u32>,
    /// Work done since the last reset.
    pub(super) stats: SearchStats,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            tags: Vec::new(),
            epoch: 0,
            candidates: BinaryHeap::new(),
            top: BinaryHeap::new(),
            links: Vec::new(),
            fresh: Vec::new(),
            stats: SearchStats::default(),
        }
    }

    /// Forgets every visit and sizes the list for ids `0..capacity`.
    pub(super) fn reset(&mut self, capacity: usize) {
        if self.tags.len() < capacity {
            self.tags.resize(capacity, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.tags.fill(0);
            self.epoch = 1;
        }
        self.candidates.clear();
        self.top.clear();
        self.stats = SearchStats::default();
    }

    /// Hints the CPU to load the visited tag of `id`.
    #[inline(always)]
    pub(super) fn prefetch_tag(&self, id: u32) {
        if let Some(t) = self.tags.get(id as usize..id as usize + 1) {
            prefetch(t);
        }
    }

    /// Marks `id` visited; returns true if it was not visited before.
    #[inline(always)]
    pub(super) fn visit(&mut self, id: u32) -> bool {
        match self.tags.get_mut(id as usize) {
            Some(t) if *t != self.epoch => {
                *t = self.epoch;
                true
            }
            _ => false,
        }
    }

    fn memory_bytes(&self) -> usize {
        self.tags.capacity() * 2
            + (self.candidates.capacity() + self.top.capacity()) * std::mem::size_of::<Ranked>()
            + (self.links.capacity() + self.fresh.capacity()) * 4
    }
}

/// A pool of [`Scratch`]; one is taken per search and given back after.
pub(super) struct VisitedPool {
    free: Mutex<Vec<Scratch>>,
}

impl VisitedPool {
    pub(super) fn new() -> Self {
        VisitedPool {
            free: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn take(&self, capacity: usize) -> Scratch {
        let mut s = self.free.lock().pop().unwrap_or_else(Scratch::new);
        s.reset(capacity);
        s
    }

    pub(super) fn give(&self, s: Scratch) {
        self.free.lock().push(s);
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.free.lock().iter().map(Scratch::memory_bytes).sum()
    }
}
