//! `quiver info`: what is in a database and what it costs.

use std::path::PathBuf;

use serde_json::json;

use super::{DEFAULT_DATA_DIR, disk_usage, human_bytes, open_database};

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
    let names = if args.collections.is_empty() {
        db.list_collections()
    } else {
        args.collections
    };
    let mut report = Vec::new();
    for name in &names {
        let collection = db.collection(name)?;
        let info = collection.info()?;
        let files = disk_usage(&args.data.join("collections").join(name));
        let disk_total: u64 = files.iter().map(|(_, n)| n).sum();
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
                "memory": format!("{:?}", info.ram_bytes),
                "disk_bytes": disk_total,
                "files": files.iter()
                    .map(|(p, n)| json!({"file": p.display().to_string(), "bytes": n}))
                    .collect::<Vec<_>>(),
            }));
            continue;
        }
        println!("collection `{name}`  [{}]", info.status);
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
        println!("  memory: {:?}", info.ram_bytes);
        println!("  disk: {} total", human_bytes(disk_total));
        for (file, bytes) in &files {
            println!("    {:<28} {:>12}", file.display(), human_bytes(*bytes));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if names.is_empty() {
        println!("no collections in {}", args.data.display());
    }
    Ok(())
}
