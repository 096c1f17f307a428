//! A database: one directory holding named collections.
//!
//! ```text
//! <db>/quiver.json               manifest: format version + collection names
//! <db>/LOCK                      flocked by the one process that has it open
//! <db>/collections/<name>/       one collection (see `collection`)
//! <db>/dropped/<name>.<n>/       a deleted collection's files, being removed
//! ```
//!
//! # The manifest decides, and nothing is deleted on a guess
//!
//! The manifest is the commit point for creating and deleting collections.
//! It is only ever replaced whole (write `quiver.json.new`, fsync, rename,
//! fsync the directory), so a crash leaves the old or the new list. Because
//! a directory and the manifest cannot change in one step, each create and
//! delete first records its intent *inside the collection directory*, and
//! that record is durable before the manifest changes:
//!
//! - create: `mkdir collections/<name>`, write and fsync `.creating` in it
//!   (and fsync both directories), write the collection, name it in the
//!   manifest, remove `.creating`;
//! - delete: write and fsync `.dropping` in the directory, drop the name
//!   from the manifest, rename the directory to `dropped/<name>.<n>` (fsync
//!   both parents), remove it.
//!
//! [`Database::open`] resolves each record against the manifest: a named
//! directory with a record keeps its data and loses the record (the create
//! committed, or the delete never did); an unnamed directory with a record
//! is moved to `dropped/` and removed (the create never committed, or the
//! delete did); everything under `dropped/` is removed.
//!
//! A directory under `collections/` that the manifest does not name and
//! that carries no record is *not* ours to delete. No crash of this code
//! leaves one with content (an empty one is a create that crashed between
//! its `mkdir` and its marker, and is removed), so it came from somewhere
//! else: a restored backup, a copy, a lost manifest entry. Open leaves it
//! in place, logs a warning and lists it in [`Database::unnamed_entries`]
//! (`quiver check` reports it), as PostgreSQL leaves files it cannot place
//! in its data directory alone. A lost or unreadable manifest likewise
//! stops the open instead of being replaced by an empty one, as SQLite
//! reports a damaged file (`SQLITE_CORRUPT`, `SQLITE_NOTADB`) instead of
//! starting it afresh: [`Database::repair_manifest`] rebuilds it from each
//! collection directory's own `config.json`. Only a directory that is
//! brand new (no manifest and nothing under `collections/`) gets a fresh
//! manifest.
//!
//! # One process at a time
//!
//! The process that opens a database flocks the database directory itself
//! and the `LOCK` file. The directory's lock is what excludes a second
//! process even when `LOCK` is deleted or replaced (a new file is a new
//! inode, which nobody holds); `LOCK` is kept so the layout shows the
//! database is in use. Collections are opened lazily on first use and stay
//! open (shared through `Arc`) until the database is dropped; every open
//! collection holds the directory's lock too, so the exclusion ends only
//! when the last handle is gone.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::collection::{Collection, CollectionConfig, StoredConfig};
use crate::file::atomic::{create_dir_all_durable, remove_if_exists, repair_bak};
use crate::file::atomic::{sync_dir, sync_parent, write_atomic, write_synced};
use crate::{Error, Result};

/// Version of the `quiver.json` layout this build reads and writes.
const FORMAT_VERSION: u32 = 1;
const MANIFEST_FILE: &str = "quiver.json";
/// Where [`Database::repair_manifest`] keeps an unreadable manifest it replaced.
const DAMAGED_MANIFEST_FILE: &str = "quiver.json.damaged";
const LOCK_FILE: &str = "LOCK";
const COLLECTIONS_DIR: &str = "collections";
/// Deleted collection directories on their way out; everything here is garbage.
const DROPPED_DIR: &str = "dropped";
/// In a collection directory: a create in progress (see the module doc).
const CREATING_MARKER: &str = ".creating";
/// In a collection directory: a delete in progress (see the module doc).
const DROPPING_MARKER: &str = ".dropping";
/// Longest collection name, in bytes (a file name on every common filesystem).
const MAX_NAME_BYTES: usize = 255;

/// The `quiver.json` document.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format_version: u32,
    pub(crate) collections: BTreeSet<String>,
}

/// Names and open handles, under one lock so both change together.
struct Catalog {
    names: BTreeSet<String>,
    open: HashMap<String, Arc<Collection>>,
}

