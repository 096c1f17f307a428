//! One module per subcommand; each has `Args` (clap) and `run`.

pub mod bench;
pub mod check;
pub mod compact;
pub mod demo;
pub mod import;
pub mod info;
pub mod search;
pub mod serve;

use std::path::Path;

use quiver_core::Database;

/// The database directory used when none is given.
pub const DEFAULT_DATA_DIR: &str = "./quiver-data";

/// Opens the database (creating a new one if `dir` does not exist or is
/// empty), explaining the usual failures.
pub fn open_database(dir: &Path) -> anyhow::Result<Database> {
    Database::open(dir).map_err(|e| explain_open_error(dir, e))
}

/// The collections a command names, or every collection of `db` when it
/// names none.
pub fn named_or_all(db: &Database, names: Vec<String>) -> Vec<String> {
    if names.is_empty() {
        db.list_collections()
    } else {
        names
    }
}

/// Opens an existing database, never creating one, explaining the usual
/// failures.
pub fn open_existing_database(dir: &Path) -> anyhow::Result<Database> {
    Database::open_existing(dir).map_err(|e| explain_open_error(dir, e))
}

/// The error of opening the database in `dir`, with what to do about it.
pub fn explain_open_error(dir: &Path, e: quiver_core::Error) -> anyhow::Error {
    match e {
        quiver_core::Error::Locked { .. } => anyhow::Error::new(e).context(
            "another process (e.g. `quiver serve`) has this database open; stop it first, or use the HTTP API",
        ),
        quiver_core::Error::Corrupt { ref path, .. }
            if path.file_name().is_some_and(|n| n == "quiver.json") =>
        {
            let hint = format!(
                "cannot open database at {} (if its manifest is missing or damaged, \
                 `quiver check --repair --data {}` rebuilds it from each collection's config.json)",
                dir.display(),
                dir.display()
            );
            anyhow::Error::new(e).context(hint)
        }
        e => anyhow::Error::new(e).context(format!("cannot open database at {}", dir.display())),
    }
}

/// Bytes as a short human string (KiB, MiB, GiB).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}
