//! [`MmapStorage`]: fixed-dimension f32 vectors in a memory-mapped file,
//! with a write-ahead log and an atomically replaced index checkpoint.
//!
//! # Safety
//!
//! The one `unsafe` operation is creating the mapping of `vectors.dat`. It
//! relies on these invariants:
//! - the mapping is replaced (grown, swapped by compaction) only under the
//!   write lock of `map`; a [`VectorSliceGuard`] holds the read lock for its
//!   whole life, so no view outlives the mapping it points into;
//! - nothing else truncates or writes the file while it is mapped: the file
//!   belongs to this store (the database holds a process lock on its
//!   directory) and the store itself only grows it, and punches holes in
//!   slots no index entry points to;
//! - every range read from the map is checked against the mapping's length
//!   and 4-byte alignment first (`checked_range`).
//!
//! A write through the map into a page that has no disk block behind it
//! (a sparse tail, a punched slot) makes the kernel allocate one, and on a
//! full disk it raises SIGBUS instead of returning an error. So the store
//! never maps a grown part it has not reserved blocks for (`ensure_capacity`),
//! and reserves the blocks of every slot before it writes the slot, and
//! before it logs the write (`reserve_for`): a full disk is an `io::Error`
//! of kind `StorageFull` for the call that needs the room, with nothing
//! logged or changed.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use memmap2::{MmapMut, MmapOptions};
use parking_lot::{Mutex, RwLock};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::file::atomic::{create_dir_all_durable, sync_dir, write_atomic};
use crate::file::corrupt;
use crate::file::fault::crash_point;
use crate::file::framed::FrameWriter;
use crate::file::sys::{self, Punch};

use super::compaction::CompactionPlan;
use super::guard::VectorSliceGuard;
use super::metrics::StorageMetrics;
use super::wal::{self, Frame};
use super::{DurabilityMode, VectorStorage, check_dimension, checkpoint, invalid_input};

/// File names inside the store's directory.
pub(crate) const DATA_FILE: &str = "vectors.dat";
pub(crate) const INDEX_FILE: &str = "vectors.idx";
pub(crate) const WAL_FILE: &str = "vectors.wal";
/// A new data file starts at this many bytes.
pub(crate) const INITIAL_CAPACITY_BYTES: u64 = 16 << 20;
/// Growth adds at least this many bytes.
const GROWTH_STEP_BYTES: u64 = 64 << 20;
/// When the disk has no room for a whole growth step, growth takes only
/// what is needed, rounded up to this.
const TIGHT_GROWTH_BYTES: u64 = 1 << 20;

/// The current mapping of `vectors.dat` and its epoch.
pub(crate) struct MapState {
    pub(crate) mmap: Option<MmapMut>,
    /// Bumped every time the mapping is replaced.
    pub(crate) epoch: u64,
}

impl MapState {
    pub(crate) fn bytes(&self) -> &[u8] {
        self.mmap.as_deref().unwrap_or_default()
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        self.mmap.as_deref_mut().unwrap_or_default()
    }
}

/// Map the whole of `file` read/write.
fn map_file(file: &File) -> io::Result<Option<MmapMut>> {
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: `file` is this store's own `vectors.dat`; per the module
    // invariants nobody truncates or rewrites it behind the mapping, and the
    // mapping is only dropped or replaced under the map's write lock, which
    // no outstanding `VectorSliceGuard` can coexist with.
    let mmap = unsafe { MmapOptions::new().map_mut(file)? };
    Ok(Some(mmap))
}

/// Byte range of the vector of `id` at `offset` in a store of `slot_bytes`
/// per vector at `dir`, checked against a mapping of `map_len` bytes.
fn slot_range(
    dir: &Path,
    slot_bytes: u64,
    id: u64,
    offset: u64,
    map_len: usize,
) -> io::Result<Range<usize>> {
    // Built only on the error path: this runs on every read and write.
    let bad = |problem: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: the entry of id {id} points at byte {offset} of {DATA_FILE}, {problem}",
                dir.join(INDEX_FILE).display()
            ),
        )
    };
    if !offset.is_multiple_of(4) {
        return Err(bad("which is not 4-byte aligned".to_owned()));
    }
    let end = offset
        .checked_add(slot_bytes)
        .filter(|&end| end <= map_len as u64)
        .ok_or_else(|| bad(format!("past the end of the file ({map_len} bytes)")))?;
    // Both fit in usize: end <= map_len.
    Ok(offset as usize..end as usize)
}

