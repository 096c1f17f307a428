//! [`LogPayloadStorage`]: JSON payloads in an append-only, CRC-framed log.
//!
//! `payloads.log`:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | magic | `[u8; 8]` | `QVPAYLOG` |
//! | generation | u64 LE | random; changes when compaction rewrites the log |
//! | frames | ... | the frames of `wal.rs`: store = id + JSON bytes, delete = id |
//!
//! `payloads.idx` (the snapshot of the in-memory index, replaced atomically):
//!
//! | field | type | meaning |
//! |---|---|---|
//! | magic | `[u8; 8]` | `QVPAYIX2` (`QVPAYIDX`: the same without `tail_crc`, still read) |
//! | generation | u64 LE | generation of the log it describes |
//! | covered_len | u64 LE | log bytes the snapshot covers; frames after it are scanned |
//! | count | u64 LE | entries |
//! | tail_crc | u32 LE | CRC-32 of the last (up to) 64 KiB of the covered bytes |
//! | entries | count x (id u64, frame offset u64, body len u32), LE | live records |
//! | crc | u32 LE | CRC-32 over every byte before it |
//!
//! The snapshot is derived data: a missing or corrupt snapshot, or one of
//! another generation, costs a full scan of the log (reported by
//! [`LogPayloadStorage::repaired_on_open`] when it was damaged). But the
//! covered bytes were synced before the snapshot was renamed in, so a log
//! shorter than `covered_len`, or whose covered tail changed, has lost data
//! (a rescan would bring back the versions that the lost deletes removed):
//! that open fails with `InvalidData`. So does a missing log next to a
//! snapshot. `tail_crc` is checked by [`LogPayloadStorage::verify`].
//! Compaction follows the vector store's rule: write `payloads.log.tmp` and
//! `payloads.idx.tmp` (fsynced), rename the log (the commit point), then the
//! snapshot; open-time repair drops an uncommitted rewrite or promotes the
//! snapshot of a committed one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::file::atomic::{
    PairRewrite, create_dir_all_durable, sync_dir, write_atomic, write_synced,
};
use crate::file::fault::crash_point;
use crate::file::framed::FrameWriter;
use crate::file::sys;
use crate::file::{ByteReader, corrupt, crc_checked};

use super::wal::{self, Frame, STORE_HEADER_LEN};
use super::{DurabilityMode, PayloadStorage};

const LOG_FILE: &str = "payloads.log";
const SNAPSHOT_FILE: &str = "payloads.idx";
const LOG_MAGIC: &[u8; 8] = b"QVPAYLOG";
const SNAPSHOT_MAGIC: &[u8; 8] = b"QVPAYIX2";
const SNAPSHOT_MAGIC_V1: &[u8; 8] = b"QVPAYIDX";
const LOG_HEADER_LEN: u64 = 16;
const SNAPSHOT_HEADER_LEN: usize = 36;
const SNAPSHOT_HEADER_LEN_V1: usize = 32;
/// Covered bytes whose CRC the snapshot records, ending at `covered_len`.
const TAIL_CRC_WINDOW: u64 = 64 << 10;
const SNAPSHOT_ENTRY_LEN: usize = 20;
/// `flush` rewrites the snapshot once this many log bytes are not covered by it.
const SNAPSHOT_EVERY_BYTES: u64 = 4 << 20;

/// Where one live record sits in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    frame_offset: u64,
    body_len: u32,
}

impl Entry {
    fn frame_len(self) -> u64 {
        STORE_HEADER_LEN as u64 + u64::from(self.body_len) + 4
    }
}

/// The payload store. Every `store`/`delete` is appended to the log (one
/// `write`, so it survives the process being killed); `flush` and
/// `checkpoint` fsync it except in `FlushOnly` mode. `DurabilityMode::None`
/// behaves as `Fsync`: the log is the only copy of a payload, so it is
/// never skipped, and a caller running in `None` mode cuts its own log
/// after a `checkpoint`, which must therefore be on stable storage.
pub struct LogPayloadStorage {
    dir: PathBuf,
    mode: DurabilityMode,
    log: FrameWriter,
    generation: u64,
    index: FxHashMap<u64, Entry>,
    /// Log length covered by the last snapshot written.
    snapshot_len: u64,
    /// A compaction failed after its commit point: the handle and index
    /// describe the replaced log, so writes are refused until reopened.
    failed: bool,
    /// Why the open could not use the snapshot, when it was damaged.
    repaired: Option<String>,
}

