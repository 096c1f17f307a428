//! Memory layout of the graph, modelled on hnswlib: each node's vector (or
//! int8 codes, in a graph over codes) and level-0 links in one block of an
//! array of fixed stride (`nodes.rs`), upper-level links in one arena
//! addressed by a per-node offset.
//!
//! A link list is `[count, n_1, .., n_max]` of `AtomicU32`. Writers hold the
//! node's lock, store the entries, then store the count with `Release`;
//! readers load the count with `Acquire` and the entries without a lock. A
//! reader racing a writer may see a mix of the old and the new list, but
//! every entry it sees is the id of a node that is present, so a search
//! stays correct (as in hnswlib).

use super::nodes::{COUNT_DELETED, Nodes};
use super::visited::VisitedPool;
use crate::quantization::{FoldedTerms, ScalarQuantizer};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Flag bit: the slot holds a vector.
pub(super) const PRESENT: u8 = 1;
/// Flag bit: the point was deleted; it is traversed but never returned.
pub(super) const DELETED: u8 = 2;
/// Offset value of a node without upper levels.
pub(super) const NO_UPPER: u32 = u32::MAX;
/// Entry value of an empty graph.
pub(super) const NO_ENTRY: u64 = u64::MAX;
/// Highest level a node may get (level draws beyond it are clamped).
pub(super) const MAX_LEVEL: u8 = 31;
/// Words of folded code terms (offset, norm²) ahead of a node's codes.
const CODE_TERMS_WORDS: usize = 2;

/// The whole index state. Mutated in place only through `&mut` (under the
/// index's write lock); links, flags and the entry point also change through
/// atomics under the read lock.
pub(crate) struct Graph {
    pub(super) dim: usize,
    /// Set in a graph over int8 codes: the node blocks hold codes and
    /// folded terms (see `nodes.rs`) instead of float32 vectors.
    pub(super) quantizer: Option<ScalarQuantizer>,
    /// Links per node on levels >= 1.
    pub(super) m: usize,
    /// Links per node on level 0 (`2 * m`).
    pub(super) m0: usize,
    pub(super) ef_construction: usize,
    /// Number of slots (ids `0..capacity`).
    pub(super) capacity: usize,
    /// Vectors and level-0 links.
    pub(super) nodes: Nodes,
    pub(super) levels: Vec<u8>,
    pub(super) flags: Vec<AtomicU8>,
    pub(super) upper_offset: Vec<u32>,
    pub(super) upper: Vec<AtomicU32>,
    pub(super) locks: Vec<Mutex<()>>,
    /// `(level << 32) | node`, or `NO_ENTRY`.
    pub(super) entry: AtomicU64,
    /// Held by an insert that may raise the top level, for its whole link phase.
    pub(super) entry_lock: Mutex<()>,
    pub(super) present: AtomicUsize,
    pub(super) deleted: AtomicUsize,
    pub(super) visited: VisitedPool,
}

impl Graph {
    /// An empty graph over float32 vectors of `dim` components.
    pub(super) fn new(dim: usize, m: usize, ef_construction: usize) -> Self {
        Graph::with_payload(dim, None, m, ef_construction)
    }

    /// An empty graph whose nodes hold int8 codes of `quantizer` (for
    /// vectors of `dim` components) when it is given, float32 vectors
    /// otherwise.
    pub(super) fn with_payload(
        dim: usize,
        quantizer: Option<ScalarQuantizer>,
        m: usize,
        ef_construction: usize,
    ) -> Self {
        let m = m.max(2);
        let payload_words = match quantizer {
            Some(q) => CODE_TERMS_WORDS + q.code_len().div_ceil(4),
            None => dim,
        };
        Graph {
            dim,
            quantizer,
            m,
            m0: 2 * m,
            ef_construction: ef_construction.max(1),
            capacity: 0,
            nodes: Nodes::new(payload_words, 2 * m),
            levels: Vec::new(),
            flags: Vec::new(),
            upper_offset: Vec::new(),
            upper: Vec::new(),
            locks: Vec::new(),
            entry: AtomicU64::new(NO_ENTRY),
            entry_lock: Mutex::new(()),
            present: AtomicUsize::new(0),
            deleted: AtomicUsize::new(0),
            visited: VisitedPool::new(),
        }
    }

    /// Grows every per-node array to hold ids `0..capacity`.
    pub(super) fn grow(&mut self, capacity: usize) {
        if capacity <= self.capacity {
            return;
        }
        self.nodes.grow(capacity);
        self.levels.resize(capacity, 0);
        self.flags.resize_with(capacity, || AtomicU8::new(0));
        self.upper_offset.resize(capacity, NO_UPPER);
        self.locks.resize_with(capacity, || Mutex::new(()));
        self.capacity = capacity;
    }

    /// Gives `id` room for links on levels `1..=level` (no-op for level 0 or
    /// when it has room already).
    pub(super) fn alloc_upper(&mut self, id: u32, level: u8) {
        let i = id as usize;
        if level == 0 || self.upper_offset[i] != NO_UPPER && self.levels[i] >= level {
            return;
        }
        let offset = self.upper.len();
        self.upper
            .resize_with(offset + level as usize * (self.m + 1), || AtomicU32::new(0));
        self.upper_offset[i] = u32::try_from(offset).unwrap_or(NO_UPPER);
        self.levels[i] = level;
    }

    /// The float32 vector of `id`; in a graph over codes (where the blocks
    /// hold none) the `dim` payload words read as floats, which callers
    /// never use (every caller checks `quantizer` first).
    #[inline(always)]
    pub(super) fn vector(&self, id: u32) -> &[f32] {
        self.nodes.vector(id)
    }

