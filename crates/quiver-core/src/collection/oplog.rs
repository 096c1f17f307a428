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
//! | kind | u8 | [`KIND_UPSERT`], [`KIND_DELETE`], [`KIND_SET_PAYLOAD`] or [`KIND_UPSERT_VECTORS`] |
//! | body | | `count u32`, then `count` entries (see [`Op`]) |
//!
//! Entries name internal ids explicitly and carry full values (the vector,
//! the new payload, and the old payload that the payload indexes must
//! forget), so replaying a frame onto a state that already has it changes
//! nothing, and replaying it onto the state just before it is exact.
//! Point ids are encoded as a tag byte (0 = u64, 1 = UUID) and 8 or 16
//! bytes; payloads as `len u32` + JSON bytes. An upsert entry of
//! [`KIND_UPSERT`] holds the default vector's floats; one of
//! [`KIND_UPSERT_VECTORS`] holds `count u32` dense vectors (`slot u32` +
//! the slot's floats) and `count u32` sparse ones (`slot u32`, `len u32`,
//! `len` indices u32, `len` values f32), slots numbering the collection's
//! vectors in name order ([`LogSchema`]). Upserts whose points all carry
//! just the default vector use the first kind, the only one before named
//! vectors, so a one-vector collection's log is as it always was.
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
//!
//! Reading and appending frames is the crate's framed-log codec
//! (`file/framed.rs`); this file owns the frame layout, the operation
//! encoding and the damage policy.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::file::atomic::write_atomic;
use crate::file::fault::crash_point;
use crate::file::framed::{FrameLayout, FrameReader, FrameWriter};
use crate::file::{ByteReader, corrupt};

use super::request::Payload;
use crate::{PointId, SparseVector};

const MAGIC: &[u8; 8] = b"QVOPLOG1";
const HEADER_LEN: u64 = 20;
/// Frame head: len + crc.
const FRAME_HEAD: usize = 8;
/// A frame larger than this is taken as garbage, not allocated.
const MAX_FRAME_BYTES: u32 = 1 << 30;
/// The largest sequence number (and base) a log holds: the next one must
/// still fit in a `u64`, so no count past it wraps. A header or frame
/// beyond it is damage.
const MAX_SEQ: u64 = u64::MAX - 1;

/// Upsert of new point versions that carry the default vector alone.
pub(crate) const KIND_UPSERT: u8 = 1;
/// Deletion of points.
pub(crate) const KIND_DELETE: u8 = 2;
/// Replacement of payloads of existing points.
pub(crate) const KIND_SET_PAYLOAD: u8 = 3;
/// Upsert of new point versions with any set of named dense and sparse
/// vectors.
pub(crate) const KIND_UPSERT_VECTORS: u8 = 4;

/// What the log needs to know of the collection's vectors to read and
/// write frames: the dimension of each dense vector, by slot (the order of
/// their names), the number of sparse ones, and the slot of the default
/// vector (`""`), if there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogSchema {
    pub(crate) dense: Vec<usize>,
    pub(crate) sparse: usize,
    pub(crate) default_slot: Option<usize>,
}

impl LogSchema {
    /// A collection of the default vector alone, of `dimension` floats.
    #[cfg(test)]
    pub(crate) fn single(dimension: usize) -> Self {
        LogSchema {
            dense: vec![dimension],
            sparse: 0,
            default_slot: Some(0),
        }
    }
}

const ID_NUM: u8 = 0;
const ID_UUID: u8 = 1;

/// A point's dense vectors by slot (see [`LogSchema`]); `None` where it has none.
pub(crate) type DenseSlots = Vec<Option<Vec<f32>>>;
/// A point's sparse vectors by slot; `None` where it has none.
pub(crate) type SparseSlots = Vec<Option<SparseVector>>;

/// A point version written by an upsert under a fresh internal id.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UpsertEntry {
    pub(crate) internal: u32,
    pub(crate) id: PointId,
    /// Its dense vectors by slot (see [`LogSchema`]), preprocessed (what
    /// the stores and the graphs hold); `None` where it has none.
    pub(crate) dense: DenseSlots,
    /// Its sparse vectors by slot; `None` where it has none.
    pub(crate) sparse: SparseSlots,
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

