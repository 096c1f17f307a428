//! The framed-log codec: logs that are a sequence of CRC-checked frames,
//! appended one after another.
//!
//! The engine has two frame layouts on disk (see [`FrameLayout`]); this file
//! owns what they share: walking the frames of a buffer, stopping at the
//! first one that is cut short or fails its check (the torn tail of a
//! crash), finding whole frames after a bad one (damage in the middle of a
//! log, which a crash cannot produce), and the append side of the file
//! ([`FrameWriter`]: append, reserve, sync, reset, and cutting a failed
//! append off).
//!
//! Which of "torn tail" and "damaged" a log's owner reports is its policy:
//! `ops.log` refuses a log with valid frames after a bad one, the vector WAL
//! and the payload log treat every bad frame as the end of the log.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::sys;

/// One on-disk frame layout: where a frame ends and whether it is whole.
pub(crate) trait FrameLayout {
    /// A decoded frame, borrowing from the log buffer.
    type Frame<'a>;

    /// Decode the frame that starts at byte `at` of `buf`: the frame and
    /// the offset just past it, or why it is not a whole frame with a good
    /// CRC. Never panics, whatever the bytes.
    fn decode<'a>(
        &self,
        buf: &'a [u8],
        at: usize,
    ) -> Result<(Self::Frame<'a>, usize), &'static str>;
}

/// Iterates the whole frames of a log buffer from `start`, and remembers
/// where (and why) the first bad frame was found.
pub(crate) struct FrameReader<'a, L> {
    layout: L,
    buf: &'a [u8],
    pos: usize,
    torn: Option<(usize, &'static str)>,
}

impl<'a, L: FrameLayout> FrameReader<'a, L> {
    /// Read frames of `buf` laid out as `layout`, from byte `start`.
    pub(crate) fn new(layout: L, buf: &'a [u8], start: usize) -> Self {
        Self {
            layout,
            buf,
            pos: start,
            torn: None,
        }
    }

    /// Byte offset just past the last whole frame read so far.
    pub(crate) fn good_len(&self) -> usize {
        self.pos
    }

    /// Offset and reason of the bad frame that ended the iteration, if any.
    pub(crate) fn torn(&self) -> Option<(usize, &'static str)> {
        self.torn
    }

    /// A reader positioned at the first whole frame that starts at or after
    /// `from`, looking only at offsets `candidate` accepts (a cheap filter,
    /// such as a plausible sequence number, keeps the search linear).
    /// `None` if no whole frame follows: whatever is there is a torn tail.
    pub(crate) fn resync(&self, from: usize, candidate: impl Fn(usize) -> bool) -> Option<Self>
    where
        L: Clone,
    {
        (from..self.buf.len())
            .filter(|&at| candidate(at))
            .find(|&at| self.layout.decode(self.buf, at).is_ok())
            .map(|at| Self::new(self.layout.clone(), self.buf, at))
    }
}

impl<'a, L: FrameLayout> Iterator for FrameReader<'a, L> {
    /// (byte offset of the frame, the frame)
    type Item = (usize, L::Frame<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.torn.is_some() || self.pos >= self.buf.len() {
            return None;
        }
        match self.layout.decode(self.buf, self.pos) {
            Ok((frame, next)) => {
                let at = self.pos;
                self.pos = next;
                Some((at, frame))
            }
            Err(reason) => {
                self.torn = Some((self.pos, reason));
                None
            }
        }
    }
}

/// Blocks reserved past what a [`FrameWriter::reserve`] call needs, so most
/// appends find theirs already there.
const RESERVE_AHEAD_BYTES: u64 = 1 << 20;

/// The append side of a framed log file.
pub(crate) struct FrameWriter {
    file: File,
    path: PathBuf,
    len: u64,
    /// Disk blocks are reserved up to here (past `len`, beyond the end of
    /// the file); `len` when nothing is.
    reserved_to: u64,
    /// A failed append could not be cut off: the file may end in a torn
    /// frame. Appends are refused until the cut succeeds, because a frame
    /// written after the torn one would be hidden from replay.
    needs_cut: bool,
}

impl FrameWriter {
    /// Open (creating) `path` for appending after its first `good_len` bytes.
    /// Anything after `good_len` is a torn tail and is cut off first (and
    /// the cut fsynced when `sync`).
    pub(crate) fn open(path: &Path, good_len: u64, sync: bool) -> io::Result<Self> {
        Self::open_with(path, good_len, sync, true)
    }

