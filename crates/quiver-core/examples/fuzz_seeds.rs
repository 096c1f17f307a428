//! Writes the seed corpora of the fuzz targets in `fuzz/` from real files:
//! creates a database with a collection, writes points, payloads, payload
//! indexes and a checkpoint, writes more after it (so the logs hold frames
//! too), and copies each file into the corpus directory of the target that
//! decodes it. Request-body seeds are the bodies of the API's examples.
//!
//! `cargo run -p quiver-core --example fuzz_seeds -- fuzz/corpus`

use std::fs;
use std::path::{Path, PathBuf};

use quiver_core::filter::{FieldType, Filter};
use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, PointSelector};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn put(corpus: &Path, target: &str, name: &str, bytes: &[u8]) -> Res<()> {
    let dir = corpus.join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(format!("seed-{name}")), bytes)?;
    Ok(())
}

/// The first byte of the `ops_log` and `hnsw_graph` inputs: dimension
/// `dimension` (1..=8) and metric code (0 cosine, 1 euclid, 2 dot).
fn shape(dimension: usize, metric: u8) -> u8 {
    (dimension as u8 - 1) | (metric << 3)
}

fn collection_files(
    corpus: &Path,
    root: &Path,
    dimension: usize,
    metric: u8,
    tag: &str,
) -> Res<()> {
    let coll = root.join("collections").join("docs");
    for entry in fs::read_dir(&coll)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let bytes = fs::read(&path)?;
        let seed = format!("{tag}-{name}");
        let prefixed = |b: &[u8]| [&[shape(dimension, metric)][..], b].concat();
        match name.as_str() {
            "vectors.wal" | "payloads.log" => {
                // The records start after the payload log's 16-byte header.
                let skip = if name == "payloads.log" { 16 } else { 0 };
                put(
                    corpus,
                    "wal_records",
                    &seed,
                    bytes.get(skip..).unwrap_or_default(),
                )?;
            }
            "payloads.idx" => put(corpus, "payload_snapshot", &seed, &bytes)?,
            "vectors.idx" => put(corpus, "vectors_idx", &seed, &bytes)?,
            "ids.map" => put(corpus, "id_map", &seed, &bytes)?,
            "ops.log" => put(corpus, "ops_log", &seed, &prefixed(&bytes))?,
            "hnsw.graph" => put(corpus, "hnsw_graph", &seed, &prefixed(&bytes))?,
            "config.json" => put(corpus, "collection_config", &seed, &bytes)?,
            n if n.starts_with("payload_index.") => put(corpus, "payload_index", &seed, &bytes)?,
            _ => {}
        }
    }
    put(
        corpus,
        "manifest",
        tag,
        &fs::read(root.join("quiver.json"))?,
    )?;
    Ok(())
}

fn database(
    corpus: &Path,
    work: &Path,
    dimension: usize,
    metric: Metric,
    code: u8,
    tag: &str,
) -> Res<()> {
    let root = work.join(tag);
    let db = Database::open(&root)?;
    let docs = db.create_collection("docs", CollectionConfig::new(dimension, metric))?;
    let cities = ["London", "Paris", "Berlin"];
    let point = |i: u64| {
        Point {
        id: if i % 4 == 3 { PointId::Uuid(uuid::Uuid::from_u128(u128::from(i) << 64 | 7)) } else { PointId::Num(i) },
        vectors: [(String::new(), quiver_core::Vector::Dense((0..dimension).map(|d| ((i as usize + d) % 5) as f32 - 1.5).collect()))].into(),
        payload: json!({
            "city": cities[i as usize % 3], "n": i, "price": i as f64 / 4.0, "ok": i.is_multiple_of(2),
            "when": format!("2024-02-{:02}T10:00:00Z", i % 28 + 1), "tags": ["x", format!("t{}", i % 3)],
        })
        .as_object()
        .cloned(),
    }
    };
    docs.upsert((0..12).map(point).collect())?;
    for (field, ty) in [
        ("city", FieldType::Keyword),
        ("n", FieldType::Integer),
        ("price", FieldType::Float),
        ("ok", FieldType::Bool),
        ("when", FieldType::Datetime),
    ] {
        docs.create_field_index(field, ty)?;
    }
    docs.flush()?;
    // Writes after the checkpoint leave frames in every log.
    docs.upsert((10..14).map(point).collect())?;
    docs.delete(&PointSelector::Ids(vec![PointId::Num(1)]))?;
    let f: Filter =
        serde_json::from_value(json!({"must": [{"key": "city", "match": {"value": "Paris"}}]}))?;
    docs.set_payload(
        &PointSelector::Filter(f),
        json!({"seen": true})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )?;
    drop(docs);
    drop(db);
    collection_files(corpus, &root, dimension, code, tag)
}

