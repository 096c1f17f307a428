//! HNSW: the hierarchical navigable small-world graph index.
//!
//! - `graph.rs`: memory layout (hnswlib-like: contiguous vectors, a flat
//!   level-0 link array, an arena for upper levels) and the link-list
//!   protocol between lock-free readers and locked writers.
//! - `build.rs`: level draws, linking with Malkov's heuristic, parallel build.
//! - `space.rs`: node-to-node distances on float32 vectors or int8 codes.
//! - `search.rs`: greedy descent and the `ef`-wide beam search.
//! - `rescore.rs`: search of a graph over int8 codes with the best
//!   candidates rescored against float32 vectors from the caller.
//! - `visited.rs`: pooled per-search scratch (epoch visited lists, heaps).
//! - `persist.rs`: the checkpoint file.
//!
//! # Concurrency
//!
//! One `RwLock` guards the graph. Searches, deletes and the link phase of an
//! insert hold it shared; link lists change under per-node locks (see
//! `graph.rs`). An insert holds it exclusively only to copy its vector in
//! (and grow the arrays), then downgrades. A rebuild (after too many
//! tombstones) holds it exclusively for its whole run. Lock order: the
//! graph lock, then `entry_lock`, then one node lock at a time.

mod build;
mod graph;
mod nodes;
mod persist;
mod rescore;
mod search;
mod space;
mod visited;

#[cfg_attr(not(feature = "internals"), allow(unused_imports))]
pub use rescore::{Linking, QuantizationSearch, RowVectors, VectorSource};

use crate::distance::Metric;
use crate::index::Neighbor;
use crate::quantization::ScalarQuantizer;
use graph::{DELETED, Graph, PRESENT};
use parking_lot::{Mutex, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use space::{CodeSpace, FloatSpace, SourceSpace};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use visited::Scratch;

/// Rebuild the graph once at least this many points are tombstones...
const REBUILD_MIN_DELETED: usize = 64;
/// ...and they are at least this fraction of the points in the graph.
const REBUILD_DELETED_RATIO: f64 = 0.3;

/// HNSW parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswConfig {
    /// Links per node on the upper levels; level 0 keeps `2 * m`.
    pub m: usize,
    /// Beam width while linking a new node.
    pub ef_construction: usize,
    /// Seed of the level draws; a single-threaded build is deterministic.
    pub seed: u64,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construction: 200,
            seed: 0x5eed_f00d,
        }
    }
}

/// Work done by one search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Distance evaluations (the entry point, the greedy descent and the beam search).
    pub distances: u64,
    /// Link lists read (nodes expanded), on all levels.
    pub expanded: u64,
}

/// Bytes an index holds, by role (see [`Hnsw::memory`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HnswMemory {
    /// Links, per-node state (levels, flags, locks) and pooled search
    /// scratch: everything but the node payloads.
    pub graph_bytes: usize,
    /// Int8 codes and their per-vector terms (0 in a float32 graph).
    pub codes_bytes: usize,
    /// Float32 vectors held in the graph's blocks (0 in a graph over codes).
    pub vectors_bytes: usize,
}

/// An HNSW index over internal `u32` ids (dense ids keep it small: arrays
/// are indexed by id). `Send + Sync`; every method takes `&self`, so
/// searches run while other threads insert or delete.
///
/// Its node blocks hold either float32 vectors ([`Hnsw::new`],
/// [`Hnsw::build`]) or int8 codes of a [`ScalarQuantizer`] with their
/// per-vector terms ([`Hnsw::new_quantized`], [`Hnsw::build_quantized`]).
/// A graph over codes builds and searches with code distances (those of
/// the codes' read-back vectors); [`Hnsw::search_quantized`] rescores its
/// best candidates exactly against float32 vectors the caller keeps.
pub struct Hnsw {
    dim: usize,
    metric: Metric,
    config: HnswConfig,
    graph: RwLock<Graph>,
    rng: Mutex<SmallRng>,
    /// Rebuilds so far (each drops the deleted nodes).
    rebuilds: AtomicU64,
}

impl Hnsw {
    /// An empty index for vectors of `dimension` floats.
    pub fn new(dimension: usize, metric: Metric, config: HnswConfig) -> Self {
        Hnsw {
            dim: dimension,
            metric,
            config,
            graph: RwLock::new(Graph::new(dimension, config.m, config.ef_construction)),
            rng: Mutex::new(SmallRng::seed_from_u64(config.seed)),
            rebuilds: AtomicU64::new(0),
        }
    }

