//! The bytes of one file, in fixed-size blocks shared copy-on-write.
//!
//! A durable copy of a file is a clone of its [`Content`]: cloning copies the
//! block table, not the blocks, and a later write copies only the blocks it
//! touches. So holding a volatile and a durable version of a file of a few
//! hundred MiB costs one copy of the blocks written since the last fsync.

use std::sync::Arc;

/// Bytes per block.
pub(crate) const BLOCK_BYTES: usize = 64 * 1024;

/// File contents: a length and a table of blocks, `None` for a block that
/// reads as zeros (never written, or punched).
#[derive(Clone, Debug, Default)]
pub(crate) struct Content {
    len: u64,
    blocks: Vec<Option<Arc<Vec<u8>>>>,
}

impl Content {
    /// Length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Bytes of the blocks that hold data (what `stat` reports as allocated).
    pub(crate) fn allocated_bytes(&self) -> u64 {
        let held = self.blocks.iter().filter(|b| b.is_some()).count();
        held as u64 * BLOCK_BYTES as u64
    }

    /// Up to `len` bytes from `offset`, fewer at the end of the file.
    pub(crate) fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        if offset >= self.len {
            return Vec::new();
        }
        let end = (offset + len as u64).min(self.len);
        let mut out = vec![0u8; (end - offset) as usize];
        let mut pos = offset;
        while pos < end {
            let (index, within) = split(pos);
            let take = ((BLOCK_BYTES - within) as u64).min(end - pos) as usize;
            if let Some(Some(block)) = self.blocks.get(index) {
                let at = (pos - offset) as usize;
                out[at..at + take].copy_from_slice(&block[within..within + take]);
            }
            pos += take as u64;
        }
        out
    }

    /// Write `data` at `offset`, growing the file (with zeros before
    /// `offset`) when it ends past the current length.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        self.reserve_blocks(end);
        let mut pos = offset;
        while pos < end {
            let (index, within) = split(pos);
            let take = ((BLOCK_BYTES - within) as u64).min(end - pos) as usize;
            let block = self.blocks[index].get_or_insert_with(|| Arc::new(vec![0u8; BLOCK_BYTES]));
            let at = (pos - offset) as usize;
            Arc::make_mut(block)[within..within + take].copy_from_slice(&data[at..at + take]);
            pos += take as u64;
        }
        self.len = self.len.max(end);
    }

    /// Set the length: shrinking drops the bytes past `len` (a later
    /// growth reads them as zeros), growing appends zeros.
    pub(crate) fn set_len(&mut self, len: u64) {
        if len < self.len {
            let (index, within) = split(len);
            self.blocks.truncate(index + usize::from(within > 0));
            if within > 0
                && let Some(Some(block)) = self.blocks.get_mut(index)
            {
                Arc::make_mut(block)[within..].fill(0);
            }
        } else {
            self.reserve_blocks(len);
        }
        self.len = len;
    }

    /// Make `offset..offset + len` read as zeros without changing the length.
    pub(crate) fn zero_range(&mut self, offset: u64, len: u64) {
        let end = (offset + len).min(self.len);
        let mut pos = offset;
        while pos < end {
            let (index, within) = split(pos);
            let take = ((BLOCK_BYTES - within) as u64).min(end - pos) as usize;
            if let Some(slot) = self.blocks.get_mut(index) {
                if take == BLOCK_BYTES {
                    *slot = None;
                } else if let Some(block) = slot {
                    Arc::make_mut(block)[within..within + take].fill(0);
                }
            }
            pos += take as u64;
        }
    }

    fn reserve_blocks(&mut self, end: u64) {
        let needed = end.div_ceil(BLOCK_BYTES as u64) as usize;
        if self.blocks.len() < needed {
            self.blocks.resize(needed, None);
        }
    }
}

fn split(pos: u64) -> (usize, usize) {
    (
        (pos / BLOCK_BYTES as u64) as usize,
        (pos % BLOCK_BYTES as u64) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_across_blocks_reads_back_and_leaves_a_clone_untouched() {
        let mut c = Content::default();
        let data: Vec<u8> = (0..3 * BLOCK_BYTES + 17).map(|i| (i % 251) as u8).collect();
        c.write(100, &data);
        assert_eq!(c.len(), 100 + data.len() as u64);
        assert_eq!(c.read(0, 100), vec![0u8; 100]);
        assert_eq!(c.read(100, data.len()), data);
        let snapshot = c.clone();
        c.write(BLOCK_BYTES as u64, &[9u8; 10]);
        assert_eq!(snapshot.read(100, data.len()), data);
        assert_eq!(c.read(BLOCK_BYTES as u64, 10), vec![9u8; 10]);
    }

    #[test]
    fn shrinking_then_growing_reads_zeros() {
        let mut c = Content::default();
        c.write(0, &[7u8; 2 * BLOCK_BYTES]);
        c.set_len(10);
        c.set_len(2 * BLOCK_BYTES as u64);
        assert_eq!(c.read(0, 10), vec![7u8; 10]);
        assert_eq!(c.read(10, 2 * BLOCK_BYTES), vec![0u8; 2 * BLOCK_BYTES - 10]);
    }

    #[test]
    fn zero_range_keeps_length_and_frees_whole_blocks() {
        let mut c = Content::default();
        c.write(0, &[1u8; 3 * BLOCK_BYTES]);
        c.zero_range(5, 2 * BLOCK_BYTES as u64);
        assert_eq!(c.len(), 3 * BLOCK_BYTES as u64);
        assert_eq!(c.read(0, 5), vec![1u8; 5]);
        assert_eq!(c.read(5, 2 * BLOCK_BYTES), vec![0u8; 2 * BLOCK_BYTES]);
        assert_eq!(c.read(5 + 2 * BLOCK_BYTES as u64, 10), vec![1u8; 10]);
        assert_eq!(c.allocated_bytes(), 2 * BLOCK_BYTES as u64);
    }
}
