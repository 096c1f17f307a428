//! Reading vectors from files: fvecs, NumPy `.npy` (float32/float64, 2-D,
//! C order) and JSON lines of `{"id", "vector", "payload"}`.
//!
//! Readers stream record by record and never trust sizes in the file: a
//! truncated or inconsistent file is an error naming the record, not a panic.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use quiver_core::PointId;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::npy;

/// Largest dimension accepted from a file header.
const MAX_DIMENSION: usize = 65_536;

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
        float64: bool,
    },
    Jsonl {
        input: Box<dyn BufRead + Send>,
        line: String,
    },
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
                let (dimension, rows, float64) = read_npy_header(&mut input)?;
                (
                    Inner::Npy {
                        input: Box::new(input),
                        dimension,
                        float64,
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

    /// The next record, `None` at the end.
    ///
    /// # Errors
    /// A truncated record, a wrong dimension or invalid JSON, naming the record.
    pub fn next_entry(&mut self) -> anyhow::Result<Option<Entry>> {
        let index = self.position;
        let entry = match &mut self.inner {
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
                let vector = read_f32s(input, d, index)?;
                Entry {
                    id: None,
                    vector,
                    payload: None,
                }
            }
            Inner::Npy {
                input,
                dimension,
                float64,
            } => {
                if self.len.is_some_and(|n| index >= n) {
                    return Ok(None);
                }
                let vector = if *float64 {
                    let mut bytes = vec![0u8; *dimension * 8];
                    input
                        .read_exact(&mut bytes)
                        .with_context(|| format!("row {index}: file is truncated"))?;
                    bytes
                        .chunks_exact(8)
                        .map(|c| {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(c);
                            f64::from_le_bytes(b) as f32
                        })
                        .collect()
                } else {
                    read_f32s(input, *dimension, index)?
                };
                Entry {
                    id: None,
                    vector,
                    payload: None,
                }
            }
            Inner::Jsonl { input, line } => loop {
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
            },
        };
        self.position += 1;
        Ok(Some(entry))
    }
}

fn check_dimension(raw: i32, index: u64) -> anyhow::Result<usize> {
    match usize::try_from(raw) {
        Ok(d) if (1..=MAX_DIMENSION).contains(&d) => Ok(d),
        _ => bail!("record {index}: dimension {raw} is not in 1..={MAX_DIMENSION}"),
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

fn read_f32s(input: &mut (impl Read + ?Sized), n: usize, index: u64) -> anyhow::Result<Vec<f32>> {
    let mut bytes = vec![0u8; n * 4];
    input
        .read_exact(&mut bytes)
        .with_context(|| format!("record {index}: file ends inside the vector"))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Parses a `.npy` header: returns (columns, rows, is_float64).
fn read_npy_header(input: &mut (impl Read + ?Sized)) -> anyhow::Result<(usize, u64, bool)> {
    let header = npy::read_header(input).map_err(anyhow::Error::msg)?;
    let float64 = match header.descr.as_str() {
        "<f4" => false,
        "<f8" => true,
        other => bail!(
            "only little-endian float32 ('<f4') or float64 ('<f8') arrays are supported, not {other:?}"
        ),
    };
    if header.fortran_order {
        bail!("Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
    }
    let dims = header.shape;
    let shape = format!("{dims:?}");
    match dims.as_slice() {
        [rows, cols] if (1..=MAX_DIMENSION as u64).contains(cols) => {
            Ok((*cols as usize, *rows, float64))
        }
        [cols] if (1..=MAX_DIMENSION as u64).contains(cols) => Ok((*cols as usize, 1, float64)),
        _ => bail!("shape ({shape}) is not (rows, columns) with 1..={MAX_DIMENSION} columns"),
    }
}

/// A vector given inline as a JSON array.
///
/// # Errors
/// If `text` is not an array of numbers.
pub fn parse_inline(text: &str) -> anyhow::Result<Vec<f32>> {
    serde_json::from_str(text)
        .context("--vector must be a JSON array of numbers, e.g. '[0.1, 0.2]'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fvecs(rows: &[&[f32]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            out.extend_from_slice(&(r.len() as i32).to_le_bytes());
            for x in *r {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    fn read_all(bytes: Vec<u8>, format: Format) -> anyhow::Result<Vec<Entry>> {
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let mut r = Reader::from_bytes(bytes, format)?;
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
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
}