    /// An empty index over int8 codes of `quantizer` (trained on vectors
    /// preprocessed for `metric`); inserted vectors are encoded and only
    /// their codes are kept.
    ///
    /// # Errors
    ///
    /// [`crate::Error::DimensionMismatch`] when the quantizer is for
    /// another dimension.
    pub fn new_quantized(
        dimension: usize,
        metric: Metric,
        config: HnswConfig,
        quantizer: ScalarQuantizer,
    ) -> crate::Result<Self> {
        if quantizer.dimension() != dimension {
            return Err(crate::Error::DimensionMismatch {
                expected: dimension,
                got: quantizer.dimension(),
            });
        }
        Ok(Hnsw {
            dim: dimension,
            metric,
            config,
            graph: RwLock::new(Graph::with_payload(
                dimension,
                Some(quantizer),
                config.m,
                config.ef_construction,
            )),
            rng: Mutex::new(SmallRng::seed_from_u64(config.seed)),
            rebuilds: AtomicU64::new(0),
        })
    }

    /// [`Hnsw::build_with_progress`] into an index over int8 codes of
    /// `quantizer`: each vector is encoded as it is copied in, and linking
    /// (the beam searches and the neighbour heuristic) uses the distances
    /// `linking` names: code distances ([`Linking::Codes`], the float32
    /// vectors are read once) or exact ones from a source
    /// ([`Linking::Exact`], the links a float32 build chooses, at its cost).
    ///
    /// # Errors
    ///
    /// As [`Hnsw::new_quantized`].
    pub fn build_quantized(
        dimension: usize,
        metric: Metric,
        config: HnswConfig,
        quantizer: ScalarQuantizer,
        items: &[(u32, &[f32])],
        linking: Linking<'_>,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> crate::Result<Self> {
        let index = Hnsw::new_quantized(dimension, metric, config, quantizer)?;
        {
            let mut g = index.graph.write();
            let mut rng = index.rng.lock();
            match linking {
                Linking::Codes => fill(&mut g, metric, items, &mut rng, progress),
                Linking::Exact(source) => {
                    let space = SourceSpace {
                        kernel: metric.kernel(),
                        source,
                        dim: dimension,
                    };
                    g.fill(&space, items, &mut rng, progress);
                }
            }
        }
        Ok(index)
    }

    /// The quantizer of a graph over int8 codes (`None` for float32).
    pub fn quantizer(&self) -> Option<ScalarQuantizer> {
        self.graph.read().quantizer
    }

    /// Builds an index from `items` in parallel over all threads of the
    /// current rayon pool. Vectors must already be preprocessed
    /// ([`Metric::preprocess`]). Items whose length is not `dimension` are
    /// skipped (callers validate first); a repeated id keeps its last vector.
    /// With a one-thread pool the result depends only on the items and the seed.
    pub fn build(
        dimension: usize,
        metric: Metric,
        config: HnswConfig,
        items: &[(u32, &[f32])],
    ) -> Self {
        Hnsw::build_with_progress(dimension, metric, config, items, None)
    }