/// The JSON text of every payload an operation carries, each serialised
/// once: the log frame ([`OpLogWriter::append_with`]) and the payload store
/// take the same bytes. One element per entry of the operation, in order.
pub(crate) struct OpJson(Vec<EntryJson>);

/// The payloads of one entry of an [`Op`], as JSON text.
pub(crate) struct EntryJson {
    /// The payload the entry writes: an upsert's or a set-payload's new
    /// payload, or the payload a delete removes.
    pub(crate) payload: Vec<u8>,
    /// The payload it replaces: the old version's of an upsert that
    /// replaces one, the old payload of a set-payload.
    pub(crate) replaced: Option<Vec<u8>>,
}

impl OpJson {
    /// Serialise each payload of `op`.
    ///
    /// # Errors
    /// `InvalidInput` if a payload cannot be serialised.
    pub(crate) fn encode(op: &Op) -> io::Result<Self> {
        let entry = |payload: &Payload, replaced: Option<&Payload>| {
            Ok(EntryJson {
                payload: json(payload)?,
                replaced: replaced.map(json).transpose()?,
            })
        };
        let entries: io::Result<Vec<EntryJson>> = match op {
            Op::Upsert(entries) => entries
                .iter()
                .map(|e| entry(&e.payload, e.replaced.as_ref().map(|(_, p)| p)))
                .collect(),
            Op::Delete(entries) => entries.iter().map(|e| entry(&e.payload, None)).collect(),
            Op::SetPayload(entries) => entries
                .iter()
                .map(|e| entry(&e.new, Some(&e.old)))
                .collect(),
        };
        entries.map(OpJson)
    }

    /// The entries' JSON, in the operation's order.
    pub(crate) fn entries(&self) -> &[EntryJson] {
        &self.0
    }
}

