//! One module per subcommand; each has `Args` (clap) and `run`.

pub mod bench;
pub mod bench_collection;
pub mod check;
pub mod compact;
pub mod demo;
pub mod import;
pub mod info;
pub mod search;
pub mod serve;

use std::path::Path;

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
