//! Platform calls: hole punching, block reservation, positional reads,
//! allocated size.

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

/// Give `offset..offset + len` of `file` real disk blocks, growing the file
/// if the range ends past it, so that later writes into the range (through
/// a memory map too) cannot fail for lack of space. A full disk comes back
/// here as an error of kind `StorageFull`, never later as a fault.
///
/// Uses `fallocate(mode 0)`. Where the filesystem cannot do that, the range
/// is written with zeros instead, so it must hold nothing the caller still
/// needs (a new tail, or a dead slot).
///
/// # Errors
/// `StorageFull` when the disk has no room; other I/O errors. The file may
/// then have grown part way: the caller cuts it back.
pub(crate) fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    if reserve_blocks(file, offset, len, false)? {
        return Ok(());
    }
    write_zeros(file, offset, len)
}

/// Reserve disk blocks for `offset..offset + len` with `fallocate`, leaving
/// the bytes already there as they are. With `keep_size` the file size does
/// not change (blocks past the end wait for appends); without it the file
/// grows to cover the range. Returns `false`, having done nothing, where the
/// platform or filesystem cannot reserve blocks.
///
/// # Errors
/// `StorageFull` when the disk has no room; other I/O errors.
pub(crate) fn reserve_blocks(
    file: &File,
    offset: u64,
    len: u64,
    keep_size: bool,
) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{FallocateFlags, fallocate};
        let mode = if keep_size {
            FallocateFlags::KEEP_SIZE
        } else {
            FallocateFlags::empty()
        };
        match fallocate(file, mode, offset, len) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => Ok(false),
            Err(errno) => Err(io::Error::from(errno)),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, keep_size);
        Ok(false)
    }
}

/// Write zeros over `offset..offset + len`, which allocates its blocks.
fn write_zeros(file: &File, offset: u64, len: u64) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; usize::try_from(len.min(CHUNK)).unwrap_or(1 << 20)];
    let mut at = offset;
    let end = offset.saturating_add(len);
    while at < end {
        let n = usize::try_from((end - at).min(zeros.len() as u64)).unwrap_or(zeros.len());
        write_all_at(file, zeros.get(..n).unwrap_or_default(), at)?;
        at += n as u64;
    }
    Ok(())
}

/// Write all of `buf` at `offset` without moving a file cursor.
#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, offset)
}

/// Write all of `buf` at `offset`.
#[cfg(windows)]
fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn new_file(dir: &std::path::Path) -> File {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("f"))
            .unwrap()
    }

    fn allocated(file: &File) -> u64 {
        allocated_bytes(&file.metadata().unwrap())
    }

    #[test]
    fn allocate_grows_the_file_with_real_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let file = new_file(dir.path());
        allocate(&file, 0, 1 << 20).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 1 << 20);
        if cfg!(unix) {
            assert!(
                allocated(&file) >= 1 << 20,
                "{} bytes allocated",
                allocated(&file)
            );
        }
    }

    #[test]
    fn reserve_blocks_refills_a_punched_hole_and_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = new_file(dir.path());
        let block = 64 << 10;
        file.write_all(&vec![0xab; 3 * block]).unwrap();
        file.sync_all().unwrap();
        let full = allocated(&file);
        if punch_hole(&file, block as u64, block as u64).unwrap() == Punch::Unsupported {
            return;
        }
        assert!(allocated(&file) < full, "the punch released nothing");
        let reserved = reserve_blocks(&file, block as u64, block as u64, false).unwrap();
        assert!(reserved, "a filesystem that punches holes reserves blocks");
        assert!(allocated(&file) >= full, "the hole is still there");
        assert_eq!(file.metadata().unwrap().len(), 3 * block as u64);
        let mut buf = vec![0u8; 3 * block];
        read_exact_at(&file, &mut buf, 0).unwrap();
        assert!(buf[..block].iter().all(|&b| b == 0xab));
        assert!(buf[block..2 * block].iter().all(|&b| b == 0));
        assert!(buf[2 * block..].iter().all(|&b| b == 0xab));
    }

    #[test]
    fn reserve_blocks_with_keep_size_reserves_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = new_file(dir.path());
        file.write_all(&[7; 4096]).unwrap();
        if !reserve_blocks(&file, 4096, 1 << 20, true).unwrap() {
            return;
        }
        assert_eq!(file.metadata().unwrap().len(), 4096);
        assert!(allocated(&file) >= (1 << 20) + 4096);
    }
}
