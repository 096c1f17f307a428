//! The CRC-framed record codec shared by `vectors.wal` and `payloads.log`.
//!
//! | field | type | meaning |
//! |---|---|---|
//! | op | u8 | [`OP_STORE`] = 1 or [`OP_DELETE`] = 2 |
//! | id | u64 LE | the point id |
//! | len | u32 LE | store only: byte length of the body |
//! | body | `len` bytes | store only: the vector as LE f32 (`vectors.wal`) or JSON (`payloads.log`) |
//! | crc | u32 LE | CRC-32 (zlib) over every byte of the frame before it |
//!
//! A frame that is cut short, has an unknown op or a wrong CRC ends a log:
//! it is the torn tail of a crash, and it and everything after it are
//! dropped ([`FrameReader::torn`] says where and why).

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Op byte of a store frame.
pub(crate) const OP_STORE: u8 = 1;
/// Op byte of a delete frame.
pub(crate) const OP_DELETE: u8 = 2;
/// op + id + len.
pub(crate) const STORE_HEADER_LEN: usize = 1 + 8 + 4;
/// Bytes of a whole delete frame.
pub(crate) const DELETE_FRAME_LEN: usize = 1 + 8 + 4;
const CRC_LEN: usize = 4;

/// One decoded frame, borrowing its body from the log buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// Store `body` under `id`.
    Store {
        /// The point id.
        id: u64,
        /// The frame body (vector bytes or JSON).
        body: &'a [u8],
    },
    /// Delete `id`.
    Delete {
        /// The point id.
        id: u64,
    },
}

/// Append a store frame to `out`.
///
/// # Errors
/// `InvalidInput` if `body` is longer than `u32::MAX` bytes.
pub(crate) fn encode_store(out: &mut Vec<u8>, id: u64, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len()).map_err(|_| {
        super::invalid_input(format!("record of {} bytes is too large", body.len()))
    })?;
    let start = out.len();
    out.reserve(STORE_HEADER_LEN + body.len() + CRC_LEN);
    out.push(OP_STORE);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Append a store frame whose body is `v` as little-endian f32.
pub(crate) fn encode_store_vector(out: &mut Vec<u8>, id: u64, v: &[f32]) -> io::Result<()> {
    encode_store(out, id, bytemuck::cast_slice(v))
}