/// A read-only view of a store's slot table and mapped data, taken under
/// the map's read lock ([`MmapStorage::with_slots`]): what verification
/// and compaction read, and all they see of the store.
pub(super) struct Slots<'a> {
    pub(super) dir: &'a Path,
    pub(super) dimension: usize,
    pub(super) slot_bytes: u64,
    /// Slots used in `vectors.dat`, live and dead.
    pub(super) next_slot: u64,
    /// The store's change counter at this view.
    pub(super) change_seq: u64,
    pub(super) offsets: &'a FxHashMap<u64, u64>,
    pub(super) crcs: &'a FxHashMap<u64, u32>,
    /// The mapped bytes of `vectors.dat`.
    pub(super) data: &'a [u8],
}

impl Slots<'_> {
    /// Byte range in [`Slots::data`] of the vector of `id` at `offset`.
    ///
    /// # Errors
    /// `InvalidData` if the offset is misaligned or past the mapping.
    pub(super) fn range(&self, id: u64, offset: u64) -> io::Result<Range<usize>> {
        slot_range(self.dir, self.slot_bytes, id, offset, self.data.len())
    }
}

/// The vector store. See the module docs of [`crate::storage`] for what is
/// durable when each call returns.
///
/// Files in its directory: `vectors.dat` (the vectors, slot `s` at byte
/// `s * dimension * 4`), `vectors.idx` (checkpoint of the id -> offset map)
/// and `vectors.wal` (every change since that checkpoint).
pub struct MmapStorage {
    dir: PathBuf,
    dimension: usize,
    slot_bytes: u64,
    mode: DurabilityMode,
    data: File,
    map: RwLock<MapState>,
    wal: Mutex<FrameWriter>,
    /// id -> byte offset in `vectors.dat`.
    offsets: FxHashMap<u64, u64>,
    /// id -> CRC-32 of its vector's bytes, computed when it is stored and
    /// checked by [`MmapStorage::verify`] and compaction, never on reads.
    crcs: FxHashMap<u64, u32>,
    /// Slots used in `vectors.dat`, live and dead.
    next_slot: u64,
    /// Bytes of `vectors.dat` from `next_slot` up to here are known to have
    /// disk blocks (0 until that is known), so storing into new slots below
    /// it needs no reservation call.
    backed_to: u64,
    /// Offsets of deleted slots whose blocks are released at the next
    /// checkpoint, once the delete is durable.
    pending_release: Vec<u64>,
    /// Something changed since the last checkpoint.
    dirty: bool,
    metrics: StorageMetrics,
    /// Reused buffer for encoding WAL frames.
    scratch: Vec<u8>,
    /// The in-memory state may no longer match the files (an open that
    /// failed half way, or a compaction that failed after its commit point):
    /// writes are refused and `Drop` leaves the files to open-time repair.
    failed: bool,
    /// Bumped by every change of the index or the data; a compaction plan
    /// prepared at another value is stale.
    change_seq: u64,
    /// Set while a `CompactionPlan` of this store exists.
    compacting: Arc<AtomicBool>,
}

impl MmapStorage {
    /// Open or create the store in directory `path` with `dimension` floats
    /// per vector, in [`DurabilityMode::Fsync`].
    ///
    /// # Errors
    /// See [`MmapStorage::new_with_durability`].
    pub fn new(path: impl AsRef<Path>, dimension: usize) -> io::Result<Self> {
        Self::new_with_durability(path, dimension, DurabilityMode::default())
    }

