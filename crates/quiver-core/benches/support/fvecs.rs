//! The fvecs reader the benchmarks share (each row: an `i32` length, then
//! that many little-endian `f32`s). `None` for a missing or malformed file.

use std::path::Path;

pub fn read_fvecs(path: &Path) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let mut out = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= 4 {
        let n = usize::try_from(i32::from_le_bytes(rest[..4].try_into().ok()?)).ok()?;
        let row = rest.get(4..4 + 4 * n)?;
        out.push(
            row.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        );
        rest = &rest[4 + 4 * n..];
    }
    Some(out)
}