impl LogPayloadStorage {
    /// Open or create the store in directory `path`, in `Fsync` mode.
    ///
    /// # Errors
    /// See [`LogPayloadStorage::new_with_durability`].
    pub fn new(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::new_with_durability(path, DurabilityMode::default())
    }

    /// Open or create the store in directory `path` (created if missing):
    /// repair an interrupted compaction, load the snapshot, scan the log
    /// after it and cut off a torn tail. A missing log is created, unless a
    /// snapshot says it held records.
    ///
    /// # Errors
    /// `InvalidData` if the log header is not a payload log, if the log is
    /// missing while `payloads.idx` exists, or if the log is shorter than
    /// the snapshot covers or its covered bytes changed (data loss); I/O
    /// errors.
    pub fn new_with_durability(path: impl AsRef<Path>, mode: DurabilityMode) -> io::Result<Self> {
        Self::open_with(path.as_ref(), mode, true)
    }

    /// [`LogPayloadStorage::new_with_durability`] for a store that must
    /// already exist: a missing `payloads.log` is `InvalidData` (its records
    /// are lost), never a fresh empty log.
    ///
    /// # Errors
    /// As [`LogPayloadStorage::new_with_durability`], plus the missing log.
    pub fn open_existing(path: impl AsRef<Path>, mode: DurabilityMode) -> io::Result<Self> {
        Self::open_with(path.as_ref(), mode, false)
    }

    fn open_with(path: &Path, mode: DurabilityMode, create: bool) -> io::Result<Self> {
        let dir = path.to_owned();
        create_dir_all_durable(&dir)?;
        repair(&dir)?;
        let log_path = dir.join(LOG_FILE);
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let sync = mode.syncs();
        if !log_path.exists() {
            if !create {
                return Err(corrupt(
                    &log_path,
                    0,
                    "the file is missing: every payload record it held is lost",
                ));
            }
            if snapshot_path.exists() {
                return Err(corrupt(
                    &log_path,
                    0,
                    format!("the file is missing but {SNAPSHOT_FILE} lists records of it"),
                ));
            }
        }

        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)?;
        let file_len = file.metadata()?.len();
        if file_len < LOG_HEADER_LEN && snapshot_path.exists() {
            return Err(corrupt(
                &log_path,
                file_len,
                format!(
                    "the file holds {file_len} bytes, no header, but {SNAPSHOT_FILE} lists records of it"
                ),
            ));
        }
        let generation = if file_len < LOG_HEADER_LEN {
            // A new log, or one whose header write never completed (nothing after it).
            let generation = rand::random::<u64>();
            write_synced(&log_path, &log_header(generation), sync)?;
            if sync {
                sync_dir(&dir)?;
            }
            generation
        } else {
            let mut header = [0u8; LOG_HEADER_LEN as usize];
            sys::read_exact_at(&file, &mut header, 0)?;
            if header.get(..8) != Some(LOG_MAGIC.as_slice()) {
                return Err(corrupt(&log_path, 0, "bad magic, not a payloads.log file"));
            }
            log_generation(&log_path, &header)?
        };
        let log_len = file.metadata()?.len();

