//! `ops.log`: the collection's write-ahead operation log.
//!
//! Every write of a collection becomes one [`Op`], appended as one frame
//! (and fsynced in `Fsync` mode) before any store or index changes. A batch
//! is one frame, so it is replayed whole or not at all.
//!
//! File layout, little-endian:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | magic | `[u8; 8]` | `b"QVOPLOG1"` |
//! | base_seq | u64 | sequence number of the checkpoint this log continues |
//! | header_crc | u32 | CRC-32 of magic + base_seq |
//! | frames... | | one per operation, sequence numbers base_seq+1, +2, ... |
//!
//! Frame:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | len | u32 | bytes of seq + kind + body |
//! | crc | u32 | CRC-32 of seq + kind + body |
//! | seq | u64 | the operation's sequence number |
//! | kind | u8 | [`KIND_UPSERT`], [`KIND_DELETE`] or [`KIND_SET_PAYLOAD`] |
//! | body | | `count u32`, then `count` entries (see [`Op`]) |
//!
//! Entries name internal ids explicitly and carry full values (the vector,
//! the new payload, and the old payload that the payload indexes must
//! forget), so replaying a frame onto a state that already has it changes
//! nothing, and replaying it onto the state just before it is exact.
//! Point ids are encoded as a tag byte (0 = u64, 1 = UUID) and 8 or 16
//! bytes; payloads as `len u32` + JSON bytes.
//!
//! A frame that is cut short or fails its CRC with nothing valid after it
//! is a torn tail (a write the crash interrupted): it is dropped and the
//! file is truncated there, so later appends are not hidden behind garbage.
//! A bad frame followed by further valid frames cannot come from a crash
//! (frames are appended in order, each after the last was written): that,
//! a frame with a good CRC that does not decode, and a sequence gap are
//! corruption (`InvalidData`, naming the offset and what follows). [`repair`]
//! cuts such a log at its last valid frame; the frames it drops may be
//! acknowledged writes, so it reports them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::PointId;
use crate::storage::atomic_file::write_atomic;
use crate::storage::corrupt;
use crate::storage::fault::crash_point;

use super::request::Payload;

const MAGIC: &[u8; 8] = b"QVOPLOG1";
const HEADER_LEN: u64 = 20;
/// Frame head: len + crc.
const FRAME_HEAD: usize = 8;
/// A frame larger than this is taken as garbage, not allocated.
const MAX_FRAME_BYTES: u32 = 1 << 30;

/// Upsert of new point versions.
pub(crate) const KIND_UPSERT: u8 = 1;
/// Deletion of points.
pub(crate) const KIND_DELETE: u8 = 2;
/// Replacement of payloads of existing points.
pub(crate) const KIND_SET_PAYLOAD: u8 = 3;

const ID_NUM: u8 = 0;
const ID_UUID: u8 = 1;

/// A point version written by an upsert under a fresh internal id.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UpsertEntry {
    pub(crate) internal: u32,
    pub(crate) id: PointId,
    /// Preprocessed (what the stores and the graph hold).
    pub(crate) vector: Vec<f32>,
    pub(crate) payload: Payload,
    /// The internal id and payload of the version this one replaces.
    pub(crate) replaced: Option<(u32, Payload)>,
}

/// A point removed, with the payload the indexes must forget.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DeleteEntry {
    pub(crate) internal: u32,
    pub(crate) id: PointId,
    pub(crate) payload: Payload,
}

/// A payload replaced in place.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PayloadEntry {
    pub(crate) internal: u32,
    pub(crate) id: PointId,
    pub(crate) old: Payload,
    pub(crate) new: Payload,
}

/// One logged operation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Upsert(Vec<UpsertEntry>),
    Delete(Vec<DeleteEntry>),
    SetPayload(Vec<PayloadEntry>),
}

/// The appending side of `ops.log`.
pub(crate) struct OpLogWriter {
    path: PathBuf,
    file: File,
    len_bytes: u64,
    base_seq: u64,
    last_seq: u64,
    sync: bool,
    /// A failed append could not be cut off: the file may end in a torn
    /// frame. Appends are refused until the cut succeeds, because a frame
    /// written after the torn one would be hidden from replay.
    needs_cut: bool,
}

/// What [`read`] found.
pub(crate) struct OpLogContent {
    pub(crate) base_seq: u64,
    pub(crate) ops: Vec<(u64, Op)>,
    /// Bytes of the valid prefix (header + whole frames).
    pub(crate) valid_len: u64,
}

