//! Readers for benchmark datasets: `.fvecs` / `.ivecs` (the TEXMEX layout:
//! per row an i32 LE count, then that many 4-byte values) and NumPy `.npy`
//! (version 1-3, C order, 2-d, `<f4` / `<i4` / `<i8`).
//!
//! Every malformed file is an `InvalidData` error that names the file and
//! what was wrong, never a panic.

use std::io;
use std::path::Path;

use crate::npy;

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    /// Number of rows.
    pub rows: usize,
    /// Values per row.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

fn bad(path: &Path, detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {detail}", path.display()),
    )
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Reads float vectors from `.fvecs` or `.npy` (`<f4`).
pub fn read_vectors(path: &Path) -> io::Result<Matrix<f32>> {
    let bytes = std::fs::read(path)?;
    if is_npy(path) {
        let (shape, descr, body) = npy_header(path, &bytes)?;
        if descr != "<f4" {
            return Err(bad(
                path,
                format_args!("dtype {descr} is not little-endian float32 (<f4)"),
            ));
        }
        let data = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Matrix {
            rows: shape.0,
            cols: shape.1,
            data,
        })
    } else {
        let (rows, cols, words) = vecs(path, &bytes)?;
        Ok(Matrix {
            rows,
            cols,
            data: words.into_iter().map(f32::from_bits).collect(),
        })
    }
}

/// Reads integer rows (ground-truth neighbour ids) from `.ivecs` or `.npy`
/// (`<i4` or `<i8`).
pub fn read_ids(path: &Path) -> io::Result<Matrix<i64>> {
    let bytes = std::fs::read(path)?;
    if is_npy(path) {
        let (shape, descr, body) = npy_header(path, &bytes)?;
        let data = match descr.as_str() {
            "<i4" => body
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            "<i8" => body
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            other => return Err(bad(path, format_args!("dtype {other} is not <i4 or <i8"))),
        };
        Ok(Matrix {
            rows: shape.0,
            cols: shape.1,
            data,
        })
    } else {
        let (rows, cols, words) = vecs(path, &bytes)?;
        Ok(Matrix {
            rows,
            cols,
            data: words.into_iter().map(|w| i64::from(w as i32)).collect(),
        })
    }
}

