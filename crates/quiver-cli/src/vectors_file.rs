//! The one reader of vector files, used by `import`, `search`, `demo` and
//! `bench`: the `*vecs` layout (`.fvecs`, `.ivecs`: per record an i32 LE
//! count, then that many 4-byte LE values), NumPy `.npy` (versions 1-3,
//! C order, 1-d or 2-d, `<f4` / `<f8` vectors, `<i4` / `<i8` ids) and JSON
//! lines of `{"id", "vector", "payload"}`.
//!
//! Records are read one at a time, as float vectors ([`Reader::next_entry`])
//! or as rows of integer ids ([`Reader::next_ids`], for ground truth). The
//! reader never trusts sizes in the file: a truncated or inconsistent file
//! is an error naming the record, not a panic.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use quiver_core::PointId;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::npy;

/// Most values per record accepted from a file header (a sanity bound
/// against garbage; the collection checks its own dimension limit).
const MAX_VALUES: usize = 1 << 20;

/// One record of a vector file.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The id, if the file has ids (JSON lines); positional formats have none.
    pub id: Option<PointId>,
    /// The vector.
    pub vector: Vec<f32>,
    /// The payload, if the file has one.
    pub payload: Option<Map<String, Value>>,
}

/// A vector file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// int32 dimension then that many float32, per vector.
    Fvecs,
    /// NumPy array of shape (n, d), float32 or float64.
    Npy,
    /// One JSON object per line: {"id": .., "vector": [..], "payload": {..}}.
    Jsonl,
}

impl Format {
    /// The format a file name suggests.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "fvecs" => Some(Format::Fvecs),
            "npy" => Some(Format::Npy),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// A streaming reader over one file.
pub struct Reader {
    inner: Inner,
    /// Index of the next record.
    position: u64,
    /// Records in the file, when the format says so up front.
    len: Option<u64>,
}

enum Inner {
    Fvecs {
        input: Box<dyn Read + Send>,
        dimension: Option<usize>,
    },
    Npy {
        input: Box<dyn Read + Send>,
        dimension: usize,
        dtype: Dtype,
    },
    Jsonl {
        input: Box<dyn BufRead + Send>,
        line: String,
    },
}

/// The element type of an `.npy` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    I4,
    I8,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        match descr {
            "<f4" => Some(Dtype::F4),
            "<f8" => Some(Dtype::F8),
            "<i4" => Some(Dtype::I4),
            "<i8" => Some(Dtype::I8),
            _ => None,
        }
    }

    fn descr(self) -> &'static str {
        match self {
            Dtype::F4 => "<f4",
            Dtype::F8 => "<f8",
            Dtype::I4 => "<i4",
            Dtype::I8 => "<i8",
        }
    }

    fn item_bytes(self) -> usize {
        match self {
            Dtype::F4 | Dtype::I4 => 4,
            Dtype::F8 | Dtype::I8 => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Dtype::F4 | Dtype::F8)
    }
}

/// One record of a positional file, its values not yet read as floats or
/// ids: `None` for the `*vecs` layout, whose 4-byte values mean what the
/// caller reads them as.
struct RawRecord {
    bytes: Vec<u8>,
    dtype: Option<Dtype>,
}

#[derive(Deserialize)]
struct JsonEntry {
    id: PointId,
    vector: Vec<f32>,
    payload: Option<Map<String, Value>>,
}

