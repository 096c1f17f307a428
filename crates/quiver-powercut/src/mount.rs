//! The test's handle on a mounted disk: mount, cut, remount, skip.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::disk::DiskStats;

/// Set to `1` to make [`PowerCutFs::mount_or_skip`] fail instead of
/// skipping when FUSE cannot be mounted (for CI, where the tests must run).
pub const REQUIRE_ENV: &str = "QUIVER_POWERCUT_REQUIRE";

/// An in-memory disk that loses every change not made durable when the
/// power is cut, served over FUSE by the `powercut-fs` binary of this crate.
///
/// What is durable: a file's data, length and attributes after `fsync` or
/// `fdatasync` of that file (`msync(MS_SYNC)` of a shared mapping reaches
/// it as writes then fsync); a directory's entries (created, renamed,
/// removed names) after `fsync` of the directory. A name made durable
/// before its file was fsynced comes back naming an empty file. Nothing
/// else is: not `close`, not `rename`, not an unmount.
pub struct PowerCutFs {
    server: PathBuf,
}

impl PowerCutFs {
    /// Disks served by the `powercut-fs` binary at `server` (an integration
    /// test of this crate passes `env!("CARGO_BIN_EXE_powercut-fs")`).
    pub fn new(server: impl Into<PathBuf>) -> PowerCutFs {
        PowerCutFs {
            server: server.into(),
        }
    }

    /// Mount an empty disk at `mountpoint` (an existing empty directory).
    ///
    /// # Errors
    /// The server cannot start, or its mount error (`/dev/fuse` missing, not
    /// permitted, no `fusermount3` for an unprivileged user).
    pub fn mount(&self, mountpoint: impl AsRef<Path>) -> io::Result<Mounted> {
        let mountpoint = mountpoint.as_ref().to_owned();
        let mut child = Command::new(&self.server)
            .arg(&mountpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("starting {}: {e}", self.server.display()))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("the server's pipes were not set up"));
        };
        let mut mounted = Mounted {
            server: child,
            commands: stdin,
            replies: BufReader::new(stdout),
            mountpoint,
            closed: false,
        };
        match mounted.reply()?.as_str() {
            "ready" => Ok(mounted),
            other => Err(io::Error::other(format!(
                "mounting {}: {}",
                mounted.mountpoint.display(),
                other.strip_prefix("error ").unwrap_or(other)
            ))),
        }
    }

    /// [`PowerCutFs::mount`], or `None` after printing why the caller's test
    /// is skipped when this host cannot mount FUSE. With
    /// [`REQUIRE_ENV`]`=1` the failure is a panic instead.
    ///
    /// # Panics
    /// When the mount fails and [`REQUIRE_ENV`] is `1`.
    pub fn mount_or_skip(&self, mountpoint: impl AsRef<Path>, test: &str) -> Option<Mounted> {
        let reason = if !Path::new("/dev/fuse").exists() {
            "/dev/fuse does not exist".to_owned()
        } else {
            match self.mount(&mountpoint) {
                Ok(mounted) => return Some(mounted),
                Err(err) => format!("mounting FUSE failed: {err}"),
            }
        };
        if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
            panic!("{test}: {reason} (and {REQUIRE_ENV}=1)");
        }
        eprintln!(
            "SKIPPED {test}: {reason}; run scripts/setup-fuse.sh, or set {REQUIRE_ENV}=1 to fail instead"
        );
        None
    }
}

/// A mounted [`PowerCutFs`]. Dropping it unmounts (also while unwinding
/// from a panic, and if the test process dies: the server unmounts when
/// its stdin closes).
pub struct Mounted {
    server: Child,
    commands: ChildStdin,
    replies: BufReader<ChildStdout>,
    mountpoint: PathBuf,
    /// The server was told to quit (by [`Mounted::unmount`]).
    closed: bool,
}

impl Mounted {
    /// Where the disk is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Cut the power: every change not made durable is dropped, and until
    /// [`Mounted::remount`] every request fails with `EIO` and changes
    /// nothing. Kill the writing processes first (see
    /// [`Mounted::kill_and_cut`]), or whatever they do next fails.
    ///
    /// # Errors
    /// The server is gone.
    pub fn cut(&mut self) -> io::Result<()> {
        self.command("cut").map(drop)
    }

    /// Unmount (which drops the kernel's caches of the mount) and mount the
    /// disk again with the power on. Every file under the mount must be
    /// closed (and every mapping unmapped) first.
    ///
    /// # Errors
    /// The unmount or mount error; `EBUSY` when something under the mount
    /// is still open.
    pub fn remount(&mut self) -> io::Result<()> {
        self.command("remount").map(drop)
    }

    /// The whole power-cut sequence: SIGKILL `writer` and wait until it is
    /// gone (so it holds nothing open), cut, remount.
    ///
    /// # Errors
    /// Killing or waiting for `writer`, [`Mounted::cut`] or [`Mounted::remount`].
    pub fn kill_and_cut(&mut self, writer: &mut Child) -> io::Result<()> {
        // Killing an exited child is not an error; waiting reaps it.
        writer.kill()?;
        writer.wait()?;
        self.cut()?;
        self.remount()
    }

    /// What the disk has seen so far.
    ///
    /// # Errors
    /// The server is gone or answered nonsense.
    pub fn stats(&mut self) -> io::Result<DiskStats> {
        let reply = self.command("stats")?;
        let numbers: Vec<u64> = reply
            .split_ascii_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        let [writes, file_syncs, dir_syncs, cuts, refused] = numbers[..] else {
            return Err(io::Error::other(format!("bad stats reply {reply:?}")));
        };
        Ok(DiskStats {
            writes,
            file_syncs,
            dir_syncs,
            cuts,
            refused,
        })
    }

    /// Unmount now, reporting what `Drop` would only print.
    ///
    /// # Errors
    /// The server failed to unmount.
    pub fn unmount(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        writeln!(self.commands, "quit")?;
        self.commands.flush()?;
        let status = self.server.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "the server of {} failed to unmount ({status})",
                self.mountpoint.display()
            )))
        }
    }

    fn command(&mut self, command: &str) -> io::Result<String> {
        writeln!(self.commands, "{command}")?;
        self.commands.flush()?;
        let reply = self.reply()?;
        match reply.strip_prefix("error ") {
            Some(err) => Err(io::Error::other(format!("{command}: {err}"))),
            None => Ok(reply),
        }
    }

    fn reply(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.replies.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the server of {} exited", self.mountpoint.display()),
            ));
        }
        Ok(line.trim_end().to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown() {
            eprintln!("quiver-powercut: {err}");
        }
    }
}