    /// [`FrameWriter::open`] for a file that must exist already.
    pub(crate) fn open_existing(path: &Path, good_len: u64, sync: bool) -> io::Result<Self> {
        Self::open_with(path, good_len, sync, false)
    }

    fn open_with(path: &Path, good_len: u64, sync: bool, create: bool) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        let actual = file.metadata()?.len();
        if actual > good_len {
            tracing::warn!(
                path = %path.display(),
                good_len,
                dropped = actual - good_len,
                "truncating torn log tail"
            );
            // Truncate before appending: bytes after a torn frame would hide
            // every later frame from replay.
            file.set_len(good_len)?;
            if sync {
                file.sync_all()?;
            }
        }
        file.seek(SeekFrom::Start(good_len))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            len: good_len,
            reserved_to: good_len,
            needs_cut: false,
        })
    }

    /// Append `bytes` (whole frames) with one write.
    ///
    /// # Errors
    /// I/O errors (`StorageFull` for a full disk that nothing was reserved
    /// on); the file is then cut back to where it was. While an earlier
    /// failed append could not be cut off, every append fails (after
    /// trying the cut again).
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.needs_cut && !self.cut_to(self.len) {
            return Err(io::Error::other(format!(
                "{}: a failed append could not be cut off; writes wait until it can",
                self.path.display()
            )));
        }
        if let Err(err) = self.file.write_all(bytes) {
            self.cut_to(self.len);
            return Err(err);
        }
        self.len += bytes.len() as u64;
        self.reserved_to = self.reserved_to.max(self.len);
        Ok(())
    }

    /// Take back appends made after the log was `len` bytes long (their
    /// sync failed, say). A cut that fails is retried by the next append.
    pub(crate) fn undo_to(&mut self, len: u64) {
        if len < self.len {
            self.len = len;
            self.cut_to(len);
        }
    }

    /// Cut the file to `len` so the next append starts at a frame boundary;
    /// `false` (and logged) if that failed.
    fn cut_to(&mut self, len: u64) -> bool {
        let cut = self
            .file
            .set_len(len)
            .and_then(|()| self.file.seek(SeekFrom::Start(len)).map(drop));
        // The cut released any blocks reserved past the end.
        self.reserved_to = len;
        match cut {
            Ok(()) => {
                self.needs_cut = false;
                true
            }
            Err(err) => {
                tracing::error!(path = %self.path.display(), error = %err, "could not cut a failed append");
                self.needs_cut = true;
                false
            }
        }
    }

    /// Reserve disk blocks for the next `bytes` bytes of appends, so they
    /// cannot fail for lack of space (the file size stays; see
    /// [`sys::reserve_blocks`]). Reserves a margin ahead when the disk has
    /// room for it. Where the filesystem cannot reserve blocks past the end
    /// of a file this does nothing, and appends allocate as they go.
    ///
    /// # Errors
    /// `StorageFull` when the disk has no room for `bytes`; other I/O errors.
    pub(crate) fn reserve(&mut self, bytes: u64) -> io::Result<()> {
        let end = self.len.saturating_add(bytes);
        if end <= self.reserved_to {
            return Ok(());
        }
        let ahead = end.saturating_add(RESERVE_AHEAD_BYTES);
        let reserved = match sys::reserve_blocks(&self.file, self.len, ahead - self.len, true) {
            Ok(done) => Ok(done.then_some(ahead)),
            Err(err) if err.kind() == io::ErrorKind::StorageFull => {
                sys::reserve_blocks(&self.file, self.len, bytes, true)
                    .map(|done| done.then_some(end))
            }
            Err(err) => Err(err),
        };
        match reserved {
            Ok(to) => {
                self.reserved_to = to.unwrap_or(self.len);
                Ok(())
            }
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!(
                    "{}: cannot reserve {bytes} bytes of disk: {err}",
                    self.path.display()
                ),
            )),
        }
    }

    /// fsync the log's data.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Drop every frame, keeping the first `keep` bytes (a header, or 0).
    pub(crate) fn reset(&mut self, keep: u64, sync: bool) -> io::Result<()> {
        self.file.set_len(keep)?;
        self.file.seek(SeekFrom::Start(keep))?;
        self.len = keep;
        self.needs_cut = false;
        // The truncation released any blocks reserved past the end.
        self.reserved_to = keep;
        if sync {
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// Current length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The file, for positional reads.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Path of the log.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests;