    /// Open or create the store in directory `path` (created if missing).
    ///
    /// Repairs an interrupted compaction, loads `vectors.idx`, replays
    /// `vectors.wal` (cutting off a torn tail) and, if the replay changed
    /// anything, writes a checkpoint so the next open is fast.
    ///
    /// # Errors
    /// `InvalidInput` if `dimension` is 0, above 65 536, or differs from the
    /// dimension of an existing store; `InvalidData` if `vectors.idx` is
    /// corrupt or a WAL frame has the wrong length; I/O errors.
    pub fn new_with_durability(
        path: impl AsRef<Path>,
        dimension: usize,
        mode: DurabilityMode,
    ) -> io::Result<Self> {
        check_dimension(dimension)?;
        let dir = path.as_ref().to_owned();
        create_dir_all_durable(&dir)?;
        super::compaction::repair(&dir)?;

        let index_path = dir.join(INDEX_FILE);
        let cp = match fs::read(&index_path) {
            Ok(bytes) => checkpoint::decode(&index_path, &bytes)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => checkpoint::Checkpoint {
                dimension,
                crcs: Some(FxHashMap::default()),
                ..Default::default()
            },
            Err(err) => return Err(err),
        };
        if cp.dimension != dimension {
            return Err(invalid_input(format!(
                "{}: store has dimension {}, opened with dimension {dimension}",
                dir.display(),
                cp.dimension
            )));
        }

        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(DATA_FILE))?;
        if data.metadata()?.len() == 0 {
            if !cp.offsets.is_empty() {
                return Err(corrupt(
                    &dir.join(DATA_FILE),
                    0,
                    format!(
                        "the file is missing or empty but {INDEX_FILE} lists {} vectors",
                        cp.offsets.len()
                    ),
                ));
            }
            if let Err(err) = sys::allocate(&data, 0, INITIAL_CAPACITY_BYTES) {
                // Left empty, the file is created again at the next open.
                if let Err(cut) = data.set_len(0) {
                    tracing::warn!(path = %dir.join(DATA_FILE).display(), error = %cut, "could not cut back a failed creation");
                }
                return Err(no_room(&dir.join(DATA_FILE), INITIAL_CAPACITY_BYTES, err));
            }
            if mode != DurabilityMode::FlushOnly {
                sync_dir(&dir)?;
            }
        }
        let mmap = map_file(&data)?;
        let slot_bytes = dimension as u64 * 4;
        let crcs = match cp.crcs {
            Some(crcs) => crcs,
            // A version 1 checkpoint has no CRCs: take the data as it is.
            None => crcs_of(
                &dir,
                mmap.as_deref().unwrap_or_default(),
                &cp.offsets,
                slot_bytes,
            ),
        };

