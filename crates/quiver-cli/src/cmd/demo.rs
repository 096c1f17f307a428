//! `quiver demo`: a bundled sample of real sentence embeddings, loaded and
//! searched in a few seconds.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use quiver_core::Metric;
use quiver_core::filter::{FieldType, Filter};
use quiver_core::{Collection, CollectionConfig, Point, PointId, SearchRequest};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::search::truncate;
use super::{DEFAULT_DATA_DIR, open_database};
use crate::vectors_file::{Format, Reader};

/// 2000 WordNet gloss embeddings (all-MiniLM-L6-v2, 384-d); see data/NOTICE.
const BASE_FVECS: &[u8] = include_bytes!("../../data/base.fvecs");
const BASE_TEXTS: &str = include_str!("../../data/base.texts.jsonl");
/// 8 held-out glosses and their embeddings, used as queries.
const QUERY_FVECS: &[u8] = include_bytes!("../../data/query.fvecs");
const QUERY_TEXTS: &str = include_str!("../../data/query.texts.jsonl");
/// WordNet license notice of the texts.
const NOTICE: &str = include_str!("../../data/NOTICE");

const COLLECTION: &str = "wordnet-demo";

/// Load a bundled sample of 2000 sentence embeddings (WordNet glosses) into
/// the collection `wordnet-demo`, then search it with and without a payload
/// filter and show the nearest texts with their scores and latencies.
#[derive(clap::Args)]
#[command(after_long_help = "Examples:
  quiver demo
  quiver demo --data /tmp/quiver-demo
  quiver demo --notice        # the WordNet license of the sample texts")]
pub struct Args {
    /// Database directory.
    #[arg(long, env = "QUIVER_DATA", default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// Results per query.
    #[arg(short, long, default_value_t = 5)]
    k: usize,
    /// Print the license notice of the bundled sample and exit.
    #[arg(long)]
    notice: bool,
}

#[derive(Deserialize)]
struct Text {
    text: String,
    pos: String,
}

fn texts(jsonl: &str) -> anyhow::Result<Vec<Text>> {
    jsonl
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("bundled texts, line {}", i + 1))
        })
        .collect()
}

fn vectors(fvecs: &'static [u8]) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut reader = Reader::from_bytes(fvecs, Format::Fvecs)?;
    let mut out = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        out.push(entry.vector);
    }
    Ok(out)
}

fn load(collection: &Collection) -> anyhow::Result<()> {
    let base = vectors(BASE_FVECS)?;
    let base_texts = texts(BASE_TEXTS)?;
    if base.len() != base_texts.len() {
        bail!(
            "bundled sample has {} vectors but {} texts",
            base.len(),
            base_texts.len()
        );
    }
    let started = Instant::now();
    let points: Vec<Point> = base
        .into_iter()
        .zip(base_texts)
        .enumerate()
        .map(|(i, (vector, t))| {
            let mut payload = Map::new();
            payload.insert("text".into(), Value::String(t.text));
            payload.insert("pos".into(), Value::String(t.pos));
            Point::new(PointId::Num(i as u64), vector).with_payload(payload)
        })
        .collect();
    let n = points.len();
    for chunk in points.chunks(500) {
        collection.upsert(chunk.to_vec())?;
    }
    collection.create_field_index("pos", FieldType::Keyword)?;
    collection.flush()?;
    println!(
        "loaded {n} points (384-d sentence embeddings of WordNet glosses) in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn show(
    collection: &Collection,
    vector: &[f32],
    k: usize,
    filter: Option<Filter>,
) -> anyhow::Result<()> {
    let mut request = SearchRequest::new(vector.to_vec(), k);
    request.filter = filter;
    request.with_payload = true;
    let started = Instant::now();
    let hits = collection.search(&request)?;
    let micros = started.elapsed().as_secs_f64() * 1e6;
    for h in &hits {
        let text = h
            .payload
            .as_ref()
            .and_then(|p| p.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let pos = h
            .payload
            .as_ref()
            .and_then(|p| p.get("pos"))
            .and_then(Value::as_str)
            .unwrap_or("");
        println!("    {:.3}  [{pos:<4}] {}", h.score, truncate(text, 90));
    }
    println!("    ({} hits in {micros:.0} us)", hits.len());
    Ok(())
}

/// Runs the demo.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.notice {
        print!("{NOTICE}");
        return Ok(());
    }
    let db = open_database(&args.data)?;
    let expected = BASE_TEXTS.lines().count() as u64;
    let collection = match db.collection(COLLECTION) {
        Ok(c) if c.count(None)? == expected => {
            println!(
                "`{COLLECTION}` is already loaded in {}",
                args.data.display()
            );
            c
        }
        existing => {
            if existing.is_ok() {
                db.delete_collection(COLLECTION)?;
            }
            let config = CollectionConfig::new(384, Metric::Cosine);
            let c = db.create_collection(COLLECTION, config)?;
            load(&c)?;
            c
        }
    };

    let queries = vectors(QUERY_FVECS)?;
    let query_texts = texts(QUERY_TEXTS)?;
    let verbs: Filter = serde_json::from_value(json!({
        "must": [{"key": "pos", "match": {"value": "verb"}}]
    }))?;
    for (vector, text) in queries.iter().zip(&query_texts).take(3) {
        println!("\nquery: \"{}\"", truncate(&text.text, 90));
        println!("  nearest {}:", args.k);
        show(&collection, vector, args.k, None)?;
        println!("  nearest {} with filter pos = \"verb\":", args.k);
        show(&collection, vector, args.k, Some(verbs.clone()))?;
    }
    println!(
        "\nThe data is in {dir}. Serve it over HTTP (Qdrant-compatible) with:
    quiver serve --data {dir}
(from the source tree: cargo run --release -p quiver-cli -- serve --data {dir})
and query it, e.g. with curl or qdrant-client:
    curl -s localhost:6333/collections/{COLLECTION}
    curl -s -X POST localhost:6333/collections/{COLLECTION}/points/query \\
         -H 'content-type: application/json' \\
         -d '{{\"query\": {{\"nearest\": 42}}, \"limit\": 3, \"with_payload\": true}}'
Sample texts: WordNet 3.0, Princeton University (see `quiver demo --notice`).",
        dir = args.data.display()
    );
    Ok(())
}
