//! The bounds-checked little-endian reader every decoder uses, and
//! [`corrupt`], the one error for bad bytes on disk.

use std::io;
use std::path::Path;

/// `InvalidData` naming the file, the byte offset and what was found there.
pub(crate) fn corrupt(path: &Path, offset: u64, detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: at byte {offset}: {detail}", path.display()),
    )
}

/// The bytes of a file that ends in a CRC-32 of everything before it,
/// without that CRC, once the CRC matches.
///
/// # Errors
/// `InvalidData` naming the CRC's offset if the file is shorter than a CRC
/// or the CRC does not match.
pub(crate) fn crc_checked<'a>(path: &Path, bytes: &'a [u8]) -> io::Result<&'a [u8]> {
    let Some(body_len) = bytes.len().checked_sub(4) else {
        return Err(corrupt(
            path,
            0,
            format!("file of {} bytes has no checksum", bytes.len()),
        ));
    };
    let (body, crc) = bytes.split_at(body_len);
    let stored = ByteReader::at(path, crc, body_len as u64).u32()?;
    if crc32fast::hash(body) != stored {
        return Err(corrupt(
            path,
            body_len as u64,
            "checksum mismatch (file damaged or truncated)",
        ));
    }
    Ok(body)
}

/// A cursor over bytes read from `path`. Every read checks the bounds and
/// fails with [`corrupt`] naming the file offset of the missing bytes; no
/// read panics.
pub(crate) struct ByteReader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
    /// File offset of `bytes[0]`.
    base: u64,
}

impl<'a> ByteReader<'a> {
    /// Read `bytes`, which start at byte 0 of `path`.
    pub(crate) fn new(path: &'a Path, bytes: &'a [u8]) -> Self {
        Self::at(path, bytes, 0)
    }

    /// Read a buffer whose errors the caller replaces with its own (a frame
    /// layout reporting why a frame is torn, say).
    pub(crate) fn detached(bytes: &'a [u8]) -> Self {
        Self::new(Path::new("<buffer>"), bytes)
    }

    /// Read `bytes`, which start at file offset `base` of `path` (so errors
    /// name offsets in the file, not in the slice).
    pub(crate) fn at(path: &'a Path, bytes: &'a [u8], base: u64) -> Self {
        Self {
            path,
            bytes,
            pos: 0,
            base,
        }
    }

    /// File offset of the next byte to read.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Position of the next byte to read within the slice.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// [`corrupt`] at the current offset of this reader's file.
    pub(crate) fn error(&self, detail: impl std::fmt::Display) -> io::Error {
        corrupt(self.path, self.offset(), detail)
    }

    /// [`corrupt`] at file offset `offset` of this reader's file.
    pub(crate) fn error_at(&self, offset: u64, detail: impl std::fmt::Display) -> io::Error {
        corrupt(self.path, offset, detail)
    }

