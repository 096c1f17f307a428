//! The payload index file: a checkpoint of [`PayloadIndexes`] so a
//! collection can skip rebuilding its indexes on open.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use roaring::RoaringBitmap;

use super::payload_index::{FieldIndex, FieldType, FloatKey, Keys, PayloadIndexes};
use crate::file::atomic::write_atomic;
use crate::file::{ByteReader, corrupt, crc_checked};

const MAGIC: &[u8; 4] = b"QPIX";
const VERSION: u8 = 1;
/// The first word of a roaring bitmap serialised without run containers.
const NO_RUN_COOKIE: u32 = 12346;

/// Each field type's tag byte in the file (the match makes a new type fail
/// to compile until it has one).
fn tag_of(ty: FieldType) -> u8 {
    match ty {
        FieldType::Keyword => 1,
        FieldType::Integer => 2,
        FieldType::Float => 3,
        FieldType::Bool => 4,
        FieldType::Datetime => 5,
    }
}

fn type_of(tag: u8) -> Option<FieldType> {
    FieldType::ALL.into_iter().find(|&ty| tag_of(ty) == tag)
}

/// Encodes the indexes. All integers little-endian.
///
/// | field            | type              | meaning                                   |
/// |------------------|-------------------|-------------------------------------------|
/// | magic            | `[u8; 4]`         | `QPIX`                                    |
/// | version          | u8                | 1                                         |
/// | fields           | u32               | number of indexed keys                    |
/// | per key: name    | u32 len + UTF-8   | the payload key                           |
/// | per key: type    | u8                | 1 keyword, 2 integer, 3 float, 4 bool, 5 datetime |
/// | per key: present | bitmap            | ids with a non-empty value                |
/// | per key: unindexed | bitmap          | ids with a value of another type          |
/// | per key: entries | u64               | number of distinct values                 |
/// | per entry: value | by type           | keyword: u32 len + UTF-8; integer, datetime: i64; float: u64 order key; bool: u8 |
/// | per entry: ids   | bitmap            | ids holding the value                     |
/// | crc              | u32               | CRC-32 of every byte before it            |
///
/// A bitmap is a u32 byte length followed by roaring's portable format.
pub(crate) struct PayloadIndexWriter;