impl OpLogWriter {
    /// Open `path` for appending after `content` (from [`read`]), cutting a
    /// torn tail. `sync` = fsync every append.
    pub(crate) fn open(path: &Path, content: &OpLogContent, sync: bool) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        if file.metadata()?.len() != content.valid_len {
            // Truncate before appending: bytes after a torn frame would hide
            // every later frame from replay.
            file.set_len(content.valid_len)?;
            file.sync_all()?;
        }
        let last_seq = content.ops.last().map_or(content.base_seq, |(s, _)| *s);
        Ok(OpLogWriter {
            path: path.to_owned(),
            file,
            len_bytes: content.valid_len,
            base_seq: content.base_seq,
            last_seq,
            sync,
            needs_cut: false,
        })
    }

    /// Sequence number of the checkpoint this log continues (0: none yet).
    pub(crate) fn base_seq(&self) -> u64 {
        self.base_seq
    }

    /// Sequence number of the last appended operation (or the base).
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Bytes in the file.
    pub(crate) fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Append `op` as one frame; durable on return when the log syncs.
    /// Returns its sequence number. On error the file is cut back to where
    /// it was, so a failed append leaves no frame behind.
    pub(crate) fn append(&mut self, op: &Op, dimension: usize) -> io::Result<u64> {
        self.append_with(op, dimension, || ()).0
    }

    /// [`OpLogWriter::append`], running `alongside` while the frame's sync
    /// is in flight, so work that must not be seen before the frame is
    /// durable can still overlap the disk's latency. With sync on,
    /// `alongside` runs as a job of the global rayon pool while this thread
    /// waits for the disk; without it, here after the write.
    ///
    /// `alongside` runs once the frame is written (it does not run if the
    /// write fails, and its result is then `None`); the caller must undo
    /// its effects when the append returns an error.
    pub(crate) fn append_with<T: Send>(
        &mut self,
        op: &Op,
        dimension: usize,
        alongside: impl FnOnce() -> T + Send,
    ) -> (io::Result<u64>, Option<T>) {
        if self.needs_cut && !self.cut_back() {
            return (
                Err(io::Error::other(format!(
                    "{}: a failed append could not be cut off; writes wait until it can",
                    self.path.display()
                ))),
                None,
            );
        }
        let seq = self.last_seq + 1;
        let frame = match encode_frame(seq, op, dimension) {
            Ok(frame) => frame,
            Err(err) => return (Err(err), None),
        };
        if let Err(err) = self.file.write_all(&frame) {
            self.cut_back();
            return (Err(err), None);
        }
        let (synced, done) = if self.sync {
            // The sync waits on the disk in this thread while a pool thread
            // does the work; a pool job costs a wake-up, not a thread spawn.
            let file = &self.file;
            let mut done = None;
            let synced = rayon::in_place_scope(|scope| {
                scope.spawn(|_| done = Some(alongside()));
                file.sync_data()
            });
            (synced, done)
        } else {
            (Ok(()), Some(alongside()))
        };
        // The crash point stands for a sync that reports failure.
        if let Err(err) = synced.and_then(|()| crash_point("oplog:sync")) {
            self.cut_back();
            return (Err(err), done);
        }
        self.len_bytes += frame.len() as u64;
        self.last_seq = seq;
        (Ok(seq), done)
    }

    /// Cut a failed append off the file; `false` (and logged) if that
    /// failed, and the next append tries again first.
    fn cut_back(&mut self) -> bool {
        match self.file.set_len(self.len_bytes) {
            Ok(()) => {
                self.needs_cut = false;
                true
            }
            Err(cut) => {
                tracing::error!(path = %self.path.display(), error = %cut, "could not cut a failed append");
                self.needs_cut = true;
                false
            }
        }
    }

    /// Replace the log by an empty one continuing from `base_seq` (every
    /// operation up to it is in a durable checkpoint). Atomic.
    pub(crate) fn rotate(&mut self, base_seq: u64) -> io::Result<()> {
        create(&self.path, base_seq)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.len_bytes = HEADER_LEN;
        self.needs_cut = false;
        self.base_seq = base_seq;
        self.last_seq = base_seq;
        Ok(())
    }
}