impl Reader {
    /// Opens `path` in `format`.
    ///
    /// # Errors
    /// If the file cannot be opened or its header is invalid.
    pub fn open(path: &Path, format: Format) -> anyhow::Result<Reader> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).ok();
        let input = BufReader::with_capacity(1 << 20, file);
        Self::from_reader(Box::new(input), format, size)
            .with_context(|| format!("{} is not a valid {format:?} file", path.display()))
    }

    /// A reader over in-memory bytes (e.g. data bundled into the binary).
    ///
    /// # Errors
    /// If the header is invalid.
    pub fn from_bytes(bytes: &'static [u8], format: Format) -> anyhow::Result<Reader> {
        Self::from_reader(Box::new(bytes), format, Some(bytes.len() as u64))
    }

    fn from_reader(
        mut input: Box<dyn BufRead + Send>,
        format: Format,
        size: Option<u64>,
    ) -> anyhow::Result<Reader> {
        let (inner, len) = match format {
            Format::Fvecs => (
                Inner::Fvecs {
                    input: Box::new(input),
                    dimension: None,
                },
                None,
            ),
            Format::Npy => {
                let (dimension, rows, dtype) = read_npy_header(&mut input, size)?;
                (
                    Inner::Npy {
                        input: Box::new(input),
                        dimension,
                        dtype,
                    },
                    Some(rows),
                )
            }
            Format::Jsonl => (
                Inner::Jsonl {
                    input,
                    line: String::new(),
                },
                None,
            ),
        };
        let mut reader = Reader {
            inner,
            position: 0,
            len,
        };
        if format == Format::Fvecs {
            // Records are fixed-size once the first dimension is known.
            if let (Some(size), Some(first)) = (size, reader.peek_fvecs_dimension()?) {
                reader.len = Some(size / (4 + 4 * first as u64));
            }
        }
        Ok(reader)
    }

    fn peek_fvecs_dimension(&mut self) -> anyhow::Result<Option<usize>> {
        // The dimension is read here and kept; next() then skips reading it
        // for the first record.
        if let Inner::Fvecs { input, dimension } = &mut self.inner {
            let mut header = [0u8; 4];
            match read_full(input, &mut header)? {
                0 => return Ok(None),
                4 => {}
                _ => bail!("file ends inside the first record's header"),
            }
            let d = check_dimension(i32::from_le_bytes(header), 0)?;
            *dimension = Some(d);
            self.position = 0;
            return Ok(Some(d));
        }
        Ok(None)
    }

    /// Number of records, when known without reading the whole file.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// Index of the next record.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next record as a float vector, `None` at the end.
    ///
    /// # Errors
    /// A truncated record, a wrong dimension, invalid JSON or an `.npy`
    /// array of integers, naming the record.
    pub fn next_entry(&mut self) -> anyhow::Result<Option<Entry>> {
        let index = self.position;
        if let Inner::Jsonl { input, line } = &mut self.inner {
            let entry = loop {
                line.clear();
                if input.read_line(line)? == 0 {
                    return Ok(None);
                }
                if line.trim().is_empty() {
                    continue;
                }
                let e: JsonEntry = serde_json::from_str(line).with_context(|| {
                    format!(
                        "line {}: expected {{\"id\", \"vector\", \"payload\"}}",
                        index + 1
                    )
                })?;
                break Entry {
                    id: Some(e.id),
                    vector: e.vector,
                    payload: e.payload,
                };
            };
            self.position += 1;
            return Ok(Some(entry));
        }
        let Some(raw) = self.next_raw()? else {
            return Ok(None);
        };
        let vector = match raw.dtype {
            None | Some(Dtype::F4) => decode(&raw.bytes, f32::from_le_bytes),
            Some(Dtype::F8) => decode(&raw.bytes, |b| f64::from_le_bytes(b) as f32),
            Some(other) => bail!(
                "dtype {} holds integers; vectors must be float32 ('<f4') or float64 ('<f8')",
                other.descr()
            ),
        };
        Ok(Some(Entry {
            id: None,
            vector,
            payload: None,
        }))
    }

    /// The next record as a row of integer ids (ground truth), `None` at the
    /// end: `*vecs` values read as i32, or an `.npy` array of `<i4` / `<i8`.
    ///
    /// # Errors
    /// A truncated record, a wrong row length, a float `.npy` array or a
    /// JSON lines file, naming the record.
    pub fn next_ids(&mut self) -> anyhow::Result<Option<Vec<i64>>> {
        if matches!(self.inner, Inner::Jsonl { .. }) {
            bail!("JSON lines hold vectors, not rows of ids");
        }
        let Some(raw) = self.next_raw()? else {
            return Ok(None);
        };
        Ok(Some(match raw.dtype {
            None | Some(Dtype::I4) => decode(&raw.bytes, |b| i64::from(i32::from_le_bytes(b))),
            Some(Dtype::I8) => decode(&raw.bytes, i64::from_le_bytes),
            Some(other) => bail!(
                "dtype {} holds floats; ids must be int32 ('<i4') or int64 ('<i8')",
                other.descr()
            ),
        }))
    }

    /// The next record of a positional format (not JSON lines).
    fn next_raw(&mut self) -> anyhow::Result<Option<RawRecord>> {
        let index = self.position;
        let raw = match &mut self.inner {
            Inner::Fvecs { input, dimension } => {
                let d = match dimension.take() {
                    // The header of the first record was read by open().
                    Some(d) if index == 0 => d,
                    expected => {
                        let mut header = [0u8; 4];
                        match read_full(input, &mut header)? {
                            0 => return Ok(None),
                            4 => {}
                            _ => bail!("record {index}: file ends inside the header"),
                        }
                        let d = check_dimension(i32::from_le_bytes(header), index)?;
                        if let Some(e) = expected.filter(|&e| e != d) {
                            bail!("record {index}: dimension {d}, earlier records have {e}");
                        }
                        d
                    }
                };
                *dimension = Some(d);
                RawRecord {
                    bytes: read_bytes(input, d * 4, index)?,
                    dtype: None,
                }
            }
            Inner::Npy {
                input,
                dimension,
                dtype,
            } => {
                if self.len.is_some_and(|n| index >= n) {
                    return Ok(None);
                }
                RawRecord {
                    bytes: read_bytes(input, *dimension * dtype.item_bytes(), index)?,
                    dtype: Some(*dtype),
                }
            }
            Inner::Jsonl { .. } => bail!("JSON lines have no positional records"),
        };
        self.position += 1;
        Ok(Some(raw))
    }
}