        let wal_path = dir.join(WAL_FILE);
        let wal_bytes = match fs::read(&wal_path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err),
        };
        let sync = mode != DurabilityMode::FlushOnly;
        let mut reader = wal::reader(&wal_bytes, 0);
        // Opened for the torn-tail truncation only after replay succeeded.
        let placeholder = FrameWriter::open(&wal_path, wal_bytes.len() as u64, false)?;

        let mut store = Self {
            slot_bytes,
            dir,
            dimension,
            mode,
            data,
            map: RwLock::new(MapState { mmap, epoch: 0 }),
            wal: Mutex::new(placeholder),
            offsets: cp.offsets,
            crcs,
            next_slot: cp.next_slot,
            backed_to: 0,
            pending_release: Vec::new(),
            dirty: false,
            metrics: StorageMetrics::default(),
            scratch: Vec::new(),
            // Until replay finishes, a drop must not checkpoint a half-replayed state.
            failed: true,
            change_seq: 0,
            compacting: Arc::new(AtomicBool::new(false)),
        };

        let mut replayed = 0usize;
        for (at, frame) in reader.by_ref() {
            match frame {
                Frame::Store { id, body } => {
                    if body.len() as u64 != store.slot_bytes {
                        return Err(corrupt(
                            &wal_path,
                            at as u64,
                            format!(
                                "store frame for id {id} holds {} bytes ({} floats), store has dimension {dimension}",
                                body.len(),
                                body.len() / 4
                            ),
                        ));
                    }
                    store.apply_store(id, body)?;
                }
                Frame::Delete { id } => store.apply_delete(id),
            }
            replayed += 1;
        }
        if let Some((at, reason)) = reader.torn() {
            tracing::warn!(path = %wal_path.display(), at, reason, "torn WAL tail dropped");
        }
        *store.wal.get_mut() = FrameWriter::open(&wal_path, reader.good_len() as u64, sync)?;
        store.failed = false;
        if replayed > 0 {
            tracing::debug!(frames = replayed, "WAL replayed; checkpointing");
            store.dirty = true;
            store.checkpoint(true)?;
        }
        Ok(store)
    }

    /// Floats per vector.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The current durability mode.
    pub fn durability(&self) -> DurabilityMode {
        self.mode
    }

    /// Change the durability mode. Switching away from `None` first writes a
    /// full checkpoint, since changes made without the WAL are covered by no log.
    ///
    /// # Errors
    /// I/O errors of that checkpoint.
    pub fn set_durability_mode(&mut self, mode: DurabilityMode) -> io::Result<()> {
        if self.mode == DurabilityMode::None && mode != DurabilityMode::None {
            self.flush_full()?;
        }
        self.mode = mode;
        Ok(())
    }

    /// Growth and latency counters.
    pub fn metrics(&self) -> &StorageMetrics {
        &self.metrics
    }

    /// Bytes of the data file that are currently mapped (its capacity).
    pub fn capacity_bytes(&self) -> u64 {
        self.map.read().bytes().len() as u64
    }

    /// Bytes the store's files occupy on disk (allocated blocks where the
    /// platform reports them, so punched holes do not count).
    ///
    /// # Errors
    /// I/O errors reading file metadata.
    pub fn disk_bytes(&self) -> io::Result<u64> {
        super::allocated_bytes_of(&self.dir, &[DATA_FILE, INDEX_FILE, WAL_FILE])
    }

    /// Heap bytes held by the in-memory index (an estimate; the mapped file
    /// is page cache, not heap, and is reported by [`Self::capacity_bytes`]).
    pub fn memory_bytes(&self) -> usize {
        // A hashbrown slot of (u64, u64) plus one control byte, and one of
        // (u64, u32) for the CRCs.
        self.offsets.capacity() * 17
            + self.crcs.capacity() * 13
            + self.pending_release.capacity() * 8
    }

    /// Bytes of dead slots (deleted or replaced vectors) in the used part
    /// of the data file: what [`Self::compact`] would reclaim.
    pub fn dead_bytes(&self) -> u64 {
        self.next_slot
            .saturating_sub(self.offsets.len() as u64)
            .saturating_mul(self.slot_bytes)
    }

    /// `1 - live_bytes / used_bytes` of the data file; 0 when empty.
    pub fn fragmentation_ratio(&self) -> f64 {
        if self.next_slot == 0 {
            return 0.0;
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "a ratio; precision loss is irrelevant"
        )]
        let ratio = 1.0 - self.offsets.len() as f64 / self.next_slot as f64;
        ratio
    }

    /// Pre-grow the data file to hold `n_vectors` vectors plus 10 %, with
    /// disk blocks reserved for all of it.
    ///
    /// # Errors
    /// `InvalidInput` if the size overflows; `StorageFull` if the disk has
    /// no room (the file keeps its size); I/O errors growing the file.
    pub fn reserve_capacity(&mut self, n_vectors: usize) -> io::Result<()> {
        let n = n_vectors as u64;
        let bytes = n
            .checked_add(n.div_ceil(10))
            .and_then(|n| n.checked_mul(self.slot_bytes))
            .ok_or_else(|| invalid_input(format!("cannot reserve room for {n_vectors} vectors")))?;
        self.ensure_capacity(bytes)
    }

    /// A zero-copy view of the vector of `id`, or `None`. The guard holds a
    /// read lock on the mapping; see [`VectorSliceGuard`].
    ///
    /// # Errors
    /// `InvalidData` if the index entry of `id` is out of bounds or misaligned.
    pub fn retrieve_ref(&self, id: u64) -> io::Result<Option<VectorSliceGuard<'_>>> {
        let Some(&offset) = self.offsets.get(&id) else {
            return Ok(None);
        };
        let map = self.map.read();
        let range = self.checked_range(id, offset, map.bytes().len())?;
        Ok(Some(VectorSliceGuard::new(map, range)))
    }

    /// Call `f` with every live `(id, vector)` in ascending id order, under
    /// one read lock of the mapping (for index rebuilds and exports).
    ///
    /// # Errors
    /// `InvalidData` at the first corrupt index entry.
    pub fn for_each_vector(&self, mut f: impl FnMut(u64, &[f32])) -> io::Result<()> {
        let mut entries: Vec<(u64, u64)> = self.offsets.iter().map(|(&i, &o)| (i, o)).collect();
        entries.sort_unstable();
        let map = self.map.read();
        for (id, offset) in entries {
            let range = self.checked_range(id, offset, map.bytes().len())?;
            f(id, as_floats(&self.dir, offset, map.bytes().get(range))?);
        }
        Ok(())
    }

    /// Persist only `vectors.idx` (atomically). It does not sync the data or
    /// truncate the WAL, so the WAL still replays on top at the next open.
    ///
    /// # Errors
    /// I/O errors writing the file.
    pub fn flush_index(&mut self) -> io::Result<()> {
        let bytes = checkpoint::encode(self.dimension, self.next_slot, &self.offsets, &self.crcs);
        write_atomic(
            &self.dir.join(INDEX_FILE),
            &bytes,
            self.mode != DurabilityMode::FlushOnly,
        )
    }

    /// [`VectorStorage::flush`] plus the index, in every mode: the full
    /// checkpoint used on shutdown, after bulk loads in `None` mode, and after
    /// compaction. When it returns the WAL is empty and `vectors.idx`
    /// exists (also for a store that never held a vector).
    ///
    /// # Errors
    /// I/O errors; the state on disk is then the previous one (plus the WAL).
    pub fn flush_full(&mut self) -> io::Result<()> {
        // A store never written has no index yet; an explicit checkpoint
        // writes one, so that its absence after a checkpoint always means a
        // loss (dropping a store still writes nothing it did not change).
        if !self.dir.join(INDEX_FILE).exists() {
            self.dirty = true;
        }
        self.checkpoint(true)
    }

    /// Byte range of the vector at `offset`, checked against a mapping of `map_len` bytes.
    fn checked_range(&self, id: u64, offset: u64, map_len: usize) -> io::Result<Range<usize>> {
        slot_range(&self.dir, self.slot_bytes, id, offset, map_len)
    }

    /// Run `f` over a read-only view of the slot table and the mapped data,
    /// under the map's read lock (writers wait; readers do not).
    pub(super) fn with_slots<R>(&self, f: impl FnOnce(&Slots<'_>) -> R) -> R {
        let map = self.map.read();
        f(&Slots {
            dir: &self.dir,
            dimension: self.dimension,
            slot_bytes: self.slot_bytes,
            next_slot: self.next_slot,
            change_seq: self.change_seq,
            offsets: &self.offsets,
            crcs: &self.crcs,
            data: map.bytes(),
        })
    }

    /// Rewrite the live vectors into a fresh `vectors.dat` and swap it in:
    /// [`Self::prepare_compaction`] then [`Self::finish_compaction`].
    ///
    /// Returns the bytes reclaimed: the dead slots dropped from the used part
    /// of the file (0 when there are none, and then nothing is rewritten).
    /// Crash-safe at every instant (see the table in `compaction.rs`).
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
        if self.next_slot <= self.offsets.len() as u64 {
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
        let busy = Arc::clone(&self.compacting);
        // On error the plan under construction is dropped, clearing `busy`.
        self.with_slots(|slots| CompactionPlan::prepare(slots, busy))
            .map(Some)
    }

    /// Steps 3-4 of [`Self::compact`]: swap the prepared files in (the
    /// commit point is the rename of `vectors.dat.tmp`), truncate the WAL,
    /// remap. If the store changed since the plan was prepared, the plan is
    /// stale and the whole compaction is redone here instead.
    ///
    /// # Errors
    /// `InvalidInput` for a plan of another store; I/O errors.
    pub fn finish_compaction(&mut self, plan: CompactionPlan) -> io::Result<usize> {
        self.check_usable()?;
        if plan.dir() != self.dir {
            return Err(invalid_input(format!(
                "compaction plan of {} given to the store at {}",
                plan.dir().display(),
                self.dir.display()
            )));
        }
        if plan.change_seq() != self.change_seq {
            tracing::debug!(dir = %self.dir.display(), "store changed while compaction was prepared; redoing it");
            drop(plan);
            return self.compact();
        }
        let data_path = self.dir.join(DATA_FILE);

        // 3. Swap, holding the WAL lock so no frame lands between the commit
        //    and the truncation.
        let mut wal = self.wal.lock();
        // Unmap first: some platforms cannot replace a mapped file.
        if cfg!(windows) {
            let mut map = self.map.write();
            map.mmap = None;
            map.epoch += 1;
        }
        plan.commit()?;
        // Committed: until the swap below completes, the mapping and the
        // index in memory describe the old file. An error from here on leaves
        // the rest to open-time repair, never to a checkpoint of stale state.
        self.failed = true;
        plan.finish()?;
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
        let table = plan.into_table();
        let reclaimed = (table.used_slots_before - table.next_slot) * self.slot_bytes;
        self.next_slot = table.next_slot;
        // The new file is backed to its end (see `CompactionPlan::prepare`).
        self.backed_to = self.map.get_mut().bytes().len() as u64;
        self.offsets = table.offsets;
        self.crcs = table.crcs;
        self.change_seq += 1;
        // The dead slots are gone with the old file.
        self.pending_release.clear();
        self.dirty = false;
        self.failed = false;
        tracing::info!(dir = %self.dir.display(), reclaimed, "compacted vectors.dat");
        Ok(usize::try_from(reclaimed).unwrap_or(usize::MAX))
    }

    /// Grow the data file (and remap) so it holds at least `required_bytes`,
    /// with disk blocks reserved for the whole grown part before it is
    /// mapped. Growth goes in large steps; when the disk has no room for a
    /// step it takes just what is needed, so a nearly full disk still fills.
    ///
    /// # Errors
    /// `StorageFull` when even that does not fit (the file and the mapping
    /// stay as they were); other I/O errors.
    fn ensure_capacity(&mut self, required_bytes: u64) -> io::Result<()> {
        // The mapping always covers the whole file.
        let current = self.map.get_mut().bytes().len() as u64;
        if required_bytes <= current {
            return Ok(());
        }
        let start = Instant::now();
        let step = current
            .saturating_mul(2)
            .max(required_bytes.saturating_add(GROWTH_STEP_BYTES))
            .max(current.saturating_add(GROWTH_STEP_BYTES));
        if usize::try_from(step).is_err() {
            return Err(invalid_input(format!(
                "data file of {step} bytes is not addressable"
            )));
        }
        let tight = required_bytes
            .div_ceil(TIGHT_GROWTH_BYTES)
            .saturating_mul(TIGHT_GROWTH_BYTES)
            .min(step);
        let new_len = match self.grow_file(current, step) {
            Ok(()) => step,
            Err(err) if err.kind() == io::ErrorKind::StorageFull && tight < step => {
                tracing::debug!(
                    step,
                    tight,
                    "no room for a growth step; growing by what is needed"
                );
                self.grow_file(current, tight)?;
                tight
            }
            Err(err) => return Err(err),
        };
        let mmap = map_file(&self.data)?;
        {
            let mut map = self.map.write();
            map.mmap = mmap;
            map.epoch += 1;
        }
        if self.backed_to >= current {
            self.backed_to = new_len;
        }
        self.metrics
            .record_growth(start.elapsed(), new_len - current);
        tracing::debug!(from = current, to = new_len, "grew vectors.dat");
        Ok(())
    }

    /// Extend the data file from `current` to `new_len` bytes, all of them
    /// backed by disk blocks; on error it is cut back to `current`.
    fn grow_file(&self, current: u64, new_len: u64) -> io::Result<()> {
        let Err(err) = sys::allocate(&self.data, current, new_len - current) else {
            return Ok(());
        };
        // A failed allocation may have grown the file part way, and the
        // mapping must keep covering exactly the file.
        if let Err(cut) = self.data.set_len(current) {
            tracing::warn!(path = %self.dir.join(DATA_FILE).display(), error = %cut, "could not cut back a failed growth");
        }
        Err(no_room(&self.dir.join(DATA_FILE), new_len - current, err))
    }

    /// Make storing `ids` unable to fail for lack of disk space: grow the
    /// file for the ids it does not hold yet and reserve the blocks of
    /// every new slot the store would write them to (one call for the rest
    /// of the file, after which new slots cost nothing until it grows).
    /// Changes no content; a store of the same ids that follows needs no
    /// new disk blocks.
    ///
    /// # Errors
    /// `StorageFull` when the disk has no room; other I/O errors.
    pub(crate) fn reserve_for(&mut self, ids: &[u64]) -> io::Result<()> {
        let mut new_ids = FxHashSet::default();
        let map_len = self.map.get_mut().bytes().len();
        for id in ids {
            match self.offsets.get(id) {
                Some(&offset) => {
                    // A bad index entry is reported as such, before any reservation.
                    self.checked_range(*id, offset, map_len)?;
                }
                None => {
                    new_ids.insert(*id);
                }
            }
        }
        let first = self.next_slot * self.slot_bytes;
        let len = new_ids.len() as u64 * self.slot_bytes;
        if len > 0 {
            self.ensure_capacity(first + len)?;
            let end = first + len;
            if end > self.backed_to {
                // Growth reserved what it added, but the slots after
                // `next_slot` may be older holes (a sparse file written
                // before blocks were reserved). They hold nothing yet, so
                // zeros may go there: back the rest of the file in one call,
                // or, on a nearly full disk, just these slots.
                let from = first.max(self.backed_to);
                let file_len = self.map.get_mut().bytes().len() as u64;
                let data_path = self.dir.join(DATA_FILE);
                match sys::allocate(&self.data, from, file_len - from) {
                    Ok(()) => self.backed_to = file_len,
                    Err(err) if err.kind() == io::ErrorKind::StorageFull && end < file_len => {
                        sys::allocate(&self.data, from, end - from)
                            .map_err(|err| no_room(&data_path, end - from, err))?;
                        self.backed_to = end;
                    }
                    Err(err) => return Err(no_room(&data_path, file_len - from, err)),
                }
            }
        }
        // A live slot needs nothing: it was written when it was stored, and
        // only dead slots are ever punched, which are never written again
        // (a new version takes the next slot, and compaction writes a new,
        // fully backed file).
        Ok(())
    }

    /// Write `bytes` (one whole vector) for `id`: in place for a known id,
    /// at the next slot for a new one, after reserving the slot's blocks.
    /// Replay's path; live writes reserve before they log.
    fn apply_store(&mut self, id: u64, bytes: &[u8]) -> io::Result<()> {
        self.reserve_for(&[id])?;
        self.write_slot(id, bytes)
    }

    /// Copy `bytes` into the slot of `id` (its own, or the next one), whose
    /// blocks [`Self::reserve_for`] reserved.
    fn write_slot(&mut self, id: u64, bytes: &[u8]) -> io::Result<()> {
        let offset = match self.offsets.get(&id) {
            Some(&offset) => offset,
            None => self.next_slot * self.slot_bytes,
        };
        let map = self.map.get_mut();
        let map_len = map.bytes().len();
        let range = self.checked_range(id, offset, map_len)?;
        let map = self.map.get_mut();
        let dest = map
            .bytes_mut()
            .get_mut(range)
            .ok_or_else(|| corrupt(&self.dir.join(DATA_FILE), offset, "slot out of range"))?;
        dest.copy_from_slice(bytes);
        self.crcs.insert(id, crc32fast::hash(bytes));
        if self.offsets.insert(id, offset).is_none() {
            self.next_slot += 1;
        }
        self.dirty = true;
        self.change_seq += 1;
        Ok(())
    }

    fn apply_delete(&mut self, id: u64) {
        if let Some(offset) = self.offsets.remove(&id) {
            self.crcs.remove(&id);
            self.pending_release.push(offset);
            self.dirty = true;
            self.change_seq += 1;
        }
    }

    /// Refuse to write once the in-memory state may differ from the files.
    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(format!(
                "{}: an earlier failure left the store inconsistent with its files; reopen it",
                self.dir.display()
            )));
        }
        Ok(())
    }

    fn check_len(&self, v: &[f32]) -> io::Result<()> {
        if v.len() != self.dimension {
            return Err(invalid_input(format!(
                "vector has {} floats, store has dimension {}",
                v.len(),
                self.dimension
            )));
        }
        Ok(())
    }

    fn log(&mut self, frames: &[u8]) -> io::Result<()> {
        if self.mode == DurabilityMode::None {
            return Ok(());
        }
        self.wal.get_mut().append(frames)
    }

    /// Make every change so far durable and persist the index, then empty
    /// the WAL and release the blocks of deleted slots.
    ///
    /// `with_index == false` (a plain `flush` in `None` mode) only syncs the data.
    fn checkpoint(&mut self, with_index: bool) -> io::Result<()> {
        self.check_usable()?;
        if !self.dirty {
            return Ok(());
        }
        let sync = self.mode != DurabilityMode::FlushOnly;
        let logged = self.mode != DurabilityMode::None;
        if sync && logged {
            // The commit point: from here a crash replays every change.
            self.wal.get_mut().sync()?;
        }
        crash_point("flush:after_wal_sync")?;
        if sync && let Some(mmap) = self.map.get_mut().mmap.as_ref() {
            mmap.flush()?;
        }
        if !with_index {
            return Ok(());
        }
        let bytes = checkpoint::encode(self.dimension, self.next_slot, &self.offsets, &self.crcs);
        write_atomic(&self.dir.join(INDEX_FILE), &bytes, sync)?;
        crash_point("flush:after_index")?;
        // The checkpoint now covers every frame: the WAL can go. The
        // truncation needs no fsync of its own: if a power loss undoes it,
        // the old frames replay over the new index and converge (store
        // frames carry whole values, deletes replay in order), and the next
        // flush's fsync of the WAL makes it durable anyway.
        self.wal.get_mut().reset(0, false)?;
        for offset in std::mem::take(&mut self.pending_release) {
            self.release_slot(offset)?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Release the disk blocks of a dead slot, or zero it where holes
    /// cannot be punched. The slot is referenced by no index entry.
    fn release_slot(&mut self, offset: u64) -> io::Result<()> {
        let len = self.slot_bytes;
        let punched = sys::punch_hole(&self.data, offset, len)?;
        if punched == Punch::Unsupported {
            let map = self.map.get_mut();
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            if let Some(dest) = start
                .checked_add(len as usize)
                .and_then(|end| map.bytes_mut().get_mut(start..end))
            {
                dest.fill(0);
            }
        }
        Ok(())
    }

    /// Path of the store's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// `err` from reserving `bytes` bytes of disk for `path`, with the path and
/// the amount in the message and its kind kept (`StorageFull` for a full disk).
fn no_room(path: &Path, bytes: u64, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!(
            "{}: cannot reserve {bytes} bytes of disk: {err}",
            path.display()
        ),
    )
}

/// CRCs of the vectors `offsets` points at in `map`; an entry outside the
/// map is left out (reads of it fail on their own, and `verify` names it).
fn crcs_of(
    dir: &Path,
    map: &[u8],
    offsets: &FxHashMap<u64, u64>,
    slot_bytes: u64,
) -> FxHashMap<u64, u32> {
    let mut crcs = FxHashMap::with_capacity_and_hasher(offsets.len(), Default::default());
    for (&id, &offset) in offsets {
        let bytes = usize::try_from(offset).ok().and_then(|start| {
            let end = start.checked_add(usize::try_from(slot_bytes).ok()?)?;
            map.get(start..end)
        });
        match bytes {
            Some(bytes) => {
                crcs.insert(id, crc32fast::hash(bytes));
            }
            None => {
                tracing::warn!(dir = %dir.display(), id, offset, "index entry outside vectors.dat");
            }
        }
    }
    crcs
}

/// View validated map bytes as floats.
fn as_floats<'a>(dir: &Path, offset: u64, bytes: Option<&'a [u8]>) -> io::Result<&'a [f32]> {
    bytes
        .and_then(|b| bytemuck::try_cast_slice(b).ok())
        .ok_or_else(|| {
            corrupt(
                &dir.join(DATA_FILE),
                offset,
                "vector bytes are not a valid f32 slice",
            )
        })
}