/// A directory of collections, held exclusively by this process.
///
/// `Send + Sync`: share it (or `Arc` it) between threads; every method takes
/// `&self`.
pub struct Database {
    dir: PathBuf,
    /// The lock every open collection holds (the directory's, see `take_locks`).
    lock: Arc<File>,
    _lock_file: File,
    catalog: RwLock<Catalog>,
    unnamed: Vec<PathBuf>,
}

/// What [`Database::repair_manifest`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestRepair {
    /// The collections the manifest names now, sorted.
    pub collections: Vec<String>,
    /// Those of them it did not name before (all of them when it was
    /// missing or unreadable), sorted.
    pub adopted: Vec<String>,
    /// Entries under `collections/` left out of the manifest, each with the
    /// reason (no readable, valid `config.json`, not a directory, a bad
    /// name). They are left where they are.
    pub skipped: Vec<(PathBuf, String)>,
    /// Where the unreadable manifest that was replaced now is.
    pub kept_damaged: Option<PathBuf>,
    /// Whether `quiver.json` was written.
    pub written: bool,
}

impl Database {
    /// Open the database in `dir` and take its locks; a directory that does
    /// not exist or is empty becomes a new, empty database.
    ///
    /// Resolves what an interrupted create or delete left (see the module
    /// doc). Directories under `collections/` the manifest does not name are
    /// never removed: they are logged and listed by
    /// [`Database::unnamed_entries`].
    ///
    /// # Errors
    /// [`Error::Locked`] if another handle (in this or another process) has
    /// the database open, after retrying for about 200 ms (a lock held by a
    /// process that just forked is released when the child execs);
    /// [`Error::Corrupt`] naming `quiver.json` when it is missing while
    /// `collections/` is not empty, unreadable, or of an unknown format
    /// version — nothing is changed then, and [`Database::repair_manifest`]
    /// rebuilds it; [`Error::Io`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Database> {
        Self::open_with(dir.as_ref(), true)
    }

    /// Like [`Database::open`], but never creates a database: a directory
    /// that does not exist, or holds no manifest and no collections, is an
    /// [`Error::Io`] of kind `NotFound`, and nothing is written.
    ///
    /// # Errors
    /// As [`Database::open`], plus the above.
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Database> {
        Self::open_with(dir.as_ref(), false)
    }

    fn open_with(dir: &Path, create: bool) -> Result<Database> {
        let dir = dir.to_owned();
        let manifest_path = dir.join(MANIFEST_FILE);
        if create {
            create_dir_all_durable(&dir.join(COLLECTIONS_DIR)).map_err(|e| Error::io(&dir, e))?;
        } else {
            require_dir(&dir)?;
            if is_new(&dir)? {
                return Err(no_database(&dir));
            }
        }
        let (lock, lock_file) = take_locks(&dir)?;
        repair_bak(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let manifest = match read_manifest(&dir)? {
            Some(manifest) => manifest,
            None if !is_new(&dir)? => return Err(missing_manifest(&dir)),
            None if !create => return Err(no_database(&dir)),
            None => {
                write_manifest(&dir, &BTreeSet::new())?;
                Manifest::default()
            }
        };
        let root = dir.join(COLLECTIONS_DIR);
        create_dir_all_durable(&root).map_err(|e| Error::io(&root, e))?;
        let unnamed = resolve_pending(&dir, &manifest.collections)?;
        Ok(Database {
            dir,
            lock,
            _lock_file: lock_file,
            catalog: RwLock::new(Catalog {
                names: manifest.collections,
                open: HashMap::new(),
            }),
            unnamed,
        })
    }

    /// Rebuild the manifest of the database in `dir` from its collection
    /// directories, taking the database's locks for the duration.
    ///
    /// When `quiver.json` is missing or unreadable, the new manifest names
    /// every directory under `collections/` whose `config.json` reads and
    /// validates, and the unreadable file is kept as `quiver.json.damaged`.
    /// When it reads, the directories it does not name and that are not
    /// part of an interrupted create or delete are added the same way.
    /// Nothing is removed; what is left out is listed in
    /// [`ManifestRepair::skipped`].
    ///
    /// # Errors
    /// [`Error::Locked`]; [`Error::Corrupt`] for a manifest of another
    /// format version (a newer build's, which this one must not rewrite);
    /// [`Error::Io`], of kind `NotFound` if `dir` does not exist.
    pub fn repair_manifest(dir: impl AsRef<Path>) -> Result<ManifestRepair> {
        let dir = dir.as_ref();
        require_dir(dir)?;
        let _locks = take_locks(dir)?;
        let path = dir.join(MANIFEST_FILE);
        repair_bak(&path).map_err(|e| Error::io(&path, e))?;
        let existing = match read_manifest(dir) {
            Ok(manifest) => manifest,
            Err(err @ Error::Corrupt { .. }) if manifest_version(&path).is_some() => {
                return Err(err);
            }
            Err(Error::Corrupt { detail, .. }) => {
                tracing::warn!(path = %path.display(), %detail, "rebuilding an unreadable manifest");
                None
            }
            Err(err) => return Err(err),
        };
        let mut repair = ManifestRepair::default();
        let mut names = existing
            .as_ref()
            .map(|m| m.collections.clone())
            .unwrap_or_default();
        for (name, path) in list_entries(&dir.join(COLLECTIONS_DIR))? {
            let Some(name) = name.filter(|n| check_stored_name(n).is_ok()) else {
                repair
                    .skipped
                    .push((path, "not a valid collection name".into()));
                continue;
            };
            if names.contains(&name) {
                continue;
            }
            if !path.is_dir() {
                repair.skipped.push((path, "not a directory".into()));
                continue;
            }
            if existing.is_some() && pending_marker(&path).is_some() {
                // An interrupted create or delete: the manifest decides it at open.
                continue;
            }
            match StoredConfig::read(&path) {
                Ok(_) => {
                    names.insert(name.clone());
                    repair.adopted.push(name);
                }
                Err(err) => repair.skipped.push((path, err.to_string())),
            }
        }
        if existing.is_none() || !repair.adopted.is_empty() {
            if path.exists() {
                let damaged = dir.join(DAMAGED_MANIFEST_FILE);
                fs::rename(&path, &damaged).map_err(|e| Error::io(&path, e))?;
                repair.kept_damaged = Some(damaged);
            }
            write_manifest(dir, &names)?;
            repair.written = true;
        }
        repair.collections = names.into_iter().collect();
        Ok(repair)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Entries under `collections/` that the manifest does not name and that
    /// no interrupted create or delete accounts for, as found when the
    /// database opened. They are left in place and their names cannot be
    /// created; [`Database::repair_manifest`] adds those holding a valid
    /// collection to the manifest. Empty in a healthy database.
    pub fn unnamed_entries(&self) -> &[PathBuf] {
        &self.unnamed
    }

    /// Create collection `name`. Durable when it returns.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad name or configuration (see
    /// [`CollectionConfig::validate`]); [`Error::CollectionExists`];
    /// [`Error::Io`] (of kind `AlreadyExists` when an unnamed directory of
    /// that name is in the way, see [`Database::unnamed_entries`]). On error
    /// nothing was created.
    pub fn create_collection(
        &self,
        name: &str,
        config: CollectionConfig,
    ) -> Result<Arc<Collection>> {
        validate_name(name)?;
        config.validate()?;
        let mut catalog = self.catalog.write();
        if catalog.names.contains(name) {
            return Err(Error::CollectionExists {
                name: name.to_owned(),
            });
        }
        let dir = self.collection_dir(name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::io(
                    &dir,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a directory the manifest does not name is in the way; \
                         move it away, or add it with Database::repair_manifest",
                    ),
                ));
            }
            Err(e) => return Err(Error::io(&dir, e)),
        }
        // From here on the directory is ours: on failure it is discarded.
        let created = write_marker(&dir, CREATING_MARKER)
            .and_then(|()| Collection::create(&dir, name, config, Arc::clone(&self.lock)));
        let collection = match created {
            Ok(collection) => collection,
            Err(err) => {
                self.discard_or_warn(&dir);
                return Err(err);
            }
        };
        let mut names = catalog.names.clone();
        names.insert(name.to_owned());
        if let Err(err) = write_manifest(&self.dir, &names) {
            drop(collection);
            self.discard_or_warn(&dir);
            return Err(err);
        }
        catalog.names = names;
        if let Err(err) = remove_marker(&dir, CREATING_MARKER) {
            tracing::warn!(dir = %dir.display(), error = %err, "create marker left; the next open removes it");
        }
        let collection = Arc::new(collection);
        catalog
            .open
            .insert(name.to_owned(), Arc::clone(&collection));
        Ok(collection)
    }

    /// The collection named `name`, opened (and recovered) on first use.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; errors of opening its files.
    pub fn collection(&self, name: &str) -> Result<Arc<Collection>> {
        if let Some(c) = self.catalog.read().open.get(name) {
            return Ok(Arc::clone(c));
        }
        let mut catalog = self.catalog.write();
        if let Some(c) = catalog.open.get(name) {
            return Ok(Arc::clone(c));
        }
        if !catalog.names.contains(name) {
            return Err(Error::CollectionNotFound {
                name: name.to_owned(),
            });
        }
        let collection = Arc::new(Collection::open(
            &self.collection_dir(name),
            name,
            Arc::clone(&self.lock),
        )?);
        catalog
            .open
            .insert(name.to_owned(), Arc::clone(&collection));
        Ok(collection)
    }

    /// Cut the damaged `ops.log` of collection `name` at its last valid
    /// frame, so the collection opens again; `None` (nothing changed) when
    /// the log reads cleanly or ends in a torn tail. The frames dropped may
    /// be acknowledged writes: they are lost, and the returned report names
    /// them. Call it before the collection is opened.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; [`Error::InvalidInput`] if the
    /// collection is open in this handle; [`Error::Io`] / [`Error::Corrupt`]
    /// (a log header or configuration that cannot be read).
    pub fn repair_op_log(&self, name: &str) -> Result<Option<crate::OpLogRepair>> {
        let catalog = self.catalog.read();
        if !catalog.names.contains(name) {
            return Err(Error::CollectionNotFound {
                name: name.to_owned(),
            });
        }
        if catalog.open.contains_key(name) {
            return Err(Error::InvalidInput(format!(
                "collection {name} is open; its log can only be repaired before it is opened"
            )));
        }
        crate::collection::repair_op_log(&self.collection_dir(name))
    }

    /// Names of all collections, sorted.
    pub fn list_collections(&self) -> Vec<String> {
        self.catalog.read().names.iter().cloned().collect()
    }

    /// Delete collection `name` and its files. Returns `false` if it did not
    /// exist. Handles to it that callers still hold fail with
    /// [`Error::CollectionNotFound`] from then on.
    ///
    /// # Errors
    /// [`Error::Io`] recording the delete or writing the manifest (then
    /// nothing changed). A failure to remove the directory afterwards is
    /// only logged: the name is gone and the next open removes the
    /// directory.
    pub fn delete_collection(&self, name: &str) -> Result<bool> {
        let mut catalog = self.catalog.write();
        if !catalog.names.contains(name) {
            return Ok(false);
        }
        let dir = self.collection_dir(name);
        let mut names = catalog.names.clone();
        names.remove(name);
        if let Err(err) =
            write_marker(&dir, DROPPING_MARKER).and_then(|()| write_manifest(&self.dir, &names))
        {
            if let Err(cleanup) = remove_marker(&dir, DROPPING_MARKER) {
                tracing::warn!(dir = %dir.display(), error = %cleanup, "delete marker left; the next open removes it");
            }
            return Err(err);
        }
        catalog.names = names;
        if let Some(collection) = catalog.open.remove(name) {
            collection.mark_deleted();
        }
        self.discard_or_warn(&dir);
        Ok(true)
    }

    /// Checkpoint every open collection (see [`Collection::flush`]).
    ///
    /// # Errors
    /// The first error met; the other collections are still flushed.
    pub fn flush_all(&self) -> Result<()> {
        let open: Vec<Arc<Collection>> = self.catalog.read().open.values().cloned().collect();
        let mut first = Ok(());
        for collection in open {
            if let Err(err) = collection.flush()
                && first.is_ok()
            {
                first = Err(err);
            }
        }
        first
    }

    fn collection_dir(&self, name: &str) -> PathBuf {
        self.dir.join(COLLECTIONS_DIR).join(name)
    }

    /// [`discard`] a directory whose marker lets the next open finish the
    /// job if this attempt fails.
    fn discard_or_warn(&self, dir: &Path) {
        if let Err(err) = discard(&self.dir, dir) {
            tracing::warn!(dir = %dir.display(), error = %err, "collection directory not removed; the next open removes it");
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dir", &self.dir)
            .field("collections", &self.list_collections())
            .finish()
    }
}