/// Parses the `*vecs` layout into `(rows, cols, raw 4-byte words)`.
fn vecs(path: &Path, bytes: &[u8]) -> io::Result<(usize, usize, Vec<u32>)> {
    if bytes.is_empty() {
        return Err(bad(path, "file is empty"));
    }
    let first = bytes
        .get(..4)
        .ok_or_else(|| bad(path, "shorter than one row header"))?;
    let cols = i32::from_le_bytes([first[0], first[1], first[2], first[3]]);
    if cols <= 0 || cols > 1 << 20 {
        return Err(bad(
            path,
            format_args!("row 0 claims {cols} values per row"),
        ));
    }
    let cols = cols as usize;
    let row_bytes = 4 + 4 * cols;
    if !bytes.len().is_multiple_of(row_bytes) {
        return Err(bad(
            path,
            format_args!(
                "size {} is not a multiple of the row size {row_bytes} ({cols} values): truncated?",
                bytes.len()
            ),
        ));
    }
    let rows = bytes.len() / row_bytes;
    let mut words = Vec::with_capacity(rows * cols);
    for (r, row) in bytes.chunks_exact(row_bytes).enumerate() {
        let n = i32::from_le_bytes([row[0], row[1], row[2], row[3]]);
        if n as usize != cols {
            return Err(bad(
                path,
                format_args!("row {r} claims {n} values, row 0 has {cols}"),
            ));
        }
        words.extend(
            row[4..]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }
    Ok((rows, cols, words))
}

/// Parses an `.npy` header: `((rows, cols), descr, data bytes)`.
fn npy_header<'a>(path: &Path, bytes: &'a [u8]) -> io::Result<((usize, usize), String, &'a [u8])> {
    let header = npy::read_header(&mut &bytes[..]).map_err(|e| bad(path, e))?;
    if header.fortran_order {
        return Err(bad(path, "Fortran-order arrays are not supported"));
    }
    let descr = header.descr;
    let dims: Vec<usize> = header
        .shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| bad(path, format_args!("shape entry {d} is too large")))
        })
        .collect::<io::Result<_>>()?;
    let shape = match dims.as_slice() {
        [r, c] => (*r, *c),
        [r] => (*r, 1),
        _ => return Err(bad(path, format_args!("shape {dims:?} is not 1-d or 2-d"))),
    };
    // Callers check the dtype they need; an unknown one is refused here so
    // the size check below does not report a misleading byte count.
    let item = match descr.as_str() {
        "<f4" | "<i4" => 4,
        "<i8" => 8,
        other => {
            return Err(bad(
                path,
                format_args!("dtype {other} is not one of <f4, <i4, <i8"),
            ));
        }
    };
    let body = &bytes[header.data_offset..];
    let want = shape
        .0
        .checked_mul(shape.1)
        .and_then(|n| n.checked_mul(item));
    if want != Some(body.len()) {
        return Err(bad(
            path,
            format_args!(
                "shape {shape:?} needs {} data bytes, file has {}",
                want.map_or_else(|| "more than usize::MAX".to_owned(), |w| w.to_string()),
                body.len()
            ),
        ));
    }
    Ok((shape, descr, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fvecs(rows: &[&[f32]]) -> Vec<u8> {
        let mut b = Vec::new();
        for r in rows {
            b.extend_from_slice(&(r.len() as i32).to_le_bytes());
            for x in *r {
                b.extend_from_slice(&x.to_le_bytes());
            }
        }
        b
    }

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
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

    #[test]
    fn reads_fvecs_and_npy_alike() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.fvecs");
        std::fs::write(&f, fvecs(&[&[1.0, 2.0], &[3.0, 4.0]])).unwrap();
        let m = read_vectors(&f).unwrap();
        assert_eq!((m.rows, m.cols), (2, 2));
        assert_eq!(m.row(1), &[3.0, 4.0]);
        let n = dir.path().join("a.npy");
        let body: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        std::fs::write(&n, npy("<f4", "(2, 2)", &body)).unwrap();
        assert_eq!(read_vectors(&n).unwrap(), m);
        let g = dir.path().join("g.npy");
        let ids: Vec<u8> = [5i64, 6].iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&g, npy("<i8", "(1, 2)", &ids)).unwrap();
        assert_eq!(read_ids(&g).unwrap().data, vec![5, 6]);
    }

    #[test]
    fn bad_files_are_invalid_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.fvecs");
        let good = fvecs(&[&[1.0, 2.0], &[3.0, 4.0]]);
        for cut in (0..good.len()).filter(|c| c % 12 != 0) {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert_eq!(
                read_vectors(&p).unwrap_err().kind(),
                io::ErrorKind::InvalidData,
                "cut {cut}"
            );
        }
        let mixed = [
            fvecs(&[&[1.0, 2.0]]),
            fvecs(&[&[1.0]]),
            fvecs(&[&[1.0]]),
            fvecs(&[&[1.0]]),
        ]
        .concat();
        std::fs::write(&p, &good[..12]).unwrap();
        assert_eq!(read_vectors(&p).unwrap().rows, 1);
        std::fs::write(&p, b"").unwrap();
        assert_eq!(
            read_vectors(&p).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::write(&p, mixed).unwrap();
        assert!(read_vectors(&p).unwrap_err().to_string().contains("row 1"));
        let n = dir.path().join("x.npy");
        std::fs::write(&n, npy("<f8", "(1, 1)", &[0; 8])).unwrap();
        let err = read_vectors(&n).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("<f8"), "{err}");
        std::fs::write(&n, npy("<f4", "(3, 2)", &[0; 8])).unwrap();
        assert_eq!(
            read_vectors(&n).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::write(&n, b"\x93NUMPY\x01\x00\xff\xff").unwrap();
        assert_eq!(
            read_vectors(&n).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
