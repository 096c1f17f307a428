//! Quickstart: store vectors and payloads, flush, reopen, read them back.
//!
//! Run with `cargo run -p quiver-core --example quickstart [DIR]`; without a
//! directory it works in a fresh temporary one.

use std::error::Error;

use quiver_core::storage::{LogPayloadStorage, MmapStorage, PayloadStorage, VectorStorage};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    let dimension = 4;

    {
        let mut vectors = MmapStorage::new(&dir, dimension)?;
        let mut payloads = LogPayloadStorage::new(&dir)?;
        vectors.store(1, &[0.1, 0.2, 0.3, 0.4])?;
        vectors.store_batch(&[(2, &[1.0, 0.0, 0.0, 0.0]), (3, &[0.0, 1.0, 0.0, 0.0])])?;
        vectors.store(1, &[0.5, 0.5, 0.5, 0.5])?; // overwrites id 1 in place
        vectors.delete(3)?;
        payloads.store(1, &json!({"title": "first", "tags": ["a", "b"]}))?;
        payloads.store(2, &json!({"title": "second", "score": 0.75}))?;
        // The durability barrier: after this, a crash or power loss keeps everything above.
        vectors.flush()?;
        payloads.flush()?;
        println!(
            "stored {} vectors and {} payloads in {}",
            vectors.len(),
            payloads.len(),
            dir.display()
        );
    }

    let vectors = MmapStorage::new(&dir, dimension)?;
    let payloads = LogPayloadStorage::new(&dir)?;
    println!("reopened: ids {:?}", vectors.ids());
    for id in vectors.ids() {
        let vector = vectors.retrieve_ref(id)?.map(|v| v.to_vec());
        let payload = payloads.retrieve(id)?.map(|p| p.to_string());
        println!("  id {id}: vector {vector:?}, payload {payload:?}");
    }
    println!(
        "id 3 after delete: {:?}; fragmentation {:.2}; {} bytes on disk",
        vectors.retrieve(3)?,
        vectors.fragmentation_ratio(),
        vectors.disk_bytes()? + payloads.disk_bytes()?
    );
    Ok(())
}
