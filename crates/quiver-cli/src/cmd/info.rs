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
            // The default vector's settings stay at the top level, as they
            // were before collections had named vectors.
            let default = info.config.default_vector();
            report.push(json!({
                "name": name,
                "points": info.points,
                "indexed_vectors": info.indexed_vectors,
                "dimension": default.map(|v| v.dimension),
                "metric": default.map(|v| v.metric),
                "hnsw": default.map(|v| json!({"m": v.hnsw.m, "ef_construction": v.hnsw.ef_construction})),
                "vectors": info.config.vectors.iter()
                    .map(|(n, v)| json!({
                        "name": n, "dimension": v.dimension, "metric": v.metric,
                        "hnsw": {"m": v.hnsw.m, "ef_construction": v.hnsw.ef_construction},
                    }))
                    .collect::<Vec<_>>(),
                "sparse_vectors": info.config.sparse_vectors.iter()
                    .map(|(n, v)| json!({"name": n, "modifier": v.modifier}))
                    .collect::<Vec<_>>(),
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
        println!("  points {}  indexed {}", info.points, info.indexed_vectors);
        for (vector, v) in &info.config.vectors {
            let label = if vector.is_empty() {
                "default vector".to_owned()
            } else {
                format!("vector `{vector}`")
            };
            println!(
                "  {label}: dimension {}  metric {:?}  hnsw m={} ef_construction={}",
                v.dimension, v.metric, v.hnsw.m, v.hnsw.ef_construction
            );
        }
        for (vector, v) in &info.config.sparse_vectors {
            println!("  sparse vector `{vector}`: modifier {:?}", v.modifier);
        }
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