fn check_dimension(raw: i32, index: u64) -> anyhow::Result<usize> {
    match usize::try_from(raw) {
        Ok(d) if (1..=MAX_VALUES).contains(&d) => Ok(d),
        _ => bail!("record {index}: dimension {raw} is not in 1..={MAX_VALUES}"),
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// `bytes` cut into little-endian values of `N` bytes, each read by `value`
/// (a trailing part shorter than `N` is ignored; records are whole).
fn decode<const N: usize, T>(bytes: &[u8], value: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            value(b)
        })
        .collect()
}

fn read_bytes(input: &mut (impl Read + ?Sized), n: usize, index: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    input
        .read_exact(&mut bytes)
        .with_context(|| format!("record {index}: file ends inside the vector"))?;
    Ok(bytes)
}

/// Parses a `.npy` header: returns (columns, rows, dtype). A 1-d array of
/// floats is one vector; a 1-d array of ints is one id per row. With the
/// file's `size` known, a file too short for its shape is refused here.
fn read_npy_header(
    input: &mut (impl Read + ?Sized),
    size: Option<u64>,
) -> anyhow::Result<(usize, u64, Dtype)> {
    let header = npy::read_header(input).map_err(anyhow::Error::msg)?;
    let Some(dtype) = Dtype::parse(&header.descr) else {
        bail!(
            "dtype {:?} is not one of '<f4', '<f8' (vectors), '<i4', '<i8' (ids)",
            header.descr
        );
    };
    if header.fortran_order {
        bail!("Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
    }
    let dims = header.shape;
    let (rows, cols) = match dims.as_slice() {
        [rows, cols] => (*rows, *cols),
        [n] if dtype.is_float() => (1, *n),
        [n] => (*n, 1),
        _ => (0, 0),
    };
    if !(1..=MAX_VALUES as u64).contains(&cols) {
        bail!("shape {dims:?} is not (rows, columns) with 1..={MAX_VALUES} columns");
    }
    let want = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(dtype.item_bytes() as u64));
    if let Some(size) = size {
        let have = size.saturating_sub(header.data_offset as u64);
        if want.is_none_or(|w| w > have) {
            bail!(
                "shape {dims:?} of {} needs {} data bytes, the file has {have}: truncated?",
                dtype.descr(),
                want.map_or_else(|| "more than u64::MAX".to_owned(), |w| w.to_string())
            );
        }
    }
    Ok((cols as usize, rows, dtype))
}

/// A vector given inline as a JSON array.
///
/// # Errors
/// If `text` is not an array of numbers.
pub fn parse_inline(text: &str) -> anyhow::Result<Vec<f32>> {
    serde_json::from_str(text)
        .context("--vector must be a JSON array of numbers, e.g. '[0.1, 0.2]'")
}

