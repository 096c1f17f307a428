//! Compaction of `vectors.dat`, and the open-time repair of a compaction
//! that a crash interrupted.
//!
//! Steps and the state a crash after each one leaves:
//!
//! | step | crash point after it | files on disk | repair at open |
//! |---|---|---|---|
//! | 1. live vectors -> `vectors.dat.tmp`, fsync | `compact:after_data_tmp` | old files + `dat.tmp` | delete `dat.tmp` |
//! | 2. new index -> `vectors.idx.tmp`, fsync | `compact:after_index_tmp` | old files + both tmps | delete both tmps |
//! | 3a. rename `dat.tmp` -> `vectors.dat` (commit) | `compact:after_data_rename` | new data, old index + `idx.tmp`, old WAL | promote `idx.tmp`; replay the old WAL |
//! | 3b. rename `idx.tmp` -> `vectors.idx`, fsync dir | `compact:after_index_rename` | new data + index, old WAL | none; the old WAL replays and converges |
//! | 3c. truncate the WAL | - | new files | - |
//! | 4. remap, reopen the data handle | - | - | - |
//!
//! Replaying an old WAL over the new files converges because store frames
//! carry whole values and deletes replay in order.
//!
//! Steps 1-2 need only `&self` ([`MmapStorage::prepare_compaction`]), so a
//! caller that shares the store behind a `RwLock` can run them under the
//! read side while searches go on, and take the write side only for the
//! short swap ([`MmapStorage::finish_compaction`]).
//!
//! This file owns the files; `mmap.rs` owns the store's state. Compaction
//! reads the store only through a [`Slots`] view and hands back a
//! [`CompactedTable`] for the store to adopt.
//!
//! [`MmapStorage::prepare_compaction`]: super::MmapStorage::prepare_compaction
//! [`MmapStorage::finish_compaction`]: super::MmapStorage::finish_compaction

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::FxHashMap;

use super::checkpoint;
use super::mmap::{DATA_FILE, INDEX_FILE, INITIAL_CAPACITY_BYTES, Slots};
use crate::file::atomic::{PairRewrite, write_synced};
use crate::file::corrupt;
use crate::file::fault::crash_point;

/// Bring the directory back to a consistent state after an interrupted
/// compaction (see the module table). Runs before anything is loaded.
pub(crate) fn repair(dir: &Path) -> io::Result<()> {
    rewrite(dir).repair()
}

/// `vectors.dat` (the commit point) and `vectors.idx`, rewritten together.
fn rewrite(dir: &Path) -> PairRewrite {
    PairRewrite::new(dir, DATA_FILE, INDEX_FILE)
}

/// Steps 1-2 of a compaction, done: `vectors.dat.tmp` and
/// `vectors.idx.tmp` are written and fsynced. Pass it to
/// [`super::MmapStorage::finish_compaction`]; dropping it abandons the compaction
/// (its files are removed at the next compaction or open).
#[derive(Debug)]
pub struct CompactionPlan {
    dir: PathBuf,
    /// The store's change counter when the copy was taken.
    change_seq: u64,
    used_slots: u64,
    next_slot: u64,
    offsets: FxHashMap<u64, u64>,
    crcs: FxHashMap<u64, u32>,
    busy: Arc<AtomicBool>,
}

impl Drop for CompactionPlan {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::Release);
    }
}

