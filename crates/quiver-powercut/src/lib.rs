//! A FUSE filesystem for power-loss tests, and Quiver's power-loss tests.
//!
//! Killing a process proves little about power loss: the kernel's page
//! cache keeps every write the process made, synced or not. [`PowerCutFs`]
//! keeps every change (writes, creates, renames, unlinks, truncates)
//! volatile until the program makes it durable the way POSIX says it must
//! (fsync of the file for its data and length, fsync of the directory for
//! its names), and on [`Mounted::cut`] throws away everything volatile.
//!
//! The disk lives in memory, as fixed-size blocks shared copy-on-write
//! between the volatile and the durable version of each file, so files of
//! a few hundred MiB cost memory only for what changed since their last
//! fsync.
//!
//! A test cuts power in this order ([`Mounted::kill_and_cut`]): SIGKILL the
//! writer and wait for it, cut (the state becomes exactly the durable one
//! and the dying mount is refused), unmount and mount again (the kernel's
//! page cache of the old mount goes with it), then open the files.
//!
//! | file | role |
//! |---|---|
//! | `cli.rs` | the drivers' `--flag value` arguments |
//! | `content.rs` | a file's bytes, in copy-on-write blocks |
//! | `disk.rs` | the volatile and durable trees, fsync and cut |
//! | `fs.rs` | FUSE requests onto the disk, refused after a cut |
//! | `serve.rs` | the `powercut-fs` server process: mount, cut, remount on command |
//! | `mount.rs` | [`PowerCutFs`], [`Mounted`]: the test's handle on a server |
//! | `workload.rs` | the writer's op lines and the values they stand for |
//! | `points.rs` | a collection's points as acknowledged writes left them, and judging what came back |
//! | `http.rs` | a real `quiver serve` process and an HTTP client of one collection |
//! | `server_cut.rs` | power cuts under `quiver serve`, driven over HTTP |
//! | `soak.rs` | a long mixed load on `quiver serve`, checked against its model |

pub mod cli;
mod content;
mod disk;
mod fs;
pub mod http;
mod mount;
pub mod points;
mod serve;
pub mod server_cut;
pub mod soak;
pub mod workload;

pub use disk::DiskStats;
pub use mount::{Mounted, PowerCutFs, REQUIRE_ENV};
pub use serve::serve;
