//! Quickstart: open a database, create a collection, upsert points with
//! payloads, search with and without a filter, delete, reopen.
//!
//! Run with `cargo run -p quiver-core --example quickstart [DIR]`; without a
//! directory it works in a fresh temporary one.

use std::error::Error;

use quiver_core::filter::{FieldType, Filter};
use quiver_core::{
    CollectionConfig, Database, Metric, Point, PointId, PointSelector, ScrollRequest, SearchRequest,
};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);

    {
        let db = Database::open(&dir)?;
        let docs = match db.collection("docs") {
            Ok(existing) => existing,
            Err(quiver_core::Error::CollectionNotFound { .. }) => {
                db.create_collection("docs", CollectionConfig::new(4, Metric::Cosine))?
            }
            Err(other) => return Err(other.into()),
        };
        let point = |id: u64, vector: [f32; 4], title: &str, lang: &str| {
            let payload = json!({"title": title, "lang": lang});
            Point::new(id, vector.to_vec())
                .with_payload(payload.as_object().cloned().unwrap_or_default())
        };
        // One logged operation: durable when it returns (durability `Fsync`).
        let written = docs.upsert(vec![
            point(1, [0.9, 0.1, 0.0, 0.0], "vector databases", "en"),
            point(
                2,
                [0.8, 0.2, 0.1, 0.0],
                "bases de données vectorielles",
                "fr",
            ),
            point(3, [0.0, 0.1, 0.9, 0.3], "gardening", "en"),
            point(4, [0.1, 0.0, 0.8, 0.4], "jardinage", "fr"),
        ])?;
        println!(
            "upserted {} points as operation {}",
            written.points, written.operation_id
        );
        docs.create_field_index("lang", FieldType::Keyword)?;

        let query = [1.0, 0.0, 0.0, 0.0];
        for hit in docs.search(&SearchRequest::new(query.to_vec(), 2))? {
            println!("  nearest: {} (score {:.3})", hit.id, hit.score);
        }
        let mut french = SearchRequest::new(query.to_vec(), 2);
        french.filter = Some(serde_json::from_value::<Filter>(
            json!({"must": [{"key": "lang", "match": {"value": "fr"}}]}),
        )?);
        french.with_payload = true;
        for hit in docs.search(&french)? {
            let payload = hit.payload.map(serde_json::Value::Object);
            println!(
                "  nearest in French: {} {}",
                hit.id,
                payload.unwrap_or_default()
            );
        }
        let deleted = docs.delete(&PointSelector::Ids(vec![PointId::Num(3)]))?;
        println!("deleted {} point", deleted.points);
    }

    // Everything acknowledged above is on disk: reopen and read it back.
    let db = Database::open(&dir)?;
    let docs = db.collection("docs")?;
    let page = docs.scroll(&ScrollRequest::new(10))?;
    let ids: Vec<String> = page.points.iter().map(|r| r.id.to_string()).collect();
    println!("reopened {}: points {}", dir.display(), ids.join(", "));
    Ok(())
}