/// Files in the formats the reader takes, for tests.
#[cfg(test)]
pub(crate) mod test_files {
    /// The `*vecs` layout of `rows`.
    pub(crate) fn fvecs(rows: &[&[f32]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            out.extend_from_slice(&(r.len() as i32).to_le_bytes());
            for x in *r {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    /// A version-1 `.npy` file of `descr` and `shape` holding `body`.
    pub(crate) fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(body);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::test_files::{fvecs, npy};
    use super::*;

    /// Every record of `bytes`, each read by `next`.
    fn read_with<T>(
        bytes: Vec<u8>,
        format: Format,
        next: impl Fn(&mut Reader) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<Vec<T>> {
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let mut r = Reader::from_bytes(bytes, format)?;
        let mut out = Vec::new();
        while let Some(e) = next(&mut r)? {
            out.push(e);
        }
        Ok(out)
    }

    fn read_all(bytes: Vec<u8>, format: Format) -> anyhow::Result<Vec<Entry>> {
        read_with(bytes, format, Reader::next_entry)
    }

    fn read_ids(bytes: Vec<u8>, format: Format) -> anyhow::Result<Vec<Vec<i64>>> {
        read_with(bytes, format, Reader::next_ids)
    }

    #[test]
    fn fvecs_round_trip_and_count() {
        let bytes = fvecs(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]);
        let b: &'static [u8] = Box::leak(bytes.clone().into_boxed_slice());
        assert_eq!(Reader::from_bytes(b, Format::Fvecs).unwrap().len(), Some(3));
        let all = read_all(bytes, Format::Fvecs).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].vector, vec![5.0, 6.0]);
    }

    #[test]
    fn truncated_or_mixed_fvecs_is_an_error_not_a_panic() {
        let mut bytes = fvecs(&[&[1.0, 2.0], &[3.0, 4.0]]);
        bytes.truncate(bytes.len() - 3);
        assert!(read_all(bytes, Format::Fvecs).is_err());
        let bytes = fvecs(&[&[1.0, 2.0], &[3.0]]);
        let e = read_all(bytes, Format::Fvecs).unwrap_err().to_string();
        assert!(e.contains("record 1"), "{e}");
        let mut bytes = fvecs(&[&[1.0]]);
        bytes[..4].copy_from_slice(&(-5i32).to_le_bytes());
        assert!(read_all(bytes, Format::Fvecs).is_err());
    }

    #[test]
    fn npy_float32_matrix_is_read_row_by_row() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut padded = header.to_string();
        while !(10 + padded.len() + 1).is_multiple_of(64) {
            padded.push(' ');
        }
        padded.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        for x in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let all = read_all(bytes.clone(), Format::Npy).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].vector, vec![4.0, 5.0, 6.0]);
        bytes.truncate(bytes.len() - 1);
        assert!(read_all(bytes, Format::Npy).is_err());
    }

    #[test]
    fn json_lines_carry_ids_and_payloads() {
        let text = "{\"id\": 7, \"vector\": [1, 2], \"payload\": {\"a\": 1}}\n\n{\"id\": \"550e8400-e29b-41d4-a716-446655440000\", \"vector\": [3, 4]}\n";
        let all = read_all(text.as_bytes().to_vec(), Format::Jsonl).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, Some(PointId::Num(7)));
        assert!(all[1].payload.is_none());
        let e = read_all(b"{\"id\": 1}\n".to_vec(), Format::Jsonl).unwrap_err();
        assert!(format!("{e:#}").contains("line 1"));
    }

    #[test]
    fn ids_come_from_ivecs_and_integer_npy() {
        let mut ivecs = Vec::new();
        for row in [[5i32, -1], [7, 8]] {
            ivecs.extend_from_slice(&2i32.to_le_bytes());
            for x in row {
                ivecs.extend_from_slice(&x.to_le_bytes());
            }
        }
        assert_eq!(
            read_ids(ivecs, Format::Fvecs).unwrap(),
            vec![vec![5, -1], vec![7, 8]]
        );
        let body: Vec<u8> = [5i64, 6].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(
            read_ids(npy("<i8", "(1, 2)", &body), Format::Npy).unwrap(),
            vec![vec![5, 6]]
        );
        let body: Vec<u8> = [3i32, 4, 5].iter().flat_map(|x| x.to_le_bytes()).collect();
        // A 1-d array of ids is one id per row.
        assert_eq!(
            read_ids(npy("<i4", "(3,)", &body), Format::Npy).unwrap(),
            vec![vec![3], vec![4], vec![5]]
        );
        let floats: Vec<u8> = [1.0f32].iter().flat_map(|x| x.to_le_bytes()).collect();
        let e = read_ids(npy("<f4", "(1, 1)", &floats), Format::Npy).unwrap_err();
        assert!(e.to_string().contains("<f4"), "{e}");
        let e = read_all(npy("<i4", "(1, 1)", &[0; 4]), Format::Npy).unwrap_err();
        assert!(e.to_string().contains("<i4"), "{e}");
    }

    #[test]
    fn npy_float64_and_one_d_arrays_are_vectors() {
        let body: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let all = read_all(npy("<f8", "(2,)", &body), Format::Npy).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].vector, vec![1.5, -2.0]);
    }

    #[test]
    fn bad_npy_files_are_errors_that_say_why() {
        let cases = [
            (npy("<f2", "(1, 1)", &[0; 2]), "<f2"),
            (npy("<f4", "(3, 2)", &[0; 8]), "needs 24 data bytes"),
            (npy("<f4", "(2, 0)", &[]), "columns"),
            (npy("<f4", "(1, 2, 3)", &[0; 24]), "columns"),
            (b"\x93NUMPY\x01\x00\xff\xff".to_vec(), "truncated"),
        ];
        for (bytes, says) in cases {
            let e = read_all(bytes, Format::Npy).unwrap_err();
            assert!(format!("{e:#}").contains(says), "{e:#} should say {says}");
        }
    }
}
