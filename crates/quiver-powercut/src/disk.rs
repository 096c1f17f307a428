//! The simulated disk: what the running system sees (volatile) and what
//! would survive a power cut (durable).
//!
//! Both are trees of inodes keyed by inode number. Every operation changes
//! only the volatile tree. `fsync` of a file copies that file's content and
//! attributes into the durable tree; `fsync` of a directory copies its
//! entries (an entry naming an inode the durable tree lacks brings that
//! inode in empty: its data becomes durable only through its own fsync).
//! A cut replaces the volatile tree by the durable one.
//!
//! Inode numbers are never reused, so a kernel reference that outlives a
//! cut or an unlink can never reach a different file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

use fuser::{Errno, FileType};

use crate::content::Content;

/// Inode number of the root directory (fixed by FUSE).
pub(crate) const ROOT: u64 = 1;

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    File(Content),
    Dir(BTreeMap<OsString, u64>),
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) perm: u16,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) atime: SystemTime,
    pub(crate) mtime: SystemTime,
    pub(crate) ctime: SystemTime,
}

impl Node {
    fn new(kind: Kind, perm: u16, uid: u32, gid: u32) -> Node {
        let now = SystemTime::now();
        Node {
            kind,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    /// The same inode with nothing durable in it yet: what a directory
    /// fsync exposes for an entry whose inode was never fsynced.
    fn emptied(&self) -> Node {
        let kind = match self.kind {
            Kind::File(_) => Kind::File(Content::default()),
            Kind::Dir(_) => Kind::Dir(BTreeMap::new()),
        };
        Node {
            kind,
            ..self.clone()
        }
    }

    pub(crate) fn file_type(&self) -> FileType {
        match self.kind {
            Kind::File(_) => FileType::RegularFile,
            Kind::Dir(_) => FileType::Directory,
        }
    }
}

/// Counters of what the disk has seen, for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// `write` requests applied.
    pub writes: u64,
    /// File fsyncs (including fdatasync and msync(MS_SYNC)).
    pub file_syncs: u64,
    /// Directory fsyncs.
    pub dir_syncs: u64,
    /// Power cuts.
    pub cuts: u64,
    /// Requests refused because the power was off.
    pub refused: u64,
}

pub(crate) struct Disk {
    volatile: HashMap<u64, Node>,
    durable: HashMap<u64, Node>,
    /// Link count of each volatile inode (names pointing at it).
    links: HashMap<u64, u32>,
    /// Open handles per volatile inode; an unlinked inode lives until 0.
    open: HashMap<u64, u32>,
    next_ino: u64,
    pub(crate) stats: DiskStats,
}

pub(crate) type Res<T> = Result<T, Errno>;

/// Permission bits and owner of a node being created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Owner {
    pub(crate) perm: u16,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

#[cfg(test)]
impl Owner {
    fn root(perm: u16) -> Owner {
        Owner {
            perm,
            uid: 0,
            gid: 0,
        }
    }
}

impl Disk {
    pub(crate) fn new(uid: u32, gid: u32) -> Disk {
        let root = Node::new(Kind::Dir(BTreeMap::new()), 0o755, uid, gid);
        let mut volatile = HashMap::new();
        volatile.insert(ROOT, root);
        let durable = volatile.clone();
        Disk {
            volatile,
            durable,
            links: HashMap::from([(ROOT, 1)]),
            open: HashMap::new(),
            next_ino: ROOT + 1,
            stats: DiskStats::default(),
        }
    }

