//! One module per subcommand; each has `Args` (clap) and `run`.

pub mod bench;
pub mod check;
pub mod compact;
pub mod demo;
pub mod import;
pub mod info;
pub mod search;
pub mod serve;

use std::path::{Path, PathBuf};

use anyhow::Context;
use quiver_core::Database;

/// The database directory used when none is given.
pub const DEFAULT_DATA_DIR: &str = "./quiver-data";

/// Opens the database, explaining the usual failure (a running server).
pub fn open_database(dir: &Path) -> anyhow::Result<Database> {
    match Database::open(dir) {
        Ok(db) => Ok(db),
        Err(e @ quiver_core::Error::Locked { .. }) => Err(anyhow::Error::new(e).context(
            "another process (e.g. `quiver serve`) has this database open; stop it first, or use the HTTP API",
        )),
        Err(e) => Err(e).with_context(|| format!("cannot open database at {}", dir.display())),
    }
}

/// Total size of the regular files under `dir`, by file name, sorted by name.
pub fn disk_usage(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|_| entry.path());
                out.push((rel, meta.len()));
            }
        }
    }
    out.sort();
    out
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
