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

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::FxHashMap;

use super::checkpoint;
use super::invalid_input;
use super::mmap::{DATA_FILE, INDEX_FILE, INITIAL_CAPACITY_BYTES, MmapStorage, map_file};
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
/// [`MmapStorage::finish_compaction`]; dropping it abandons the compaction
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

impl MmapStorage {
    /// Rewrite the live vectors into a fresh `vectors.dat` and swap it in:
    /// [`Self::prepare_compaction`] then [`Self::finish_compaction`].
    ///
    /// Returns the bytes reclaimed: the dead slots dropped from the used part
    /// of the file (0 when there are none, and then nothing is rewritten).
    /// Crash-safe at every instant (see the table in this module's source).
    /// The WAL is empty afterwards; the result is fsynced in every mode.
    ///
    /// # Errors
    /// `WouldBlock` while a [`CompactionPlan`] of this store is outstanding;
    /// I/O errors: before the commit rename the old files are untouched.
    pub fn compact(&mut self) -> io::Result<usize> {
        match self.prepare_compaction()? {
            None => Ok(0),
            Some(plan) => self.finish_compaction(plan),
        }
    }

    /// Steps 1-2 of [`Self::compact`] under `&self`: copy the live vectors
    /// into `vectors.dat.tmp` and write `vectors.idx.tmp`, both fsynced.
    /// Reads can run meanwhile. `None` when there is nothing to reclaim.
    /// Every vector copied is checked against its CRC first: a damaged one
    /// is never carried into the new file.
    ///
    /// # Errors
    /// `WouldBlock` if another plan of this store is outstanding;
    /// `InvalidData` naming the id and offset of a vector that fails its
    /// CRC or lies outside `vectors.dat` (the old files are untouched);
    /// I/O errors.
    pub fn prepare_compaction(&self) -> io::Result<Option<CompactionPlan>> {
        self.check_usable()?;
        let used_slots = self.next_slot;
        if used_slots <= self.offsets.len() as u64 {
            return Ok(None);
        }
        if self.compacting.swap(true, Ordering::AcqRel) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{}: a compaction is already being prepared",
                    self.dir.display()
                ),
            ));
        }
        let mut plan = CompactionPlan {
            dir: self.dir.clone(),
            change_seq: self.change_seq,
            used_slots,
            next_slot: 0,
            offsets: FxHashMap::default(),
            crcs: FxHashMap::default(),
            busy: Arc::clone(&self.compacting),
        };
        let pair = rewrite(&self.dir);
        let data_tmp = pair.primary_tmp();
        let index_tmp = pair.secondary_tmp();

        // 1. Copy live vectors, in file order, into the new data file.
        let mut entries: Vec<(u64, u64)> =
            self.offsets.iter().map(|(&id, &off)| (id, off)).collect();
        entries.sort_unstable_by_key(|&(id, off)| (off, id));
        plan.offsets.reserve(entries.len());
        plan.crcs.reserve(entries.len());
        {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&data_tmp)?;
            let mut out = BufWriter::with_capacity(1 << 20, &file);
            let map = self.map.read();
            let data_path = self.dir.join(DATA_FILE);
            for (id, offset) in entries {
                let range = self.checked_range(id, offset, map.bytes().len())?;
                let bytes = map
                    .bytes()
                    .get(range)
                    .ok_or_else(|| corrupt(&data_path, offset, "slot out of range"))?;
                let crc = crc32fast::hash(bytes);
                match self.crcs.get(&id) {
                    Some(&expected) if expected == crc => {}
                    expected => {
                        return Err(corrupt(
                            &data_path,
                            offset,
                            format!(
                                "vector of id {id} fails its CRC (recorded {}, data {crc:#010x}); compaction stopped, nothing was changed",
                                expected
                                    .map_or_else(|| "none".to_owned(), |c| format!("{c:#010x}"))
                            ),
                        ));
                    }
                }
                out.write_all(bytes)?;
                plan.offsets.insert(id, plan.next_slot * self.slot_bytes);
                plan.crcs.insert(id, crc);
                plan.next_slot += 1;
            }
            drop(map);
            out.flush()?;
            drop(out);
            let used_bytes = plan.next_slot * self.slot_bytes;
            // The whole file gets mapped: its tail gets disk blocks now, so
            // no later write into it can fault on a full disk.
            let len = used_bytes.max(INITIAL_CAPACITY_BYTES);
            crate::file::sys::allocate(&file, used_bytes, len - used_bytes)?;
            file.sync_all()?;
        }
        crash_point("compact:after_data_tmp")?;

        // 2. The new index.
        let index_bytes =
            checkpoint::encode(self.dimension, plan.next_slot, &plan.offsets, &plan.crcs);
        write_synced(&index_tmp, &index_bytes, true)?;
        crash_point("compact:after_index_tmp")?;
        Ok(Some(plan))
    }

    /// Steps 3-4 of [`Self::compact`]: swap the prepared files in (the
    /// commit point is the rename of `vectors.dat.tmp`), truncate the WAL,
    /// remap. If the store changed since the plan was prepared, the plan is
    /// stale and the whole compaction is redone here instead.
    ///
    /// # Errors
    /// `InvalidInput` for a plan of another store; I/O errors.
    pub fn finish_compaction(&mut self, mut plan: CompactionPlan) -> io::Result<usize> {
        self.check_usable()?;
        if plan.dir != self.dir {
            return Err(invalid_input(format!(
                "compaction plan of {} given to the store at {}",
                plan.dir.display(),
                self.dir.display()
            )));
        }
        if plan.change_seq != self.change_seq {
            tracing::debug!(dir = %self.dir.display(), "store changed while compaction was prepared; redoing it");
            drop(plan);
            return self.compact();
        }
        let data_path = self.dir.join(DATA_FILE);
        let pair = rewrite(&self.dir);

        // 3. Swap, holding the WAL lock so no frame lands between the commit
        //    and the truncation.
        let mut wal = self.wal.lock();
        // Unmap first: some platforms cannot replace a mapped file.
        if cfg!(windows) {
            let mut map = self.map.write();
            map.mmap = None;
            map.epoch += 1;
        }
        pair.commit()?;
        // Committed: until the swap below completes, the mapping and the
        // index in memory describe the old file. An error from here on leaves
        // the rest to open-time repair, never to a checkpoint of stale state.
        self.failed = true;
        crash_point("compact:after_data_rename")?;
        pair.finish()?;
        crash_point("compact:after_index_rename")?;
        wal.reset(0, true)?;
        drop(wal);

        // 4. Point the handle and the mapping at the new file.
        let data = OpenOptions::new().read(true).write(true).open(&data_path)?;
        let mmap = map_file(&data)?;
        {
            let mut map = self.map.write();
            map.mmap = mmap;
            map.epoch += 1;
        }
        self.data = data;
        let reclaimed = (plan.used_slots - plan.next_slot) * self.slot_bytes;
        self.next_slot = plan.next_slot;
        // The new file is backed to its end (see `prepare`).
        self.backed_to = self.map.get_mut().bytes().len() as u64;
        self.offsets = std::mem::take(&mut plan.offsets);
        self.crcs = std::mem::take(&mut plan.crcs);
        self.change_seq += 1;
        // The dead slots are gone with the old file.
        self.pending_release.clear();
        self.dirty = false;
        self.failed = false;
        tracing::info!(dir = %self.dir.display(), reclaimed, "compacted vectors.dat");
        Ok(usize::try_from(reclaimed).unwrap_or(usize::MAX))
    }
}
