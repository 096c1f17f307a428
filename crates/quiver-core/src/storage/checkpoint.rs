//! The `vectors.idx` checkpoint: the id -> offset map of the vector store.
//!
//! | field | type | meaning |
//! |---|---|---|
//! | magic | `[u8; 8]` | `QVVECIDX` |
//! | version | u8 | 2 (1 is still read) |
//! | reserved | `[u8; 3]` | zero |
//! | dimension | u32 LE | floats per vector |
//! | next_slot | u64 LE | slots used in `vectors.dat` (live and dead) |
//! | count | u64 LE | number of entries |
//! | entries | count x (id u64 LE, offset u64 LE, crc u32 LE) | byte offset and CRC-32 of each live vector |
//! | crc | u32 LE | CRC-32 over every byte before it |
//!
//! The whole file is read with one sequential read and checked before use.
//! Version 1 entries have no vector CRC (id and offset only, 16 bytes); a
//! store opened from one computes the CRCs from the data it finds, and its
//! next checkpoint writes version 2.

use std::io;
use std::path::Path;

use rustc_hash::FxHashMap;

use crate::file::{ByteReader, corrupt, crc_checked};

const MAGIC: &[u8; 8] = b"QVVECIDX";
const VERSION: u8 = 2;
const VERSION_1: u8 = 1;
const HEADER_LEN: usize = 32;
const ENTRY_LEN: usize = 20;
const ENTRY_LEN_V1: usize = 16;

/// A decoded checkpoint.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) dimension: usize,
    pub(crate) next_slot: u64,
    pub(crate) offsets: FxHashMap<u64, u64>,
    /// CRC-32 of each vector's bytes; `None` for a version 1 file, which has none.
    pub(crate) crcs: Option<FxHashMap<u64, u32>>,
}

/// Encode a checkpoint (entries sorted by offset so reloads touch the map in
/// order). An id missing from `crcs` gets CRC 0, which `verify` then reports.
pub(crate) fn encode(
    dimension: usize,
    next_slot: u64,
    offsets: &FxHashMap<u64, u64>,
    crcs: &FxHashMap<u64, u32>,
) -> Vec<u8> {
    encode_version(dimension, next_slot, offsets, Some(crcs))
}

/// The file of `VERSION` with `crcs`, or of `VERSION_1` (no CRC field) without.
fn encode_version(
    dimension: usize,
    next_slot: u64,
    offsets: &FxHashMap<u64, u64>,
    crcs: Option<&FxHashMap<u64, u32>>,
) -> Vec<u8> {
    let mut entries: Vec<(u64, u64)> = offsets.iter().map(|(&id, &off)| (id, off)).collect();
    entries.sort_unstable_by_key(|&(id, off)| (off, id));
    let entry_len = if crcs.is_some() {
        ENTRY_LEN
    } else {
        ENTRY_LEN_V1
    };
    let mut out = Vec::with_capacity(HEADER_LEN + entries.len() * entry_len + 4);
    out.extend_from_slice(MAGIC);
    out.push(if crcs.is_some() { VERSION } else { VERSION_1 });
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&u32::try_from(dimension).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&next_slot.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (id, off) in entries {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        if let Some(crcs) = crcs {
            out.extend_from_slice(&crcs.get(&id).copied().unwrap_or(0).to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decode and verify a checkpoint read from `path`.
///
/// # Errors
/// `InvalidData` naming the offset and the problem for any inconsistency.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> io::Result<Checkpoint> {
    if bytes.get(..8) != Some(MAGIC.as_slice()) {
        return Err(corrupt(path, 0, "bad magic, not a vectors.idx file"));
    }
    let mut r = ByteReader::new(path, bytes);
    r.bytes(MAGIC.len())?;
    let version = r.u8()?;
    let entry_len = match version {
        VERSION => ENTRY_LEN,
        VERSION_1 => ENTRY_LEN_V1,
        _ => return Err(corrupt(path, 8, format!("unknown version {version}"))),
    };
    let body = crc_checked(path, bytes)?;
    let body_len = body.len();
    let mut r = ByteReader::new(path, body);
    r.bytes(12)?;
    let dimension = r.u32()? as usize;
    let next_slot = r.u64()?;
    let count = r.u64()?;
    let expected = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(entry_len))
        .and_then(|n| n.checked_add(HEADER_LEN));
    if expected != Some(body_len) {
        return Err(corrupt(
            path,
            24,
            format!(
                "claims {count} entries but holds {} bytes of entries",
                body_len.saturating_sub(HEADER_LEN)
            ),
        ));
    }
    let n = r.remaining() / entry_len;
    let mut offsets = FxHashMap::with_capacity_and_hasher(n, Default::default());
    let mut crcs =
        (version == VERSION).then(|| FxHashMap::with_capacity_and_hasher(n, Default::default()));
    while r.remaining() > 0 {
        let at = r.offset();
        let id = r.u64()?;
        let off = r.u64()?;
        if offsets.insert(id, off).is_some() {
            return Err(corrupt(path, at, format!("id {id} appears twice")));
        }
        if let Some(crcs) = crcs.as_mut() {
            crcs.insert(id, r.u32()?);
        }
    }
    Ok(Checkpoint {
        dimension,
        next_slot,
        offsets,
        crcs,
    })
}

/// The version 1 encoder, kept so tests can write what the previous
/// release wrote.
#[cfg(test)]
pub(crate) fn encode_v1(
    dimension: usize,
    next_slot: u64,
    offsets: &FxHashMap<u64, u64>,
) -> Vec<u8> {
    encode_version(dimension, next_slot, offsets, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_every_flip() {
        let mut offsets = FxHashMap::default();
        offsets.insert(5, 0);
        offsets.insert(9, 16);
        let mut crcs = FxHashMap::default();
        crcs.insert(5, 0xdead_beef);
        crcs.insert(9, 7);
        let bytes = encode(4, 3, &offsets, &crcs);
        let p = Path::new("vectors.idx");
        let cp = decode(p, &bytes).unwrap();
        assert_eq!(cp.dimension, 4);
        assert_eq!(cp.next_slot, 3);
        assert_eq!(cp.offsets, offsets);
        assert_eq!(cp.crcs, Some(crcs));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            let err = decode(p, &bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "flip at {i}");
        }
        for cut in 0..bytes.len() {
            assert!(decode(p, &bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn reads_version_1_without_crcs() {
        let mut offsets = FxHashMap::default();
        offsets.insert(5, 0);
        offsets.insert(9, 16);
        let bytes = encode_v1(4, 2, &offsets);
        let cp = decode(Path::new("vectors.idx"), &bytes).unwrap();
        assert_eq!(cp.offsets, offsets);
        assert_eq!(cp.next_slot, 2);
        assert_eq!(cp.crcs, None);
    }
}
