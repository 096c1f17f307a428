//! Construction: level draws, linking a node into the graph with Malkov's
//! neighbour-selection heuristic, and the parallel bulk build.
//!
//! Linking follows hnswlib: the new node's own list is written under its
//! lock, then each chosen neighbour is locked in turn (never two node locks
//! at once) and gets a back link, pruned by the same heuristic when full.
//! An insert that may raise the top level holds `entry_lock` for its whole
//! link phase; lock order is `entry_lock`, then node locks.

use super::graph::{Graph, MAX_LEVEL, PRESENT};
use super::space::Space;
use super::visited::Scratch;
use crate::index::{Neighbor, Ranked};
use rand::Rng;
use rand::rngs::SmallRng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Build progress is reported every this many linked points.
const PROGRESS_EVERY: usize = 1024;

/// Draws a level with probability `exp(-level / mult)`, `mult = 1 / ln(m)`.
pub(super) fn draw_level(rng: &mut SmallRng, m: usize) -> u8 {
    let mult = 1.0 / (m.max(2) as f64).ln();
    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let level = (-u.ln() * mult).floor();
    if level >= f64::from(MAX_LEVEL) {
        MAX_LEVEL
    } else {
        level as u8
    }
}

impl Graph {
    /// Malkov's heuristic: walk `candidates` nearest first and keep one only
    /// if it is closer to the base than to every neighbour kept so far, up
    /// to `max` neighbours. `candidates` holds distances to the base.
    pub(super) fn select_neighbors(
        &self,
        space: &impl Space,
        candidates: &mut [Neighbor],
        max: usize,
        out: &mut Vec<Neighbor>,
    ) {
        out.clear();
        candidates.sort_unstable_by(Neighbor::cmp_rank);
        if candidates.len() <= max {
            out.extend_from_slice(candidates);
            return;
        }
        for &c in candidates.iter() {
            if out.len() >= max {
                break;
            }
            let good = out
                .iter()
                .all(|r| space.between(self, c.id, r.id) >= c.distance);
            if good {
                out.push(c);
            }
        }
    }

    /// Links the present node `id` (vector and level already set) into the
    /// graph, or re-links it after its vector changed.
    pub(super) fn link(&self, space: &impl Space, id: u32, s: &mut Scratch) {
        let level = self.levels[id as usize] as usize;
        let _raise_guard;
        let entry = match self.entry() {
            Some((_, top)) if level <= top => self.entry(),
            _ => {
                _raise_guard = self.entry_lock.lock();
                self.entry()
            }
        };
        let Some(entry) = entry else {
            self.set_entry(id, level);
            return;
        };
        let dist = |n: u32| space.between(self, id, n);
        let top_level = entry.1;
        // Re-linking a node that is itself on the path (the entry point, or
        // an updated node the descent lands on) works too: it is expanded as
        // the start but never admitted as its own neighbour.
        let mut start = self.descend(&dist, entry, level.min(top_level), s);
        // Choose neighbours top-down, but write links bottom-up: once an
        // upper-level link leads a concurrent search to this node, its
        // lower lists already exist, so the search can continue from it.
        let mut cands = Vec::with_capacity(self.ef_construction);
        let mut chosen = Vec::with_capacity(self.m0);
        let mut plan: Vec<Vec<u32>> = Vec::with_capacity(level.min(top_level) + 1);
        for l in (0..=level.min(top_level)).rev() {
            s.reset(self.capacity);
            self.search_level(&dist, start, self.ef_construction, l, s, |n| n != id);
            cands.clear();
            cands.extend(s.top.drain().map(|r: Ranked| r.0));
            if let Some(best) = cands.iter().min_by(|a, b| a.cmp_rank(b)) {
                start = *best;
            }
            // As in hnswlib, a new node picks `m` links on every level; its
            // level-0 list fills up to `m0` with back links from later nodes.
            // (Picking `m0` at once raised recall a little but made the
            // build several times slower on high-dimensional data, where
            // the heuristic prunes little.)
            self.select_neighbors(space, &mut cands, self.m, &mut chosen);
            plan.push(chosen.iter().map(|n| n.id).collect());
        }
        for (l, ids) in plan.iter().rev().enumerate() {
            {
                let _g = self.locks[id as usize].lock();
                self.write_links(id, l, ids);
            }
            let max = if l == 0 { self.m0 } else { self.m };
            for &n in ids {
                self.add_back_link(space, n, id, l, max, s);
            }
        }
        if level > top_level {
            self.set_entry(id, level);
        }
    }

