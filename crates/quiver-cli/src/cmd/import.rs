//! `quiver import`: bulk-load a vector file into a collection.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use quiver_core::Metric;
use quiver_core::{Collection, CollectionConfig, Point, PointId};
use serde::{Deserialize, Serialize};

use super::{DEFAULT_DATA_DIR, open_database};
use crate::vectors_file::{Format, Reader};

/// Load vectors into a collection, in batches, with a progress bar.
///
/// Formats: .fvecs (ids are the record index plus --start-id), .npy
/// (float32/float64, shape (n, d); ids as for fvecs) and JSON lines of
/// {"id": .., "vector": [..], "payload": {..}}.
///
/// Imports are resumable: after every batch the number of records done is
/// written to <data>/import-<collection>.progress. Run the same command with
/// --resume after an interruption to continue from there. --skip-existing
/// also skips ids that are already stored.
#[derive(clap::Args)]
#[command(after_long_help = "Examples:
  quiver import docs base.fvecs --create --distance Cosine
  quiver import docs embeddings.npy --start-id 1000000
  quiver import docs points.jsonl --batch-size 500
  quiver import docs base.fvecs --resume        # continue an interrupted import")]
pub struct Args {
    /// Collection to load into.
    collection: String,
    /// File to read (.fvecs, .npy, .jsonl).
    file: PathBuf,
    /// Database directory.
    #[arg(long, env = "QUIVER_DATA", default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// File format; by default from the file extension.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Create the collection if it does not exist (dimension from the file).
    #[arg(long)]
    create: bool,
    /// Distance for --create: Cosine, Euclid or Dot.
    #[arg(long, default_value = "Cosine")]
    distance: String,
    /// Points per write.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    batch_size: u64,
    /// First id for formats without ids (fvecs, npy).
    #[arg(long, default_value_t = 0)]
    start_id: u64,
    /// Continue from the progress recorded by an earlier run.
    #[arg(long)]
    resume: bool,
    /// Skip points whose id is already stored.
    #[arg(long)]
    skip_existing: bool,
    /// Stop after this many records.
    #[arg(long)]
    limit: Option<u64>,
}

/// What the progress file records.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Progress {
    /// Absolute path of the source file.
    source: PathBuf,
    /// Its size, to notice a different file under the same name.
    source_bytes: u64,
    /// Records done (written or skipped) from the start of the file.
    records_done: u64,
}

fn progress_path(data: &Path, collection: &str) -> PathBuf {
    data.join(format!("import-{collection}.progress"))
}

/// Writes the progress file atomically (write, fsync, rename).
fn save_progress(path: &Path, progress: &Progress) -> anyhow::Result<()> {
    let tmp = path.with_extension("progress.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(progress)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn load_progress(path: &Path, source: &Path, source_bytes: u64) -> anyhow::Result<u64> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).context("cannot read the progress file"),
    };
    let p: Progress = serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged; delete it to start over", path.display()))?;
    if p.source != source || p.source_bytes != source_bytes {
        bail!(
            "{} records an import of {} ({} bytes), not this file; delete it to start over",
            path.display(),
            p.source.display(),
            p.source_bytes
        );
    }
    Ok(p.records_done)
}

fn parse_metric(name: &str) -> anyhow::Result<Metric> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .with_context(|| format!("unknown distance `{name}`: use Cosine, Euclid or Dot"))
}

fn writes(collection: &Collection, batch: Vec<Point>, skip_existing: bool) -> anyhow::Result<u64> {
    let batch = if skip_existing {
        let ids: Vec<PointId> = batch.iter().map(|p| p.id).collect();
        let present: std::collections::HashSet<PointId> = collection
            .get(&ids, false, false)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        batch
            .into_iter()
            .filter(|p| !present.contains(&p.id))
            .collect()
    } else {
        batch
    };
    let n = batch.len() as u64;
    if n > 0 {
        collection.upsert(batch)?;
    }
    Ok(n)
}

