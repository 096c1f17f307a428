//! A database: one directory holding named collections.
//!
//! ```text
//! <db>/quiver.json               manifest: format version + collection names
//! <db>/LOCK                      held (flock) by the one process that has it open
//! <db>/collections/<name>/       one collection (see `collection`)
//! ```
//!
//! The manifest is the commit point for creating and deleting collections.
//! It is only ever replaced whole (write `quiver.json.new`, fsync, rename,
//! fsync the directory), so a crash leaves the old or the new list.
//! Creating writes the collection directory first and names it in the
//! manifest last; deleting drops the name first and removes the directory
//! after. A crash in between leaves a directory the manifest does not name,
//! and [`Database::open`] removes such leftovers.
//!
//! Collections are opened lazily on first use and stay open (shared through
//! `Arc`) until the database is dropped. Every open collection holds the
//! LOCK file too, so the lock is released only when the last handle is gone.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::collection::{Collection, CollectionConfig};
pub(crate) use crate::storage::atomic_file::{sync_dir, sync_parent, write_atomic};
use crate::{Error, Result};

/// Version of the `quiver.json` layout this build reads and writes.
const FORMAT_VERSION: u32 = 1;
const MANIFEST_FILE: &str = "quiver.json";
const LOCK_FILE: &str = "LOCK";
const COLLECTIONS_DIR: &str = "collections";
/// Longest collection name, in bytes (a file name on every common filesystem).
const MAX_NAME_BYTES: usize = 255;

/// The `quiver.json` document.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    collections: BTreeSet<String>,
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
    lock: Arc<File>,
    catalog: RwLock<Catalog>,
}

impl Database {
    /// Open the database in `dir`, creating the directory and an empty
    /// manifest if missing, and take its `LOCK` file.
    ///
    /// Collection directories the manifest does not name (left by a crash in
    /// the middle of a create or delete) are removed.
    ///
    /// # Errors
    /// [`Error::Locked`] at once if another handle (in this or another
    /// process) has the database open; [`Error::Corrupt`] for an unreadable
    /// manifest or one of an unknown format version; [`Error::Io`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Database> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(dir.join(COLLECTIONS_DIR)).map_err(|e| Error::io(&dir, e))?;
        let lock = take_lock(&dir)?;
        let manifest = read_manifest(&dir)?;
        let db = Database {
            dir,
            lock: Arc::new(lock),
            catalog: RwLock::new(Catalog {
                names: manifest.collections,
                open: HashMap::new(),
            }),
        };
        db.remove_leftovers()?;
        Ok(db)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Create collection `name`. Durable when it returns.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad name or configuration (see
    /// [`CollectionConfig::validate`]); [`Error::CollectionExists`];
    /// [`Error::Io`]. On error nothing was created.
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
        remove_dir_if_exists(&dir)?;
        let collection = Collection::create(&dir, name, config, Arc::clone(&self.lock))?;
        let mut names = catalog.names.clone();
        names.insert(name.to_owned());
        if let Err(err) = self.write_manifest(&names) {
            drop(collection);
            if let Err(cleanup) = fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %cleanup, "leaving a collection directory for the next open to remove");
            }
            return Err(err);
        }
        catalog.names = names;
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
    /// [`Error::Io`] writing the manifest (then nothing changed). A failure
    /// to remove the directory afterwards is only logged: the name is gone
    /// and the next open removes the directory.
    pub fn delete_collection(&self, name: &str) -> Result<bool> {
        let mut catalog = self.catalog.write();
        if !catalog.names.contains(name) {
            return Ok(false);
        }
        let mut names = catalog.names.clone();
        names.remove(name);
        self.write_manifest(&names)?;
        catalog.names = names;
        if let Some(collection) = catalog.open.remove(name) {
            collection.mark_deleted();
        }
        let dir = self.collection_dir(name);
        if let Err(err) = fs::remove_dir_all(&dir).and_then(|()| sync_parent(&dir)) {
            tracing::warn!(dir = %dir.display(), error = %err, "collection directory not removed; the next open removes it");
        }
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

    fn write_manifest(&self, names: &BTreeSet<String>) -> Result<()> {
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            collections: names.clone(),
        };
        let path = self.dir.join(MANIFEST_FILE);
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Internal(format!("manifest does not serialise: {e}")))?;
        write_atomic(&path, &bytes, true).map_err(|e| Error::io(path, e))
    }

    /// Remove collection directories the manifest does not name.
    fn remove_leftovers(&self) -> Result<()> {
        let root = self.dir.join(COLLECTIONS_DIR);
        let names = &self.catalog.read().names;
        let entries = fs::read_dir(&root).map_err(|e| Error::io(&root, e))?;
        let mut removed = false;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&root, e))?;
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| names.contains(n)) {
                continue;
            }
            let path = entry.path();
            tracing::info!(dir = %path.display(), "removing a collection directory the manifest does not name");
            let result = if entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            result.map_err(|e| Error::io(&path, e))?;
            removed = true;
        }
        if removed {
            sync_dir(&root).map_err(|e| Error::io(&root, e))?;
        }
        Ok(())
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

/// Check a collection name: 1..=255 bytes of `[A-Za-z0-9_.-]`, not `.` or `..`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the problem.
pub(crate) fn validate_name(name: &str) -> Result<()> {
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

fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    // A process that forks (to run a command, say) shares the lock with the
    // child until the child execs and its copy of the descriptor closes, so a
    // lock released a moment ago can still look held: retry for a short,
    // bounded time before reporting it taken.
    let mut waited = Duration::ZERO;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if waited < LOCK_GRACE => {
                std::thread::sleep(LOCK_RETRY);
                waited += LOCK_RETRY;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
    }
}

/// How long a held lock is retried before [`Error::Locked`].
const LOCK_GRACE: Duration = Duration::from_millis(200);
const LOCK_RETRY: Duration = Duration::from_millis(10);

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let manifest = Manifest {
                format_version: FORMAT_VERSION,
                collections: BTreeSet::new(),
            };
            let bytes = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| Error::Internal(format!("manifest does not serialise: {e}")))?;
            write_atomic(&path, &bytes, true).map_err(|e| Error::io(&path, e))?;
            return Ok(manifest);
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
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
        .find(|n| validate_name(n).is_err())
    {
        return Err(Error::Corrupt {
            path,
            detail: format!("invalid collection name {bad:?}"),
        });
    }
    Ok(manifest)
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["a", "A-b_c.d", "0", &"x".repeat(255), "..."] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
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
}