    /// Adds `new` to the list of `node` on `level`, pruning with the
    /// heuristic when the list is full.
    fn add_back_link(
        &self,
        space: &impl Space,
        node: u32,
        new: u32,
        level: usize,
        max: usize,
        s: &mut Scratch,
    ) {
        if (self.levels[node as usize] as usize) < level {
            return;
        }
        let _g = self.locks[node as usize].lock();
        self.read_links(node, level, &mut s.links);
        if s.links.contains(&new) {
            return;
        }
        if s.links.len() < max {
            s.links.push(new);
            self.write_links(node, level, &s.links);
            return;
        }
        let mut cands: Vec<Neighbor> = s
            .links
            .iter()
            .chain(std::iter::once(&new))
            .map(|&n| Neighbor {
                id: n,
                distance: space.between(self, node, n),
            })
            .collect();
        let mut kept = Vec::with_capacity(max);
        self.select_neighbors(space, &mut cands, max, &mut kept);
        s.links.clear();
        s.links.extend(kept.iter().map(|n| n.id));
        self.write_links(node, level, &s.links);
    }

    /// Bulk build: every `(id, vector)` is copied (or encoded) in, then linked in
    /// parallel on the current rayon pool (in order when it has one thread,
    /// which makes the build deterministic for a fixed seed). A repeated id
    /// keeps its last vector.
    pub(super) fn fill(
        &mut self,
        space: &impl Space,
        items: &[(u32, &[f32])],
        rng: &mut SmallRng,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) {
        let dim = self.dim;
        let capacity = items
            .iter()
            .filter(|(_, v)| v.len() == dim)
            .map(|(id, _)| *id as usize + 1)
            .max()
            .unwrap_or(0);
        self.grow(capacity);
        let mut order = Vec::with_capacity(items.len());
        for (id, v) in items {
            if v.len() != dim {
                tracing::warn!(
                    id,
                    len = v.len(),
                    dim,
                    "hnsw build skips a vector of the wrong dimension"
                );
                continue;
            }
            let i = *id as usize;
            self.store(*id, v);
            if self.flags[i].load(Ordering::Relaxed) & PRESENT == 0 {
                self.flags[i].store(PRESENT, Ordering::Relaxed);
                let level = draw_level(rng, self.m);
                self.alloc_upper(*id, level);
                self.levels[i] = level;
                order.push(*id);
            }
        }
        // The arena grew by doubling; linking allocates nothing more in it.
        self.upper.shrink_to_fit();
        self.present.store(order.len(), Ordering::Relaxed);
        let Some((&first, rest)) = order.split_first() else {
            return;
        };
        let graph = &*self;
        let mut s = graph.visited.take(graph.capacity);
        graph.link(space, first, &mut s);
        graph.visited.give(s);
        let linked = AtomicUsize::new(1);
        let report = |done: usize| {
            if let Some(p) = progress
                && done.is_multiple_of(PROGRESS_EVERY)
            {
                p(done);
            }
        };
        if rayon::current_num_threads() <= 1 {
            let mut s = graph.visited.take(graph.capacity);
            for (i, &id) in rest.iter().enumerate() {
                graph.link(space, id, &mut s);
                report(i + 2);
            }
            graph.visited.give(s);
        } else {
            // One worker per thread, each claiming the next point in order,
            // as hnswlib's parallel add does. (Splitting `rest` the rayon way,
            // into halves, inserted two far-apart streams at once and cost
            // some recall at equal ef on data stored in a meaningful order.)
            // Each worker takes one pooled scratch (its visited list is as
            // long as the graph) for its whole run.
            let next = AtomicUsize::new(0);
            (0..rayon::current_num_threads())
                .into_par_iter()
                .with_max_len(1)
                .for_each(|_| {
                    let mut s = graph.visited.take(graph.capacity);
                    while let Some(&id) = rest.get(next.fetch_add(1, Ordering::Relaxed)) {
                        graph.link(space, id, &mut s);
                        report(linked.fetch_add(1, Ordering::Relaxed) + 1);
                    }
                    graph.visited.give(s);
                });
        }
        if let Some(p) = progress {
            p(order.len());
        }
    }
}
