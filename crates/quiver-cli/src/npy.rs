//! The header of a NumPy `.npy` file (format versions 1 to 3), read by the
//! vector-file reader (`vectors_file.rs`).

use std::io::Read;

/// Longest header accepted; real ones are a few hundred bytes.
const MAX_HEADER: usize = 1 << 20;

/// What the header says about the array that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// NumPy's type string, e.g. `<f4`.
    pub descr: String,
    /// Column-major data (which the readers refuse).
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<u64>,
    /// Bytes from the start of the file to the first data byte.
    pub data_offset: usize,
}

/// Reads the magic, version and header dictionary from `input`, leaving it
/// at the first data byte.
///
/// # Errors
/// A message saying what is wrong: bad magic, unknown version, truncated or
/// implausibly long header, or a dictionary without `descr` or `shape`.
pub fn read_header(input: &mut (impl Read + ?Sized)) -> Result<Header, String> {
    let mut magic = [0u8; 8];
    input
        .read_exact(&mut magic)
        .map_err(|_| "file is shorter than the .npy magic".to_owned())?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err("not an .npy file (missing the \\x93NUMPY magic)".to_owned());
    }
    let truncated = |_| "the .npy header is truncated".to_owned();
    let (len, prefix) = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            input.read_exact(&mut b).map_err(truncated)?;
            (usize::from(u16::from_le_bytes(b)), 10)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            input.read_exact(&mut b).map_err(truncated)?;
            (u32::from_le_bytes(b) as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    if len > MAX_HEADER {
        return Err(format!("a .npy header of {len} bytes is implausible"));
    }
    let mut text = vec![0u8; len];
    input.read_exact(&mut text).map_err(truncated)?;
    let text = String::from_utf8(text).map_err(|_| "the .npy header is not text".to_owned())?;
    let descr = value_of(&text, "descr")
        .and_then(|r| r.strip_prefix('\'')?.split('\'').next())
        .ok_or_else(|| format!("the .npy header has no descr: {text}"))?
        .to_owned();
    let fortran_order = value_of(&text, "fortran_order").is_some_and(|r| r.starts_with("True"));
    let shape_text = value_of(&text, "shape")
        .and_then(|r| r.strip_prefix('(')?.split(')').next())
        .ok_or_else(|| format!("the .npy header has no shape: {text}"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| format!("bad .npy shape entry {s:?}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
        data_offset: prefix + len,
    })
}

/// The text after `'key':` in the header dictionary.
fn value_of<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')
        .map(str::trim_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(version: u8, dict: &str) -> Vec<u8> {
        let mut b = b"\x93NUMPY".to_vec();
        b.extend_from_slice(&[version, 0]);
        if version == 1 {
            b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        } else {
            b.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(dict.as_bytes());
        b
    }

    #[test]
    fn reads_versions_one_to_three() {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }\n";
        for (version, prefix) in [(1u8, 10), (2, 12), (3, 12)] {
            let bytes = file(version, dict);
            let h = read_header(&mut bytes.as_slice()).unwrap();
            assert_eq!(h.descr, "<f4");
            assert!(!h.fortran_order);
            assert_eq!(h.shape, vec![3, 2]);
            assert_eq!(h.data_offset, prefix + dict.len());
        }
        let one_d = file(
            1,
            "{'descr': '<i8', 'fortran_order': True, 'shape': (5,), }",
        );
        let h = read_header(&mut one_d.as_slice()).unwrap();
        assert_eq!(
            (h.descr.as_str(), h.fortran_order, h.shape),
            ("<i8", true, vec![5])
        );
    }

    #[test]
    fn malformed_headers_are_errors_that_say_why() {
        let good = file(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
        );
        for cut in 0..good.len() {
            assert!(read_header(&mut &good[..cut]).is_err(), "cut at {cut}");
        }
        let cases = [
            (b"\x93NUMPX\x01\x00\x00\x00".to_vec(), "magic"),
            (file(9, "{}"), "version 9"),
            (
                file(1, "{'fortran_order': False, 'shape': (1,)}"),
                "no descr",
            ),
            (file(1, "{'descr': '<f4'}"), "no shape"),
            (file(1, "{'descr': '<f4', 'shape': (2, x)}"), "shape entry"),
        ];
        for (bytes, says) in cases {
            let err = read_header(&mut bytes.as_slice()).unwrap_err();
            assert!(err.contains(says), "{err} should say {says}");
        }
    }
}
