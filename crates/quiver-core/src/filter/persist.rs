//! The payload index file: a checkpoint of [`PayloadIndexes`] so a
//! collection can skip rebuilding its indexes on open.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use roaring::RoaringBitmap;

use super::payload_index::{FieldIndex, FieldType, FloatKey, Keys, PayloadIndexes};
use crate::file::atomic::write_atomic;

const MAGIC: &[u8; 4] = b"QPIX";
const VERSION: u8 = 1;

const TYPE_KEYWORD: u8 = 1;
const TYPE_INTEGER: u8 = 2;
const TYPE_FLOAT: u8 = 3;
const TYPE_BOOL: u8 = 4;
const TYPE_DATETIME: u8 = 5;

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
            out.push(match index.ty {
                FieldType::Keyword => TYPE_KEYWORD,
                FieldType::Integer => TYPE_INTEGER,
                FieldType::Float => TYPE_FLOAT,
                FieldType::Bool => TYPE_BOOL,
                FieldType::Datetime => TYPE_DATETIME,
            });
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
    path: &'a Path,
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> PayloadIndexReader<'a> {
    pub(crate) fn decode(path: &'a Path, bytes: &'a [u8]) -> io::Result<PayloadIndexes> {
        let mut reader = PayloadIndexReader {
            path,
            bytes,
            offset: 0,
        };
        if bytes.len() < MAGIC.len() + 1 + 4 + 4 {
            return Err(reader.corrupt(format!("file is {} bytes, too short", bytes.len())));
        }
        let body_len = bytes.len() - 4;
        let (body, crc_bytes) = bytes.split_at(body_len);
        let stored = u32::from_le_bytes(crc_bytes.try_into().map_err(|_| reader.corrupt("crc"))?);
        if crc32fast::hash(body) != stored {
            return Err(reader.corrupt("checksum mismatch".to_string()));
        }
        reader.bytes = body;
        if reader.take(4)? != MAGIC {
            return Err(reader.corrupt("bad magic".to_string()));
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(reader.corrupt(format!("unknown version {version}")));
        }
        let count = reader.u32()?;
        let mut fields = BTreeMap::new();
        for _ in 0..count {
            let name = reader.string()?;
            let ty = match reader.u8()? {
                TYPE_KEYWORD => FieldType::Keyword,
                TYPE_INTEGER => FieldType::Integer,
                TYPE_FLOAT => FieldType::Float,
                TYPE_BOOL => FieldType::Bool,
                TYPE_DATETIME => FieldType::Datetime,
                other => return Err(reader.corrupt(format!("unknown field type {other}"))),
            };
            let present = reader.bitmap()?;
            let unindexed = reader.bitmap()?;
            let entries = reader.u64()?;
            // Each entry takes at least 5 bytes: reject absurd counts before looping.
            if entries > (reader.bytes.len() - reader.offset) as u64 {
                return Err(reader.corrupt(format!("field `{name}` claims {entries} entries")));
            }
            let mut keys = Keys::new(ty);
            for _ in 0..entries {
                match &mut keys {
                    Keys::Keyword(map) => {
                        let key = reader.string()?;
                        map.insert(key, reader.bitmap()?);
                    }
                    Keys::Integer(map) | Keys::Datetime(map) => {
                        let key = i64::from_le_bytes(reader.array()?);
                        map.insert(key, reader.bitmap()?);
                    }
                    Keys::Float(map) => {
                        let key = FloatKey::from_raw(reader.u64()?);
                        map.insert(key, reader.bitmap()?);
                    }
                    Keys::Bool(map) => {
                        let key = match reader.u8()? {
                            0 => false,
                            1 => true,
                            other => return Err(reader.corrupt(format!("bool key {other}"))),
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
        if reader.offset != reader.bytes.len() {
            return Err(reader.corrupt("trailing bytes after the last field".to_string()));
        }
        Ok(PayloadIndexes { fields })
    }

    fn corrupt(&self, detail: impl Into<String>) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: at byte {}: {}",
                self.path.display(),
                self.offset,
                detail.into()
            ),
        )
    }

    fn take(&mut self, len: usize) -> io::Result<&'a [u8]> {
        let end = self
            .offset
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.corrupt(format!("needs {len} more bytes, file ends")))?;
        let slice = self
            .bytes
            .get(self.offset..end)
            .ok_or_else(|| self.corrupt("range"))?;
        self.offset = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let slice = self.take(N)?;
        slice.try_into().map_err(|_| self.corrupt("length"))
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.corrupt("key is not UTF-8"))
    }

    fn bitmap(&mut self) -> io::Result<RoaringBitmap> {
        let len = self.u32()? as usize;
        let start = self.offset;
        let bytes = self.take(len)?;
        RoaringBitmap::deserialize_from(bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: bitmap at byte {start}: {e}", self.path.display()),
            )
        })
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
