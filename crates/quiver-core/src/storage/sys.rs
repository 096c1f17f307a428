//! Platform calls: hole punching, positional reads, allocated size.

use std::fs::File;
use std::io;

/// Outcome of [`punch_hole`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Punch {
    /// The range now reads as zeros and its whole blocks are released.
    Released,
    /// The platform or filesystem cannot punch holes; the caller must zero the range.
    Unsupported,
}

/// Release the disk blocks of `offset..offset + len` without changing the
/// file size (`fallocate(PUNCH_HOLE | KEEP_SIZE)`).
#[cfg(target_os = "linux")]
pub(crate) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<Punch> {
    use rustix::fs::{FallocateFlags, fallocate};
    match fallocate(
        file,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        offset,
        len,
    ) {
        Ok(()) => Ok(Punch::Released),
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => Ok(Punch::Unsupported),
        Err(errno) => Err(io::Error::from(errno)),
    }
}

/// Hole punching is only wired up on Linux; elsewhere the caller writes zeros.
#[cfg(not(target_os = "linux"))]
pub(crate) fn punch_hole(_file: &File, _offset: u64, _len: u64) -> io::Result<Punch> {
    Ok(Punch::Unsupported)
}

/// Read exactly `buf.len()` bytes at `offset` without moving a file cursor.
#[cfg(unix)]
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// Read exactly `buf.len()` bytes at `offset`.
#[cfg(windows)]
pub(crate) fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Bytes the file occupies on disk (allocated blocks), or its length where
/// the platform does not report blocks.
pub(crate) fn allocated_bytes(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.blocks().saturating_mul(512)
    }
    #[cfg(not(unix))]
    {
        meta.len()
    }
}
