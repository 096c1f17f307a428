//! [`Collection::verify_files`]: the state of every file of a collection,
//! and the repair of a damaged `ops.log` ([`repair_op_log`]).

use std::fs;
use std::path::Path;

use crate::storage::LogPayloadStorage;
use crate::{Error, Result};

use super::Collection;
use super::config::{CONFIG_FILE, StoredConfig};
use super::fields::{SPARSE_DIR, VECTORS_DIR, rel_file};
use super::oplog::{self, OpLogRepair};

/// The files of the collection's directory a collection that has
/// checkpointed always has.
const CHECKPOINT_FILES: [&str; 2] = ["payloads.idx", "ids.map"];
/// The files of the collection's directory every open collection has.
const STORE_FILES: [&str; 3] = [CONFIG_FILE, "ops.log", "payloads.log"];
/// The files of each dense vector's directory: always, and once checkpointed.
const VECTOR_FILES: [&str; 1] = ["vectors.dat"];
const VECTOR_CHECKPOINT_FILES: [&str; 2] = ["vectors.idx", "hnsw.graph"];
/// Bad vectors or records named in one detail line, at most.
const SHOWN: usize = 5;

/// What [`Collection::verify_files`] found for one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Read and checked; nothing wrong.
    Ok,
    /// Holds bad bytes that could not be repaired; the detail says which.
    Damaged,
    /// Should exist and does not.
    Missing,
    /// Was damaged or missing when the collection opened and was rebuilt
    /// from the other files (it is whole now; the damage points at the disk).
    RepairedOnOpen,
}

impl FileState {
    /// A short lower-case label: `ok`, `damaged`, `missing`, `repaired on open`.
    pub fn label(self) -> &'static str {
        match self {
            FileState::Ok => "ok",
            FileState::Damaged => "damaged",
            FileState::Missing => "missing",
            FileState::RepairedOnOpen => "repaired on open",
        }
    }
}

/// One file of a collection and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// The file's name inside the collection's directory.
    pub file: String,
    /// What was found.
    pub state: FileState,
    /// Why (for `Damaged`, `Missing`, `RepairedOnOpen`) or what was checked.
    pub detail: String,
}