impl CompactionPlan {
    /// Steps 1-2 under the read lock `slots` was taken with: copy the live
    /// vectors into `vectors.dat.tmp` and write `vectors.idx.tmp`, both
    /// fsynced. `busy` is the store's flag, already set; the plan clears it
    /// when dropped. Every vector copied is checked against its CRC first:
    /// a damaged one is never carried into the new file.
    ///
    /// # Errors
    /// `InvalidData` naming the id and offset of a vector that fails its
    /// CRC or lies outside `vectors.dat` (the old files are untouched);
    /// I/O errors.
    pub(super) fn prepare(slots: &Slots<'_>, busy: Arc<AtomicBool>) -> io::Result<Self> {
        let mut plan = CompactionPlan {
            dir: slots.dir.to_owned(),
            change_seq: slots.change_seq,
            used_slots: slots.next_slot,
            next_slot: 0,
            offsets: FxHashMap::default(),
            crcs: FxHashMap::default(),
            busy,
        };
        let pair = rewrite(slots.dir);
        let data_tmp = pair.primary_tmp();
        let index_tmp = pair.secondary_tmp();

        // 1. Copy live vectors, in file order, into the new data file.
        let mut entries: Vec<(u64, u64)> =
            slots.offsets.iter().map(|(&id, &off)| (id, off)).collect();
        entries.sort_unstable_by_key(|&(id, off)| (off, id));
        plan.offsets.reserve(entries.len());
        plan.crcs.reserve(entries.len());
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&data_tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, &file);
        let data_path = slots.dir.join(DATA_FILE);
        for (id, offset) in entries {
            let range = slots.range(id, offset)?;
            let bytes = slots
                .data
                .get(range)
                .ok_or_else(|| corrupt(&data_path, offset, "slot out of range"))?;
            let crc = crc32fast::hash(bytes);
            match slots.crcs.get(&id) {
                Some(&expected) if expected == crc => {}
                expected => {
                    return Err(corrupt(
                        &data_path,
                        offset,
                        format!(
                            "vector of id {id} fails its CRC (recorded {}, data {crc:#010x}); compaction stopped, nothing was changed",
                            expected.map_or_else(|| "none".to_owned(), |c| format!("{c:#010x}"))
                        ),
                    ));
                }
            }
            out.write_all(bytes)?;
            plan.offsets.insert(id, plan.next_slot * slots.slot_bytes);
            plan.crcs.insert(id, crc);
            plan.next_slot += 1;
        }
        out.flush()?;
        drop(out);
        let used_bytes = plan.next_slot * slots.slot_bytes;
        // The whole file gets mapped: its tail gets disk blocks now, so no
        // later write into it can fault on a full disk.
        let len = used_bytes.max(INITIAL_CAPACITY_BYTES);
        crate::file::sys::allocate(&file, used_bytes, len - used_bytes)?;
        file.sync_all()?;
        crash_point("compact:after_data_tmp")?;

        // 2. The new index.
        let index_bytes =
            checkpoint::encode(slots.dimension, plan.next_slot, &plan.offsets, &plan.crcs);
        write_synced(&index_tmp, &index_bytes, true)?;
        crash_point("compact:after_index_tmp")?;
        Ok(plan)
    }

    /// Directory of the store this plan was prepared from.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's change counter when the copy was taken.
    pub(super) fn change_seq(&self) -> u64 {
        self.change_seq
    }

    /// Step 3a, the commit point: rename `vectors.dat.tmp` over
    /// `vectors.dat`. An error here leaves the old files in use.
    pub(super) fn commit(&self) -> io::Result<()> {
        rewrite(&self.dir).commit()
    }

    /// Step 3b, after [`CompactionPlan::commit`]: rename the new index in
    /// and fsync the directory. An error leaves the rest to open-time repair.
    pub(super) fn finish(&self) -> io::Result<()> {
        crash_point("compact:after_data_rename")?;
        rewrite(&self.dir).finish()?;
        crash_point("compact:after_index_rename")
    }

    /// The new slot table: (slots used before, slots used now, id ->
    /// offset, id -> CRC).
    pub(super) fn into_table(mut self) -> CompactedTable {
        CompactedTable {
            used_slots_before: self.used_slots,
            next_slot: self.next_slot,
            offsets: std::mem::take(&mut self.offsets),
            crcs: std::mem::take(&mut self.crcs),
        }
    }
}

/// The slot table of a finished compaction, for the store to adopt.
pub(super) struct CompactedTable {
    pub(super) used_slots_before: u64,
    pub(super) next_slot: u64,
    pub(super) offsets: FxHashMap<u64, u64>,
    pub(super) crcs: FxHashMap<u64, u32>,
}