/// Runs the import.
pub fn run(args: Args) -> anyhow::Result<()> {
    let format = match args.format.or_else(|| Format::from_path(&args.file)) {
        Some(f) => f,
        None => bail!(
            "cannot tell the format of {} from its extension; pass --format fvecs|npy|jsonl",
            args.file.display()
        ),
    };
    let source = std::fs::canonicalize(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let source_bytes = std::fs::metadata(&source)?.len();
    let mut reader = Reader::open(&source, format)?;
    let db = open_database(&args.data)?;
    let progress_file = progress_path(&args.data, &args.collection);
    let skip = if args.resume {
        load_progress(&progress_file, &source, source_bytes)?
    } else {
        0
    };

    let mut first = reader.next_entry()?;
    let collection = match db.collection(&args.collection) {
        Ok(c) => c,
        Err(quiver_core::Error::CollectionNotFound { .. }) if args.create => {
            let Some(entry) = &first else {
                bail!("{} has no vectors; nothing to create", source.display());
            };
            let config = CollectionConfig::new(entry.vector.len(), parse_metric(&args.distance)?);
            eprintln!(
                "created collection `{}` ({} dimensions, {})",
                args.collection,
                entry.vector.len(),
                args.distance
            );
            db.create_collection(&args.collection, config)?
        }
        Err(e @ quiver_core::Error::CollectionNotFound { .. }) => {
            return Err(anyhow::Error::new(e).context("pass --create to create it"));
        }
        Err(e) => return Err(e.into()),
    };

    let total = reader.len().map(|n| args.limit.map_or(n, |l| l.min(n)));
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} points  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if skip > 0 {
        bar.println(format!("resuming after {skip} records"));
    }

    let save_progress_at = |records_done: u64| {
        save_progress(
            &progress_file,
            &Progress {
                source: source.clone(),
                source_bytes,
                records_done,
            },
        )
    };
    let started = Instant::now();
    let mut written = 0u64;
    let mut done = 0u64;
    let mut stopped_at_limit = false;
    let mut batch = Vec::with_capacity(args.batch_size as usize);
    loop {
        let entry = match first.take() {
            Some(e) => Some(e),
            None => reader.next_entry()?,
        };
        let Some(entry) = entry else {
            break;
        };
        if args.limit.is_some_and(|l| done + batch.len() as u64 >= l) {
            stopped_at_limit = true;
            break;
        }
        let index = reader.position() - 1;
        if index < skip {
            done += 1;
            bar.inc(1);
            continue;
        }
        let id = entry.id.unwrap_or(PointId::Num(args.start_id + index));
        batch.push(Point {
            payload: entry.payload,
            ..Point::new(id, entry.vector)
        });
        if batch.len() as u64 >= args.batch_size {
            let n = batch.len() as u64;
            written += writes(&collection, std::mem::take(&mut batch), args.skip_existing)
                .with_context(|| format!("batch ending at record {index}"))?;
            done += n;
            bar.inc(n);
            save_progress_at(done)?;
        }
    }
    if !batch.is_empty() {
        let n = batch.len() as u64;
        written += writes(&collection, batch, args.skip_existing)?;
        done += n;
        bar.inc(n);
    }
    collection.flush()?;
    bar.finish_and_clear();
    if stopped_at_limit {
        // Stopped early on purpose: --resume continues from here.
        save_progress_at(done)?;
    } else {
        // The import is complete: a later --resume must start a new one.
        let _ = std::fs::remove_file(&progress_file);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {written} points into `{}` ({} records read, {} skipped) in {secs:.1} s ({:.0} points/s)",
        args.collection,
        done,
        done - written,
        written as f64 / secs.max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_of_another_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = progress_path(dir.path(), "c");
        assert_eq!(load_progress(&path, Path::new("/a"), 10).unwrap(), 0);
        save_progress(
            &path,
            &Progress {
                source: "/a".into(),
                source_bytes: 10,
                records_done: 4,
            },
        )
        .unwrap();
        assert_eq!(load_progress(&path, Path::new("/a"), 10).unwrap(), 4);
        assert!(load_progress(&path, Path::new("/b"), 10).is_err());
        assert!(load_progress(&path, Path::new("/a"), 11).is_err());
    }
}
