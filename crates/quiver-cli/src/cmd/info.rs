//! `quiver info`: what is in a database and what it costs.

use std::path::PathBuf;

use serde_json::json;

use super::{DEFAULT_DATA_DIR, human_bytes, named_or_all, open_database};

/// Show collections with their points, configuration, payload indexes,
/// memory use and disk use per file.
#[derive(clap::Args)]
#[command(after_long_help = "Examples:
  quiver info
  quiver info docs --json")]
pub struct Args {
    /// Only these collections (default: all).
    collections: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Database directory.
    #[arg(long, env = "QUIVER_DATA", default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
}

/// Prints the report.
pub fn run(args: Args) -> anyhow::Result<()> {
    let db = open_database(&args.data)?;
    let names = named_or_all(&db, args.collections);
    let mut report = Vec::new();
    for name in &names {
        let collection = db.collection(name)?;
        let info = collection.info()?;
        let disk_total: u64 = info.disk_bytes.values().sum();
        let ram_total: u64 = info.ram_bytes.values().sum();
        if args.json {
            report.push(json!({
                "name": name,
                "points": info.points,
                "indexed_vectors": info.indexed_vectors,
                "dimension": info.config.dimension,
                "metric": info.config.metric,
                "hnsw": {"m": info.config.hnsw.m, "ef_construction": info.config.hnsw.ef_construction},
                "payload_indexes": info.payload_schema.iter()
                    .map(|(f, t, n)| json!({"field": f, "type": t, "points": n}))
                    .collect::<Vec<_>>(),
                "ram_bytes": info.ram_bytes,
                "ram_bytes_total": ram_total,
                "disk_bytes": info.disk_bytes,
                "disk_bytes_total": disk_total,
                "files": info.files.iter()
                    .map(|(file, n)| json!({"file": file, "bytes": n}))
                    .collect::<Vec<_>>(),
            }));
            continue;
        }
        let status = if info.fully_indexed() {
            "green"
        } else {
            "yellow"
        };
        println!("collection `{name}`  [{status}]");
        println!(
            "  points {}  indexed {}  dimension {}  metric {:?}  hnsw m={} ef_construction={}",
            info.points,
            info.indexed_vectors,
            info.config.dimension,
            info.config.metric,
            info.config.hnsw.m,
            info.config.hnsw.ef_construction
        );
        for (field, ty, points) in &info.payload_schema {
            println!("  payload index `{field}`: {ty:?}, {points} points");
        }
        println!("  memory: {} total", human_bytes(ram_total));
        for (component, bytes) in &info.ram_bytes {
            println!("    {component:<28} {:>12}", human_bytes(*bytes));
        }
        println!("  disk: {} total", human_bytes(disk_total));
        for (component, bytes) in &info.disk_bytes {
            println!("    {component:<28} {:>12}", human_bytes(*bytes));
        }
        println!("  files:");
        for (file, bytes) in &info.files {
            println!("    {file:<28} {:>12}", human_bytes(*bytes));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if names.is_empty() {
        println!("no collections in {}", args.data.display());
    }
    Ok(())
}