/// Write a new empty log at `path` atomically (tmp, fsync, rename, fsync dir)
/// and return its content.
pub(crate) fn create(path: &Path, base_seq: u64) -> io::Result<OpLogContent> {
    write_atomic(path, &header(base_seq), true)?;
    Ok(OpLogContent {
        base_seq,
        ops: Vec::new(),
        valid_len: HEADER_LEN,
    })
}

fn header(base_seq: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN as usize);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&base_seq.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Read the whole log, stopping at a torn tail. A missing file reads as
/// `None` (the caller decides whether that is a new log or a lost one).
///
/// # Errors
/// `InvalidData` for a bad header, and for a damaged frame that is not a
/// torn tail (see the module docs); I/O errors.
pub(crate) fn read(path: &Path, dimension: usize) -> io::Result<Option<OpLogContent>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let scan = scan(path, &bytes, dimension)?;
    if let Some(damage) = scan.damage {
        return Err(corrupt(
            path,
            damage.offset,
            format!(
                "{}; {}: not a torn tail, the log is damaged in the middle \
                 (`quiver check --repair` cuts it here, dropping what follows)",
                damage.detail,
                damage.describe_following()
            ),
        ));
    }
    Ok(Some(scan.content))
}

/// What [`repair`] cut off a damaged log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpLogRepair {
    /// Byte offset the log was cut at (the end of its last valid frame).
    pub cut_at: u64,
    /// Bytes removed.
    pub dropped_bytes: u64,
    /// Frames removed: the damaged one and every frame after it.
    pub dropped_frames: usize,
    /// Sequence numbers of the removed frames, as far as they could be
    /// read (the damaged frame's is the one expected there).
    pub dropped_seqs: Option<(u64, u64)>,
    /// What was wrong at `cut_at`.
    pub reason: String,
}

/// Cut a log whose middle is damaged at its last valid frame, and fsync it.
/// `None` (and the file untouched) when the log reads cleanly or ends in a
/// torn tail, which the next open cuts on its own.
///
/// # Errors
/// `InvalidData` for a bad header (nothing can be kept); I/O errors.
pub(crate) fn repair(path: &Path, dimension: usize) -> io::Result<Option<OpLogRepair>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let scan = scan(path, &bytes, dimension)?;
    let Some(damage) = scan.damage else {
        return Ok(None);
    };
    let cut_at = scan.content.valid_len;
    let expected = scan
        .content
        .ops
        .last()
        .map_or(scan.content.base_seq, |(s, _)| *s)
        + 1;
    let last = damage
        .following
        .map_or(expected, |f| f.last_seq.max(expected));
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(cut_at)?;
    file.sync_all()?;
    Ok(Some(OpLogRepair {
        cut_at,
        dropped_bytes: bytes.len() as u64 - cut_at,
        dropped_frames: 1 + damage.following.map_or(0, |f| f.frames),
        dropped_seqs: Some((expected, last)),
        reason: damage.detail,
    }))
}

/// Valid frames found after a damaged one.
#[derive(Clone, Copy, Debug)]
struct Following {
    at: usize,
    frames: usize,
    first_seq: u64,
    last_seq: u64,
}

/// A frame that is not a torn tail.
struct Damage {
    offset: u64,
    detail: String,
    following: Option<Following>,
}

impl Damage {
    fn describe_following(&self) -> String {
        match self.following {
            Some(f) => format!(
                "{} valid frames follow from byte {} (sequences {}..={})",
                f.frames, f.at, f.first_seq, f.last_seq
            ),
            None => "no valid frame follows".to_owned(),
        }
    }
}

struct Scan {
    content: OpLogContent,
    damage: Option<Damage>,
}

/// The frame at `pos` if its head and CRC are good: (seq, content range end).
fn good_frame(bytes: &[u8], pos: usize) -> Option<(u64, usize)> {
    let head = bytes.get(pos..pos.checked_add(FRAME_HEAD)?)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_FRAME_BYTES || (len as usize) < 9 {
        return None;
    }
    let start = pos + FRAME_HEAD;
    let content = bytes.get(start..start.checked_add(len as usize)?)?;
    if crc32fast::hash(content) != crc {
        return None;
    }
    let seq = u64::from_le_bytes(content.get(..8)?.try_into().ok()?);
    Some((seq, start + len as usize))
}