    pub(crate) fn node(&self, ino: u64) -> Res<&Node> {
        self.volatile.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: u64) -> Res<&mut Node> {
        self.volatile.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    pub(crate) fn links(&self, ino: u64) -> u32 {
        self.links.get(&ino).copied().unwrap_or(0)
    }

    fn dir(&self, ino: u64) -> Res<&BTreeMap<OsString, u64>> {
        match &self.node(ino)?.kind {
            Kind::Dir(entries) => Ok(entries),
            Kind::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Res<&mut BTreeMap<OsString, u64>> {
        let node = self.node_mut(ino)?;
        node.mtime = SystemTime::now();
        node.ctime = node.mtime;
        match &mut node.kind {
            Kind::Dir(entries) => Ok(entries),
            Kind::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Res<&mut Content> {
        let node = self.node_mut(ino)?;
        node.mtime = SystemTime::now();
        node.ctime = node.mtime;
        match &mut node.kind {
            Kind::File(content) => Ok(content),
            Kind::Dir(_) => Err(Errno::EISDIR),
        }
    }

    pub(crate) fn content(&self, ino: u64) -> Res<&Content> {
        match &self.node(ino)?.kind {
            Kind::File(content) => Ok(content),
            Kind::Dir(_) => Err(Errno::EISDIR),
        }
    }

    pub(crate) fn lookup(&self, parent: u64, name: &OsStr) -> Res<u64> {
        self.dir(parent)?.get(name).copied().ok_or(Errno::ENOENT)
    }

    pub(crate) fn entries(&self, dir: u64) -> Res<Vec<(OsString, u64)>> {
        Ok(self
            .dir(dir)?
            .iter()
            .map(|(name, ino)| (name.clone(), *ino))
            .collect())
    }

    /// Create `name` in `parent` (a file when `dir` is false).
    pub(crate) fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        dir: bool,
        owner: Owner,
    ) -> Res<u64> {
        if self.dir(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let kind = if dir {
            Kind::Dir(BTreeMap::new())
        } else {
            Kind::File(Content::default())
        };
        self.volatile
            .insert(ino, Node::new(kind, owner.perm, owner.uid, owner.gid));
        self.links.insert(ino, 1);
        self.dir_mut(parent)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// Remove `name` from `parent`; `dir` says which kind the caller expects.
    pub(crate) fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Res<()> {
        let ino = self.lookup(parent, name)?;
        match (&self.node(ino)?.kind, dir) {
            (Kind::Dir(entries), true) if !entries.is_empty() => return Err(Errno::ENOTEMPTY),
            (Kind::Dir(_), false) => return Err(Errno::EISDIR),
            (Kind::File(_), true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.dir_mut(parent)?.remove(name);
        self.unlink_ino(ino);
        Ok(())
    }

    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Res<()> {
        let ino = self.lookup(parent, name)?;
        self.dir(new_parent)?;
        let source_is_dir = matches!(self.node(ino)?.kind, Kind::Dir(_));
        if source_is_dir && self.is_within(new_parent, ino) {
            return Err(Errno::EINVAL);
        }
        if let Some(&target) = self.dir(new_parent)?.get(new_name) {
            if target == ino {
                return Ok(());
            }
            if no_replace {
                return Err(Errno::EEXIST);
            }
            match (&self.node(target)?.kind, source_is_dir) {
                (Kind::Dir(entries), true) if !entries.is_empty() => {
                    return Err(Errno::ENOTEMPTY);
                }
                (Kind::Dir(_), false) => return Err(Errno::EISDIR),
                (Kind::File(_), true) => return Err(Errno::ENOTDIR),
                _ => {}
            }
            self.unlink_ino(target);
        }
        self.dir_mut(parent)?.remove(name);
        self.dir_mut(new_parent)?.insert(new_name.to_owned(), ino);
        Ok(())
    }

    /// True when `dir` is `ancestor` or lies below it.
    fn is_within(&self, dir: u64, ancestor: u64) -> bool {
        let mut stack = vec![ancestor];
        while let Some(at) = stack.pop() {
            if at == dir {
                return true;
            }
            if let Some(Node {
                kind: Kind::Dir(entries),
                ..
            }) = self.volatile.get(&at)
            {
                stack.extend(entries.values().copied());
            }
        }
        false
    }

    fn unlink_ino(&mut self, ino: u64) {
        let left = self.links.get(&ino).copied().unwrap_or(1).saturating_sub(1);
        self.links.insert(ino, left);
        self.release_if_unused(ino);
    }

    fn release_if_unused(&mut self, ino: u64) {
        if self.links(ino) > 0 || self.open.get(&ino).copied().unwrap_or(0) > 0 {
            return;
        }
        self.volatile.remove(&ino);
        self.links.remove(&ino);
        self.open.remove(&ino);
        if !self.durably_named(ino) {
            self.durable.remove(&ino);
        }
    }

    fn durably_named(&self, ino: u64) -> bool {
        self.durable.values().any(|node| match &node.kind {
            Kind::Dir(entries) => entries.values().any(|&i| i == ino),
            Kind::File(_) => false,
        })
    }

    pub(crate) fn opened(&mut self, ino: u64) -> Res<()> {
        self.node(ino)?;
        *self.open.entry(ino).or_insert(0) += 1;
        Ok(())
    }

    pub(crate) fn released(&mut self, ino: u64) {
        if let Some(count) = self.open.get_mut(&ino) {
            *count = count.saturating_sub(1);
        }
        if self.volatile.contains_key(&ino) {
            self.release_if_unused(ino);
        }
    }

    pub(crate) fn write(&mut self, ino: u64, offset: u64, data: &[u8], append: bool) -> Res<()> {
        let content = self.file_mut(ino)?;
        let offset = if append { content.len() } else { offset };
        content.write(offset, data);
        self.stats.writes += 1;
        Ok(())
    }

    pub(crate) fn set_len(&mut self, ino: u64, len: u64) -> Res<()> {
        self.file_mut(ino)?.set_len(len);
        Ok(())
    }

    pub(crate) fn zero_range(&mut self, ino: u64, offset: u64, len: u64) -> Res<()> {
        self.file_mut(ino)?.zero_range(offset, len);
        Ok(())
    }

    pub(crate) fn set_attrs(
        &mut self,
        ino: u64,
        perm: Option<u16>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Res<()> {
        let node = self.node_mut(ino)?;
        if let Some(perm) = perm {
            node.perm = perm;
        }
        if let Some(atime) = atime {
            node.atime = atime;
        }
        if let Some(mtime) = mtime {
            node.mtime = mtime;
        }
        node.ctime = SystemTime::now();
        Ok(())
    }

    /// fsync / fdatasync of a file: its data, length and attributes.
    pub(crate) fn sync_file(&mut self, ino: u64) -> Res<()> {
        let node = self.node(ino)?.clone();
        match self.durable.get_mut(&ino) {
            // A directory's entries become durable only through its own fsync.
            Some(old) if matches!(node.kind, Kind::Dir(_)) => {
                let entries = std::mem::replace(&mut old.kind, Kind::Dir(BTreeMap::new()));
                *old = Node {
                    kind: entries,
                    ..node
                };
            }
            Some(old) => *old = node,
            None => {
                let inserted = if matches!(node.kind, Kind::Dir(_)) {
                    node.emptied()
                } else {
                    node
                };
                self.durable.insert(ino, inserted);
            }
        }
        self.stats.file_syncs += 1;
        Ok(())
    }

    /// fsync of a directory: the names in it, as they are now.
    pub(crate) fn sync_dir(&mut self, ino: u64) -> Res<()> {
        let node = self.node(ino)?.clone();
        let Kind::Dir(entries) = &node.kind else {
            return self.sync_file(ino);
        };
        for child in entries.values() {
            if !self.durable.contains_key(child) {
                let empty = self.node(*child)?.emptied();
                self.durable.insert(*child, empty);
            }
        }
        self.durable.insert(ino, node);
        let live: HashSet<u64> = self.volatile.keys().copied().collect();
        self.collect_durable(&live);
        self.stats.dir_syncs += 1;
        Ok(())
    }

    /// Drop durable inodes no durable name reaches and no live inode needs.
    fn collect_durable(&mut self, keep: &HashSet<u64>) {
        let reachable = reachable(&self.durable);
        self.durable
            .retain(|ino, _| reachable.contains(ino) || keep.contains(ino));
    }

    /// Power cut: the volatile tree becomes the durable one.
    pub(crate) fn cut(&mut self) {
        self.collect_durable(&HashSet::new());
        self.volatile = self.durable.clone();
        self.open.clear();
        self.links.clear();
        for node in self.volatile.values() {
            if let Kind::Dir(entries) = &node.kind {
                for child in entries.values() {
                    *self.links.entry(*child).or_insert(0) += 1;
                }
            }
        }
        self.links.insert(ROOT, 1);
        self.stats.cuts += 1;
    }
}

fn reachable(tree: &HashMap<u64, Node>) -> HashSet<u64> {
    let mut seen = HashSet::from([ROOT]);
    let mut stack = vec![ROOT];
    while let Some(at) = stack.pop() {
        if let Some(Node {
            kind: Kind::Dir(entries),
            ..
        }) = tree.get(&at)
        {
            for child in entries.values() {
                if seen.insert(*child) {
                    stack.push(*child);
                }
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn read_all(disk: &Disk, ino: u64) -> Vec<u8> {
        let content = disk.content(ino).expect("a file");
        content.read(0, content.len() as usize)
    }

    #[test]
    fn synced_file_in_synced_dir_survives_and_later_writes_do_not() {
        let mut d = Disk::new(0, 0);
        let f = d
            .create(ROOT, name("a"), false, Owner::root(0o644))
            .expect("create");
        d.write(f, 0, b"hello", false).expect("write");
        d.sync_file(f).expect("fsync");
        d.sync_dir(ROOT).expect("fsync dir");
        d.write(f, 5, b" world", false).expect("write");
        d.cut();
        let f = d.lookup(ROOT, name("a")).expect("name is durable");
        assert_eq!(read_all(&d, f), b"hello");
    }

    #[test]
    fn dir_sync_without_file_sync_exposes_an_empty_file() {
        let mut d = Disk::new(0, 0);
        let f = d
            .create(ROOT, name("a"), false, Owner::root(0o644))
            .expect("create");
        d.write(f, 0, b"data", false).expect("write");
        d.sync_dir(ROOT).expect("fsync dir");
        d.cut();
        let f = d.lookup(ROOT, name("a")).expect("name is durable");
        assert_eq!(read_all(&d, f), b"");
    }

    #[test]
    fn unlinked_open_file_lives_until_released_but_its_name_comes_back_on_cut() {
        let mut d = Disk::new(0, 0);
        let f = d
            .create(ROOT, name("a"), false, Owner::root(0o644))
            .expect("create");
        d.write(f, 0, b"x", false).expect("write");
        d.sync_file(f).expect("fsync");
        d.sync_dir(ROOT).expect("fsync dir");
        d.opened(f).expect("open");
        d.remove(ROOT, name("a"), false).expect("unlink");
        assert_eq!(read_all(&d, f), b"x");
        d.released(f);
        assert!(d.node(f).is_err());
        d.cut();
        let f = d.lookup(ROOT, name("a")).expect("unlink was not durable");
        assert_eq!(read_all(&d, f), b"x");
    }

    #[test]
    fn removing_a_durable_name_then_syncing_the_dir_frees_the_inode() {
        let mut d = Disk::new(0, 0);
        let f = d
            .create(ROOT, name("a"), false, Owner::root(0o644))
            .expect("create");
        d.sync_dir(ROOT).expect("fsync dir");
        d.remove(ROOT, name("a"), false).expect("unlink");
        d.sync_dir(ROOT).expect("fsync dir");
        assert!(!d.durable.contains_key(&f));
        d.cut();
        assert_eq!(d.lookup(ROOT, name("a")), Err(Errno::ENOENT));
    }

    #[test]
    fn rename_rules() {
        let mut d = Disk::new(0, 0);
        let dir = d
            .create(ROOT, name("d"), true, Owner::root(0o755))
            .expect("mkdir");
        d.create(dir, name("x"), false, Owner::root(0o644))
            .expect("create");
        assert_eq!(
            d.rename(ROOT, name("d"), dir, name("inside"), false),
            Err(Errno::EINVAL)
        );
        let f = d
            .create(ROOT, name("f"), false, Owner::root(0o644))
            .expect("create");
        assert_eq!(
            d.rename(ROOT, name("f"), ROOT, name("d"), false),
            Err(Errno::EISDIR)
        );
        assert_eq!(
            d.rename(ROOT, name("f"), dir, name("x"), true),
            Err(Errno::EEXIST)
        );
        d.rename(ROOT, name("f"), dir, name("x"), false)
            .expect("replace");
        assert_eq!(d.lookup(dir, name("x")), Ok(f));
        assert_eq!(d.remove(ROOT, name("d"), true), Err(Errno::ENOTEMPTY));
    }
}