fn requests(corpus: &Path) -> Res<()> {
    let filter = json!({"must": [{"key": "city", "match": {"value": "London"}}, {"key": "n", "range": {"gte": 2, "lt": 10}}],
        "should": [{"has_id": [1, 2, "00000000-0000-0000-0000-000000000004"]}, {"is_empty": {"key": "tags"}}],
        "must_not": [{"key": "when", "range": {"gt": "2024-01-05T00:00:00Z"}}, {"is_null": {"key": "city"}}],
        "min_should": {"conditions": [{"key": "ok", "match": {"value": true}}], "min_count": 1}});
    let nested = json!({"must": [{"nested": {"key": "nested.list", "filter": {"must": [{"key": "v", "match": {"any": [1, 2]}}]}}},
        {"key": "tags", "match": {"except": ["odd"]}}, {"key": "tags", "values_count": {"gte": 1}},
        {"key": "city", "match": {"text": "Lon"}}, {"key": "price", "range": {"lte": 20.5}}]});
    for (i, f) in [&filter, &nested].into_iter().enumerate() {
        put(corpus, "filter", &format!("f{i}"), &serde_json::to_vec(f)?)?;
    }
    let bodies: &[(&str, Option<u8>, serde_json::Value)] = &[
        (
            "req_create_collection",
            None,
            json!({"vectors": {"size": 4, "distance": "Cosine"}}),
        ),
        (
            "req_create_collection",
            None,
            json!({"vectors": {"size": 128, "distance": "Dot"}, "hnsw_config": {"m": 32, "ef_construct": 200}, "wal_config": {"wal_capacity_mb": 64}}),
        ),
        (
            "req_upsert",
            None,
            json!({"points": [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"city": "London"}}, {"id": "00000000-0000-0000-0000-000000000009", "vector": [1, 0, 0, 0]}]}),
        ),
        (
            "req_upsert",
            None,
            json!({"batch": {"ids": [5, 6], "vectors": [[1, 2, 3, 4], [4, 3, 2, 1]], "payloads": [{"a": 1}, null]}}),
        ),
        (
            "req_search",
            Some(0),
            json!({"vector": [0.1, 0.2, 0.3, 0.4], "limit": 3, "filter": filter, "with_payload": true, "params": {"hnsw_ef": 32}, "score_threshold": 0.1}),
        ),
        (
            "req_search",
            Some(1),
            json!({"searches": [{"vector": [1, 0, 0, 0], "limit": 2, "offset": 1, "with_vector": true}, {"vector": [0, 1, 0, 0], "limit": 5, "params": {"exact": true}, "with_payload": ["city"]}]}),
        ),
        (
            "req_search",
            Some(2),
            json!({"query": {"nearest": [0.5, 0.5, 0.5, 0.5]}, "limit": 4, "filter": nested, "with_payload": {"exclude": ["tags"]}}),
        ),
        ("req_search", Some(2), json!({"query": 3, "limit": 2})),
        (
            "req_search",
            Some(3),
            json!({"searches": [{"query": [0, 0, 1, 0]}, {"filter": filter, "limit": 3}]}),
        ),
        (
            "req_scroll",
            None,
            json!({"limit": 5, "offset": 2, "filter": filter, "with_payload": {"include": ["city", "n"]}, "with_vector": true}),
        ),
        ("req_count", None, json!({"filter": nested, "exact": true})),
        (
            "req_payload",
            Some(0),
            json!({"payload": {"seen": 1}, "points": [1, 2]}),
        ),
        (
            "req_payload",
            Some(1),
            json!({"payload": {"a": {"b": [1]}}, "filter": filter}),
        ),
        (
            "req_payload",
            Some(2),
            json!({"keys": ["city", "n"], "points": [3]}),
        ),
        ("req_payload", Some(3), json!({"filter": nested})),
        (
            "req_delete",
            None,
            json!({"points": [1, "00000000-0000-0000-0000-000000000004"]}),
        ),
        ("req_delete", None, json!({"filter": filter})),
        (
            "req_field_index",
            None,
            json!({"field_name": "city", "field_schema": "keyword"}),
        ),
        (
            "req_field_index",
            None,
            json!({"field_name": "nested.k", "field_schema": {"type": "integer"}}),
        ),
    ];
    for (i, (target, kind, body)) in bodies.iter().enumerate() {
        let mut bytes: Vec<u8> = kind.map(|k| vec![k]).unwrap_or_default();
        bytes.extend_from_slice(&serde_json::to_vec(body)?);
        put(corpus, target, &format!("b{i}"), &bytes)?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let corpus = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let work = tempfile::tempdir()?;
    database(&corpus, work.path(), 4, Metric::Cosine, 0, "cos4")?;
    database(&corpus, work.path(), 3, Metric::Euclid, 1, "l2-3")?;
    database(&corpus, work.path(), 8, Metric::Dot, 2, "dot8")?;
    requests(&corpus)?;
    println!("seeds written under {}", corpus.display());
    Ok(())
}
