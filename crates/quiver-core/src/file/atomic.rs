//! Whole-file replacement that a crash can never leave half done: write a
//! sibling `*.new` file, fsync it, rename it over the target, fsync the
//! directory. Also the rewrite of a pair of files that must change together
//! ([`PairRewrite`]), and durable directory creation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Atomically replace `path` with `bytes`.
///
/// With `sync == false` the fsyncs are skipped (the rename is still atomic
/// with respect to a killed process, not to a power loss).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    write_atomic_with(path, sync, |out| out.write_all(bytes))
}

/// [`write_atomic`] for content produced as a stream: `fill` writes the
/// whole new content into a buffered writer over the temporary file.
pub(crate) fn write_atomic_with(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = with_suffix(path, ".new");
    let written = File::create(&tmp).and_then(|file| {
        let mut out = BufWriter::with_capacity(256 << 10, file);
        fill(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    });
    if let Err(err) = written.and_then(|()| replace(&tmp, path)) {
        // A half-written temporary file would only hold disk space (a full
        // disk is the usual cause); the target is untouched.
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    if sync {
        sync_parent(path)?;
    }
    Ok(())
}

/// Create (or truncate) `path` with `bytes` and fsync it when `sync`.
pub(crate) fn write_synced(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

/// Rename `from` over `to`.
///
/// Where a rename cannot replace an existing file (Windows with the target
/// open), the target is first moved to `to.bak`, which open-time repair
/// resolves ([`repair_bak`]).
pub(crate) fn replace(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(err) if cfg!(windows) && to.exists() => {
            let bak = with_suffix(to, ".bak");
            fs::rename(to, &bak).map_err(|_| err)?;
            fs::rename(from, to)?;
            fs::remove_file(&bak)
        }
        Err(err) => Err(err),
    }
}

/// Resolve a `to.bak` left by an interrupted [`replace`]: if the target is
/// missing the replacement never happened and the backup is restored,
/// otherwise the backup is stale and removed.
pub(crate) fn repair_bak(target: &Path) -> io::Result<()> {
    let bak = with_suffix(target, ".bak");
    if bak.exists() {
        if target.exists() {
            tracing::warn!(path = %bak.display(), "removing stale backup of a finished replacement");
            fs::remove_file(&bak)?;
        } else {
            tracing::warn!(path = %bak.display(), "restoring backup of an interrupted replacement");
            fs::rename(&bak, target)?;
        }
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// fsync the directory holding `path`, so renames and creations in it are durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// fsync a directory. A no-op where directories cannot be opened as files.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

/// `fs::create_dir_all`, durably: every directory it creates has its parent
/// fsynced afterwards, so a power loss cannot take away a directory (and
/// everything later made durable inside it) whose creation was reported.
pub(crate) fn create_dir_all_durable(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at);
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => break,
        }
    }
    for created in missing.into_iter().rev() {
        match fs::create_dir(created) {
            Ok(()) => {}
            // Another thread or process made it meanwhile: still sync its parent.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && created.is_dir() => {}
            Err(err) => return Err(err),
        }
        sync_parent(created)?;
    }
    Ok(())
}

/// The rewrite of two files that change together, a primary (the data) and
/// a secondary (its index), each first written in full to a `*.tmp`
/// sibling and fsynced by the caller. The rename of the primary's temporary
/// file is the commit point:
///
/// | on disk after a crash | meaning | [`PairRewrite::repair`] |
/// |---|---|---|
/// | primary `.tmp` (and maybe secondary `.tmp`) | not committed | delete both temporaries |
/// | secondary `.tmp` only | committed, secondary not yet renamed | rename it in |
/// | neither | done, or never started | nothing |
///
/// A `.bak` of either file (see [`replace`]) is resolved first, and a stale
/// `*.new` of the secondary (from [`write_atomic`]) is removed.
pub(crate) struct PairRewrite {
    dir: PathBuf,
    primary: PathBuf,
    secondary: PathBuf,
}

impl PairRewrite {
    /// The pair `dir/primary`, `dir/secondary`. Does no I/O.
    pub(crate) fn new(dir: &Path, primary: &str, secondary: &str) -> Self {
        Self {
            dir: dir.to_owned(),
            primary: dir.join(primary),
            secondary: dir.join(secondary),
        }
    }

    /// Where the new primary is written before the commit.
    pub(crate) fn primary_tmp(&self) -> PathBuf {
        with_suffix(&self.primary, ".tmp")
    }

    /// Where the new secondary is written before the commit.
    pub(crate) fn secondary_tmp(&self) -> PathBuf {
        with_suffix(&self.secondary, ".tmp")
    }

    /// The commit point: rename the new primary over the old one.
    pub(crate) fn commit(&self) -> io::Result<()> {
        replace(&self.primary_tmp(), &self.primary)
    }

    /// After [`PairRewrite::commit`]: rename the new secondary in and fsync
    /// the directory, after which both renames are durable.
    pub(crate) fn finish(&self) -> io::Result<()> {
        replace(&self.secondary_tmp(), &self.secondary)?;
        sync_dir(&self.dir)
    }

    /// Bring the pair back to a consistent state after an interrupted
    /// rewrite (see the table on the type). Runs before either file is read.
    pub(crate) fn repair(&self) -> io::Result<()> {
        repair_bak(&self.primary)?;
        repair_bak(&self.secondary)?;
        let primary_tmp = self.primary_tmp();
        let secondary_tmp = self.secondary_tmp();
        if primary_tmp.exists() {
            tracing::warn!(path = %self.primary.display(), "rewrite did not commit; discarding its files");
            remove_if_exists(&primary_tmp)?;
            remove_if_exists(&secondary_tmp)?;
            sync_dir(&self.dir)?;
        } else if secondary_tmp.exists() {
            tracing::warn!(path = %self.secondary.display(), "rewrite committed; promoting its new file");
            replace(&secondary_tmp, &self.secondary)?;
            sync_dir(&self.dir)?;
        }
        // A checkpoint's own temporary file never holds anything needed.
        remove_if_exists(&with_suffix(&self.secondary, ".new"))
    }
}

/// Remove `path` if it exists.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", true).unwrap();
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!dir.path().join("f.new").exists());
    }

    #[test]
    fn create_dir_all_durable_makes_every_missing_level() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a").join("b").join("c");
        create_dir_all_durable(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_all_durable(&deep).unwrap();
        fs::write(dir.path().join("file"), b"x").unwrap();
        assert!(create_dir_all_durable(&dir.path().join("file").join("d")).is_err());
    }

    #[test]
    fn repair_bak_restores_or_removes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(with_suffix(&p, ".bak"), b"old").unwrap();
        repair_bak(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        fs::write(with_suffix(&p, ".bak"), b"older").unwrap();
        repair_bak(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert!(!with_suffix(&p, ".bak").exists());
    }

    #[test]
    fn pair_rewrite_repair_drops_an_uncommitted_rewrite_and_finishes_a_committed_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let pair = PairRewrite::new(d, "data", "index");
        let write = |name: &str, text: &str| fs::write(d.join(name), text).unwrap();
        let read = |name: &str| fs::read_to_string(d.join(name)).ok();
        let both = |data: &str, index: &str| {
            assert_eq!(read("data").as_deref(), Some(data));
            assert_eq!(read("index").as_deref(), Some(index));
        };
        let stage = |data: &str, index: &str| {
            write("data.tmp", data);
            write("index.tmp", index);
        };
        write("data", "old data");
        write("index", "old index");

        // Crash before the commit: both temporaries go, the old pair stays.
        stage("new data", "new index");
        pair.repair().unwrap();
        both("old data", "old index");
        assert!(read("data.tmp").is_none() && read("index.tmp").is_none());

        // Crash after the commit: the new index is promoted.
        stage("new data", "new index");
        pair.commit().unwrap();
        write("index.new", "a checkpoint's leftover");
        pair.repair().unwrap();
        both("new data", "new index");
        assert!(read("index.tmp").is_none() && read("index.new").is_none());

        // A finished rewrite leaves nothing to repair.
        stage("newer data", "newer index");
        pair.commit().unwrap();
        pair.finish().unwrap();
        pair.repair().unwrap();
        both("newer data", "newer index");
    }

    #[test]
    fn write_atomic_with_streams_and_a_failed_fill_leaves_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic_with(&p, true, |out| out.write_all(b"streamed")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"streamed");
        let failed = write_atomic_with(&p, true, |out| {
            out.write_all(b"partial")?;
            Err(io::Error::other("fill failed"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"streamed");
        assert!(!dir.path().join("f.new").exists());
    }
}