impl VectorStorage for MmapStorage {
    fn store(&mut self, id: u64, v: &[f32]) -> io::Result<()> {
        self.check_usable()?;
        self.check_len(v)?;
        // Room first: once the frame is logged, the write must not fail.
        self.reserve_for(&[id])?;
        if self.mode != DurabilityMode::None {
            let mut frame = std::mem::take(&mut self.scratch);
            frame.clear();
            let logged =
                wal::encode_store_vector(&mut frame, id, v).and_then(|()| self.log(&frame));
            self.scratch = frame;
            logged?;
        }
        self.write_slot(id, bytemuck::cast_slice(v))
    }

    fn store_batch(&mut self, items: &[(u64, &[f32])]) -> io::Result<usize> {
        self.check_usable()?;
        for (i, (id, v)) in items.iter().enumerate() {
            self.check_len(v)
                .map_err(|err| invalid_input(format!("batch item {i} (id {id}): {err}")))?;
        }
        // Room for every id at once (one growth at most), before the log.
        let ids: Vec<u64> = items.iter().map(|(id, _)| *id).collect();
        self.reserve_for(&ids)?;
        if self.mode != DurabilityMode::None {
            // One grouped write; frames replay in order, exactly like the
            // same sequence of `store` calls.
            let mut frames = std::mem::take(&mut self.scratch);
            frames.clear();
            let mut logged = Ok(());
            for (id, v) in items {
                logged = wal::encode_store_vector(&mut frames, *id, v);
                if logged.is_err() {
                    break;
                }
            }
            let logged = logged.and_then(|()| self.log(&frames));
            frames.truncate(1 << 20);
            frames.shrink_to(1 << 20);
            self.scratch = frames;
            logged?;
        }
        for (id, v) in items {
            self.write_slot(*id, bytemuck::cast_slice(v))?;
        }
        Ok(items.len())
    }

