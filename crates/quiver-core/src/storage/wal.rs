//! The record layout shared by `vectors.wal` and `payloads.log`, read and
//! appended through the framed-log codec of [`crate::file::framed`].
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
//! dropped ([`FrameReader::torn`] says where and why). These logs never
//! look for valid frames after a bad one: the store that owns them keeps
//! its own checkpoint, and a bad frame ends the replay.

use std::io;

use crate::file::ByteReader;
use crate::file::framed::{FrameLayout, FrameReader};

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

/// The record layout of `vectors.wal` and `payloads.log` for the framed-log
/// codec: a frame ends with the CRC of everything before it, and its length
/// follows from the op byte (and, for a store, the length field).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Records;

/// Reads the records of a `vectors.wal` or `payloads.log` buffer.
pub(crate) type RecordReader<'a> = FrameReader<'a, Records>;

/// Read the records of `buf` from byte `start`.
pub(crate) fn reader(buf: &[u8], start: usize) -> RecordReader<'_> {
    FrameReader::new(Records, buf, start)
}

impl FrameLayout for Records {
    type Frame<'a> = Frame<'a>;

    fn decode<'a>(&self, buf: &'a [u8], at: usize) -> Result<(Frame<'a>, usize), &'static str> {
        let rest = buf.get(at..).unwrap_or_default();
        let mut r = ByteReader::detached(rest);
        let op = r.u8().map_err(|_| "no op byte")?;
        let id = r.u64().map_err(|_| "frame cut short in the id")?;
        let frame = match op {
            OP_STORE => {
                let len = r.u32().map_err(|_| "frame cut short in the length")?;
                let len = usize::try_from(len).map_err(|_| "length overflows")?;
                let body = r.bytes(len).map_err(|_| "frame cut short in the body")?;
                Frame::Store { id, body }
            }
            OP_DELETE => Frame::Delete { id },
            _ => return Err("unknown op byte"),
        };
        let covered = rest.get(..r.pos()).ok_or("frame cut short")?;
        let stored = r.u32().map_err(|_| "frame cut short in the crc")?;
        if crc32fast::hash(covered) != stored {
            return Err("crc mismatch");
        }
        Ok((frame, at + r.pos()))
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
            let mut reader = reader(&buf, 0);
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
            let mut reader = reader(&buf[..cut], 0);
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
            let mut r = reader(&bad, 0);
            assert_eq!(r.by_ref().count(), 1, "flip at {i}");
            assert_eq!(r.good_len(), first);
            assert!(r.torn().is_some());
        }
    }

    /// `vectors.wal` bytes laid out by hand, as the previous release wrote
    /// them (store 7 = [1, 2, 3], store 9 = [4, 5, 6], delete 7), plus a torn
    /// half frame: a store opened over them replays the whole frames.
    #[test]
    fn vectors_wal_in_the_released_format_replays() {
        fn frame(op: u8, id: u64, body: Option<&[f32]>) -> Vec<u8> {
            let mut f = vec![op];
            f.extend_from_slice(&id.to_le_bytes());
            if let Some(v) = body {
                f.extend_from_slice(&((v.len() * 4) as u32).to_le_bytes());
                for x in v {
                    f.extend_from_slice(&x.to_le_bytes());
                }
            }
            let crc = crc32fast::hash(&f);
            f.extend_from_slice(&crc.to_le_bytes());
            f
        }
        let mut wal = frame(1, 7, Some(&[1.0, 2.0, 3.0]));
        wal.extend(frame(1, 9, Some(&[4.0, 5.0, 6.0])));
        wal.extend(frame(2, 7, None));
        assert_eq!(wal.len(), 2 * (13 + 12 + 4) + 13);
        let torn = frame(1, 11, Some(&[7.0, 8.0, 9.0]));
        wal.extend_from_slice(&torn[..torn.len() / 2]);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vectors.wal"), &wal).unwrap();
        let store = crate::storage::MmapStorage::new(dir.path(), 3).unwrap();
        use crate::storage::VectorStorage;
        assert_eq!(store.ids(), vec![9]);
        assert_eq!(store.retrieve(9).unwrap(), Some(vec![4.0, 5.0, 6.0]));
        assert_eq!(store.retrieve(7).unwrap(), None);
        assert_eq!(store.retrieve(11).unwrap(), None);
    }
}