        let mut repaired = None;
        let (mut index, start) = match fs::read(&snapshot_path) {
            Ok(bytes) => match decode_snapshot(&snapshot_path, &bytes) {
                Ok(snap) if snap.generation == generation => {
                    check_covered(&log_path, log_len, &snap)?;
                    (snap.index, snap.covered.max(LOG_HEADER_LEN))
                }
                Ok(_) => {
                    tracing::warn!(path = %snapshot_path.display(), "payload snapshot describes another log; scanning the log");
                    repaired = Some(format!(
                        "{SNAPSHOT_FILE} describes another generation of {LOG_FILE}; rebuilt from the log"
                    ));
                    (FxHashMap::default(), LOG_HEADER_LEN)
                }
                Err(err) => {
                    tracing::warn!(%err, "payload snapshot unreadable; scanning the log");
                    repaired = Some(format!(
                        "{SNAPSHOT_FILE} was unreadable ({err}); rebuilt from the log"
                    ));
                    (FxHashMap::default(), LOG_HEADER_LEN)
                }
            },
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                (FxHashMap::default(), LOG_HEADER_LEN)
            }
            Err(err) => return Err(err),
        };

        drop(file);
        let tail = read_range(&log_path, start, log_len)?;
        let mut reader = wal::reader(&tail, 0);
        for (at, frame) in reader.by_ref() {
            let frame_offset = start + at as u64;
            match frame {
                Frame::Store { id, body } => {
                    let body_len = u32::try_from(body.len()).unwrap_or(u32::MAX);
                    index.insert(
                        id,
                        Entry {
                            frame_offset,
                            body_len,
                        },
                    );
                }
                Frame::Delete { id } => {
                    index.remove(&id);
                }
            }
        }
        if let Some((at, reason)) = reader.torn() {
            tracing::warn!(path = %log_path.display(), at = start + at as u64, reason, "torn payload log tail dropped");
        }
        let good_len = start + reader.good_len() as u64;
        let log = FrameWriter::open(&log_path, good_len, sync)?;
        let snapshot_len = if start > LOG_HEADER_LEN {
            start
        } else {
            LOG_HEADER_LEN
        };
        Ok(Self {
            dir,
            mode,
            log,
            generation,
            index,
            snapshot_len,
            failed: false,
            repaired,
        })
    }

    /// Cut the (closed) log in `dir` back to what its snapshot covers: the
    /// state of the last checkpoint, for a caller whose operation log lost
    /// frames the log's later records came from. Returns the bytes removed;
    /// `None` (nothing changed) without a usable snapshot of this log.
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn rewind_to_snapshot(dir: &Path) -> io::Result<Option<u64>> {
        let log_path = dir.join(LOG_FILE);
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snap = match fs::read(&snapshot_path) {
            Ok(bytes) => match decode_snapshot(&snapshot_path, &bytes) {
                Ok(snap) => snap,
                Err(_) => return Ok(None),
            },
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let file = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let len = file.metadata()?.len();
        let mut header = [0u8; LOG_HEADER_LEN as usize];
        if len < LOG_HEADER_LEN || snap.covered > len {
            return Ok(None);
        }
        sys::read_exact_at(&file, &mut header, 0)?;
        if log_generation(&log_path, &header)? != snap.generation {
            return Ok(None);
        }
        file.set_len(snap.covered)?;
        file.sync_all()?;
        Ok(Some(len - snap.covered))
    }

    /// Set when the open found the snapshot damaged (checksum or format)
    /// and rebuilt the index from the whole log instead: names the file and
    /// the cause. The snapshot is replaced atomically, so a crash never
    /// causes this. The next `checkpoint` writes a good one.
    pub fn repaired_on_open(&self) -> Option<&str> {
        self.repaired.as_deref()
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(format!(
                "{}: a failed compaction left the payload store inconsistent with its files; reopen it",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Number of stored payloads.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no payload is stored.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes of the log that belong to overwritten or deleted records.
    pub fn dead_bytes(&self) -> u64 {
        let live: u64 = self.index.values().map(|e| e.frame_len()).sum();
        self.log.len().saturating_sub(LOG_HEADER_LEN + live)
    }

    /// Bytes the store's files occupy on disk.
    ///
    /// # Errors
    /// I/O errors reading metadata.
    pub fn disk_bytes(&self) -> io::Result<u64> {
        super::allocated_bytes_of(&self.dir, &[LOG_FILE, SNAPSHOT_FILE])
    }

    /// Heap bytes held by the in-memory index (an estimate).
    pub fn memory_bytes(&self) -> usize {
        self.index.capacity() * 25
    }

    /// Sync the log and write the index snapshot, so the next open scans
    /// nothing. Except in `FlushOnly` mode, every record stored before the
    /// call is on stable storage when it returns (log fsynced, then the
    /// snapshot replaced atomically and its directory fsynced).
    ///
    /// # Errors
    /// I/O errors.
    pub fn checkpoint(&mut self) -> io::Result<()> {
        self.check_usable()?;
        let sync = self.mode.syncs();
        if sync {
            // The snapshot must never cover bytes that are not durable.
            self.log.sync()?;
        }
        let covered = self.log.len();
        let tail_crc = tail_crc(self.log.file(), covered)?;
        let bytes = encode_snapshot(self.generation, covered, tail_crc, &self.index);
        write_atomic(&self.dir.join(SNAPSHOT_FILE), &bytes, sync)?;
        self.snapshot_len = self.log.len();
        Ok(())
    }

    /// Rewrite the live records into a fresh log and swap it in (crash-safe,
    /// see the module docs). Returns the bytes reclaimed; 0, without
    /// rewriting, when no record is dead.
    ///
    /// # Errors
    /// I/O errors or a record that fails its checksum (`InvalidData`);
    /// before the commit rename the old log is untouched.
    pub fn compact(&mut self) -> io::Result<usize> {
        self.check_usable()?;
        if self.dead_bytes() == 0 {
            return Ok(0);
        }
        let log_path = self.dir.join(LOG_FILE);
        let pair = rewrite(&self.dir);
        let log_tmp = pair.primary_tmp();
        let snapshot_tmp = pair.secondary_tmp();
        let old_len = self.log.len();

        let mut entries: Vec<(u64, Entry)> = self.index.iter().map(|(&id, &e)| (id, e)).collect();
        entries.sort_unstable_by_key(|&(id, e)| (e.frame_offset, id));
        let generation = loop {
            let g = rand::random::<u64>();
            if g != self.generation {
                break g;
            }
        };
        let mut new_index = FxHashMap::with_capacity_and_hasher(entries.len(), Default::default());
        let mut new_len = LOG_HEADER_LEN;
        {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&log_tmp)?;
            let mut out = io::BufWriter::with_capacity(1 << 20, &file);
            out.write_all(&log_header(generation))?;
            for (id, entry) in entries {
                let frame = self.read_frame(id, entry)?;
                out.write_all(&frame)?;
                new_index.insert(
                    id,
                    Entry {
                        frame_offset: new_len,
                        body_len: entry.body_len,
                    },
                );
                new_len += frame.len() as u64;
            }
            out.flush()?;
            drop(out);
            file.sync_all()?;
        }
        crash_point("payload_compact:after_log_tmp")?;
        let new_tail_crc = tail_crc(&fs::File::open(&log_tmp)?, new_len)?;
        write_synced(
            &snapshot_tmp,
            &encode_snapshot(generation, new_len, new_tail_crc, &new_index),
            true,
        )?;
        crash_point("payload_compact:after_index_tmp")?;
        pair.commit()?;
        // Committed: the handle and index still describe the old log.
        self.failed = true;
        crash_point("payload_compact:after_log_rename")?;
        pair.finish()?;
        self.log = FrameWriter::open(&log_path, new_len, self.mode.syncs())?;
        self.generation = generation;
        self.index = new_index;
        self.snapshot_len = new_len;
        self.failed = false;
        Ok(usize::try_from(old_len.saturating_sub(new_len)).unwrap_or(usize::MAX))
    }

    /// Reserve disk blocks so that storing `stores` and deleting `deletes`
    /// ids next cannot fail for lack of space: a caller that logs a write
    /// elsewhere first reserves here, before it logs. Best effort where the
    /// filesystem cannot reserve blocks past the end of a file.
    ///
    /// # Errors
    /// `StorageFull` when the disk has no room; other I/O errors.
    /// `stores` are the lengths of the JSON texts to be stored (what
    /// [`LogPayloadStorage::store_encoded`] takes).
    pub(crate) fn reserve_for(
        &mut self,
        stores: impl IntoIterator<Item = usize>,
        deletes: usize,
    ) -> io::Result<()> {
        self.check_usable()?;
        let mut bytes = (deletes * wal::DELETE_FRAME_LEN) as u64;
        for body_len in stores {
            bytes += (STORE_HEADER_LEN + 4 + body_len) as u64;
        }
        self.log.reserve(bytes)
    }

    /// [`PayloadStorage::store`] of a payload already serialised: `body`
    /// must be its JSON text (as `serde_json::to_vec` writes it), which is
    /// what the record holds and what [`PayloadStorage::retrieve`] parses.
    /// Storing the record `id` already holds appends nothing.
    ///
    /// # Errors
    /// `InvalidInput` for a body of 4 GiB or more; I/O errors appending.
    pub(crate) fn store_encoded(&mut self, id: u64, body: &[u8]) -> io::Result<()> {
        self.check_usable()?;
        let body_len = u32::try_from(body.len()).map_err(|_| {
            super::invalid_input(format!("payload of {} bytes is too large", body.len()))
        })?;
        if let Some(&entry) = self.index.get(&id)
            && entry.body_len == body_len
            && self
                .read_frame(id, entry)?
                .get(STORE_HEADER_LEN..STORE_HEADER_LEN + body.len())
                == Some(body)
        {
            // Already the stored record (a replay): appending it again would
            // only grow the log, and on a full disk fail.
            return Ok(());
        }
        let mut frame = Vec::with_capacity(body.len() + STORE_HEADER_LEN + 4);
        wal::encode_store(&mut frame, id, body)?;
        let frame_offset = self.log.len();
        self.log.append(&frame)?;
        self.index.insert(
            id,
            Entry {
                frame_offset,
                body_len,
            },
        );
        Ok(())
    }

    /// Read the whole log and check every frame's CRC, and that each live
    /// record is a good store frame of its id. Returns the problems found,
    /// one line each naming the byte offset; empty when the log is sound.
    ///
    /// # Errors
    /// I/O errors reading the log.
    pub fn verify(&self) -> io::Result<Vec<String>> {
        let path = self.log.path();
        let len = self.log.len();
        let bytes = read_range(path, 0, len)?;
        let mut problems = Vec::new();
        let mut reader = wal::reader(&bytes, LOG_HEADER_LEN as usize);
        let frames = reader.by_ref().count();
        if let Some((at, reason)) = reader.torn() {
            problems.push(format!(
                "frame at byte {at} is bad ({reason}) after {frames} good frames; {} bytes from there cannot be read",
                len.saturating_sub(at as u64)
            ));
        }
        let mut entries: Vec<(u64, Entry)> = self.index.iter().map(|(&id, &e)| (id, e)).collect();
        entries.sort_unstable_by_key(|&(id, e)| (e.frame_offset, id));
        for (id, entry) in entries {
            if let Err(err) = self.read_frame(id, entry) {
                problems.push(err.to_string());
            }
        }
        let snapshot_path = self.dir.join(SNAPSHOT_FILE);
        match fs::read(&snapshot_path) {
            Ok(bytes) => match decode_snapshot(&snapshot_path, &bytes) {
                Ok(snap) if snap.generation == self.generation && snap.covered <= len => {
                    problems.extend(check_tail(self.log.file(), &snap)?);
                }
                Ok(_) => problems.push(format!(
                    "{SNAPSHOT_FILE} does not describe this log (another generation, or more bytes than it has)"
                )),
                Err(err) => problems.push(err.to_string()),
            },
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        Ok(problems)
    }

    /// Read and verify the whole frame of `entry`.
    fn read_frame(&self, id: u64, entry: Entry) -> io::Result<Vec<u8>> {
        let path = self.log.path();
        let len = usize::try_from(entry.frame_len())
            .map_err(|_| corrupt(path, entry.frame_offset, "record too large"))?;
        let mut buf = vec![0u8; len];
        sys::read_exact_at(self.log.file(), &mut buf, entry.frame_offset).map_err(|err| {
            corrupt(
                path,
                entry.frame_offset,
                format!("record of id {id} cannot be read: {err}"),
            )
        })?;
        match wal::reader(&buf, 0).next() {
            Some((_, Frame::Store { id: found, .. })) if found == id => Ok(buf),
            Some(_) => Err(corrupt(
                path,
                entry.frame_offset,
                format!("record is not a store of id {id}"),
            )),
            None => Err(corrupt(
                path,
                entry.frame_offset,
                format!("record of id {id} fails its checksum"),
            )),
        }
    }
}

impl PayloadStorage for LogPayloadStorage {
    fn store(&mut self, id: u64, payload: &serde_json::Value) -> io::Result<()> {
        self.check_usable()?;
        let body = serde_json::to_vec(payload).map_err(io::Error::other)?;
        self.store_encoded(id, &body)
    }

    fn retrieve(&self, id: u64) -> io::Result<Option<serde_json::Value>> {
        let Some(&entry) = self.index.get(&id) else {
            return Ok(None);
        };
        let frame = self.read_frame(id, entry)?;
        let body = frame
            .get(STORE_HEADER_LEN..frame.len().saturating_sub(4))
            .unwrap_or_default();
        serde_json::from_slice(body).map(Some).map_err(|err| {
            corrupt(
                self.log.path(),
                entry.frame_offset,
                format!("record of id {id} is not JSON: {err}"),
            )
        })
    }

    fn delete(&mut self, id: u64) -> io::Result<()> {
        self.check_usable()?;
        if !self.index.contains_key(&id) {
            return Ok(());
        }
        let mut frame = Vec::with_capacity(wal::DELETE_FRAME_LEN);
        wal::encode_delete(&mut frame, id);
        self.log.append(&frame)?;
        self.index.remove(&id);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_usable()?;
        if self.log.len() - self.snapshot_len.min(self.log.len()) >= SNAPSHOT_EVERY_BYTES {
            return self.checkpoint();
        }
        if self.mode.syncs() {
            self.log.sync()?;
        }
        Ok(())
    }

    fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.index.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

impl Drop for LogPayloadStorage {
    /// Best-effort snapshot so the next open is fast; never blocks on a
    /// lock (there is none) and never panics. Not a commit point.
    fn drop(&mut self) {
        if !self.failed
            && self.log.len() != self.snapshot_len
            && let Err(err) = self.checkpoint()
        {
            tracing::warn!(dir = %self.dir.display(), %err, "payload snapshot on drop failed");
        }
    }
}

impl std::fmt::Debug for LogPayloadStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogPayloadStorage")
            .field("dir", &self.dir)
            .field("mode", &self.mode)
            .field("len", &self.index.len())
            .field("log_len", &self.log.len())
            .finish_non_exhaustive()
    }
}

/// Counts the bytes written to it.
fn log_header(generation: u64) -> [u8; LOG_HEADER_LEN as usize] {
    let mut h = [0u8; LOG_HEADER_LEN as usize];
    h[..8].copy_from_slice(LOG_MAGIC);
    h[8..].copy_from_slice(&generation.to_le_bytes());
    h
}

/// The generation in a log header (its magic checked by the caller).
fn log_generation(log_path: &Path, header: &[u8]) -> io::Result<u64> {
    let mut r = ByteReader::new(log_path, header);
    r.bytes(LOG_MAGIC.len())?;
    r.u64()
}

/// Read bytes `start..end` of the file at `path`.
fn read_range(path: &Path, start: u64, end: u64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(end.saturating_sub(start))
        .map_err(|_| corrupt(path, start, "log too large to scan"))?;
    let mut buf = vec![0u8; len];
    let file = fs::File::open(path)?;
    sys::read_exact_at(&file, &mut buf, start)?;
    Ok(buf)
}

/// CRC-32 of the last (up to) [`TAIL_CRC_WINDOW`] bytes before `covered` in `file`.
fn tail_crc(file: &fs::File, covered: u64) -> io::Result<u32> {
    let start = covered.saturating_sub(TAIL_CRC_WINDOW);
    let mut buf = vec![0u8; usize::try_from(covered - start).unwrap_or(0)];
    sys::read_exact_at(file, &mut buf, start)?;
    Ok(crc32fast::hash(&buf))
}

/// The snapshot of this log's generation must describe bytes the log
/// still has, unchanged.
fn check_covered(log_path: &Path, log_len: u64, snap: &Snapshot) -> io::Result<()> {
    if snap.covered > log_len {
        return Err(corrupt(
            log_path,
            log_len,
            format!(
                "the log ends here but {SNAPSHOT_FILE} covers {} bytes of it ({} records): \
                 the log lost {} bytes; a rescan would bring deleted and overwritten records back",
                snap.covered,
                snap.index.len(),
                snap.covered - log_len
            ),
        ));
    }
    Ok(())
}

/// The covered bytes' tail must still have the CRC the snapshot recorded.
/// Checked by `verify`, not at open: a flipped byte there is also caught by
/// its record's own CRC, and must not make every other record unreachable.
fn check_tail(file: &fs::File, snap: &Snapshot) -> io::Result<Option<String>> {
    let Some(expected) = snap.tail_crc else {
        return Ok(None);
    };
    let found = tail_crc(file, snap.covered)?;
    Ok((found != expected).then(|| {
        format!(
            "bytes {}..{} that {SNAPSHOT_FILE} covers changed since it was written (CRC {found:#010x}, recorded {expected:#010x})",
            snap.covered.saturating_sub(TAIL_CRC_WINDOW),
            snap.covered
        )
    }))
}

fn encode_snapshot(
    generation: u64,
    covered_len: u64,
    tail_crc: u32,
    index: &FxHashMap<u64, Entry>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER_LEN + index.len() * SNAPSHOT_ENTRY_LEN + 4);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&covered_len.to_le_bytes());
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    out.extend_from_slice(&tail_crc.to_le_bytes());
    for (&id, e) in index {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&e.frame_offset.to_le_bytes());
        out.extend_from_slice(&e.body_len.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A decoded `payloads.idx`.
struct Snapshot {
    generation: u64,
    covered: u64,
    /// `None` in a file of the first format, which has none.
    tail_crc: Option<u32>,
    index: FxHashMap<u64, Entry>,
}

fn decode_snapshot(path: &Path, bytes: &[u8]) -> io::Result<Snapshot> {
    let header_len = match bytes.get(..8) {
        Some(m) if m == SNAPSHOT_MAGIC.as_slice() => SNAPSHOT_HEADER_LEN,
        Some(m) if m == SNAPSHOT_MAGIC_V1.as_slice() => SNAPSHOT_HEADER_LEN_V1,
        _ => return Err(corrupt(path, 0, "bad magic, not a payloads.idx file")),
    };
    let body = crc_checked(path, bytes)?;
    let mut r = ByteReader::new(path, body);
    r.bytes(SNAPSHOT_MAGIC.len())?;
    let generation = r.u64()?;
    let covered = r.u64()?;
    let count = r.u64()?;
    let tail_crc = if header_len == SNAPSHOT_HEADER_LEN {
        Some(r.u32()?)
    } else {
        None
    };
    if Some(r.remaining())
        != usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(SNAPSHOT_ENTRY_LEN))
    {
        return Err(corrupt(
            path,
            24,
            format!("claims {count} entries, holds {} bytes", r.remaining()),
        ));
    }
    let mut index =
        FxHashMap::with_capacity_and_hasher(r.remaining() / SNAPSHOT_ENTRY_LEN, Default::default());
    while r.remaining() > 0 {
        let at = r.offset();
        let id = r.u64()?;
        let frame_offset = r.u64()?;
        let body_len = r.u32()?;
        let entry = Entry {
            frame_offset,
            body_len,
        };
        if frame_offset < LOG_HEADER_LEN || frame_offset.saturating_add(entry.frame_len()) > covered
        {
            return Err(corrupt(
                path,
                at,
                format!("entry of id {id} points outside the covered log"),
            ));
        }
        index.insert(id, entry);
    }
    Ok(Snapshot {
        generation,
        covered,
        tail_crc,
        index,
    })
}

/// Decode a `payloads.idx` read from `path` and, when it decodes, check
/// that encoding what was decoded and decoding that gives it back: the
/// number of entries, or the decoder's error.
///
/// # Panics
/// When the round trip changes the snapshot: a bug the fuzzer reports.
#[cfg(feature = "fuzzing")]
pub(crate) fn snapshot_round_trip(path: &Path, bytes: &[u8]) -> io::Result<usize> {
    let snap = decode_snapshot(path, bytes)?;
    let tail_crc = snap.tail_crc.unwrap_or(0);
    let again = decode_snapshot(
        path,
        &encode_snapshot(snap.generation, snap.covered, tail_crc, &snap.index),
    )?;
    assert_eq!(
        (
            again.generation,
            again.covered,
            again.tail_crc,
            &again.index
        ),
        (snap.generation, snap.covered, Some(tail_crc), &snap.index),
        "payloads.idx round trip"
    );
    Ok(snap.index.len())
}

/// Bring the directory back to a consistent state after an interrupted
/// compaction: an uncommitted rewrite is dropped, the snapshot of a
/// committed one promoted.
fn repair(dir: &Path) -> io::Result<()> {
    rewrite(dir).repair()
}

/// `payloads.log` (the commit point) and `payloads.idx`, rewritten together.
fn rewrite(dir: &Path) -> PairRewrite {
    PairRewrite::new(dir, LOG_FILE, SNAPSHOT_FILE)
}
