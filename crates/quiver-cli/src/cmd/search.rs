//! `quiver search`: nearest neighbours from the command line.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use quiver_core::SearchRequest;
use quiver_core::filter::Filter;
use serde_json::json;

use super::{DEFAULT_DATA_DIR, open_database};
use crate::vectors_file::{Format, Reader, parse_inline};

/// Find the k nearest points to a vector, optionally filtered by payload.
///
/// The vector is given inline (--vector '[..]') or read from a file
/// (--vector-file, row --row of an .fvecs/.npy/.jsonl file). The filter is
/// Qdrant's filter JSON.
#[derive(clap::Args)]
#[command(after_long_help = "Examples:
  quiver search docs --vector '[0.1, 0.2, 0.3, 0.4]' -k 5
  quiver search docs --vector-file query.fvecs --row 3 -k 10 --json
  quiver search docs --vector-file q.npy \\
      --filter '{\"must\": [{\"key\": \"lang\", \"match\": {\"value\": \"en\"}}]}'")]
pub struct Args {
    /// Collection to search.
    collection: String,
    /// Query vector as a JSON array.
    #[arg(
        long,
        conflicts_with = "vector_file",
        required_unless_present = "vector_file"
    )]
    vector: Option<String>,
    /// File holding the query vector (.fvecs, .npy, .jsonl).
    #[arg(long)]
    vector_file: Option<PathBuf>,
    /// Which record of --vector-file to use (0-based).
    #[arg(long, default_value_t = 0)]
    row: u64,
    /// Number of results.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Qdrant filter JSON.
    #[arg(long)]
    filter: Option<String>,
    /// HNSW candidate list size (larger: better recall, slower).
    #[arg(long)]
    ef: Option<usize>,
    /// Exact search (scan every point) instead of HNSW.
    #[arg(long)]
    exact: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Database directory.
    #[arg(long, env = "QUIVER_DATA", default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
}

fn query_vector(args: &Args) -> anyhow::Result<Vec<f32>> {
    if let Some(text) = &args.vector {
        return parse_inline(text);
    }
    let Some(path) = &args.vector_file else {
        bail!("give --vector or --vector-file");
    };
    let format = Format::from_path(path)
        .with_context(|| format!("cannot tell the format of {}", path.display()))?;
    let mut reader = Reader::open(path, format)?;
    while let Some(entry) = reader.next_entry()? {
        if reader.position() - 1 == args.row {
            return Ok(entry.vector);
        }
    }
    bail!("{} has no record {}", path.display(), args.row)
}

/// Runs the search and prints the results.
pub fn run(args: Args) -> anyhow::Result<()> {
    let vector = query_vector(&args)?;
    let filter: Option<Filter> = args
        .filter
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("--filter is not a valid Qdrant filter")?;
    if let Some(f) = &filter {
        f.validate()?;
    }
    let db = open_database(&args.data)?;
    let collection = db.collection(&args.collection)?;
    let mut request = SearchRequest::new(vector, args.k);
    request.filter = filter;
    request.ef = args.ef;
    request.exact = args.exact;
    request.with_payload = true;
    let started = Instant::now();
    let hits = collection.search(&request)?;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    if args.json {
        let out: Vec<_> = hits
            .iter()
            .map(|h| json!({"id": h.id, "score": h.score, "payload": h.payload}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{:>4}  {:>12}  {:>10}  payload", "rank", "id", "score");
    for (rank, h) in hits.iter().enumerate() {
        let payload = h
            .payload
            .as_ref()
            .map(|p| serde_json::Value::Object(p.clone()).to_string())
            .unwrap_or_default();
        println!(
            "{:>4}  {:>12}  {:>10.4}  {}",
            rank + 1,
            h.id.to_string(),
            h.score,
            truncate(&payload, 100)
        );
    }
    println!("{} results in {latency_ms:.2} ms", hits.len());
    Ok(())
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(3)).collect();
        s.push_str("...");
        s
    }
}
