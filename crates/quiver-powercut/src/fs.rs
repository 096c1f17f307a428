//! The FUSE side: kernel requests translated into [`Disk`] operations.
//!
//! One [`SessionFs`] serves one mount. Every request first checks that the
//! power is on and that its mount is still the current one: after a cut,
//! whatever the dying mount still sends (write-back of dirty pages on
//! unmount, a late fsync) is refused with `EIO` and changes nothing.
//!
//! Entry and attribute replies carry a zero TTL and opens never ask the
//! kernel to keep its page cache, so the kernel asks again rather than
//! answering from a cache that a cut made stale.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use parking_lot::Mutex;

use crate::disk::{Disk, Kind, Owner, Res};

const TTL: Duration = Duration::ZERO;
/// File type bits of a mode, and the regular-file type (only files are created).
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;

/// The disk plus the power switch, shared by every mount of one [`crate::PowerCutFs`].
pub(crate) struct Shared {
    pub(crate) disk: Disk,
    /// Mount generation allowed to talk to the disk; bumped by every cut.
    pub(crate) epoch: u64,
    pub(crate) powered: bool,
}

pub(crate) struct SessionFs {
    pub(crate) shared: Arc<Mutex<Shared>>,
    pub(crate) epoch: u64,
}

impl SessionFs {
    /// Run `op` on the disk if this mount still has power.
    fn with_disk<T>(&self, op: impl FnOnce(&mut Disk) -> Res<T>) -> Res<T> {
        let mut shared = self.shared.lock();
        if !shared.powered || shared.epoch != self.epoch {
            shared.disk.stats.refused += 1;
            return Err(Errno::EIO);
        }
        op(&mut shared.disk)
    }

    /// Runs `op` on the disk and answers `reply` with its outcome.
    fn reply_empty(&self, reply: ReplyEmpty, op: impl FnOnce(&mut Disk) -> Res<()>) {
        match self.with_disk(op) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

fn attr(disk: &Disk, ino: u64) -> Res<FileAttr> {
    let node = disk.node(ino)?;
    let (size, allocated) = match &node.kind {
        Kind::File(content) => (content.len(), content.allocated_bytes()),
        Kind::Dir(entries) => (entries.len() as u64, 0),
    };
    Ok(FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: allocated / 512,
        atime: node.atime,
        mtime: node.mtime,
        ctime: node.ctime,
        crtime: node.ctime,
        kind: node.file_type(),
        perm: node.perm,
        nlink: disk.links(ino).max(1),
        uid: node.uid,
        gid: node.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn perm_bits(mode: u32, umask: u32) -> u16 {
    ((mode & !umask) & 0o7777) as u16
}

/// The owner and permission bits of a node the request creates.
fn owned(req: &Request, mode: u32, umask: u32) -> Owner {
    Owner {
        perm: perm_bits(mode, umask),
        uid: req.uid(),
        gid: req.gid(),
    }
}

impl Filesystem for SessionFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Full-size writes keep the request count down on large files.
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.with_disk(|d| attr(d, d.lookup(parent.0, name)?)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.with_disk(|d| attr(d, ino.0)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = self.with_disk(|d| {
            if let Some(size) = size {
                d.set_len(ino.0, size)?;
            }
            d.set_attrs(
                ino.0,
                mode.map(|m| perm_bits(m, 0)),
                atime.map(time),
                mtime.map(time),
            )?;
            attr(d, ino.0)
        });
        match result {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self.with_disk(|d| {
            let ino = d.create(parent.0, name, true, owned(req, mode, umask))?;
            attr(d, ino)
        });
        match result {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        if mode & S_IFMT != S_IFREG && mode & S_IFMT != 0 {
            reply.error(Errno::EOPNOTSUPP);
            return;
        }
        let result = self.with_disk(|d| {
            let ino = match d.lookup(parent.0, name) {
                Ok(_) if flags & rustix::fs::OFlags::EXCL.bits() as i32 != 0 => {
                    return Err(Errno::EEXIST);
                }
                Ok(ino) => ino,
                Err(_) => d.create(parent.0, name, false, owned(req, mode, umask))?,
            };
            if flags & rustix::fs::OFlags::TRUNC.bits() as i32 != 0 {
                d.set_len(ino, 0)?;
            }
            d.opened(ino)?;
            attr(d, ino)
        });
        match result {
            Ok(a) => reply.created(
                &TTL,
                &a,
                Generation(0),
                FileHandle(a.ino.0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.reply_empty(reply, |d| d.remove(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.reply_empty(reply, |d| d.remove(parent.0, name, true));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            reply.error(Errno::EINVAL);
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        self.reply_empty(reply, |d| {
            d.rename(parent.0, name, newparent.0, newname, no_replace)
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let result = self.with_disk(|d| {
            d.content(ino.0)?;
            if flags.0 & rustix::fs::OFlags::TRUNC.bits() as i32 != 0 {
                d.set_len(ino.0, 0)?;
            }
            d.opened(ino.0)
        });
        match result {
            Ok(()) => reply.opened(FileHandle(ino.0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.with_disk(|d| Ok(d.content(ino.0)?.read(offset, size as usize))) {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let append = flags.0 & rustix::fs::OFlags::APPEND.bits() as i32 != 0;
        match self.with_disk(|d| d.write(ino.0, offset, data, append)) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() is not a durability point.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // A release from a dead mount is answered but must not touch the
        // disk: its open count belongs to the tree the cut replaced.
        let _ = self.with_disk(|d| {
            d.released(ino.0);
            Ok(())
        });
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.reply_empty(reply, |d| d.sync_file(ino.0));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.with_disk(|d| d.entries(ino.0).map(|_| ())) {
            Ok(()) => reply.opened(FileHandle(ino.0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let result = self.with_disk(|d| {
            let mut listing = vec![
                (
                    OsStr::new(".").to_owned(),
                    ino.0,
                    fuser::FileType::Directory,
                ),
                (
                    OsStr::new("..").to_owned(),
                    ino.0,
                    fuser::FileType::Directory,
                ),
            ];
            for (name, child) in d.entries(ino.0)? {
                let kind = d.node(child)?.file_type();
                listing.push((name, child, kind));
            }
            Ok(listing)
        });
        match result {
            Ok(listing) => {
                for (i, (name, child, kind)) in
                    listing.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.reply_empty(reply, |d| d.sync_dir(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Report plenty of room: the disk is memory, bounded by the host.
        let blocks = 1u64 << 32;
        reply.statfs(blocks, blocks, blocks, 1 << 20, 1 << 20, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        self.reply_empty(reply, |d| d.node(ino.0).map(|_| ()));
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        use rustix::fs::FallocateFlags as F;
        let keep_size = F::KEEP_SIZE.bits() as i32;
        let punch = F::PUNCH_HOLE.bits() as i32 | keep_size;
        let result = self.with_disk(|d| {
            if mode == 0 {
                let end = offset + length;
                if end > d.content(ino.0)?.len() {
                    d.set_len(ino.0, end)?;
                }
                Ok(())
            } else if mode == keep_size {
                d.content(ino.0).map(|_| ())
            } else if mode == punch {
                d.zero_range(ino.0, offset, length)
            } else {
                Err(Errno::EOPNOTSUPP)
            }
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