    /// [`Hnsw::build`], calling `progress(points_linked)` from the build
    /// threads every thousand or so points and once at the end.
    pub fn build_with_progress(
        dimension: usize,
        metric: Metric,
        config: HnswConfig,
        items: &[(u32, &[f32])],
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Self {
        let index = Hnsw::new(dimension, metric, config);
        {
            let mut g = index.graph.write();
            let mut rng = index.rng.lock();
            fill(&mut g, metric, items, &mut rng, progress);
        }
        index
    }

    /// The dimension of the vectors.
    pub fn dimension(&self) -> usize {
        self.dim
    }

    /// The metric the graph was built for.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The parameters.
    pub fn config(&self) -> HnswConfig {
        self.config
    }

    /// Inserts `vector` (preprocessed) as `id`, or replaces the vector of an
    /// existing or deleted `id` and re-links it. Thread-safe.
    ///
    /// Re-linking moves the node: its old out-links are replaced, so nodes
    /// that were reached only through them can become unreachable. Under
    /// heavy churn, insert under ids the graph does not [hold](Hnsw::holds)
    /// (a collection does: it reuses an id only after a rebuild dropped it).
    ///
    /// # Errors
    ///
    /// [`crate::Error::DimensionMismatch`] when `vector.len()` is not the
    /// index dimension; nothing changes then.
    pub fn insert(&self, id: u32, vector: &[f32]) -> crate::Result<()> {
        if vector.len() != self.dim {
            return Err(crate::Error::DimensionMismatch {
                expected: self.dim,
                got: vector.len(),
            });
        }
        let mut g = self.graph.write();
        let i = id as usize;
        if i >= g.capacity {
            let grown = (g.capacity + g.capacity / 2).max(i + 1).max(64);
            g.grow(grown);
        }
        g.store(id, vector);
        let flag = g.flags[i].load(Ordering::Relaxed);
        if flag & PRESENT == 0 {
            let level = build::draw_level(&mut self.rng.lock(), g.m);
            g.alloc_upper(id, level);
            g.levels[i] = level;
            g.flags[i].store(PRESENT, Ordering::Release);
            g.present.fetch_add(1, Ordering::Relaxed);
        } else if flag & DELETED != 0 {
            g.mark_deleted(id, false);
            g.deleted.fetch_sub(1, Ordering::Relaxed);
        }
        let g = RwLockWriteGuard::downgrade(g);
        let mut s = g.visited.take(g.capacity);
        link(&g, self.metric, id, &mut s);
        g.visited.give(s);
        Ok(())
    }

    /// Marks `id` deleted: it is never returned again but still routes
    /// searches. Past a tombstone ratio the call rebuilds the graph from the
    /// live points before it returns; searches and other deletions go on
    /// against the old graph meanwhile, inserts wait. Unknown ids are
    /// ignored.
    pub fn delete(&self, id: u32) {
        let rebuild = {
            let g = self.graph.read();
            let Some(f) = g.flags.get(id as usize) else {
                return;
            };
            let old = g.mark_deleted(id, true);
            if old & PRESENT == 0 {
                f.store(old, Ordering::Release);
                return;
            }
            if old & DELETED != 0 {
                return;
            }
            g.deleted.fetch_add(1, Ordering::Release);
            needs_rebuild(&g)
        };
        if rebuild {
            self.rebuild();
        }
    }

    /// How many times the graph has rebuilt itself without its deleted
    /// nodes (past its tombstone ratio); after a change, ids it no longer
    /// [holds](Hnsw::holds) can be inserted afresh.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds.load(Ordering::Acquire)
    }

