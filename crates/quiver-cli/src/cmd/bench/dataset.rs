//! The bench's dataset: base vectors, queries and ground-truth ids, read
//! whole through the one vector-file reader (`.npy` by extension, the
//! `*vecs` layout otherwise) and checked against each other.

use std::path::Path;

use anyhow::{Context, bail};

use super::BenchArgs;
use crate::vectors_file::{Format, Reader};

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

/// Base, queries and ground truth of one bench run.
pub struct Dataset {
    /// The vectors to index; point id = row.
    pub base: Matrix<f32>,
    /// The queries, cut to `--max-queries`.
    pub query: Matrix<f32>,
    /// Per query, its nearest base rows, best first.
    pub groundtruth: Matrix<i64>,
}

impl Dataset {
    /// Reads `--base`, `--query` and `--groundtruth`, and checks that they
    /// fit together and hold at least `--k` true neighbours per query.
    ///
    /// # Errors
    /// A file that does not read, dimensions that differ, or too little
    /// ground truth.
    pub fn load(args: &BenchArgs) -> anyhow::Result<Dataset> {
        let base = read_vectors(&args.base)?;
        let mut query = read_vectors(&args.query)?;
        let groundtruth = read_ids(&args.groundtruth)?;
        if base.cols != query.cols {
            bail!("base has dimension {}, queries {}", base.cols, query.cols);
        }
        if args.max_queries > 0 && query.rows > args.max_queries {
            query.rows = args.max_queries;
            query.data.truncate(query.rows * query.cols);
        }
        if groundtruth.rows < query.rows || groundtruth.cols < args.k {
            bail!(
                "ground truth is {}x{}, need at least {}x{}",
                groundtruth.rows,
                groundtruth.cols,
                query.rows,
                args.k
            );
        }
        Ok(Dataset {
            base,
            query,
            groundtruth,
        })
    }

    /// The dataset's name in the reports: `--dataset`, or the name of the
    /// base file's directory.
    pub fn name(args: &BenchArgs) -> String {
        args.dataset.clone().unwrap_or_else(|| {
            args.base
                .canonicalize()
                .ok()
                .and_then(|p| {
                    p.parent()
                        .and_then(|d| d.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "dataset".to_string())
        })
    }
}

/// `.npy` by extension; every other name is read in the `*vecs` layout.
fn format_of(path: &Path) -> Format {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        Format::Npy
    } else {
        Format::Fvecs
    }
}

/// Every record of `path`, read by `next`, as one matrix.
fn read_matrix<T>(
    path: &Path,
    mut next: impl FnMut(&mut Reader) -> anyhow::Result<Option<Vec<T>>>,
) -> anyhow::Result<Matrix<T>> {
    let mut reader = Reader::open(path, format_of(path))?;
    let mut m = Matrix {
        rows: 0,
        cols: 0,
        data: Vec::new(),
    };
    while let Some(row) = next(&mut reader).with_context(|| format!("{}", path.display()))? {
        if m.rows == 0 {
            m.cols = row.len();
        } else if row.len() != m.cols {
            bail!(
                "{}: record {} has {} values, record 0 has {}",
                path.display(),
                m.rows,
                row.len(),
                m.cols
            );
        }
        m.data.extend(row);
        m.rows += 1;
    }
    if m.rows == 0 {
        bail!("{}: file is empty", path.display());
    }
    Ok(m)
}

/// Float vectors from the `*vecs` layout (`.fvecs`) or `.npy` (`<f4`, `<f8`).
pub fn read_vectors(path: &Path) -> anyhow::Result<Matrix<f32>> {
    read_matrix(path, |r| Ok(r.next_entry()?.map(|e| e.vector)))
}

/// Integer rows (ground-truth neighbour ids) from the `*vecs` layout
/// (`.ivecs`) or `.npy` (`<i4`, `<i8`).
pub fn read_ids(path: &Path) -> anyhow::Result<Matrix<i64>> {
    read_matrix(path, Reader::next_ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors_file::test_files::{fvecs, npy};

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
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.fvecs");
        let good = fvecs(&[&[1.0, 2.0], &[3.0, 4.0]]);
        for cut in (0..good.len()).filter(|c| c % 12 != 0) {
            std::fs::write(&p, &good[..cut]).unwrap();
            let err = read_vectors(&p).unwrap_err();
            assert!(format!("{err:#}").contains("x.fvecs"), "cut {cut}: {err:#}");
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
        assert!(read_vectors(&p).unwrap_err().to_string().contains("empty"));
        std::fs::write(&p, mixed).unwrap();
        let err = read_vectors(&p).unwrap_err();
        assert!(format!("{err:#}").contains("record 1"), "{err:#}");
        let n = dir.path().join("x.npy");
        std::fs::write(&n, npy("<f2", "(1, 1)", &[0; 2])).unwrap();
        let err = read_vectors(&n).unwrap_err();
        assert!(format!("{err:#}").contains("<f2"), "{err:#}");
        std::fs::write(&n, npy("<f4", "(3, 2)", &[0; 8])).unwrap();
        assert!(read_vectors(&n).is_err());
        std::fs::write(&n, b"\x93NUMPY\x01\x00\xff\xff").unwrap();
        assert!(read_vectors(&n).is_err());
    }
}