    /// The folded terms and codes of `id` in a graph over codes (zeros and
    /// an empty slice in a float graph, whose blocks are shorter or differ).
    #[inline(always)]
    pub(super) fn code(&self, id: u32) -> (FoldedTerms, &[u8]) {
        let b = self.nodes.payload_bytes(id);
        let word = |i: usize| {
            let mut w = [0u8; 4];
            if let Some(src) = b.get(4 * i..4 * i + 4) {
                w.copy_from_slice(src);
            }
            f32::from_ne_bytes(w)
        };
        let codes = b.get(4 * CODE_TERMS_WORDS..4 * CODE_TERMS_WORDS + self.dim);
        (
            FoldedTerms {
                offset: word(0),
                norm2: word(1),
            },
            codes.unwrap_or(&[]),
        )
    }

    /// Writes the payload of `id` from the (preprocessed) vector `v`: `v`
    /// itself, or its codes and folded terms in a graph over codes.
    pub(super) fn store(&mut self, id: u32, v: &[f32]) {
        let Some(q) = self.quantizer else {
            self.nodes.vector_mut(id).copy_from_slice(v);
            return;
        };
        let mut codes = Vec::with_capacity(q.code_len());
        let terms = q.fold(q.encode(v, &mut codes));
        let b = self.nodes.payload_bytes_mut(id);
        b.fill(0);
        b[0..4].copy_from_slice(&terms.offset.to_ne_bytes());
        b[4..8].copy_from_slice(&terms.norm2.to_ne_bytes());
        let start = 4 * CODE_TERMS_WORDS;
        b[start..start + codes.len()].copy_from_slice(&codes);
    }

    /// The float32 vector of `id` as the graph knows it: the stored vector,
    /// or in a graph over codes the codes read back (`lo + step c`, which
    /// encode to the same codes again).
    pub(super) fn vector_or_decoded(&self, id: u32) -> Vec<f32> {
        match self.quantizer {
            None => self.vector(id).to_vec(),
            Some(q) => q.decode(self.code(id).1),
        }
    }

    /// The link list of `id` on `level`: `[count, entries..]`.
    #[inline(always)]
    pub(super) fn links(&self, id: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            self.nodes.links(id)
        } else {
            let stride = self.m + 1;
            let base = self.upper_offset[id as usize] as usize;
            let start = base + (level - 1) * stride;
            self.upper.get(start..start + stride).unwrap_or(&[])
        }
    }

    /// Copies the current neighbours of `id` on `level` into `out`.
    #[inline]
    pub(super) fn read_links(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let list = self.links(id, level);
        let Some((count, entries)) = list.split_first() else {
            return;
        };
        let n = ((count.load(Ordering::Acquire) & !COUNT_DELETED) as usize).min(entries.len());
        out.extend(entries[..n].iter().map(|e| e.load(Ordering::Relaxed)));
    }

    /// Replaces the neighbours of `id` on `level`; the caller holds `id`'s lock.
    pub(super) fn write_links(&self, id: u32, level: usize, neighbors: &[u32]) {
        let list = self.links(id, level);
        let Some((count, entries)) = list.split_first() else {
            return;
        };
        let n = neighbors.len().min(entries.len());
        for (slot, &v) in entries.iter().zip(&neighbors[..n]) {
            slot.store(v, Ordering::Relaxed);
        }
        // Keep the deleted bit (level 0 only; upper counts never have it):
        // a delete may set it at any moment without the node's lock.
        let _ = count.fetch_update(Ordering::Release, Ordering::Relaxed, |c| {
            Some((c & COUNT_DELETED) | n as u32)
        });
    }

    #[inline(always)]
    pub(super) fn flag(&self, id: u32) -> u8 {
        self.flags
            .get(id as usize)
            .map_or(0, |f| f.load(Ordering::Relaxed))
    }

    #[inline(always)]
    pub(super) fn is_live(&self, id: u32) -> bool {
        self.flag(id) & (PRESENT | DELETED) == PRESENT
    }

    /// Marks `id` deleted (or live again) in both the flag array and the
    /// copy next to its level-0 links. Returns the flags before.
    pub(super) fn mark_deleted(&self, id: u32, deleted: bool) -> u8 {
        let Some(f) = self.flags.get(id as usize) else {
            return 0;
        };
        let old = if deleted {
            f.fetch_or(DELETED, Ordering::AcqRel)
        } else {
            f.fetch_and(!DELETED, Ordering::AcqRel)
        };
        if old & PRESENT != 0 {
            self.nodes.set_deleted(id, deleted);
        }
        old
    }

    pub(super) fn entry(&self) -> Option<(u32, usize)> {
        let e = self.entry.load(Ordering::Acquire);
        (e != NO_ENTRY).then_some(((e & 0xffff_ffff) as u32, (e >> 32) as usize))
    }

    pub(super) fn set_entry(&self, id: u32, level: usize) {
        self.entry
            .store(((level as u64) << 32) | u64::from(id), Ordering::Release);
    }

    pub(super) fn live(&self) -> usize {
        self.present
            .load(Ordering::Relaxed)
            .saturating_sub(self.deleted.load(Ordering::Relaxed))
    }

    /// Bytes of node payload: float32 vectors, or codes and their terms.
    pub(super) fn payload_bytes(&self) -> usize {
        self.nodes.payload_bytes_total()
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes()
            + self.levels.capacity()
            + self.flags.capacity()
            + self.upper_offset.capacity() * 4
            + self.upper.capacity() * 4
            + self.locks.capacity() * std::mem::size_of::<Mutex<()>>()
            + self.visited.memory_bytes()
    }
}