    /// The next `n` bytes.
    ///
    /// # Errors
    /// `InvalidData` if fewer than `n` bytes are left.
    pub(crate) fn bytes(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let taken = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end));
        match taken {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.error(format!("{n} bytes expected, {} left", self.remaining()))),
        }
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// The next byte.
    ///
    /// # Errors
    /// `InvalidData` at the end of the bytes.
    pub(crate) fn u8(&mut self) -> io::Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// The next little-endian `u32`.
    ///
    /// # Errors
    /// `InvalidData` if fewer than 4 bytes are left.
    pub(crate) fn u32(&mut self) -> io::Result<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// The next little-endian `u64`.
    ///
    /// # Errors
    /// `InvalidData` if fewer than 8 bytes are left.
    pub(crate) fn u64(&mut self) -> io::Result<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// The next little-endian `f32`.
    ///
    /// # Errors
    /// `InvalidData` if fewer than 4 bytes are left.
    pub(crate) fn f32(&mut self) -> io::Result<f32> {
        self.array().map(f32::from_le_bytes)
    }

    /// The next 16 bytes.
    ///
    /// # Errors
    /// `InvalidData` if fewer than 16 bytes are left.
    pub(crate) fn bytes16(&mut self) -> io::Result<[u8; 16]> {
        self.array()
    }

    /// The next `n` little-endian `u32`s, decoded lazily.
    ///
    /// # Errors
    /// `InvalidData` if fewer than `4 * n` bytes are left.
    pub(crate) fn u32s(&mut self, n: usize) -> io::Result<impl Iterator<Item = u32> + 'a> {
        let len = n
            .checked_mul(4)
            .ok_or_else(|| self.error(format!("{n} words overflow a length")))?;
        let bytes = self.bytes(len)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// The next `n` little-endian `f32`s.
    ///
    /// # Errors
    /// `InvalidData` if fewer than `4 * n` bytes are left.
    pub(crate) fn f32s(&mut self, n: usize) -> io::Result<Vec<f32>> {
        // Check the whole length first, so a damaged count cannot make the
        // allocation below huge.
        let fits = n.checked_mul(4).is_some_and(|len| len <= self.remaining());
        if !fits {
            return Err(self.error(format!(
                "{n} floats expected, {} bytes left",
                self.remaining()
            )));
        }
        (0..n).map(|_| self.f32()).collect()
    }

    /// Fails unless every byte was read.
    ///
    /// # Errors
    /// `InvalidData` naming the trailing bytes.
    pub(crate) fn finish(&self) -> io::Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(format!("{n} trailing bytes"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = vec![7u8];
        b.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
        b.extend_from_slice(&0x0102_0304_0506_0708_u64.to_le_bytes());
        b.extend_from_slice(&1.5f32.to_le_bytes());
        b.extend_from_slice(b"abc");
        b
    }

    fn read_all(r: &mut ByteReader<'_>) -> io::Result<(u8, u32, u64, f32, Vec<u8>)> {
        Ok((r.u8()?, r.u32()?, r.u64()?, r.f32()?, r.bytes(3)?.to_vec()))
    }

    #[test]
    fn reads_every_type_in_order() {
        let b = sample();
        let mut r = ByteReader::new(Path::new("f"), &b);
        let got = read_all(&mut r).unwrap();
        assert_eq!(
            got,
            (7, 0xdead_beef, 0x0102_0304_0506_0708, 1.5, b"abc".to_vec())
        );
        assert_eq!(r.remaining(), 0);
        r.finish().unwrap();
    }

    #[test]
    fn every_truncation_is_an_error_naming_the_offset() {
        let b = sample();
        // Where each field starts, in file offsets (base 100).
        let starts = [100u64, 101, 105, 113, 117];
        for cut in 0..b.len() {
            let mut r = ByteReader::at(Path::new("x.bin"), &b[..cut], 100);
            let err = read_all(&mut r).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let field = starts
                .iter()
                .rev()
                .find(|&&s| s <= 100 + cut as u64)
                .unwrap();
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("x.bin: at byte {field}:")),
                "cut {cut}: {msg}"
            );
        }
    }

    #[test]
    fn crc_checked_strips_a_matching_crc_and_names_a_bad_one() {
        let mut b = b"body".to_vec();
        b.extend_from_slice(&crc32fast::hash(b"body").to_le_bytes());
        assert_eq!(crc_checked(Path::new("f"), &b).unwrap(), b"body");
        b[1] ^= 1;
        let err = crc_checked(Path::new("f"), &b).unwrap_err();
        assert!(err.to_string().starts_with("f: at byte 4:"), "{err}");
        for cut in 0..4 {
            assert!(crc_checked(Path::new("f"), &b[..cut]).is_err());
        }
    }

    #[test]
    fn huge_lengths_fail_without_allocating() {
        let b = [1u8, 2, 3];
        let mut r = ByteReader::new(Path::new("f"), &b);
        assert!(r.bytes(usize::MAX).is_err());
        assert!(r.f32s(usize::MAX).is_err());
        assert_eq!(r.pos(), 0);
        r.u8().unwrap();
        let err = r.finish().unwrap_err();
        assert!(err.to_string().contains("2 trailing bytes"), "{err}");
    }
}
