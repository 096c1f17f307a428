//! Mounting, cutting power and remounting.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use fuser::{BackgroundSession, Config, MountOption};
use parking_lot::Mutex;

use crate::disk::{Disk, DiskStats};
use crate::fs::{SessionFs, Shared};

/// Set to `1` to make [`PowerCutFs::mount_or_skip`] fail instead of
/// skipping when FUSE cannot be mounted (for CI, where the tests must run).
pub const REQUIRE_ENV: &str = "QUIVER_POWERCUT_REQUIRE";

/// An in-memory disk that loses every change not made durable when the
/// power is cut.
///
/// What is durable: a file's data, length and attributes after `fsync` or
/// `fdatasync` of that file (`msync(MS_SYNC)` of a shared mapping reaches
/// it as writes then fsync); a directory's entries (created, renamed,
/// removed names) after `fsync` of the directory. A name made durable
/// before its file was fsynced comes back naming an empty file. Nothing
/// else is: not `close`, not `rename`, not an unmount.
pub struct PowerCutFs;

impl PowerCutFs {
    /// Mount an empty disk at `mountpoint` (an existing empty directory).
    ///
    /// # Errors
    /// The mount error (`/dev/fuse` missing, not permitted, no
    /// `fusermount3` for an unprivileged user).
    pub fn mount(mountpoint: impl AsRef<Path>) -> io::Result<Mounted> {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let shared = Arc::new(Mutex::new(Shared {
            disk: Disk::new(uid, gid),
            epoch: 0,
            powered: true,
        }));
        let mut mounted = Mounted {
            shared,
            mountpoint: mountpoint.as_ref().to_owned(),
            session: None,
        };
        mounted.attach()?;
        Ok(mounted)
    }

    /// [`PowerCutFs::mount`], or `None` after printing why the caller's test
    /// is skipped when this host cannot mount FUSE. With
    /// [`REQUIRE_ENV`]`=1` the failure is a panic instead.
    ///
    /// # Panics
    /// When the mount fails and [`REQUIRE_ENV`] is `1`.
    pub fn mount_or_skip(mountpoint: impl AsRef<Path>, test: &str) -> Option<Mounted> {
        let reason = if !Path::new("/dev/fuse").exists() {
            "/dev/fuse does not exist".to_owned()
        } else {
            match PowerCutFs::mount(&mountpoint) {
                Ok(mounted) => return Some(mounted),
                Err(err) => format!("mounting FUSE failed: {err}"),
            }
        };
        if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
            panic!("{test}: {reason} (and {REQUIRE_ENV}=1)");
        }
        eprintln!("SKIPPED {test}: {reason}; run scripts/setup-fuse.sh, or set {REQUIRE_ENV}=1 to fail instead");
        None
    }
}

/// A mounted [`PowerCutFs`]. Dropping it unmounts (also while unwinding
/// from a panic).
pub struct Mounted {
    shared: Arc<Mutex<Shared>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
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
    pub fn cut(&self) {
        let mut shared = self.shared.lock();
        shared.disk.cut();
        shared.powered = false;
        shared.epoch += 1;
    }

    /// Unmount (which drops the kernel's caches of the mount) and mount the
    /// disk again with the power on. Every file under the mount must be
    /// closed (and every mapping unmapped) first.
    ///
    /// # Errors
    /// The unmount or mount error; `EBUSY` when something under the mount
    /// is still open.
    pub fn remount(&mut self) -> io::Result<()> {
        self.detach()?;
        {
            let mut shared = self.shared.lock();
            if !shared.powered {
                shared.powered = true;
            }
        }
        self.attach()
    }

    /// The whole power-cut sequence: SIGKILL `writer` and wait until it is
    /// gone (so it holds nothing open), cut, remount.
    ///
    /// # Errors
    /// Killing or waiting for `writer`, or [`Mounted::remount`].
    pub fn kill_and_cut(&mut self, writer: &mut Child) -> io::Result<()> {
        match writer.kill() {
            Ok(()) => {}
            // Already exited: there is nothing left to kill.
            Err(err) if err.kind() == io::ErrorKind::InvalidInput => {}
            Err(err) => return Err(err),
        }
        writer.wait()?;
        self.cut();
        self.remount()
    }

    /// What the disk has seen so far.
    pub fn stats(&self) -> DiskStats {
        self.shared.lock().disk.stats
    }

    /// Unmount now, reporting errors that `Drop` would only log.
    ///
    /// # Errors
    /// The unmount error.
    pub fn unmount(mut self) -> io::Result<()> {
        self.detach()
    }

    fn attach(&mut self) -> io::Result<()> {
        let epoch = self.shared.lock().epoch;
        let fs = SessionFs {
            shared: Arc::clone(&self.shared),
            epoch,
        };
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("quiver-powercut".to_owned()),
            MountOption::Subtype("powercut".to_owned()),
        ];
        self.session = Some(fuser::spawn_mount(fs, &self.mountpoint, &config)?);
        Ok(())
    }

    fn detach(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        // Closing a file does not wait for the kernel's release: a process
        // that just exited can keep the mount busy for a moment.
        let mut tries = 0;
        loop {
            match rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::empty()) {
                Ok(()) => break,
                Err(rustix::io::Errno::BUSY) if tries < 50 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(rustix::io::Errno::PERM) => {
                    // Unprivileged: fuser goes through fusermount.
                    return session.umount_and_join();
                }
                Err(errno) => {
                    self.session = Some(session);
                    return Err(io::Error::new(
                        io::Error::from(errno).kind(),
                        format!(
                            "unmounting {}: {errno} (is a file under it still open?)",
                            self.mountpoint.display()
                        ),
                    ));
                }
            }
        }
        session.join()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(err) = self.detach() {
            eprintln!("quiver-powercut: {err}; detaching lazily");
            let _ = rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::DETACH);
            // The session thread ends once the last user of the detached
            // mount lets go; it is not joined here, so a drop never hangs.
            if let Some(session) = self.session.take() {
                drop(session.guard);
            }
        }
    }
}
