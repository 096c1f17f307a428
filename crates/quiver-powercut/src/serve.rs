//! The server process: mounts the disk and obeys the test's commands.
//!
//! The filesystem must not be served from the process that uses it: a
//! thread unmapping a dirty shared mapping holds the process's memory-map
//! lock while it waits for the write-back, and the serving thread needs
//! that same lock the moment it allocates. So [`crate::Mounted`] runs
//! [`serve`] in a process of its own (`powercut-fs`) and talks to it over
//! stdin/stdout, one line per command: `cut`, `remount`, `stats`, `quit`.
//! The server unmounts and exits when its stdin closes, so a test that
//! dies leaves no mount behind.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use fuser::{BackgroundSession, Config, MountOption};
use parking_lot::Mutex;

use crate::disk::{Disk, DiskStats};
use crate::fs::{SessionFs, Shared};

/// The mounted disk, inside the server process.
struct Server {
    shared: Arc<Mutex<Shared>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

impl Server {
    /// Every change not made durable is dropped, and until the remount
    /// every request of the current mount fails with `EIO`.
    fn cut(&self) {
        let mut shared = self.shared.lock();
        shared.disk.cut();
        shared.powered = false;
        shared.epoch += 1;
    }

    /// Unmount (dropping the kernel's caches of the mount) and mount again
    /// with the power on.
    fn remount(&mut self) -> io::Result<()> {
        self.detach()?;
        {
            self.shared.lock().powered = true;
        }
        self.attach()
    }

    /// What the disk has seen so far.
    fn stats(&self) -> DiskStats {
        self.shared.lock().disk.stats
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
        // The mount is gone. The kernel ends the session's read of
        // /dev/fuse with ENODEV (which fuser takes as the end) or, when it
        // aborted the connection during the unmount (requests of the cut
        // mount still queued), with ECONNABORTED: an end as well, since the
        // disk lives in `shared`, not in the session.
        match session.join() {
            Err(err)
                if err.raw_os_error() == Some(rustix::io::Errno::CONNABORTED.raw_os_error()) =>
            {
                Ok(())
            }
            other => other,
        }
    }
}

impl Drop for Server {
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

/// Mount the disk at `mountpoint`, print `ready` (or `error <why>` and
/// fail), then obey commands from stdin until `quit` or end of input.
///
/// # Errors
/// The mount error, or a broken stdin/stdout.
pub fn serve(mountpoint: &Path) -> io::Result<()> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let shared = Arc::new(Mutex::new(Shared {
        disk: Disk::new(uid, gid),
        epoch: 0,
        powered: true,
    }));
    let mut server = Server {
        shared,
        mountpoint: mountpoint.to_owned(),
        session: None,
    };
    let mut out = io::stdout();
    if let Err(err) = server.attach() {
        writeln!(out, "error {err}")?;
        out.flush()?;
        return Err(err);
    }
    writeln!(out, "ready")?;
    out.flush()?;
    for line in io::stdin().lock().lines() {
        let reply = match line?.trim() {
            "cut" => {
                server.cut();
                "ok".to_owned()
            }
            "remount" => match server.remount() {
                Ok(()) => "ok".to_owned(),
                Err(err) => format!("error {err}"),
            },
            "stats" => {
                let s = server.stats();
                format!(
                    "stats {} {} {} {} {}",
                    s.writes, s.file_syncs, s.dir_syncs, s.cuts, s.refused
                )
            }
            "quit" => break,
            other => format!("error unknown command {other:?}"),
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    server.detach()
}