    /// Rebuilds the graph from the live points, dropping tombstones.
    /// Searches (and deletions) go on against the old graph meanwhile;
    /// only inserts wait, and the swap at the end.
    fn rebuild(&self) {
        // A rebuild already under way (or an insert) holds the lock: this
        // deletion stays a tombstone, and a later one tries again.
        let Some(g) = self.graph.try_upgradable_read() else {
            return;
        };
        if !needs_rebuild(&g) {
            return;
        }
        let dim = self.dim;
        let live: Vec<u32> = (0..g.capacity as u32).filter(|&i| g.is_live(i)).collect();
        // A graph over codes keeps no floats: its codes read back and
        // encode to the same codes again.
        let decoded: Vec<Vec<f32>> = match g.quantizer {
            Some(_) => live.iter().map(|&i| g.vector_or_decoded(i)).collect(),
            None => Vec::new(),
        };
        let items: Vec<(u32, &[f32])> = match g.quantizer {
            Some(_) => live
                .iter()
                .zip(&decoded)
                .map(|(&i, v)| (i, &v[..]))
                .collect(),
            None => live.iter().map(|&i| (i, g.vector(i))).collect(),
        };
        let mut fresh =
            Graph::with_payload(dim, g.quantizer, self.config.m, self.config.ef_construction);
        let mut rng = SmallRng::seed_from_u64(self.config.seed);
        // A private pool: threads of the global pool may be blocked on this
        // graph's lock, and waiting for them would deadlock.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
            Ok(pool) => pool.install(|| fill(&mut fresh, self.metric, &items, &mut rng, None)),
            Err(e) => {
                tracing::warn!(error = %e, "hnsw rebuild skipped: no thread pool");
                return;
            }
        }
        drop(items);
        drop(decoded);
        let mut g = RwLockUpgradableReadGuard::upgrade(g);
        // Deletions made during the build (they take only a read lock).
        for &i in &live {
            if !g.is_live(i) {
                fresh.mark_deleted(i, true);
                fresh.deleted.fetch_add(1, Ordering::Relaxed);
            }
        }
        fresh.grow(g.capacity);
        *g = fresh;
        self.rebuilds.fetch_add(1, Ordering::Release);
    }

    /// True when `id` is present and not deleted.
    pub fn contains(&self, id: u32) -> bool {
        self.graph.read().is_live(id)
    }

    /// True when `id` is a node of the graph, live or deleted (a deleted
    /// node keeps routing searches, so it still needs its vector).
    pub fn holds(&self, id: u32) -> bool {
        let g = self.graph.read();
        g.flags
            .get(id as usize)
            .is_some_and(|f| f.load(Ordering::Acquire) & PRESENT != 0)
    }

    /// Number of live (present, not deleted) points.
    pub fn len(&self) -> usize {
        self.graph.read().live()
    }

    /// True when there is no live point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored (preprocessed) vector of a live `id`; in a graph over
    /// codes, its codes read back.
    pub fn vector(&self, id: u32) -> Option<Vec<f32>> {
        let g = self.graph.read();
        g.is_live(id).then(|| g.vector_or_decoded(id))
    }

    /// Every node of the graph, live or deleted, in id order: the ids whose
    /// vectors a store must hold for [`Hnsw::save_without_vectors`].
    pub fn node_ids(&self) -> Vec<u32> {
        let g = self.graph.read();
        (0..g.capacity as u32)
            .filter(|&i| g.flags[i as usize].load(Ordering::Acquire) & PRESENT != 0)
            .collect()
    }

    /// The vector of node `id`, live or deleted (read back from its codes
    /// in a graph over codes).
    pub fn node_vector(&self, id: u32) -> Option<Vec<f32>> {
        let g = self.graph.read();
        let present = g
            .flags
            .get(id as usize)
            .is_some_and(|f| f.load(Ordering::Acquire) & PRESENT != 0);
        present.then(|| g.vector_or_decoded(id))
    }

    /// The `k` nearest live points to `query` (preprocessed), best first,
    /// searching with beam width `max(ef, k)`. With `allow`, every node is
    /// traversed but only allowed ones are returned, and the search widens
    /// until it has `k` of them or has seen the whole connected graph, so it
    /// returns `min(k, live allowed points)` when the graph is connected.
    /// A query of the wrong dimension gets no results. In a graph over
    /// codes, distances are those of the codes (the query is encoded too)
    /// and nothing is rescored; see [`Hnsw::search_quantized`].
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        allow: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> Vec<Neighbor> {
        self.search_with_stats(query, k, ef, allow).0
    }

    /// [`Hnsw::search`], also returning how much work the search did (for
    /// benchmarks that compare graph quality at equal recall).
    pub fn search_with_stats(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        allow: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> (Vec<Neighbor>, SearchStats) {
        let g = self.graph.read();
        if query.len() != self.dim {
            return (Vec::new(), SearchStats::default());
        }
        let graph: &Graph = &g;
        match graph.quantizer {
            None => {
                let kernel = self.metric.kernel();
                graph.knn(&|n| kernel.eval(query, graph.vector(n)), k, ef, allow)
            }
            Some(q) => {
                let space = CodeSpace::new(self.metric, &q);
                let mut codes = Vec::with_capacity(q.code_len());
                let terms = q.fold(q.encode(query, &mut codes));
                graph.knn(
                    &|n| space.query_distance(graph, &codes, terms, n),
                    k,
                    ef,
                    allow,
                )
            }
        }
    }

    /// Atomic checkpoint: writes `path` with a temporary file, fsync, rename
    /// and directory fsync. `tag` is stored and returned by [`Hnsw::load`].
    ///
    /// # Errors
    ///
    /// Any I/O error; `path` is then unchanged. `Unsupported` for a graph
    /// over codes, whose checkpoint format does not exist yet.
    pub fn save(&self, path: &Path, tag: u64) -> std::io::Result<()> {
        let g = self.graph.read();
        refuse_codes(&g)?;
        persist::save(&g, self.metric, self.config, path, tag, true)
    }

    /// [`Hnsw::save`] without the vectors, for a caller that keeps the
    /// vector of every node (live or deleted) in its own store; read it
    /// back with [`Hnsw::load_with_vectors`]. The file is about the size
    /// of the links alone.
    ///
    /// # Errors
    ///
    /// As [`Hnsw::save`].
    pub fn save_without_vectors(&self, path: &Path, tag: u64) -> std::io::Result<()> {
        let g = self.graph.read();
        refuse_codes(&g)?;
        persist::save(&g, self.metric, self.config, path, tag, false)
    }

    /// Loads a checkpoint written by [`Hnsw::save`] with one sequential read.
    ///
    /// # Errors
    ///
    /// `InvalidData` when the file is truncated, fails its checksum, is for
    /// another dimension or metric, or is inconsistent; other I/O errors as
    /// they come.
    pub fn load(path: &Path, dimension: usize, metric: Metric) -> std::io::Result<(Self, u64)> {
        Self::from_file(path, dimension, metric, None)
    }

    /// Loads a checkpoint of either kind; one written by
    /// [`Hnsw::save_without_vectors`] gets the vector of each node from
    /// `vector`, which fills the slice and returns true, or returns false
    /// when it has no vector for that id.
    ///
    /// # Errors
    ///
    /// As [`Hnsw::load`], and `InvalidData` when a node has no vector.
    pub fn load_with_vectors(
        path: &Path,
        dimension: usize,
        metric: Metric,
        mut vector: impl FnMut(u32, &mut [f32]) -> bool,
    ) -> std::io::Result<(Self, u64)> {
        Self::from_file(path, dimension, metric, Some(&mut vector))
    }

    fn from_file(
        path: &Path,
        dimension: usize,
        metric: Metric,
        external: Option<persist::VectorSource<'_>>,
    ) -> std::io::Result<(Self, u64)> {
        let (graph, config, tag) = persist::load(path, dimension, metric, external)?;
        Ok(Self::from_graph(graph, dimension, metric, config, tag))
    }

    /// [`Hnsw::load_with_vectors`] (or [`Hnsw::load`] without `vector`) of
    /// the bytes of a checkpoint read from `path`.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn decode(
        path: &Path,
        bytes: &[u8],
        dimension: usize,
        metric: Metric,
        vector: Option<persist::VectorSource<'_>>,
    ) -> std::io::Result<(Self, u64)> {
        let (graph, config, tag) = persist::decode(path, bytes, dimension, metric, vector)?;
        Ok(Self::from_graph(graph, dimension, metric, config, tag))
    }

    /// The bytes [`Hnsw::save`] (`with_vectors`) or
    /// [`Hnsw::save_without_vectors`] writes.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn encode(&self, tag: u64, with_vectors: bool) -> std::io::Result<Vec<u8>> {
        let g = self.graph.read();
        refuse_codes(&g)?;
        persist::encode(&g, self.metric, self.config, tag, with_vectors)
    }

    fn from_graph(
        graph: Graph,
        dimension: usize,
        metric: Metric,
        config: HnswConfig,
        tag: u64,
    ) -> (Self, u64) {
        let index = Hnsw {
            dim: dimension,
            metric,
            config,
            graph: RwLock::new(graph),
            rng: Mutex::new(SmallRng::seed_from_u64(config.seed ^ tag)),
            rebuilds: AtomicU64::new(0),
        };
        (index, tag)
    }

    /// Bytes of memory the index holds (vectors or codes, links, per-node
    /// state and pooled search scratch).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.graph.read().memory_bytes()
    }

    /// [`Hnsw::memory_bytes`] by role; the three parts add up to it.
    pub fn memory(&self) -> HnswMemory {
        let total = self.memory_bytes();
        let g = self.graph.read();
        let payload = g.payload_bytes();
        let (codes_bytes, vectors_bytes) = match g.quantizer {
            Some(_) => (payload, 0),
            None => (0, payload),
        };
        HnswMemory {
            graph_bytes: total.saturating_sub(payload),
            codes_bytes,
            vectors_bytes,
        }
    }
}