/// The first run of valid frames starting after `from` whose sequence
/// numbers are at least `min_seq`. Only plausible sequence numbers are
/// CRC-checked, so the search is linear in practice.
fn following_frames(bytes: &[u8], from: usize, min_seq: u64) -> Option<Following> {
    // Every frame takes at least 17 bytes, which bounds the sequence numbers.
    let max_seq = min_seq.saturating_add((bytes.len() / 17) as u64 + 1);
    let last_start = bytes.len().checked_sub(FRAME_HEAD + 9)?;
    for at in from..=last_start {
        let Some(seq_bytes) = bytes.get(at + FRAME_HEAD..at + FRAME_HEAD + 8) else {
            break;
        };
        let seq = u64::from_le_bytes(seq_bytes.try_into().ok()?);
        if !(min_seq..=max_seq).contains(&seq) {
            continue;
        }
        let Some((first_seq, mut end)) = good_frame(bytes, at) else {
            continue;
        };
        let mut f = Following {
            at,
            frames: 1,
            first_seq,
            last_seq: first_seq,
        };
        while let Some((seq, next)) = good_frame(bytes, end) {
            f.frames += 1;
            f.last_seq = seq;
            end = next;
        }
        return Some(f);
    }
    None
}

/// Decode the valid prefix of the log in `bytes` and say why it ends.
fn scan(path: &Path, bytes: &[u8], dimension: usize) -> io::Result<Scan> {
    let head = bytes
        .get(..HEADER_LEN as usize)
        .ok_or_else(|| corrupt(path, 0, "file is shorter than its header"))?;
    if &head[..8] != MAGIC {
        return Err(corrupt(path, 0, "not an operation log (bad magic)"));
    }
    let base_seq = u64::from_le_bytes(
        head[8..16]
            .try_into()
            .map_err(|_| corrupt(path, 8, "short header"))?,
    );
    let crc = u32::from_le_bytes(
        head[16..20]
            .try_into()
            .map_err(|_| corrupt(path, 16, "short header"))?,
    );
    if crc32fast::hash(&head[..16]) != crc {
        return Err(corrupt(path, 16, "header checksum mismatch"));
    }
    let mut ops = Vec::new();
    let mut pos = HEADER_LEN as usize;
    let mut expected = base_seq + 1;
    let mut damage = None;
    while pos < bytes.len() {
        let Some((seq, end)) = good_frame(bytes, pos) else {
            // Cut short or failing its CRC: a torn tail, unless valid frames follow.
            if let Some(f) = following_frames(bytes, pos + 1, expected) {
                damage = Some(Damage {
                    offset: pos as u64,
                    detail: format!(
                        "frame {expected} is cut short or fails its checksum ({} bytes to the next valid frame)",
                        f.at - pos
                    ),
                    following: Some(f),
                });
            }
            break;
        };
        let content = &bytes[pos + FRAME_HEAD..end];
        let decoded = if seq == expected {
            decode_op(content[8], &content[9..], dimension)
                .map_err(|detail| format!("frame {seq} has a good checksum but {detail}"))
        } else {
            Err(format!("sequence {seq} where {expected} was expected"))
        };
        match decoded {
            Ok(op) => ops.push((seq, op)),
            Err(detail) => {
                damage = Some(Damage {
                    offset: pos as u64,
                    detail,
                    following: following_frames(bytes, end, expected),
                });
                break;
            }
        }
        expected += 1;
        pos = end;
    }
    if damage.is_none() && pos < bytes.len() {
        tracing::warn!(path = %path.display(), valid = pos, total = bytes.len(), "dropping a torn tail of the operation log");
    }
    Ok(Scan {
        content: OpLogContent {
            base_seq,
            ops,
            valid_len: pos as u64,
        },
        damage,
    })
}