    fn retrieve(&self, id: u64) -> io::Result<Option<Vec<f32>>> {
        Ok(self.retrieve_ref(id)?.map(|guard| guard.to_vec()))
    }

    /// Logs the delete and drops the id from the index. The slot's disk
    /// blocks are released (hole punched, or zeroed) at the next checkpoint,
    /// once the delete is durable: released earlier, a crash could replay to
    /// an index that still points at the emptied slot.
    fn delete(&mut self, id: u64) -> io::Result<()> {
        self.check_usable()?;
        if !self.offsets.contains_key(&id) {
            return Ok(());
        }
        let mut frame = Vec::with_capacity(wal::DELETE_FRAME_LEN);
        wal::encode_delete(&mut frame, id);
        self.log(&frame)?;
        self.apply_delete(id);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let with_index = self.mode != DurabilityMode::None;
        self.checkpoint(with_index)
    }

    fn len(&self) -> usize {
        self.offsets.len()
    }

    fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.offsets.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

impl Drop for MmapStorage {
    /// Best-effort checkpoint. `&mut self` proves no guard or other lock
    /// holder exists, so nothing here can wait on a lock; errors are logged,
    /// never raised. Not a commit point: callers flush.
    fn drop(&mut self) {
        if self.failed {
            return;
        }
        if let Err(err) = self.checkpoint(true) {
            tracing::warn!(path = %self.dir.display(), %err, "checkpoint on drop failed");
        }
    }
}

impl std::fmt::Debug for MmapStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapStorage")
            .field("dir", &self.dir)
            .field("dimension", &self.dimension)
            .field("mode", &self.mode)
            .field("len", &self.offsets.len())
            .field("next_slot", &self.next_slot)
            .finish_non_exhaustive()
    }
}