fn json(payload: &Payload) -> io::Result<Vec<u8>> {
    serde_json::to_vec(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// The appending side of `ops.log`.
pub(crate) struct OpLogWriter {
    path: PathBuf,
    log: FrameWriter,
    base_seq: u64,
    last_seq: u64,
    sync: bool,
}

/// What [`read`] found.
#[derive(Debug)]
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
        let log = FrameWriter::open_existing(path, content.valid_len, true)?;
        let last_seq = content.ops.last().map_or(content.base_seq, |(s, _)| *s);
        Ok(OpLogWriter {
            path: path.to_owned(),
            log,
            base_seq: content.base_seq,
            last_seq,
            sync,
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
        self.log.len()
    }

    /// Append `op`, whose payloads `json` holds ([`OpJson::encode`] of
    /// it), as one frame; durable on return when the log syncs. Returns its
    /// sequence number. On error the file is cut back to where it was, so a
    /// failed append leaves no frame behind.
    pub(crate) fn append(&mut self, op: &Op, json: &OpJson, schema: &LogSchema) -> io::Result<u64> {
        self.append_with(op, json, schema, || ()).0
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
        json: &OpJson,
        schema: &LogSchema,
        alongside: impl FnOnce() -> T + Send,
    ) -> (io::Result<u64>, Option<T>) {
        let Some(seq) = self.last_seq.checked_add(1).filter(|&s| s <= MAX_SEQ) else {
            return (
                Err(io::Error::other(format!(
                    "{}: sequence numbers are exhausted",
                    self.path.display()
                ))),
                None,
            );
        };
        let frame = match encode_frame(seq, op, json, schema) {
            Ok(frame) => frame,
            Err(err) => return (Err(err), None),
        };
        let before = self.log.len();
        if let Err(err) = self.log.append(&frame) {
            return (Err(err), None);
        }
        let (synced, done) = if self.sync {
            // The sync waits on the disk in this thread while a pool thread
            // does the work; a pool job costs a wake-up, not a thread spawn.
            let log = &self.log;
            let mut done = None;
            let synced = rayon::in_place_scope(|scope| {
                scope.spawn(|_| done = Some(alongside()));
                log.sync()
            });
            (synced, done)
        } else {
            (Ok(()), Some(alongside()))
        };
        // The crash point stands for a sync that reports failure.
        if let Err(err) = synced.and_then(|()| crash_point("oplog:sync")) {
            self.log.undo_to(before);
            return (Err(err), done);
        }
        self.last_seq = seq;
        (Ok(seq), done)
    }

    /// Replace the log by an empty one continuing from `base_seq` (every
    /// operation up to it is in a durable checkpoint). Atomic.
    pub(crate) fn rotate(&mut self, base_seq: u64) -> io::Result<()> {
        create(&self.path, base_seq)?;
        self.log = FrameWriter::open_existing(&self.path, HEADER_LEN, true)?;
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
pub(crate) fn read(path: &Path, schema: &LogSchema) -> io::Result<Option<OpLogContent>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    decode(path, &bytes, schema).map(Some)
}

/// [`read`] of the bytes of a log read from `path`.
///
/// # Errors
/// As [`read`], without the I/O errors.
pub(crate) fn decode(path: &Path, bytes: &[u8], schema: &LogSchema) -> io::Result<OpLogContent> {
    let scan = scan(path, bytes, schema)?;
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
    Ok(scan.content)
}

/// A whole log: the header of `base_seq` and a frame per operation, as
/// appends write them.
///
/// # Errors
/// `InvalidInput` for an operation the format cannot hold.
#[cfg(feature = "fuzzing")]
pub(crate) fn encode(base_seq: u64, ops: &[(u64, Op)], schema: &LogSchema) -> io::Result<Vec<u8>> {
    let mut out = header(base_seq);
    for (seq, op) in ops {
        out.extend_from_slice(&encode_frame(*seq, op, &OpJson::encode(op)?, schema)?);
    }
    Ok(out)
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
pub(crate) fn repair(path: &Path, schema: &LogSchema) -> io::Result<Option<OpLogRepair>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let scan = scan(path, &bytes, schema)?;
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

/// One `ops.log` frame whose head and CRC are good.
struct OpFrame<'a> {
    seq: u64,
    kind: u8,
    body: &'a [u8],
}

/// The `ops.log` frame layout (see the module docs): the length and CRC
/// come first, and the CRC covers the sequence number, kind and body.
///
/// A second layout for the one framed-log codec, not a second codec: the
/// released `ops.log` and `vectors.wal` differ on disk (this one carries a
/// sequence number, which is what lets a scan tell valid frames after a
/// damaged one from a torn tail), and both must keep opening unchanged.
#[derive(Clone, Copy)]
struct OpFrames;

impl FrameLayout for OpFrames {
    type Frame<'a> = OpFrame<'a>;

    fn decode<'a>(&self, buf: &'a [u8], at: usize) -> Result<(OpFrame<'a>, usize), &'static str> {
        let mut r = ByteReader::detached(buf.get(at..).unwrap_or_default());
        let len = r.u32().map_err(|_| "frame cut short in its length")?;
        let crc = r.u32().map_err(|_| "frame cut short in its checksum")?;
        if len > MAX_FRAME_BYTES || (len as usize) < 9 {
            return Err("implausible frame length");
        }
        let content = r.bytes(len as usize).map_err(|_| "frame cut short")?;
        if crc32fast::hash(content) != crc {
            return Err("checksum mismatch");
        }
        let mut c = ByteReader::detached(content);
        let seq = c.u64().map_err(|_| "frame cut short in its sequence")?;
        let kind = c.u8().map_err(|_| "frame cut short in its kind")?;
        let body = content.get(9..).unwrap_or_default();
        Ok((OpFrame { seq, kind, body }, at + r.pos()))
    }
}

/// The first run of valid frames starting after `from` whose sequence
/// numbers are at least `min_seq`. Only plausible sequence numbers are
/// CRC-checked, so the search is linear in practice.
fn following_frames(
    reader: &FrameReader<'_, OpFrames>,
    bytes: &[u8],
    from: usize,
    min_seq: u64,
) -> Option<Following> {
    // Every frame takes at least 17 bytes, which bounds the sequence numbers.
    let max_seq = min_seq.saturating_add((bytes.len() / 17) as u64 + 1);
    let plausible = |at: usize| {
        let seq = bytes.get(at + FRAME_HEAD..).unwrap_or_default();
        ByteReader::detached(seq)
            .u64()
            .is_ok_and(|seq| (min_seq..=max_seq).contains(&seq))
    };
    let mut run = reader.resync(from, plausible)?;
    let (at, first) = run.next()?;
    let mut f = Following {
        at,
        frames: 1,
        first_seq: first.seq,
        last_seq: first.seq,
    };
    for (_, frame) in run {
        f.frames += 1;
        f.last_seq = frame.seq;
    }
    Some(f)
}

/// Decode the valid prefix of the log in `bytes` and say why it ends.
fn scan(path: &Path, bytes: &[u8], schema: &LogSchema) -> io::Result<Scan> {
    if bytes.len() < HEADER_LEN as usize {
        return Err(corrupt(path, 0, "file is shorter than its header"));
    }
    let mut head = ByteReader::new(path, bytes);
    if head.bytes(MAGIC.len())? != MAGIC {
        return Err(corrupt(path, 0, "not an operation log (bad magic)"));
    }
    let base_seq = head.u64()?;
    let covered = bytes.get(..head.pos()).unwrap_or_default();
    if crc32fast::hash(covered) != head.u32()? {
        return Err(corrupt(path, 16, "header checksum mismatch"));
    }
    if base_seq > MAX_SEQ {
        return Err(corrupt(
            path,
            8,
            format!("base sequence number {base_seq} is past the largest, {MAX_SEQ}"),
        ));
    }
    let mut ops = Vec::new();
    let mut reader = FrameReader::new(OpFrames, bytes, HEADER_LEN as usize);
    let mut expected = base_seq + 1;
    let mut damage = None;
    let mut valid_len = None;
    while let Some((at, frame)) = reader.next() {
        let decoded = if frame.seq > MAX_SEQ {
            Err(format!(
                "sequence {} is past the largest, {MAX_SEQ}",
                frame.seq
            ))
        } else if frame.seq == expected {
            decode_op(path, at, &frame, schema)
                .map_err(|err| format!("frame {} has a good checksum but {err}", frame.seq))
        } else {
            Err(format!(
                "sequence {} where {expected} was expected",
                frame.seq
            ))
        };
        match decoded {
            Ok(op) => ops.push((frame.seq, op)),
            Err(detail) => {
                damage = Some(Damage {
                    offset: at as u64,
                    detail,
                    following: following_frames(&reader, bytes, reader.good_len(), expected),
                });
                valid_len = Some(at);
                break;
            }
        }
        expected += 1;
    }
    let valid_len = valid_len.unwrap_or(reader.good_len());
    if let Some((pos, _)) = reader.torn() {
        // Cut short or failing its CRC: a torn tail, unless valid frames follow.
        if let Some(f) = following_frames(&reader, bytes, pos + 1, expected) {
            damage = Some(Damage {
                offset: pos as u64,
                detail: format!(
                    "frame {expected} is cut short or fails its checksum ({} bytes to the next valid frame)",
                    f.at - pos
                ),
                following: Some(f),
            });
        } else {
            tracing::warn!(path = %path.display(), valid = pos, total = bytes.len(), "dropping a torn tail of the operation log");
        }
    }
    Ok(Scan {
        content: OpLogContent {
            base_seq,
            ops,
            valid_len: valid_len as u64,
        },
        damage,
    })
}

fn encode_frame(seq: u64, op: &Op, json: &OpJson, schema: &LogSchema) -> io::Result<Vec<u8>> {
    let entries = json.entries();
    let count = match op {
        Op::Upsert(e) => e.len(),
        Op::Delete(e) => e.len(),
        Op::SetPayload(e) => e.len(),
    };
    if entries.len() != count {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "operation of {count} entries given the payloads of {}",
                entries.len()
            ),
        ));
    }
    let mut buf = vec![0u8; FRAME_HEAD];
    buf.extend_from_slice(&seq.to_le_bytes());
    match op {
        Op::Upsert(ops) => {
            let plain = schema.default_slot.filter(|&slot| {
                ops.iter().all(|e| {
                    e.sparse.iter().all(Option::is_none)
                        && e.dense
                            .iter()
                            .enumerate()
                            .all(|(i, v)| v.is_some() == (i == slot))
                })
            });
            buf.push(if plain.is_some() {
                KIND_UPSERT
            } else {
                KIND_UPSERT_VECTORS
            });
            put_count(&mut buf, ops.len())?;
            for (e, j) in ops.iter().zip(entries) {
                check_entry(e, schema)?;
                buf.extend_from_slice(&e.internal.to_le_bytes());
                put_id(&mut buf, &e.id);
                match plain {
                    Some(slot) => put_floats(&mut buf, e.dense[slot].as_deref().unwrap_or(&[])),
                    None => put_vectors(&mut buf, e)?,
                }
                put_payload(&mut buf, &j.payload)?;
                match (&e.replaced, &j.replaced) {
                    (None, _) => buf.push(0),
                    (Some((old, _)), Some(payload)) => {
                        buf.push(1);
                        buf.extend_from_slice(&old.to_le_bytes());
                        put_payload(&mut buf, payload)?;
                    }
                    (Some(_), None) => return Err(missing_json()),
                }
            }
        }
        Op::Delete(ops) => {
            buf.push(KIND_DELETE);
            put_count(&mut buf, ops.len())?;
            for (e, j) in ops.iter().zip(entries) {
                buf.extend_from_slice(&e.internal.to_le_bytes());
                put_id(&mut buf, &e.id);
                put_payload(&mut buf, &j.payload)?;
            }
        }
        Op::SetPayload(ops) => {
            buf.push(KIND_SET_PAYLOAD);
            put_count(&mut buf, ops.len())?;
            for (e, j) in ops.iter().zip(entries) {
                buf.extend_from_slice(&e.internal.to_le_bytes());
                put_id(&mut buf, &e.id);
                put_payload(&mut buf, j.replaced.as_deref().ok_or_else(missing_json)?)?;
                put_payload(&mut buf, &j.payload)?;
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

/// Checks that `e` fits `schema`: a slot per vector, dense ones of their
/// slot's dimension.
fn check_entry(e: &UpsertEntry, schema: &LogSchema) -> io::Result<()> {
    let invalid = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
    if e.dense.len() != schema.dense.len() || e.sparse.len() != schema.sparse {
        return invalid(format!(
            "entry of {} dense and {} sparse slots in a log of {} and {}",
            e.dense.len(),
            e.sparse.len(),
            schema.dense.len(),
            schema.sparse
        ));
    }
    for (slot, (v, &dimension)) in e.dense.iter().zip(&schema.dense).enumerate() {
        if let Some(v) = v
            && v.len() != dimension
        {
            return invalid(format!(
                "vector of {} floats in slot {slot} of dimension {dimension}",
                v.len()
            ));
        }
    }
    Ok(())
}

fn put_floats(buf: &mut Vec<u8>, values: &[f32]) {
    for x in values {
        buf.extend_from_slice(&x.to_le_bytes());
    }
}

/// The vectors of a [`KIND_UPSERT_VECTORS`] entry.
fn put_vectors(buf: &mut Vec<u8>, e: &UpsertEntry) -> io::Result<()> {
    let present = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    put_count(buf, e.dense.iter().flatten().count())?;
    for (slot, v) in e.dense.iter().enumerate() {
        if let Some(v) = v {
            buf.extend_from_slice(&present(slot).to_le_bytes());
            put_floats(buf, v);
        }
    }
    put_count(buf, e.sparse.iter().flatten().count())?;
    for (slot, v) in e.sparse.iter().enumerate() {
        if let Some(v) = v {
            buf.extend_from_slice(&present(slot).to_le_bytes());
            put_count(buf, v.len())?;
            for i in v.indices() {
                buf.extend_from_slice(&i.to_le_bytes());
            }
            put_floats(buf, v.values());
        }
    }
    Ok(())
}

/// Reads the vectors of a [`KIND_UPSERT_VECTORS`] entry.
fn read_vectors(
    r: &mut ByteReader<'_>,
    schema: &LogSchema,
) -> io::Result<(DenseSlots, SparseSlots)> {
    let mut dense: DenseSlots = vec![None; schema.dense.len()];
    let n = r.u32()?;
    for _ in 0..n {
        let slot = r.u32()? as usize;
        let Some(&dimension) = schema.dense.get(slot) else {
            return Err(r.error(format!(
                "dense vector slot {slot} of a collection of {}",
                schema.dense.len()
            )));
        };
        if dense[slot].is_some() {
            return Err(r.error(format!("dense vector slot {slot} given twice")));
        }
        dense[slot] = Some(r.f32s(dimension)?);
    }
    let mut sparse: SparseSlots = vec![None; schema.sparse];
    let n = r.u32()?;
    for _ in 0..n {
        let slot = r.u32()? as usize;
        if slot >= schema.sparse {
            return Err(r.error(format!(
                "sparse vector slot {slot} of a collection of {}",
                schema.sparse
            )));
        }
        if sparse[slot].is_some() {
            return Err(r.error(format!("sparse vector slot {slot} given twice")));
        }
        let len = r.u32()? as usize;
        if len.saturating_mul(8) > r.remaining() {
            return Err(r.error(format!(
                "sparse vector of {len} entries cannot fit in the {} bytes left",
                r.remaining()
            )));
        }
        let mut indices = Vec::with_capacity(len);
        for _ in 0..len {
            indices.push(r.u32()?);
        }
        let values = r.f32s(len)?;
        let at = r.offset();
        sparse[slot] = Some(SparseVector::new(indices, values).map_err(|e| r.error_at(at, e))?);
    }
    Ok((dense, sparse))
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

fn missing_json() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "operation replaces a payload its JSON does not carry",
    )
}

fn put_payload(buf: &mut Vec<u8>, json: &[u8]) -> io::Result<()> {
    put_count(buf, json.len())?;
    buf.extend_from_slice(json);
    Ok(())
}

fn read_id(r: &mut ByteReader<'_>) -> io::Result<PointId> {
    match r.u8()? {
        ID_NUM => Ok(PointId::Num(r.u64()?)),
        ID_UUID => Ok(PointId::Uuid(Uuid::from_bytes(r.bytes16()?))),
        t => Err(r.error(format!("unknown point id tag {t}"))),
    }
}

fn read_payload(r: &mut ByteReader<'_>) -> io::Result<Payload> {
    let len = r.u32()? as usize;
    let at = r.offset();
    let json = r.bytes(len)?;
    serde_json::from_slice(json)
        .map_err(|e| r.error_at(at, format!("payload is not a JSON object: {e}")))
}

fn read_count(r: &mut ByteReader<'_>) -> io::Result<usize> {
    let n = r.u32()? as usize;
    let body_len = r.remaining() + 4;
    // Every entry takes at least 9 bytes, so a larger count is garbage.
    if n > body_len / 9 + 1 {
        return Err(r.error(format!(
            "count {n} cannot fit in a body of {body_len} bytes"
        )));
    }
    Ok(n)
}

/// Decode the operation of the frame at byte `at`.
fn decode_op(path: &Path, at: usize, frame: &OpFrame<'_>, schema: &LogSchema) -> io::Result<Op> {
    let body_at = (at + FRAME_HEAD + 9) as u64;
    let mut r = ByteReader::at(path, frame.body, body_at);
    let n = read_count(&mut r)?;
    let op = match frame.kind {
        KIND_UPSERT | KIND_UPSERT_VECTORS => {
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let internal = r.u32()?;
                let id = read_id(&mut r)?;
                let (dense, sparse) = if frame.kind == KIND_UPSERT {
                    let Some(slot) = schema.default_slot else {
                        return Err(
                            r.error("an upsert of the default vector in a collection without one")
                        );
                    };
                    let mut dense = vec![None; schema.dense.len()];
                    dense[slot] = Some(r.f32s(schema.dense[slot])?);
                    (dense, vec![None; schema.sparse])
                } else {
                    read_vectors(&mut r, schema)?
                };
                let payload = read_payload(&mut r)?;
                let replaced = match r.u8()? {
                    0 => None,
                    1 => Some((r.u32()?, read_payload(&mut r)?)),
                    f => return Err(r.error(format!("bad replaced flag {f}"))),
                };
                entries.push(UpsertEntry {
                    internal,
                    id,
                    dense,
                    sparse,
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
                    internal: r.u32()?,
                    id: read_id(&mut r)?,
                    payload: read_payload(&mut r)?,
                });
            }
            Op::Delete(entries)
        }
        KIND_SET_PAYLOAD => {
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(PayloadEntry {
                    internal: r.u32()?,
                    id: read_id(&mut r)?,
                    old: read_payload(&mut r)?,
                    new: read_payload(&mut r)?,
                });
            }
            Op::SetPayload(entries)
        }
        k => {
            return Err(corrupt(
                path,
                body_at - 1,
                format!("unknown operation kind {k}"),
            ));
        }
    };
    r.finish()?;
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
                    dense: vec![Some(vec![1.0, -2.5, 3.25])],
                    sparse: vec![],
                    payload: payload(json!({"a": 1, "b": [true, null, "x"], "c": {"d": 1.5}})),
                    replaced: None,
                },
                UpsertEntry {
                    internal: 3,
                    id: PointId::Uuid(Uuid::from_u128(0x1234)),
                    dense: vec![Some(vec![0.0; 3])],
                    sparse: vec![],
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
            .map(|op| {
                w.append(op, &OpJson::encode(op).unwrap(), &LogSchema::single(3))
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn frames_round_trip_with_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        assert_eq!(write_sample(&path), vec![11, 12, 13]);
        let content = read(&path, &LogSchema::single(3)).unwrap().unwrap();
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
        let whole = read(&path, &LogSchema::single(3)).unwrap().unwrap();
        let last_start = {
            // Re-read with the last frame removed to learn where it starts.
            let mut w = whole.valid_len as usize;
            for cut in (HEADER_LEN as usize..full.len()).rev() {
                fs::write(&path, &full[..cut]).unwrap();
                let c = read(&path, &LogSchema::single(3)).unwrap().unwrap();
                if c.ops.len() == 2 {
                    w = c.valid_len as usize;
                    break;
                }
            }
            w
        };
        for cut in last_start..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let c = read(&path, &LogSchema::single(3)).unwrap().unwrap();
            assert_eq!(c.ops.len(), 2, "cut at {cut}");
            assert_eq!(c.valid_len as usize, last_start);
            // Appending after the cut is seen by the next read.
            let mut w = OpLogWriter::open(&path, &c, false).unwrap();
            assert_eq!(
                w.append(
                    &sample_ops()[0],
                    &OpJson::encode(&sample_ops()[0]).unwrap(),
                    &LogSchema::single(3)
                )
                .unwrap(),
                13
            );
            let again = read(&path, &LogSchema::single(3)).unwrap().unwrap();
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
            if let Ok(Some(c)) = read(&path, &LogSchema::single(3)) {
                assert!(c.ops.len() <= 3);
            }
        }
    }

    #[test]
    fn rotate_starts_an_empty_log_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        write_sample(&path);
        let content = read(&path, &LogSchema::single(3)).unwrap().unwrap();
        let mut w = OpLogWriter::open(&path, &content, true).unwrap();
        w.rotate(13).unwrap();
        assert_eq!(
            w.append(
                &sample_ops()[1],
                &OpJson::encode(&sample_ops()[1]).unwrap(),
                &LogSchema::single(3)
            )
            .unwrap(),
            14
        );
        let c = read(&path, &LogSchema::single(3)).unwrap().unwrap();
        assert_eq!(c.base_seq, 13);
        assert_eq!(c.ops.len(), 1);
        assert_eq!(c.ops[0].0, 14);
    }

    /// The input the `ops_log` fuzz target found (with its checksums
    /// sealed, as the target does): a header of base `u64::MAX`, then the
    /// start of a frame. The scan overflowed computing the next sequence
    /// number.
    #[test]
    fn fuzz_crash_base_seq_u64_max_is_damage() {
        let mut bytes = header(u64::MAX);
        bytes.extend_from_slice(&[
            0x00, 0x00, 0x22, 0x22, 0x22, 0xde, 0xff, 0xff, 0xff, 0x63, 0x45, 0x0f, 0xff, 0xff,
            0x77,
        ]);
        let err = decode(Path::new("ops.log"), &bytes, &LogSchema::single(3)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("base sequence number"), "{err}");
    }

    /// A frame of sequence `u64::MAX` after a base just below it is damage
    /// too: no sequence number would follow it.
    #[test]
    fn frame_with_the_last_sequence_number_is_damage() {
        let mut bytes = header(MAX_SEQ);
        let op = Op::Delete(Vec::new());
        let json = OpJson::encode(&op).unwrap();
        bytes
            .extend_from_slice(&encode_frame(u64::MAX, &op, &json, &LogSchema::single(2)).unwrap());
        let err = decode(Path::new("ops.log"), &bytes, &LogSchema::single(2)).unwrap_err();
        assert!(err.to_string().contains("past the largest"), "{err}");
        let content = decode(
            Path::new("ops.log"),
            &header(MAX_SEQ),
            &LogSchema::single(2),
        )
        .unwrap();
        assert_eq!(content.base_seq, MAX_SEQ);
    }

    /// `ops.log` bytes laid out by hand, as the previous release wrote them:
    /// header (base 4), a set-payload frame (seq 5) and a delete frame
    /// (seq 6), plus a torn half frame.
    #[test]
    fn ops_log_in_the_released_format_reads() {
        fn frame(seq: u64, kind: u8, body: &[u8]) -> Vec<u8> {
            let mut content = seq.to_le_bytes().to_vec();
            content.push(kind);
            content.extend_from_slice(body);
            let mut f = (content.len() as u32).to_le_bytes().to_vec();
            f.extend_from_slice(&crc32fast::hash(&content).to_le_bytes());
            f.extend(content);
            f
        }
        fn json(b: &mut Vec<u8>, text: &str) {
            b.extend_from_slice(&(text.len() as u32).to_le_bytes());
            b.extend_from_slice(text.as_bytes());
        }
        let mut log = b"QVOPLOG1".to_vec();
        log.extend_from_slice(&4u64.to_le_bytes());
        let crc = crc32fast::hash(&log);
        log.extend_from_slice(&crc.to_le_bytes());
        // Set payload: count 1, internal 2, uuid id, old {}, new {"k":1}.
        let mut set = 1u32.to_le_bytes().to_vec();
        set.extend_from_slice(&2u32.to_le_bytes());
        set.push(1);
        set.extend_from_slice(&0xabcd_u128.to_be_bytes());
        json(&mut set, "{}");
        json(&mut set, r#"{"k":1}"#);
        log.extend(frame(5, KIND_SET_PAYLOAD, &set));
        // Delete: count 1, internal 0, numeric id 7, payload {"a":1}.
        let mut del = 1u32.to_le_bytes().to_vec();
        del.extend_from_slice(&0u32.to_le_bytes());
        del.push(0);
        del.extend_from_slice(&7u64.to_le_bytes());
        json(&mut del, r#"{"a":1}"#);
        log.extend(frame(6, KIND_DELETE, &del));
        let whole = log.len() as u64;
        let torn = frame(7, KIND_DELETE, &del);
        log.extend_from_slice(&torn[..torn.len() - 3]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        fs::write(&path, &log).unwrap();
        let content = read(&path, &LogSchema::single(3)).unwrap().unwrap();
        assert_eq!(content.base_seq, 4);
        assert_eq!(content.valid_len, whole);
        assert_eq!(
            content.ops,
            vec![
                (
                    5,
                    Op::SetPayload(vec![PayloadEntry {
                        internal: 2,
                        id: PointId::Uuid(Uuid::from_u128(0xabcd)),
                        old: Payload::new(),
                        new: payload(json!({"k": 1})),
                    }])
                ),
                (
                    6,
                    Op::Delete(vec![DeleteEntry {
                        internal: 0,
                        id: PointId::Num(7),
                        payload: payload(json!({"a": 1})),
                    }])
                ),
            ]
        );
        // The same bytes come out of today's encoder.
        let mut w = OpLogWriter::open(&path, &content, false).unwrap();
        w.rotate(4).unwrap();
        for (_, op) in &content.ops {
            w.append(op, &OpJson::encode(op).unwrap(), &LogSchema::single(3))
                .unwrap();
        }
        assert_eq!(fs::read(&path).unwrap(), &log[..whole as usize]);
    }

    #[test]
    fn bad_frame_with_valid_frames_after_is_damage_that_repair_cuts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.log");
        write_sample(&path);
        // Flip a byte inside the first frame's body: frames 12 and 13 follow.
        let mut bad = fs::read(&path).unwrap();
        bad[HEADER_LEN as usize + 20] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        let err = read(&path, &LogSchema::single(3)).expect_err("mid-log damage is an error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("2 valid frames follow"), "{err}");
        let repair = repair(&path, &LogSchema::single(3))
            .unwrap()
            .expect("the log was cut");
        assert_eq!(repair.cut_at, HEADER_LEN);
        assert_eq!(repair.dropped_frames, 3);
        assert_eq!(repair.dropped_seqs, Some((11, 13)));
        let c = read(&path, &LogSchema::single(3)).unwrap().unwrap();
        assert!(c.ops.is_empty());
    }
}
