//! `quiver check`: is the database intact and self-consistent?

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use quiver_core::{Collection, Database, PointId, ScrollRequest, SearchRequest};

use super::{DEFAULT_DATA_DIR, explain_open_error, open_existing_database};

/// Exit code: everything is consistent.
pub const EXIT_OK: u8 = 0;
/// Exit code: the database opened but some check failed.
pub const EXIT_INCONSISTENT: u8 = 1;
/// Exit code: the database could not be opened (corrupt or unreadable).
pub const EXIT_UNREADABLE: u8 = 2;

/// Verify a database: the checksums of every file (by opening it, which
/// replays the logs, and by reading every point's vector and payload back,
/// which checks each payload record's CRC), that counts agree, and that the
/// vector index finds stored points where storage says they are (for
/// --sample points per collection). Checkpoint files (graph, id map,
/// payload indexes, the payload store's snapshot) that fail their checksum
/// are rebuilt from the vectors and payloads when the database opens; the
/// check reports each such repair as a failure, since it means the disk
/// damaged a file, and the next check passes if nothing else is wrong.
///
/// Entries under collections/ that the manifest (quiver.json) does not name
/// are reported, never removed. A missing or damaged manifest makes the
/// database unreadable; --repair rebuilds it from each collection
/// directory's config.json (directories whose config.json does not read
/// are listed and left in place), then checks as usual. Check never creates
/// a database.
///
/// Exit code 0: consistent; 1: inconsistencies found (listed); 2: the
/// database cannot be opened (missing, corrupt or unreadable files).
#[derive(clap::Args)]
#[command(after_long_help = "Examples:
  quiver check && echo intact
  quiver check --data /var/lib/quiver --sample 1000
  quiver check --repair --data /var/lib/quiver")]
pub struct Args {
    /// Database directory.
    #[arg(long, env = "QUIVER_DATA", default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// Points per collection whose vectors are searched for in the index.
    #[arg(long, default_value_t = 200)]
    sample: usize,
    /// First rebuild a missing or damaged manifest (and add unnamed
    /// collection directories) from the collections' config.json files.
    #[arg(long)]
    repair: bool,
}

/// Problems found in one collection.
fn check_collection(collection: &Collection, sample: usize) -> anyhow::Result<Vec<String>> {
    let mut problems: Vec<String> = collection
        .repaired_on_open()
        .iter()
        .map(|r| format!("damaged, repaired on open: {r}"))
        .collect();
    let info = collection.info()?;
    let counted = collection.count(None)?;
    if counted != info.points {
        problems.push(format!(
            "count() says {counted}, info says {} points",
            info.points
        ));
    }
    // Walk every point in id order; ids must be strictly increasing and unique.
    let mut seen: HashSet<PointId> = HashSet::new();
    let mut samples: Vec<(PointId, Vec<f32>)> = Vec::new();
    let mut offset = None;
    let mut last: Option<PointId> = None;
    loop {
        let page = collection.scroll(&ScrollRequest {
            filter: None,
            limit: 1000,
            offset,
            // Reading every payload back verifies each payload record's CRC.
            with_payload: true,
            with_vector: true,
        })?;
        for record in &page.points {
            if last.is_some_and(|l| l >= record.id) {
                problems.push(format!("scroll order broken at id {}", record.id));
            }
            last = Some(record.id);
            if !seen.insert(record.id) {
                problems.push(format!("id {} appears twice", record.id));
            }
            match &record.vector {
                Some(v) if v.len() == info.config.dimension => {
                    if v.iter().any(|x| !x.is_finite()) {
                        problems.push(format!("point {} has a non-finite vector", record.id));
                    } else if samples.len() < sample {
                        samples.push((record.id, v.clone()));
                    }
                }
                Some(v) => problems.push(format!(
                    "point {} has {} dimensions, collection has {}",
                    record.id,
                    v.len(),
                    info.config.dimension
                )),
                None => problems.push(format!("point {} has no vector", record.id)),
            }
        }
        match page.next_offset {
            Some(next) if !page.points.is_empty() => offset = Some(next),
            _ => break,
        }
    }
    if seen.len() as u64 != counted {
        problems.push(format!(
            "scroll returned {} points, count() {counted}",
            seen.len()
        ));
    }
    // The index must find each sampled point's own vector at the top (ties
    // with duplicates allowed: the hit's score must equal the self-score).
    for (id, vector) in &samples {
        let exact = collection.search(&SearchRequest {
            exact: true,
            ..SearchRequest::new(vector.clone(), 1)
        })?;
        let mut approx_req = SearchRequest::new(vector.clone(), 10);
        approx_req.ef = Some(200);
        let approx = collection.search(&approx_req)?;
        let best = exact.first().map(|h| h.score);
        match (best, approx.iter().find(|h| h.id == *id)) {
            (None, _) => problems.push(format!("exact search cannot find point {id}")),
            (Some(_), Some(_)) => {}
            (Some(b), None) if approx.first().is_some_and(|h| (h.score - b).abs() <= 1e-4) => {}
            (Some(_), None) => problems.push(format!(
                "index does not return point {id} for its own vector (storage has it)"
            )),
        }
    }
    Ok(problems)
}

