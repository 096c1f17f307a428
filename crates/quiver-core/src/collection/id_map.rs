//! `ids.map`: checkpoint of the internal id -> point id map.
//!
//! Derived data: the payload store holds the point id of every internal id,
//! so a missing, corrupt or stale map only costs a scan of the payloads at
//! open. Replaced atomically (tmp, fsync, rename, fsync dir).
//!
//! | field | type | meaning |
//! |---|---|---|
//! | magic | `[u8; 8]` | `b"QVIDMAP1"` |
//! | tag | u64 | sequence number of the last operation the map covers |
//! | count | u64 | entries |
//! | entries | count x (internal u32, kind u8, id 16 bytes) | kind 0: id is a u64 in the first 8 bytes; 1: a UUID |
//! | crc | u32 | CRC-32 of every byte before it |
//!
//! All integers little-endian.

use std::io;
use std::path::Path;

use uuid::Uuid;

use crate::PointId;
use crate::file::atomic::write_atomic;
use crate::file::{ByteReader, corrupt, crc_checked};

const MAGIC: &[u8; 8] = b"QVIDMAP1";
const HEADER_LEN: usize = 24;
const ENTRY_LEN: usize = 21;
const KIND_NUM: u8 = 0;
const KIND_UUID: u8 = 1;

/// Write the live entries of `ids` (index = internal id) tagged with `tag`.
pub(super) fn save(path: &Path, tag: u64, ids: &[Option<PointId>]) -> io::Result<()> {
    write_atomic(path, &encode(tag, ids)?, true)
}

/// The bytes [`save`] writes.
///
/// # Errors
/// `InvalidInput` if an internal id does not fit in a `u32`.
pub(crate) fn encode(tag: u64, ids: &[Option<PointId>]) -> io::Result<Vec<u8>> {
    let live = ids.iter().filter(|i| i.is_some()).count();
    let mut buf = Vec::with_capacity(HEADER_LEN + live * ENTRY_LEN + 4);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&tag.to_le_bytes());
    buf.extend_from_slice(&(live as u64).to_le_bytes());
    for (internal, id) in ids.iter().enumerate() {
        let Some(id) = id else { continue };
        let internal = u32::try_from(internal)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "internal id beyond u32"))?;
        buf.extend_from_slice(&internal.to_le_bytes());
        let mut bytes = [0u8; 16];
        match id {
            PointId::Num(n) => {
                buf.push(KIND_NUM);
                bytes[..8].copy_from_slice(&n.to_le_bytes());
            }
            PointId::Uuid(u) => {
                buf.push(KIND_UUID);
                bytes = *u.as_bytes();
            }
        }
        buf.extend_from_slice(&bytes);
    }
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

/// Read a map written by [`save`]: its entries and tag.
///
/// # Errors
/// `InvalidData` for a file that is short, fails its checksum or holds an
/// unknown id kind; other I/O errors as they come.
pub(super) fn load(path: &Path) -> io::Result<(Vec<(u32, PointId)>, u64)> {
    decode(path, &std::fs::read(path)?)
}

/// [`load`] of the bytes of a map read from `path`.
///
/// # Errors
/// As [`load`], without the I/O errors.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> io::Result<(Vec<(u32, PointId)>, u64)> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(corrupt(path, 0, "file is shorter than its header"));
    }
    let body = crc_checked(path, bytes)?;
    let mut r = ByteReader::new(path, body);
    if r.bytes(MAGIC.len())? != MAGIC {
        return Err(corrupt(path, 0, "not an id map (bad magic)"));
    }
    let tag = r.u64()?;
    let count = r.u64()?;
    let entries = r.remaining();
    if !entries.is_multiple_of(ENTRY_LEN) || (entries / ENTRY_LEN) as u64 != count {
        return Err(corrupt(
            path,
            16,
            format!("{count} entries claimed, {entries} bytes of entries"),
        ));
    }
    let mut out = Vec::with_capacity(entries / ENTRY_LEN);
    while r.remaining() > 0 {
        let internal = r.u32()?;
        let kind_at = r.offset();
        let kind = r.u8()?;
        let raw = r.bytes16()?;
        let id = match kind {
            KIND_NUM => PointId::Num(ByteReader::at(path, &raw, kind_at + 1).u64()?),
            KIND_UUID => PointId::Uuid(Uuid::from_bytes(raw)),
            k => return Err(corrupt(path, kind_at, format!("unknown id kind {k}"))),
        };
        out.push((internal, id));
    }
    Ok((out, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_every_flipped_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.map");
        let ids = vec![
            Some(PointId::Num(7)),
            None,
            Some(PointId::Uuid(Uuid::from_u128(99))),
            Some(PointId::Num(u64::MAX)),
        ];
        save(&path, 42, &ids).unwrap();
        let (entries, tag) = load(&path).unwrap();
        assert_eq!(tag, 42);
        assert_eq!(
            entries,
            vec![
                (0, PointId::Num(7)),
                (2, PointId::Uuid(Uuid::from_u128(99))),
                (3, PointId::Num(u64::MAX))
            ]
        );
        let good = std::fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let err = load(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert_eq!(load(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
        }
    }
}
