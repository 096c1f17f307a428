//! Best-first search over the graph: the greedy descent through the upper
//! levels and the beam search (`ef` wide) of one level.
//!
//! The distance to the query comes in as a closure from node id to
//! distance (`dist`), so one generic loop serves float32 vectors, int8
//! codes and exact distances from an outside store, each monomorphised.

use super::SearchStats;
use super::graph::Graph;
use super::visited::Scratch;
use crate::distance::prefetch;
use crate::index::{Neighbor, Ranked};
use std::cmp::Reverse;
use std::sync::atomic::Ordering;

impl Graph {
    /// Greedy walk on `level` from `start` to a local minimum of the distance
    /// to `query`.
    pub(super) fn greedy(
        &self,
        dist: &impl Fn(u32) -> f32,
        start: Neighbor,
        level: usize,
        s: &mut Scratch,
    ) -> Neighbor {
        let mut best = start;
        loop {
            let mut changed = false;
            self.read_links(best.id, level, &mut s.links);
            s.stats.expanded += 1;
            s.stats.distances += s.links.len() as u64;
            for &n in s.links.iter() {
                self.nodes.prefetch_payload(n);
            }
            for &n in s.links.iter() {
                let d = dist(n);
                if d < best.distance {
                    best = Neighbor { id: n, distance: d };
                    changed = true;
                }
            }
            if !changed {
                return best;
            }
        }
    }

    /// Greedy descent from the entry point down to `stop_level + 1`; returns
    /// the start for the beam search on `stop_level`.
    pub(super) fn descend(
        &self,
        dist: &impl Fn(u32) -> f32,
        entry: (u32, usize),
        stop_level: usize,
        s: &mut Scratch,
    ) -> Neighbor {
        let (id, top_level) = entry;
        s.stats.distances += 1;
        let mut cur = Neighbor {
            id,
            distance: dist(id),
        };
        for level in (stop_level + 1..=top_level).rev() {
            cur = self.greedy(dist, cur, level, s);
        }
        cur
    }

    /// Beam search of width `ef` on `level` from `start`. Every node reached
    /// is expanded, but only nodes for which `admit` holds enter the result
    /// heap `s.top` (at most `ef` of them, worst on top). While fewer than
    /// `ef` nodes are admitted the search does not stop early, so a
    /// restrictive `admit` widens it up to the whole connected graph.
    pub(super) fn search_level(
        &self,
        dist: &impl Fn(u32) -> f32,
        start: Neighbor,
        ef: usize,
        level: usize,
        s: &mut Scratch,
        admit: impl Fn(u32) -> bool,
    ) {
        let ef = ef.max(1);
        s.visit(start.id);
        s.candidates.push(Reverse(Ranked(start)));
        if admit(start.id) {
            s.top.push(Ranked(start));
        }
        let mut bound = if s.top.len() >= ef {
            s.top.peek().map_or(f32::INFINITY, |w| w.0.distance)
        } else {
            f32::INFINITY
        };
        while let Some(Reverse(Ranked(c))) = s.candidates.pop() {
            if c.distance > bound {
                break;
            }
            // The next node to expand is likely the current best candidate:
            // start loading its link list now, it is needed after this one.
            if let Some(Reverse(Ranked(next))) = s.candidates.peek() {
                prefetch(self.links(next.id, level));
            }
            self.read_links(c.id, level, &mut s.links);
            s.stats.expanded += 1;
            for &n in &s.links {
                s.prefetch_tag(n);
            }
            s.fresh.clear();
            for i in 0..s.links.len() {
                let n = s.links[i];
                if s.visit(n) {
                    self.nodes.prefetch_payload(n);
                    s.fresh.push(n);
                }
            }
            s.stats.distances += s.fresh.len() as u64;
            for i in 0..s.fresh.len() {
                let n = s.fresh[i];
                let d = dist(n);
                if d < bound || s.top.len() < ef {
                    let nb = Neighbor { id: n, distance: d };
                    s.candidates.push(Reverse(Ranked(nb)));
                    if admit(n) {
                        s.top.push(Ranked(nb));
                        if s.top.len() > ef {
                            s.top.pop();
                        }
                        if s.top.len() >= ef {
                            bound = s.top.peek().map_or(f32::INFINITY, |w| w.0.distance);
                        }
                    }
                }
            }
        }
    }

    /// The `k` nearest live points admitted by `allow`, best first, by
    /// `dist` (the distance from the query to a node). The caller checks
    /// the query's dimension.
    pub(super) fn knn(
        &self,
        dist: &impl Fn(u32) -> f32,
        k: usize,
        ef: usize,
        allow: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> (Vec<Neighbor>, SearchStats) {
        let Some(entry) = self.entry() else {
            return (Vec::new(), SearchStats::default());
        };
        if k == 0 {
            return (Vec::new(), SearchStats::default());
        }
        let mut s = self.visited.take(self.capacity);
        let start = self.descend(dist, entry, 0, &mut s);
        let ef = ef.max(k);
        // Links lead only to present nodes, so a node reached is live unless
        // its deleted bit is set, and without tombstones not even that needs
        // a look. A delete
        // that lands after this check is concurrent with the search, which
        // may then return the point as of its start.
        let tombstones = self.deleted.load(Ordering::Acquire) != 0;
        match (allow, tombstones) {
            (None, false) => self.search_level(dist, start, ef, 0, &mut s, |_| true),
            (None, true) => {
                self.search_level(dist, start, ef, 0, &mut s, |n| !self.nodes.deleted(n))
            }
            (Some(f), _) => self.search_level(dist, start, ef, 0, &mut s, |n| {
                !self.nodes.deleted(n) && f(n)
            }),
        }
        let mut out: Vec<Neighbor> = s.top.drain().map(|r| r.0).collect();
        out.sort_unstable_by(Neighbor::cmp_rank);
        out.truncate(k);
        let stats = s.stats;
        self.visited.give(s);
        (out, stats)
    }
}