fn encode_frame(seq: u64, op: &Op, dimension: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; FRAME_HEAD];
    buf.extend_from_slice(&seq.to_le_bytes());
    match op {
        Op::Upsert(entries) => {
            buf.push(KIND_UPSERT);
            put_count(&mut buf, entries.len())?;
            for e in entries {
                if e.vector.len() != dimension {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "vector of {} floats in a log of dimension {dimension}",
                            e.vector.len()
                        ),
                    ));
                }
                buf.extend_from_slice(&e.internal.to_le_bytes());
                put_id(&mut buf, &e.id);
                for x in &e.vector {
                    buf.extend_from_slice(&x.to_le_bytes());
                }
                put_payload(&mut buf, &e.payload)?;
                match &e.replaced {
                    None => buf.push(0),
                    Some((old, payload)) => {
                        buf.push(1);
                        buf.extend_from_slice(&old.to_le_bytes());
                        put_payload(&mut buf, payload)?;
                    }
                }
            }
        }
        Op::Delete(entries) => {
            buf.push(KIND_DELETE);
            put_count(&mut buf, entries.len())?;
            for e in entries {
                buf.extend_from_slice(&e.internal.to_le_bytes());
                put_id(&mut buf, &e.id);
                put_payload(&mut buf, &e.payload)?;
            }
        }
        Op::SetPayload(entries) => {
            buf.push(KIND_SET_PAYLOAD);
            put_count(&mut buf, entries.len())?;
            for e in entries {
                buf.extend_from_slice(&e.internal.to_le_bytes());
                put_id(&mut buf, &e.id);
                put_payload(&mut buf, &e.old)?;
                put_payload(&mut buf, &e.new)?;
            }
        }
    }
    let content_len = buf.len() - FRAME_HEAD;
    let len = u32::try_from(content_len)
        .ok()
        .filter(|&l| l <= MAX_FRAME_BYTES)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("operation of {content_len} bytes exceeds the {MAX_FRAME_BYTES}-byte frame limit; split the batch"),
            )
        })?;
    let crc = crc32fast::hash(&buf[FRAME_HEAD..]);
    buf[..4].copy_from_slice(&len.to_le_bytes());
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

