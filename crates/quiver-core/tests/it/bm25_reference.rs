//! BM25 vectors against Qdrant's own: `tests/data/bm25_reference.jsonl` was
//! written by `scripts/bm25-reference.py` with `qdrant_edge.Bm25` (Qdrant's
//! engine in-process) for WordNet glosses, queries and edge cases, under
//! several settings. Every token id must match exactly and every weight to
//! f32 rounding.
//!
//! `QUIVER_BM25_REFERENCE=FILE` checks another file of the same form (the
//! script writes one for any corpus).

use std::collections::BTreeMap;

use quiver_core::SparseVector;
use quiver_core::text::{Bm25, Bm25Config};
use serde::Deserialize;

#[derive(Deserialize)]
struct Line {
    text: String,
    config: Bm25Config,
    document: SparseVector,
    query: SparseVector,
}

fn same(got: &SparseVector, want: &SparseVector) -> Result<(), String> {
    if got.indices() != want.indices() {
        return Err(format!(
            "token ids differ: got {:?}, want {:?}",
            got.indices(),
            want.indices()
        ));
    }
    for (i, (g, w)) in got.values().iter().zip(want.values()).enumerate() {
        if (g - w).abs() > 1e-6 * w.abs().max(1.0) {
            return Err(format!(
                "weight of token {} differs: got {g}, want {w}",
                got.indices()[i]
            ));
        }
    }
    Ok(())
}

#[test]
fn token_ids_and_weights_match_qdrant() {
    let other = std::env::var("QUIVER_BM25_REFERENCE").ok();
    let committed = other.is_none();
    let path = other.unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/bm25_reference.jsonl"
        )
        .to_owned()
    });
    let text = std::fs::read_to_string(&path).expect("reference file");
    let mut models: BTreeMap<String, Bm25> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut lines = 0;
    for (n, line) in text.lines().enumerate() {
        let line: Line = serde_json::from_str(line).expect("reference line");
        let key = serde_json::to_string(&line.config).unwrap();
        let model = models
            .entry(key.clone())
            .or_insert_with(|| Bm25::new(&line.config).expect("valid reference settings"));
        for (what, got, want) in [
            ("document", model.embed_document(&line.text), &line.document),
            ("query", model.embed_query(&line.text), &line.query),
        ] {
            if let Err(why) = same(&got, want) {
                failures.push(format!(
                    "line {} {what} {:?} ({key}): {why}",
                    n + 1,
                    line.text
                ));
            }
        }
        lines += 1;
    }
    if committed {
        assert!(lines > 600, "only {lines} reference lines in {path}");
        assert!(
            models.len() >= 4,
            "the reference covers too few settings: {}",
            models.len()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {lines} texts differ from Qdrant's BM25:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
}