/// The one check of a new collection's name: 1..=255 bytes of
/// `[A-Za-z0-9_.-]`, not starting with `.`. The name becomes a directory
/// under `collections/`, so it must be one path component on every file
/// system; names starting with `.` are refused because dot-files are the
/// database's own (`.creating`, `.dropping`) or hidden, and that rules
/// out `.` and `..` too.
///
/// # Errors
/// [`Error::InvalidInput`] naming the name and the problem.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    check_stored_name(name)?;
    if name.starts_with('.') {
        return Err(Error::InvalidInput(format!(
            "collection name `{name}` starts with `.`; names must start with a letter, digit, `_` or `-`"
        )));
    }
    Ok(())
}

/// What a name already in the manifest or under `collections/` must be to
/// be used: path-safe (1..=255 bytes of `[A-Za-z0-9_.-]`, not `.` or
/// `..`). Looser than [`validate_name`] only by a leading `.`, which
/// databases created before that rule may hold and must still open with.
fn check_stored_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidInput("collection name is empty".into()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::InvalidInput(format!(
            "collection name is {} bytes long, the limit is {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(Error::InvalidInput(format!(
            "collection name `{name}` is reserved"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(Error::InvalidInput(format!(
            "collection name `{name}` contains {c:?}; allowed are A-Z a-z 0-9 _ - ."
        )));
    }
    Ok(())
}

/// Flock the database directory and its `LOCK` file; returns the handle
/// that collections share (the directory's) and the `LOCK` file.
///
/// The directory's lock is the one that holds against a deleted or replaced
/// `LOCK` file. Where a directory cannot be opened as a file (not Unix),
/// `LOCK` is all there is.
fn take_locks(dir: &Path) -> Result<(Arc<File>, File)> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    lock_with_grace(&file, &path, dir)?;
    let shared = if cfg!(unix) {
        let handle = File::open(dir).map_err(|e| Error::io(dir, e))?;
        lock_with_grace(&handle, dir, dir)?;
        handle
    } else {
        file.try_clone().map_err(|e| Error::io(&path, e))?
    };
    Ok((Arc::new(shared), file))
}