fn put_count(buf: &mut Vec<u8>, n: usize) -> io::Result<()> {
    let n = u32::try_from(n).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "more than 2^32 entries in one operation",
        )
    })?;
    buf.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn put_id(buf: &mut Vec<u8>, id: &PointId) {
    match id {
        PointId::Num(n) => {
            buf.push(ID_NUM);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        PointId::Uuid(u) => {
            buf.push(ID_UUID);
            buf.extend_from_slice(u.as_bytes());
        }
    }
}

fn put_payload(buf: &mut Vec<u8>, payload: &Payload) -> io::Result<()> {
    let json =
        serde_json::to_vec(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    put_count(buf, json.len())?;
    buf.extend_from_slice(&json);
    Ok(())
}

/// A cursor over a frame body; every read is bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.bytes.get(self.pos..end).ok_or_else(|| {
            format!(
                "body ends at {} but {n} more bytes were expected at {}",
                self.bytes.len(),
                self.pos
            )
        })?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn id(&mut self) -> Result<PointId, String> {
        match self.u8()? {
            ID_NUM => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(PointId::Num(u64::from_le_bytes(a)))
            }
            ID_UUID => {
                let b = self.take(16)?;
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Ok(PointId::Uuid(Uuid::from_bytes(a)))
            }
            t => Err(format!("unknown point id tag {t}")),
        }
    }

    fn payload(&mut self) -> Result<Payload, String> {
        let len = self.u32()? as usize;
        let json = self.take(len)?;
        serde_json::from_slice(json).map_err(|e| format!("payload is not a JSON object: {e}"))
    }

    fn vector(&mut self, dimension: usize) -> Result<Vec<f32>, String> {
        let bytes = self.take(dimension.checked_mul(4).ok_or("dimension overflow")?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn count(&mut self) -> Result<usize, String> {
        let n = self.u32()? as usize;
        // Every entry takes at least 9 bytes, so a larger count is garbage.
        if n > self.bytes.len() / 9 + 1 {
            return Err(format!(
                "count {n} cannot fit in a body of {} bytes",
                self.bytes.len()
            ));
        }
        Ok(n)
    }
}

fn decode_op(kind: u8, body: &[u8], dimension: usize) -> Result<Op, String> {
    let mut c = Cursor {
        bytes: body,
        pos: 0,
    };
    let n = c.count()?;
    let op = match kind {
        KIND_UPSERT => {
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let internal = c.u32()?;
                let id = c.id()?;
                let vector = c.vector(dimension)?;
                let payload = c.payload()?;
                let replaced = match c.u8()? {
                    0 => None,
                    1 => Some((c.u32()?, c.payload()?)),
                    f => return Err(format!("bad replaced flag {f}")),
                };
                entries.push(UpsertEntry {
                    internal,
                    id,
                    vector,
                    payload,
                    replaced,
                });
            }
            Op::Upsert(entries)
        }
        KIND_DELETE => {
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(DeleteEntry {
                    internal: c.u32()?,
                    id: c.id()?,
                    payload: c.payload()?,
                });
            }
            Op::Delete(entries)
        }
        KIND_SET_PAYLOAD => {
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(PayloadEntry {
                    internal: c.u32()?,
                    id: c.id()?,
                    old: c.payload()?,
                    new: c.payload()?,
                });
            }
            Op::SetPayload(entries)
        }
        k => return Err(format!("unknown operation kind {k}")),
    };
    if c.pos != body.len() {
        return Err(format!("{} trailing bytes", body.len() - c.pos));
    }
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: serde_json::Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    fn sample_ops() -> Vec<Op> {
        vec![
            Op::Upsert(vec![
                UpsertEntry {
                    internal: 0,
                    id: PointId::Num(7),
                    vector: vec![1.0, -2.5, 3.25],
                    payload: payload(json!({"a": 1, "b": [true, null, "x"], "c": {"d": 1.5}})),
                    replaced: None,
                },
                UpsertEntry {
                    internal: 3,
                    id: PointId::Uuid(Uuid::from_u128(0x1234)),
                    vector: vec![0.0; 3],
                    payload: Payload::new(),
                    replaced: Some((1, payload(json!({"old": "yes"})))),
                },
            ]),
            Op::Delete(vec![DeleteEntry {
                internal: 0,
                id: PointId::Num(7),
                payload: payload(json!({"a": 1})),
            }]),
            Op::SetPayload(vec![PayloadEntry {
                internal: 3,
                id: PointId::Uuid(Uuid::from_u128(0x1234)),
                old: Payload::new(),
                new: payload(json!({"n": 2})),
            }]),
        ]
    }

    fn write_sample(path: &Path) -> Vec<u64> {
        let content = create(path, 10).unwrap();
        let mut w = OpLogWriter::open(path, &content, true).unwrap();
        sample_ops()
            .iter()
            .map(|op| w.append(op, 3).unwrap())
            .collect()
    }

    #[test]
    fn frames_round_trip_with_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        assert_eq!(write_sample(&path), vec![11, 12, 13]);
        let content = read(&path, 3).unwrap().unwrap();
        assert_eq!(content.base_seq, 10);
        let ops: Vec<Op> = content.ops.into_iter().map(|(_, op)| op).collect();
        assert_eq!(ops, sample_ops());
    }

    #[test]
    fn torn_tail_is_cut_at_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        write_sample(&path);
        let full = fs::read(&path).unwrap();
        let whole = read(&path, 3).unwrap().unwrap();
        let last_start = {
            // Re-read with the last frame removed to learn where it starts.
            let mut w = whole.valid_len as usize;
            for cut in (HEADER_LEN as usize..full.len()).rev() {
                fs::write(&path, &full[..cut]).unwrap();
                let c = read(&path, 3).unwrap().unwrap();
                if c.ops.len() == 2 {
                    w = c.valid_len as usize;
                    break;
                }
            }
            w
        };
        for cut in last_start..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let c = read(&path, 3).unwrap().unwrap();
            assert_eq!(c.ops.len(), 2, "cut at {cut}");
            assert_eq!(c.valid_len as usize, last_start);
            // Appending after the cut is seen by the next read.
            let mut w = OpLogWriter::open(&path, &c, false).unwrap();
            assert_eq!(w.append(&sample_ops()[0], 3).unwrap(), 13);
            let again = read(&path, 3).unwrap().unwrap();
            assert_eq!(again.ops.len(), 3);
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        write_sample(&path);
        let full = fs::read(&path).unwrap();
        for i in 0..full.len() {
            let mut bad = full.clone();
            bad[i] ^= 0x5a;
            fs::write(&path, &bad).unwrap();
            // Either an error or a valid prefix; never a panic.
            if let Ok(Some(c)) = read(&path, 3) {
                assert!(c.ops.len() <= 3);
            }
        }
    }

    #[test]
    fn rotate_starts_an_empty_log_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        write_sample(&path);
        let content = read(&path, 3).unwrap().unwrap();
        let mut w = OpLogWriter::open(&path, &content, true).unwrap();
        w.rotate(13).unwrap();
        assert_eq!(w.append(&sample_ops()[1], 3).unwrap(), 14);
        let c = read(&path, 3).unwrap().unwrap();
        assert_eq!(c.base_seq, 13);
        assert_eq!(c.ops.len(), 1);
        assert_eq!(c.ops[0].0, 14);
    }
}