impl Collection {
    /// Check every file of the collection: each vector in `vectors.dat`
    /// against its CRC, every frame of `payloads.log`, and the presence of
    /// the files a collection must have. Files rebuilt when the collection
    /// opened (see [`Collection::repaired_on_open`]) are reported as
    /// [`FileState::RepairedOnOpen`]. One entry per file, sorted by name;
    /// files the collection does not use are listed as `Ok` with a note.
    ///
    /// Reads every used byte of the vector and payload files; writes wait
    /// for the vector check (reads do not).
    ///
    /// # Errors
    /// I/O errors listing the directory or reading the files.
    pub fn verify_files(&self) -> Result<Vec<FileCheck>> {
        self.check_open()?;
        let base_seq = self.writer.lock().log.base_seq();
        let mut names = self.list_files(Path::new(""))?;
        let mut expected: Vec<String> = STORE_FILES.iter().map(|f| (*f).to_owned()).collect();
        if base_seq > 0 {
            expected.extend(CHECKPOINT_FILES.iter().map(|f| (*f).to_owned()));
        }
        for field in &self.dense {
            if !field.rel.as_os_str().is_empty() {
                names.extend(self.list_files(&field.rel)?);
            }
            expected.extend(VECTOR_FILES.iter().map(|f| field.file(f)));
            if base_seq > 0 {
                expected.extend(VECTOR_CHECKPOINT_FILES.iter().map(|f| field.file(f)));
            }
        }
        if self.sparse_store.is_some() {
            let rel = Path::new(SPARSE_DIR);
            names.extend(self.list_files(rel)?);
            expected.push(rel_file(rel, "payloads.log"));
            if base_seq > 0 {
                expected.push(rel_file(rel, "payloads.idx"));
            }
        }
        for name in expected {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.sort();
        let mut checks = Vec::with_capacity(names.len());
        for name in names {
            let check = if !self.dir.join(&name).exists() {
                FileCheck {
                    file: name,
                    state: FileState::Missing,
                    detail: "the file is missing".into(),
                }
            } else if let Some(why) = self
                .repaired_on_open()
                .iter()
                .find(|r| names_file(r, &name))
            {
                FileCheck {
                    file: name,
                    state: FileState::RepairedOnOpen,
                    detail: why.clone(),
                }
            } else {
                let (state, detail) = self.check_file(&name)?;
                FileCheck {
                    file: name,
                    state,
                    detail,
                }
            };
            checks.push(check);
        }
        Ok(checks)
    }

    /// The files (not directories) of the directory `rel` of the
    /// collection's, named relative to the collection's directory.
    fn list_files(&self, rel: &Path) -> Result<Vec<String>> {
        let dir = self.dir.join(rel);
        let label = rel_file(rel, ".");
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(self.io_err(&label))? {
            let entry = entry.map_err(self.io_err(&label))?;
            let is_dir = entry.file_type().map_err(self.io_err(&label))?.is_dir();
            let name = entry.file_name().to_string_lossy().into_owned();
            let known_dir =
                rel.as_os_str().is_empty() && (name == VECTORS_DIR || name == SPARSE_DIR);
            if is_dir && known_dir {
                continue;
            }
            names.push(rel_file(rel, &name));
        }
        Ok(names)
    }

    fn check_file(&self, name: &str) -> Result<(FileState, String)> {
        let (rel, file) = match name.rsplit_once('/') {
            Some((rel, file)) => (rel, file),
            None => ("", name),
        };
        let field = self.dense.iter().find(|f| f.rel == Path::new(rel));
        let sparse = (rel == SPARSE_DIR)
            .then_some(self.sparse_store.as_ref())
            .flatten();
        Ok(match (field, sparse, file) {
            (Some(field), _, "vectors.dat") => {
                let report = field.vectors.read().verify().map_err(self.io_err(name))?;
                if report.is_ok() {
                    (
                        FileState::Ok,
                        format!("{} vectors match their CRCs", report.checked),
                    )
                } else {
                    let shown: Vec<String> = report
                        .bad
                        .iter()
                        .take(SHOWN)
                        .map(|b| format!("id {} at byte {}: {}", b.id, b.offset, b.problem))
                        .collect();
                    (
                        FileState::Damaged,
                        format!(
                            "{} of {} vectors are bad: {}{}",
                            report.bad.len(),
                            report.checked,
                            shown.join("; "),
                            if report.bad.len() > SHOWN {
                                "; ..."
                            } else {
                                ""
                            }
                        ),
                    )
                }
            }
            (None, store, "payloads.log") if rel.is_empty() || store.is_some() => {
                let problems = store
                    .unwrap_or(&self.payloads)
                    .read()
                    .verify()
                    .map_err(self.io_err(name))?;
                if problems.is_empty() {
                    (FileState::Ok, "every record matches its CRC".into())
                } else {
                    let shown: Vec<&str> =
                        problems.iter().take(SHOWN).map(String::as_str).collect();
                    (
                        FileState::Damaged,
                        format!(
                            "{} problems: {}{}",
                            problems.len(),
                            shown.join("; "),
                            if problems.len() > SHOWN { "; ..." } else { "" }
                        ),
                    )
                }
            }
            (Some(_), _, "vectors.idx" | "vectors.wal" | "hnsw.graph")
            | (None, Some(_), "payloads.idx") => {
                (FileState::Ok, "loaded and checked on open".into())
            }
            (None, None, CONFIG_FILE | "ops.log" | "payloads.idx" | "ids.map")
                if rel.is_empty() =>
            {
                (FileState::Ok, "loaded and checked on open".into())
            }
            (None, None, n)
                if rel.is_empty() && n.starts_with(super::checkpoint::PAYLOAD_INDEX_PREFIX) =>
            {
                (FileState::Ok, "loaded and checked on open".into())
            }
            _ => (FileState::Ok, "not a collection file; ignored".into()),
        })
    }
}

/// A repair line is about `file` when it starts with its name.
fn names_file(line: &str, file: &str) -> bool {
    line.strip_prefix(file)
        .is_some_and(|rest| rest.starts_with(' '))
}

/// Cut the damaged `ops.log` of the (closed) collection in `dir` at its last
/// valid frame; `None` when it needs no repair. The frames dropped may be
/// acknowledged writes: they are lost.
///
/// The payload store may already hold records of the dropped operations
/// (stores are written after their frame): it is cut back to its last
/// checkpoint, so the kept frames replay onto the checkpoint state and the
/// stores agree again. Vectors need nothing: an operation after a
/// checkpoint only writes slots the checkpoint's index does not list.
pub(crate) fn repair_op_log(dir: &Path) -> Result<Option<OpLogRepair>> {
    let stored = StoredConfig::read(dir)?;
    let path = dir.join("ops.log");
    let schema = super::fields::log_schema(&stored.config);
    let repair = oplog::repair(&path, &schema).map_err(|e| Error::io(&path, e))?;
    if repair.is_some() {
        let payloads = dir.join("payloads.log");
        let rewound =
            LogPayloadStorage::rewind_to_snapshot(dir).map_err(|e| Error::io(&payloads, e))?;
        tracing::info!(dir = %dir.display(), ?rewound, "payload log cut back to its snapshot");
        if !stored.config.sparse_vectors.is_empty() {
            let sparse = dir.join(SPARSE_DIR);
            let rewound = LogPayloadStorage::rewind_to_snapshot(&sparse)
                .map_err(|e| Error::io(sparse.join("payloads.log"), e))?;
            tracing::info!(dir = %sparse.display(), ?rewound, "sparse vector log cut back to its snapshot");
        }
    }
    Ok(repair)
}