impl PayloadIndexWriter {
    pub(crate) fn encode(indexes: &PayloadIndexes) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(indexes.memory_bytes());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        put_len(&mut out, indexes.fields.len())?;
        for (name, index) in &indexes.fields {
            put_bytes(&mut out, name.as_bytes())?;
            out.push(tag_of(index.ty));
            put_bitmap(&mut out, &index.present)?;
            put_bitmap(&mut out, &index.unindexed)?;
            match &index.keys {
                Keys::Keyword(map) => {
                    out.extend_from_slice(&(map.len() as u64).to_le_bytes());
                    let mut sorted: Vec<_> = map.iter().collect();
                    sorted.sort_by(|a, b| a.0.cmp(b.0));
                    for (key, bits) in sorted {
                        put_bytes(&mut out, key.as_bytes())?;
                        put_bitmap(&mut out, bits)?;
                    }
                }
                Keys::Integer(map) | Keys::Datetime(map) => {
                    out.extend_from_slice(&(map.len() as u64).to_le_bytes());
                    for (key, bits) in map {
                        out.extend_from_slice(&key.to_le_bytes());
                        put_bitmap(&mut out, bits)?;
                    }
                }
                Keys::Float(map) => {
                    out.extend_from_slice(&(map.len() as u64).to_le_bytes());
                    for (key, bits) in map {
                        out.extend_from_slice(&key.raw().to_le_bytes());
                        put_bitmap(&mut out, bits)?;
                    }
                }
                Keys::Bool(map) => {
                    out.extend_from_slice(&(map.len() as u64).to_le_bytes());
                    for (key, bits) in map {
                        out.push(u8::from(*key));
                        put_bitmap(&mut out, bits)?;
                    }
                }
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) -> io::Result<()> {
    let len = u32::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "payload index: a length exceeds u32",
        )
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    put_len(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_bitmap(out: &mut Vec<u8>, bits: &RoaringBitmap) -> io::Result<()> {
    put_len(out, bits.serialized_size())?;
    bits.serialize_into(&mut *out)
}

/// Decodes what [`PayloadIndexWriter`] wrote; any inconsistency is
/// `InvalidData` naming the file and the byte offset.
pub(crate) struct PayloadIndexReader<'a> {
    r: ByteReader<'a>,
}

impl<'a> PayloadIndexReader<'a> {
    pub(crate) fn decode(path: &'a Path, bytes: &'a [u8]) -> io::Result<PayloadIndexes> {
        if bytes.len() < MAGIC.len() + 1 + 4 + 4 {
            return Err(corrupt(
                path,
                0,
                format!("file is {} bytes, too short", bytes.len()),
            ));
        }
        let body = crc_checked(path, bytes)?;
        let mut reader = PayloadIndexReader {
            r: ByteReader::new(path, body),
        };
        let r = &mut reader.r;
        if r.bytes(4)? != MAGIC {
            return Err(corrupt(path, 0, "bad magic"));
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(corrupt(path, 4, format!("unknown version {version}")));
        }
        let count = r.u32()?;
        let mut fields = BTreeMap::new();
        for _ in 0..count {
            let name = reader.string()?;
            let r = &mut reader.r;
            let tag = r.u8()?;
            let Some(ty) = type_of(tag) else {
                return Err(r.error(format!("unknown field type {tag}")));
            };
            let present = reader.bitmap()?;
            let unindexed = reader.bitmap()?;
            let entries = reader.r.u64()?;
            // Each entry takes at least 5 bytes: reject absurd counts before looping.
            if entries > reader.r.remaining() as u64 {
                return Err(reader
                    .r
                    .error(format!("field `{name}` claims {entries} entries")));
            }
            let mut keys = Keys::new(ty);
            for _ in 0..entries {
                match &mut keys {
                    Keys::Keyword(map) => {
                        let key = reader.string()?;
                        map.insert(key, reader.bitmap()?);
                    }
                    Keys::Integer(map) | Keys::Datetime(map) => {
                        let key = reader.r.u64()? as i64;
                        map.insert(key, reader.bitmap()?);
                    }
                    Keys::Float(map) => {
                        let key = FloatKey::from_raw(reader.r.u64()?);
                        map.insert(key, reader.bitmap()?);
                    }
                    Keys::Bool(map) => {
                        let key = match reader.r.u8()? {
                            0 => false,
                            1 => true,
                            other => return Err(reader.r.error(format!("bool key {other}"))),
                        };
                        map.insert(key, reader.bitmap()?);
                    }
                }
            }
            fields.insert(
                name,
                FieldIndex {
                    ty,
                    keys,
                    present,
                    unindexed,
                },
            );
        }
        if reader.r.remaining() != 0 {
            return Err(reader.r.error("trailing bytes after the last field"));
        }
        Ok(PayloadIndexes { fields })
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.r.u32()? as usize;
        let at = self.r.offset();
        let bytes = self.r.bytes(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.r.error_at(at, "key is not UTF-8"))
    }

    fn bitmap(&mut self) -> io::Result<RoaringBitmap> {
        let len = self.r.u32()? as usize;
        let at = self.r.offset();
        let bytes = self.r.bytes(len)?;
        // The writer's roaring has no run containers, so it never writes
        // the run format. Refusing it keeps out empty containers (a run
        // container of no runs) and bounds the values a bitmap can expand
        // to at eight per byte, which keeps the normal-form check below
        // linear in the file's size.
        if bytes.get(..4) != Some(&NO_RUN_COOKIE.to_le_bytes()[..]) {
            return Err(self.r.error_at(
                at,
                "bitmap: not the run-free roaring format (run containers or an unknown cookie)",
            ));
        }
        let bits = RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| self.r.error_at(at, format!("bitmap: {e}")))?;
        // The roaring reader accepts containers out of order or repeated,
        // which break the bitmap's invariants: its operations and its own
        // serialisation go wrong. The writer only writes the normal form;
        // anything else is damage.
        let normal = RoaringBitmap::from_sorted_iter(bits.iter())
            .map_err(|_| self.r.error_at(at, "bitmap: containers out of order"))?;
        if normal != bits {
            return Err(self.r.error_at(at, "bitmap: empty or repeated containers"));
        }
        Ok(normal)
    }
}

impl PayloadIndexes {
    /// Writes a checkpoint to `path` atomically (write a temporary file,
    /// fsync, rename over `path`, fsync the directory): after a crash `path`
    /// holds the old or the new checkpoint, whole.
    ///
    /// # Errors
    /// Any I/O error; `path` is then unchanged.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = PayloadIndexWriter::encode(self)?;
        write_atomic(path, &bytes, true)
    }

