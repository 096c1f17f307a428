//! `quiver check`: is the database intact and self-consistent?

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use quiver_core::{Collection, Database, FileState, PointId, ScrollRequest, SearchRequest};

use super::{DEFAULT_DATA_DIR, explain_open_error, open_existing_database};

/// Exit code: everything is consistent.
pub const EXIT_OK: u8 = 0;
/// Exit code: the database opened but some check failed, or a file was
/// repaired (on open or by `--repair`).
pub const EXIT_INCONSISTENT: u8 = 1;
/// Exit code: the database or one of its collections could not be opened
/// (corrupt or unreadable).
pub const EXIT_UNREADABLE: u8 = 2;

/// Verify a database and print every file of every collection with its
/// state, one line each: `ok`, `damaged` (and why), `missing`, or
/// `repaired on open`. Opening a collection checks its log and checkpoint
/// files; the check then verifies every vector in vectors.dat against its
/// CRC and every record of payloads.log, that counts agree, and that the
/// vector index finds stored points where storage says they are (for
/// --sample points per collection). Checkpoint files (graph, id map,
/// payload indexes, the payload store's snapshot) that are damaged, or
/// missing after a checkpoint, are rebuilt when the collection opens; the
/// check reports each such repair as a failure, since it means the disk
/// lost or damaged a file, and the next check passes if nothing else is
/// wrong.
///
/// Entries under collections/ that the manifest (quiver.json) does not name
/// are reported, never removed. A missing or damaged manifest makes the
/// database unreadable; --repair rebuilds it from each collection
/// directory's config.json (directories whose config.json does not read
/// are listed and left in place), then checks as usual. Check never creates
/// a database.
///
/// --repair also cuts an ops.log that is damaged in the middle at its last
/// valid frame and prints what was dropped (frames, sequence numbers,
/// bytes). Those frames may be writes that were acknowledged: they are
/// lost. Damaged vectors cannot be repaired; restore them from a backup or
/// upsert those points again.
///
/// Exit code 0: every file ok and consistent; 1: inconsistencies found,
/// or something was repaired (listed); 2: the database or a collection
/// cannot be opened (corrupt or unreadable files).
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
    /// Repair what can be repaired and say what was done: rebuild a
    /// missing or damaged manifest (and add unnamed collection directories)
    /// from the collections' config.json files, and cut a damaged ops.log
    /// at its last valid frame, dropping what follows.
    #[arg(long)]
    repair: bool,
}

/// What checking one collection found.
#[derive(Default)]
struct Findings {
    /// One line per file: name, state and detail.
    files: Vec<String>,
    /// Inconsistencies beyond the files.
    problems: Vec<String>,
    /// Some file is not ok.
    files_bad: bool,
}

/// Check one collection: every file's state, then consistency.
fn check_collection(collection: &Collection, sample: usize) -> anyhow::Result<Findings> {
    let mut findings = Findings::default();
    for f in collection.verify_files()? {
        findings.files_bad |= f.state != FileState::Ok;
        findings
            .files
            .push(file_line(&f.file, f.state.label(), &f.detail));
    }
    findings.problems = consistency(collection, sample)?;
    Ok(findings)
}

fn file_line(file: &str, state: &str, detail: &str) -> String {
    format!("{file:<24} {state}: {detail}")
}

/// Counts, scroll order and index self-search of one collection.
fn consistency(collection: &Collection, sample: usize) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
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
            for (name, vector) in record.vectors.iter().flatten() {
                let label = if name.is_empty() {
                    String::new()
                } else {
                    format!(" `{name}`")
                };
                match (vector, info.config.vectors.get(name)) {
                    (quiver_core::Vector::Dense(v), Some(params))
                        if v.len() == params.dimension =>
                    {
                        if v.iter().any(|x| !x.is_finite()) {
                            problems.push(format!(
                                "point {} has a non-finite vector{label}",
                                record.id
                            ));
                        } else if name.is_empty() && samples.len() < sample {
                            samples.push((record.id, v.clone()));
                        }
                    }
                    (quiver_core::Vector::Dense(v), Some(params)) => problems.push(format!(
                        "point {} has {} dimensions in vector{label}, the collection {}",
                        record.id,
                        v.len(),
                        params.dimension
                    )),
                    (quiver_core::Vector::Sparse(_), None)
                        if info.config.sparse_vectors.contains_key(name) => {}
                    _ => problems.push(format!(
                        "point {} has vector{label}, which the collection does not have",
                        record.id
                    )),
                }
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
    let mut code = if report_unnamed(&db) {
        EXIT_INCONSISTENT
    } else {
        EXIT_OK
    };
    for name in db.list_collections() {
        code = code.max(verdict_of(&db, &name, args));
    }
    Ok(code)
}

/// Check (and with --repair, repair) collection `name`; prints its lines
/// and returns its exit code.
fn verdict_of(db: &Database, name: &str, args: &Args) -> u8 {
    let mut repaired = Vec::new();
    if args.repair {
        match db.repair_op_log(name) {
            Ok(Some(r)) => {
                let seqs = r
                    .dropped_seqs
                    .map(|(a, b)| format!(", sequences {a}..={b}"))
                    .unwrap_or_default();
                repaired.push(file_line(
                    "ops.log",
                    "repaired",
                    &format!(
                        "{} (at byte {}); cut there, dropping {} frames{seqs}, {} bytes: \
                         they may be acknowledged writes, now lost",
                        r.reason, r.cut_at, r.dropped_frames, r.dropped_bytes
                    ),
                ));
            }
            Ok(None) => {}
            Err(e) => repaired.push(file_line("ops.log", "not repaired", &e.to_string())),
        }
    }
    let findings = db
        .collection(name)
        .map_err(|e| (e.to_string(), failing_file(&e)))
        .map(|c| check_collection(&c, args.sample));
    match findings {
        Ok(Err(e)) => {
            // Opened, but a check could not finish: a file is inconsistent.
            println!("FAIL  {name}: {e:#}");
            print_lines(&repaired);
            EXIT_INCONSISTENT
        }
        Ok(Ok(f)) if repaired.is_empty() && !f.files_bad && f.problems.is_empty() => {
            println!("ok    {name}");
            print_lines(&f.files);
            EXIT_OK
        }
        Ok(Ok(f)) => {
            println!("FAIL  {name}");
            print_lines(&repaired);
            print_lines(&f.files);
            print_lines(&f.problems);
            EXIT_INCONSISTENT
        }
        Err((message, file)) => {
            // The engine's messages already name the file and its cause.
            println!("FAIL  {name}: cannot be opened: {message}");
            print_lines(&repaired);
            if let Some(file) = file {
                let hint = if file == "ops.log" && !args.repair {
                    " (`quiver check --repair` cuts a damaged ops.log at its last valid frame)"
                } else {
                    ""
                };
                let state = if message.contains("is missing") {
                    "missing"
                } else {
                    "damaged"
                };
                print_lines(&[file_line(&file, state, &format!("{message}{hint}"))]);
            }
            EXIT_UNREADABLE
        }
    }
}

fn print_lines(lines: &[String]) {
    for line in lines.iter().take(50) {
        println!("      {line}");
    }
    if lines.len() > 50 {
        println!("      ... {} more", lines.len() - 50);
    }
}

/// The collection file an open error names, if any.
fn failing_file(err: &quiver_core::Error) -> Option<String> {
    let path = match err {
        quiver_core::Error::Corrupt { path, .. } | quiver_core::Error::Io { path, .. } => path,
        _ => return None,
    };
    path.file_name().map(|n| n.to_string_lossy().into_owned())
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
