//! Per-node blocks: each node's payload and its level-0 link list side by
//! side in one array of fixed stride, `[payload .., count, n_1 .. n_m0]`.
//! The payload is the float32 vector (`dim` words), or, in a graph over
//! int8 codes, the folded code terms (offset, norm², two `f32` words)
//! followed by the codes, four to a word (`2 + ceil(dim / 4)` words).
//!
//! A search computes the distance to a node long before it expands it, and
//! on a large index both the payload and the link list are cache misses.
//! Keeping them adjacent lets the second ride on the first: the link list
//! is usually in cache (or one sequential prefetch away) by the time the node
//! is expanded, where separate arrays cost a second random miss per
//! expansion.
//!
//! The count word of a level-0 list also carries, in its top bit
//! ([`COUNT_DELETED`]), a copy of the node's deleted flag: a search that
//! has to skip tombstones reads it from the line it is loading anyway
//! instead of from the flag array, a random miss per result candidate on a
//! large graph. The flag array stays the authority; this bit follows it.
//!
//! The words are `AtomicU32` because link entries change concurrently (see
//! `graph.rs` for the protocol). Payload words are only ever written through
//! `&mut Nodes`, so handing out `&[f32]` / `&[u8]` views of them through
//! `&Nodes` is sound: nothing writes them while such a view lives, and no
//! atomic operation ever touches a payload word.

use std::sync::atomic::{AtomicU32, Ordering};

/// Top bit of a level-0 count word: the node is deleted.
pub(super) const COUNT_DELETED: u32 = 1 << 31;

pub(super) struct Nodes {
    words: Vec<AtomicU32>,
    /// Payload words per node (`dim` for float32 vectors).
    dim: usize,
    /// Words per node: `dim + 1 + m0`.
    stride: usize,
    capacity: usize,
}

impl Nodes {
    /// Blocks of `payload_words` payload words and `m0` level-0 links.
    pub(super) fn new(payload_words: usize, m0: usize) -> Self {
        Nodes {
            words: Vec::new(),
            dim: payload_words,
            stride: payload_words + 1 + m0,
            capacity: 0,
        }
    }

    /// Grows to `capacity` slots; new slots hold a zero vector and no links.
    pub(super) fn grow(&mut self, capacity: usize) {
        if capacity <= self.capacity {
            return;
        }
        self.words
            .resize_with(capacity * self.stride, || AtomicU32::new(0));
        self.capacity = capacity;
    }

    /// The vector of slot `id`. Panics when `id` is out of range, like a
    /// slice index (callers check ids against the capacity first).
    #[inline(always)]
    pub(super) fn vector(&self, id: u32) -> &[f32] {
        let start = id as usize * self.stride;
        let words = &self.words[start..start + self.dim];
        // SAFETY: `AtomicU32` has the size and alignment of `f32`, and the
        // range is in bounds (checked by the slice index above). Vector words
        // are written only through `&mut self` (`vector_mut`), so no write
        // can happen while this shared view lives (see the module docs).
        unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<f32>(), self.dim) }
    }

    /// The vector of slot `id`, to overwrite.
    pub(super) fn vector_mut(&mut self, id: u32) -> &mut [f32] {
        let start = id as usize * self.stride;
        let words = &mut self.words[start..start + self.dim];
        // SAFETY: as in `vector`; the exclusive borrow of `self` rules out
        // any other view of these words while this one lives.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<f32>(), self.dim) }
    }

    /// The payload of slot `id` as bytes (four per word, little-endian:
    /// the byte order of the `f32` / `u8` views is that of the machine,
    /// which storage pins to little-endian).
    #[inline(always)]
    pub(super) fn payload_bytes(&self, id: u32) -> &[u8] {
        let start = id as usize * self.stride;
        let words = &self.words[start..start + self.dim];
        // SAFETY: the range is in bounds (checked by the slice index above)
        // and `u8` has no alignment; payload words are written only through
        // `&mut self`, so no write happens while this shared view lives.
        unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), self.dim * 4) }
    }

    /// The payload of slot `id` as bytes, to overwrite.
    pub(super) fn payload_bytes_mut(&mut self, id: u32) -> &mut [u8] {
        let start = id as usize * self.stride;
        let words = &mut self.words[start..start + self.dim];
        // SAFETY: as in `payload_bytes`; the exclusive borrow of `self`
        // rules out any other view of these words while this one lives.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), self.dim * 4) }
    }

    /// Hints the CPU to load the start of slot `id`'s payload.
    #[inline(always)]
    pub(super) fn prefetch_payload(&self, id: u32) {
        let start = id as usize * self.stride;
        if let Some(words) = self.words.get(start..start + self.dim) {
            crate::distance::prefetch(words);
        }
    }

    /// Bytes of payload (vectors or codes) the blocks hold.
    pub(super) fn payload_bytes_total(&self) -> usize {
        self.capacity * self.dim * 4
    }

    /// The level-0 link list of slot `id`: `[count, entries..]`.
    #[inline(always)]
    pub(super) fn links(&self, id: u32) -> &[AtomicU32] {
        let start = id as usize * self.stride;
        &self.words[start + self.dim..start + self.stride]
    }

    /// True when the deleted bit of `id`'s level-0 count word is set.
    #[inline(always)]
    pub(super) fn deleted(&self, id: u32) -> bool {
        self.words[id as usize * self.stride + self.dim].load(Ordering::Relaxed) & COUNT_DELETED
            != 0
    }

    /// Sets or clears the deleted bit of `id` without touching its count.
    pub(super) fn set_deleted(&self, id: u32, deleted: bool) {
        let count = &self.words[id as usize * self.stride + self.dim];
        if deleted {
            count.fetch_or(COUNT_DELETED, Ordering::Release);
        } else {
            count.fetch_and(!COUNT_DELETED, Ordering::Release);
        }
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.words.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn vectors_and_links_of_neighbouring_slots_do_not_overlap() {
        let (dim, m0) = (5, 4);
        let mut n = Nodes::new(dim, m0);
        n.grow(3);
        for id in 0..3u32 {
            let v: Vec<f32> = (0..dim).map(|j| (id * 10 + j as u32) as f32).collect();
            n.vector_mut(id).copy_from_slice(&v);
            let list = n.links(id);
            assert_eq!(list.len(), m0 + 1);
            list[0].store(m0 as u32, Ordering::Relaxed);
            for (j, e) in list[1..].iter().enumerate() {
                e.store(100 * id + j as u32, Ordering::Relaxed);
            }
        }
        n.grow(5);
        for id in 0..3u32 {
            let want: Vec<f32> = (0..dim).map(|j| (id * 10 + j as u32) as f32).collect();
            assert_eq!(n.vector(id), &want[..]);
            let list: Vec<u32> = n
                .links(id)
                .iter()
                .map(|e| e.load(Ordering::Relaxed))
                .collect();
            let mut want = vec![m0 as u32];
            want.extend((0..m0 as u32).map(|j| 100 * id + j));
            assert_eq!(list, want);
        }
        assert!(n.vector(4).iter().all(|&x| x == 0.0));
        assert!(n.links(4).iter().all(|e| e.load(Ordering::Relaxed) == 0));
    }
}