/// `try_lock` `file` (at `path`), retrying for [`LOCK_GRACE`].
fn lock_with_grace(file: &File, path: &Path, db: &Path) -> Result<()> {
    // A process that forks (to run a command, say) shares the lock with the
    // child until the child execs and its copy of the descriptor closes, so a
    // lock released a moment ago can still look held: retry for a short,
    // bounded time before reporting it taken.
    let mut waited = Duration::ZERO;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if waited < LOCK_GRACE => {
                std::thread::sleep(LOCK_RETRY);
                waited += LOCK_RETRY;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: db.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
    }
}

/// How long a held lock is retried before [`Error::Locked`].
const LOCK_GRACE: Duration = Duration::from_millis(200);
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// The manifest, or `None` if there is no `quiver.json`.
fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    decode_manifest(&path, &bytes).map(Some)
}

/// The manifest in the bytes of a `quiver.json` read from `path`.
///
/// # Errors
/// [`Error::Corrupt`] naming `path` for bytes that are not a manifest of
/// this format version naming valid collections.
pub(crate) fn decode_manifest(path: &Path, bytes: &[u8]) -> Result<Manifest> {
    let path = path.to_owned();
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        path: path.clone(),
        detail: format!("not a manifest: {e}"),
    })?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(Error::Corrupt {
            path,
            detail: format!(
                "format version {} is not supported (this build reads {FORMAT_VERSION})",
                manifest.format_version
            ),
        });
    }
    if let Some(bad) = manifest
        .collections
        .iter()
        .find(|n| check_stored_name(n).is_err())
    {
        return Err(Error::Corrupt {
            path,
            detail: format!("invalid collection name {bad:?}"),
        });
    }
    Ok(manifest)
}

