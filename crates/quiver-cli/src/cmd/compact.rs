//! `quiver compact`: reclaim space left by deletes and updates.

use std::path::PathBuf;
use std::time::Instant;

use super::{DEFAULT_DATA_DIR, human_bytes, named_or_all, open_database};

/// Rewrite collections without their dead records, and checkpoint indexes.
///
/// Safe to interrupt: compaction replaces files atomically, so a crash
/// leaves either the old or the new files.
#[derive(clap::Args)]
#[command(after_long_help = "Examples:
  quiver compact              # every collection
  quiver compact docs images")]
pub struct Args {
    /// Collections to compact (default: all).
    collections: Vec<String>,
    /// Database directory.
    #[arg(long, env = "QUIVER_DATA", default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
}

/// Runs compaction and prints bytes before and after.
pub fn run(args: Args) -> anyhow::Result<()> {
    let db = open_database(&args.data)?;
    let names = named_or_all(&db, args.collections);
    for name in names {
        let collection = db.collection(&name)?;
        let size = || -> anyhow::Result<u64> { Ok(collection.info()?.disk_bytes.values().sum()) };
        let before = size()?;
        let started = Instant::now();
        collection.compact()?;
        collection.flush()?;
        let after = size()?;
        println!(
            "{name}: {} -> {} on disk in {:.2} s",
            human_bytes(before),
            human_bytes(after),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