/// Append a delete frame to `out`.
pub(crate) fn encode_delete(out: &mut Vec<u8>, id: u64) {
    let start = out.len();
    out.push(OP_DELETE);
    out.extend_from_slice(&id.to_le_bytes());
    let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

fn read_u64(buf: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = buf.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Iterates the whole frames of a log buffer, starting at `start`, and
/// remembers where (and why) the first torn frame was found.
pub(crate) struct FrameReader<'a> {
    buf: &'a [u8],
    pos: usize,
    torn: Option<(usize, &'static str)>,
}

impl<'a> FrameReader<'a> {
    /// Read frames of `buf` from byte `start`.
    pub(crate) fn new(buf: &'a [u8], start: usize) -> Self {
        Self {
            buf,
            pos: start,
            torn: None,
        }
    }

    /// Byte offset just past the last whole frame read so far.
    pub(crate) fn good_len(&self) -> usize {
        self.pos
    }

    /// Offset and reason of the torn frame that ended the iteration, if any.
    pub(crate) fn torn(&self) -> Option<(usize, &'static str)> {
        self.torn
    }

    fn decode(&self) -> Result<(Frame<'a>, usize), &'static str> {
        let buf = self.buf;
        let at = self.pos;
        let op = *buf.get(at).ok_or("no op byte")?;
        let id = read_u64(buf, at + 1).ok_or("frame cut short in the id")?;
        let (frame, body_end) = match op {
            OP_STORE => {
                let len = read_u32(buf, at + 9).ok_or("frame cut short in the length")?;
                let body_start = at + STORE_HEADER_LEN;
                let body_end = usize::try_from(len)
                    .ok()
                    .and_then(|len| body_start.checked_add(len))
                    .ok_or("length overflows")?;
                let body = buf
                    .get(body_start..body_end)
                    .ok_or("frame cut short in the body")?;
                (Frame::Store { id, body }, body_end)
            }
            OP_DELETE => (Frame::Delete { id }, at + 9),
            _ => return Err("unknown op byte"),
        };
        let stored = read_u32(buf, body_end).ok_or("frame cut short in the crc")?;
        let covered = buf.get(at..body_end).ok_or("frame cut short")?;
        if crc32fast::hash(covered) != stored {
            return Err("crc mismatch");
        }
        Ok((frame, body_end + CRC_LEN))
    }
}

impl<'a> Iterator for FrameReader<'a> {
    /// (byte offset of the frame, the frame)
    type Item = (usize, Frame<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.torn.is_some() || self.pos >= self.buf.len() {
            return None;
        }
        match self.decode() {
            Ok((frame, next)) => {
                let at = self.pos;
                self.pos = next;
                Some((at, frame))
            }
            Err(reason) => {
                self.torn = Some((self.pos, reason));
                None
            }
        }
    }
}

/// Blocks reserved past what a [`FrameWriter::reserve`] call needs, so most
/// appends find theirs already there.
const RESERVE_AHEAD_BYTES: u64 = 1 << 20;

/// The append side of a framed log file.
pub(crate) struct FrameWriter {
    file: File,
    path: PathBuf,
    len: u64,
    /// Disk blocks are reserved up to here (past `len`, beyond the end of
    /// the file); `len` when nothing is.
    reserved_to: u64,
}

impl FrameWriter {
    /// Open (creating) `path` for appending after its first `good_len` bytes.
    /// Anything after `good_len` is a torn tail and is cut off first.
    pub(crate) fn open(path: &Path, good_len: u64, sync: bool) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let actual = file.metadata()?.len();
        if actual > good_len {
            tracing::warn!(
                path = %path.display(),
                good_len,
                dropped = actual - good_len,
                "truncating torn log tail"
            );
            // Truncate before appending: bytes after a torn frame would hide
            // every later frame from replay.
            file.set_len(good_len)?;
            if sync {
                file.sync_all()?;
            }
        }
        file.seek(SeekFrom::Start(good_len))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            len: good_len,
            reserved_to: good_len,
        })
    }

    /// Append `bytes` (whole frames) with one write.
    ///
    /// # Errors
    /// I/O errors (`StorageFull` for a full disk that nothing was reserved
    /// on); the file is then cut back to where it was.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(err) = self.file.write_all(bytes) {
            // Cut a partial write off so the next append starts at a frame
            // boundary. The next append writes at `len` either way, so a
            // cut that fails leaves at worst a torn tail behind it.
            if let Err(cut) = self.file.set_len(self.len) {
                tracing::warn!(path = %self.path.display(), error = %cut, "could not cut a failed append");
            }
            let _ = self.file.seek(SeekFrom::Start(self.len));
            self.reserved_to = self.len;
            return Err(err);
        }
        self.len += bytes.len() as u64;
        self.reserved_to = self.reserved_to.max(self.len);
        Ok(())
    }

    /// Reserve disk blocks for the next `bytes` bytes of appends, so they
    /// cannot fail for lack of space (the file size stays; see
    /// [`super::sys::reserve_blocks`]). Reserves a margin ahead when the
    /// disk has room for it. Where the filesystem cannot reserve blocks
    /// past the end of a file this does nothing, and appends allocate as
    /// they go.
    ///
    /// # Errors
    /// `StorageFull` when the disk has no room for `bytes`; other I/O errors.
    pub(crate) fn reserve(&mut self, bytes: u64) -> io::Result<()> {
        let end = self.len.saturating_add(bytes);
        if end <= self.reserved_to {
            return Ok(());
        }
        let ahead = end.saturating_add(RESERVE_AHEAD_BYTES);
        let reserved =
            match super::sys::reserve_blocks(&self.file, self.len, ahead - self.len, true) {
                Ok(done) => Ok(done.then_some(ahead)),
                Err(err) if err.kind() == io::ErrorKind::StorageFull => {
                    super::sys::reserve_blocks(&self.file, self.len, bytes, true)
                        .map(|done| done.then_some(end))
                }
                Err(err) => Err(err),
            };
        match reserved {
            Ok(to) => {
                self.reserved_to = to.unwrap_or(self.len);
                Ok(())
            }
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!(
                    "{}: cannot reserve {bytes} bytes of disk: {err}",
                    self.path.display()
                ),
            )),
        }
    }

    /// fsync the log's data.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Drop every frame, keeping the first `keep` bytes (a header, or 0).
    pub(crate) fn reset(&mut self, keep: u64, sync: bool) -> io::Result<()> {
        self.file.set_len(keep)?;
        self.file.seek(SeekFrom::Start(keep))?;
        self.len = keep;
        // The truncation released any blocks reserved past the end.
        self.reserved_to = keep;
        if sync {
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// Current length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The file, for positional reads.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Path of the log.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Store(u64, Vec<u8>),
        Delete(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(id, b)| Op::Store(id, b)),
            any::<u64>().prop_map(Op::Delete),
        ]
    }

    fn encode(ops: &[Op]) -> Vec<u8> {
        let mut buf = Vec::new();
        for op in ops {
            match op {
                Op::Store(id, b) => encode_store(&mut buf, *id, b).unwrap(),
                Op::Delete(id) => encode_delete(&mut buf, *id),
            }
        }
        buf
    }

    proptest! {
        #[test]
        fn frames_round_trip(ops in proptest::collection::vec(op(), 0..20)) {
            let buf = encode(&ops);
            let mut reader = FrameReader::new(&buf, 0);
            let decoded: Vec<Frame<'_>> = reader.by_ref().map(|(_, f)| f).collect();
            prop_assert_eq!(decoded.len(), ops.len());
            for (f, op) in decoded.iter().zip(&ops) {
                match (f, op) {
                    (Frame::Store { id, body }, Op::Store(i, b)) => {
                        prop_assert_eq!(id, i);
                        prop_assert_eq!(body, &b.as_slice());
                    }
                    (Frame::Delete { id }, Op::Delete(i)) => prop_assert_eq!(id, i),
                    _ => prop_assert!(false, "op mismatch"),
                }
            }
            prop_assert!(reader.torn().is_none());
            prop_assert_eq!(reader.good_len(), buf.len());
        }

        #[test]
        fn any_cut_keeps_exactly_the_whole_frames(
            ops in proptest::collection::vec(op(), 1..8),
            cut_back in 1usize..40,
        ) {
            let buf = encode(&ops);
            let whole = encode(&ops[..ops.len() - 1]).len();
            let cut = buf.len().saturating_sub(cut_back).max(whole);
            let mut reader = FrameReader::new(&buf[..cut], 0);
            let n = reader.by_ref().count();
            if cut == buf.len() {
                prop_assert_eq!(n, ops.len());
            } else {
                prop_assert_eq!(n, ops.len() - 1);
                prop_assert_eq!(reader.good_len(), whole);
            }
        }
    }

    #[test]
    fn flipped_byte_is_torn() {
        let mut buf = Vec::new();
        encode_store(&mut buf, 7, &[1, 2, 3]).unwrap();
        let first = buf.len();
        encode_delete(&mut buf, 9);
        for i in first..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            let mut r = FrameReader::new(&bad, 0);
            assert_eq!(r.by_ref().count(), 1, "flip at {i}");
            assert_eq!(r.good_len(), first);
            assert!(r.torn().is_some());
        }
    }
}
