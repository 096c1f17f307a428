//! [`Collection::info`]: counts, sizes and status.

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

use crate::Result;

use super::checkpoint::PAYLOAD_INDEX_PREFIX;
use super::config::CONFIG_FILE;
use super::fields::{SPARSE_DIR, rel_file};
use super::{Collection, CollectionInfo, Payload};

impl Collection {
    /// Counts, sizes and status.
    ///
    /// # Errors
    /// I/O errors listing the collection's files.
    pub fn info(&self) -> Result<CollectionInfo> {
        self.check_open()?;
        let state = self.state.read();
        let payload_schema = state.indexes.field_counts();
        let points = state.live.len();
        let last_operation_id = state.last_seq;
        let id_map_bytes = state.ids.capacity() * std::mem::size_of::<Option<crate::PointId>>()
            + state.by_id.len() * (std::mem::size_of::<(crate::PointId, u32)>() + 16)
            + state.live.serialized_size();
        let index_bytes = state.indexes.memory_bytes();
        let sparse_bytes: usize = state
            .sparse
            .iter()
            .map(|s| {
                s.index.memory_bytes()
                    + s.vectors
                        .values()
                        .map(|v| std::mem::size_of::<(u32, crate::SparseVector)>() + v.len() * 8)
                        .sum::<usize>()
            })
            .sum();
        let payload_bytes: usize = state
            .payloads
            .values()
            .map(|p| std::mem::size_of::<(u32, Payload)>() + object_heap_bytes(p))
            .sum();
        drop(state);
        let indexed_vectors = self.dense.iter().map(|f| f.graph.len() as u64).sum();
        let mut files = Vec::new();
        let mut disk_bytes: BTreeMap<String, u64> = BTreeMap::new();
        let mut dirs = vec![std::path::PathBuf::new()];
        dirs.extend(self.dense.iter().map(|f| f.rel.clone()));
        if self.sparse_store.is_some() {
            dirs.push(SPARSE_DIR.into());
        }
        dirs.dedup();
        for rel in &dirs {
            let label = rel_file(rel, ".");
            let entries = fs::read_dir(self.dir.join(rel)).map_err(self.io_err(&label))?;
            for entry in entries {
                let entry = entry.map_err(self.io_err(&label))?;
                let file = entry.file_name().to_string_lossy().into_owned();
                let name = rel_file(rel, &file);
                let meta = entry.metadata().map_err(self.io_err(&name))?;
                if meta.is_dir() {
                    continue;
                }
                let len = meta.len();
                let in_sparse = rel.as_os_str() == SPARSE_DIR;
                let component = component(&file, in_sparse);
                *disk_bytes.entry(component.to_owned()).or_default() += len;
                files.push((name, len));
            }
        }
        files.sort();
        let vector_bytes: usize = self
            .dense
            .iter()
            .map(|f| f.vectors.read().memory_bytes())
            .sum();
        let hnsw_bytes: usize = self.dense.iter().map(|f| f.graph.memory_bytes()).sum();
        let sparse_store_bytes = self
            .sparse_store
            .as_ref()
            .map_or(0, |s| s.read().memory_bytes());
        let mut ram_bytes = BTreeMap::new();
        ram_bytes.insert("vectors".to_owned(), vector_bytes as u64);
        ram_bytes.insert(
            "payloads".to_owned(),
            (self.payloads.read().memory_bytes() + payload_bytes) as u64,
        );
        ram_bytes.insert("hnsw".to_owned(), hnsw_bytes as u64);
        if self.sparse_store.is_some() {
            ram_bytes.insert(
                "sparse".to_owned(),
                (sparse_bytes + sparse_store_bytes) as u64,
            );
        }
        ram_bytes.insert("payload_index".to_owned(), index_bytes as u64);
        ram_bytes.insert("id_map".to_owned(), id_map_bytes as u64);
        Ok(CollectionInfo {
            points,
            indexed_vectors,
            config: self.config.clone(),
            payload_schema,
            disk_bytes,
            ram_bytes,
            files,
            last_operation_id,
        })
    }
}

/// The `disk_bytes` component a collection file counts under.
fn component(name: &str, in_sparse: bool) -> &'static str {
    if in_sparse {
        "sparse"
    } else if name.starts_with("vectors.") {
        "vectors"
    } else if name.starts_with("payloads.") {
        "payloads"
    } else if name.starts_with("hnsw.") {
        "hnsw"
    } else if name.starts_with(PAYLOAD_INDEX_PREFIX) {
        "payload_index"
    } else if name.starts_with("ids.") {
        "id_map"
    } else if name.starts_with("ops.") {
        "op_log"
    } else if name == CONFIG_FILE {
        "config"
    } else {
        "other"
    }
}

/// Heap bytes a decoded payload holds, estimated from its capacities: the
/// state keeps every live payload decoded, and a memory budget must see it.
fn object_heap_bytes(object: &Payload) -> usize {
    // An ordered map stores each entry in a vector and its slot in a hash table.
    object.len() * (std::mem::size_of::<(String, Value)>() + 2 * std::mem::size_of::<usize>())
        + object
            .iter()
            .map(|(k, v)| k.capacity() + value_heap_bytes(v))
            .sum::<usize>()
}

fn value_heap_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.capacity(),
        Value::Array(items) => {
            items.capacity() * std::mem::size_of::<Value>()
                + items.iter().map(value_heap_bytes).sum::<usize>()
        }
        Value::Object(object) => object_heap_bytes(object),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}