/// Runs every check and sets the exit code.
pub fn run(args: Args) -> anyhow::Result<()> {
    let code = verdict(&args)?;
    if code != EXIT_OK {
        std::process::exit(i32::from(code));
    }
    Ok(())
}

fn verdict(args: &Args) -> anyhow::Result<u8> {
    if args.repair
        && let Err(e) = repair_manifest(&args.data)
    {
        eprintln!("FAIL: {e:#}");
        return Ok(EXIT_UNREADABLE);
    }
    let db = match open_existing_database(&args.data) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("FAIL: {e:#}");
            return Ok(EXIT_UNREADABLE);
        }
    };
    let mut failed = report_unnamed(&db);
    for name in db.list_collections() {
        let result = db
            .collection(&name)
            .map_err(anyhow::Error::from)
            .and_then(|c| check_collection(&c, args.sample));
        match result {
            Ok(problems) if problems.is_empty() => println!("ok    {name}"),
            Ok(problems) => {
                failed = true;
                println!("FAIL  {name}");
                for p in problems.iter().take(50) {
                    println!("      {p}");
                }
            }
            Err(e) => {
                failed = true;
                // The engine's messages already name the file and its cause.
                println!("FAIL  {name}: {e}");
            }
        }
    }
    Ok(if failed { EXIT_INCONSISTENT } else { EXIT_OK })
}

/// `--repair`: rebuild the manifest and say what changed.
fn repair_manifest(dir: &Path) -> anyhow::Result<()> {
    let repair = Database::repair_manifest(dir).map_err(|e| match e {
        e @ quiver_core::Error::Locked { .. } => explain_open_error(dir, e),
        e => anyhow::Error::new(e)
            .context(format!("cannot rebuild the manifest of {}", dir.display())),
    })?;
    if let Some(kept) = &repair.kept_damaged {
        println!("repair: kept the unreadable manifest as {}", kept.display());
    }
    for name in &repair.adopted {
        println!("repair: the manifest names `{name}` (read from its config.json)");
    }
    for (path, why) in &repair.skipped {
        println!("repair: left out {}: {why}", path.display());
    }
    if repair.written {
        println!(
            "repair: wrote {} naming {} collection(s)",
            dir.join("quiver.json").display(),
            repair.collections.len()
        );
    } else {
        println!("repair: the manifest names every collection; nothing written");
    }
    Ok(())
}

/// Lists the entries under collections/ that nothing accounts for; true if any.
fn report_unnamed(db: &Database) -> bool {
    for path in db.unnamed_entries() {
        println!(
            "FAIL  {}: not named in quiver.json; left in place (`quiver check --repair` adds it if its config.json is valid)",
            path.display()
        );
    }
    !db.unnamed_entries().is_empty()
}