/// The format version an unreadable manifest declares, when it declares one
/// other than this build's: such a file is a newer build's, not damage.
fn manifest_version(path: &Path) -> Option<u64> {
    let bytes = fs::read(path).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value
        .get("format_version")?
        .as_u64()
        .filter(|v| *v != u64::from(FORMAT_VERSION))
}

fn write_manifest(dir: &Path, names: &BTreeSet<String>) -> Result<()> {
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        collections: names.clone(),
    };
    let path = dir.join(MANIFEST_FILE);
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Internal(format!("manifest does not serialise: {e}")))?;
    write_atomic(&path, &bytes, true).map_err(|e| Error::io(path, e))
}

fn missing_manifest(dir: &Path) -> Error {
    let entries = list_entries(&dir.join(COLLECTIONS_DIR)).unwrap_or_default();
    let shown: Vec<String> = entries
        .iter()
        .take(5)
        .map(|(_, path)| {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    Error::Corrupt {
        path: dir.join(MANIFEST_FILE),
        detail: format!(
            "missing, but collections/ holds {} entries ({}); nothing was changed. \
             Database::repair_manifest rebuilds it from each collection's config.json",
            entries.len(),
            shown.join(", ")
        ),
    }
}

fn no_database(dir: &Path) -> Error {
    Error::io(
        dir,
        io::Error::new(
            io::ErrorKind::NotFound,
            "no database here (no quiver.json, no collections)",
        ),
    )
}

fn require_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::io(
            dir,
            io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        )),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// No manifest and nothing under `collections/`: a database not made yet.
fn is_new(dir: &Path) -> Result<bool> {
    if dir.join(MANIFEST_FILE).exists() {
        return Ok(false);
    }
    Ok(list_entries(&dir.join(COLLECTIONS_DIR))?.is_empty())
}

/// The entries of `dir` as (UTF-8 name if it is one, path); none if `dir`
/// does not exist.
fn list_entries(dir: &Path) -> Result<Vec<(Option<String>, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        found.push((entry.file_name().into_string().ok(), entry.path()));
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// The intent record an interrupted create or delete left in `dir`, if any.
fn pending_marker(dir: &Path) -> Option<&'static str> {
    [CREATING_MARKER, DROPPING_MARKER]
        .into_iter()
        .find(|marker| dir.join(marker).exists())
}

/// Record an operation on collection directory `dir` durably: the marker
/// file and its directory entry are on disk when this returns.
fn write_marker(dir: &Path, marker: &str) -> Result<()> {
    let path = dir.join(marker);
    write_synced(&path, b"", true).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    sync_parent(dir).map_err(|e| Error::io(dir, e))
}

fn remove_marker(dir: &Path, marker: &str) -> Result<()> {
    let path = dir.join(marker);
    remove_if_exists(&path).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir).map_err(|e| Error::io(dir, e))
}