    /// Loads a checkpoint written by [`PayloadIndexes::save`].
    ///
    /// # Errors
    /// `NotFound` if the file is missing; `InvalidData` if it is truncated,
    /// fails its checksum or is otherwise malformed (never a panic). The
    /// caller then rebuilds the indexes from the payloads.
    pub fn load(path: &Path) -> io::Result<PayloadIndexes> {
        let bytes = fs::read(path)?;
        PayloadIndexReader::decode(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint of one keyword field whose `present` bitmap is `bitmap`
    /// (serialised), with a good CRC.
    fn with_present_bitmap(bitmap: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.push(VERSION);
        b.extend_from_slice(&1u32.to_le_bytes());
        put_bytes(&mut b, b"k").unwrap();
        b.push(tag_of(FieldType::Keyword));
        put_bytes(&mut b, bitmap).unwrap();
        put_bitmap(&mut b, &RoaringBitmap::new()).unwrap();
        b.extend_from_slice(&0u64.to_le_bytes());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Found by the `payload_index` fuzz target: a bitmap holding a run
    /// container of no runs decoded, and the empty container then made
    /// the next checkpoint's serialisation overflow (a panic in debug
    /// builds, a wrong cardinality written in release).
    #[test]
    fn fuzz_crash_bitmap_with_an_empty_run_container_is_invalid_data() {
        // Run-container cookie (one container), run flags, key 0 with
        // cardinality 1, and a run count of 0.
        let empty_run = [
            0x3b, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let path = Path::new("payload_index.bin");
        let err = PayloadIndexReader::decode(path, &with_present_bitmap(&empty_run)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("run containers"), "{err}");
    }

    /// A run container expands 4 bytes into up to 65,536 values; a file
    /// written by Quiver never holds one, so it is refused before expanding.
    #[test]
    fn bitmap_in_the_run_format_is_invalid_data() {
        let mut full = RoaringBitmap::new();
        full.insert_range(0..1 << 20);
        let mut runs = Vec::new();
        // Run cookie with 16 containers, all flagged as runs, each one run
        // [0, 65535] under keys 0..16.
        runs.extend_from_slice(&(0x303b_u32 | (15 << 16)).to_le_bytes());
        runs.extend_from_slice(&[0xff, 0xff]);
        for key in 0u16..16 {
            runs.extend_from_slice(&key.to_le_bytes());
            runs.extend_from_slice(&u16::MAX.to_le_bytes());
        }
        // Offsets (16 or more containers have them; the reader skips them).
        runs.extend_from_slice(&[0; 16 * 4]);
        for _ in 0..16 {
            runs.extend_from_slice(&1u16.to_le_bytes());
            runs.extend_from_slice(&0u16.to_le_bytes());
            runs.extend_from_slice(&u16::MAX.to_le_bytes());
        }
        let decoded = RoaringBitmap::deserialize_from(&runs[..]);
        assert_eq!(
            decoded.ok(),
            Some(full),
            "the input is a valid run-format bitmap"
        );
        let path = Path::new("payload_index.bin");
        let err = PayloadIndexReader::decode(path, &with_present_bitmap(&runs)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("run containers"), "{err}");
    }

    /// Containers out of order decode in the roaring reader but are refused.
    #[test]
    fn bitmap_with_containers_out_of_order_is_invalid_data() {
        let mut bits = Vec::new();
        // No-run cookie, 2 containers, keys 1 then 0 (one value each), offsets, values.
        bits.extend_from_slice(&12346u32.to_le_bytes());
        bits.extend_from_slice(&2u32.to_le_bytes());
        for key in [1u16, 0] {
            bits.extend_from_slice(&key.to_le_bytes());
            bits.extend_from_slice(&0u16.to_le_bytes());
        }
        bits.extend_from_slice(&24u32.to_le_bytes());
        bits.extend_from_slice(&26u32.to_le_bytes());
        bits.extend_from_slice(&5u16.to_le_bytes());
        bits.extend_from_slice(&6u16.to_le_bytes());
        assert!(RoaringBitmap::deserialize_from(&bits[..]).is_ok());
        let path = Path::new("payload_index.bin");
        let err = PayloadIndexReader::decode(path, &with_present_bitmap(&bits)).unwrap_err();
        assert!(err.to_string().contains("out of order"), "{err}");
        let mut good = Vec::new();
        put_bitmap(&mut good, &[3u32, 70_000].into_iter().collect()).unwrap();
        let good = &good[4..];
        assert!(PayloadIndexReader::decode(path, &with_present_bitmap(good)).is_ok());
    }

    #[test]
    fn every_truncation_is_invalid_data() {
        let mut indexes = PayloadIndexes::new();
        let payload = serde_json::json!({"k": "a", "n": 1});
        let map = payload.as_object().unwrap();
        indexes
            .create("k", FieldType::Keyword, std::iter::once((1, map)))
            .unwrap();
        indexes
            .create("n", FieldType::Integer, std::iter::once((1, map)))
            .unwrap();
        let bytes = PayloadIndexWriter::encode(&indexes).unwrap();
        let path = Path::new("payload_index.bin");
        assert_eq!(PayloadIndexReader::decode(path, &bytes).unwrap(), indexes);
        for cut in 0..bytes.len() {
            let err = PayloadIndexReader::decode(path, &bytes[..cut]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "cut at {cut}");
        }
    }
}
