//! BM25 retrieval over a text corpus with Quiver's text module and sparse
//! index, single-threaded: the Quiver side of `scripts/bench-bm25.sh`.
//!
//! ```text
//! cargo run --release -p quiver-core --example bm25_search -- \
//!     CORPUS.jsonl QUERIES.jsonl [PASSES]
//! ```
//! Both files hold one JSON object per line with a `"text"` field (the
//! corpus's line number is the document id). Documents are embedded with
//! `qdrant/bm25`'s settings except `avg_len`, which is the corpus's own
//! mean length (as BM25 engines compute it); queries are searched with the
//! IDF modifier. Prints one JSON object: corpus size, embed and index
//! times, the median single-thread QPS over PASSES (default 5) passes of
//! all queries, and each query's top-10 ids.

use std::time::Instant;

use quiver_core::SparseVector;
use quiver_core::index::sparse::{Modifier, SparseIndex};
use quiver_core::text::{Bm25, Bm25Config};
use serde_json::{Value, json};

fn texts(path: &str) -> Vec<String> {
    let body = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    body.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            v["text"]
                .as_str()
                .unwrap_or_else(|| panic!("{path}: a line without \"text\""))
                .to_owned()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bm25_search CORPUS.jsonl QUERIES.jsonl [PASSES]");
        std::process::exit(2);
    }
    let corpus = texts(&args[1]);
    let queries = texts(&args[2]);
    let passes: usize = args.get(3).map_or(5, |p| p.parse().expect("PASSES"));
    if passes == 0 {
        eprintln!("PASSES must be at least 1");
        std::process::exit(2);
    }

    // The corpus's mean document length, in the words BM25 counts.
    let counter = Bm25::new(&Bm25Config::default()).expect("default settings");
    let words: usize = corpus.iter().map(|t| counter.count_words(t)).sum();
    let avg_len = (words as f64 / corpus.len().max(1) as f64).max(1.0);
    let bm25 = Bm25::new(&Bm25Config {
        avg_len,
        ..Bm25Config::default()
    })
    .expect("corpus average is positive");

    let started = Instant::now();
    let docs: Vec<SparseVector> = corpus.iter().map(|t| bm25.embed_document(t)).collect();
    let embed_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut index = SparseIndex::new();
    for (id, d) in docs.iter().enumerate() {
        index.insert(id as u32, d);
    }
    let index_secs = started.elapsed().as_secs_f64();

    let mut rates = Vec::new();
    let mut top10 = Vec::new();
    for pass in 0..passes {
        let started = Instant::now();
        let mut answers = Vec::with_capacity(queries.len());
        for q in &queries {
            let query = bm25.embed_query(q);
            let hits = index.search(&query, 10, Modifier::Idf, None);
            answers.push(hits.iter().map(|h| h.id).collect::<Vec<u32>>());
        }
        rates.push(queries.len() as f64 / started.elapsed().as_secs_f64());
        if pass == 0 {
            top10 = answers;
        }
    }
    rates.sort_by(f64::total_cmp);
    let out = json!({
        "engine": "quiver",
        "documents": corpus.len(),
        "avg_len": avg_len,
        "embed_secs": embed_secs,
        "index_secs": index_secs,
        "queries": queries.len(),
        "qps_median": rates[rates.len() / 2],
        "qps_all": rates,
        "top10": top10,
    });
    println!("{out}");
}