/// Remove collection directory `dir` of database `db`: rename it into
/// `dropped/` first, so a crash halfway through the removal leaves a
/// directory that is garbage by where it is, not a half-deleted one under
/// `collections/`.
fn discard(db: &Path, dir: &Path) -> Result<()> {
    let trash = db.join(DROPPED_DIR);
    create_dir_all_durable(&trash).map_err(|e| Error::io(&trash, e))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let target = (0u64..)
        .map(|n| trash.join(format!("{name}.{n}")))
        .find(|p| !p.exists())
        .expect("an unbounded counter finds a free name");
    fs::rename(dir, &target).map_err(|e| Error::io(dir, e))?;
    sync_dir(&trash).map_err(|e| Error::io(&trash, e))?;
    sync_parent(dir).map_err(|e| Error::io(dir, e))?;
    fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
    sync_dir(&trash).map_err(|e| Error::io(&trash, e))
}

/// At open: finish what interrupted creates and deletes recorded, empty
/// `dropped/`, and return the entries under `collections/` that nothing
/// accounts for (logged, left in place).
fn resolve_pending(db: &Path, names: &BTreeSet<String>) -> Result<Vec<PathBuf>> {
    let trash = db.join(DROPPED_DIR);
    let dropped = list_entries(&trash)?;
    for (_, path) in &dropped {
        tracing::info!(dir = %path.display(), "removing a deleted collection's files");
        let result = if path.is_dir() {
            fs::remove_dir_all(path)
        } else {
            fs::remove_file(path)
        };
        result.map_err(|e| Error::io(path, e))?;
    }
    if !dropped.is_empty() {
        sync_dir(&trash).map_err(|e| Error::io(&trash, e))?;
    }
    let mut unnamed = Vec::new();
    for (name, path) in list_entries(&db.join(COLLECTIONS_DIR))? {
        let named = name.as_ref().is_some_and(|n| names.contains(n));
        let marker = if path.is_dir() {
            pending_marker(&path)
        } else {
            None
        };
        match (named, marker) {
            (true, None) => {}
            (true, Some(marker)) => {
                tracing::info!(dir = %path.display(), marker, "the manifest names this collection: keeping it");
                remove_marker(&path, marker)?;
            }
            (false, Some(marker)) => {
                tracing::info!(dir = %path.display(), marker, "the manifest does not name this collection: removing it");
                discard(db, &path)?;
            }
            (false, None) if is_empty_dir(&path) => {
                // A create that crashed between its mkdir and its marker.
                tracing::info!(dir = %path.display(), "removing an empty collection directory the manifest does not name");
                fs::remove_dir(&path).map_err(|e| Error::io(&path, e))?;
                sync_parent(&path).map_err(|e| Error::io(&path, e))?;
            }
            (false, None) => {
                tracing::warn!(
                    path = %path.display(),
                    "the manifest does not name this entry and no interrupted create or delete \
                     accounts for it; leaving it in place (Database::repair_manifest adds a valid collection)"
                );
                unnamed.push(path);
            }
        }
    }
    Ok(unnamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["a", "A-b_c.d", "0", &"x".repeat(255), "_a", "-a", "a..b"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "...",
            ".hidden",
            ".creating",
            "a/b",
            "a b",
            "ä",
            &"x".repeat(256),
            "a\\b",
            "a\0",
        ] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn new_names_must_not_start_with_a_dot_but_stored_ones_may() {
        let err = validate_name(".hidden").unwrap_err().to_string();
        assert!(
            err.contains(".hidden") && err.contains("starts with `.`"),
            "{err}"
        );
        // A database created when such names were allowed still opens.
        assert!(check_stored_name(".hidden").is_ok());
        assert!(check_stored_name("...").is_ok());
        for bad in [".", "..", "a/b", ""] {
            assert!(check_stored_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_refuses_a_bad_name_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        for bad in [".hidden", "..", "a/b"] {
            let err = db
                .create_collection(bad, CollectionConfig::new(2, crate::Metric::Dot))
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{bad:?}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
        assert!(db.list_collections().is_empty());
        let entries: Vec<_> = fs::read_dir(dir.path().join(COLLECTIONS_DIR))
            .unwrap()
            .collect();
        assert!(entries.is_empty(), "{entries:?}");
    }

    /// The op log is checkpointed (and so starts anew) once it passes the
    /// collection's `checkpoint_log_bytes`, and the setting survives a reopen.
    #[test]
    fn the_configured_checkpoint_size_bounds_the_op_log() {
        let dir = tempfile::tempdir().unwrap();
        let op_log = |c: &Collection| c.info().unwrap().disk_bytes["op_log"];
        let write = |c: &Collection, round: u64| {
            let points = (0..8)
                .map(|i| crate::Point::new(round * 8 + i, vec![i as f32; 32]))
                .collect();
            c.upsert(points).unwrap();
        };
        let db = Database::open(dir.path()).unwrap();
        let mut small = CollectionConfig::new(32, crate::Metric::Dot);
        small.checkpoint_log_bytes = 4096;
        let small = db.create_collection("small", small).unwrap();
        let default = db
            .create_collection("default", CollectionConfig::new(32, crate::Metric::Dot))
            .unwrap();
        let mut largest = 0;
        for round in 0..40 {
            write(&small, round);
            write(&default, round);
            largest = largest.max(op_log(&small));
        }
        // One batch of 8 points is about 1.2 KB: the small log never holds
        // much more than its limit, the default one holds every batch.
        assert!(largest < 4096 + 2048, "{largest}");
        assert!(op_log(&default) > 40 * 1024, "{}", op_log(&default));
        drop((small, default, db));
        let db = Database::open(dir.path()).unwrap();
        let small = db.collection("small").unwrap();
        assert_eq!(small.config().checkpoint_log_bytes, 4096);
        assert_eq!(small.count(None).unwrap(), 320);
        for round in 40..60 {
            write(&small, round);
            assert!(op_log(&small) < 4096 + 2048);
        }
    }

    #[test]
    fn a_manifest_naming_a_dot_collection_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::open(dir.path()).unwrap();
            db.create_collection("old", CollectionConfig::new(2, crate::Metric::Dot))
                .unwrap();
        }
        // Rename it to what an older build allowed.
        let root = dir.path().join(COLLECTIONS_DIR);
        fs::rename(root.join("old"), root.join(".old")).unwrap();
        let names: BTreeSet<String> = [".old".to_owned()].into();
        write_manifest(dir.path(), &names).unwrap();
        let db = Database::open(dir.path()).unwrap();
        assert_eq!(db.list_collections(), vec![".old".to_owned()]);
        assert_eq!(
            db.collection(".old")
                .unwrap()
                .config()
                .dense("")
                .unwrap()
                .dimension,
            2
        );
    }
}