/// Bulk-fills `g` with the distance of its payload.
fn fill(
    g: &mut Graph,
    metric: Metric,
    items: &[(u32, &[f32])],
    rng: &mut SmallRng,
    progress: Option<&(dyn Fn(usize) + Sync)>,
) {
    match g.quantizer {
        Some(q) => g.fill(&CodeSpace::new(metric, &q), items, rng, progress),
        None => g.fill(&FloatSpace(metric.kernel()), items, rng, progress),
    }
}

/// Links node `id` of `g` with the distance of its payload.
fn link(g: &Graph, metric: Metric, id: u32, s: &mut Scratch) {
    match g.quantizer {
        Some(q) => g.link(&CodeSpace::new(metric, &q), id, s),
        None => g.link(&FloatSpace(metric.kernel()), id, s),
    }
}

/// The checkpoint format holds float32 vectors and links only.
fn refuse_codes(g: &Graph) -> std::io::Result<()> {
    if g.quantizer.is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "saving an HNSW graph over int8 codes is not implemented yet",
        ));
    }
    Ok(())
}

/// True when the deleted nodes have reached the share at which the graph
/// rebuilds itself without them.
fn needs_rebuild(g: &Graph) -> bool {
    let deleted = g.deleted.load(Ordering::Acquire);
    let present = g.present.load(Ordering::Relaxed);
    deleted >= REBUILD_MIN_DELETED && deleted as f64 >= REBUILD_DELETED_RATIO * present as f64
}

impl std::fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("dim", &self.dim)
            .field("metric", &self.metric)
            .field("config", &self.config)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
