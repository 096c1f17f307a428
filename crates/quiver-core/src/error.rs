//! The one error type above the storage layer.

use std::io;
use std::path::PathBuf;

/// Result alias used by every fallible call above the storage layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with enough structure for a caller to react to it.
///
/// Storage itself returns `io::Result` (its contract); those errors arrive
/// here as [`Error::Io`] or [`Error::Corrupt`] with the path attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length differs from the collection's dimension.
    #[error("vector dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The dimension the collection was created with.
        expected: usize,
        /// The length of the vector that was given.
        got: usize,
    },
    /// A caller mistake that leaves nothing changed; the message names it.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A filter that does not parse or makes no sense.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// No collection of this name exists.
    #[error("collection `{name}` not found")]
    CollectionNotFound {
        /// The name that was asked for.
        name: String,
    },
    /// A write named a point id that the collection does not hold.
    #[error("No point with id {id} found")]
    PointNotFound {
        /// The first missing id of the request.
        id: crate::PointId,
    },
    /// A collection of this name exists already.
    #[error("collection `{name}` already exists")]
    CollectionExists {
        /// The name that was asked for.
        name: String,
    },
    /// Another process holds the database directory.
    #[error("database at {path} is locked by another process")]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// Bytes on disk that cannot be what was written.
    #[error("corrupt data in {path}: {detail}")]
    Corrupt {
        /// The file holding the bad bytes.
        path: PathBuf,
        /// What was found and where.
        detail: String,
    },
    /// An I/O failure on a file of the database.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory the operation touched.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A bug: an invariant the engine relies on did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The broad class of an [`Error`], for mapping to status codes or exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller sent something wrong; nothing changed.
    InvalidInput,
    /// The named thing does not exist.
    NotFound,
    /// The named thing exists already.
    AlreadyExists,
    /// Stored data is damaged.
    Corrupt,
    /// The operating system reported a failure, or a resource is busy.
    Io,
    /// A bug in the engine.
    Internal,
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::DimensionMismatch { .. } | Error::InvalidInput(_) | Error::InvalidFilter(_) => {
                ErrorKind::InvalidInput
            }
            Error::CollectionNotFound { .. } | Error::PointNotFound { .. } => ErrorKind::NotFound,
            Error::CollectionExists { .. } => ErrorKind::AlreadyExists,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Locked { .. } => ErrorKind::Io,
            Error::Io { source, .. } => match source.kind() {
                io::ErrorKind::InvalidData => ErrorKind::Corrupt,
                io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                _ => ErrorKind::Io,
            },
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
