//! [`Collection::info`]: counts, sizes and status.

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

use crate::Result;

use super::checkpoint::PAYLOAD_INDEX_PREFIX;
use super::config::CONFIG_FILE;
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
        let payload_bytes: usize = state
            .payloads
            .values()
            .map(|p| std::mem::size_of::<(u32, Payload)>() + object_heap_bytes(p))
            .sum();
        drop(state);
        let indexed_vectors = self.graph.len() as u64;
        let mut files = Vec::new();
        let mut disk_bytes: BTreeMap<String, u64> = BTreeMap::new();
        let entries = fs::read_dir(&self.dir).map_err(self.io_err("."))?;
        for entry in entries {
            let entry = entry.map_err(self.io_err("."))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let len = entry.metadata().map_err(self.io_err(&name))?.len();
            let component = if name.starts_with("vectors.") {
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
            };
            *disk_bytes.entry(component.to_owned()).or_default() += len;
            files.push((name, len));
        }
        files.sort();
        let mut ram_bytes = BTreeMap::new();
        ram_bytes.insert(
            "vectors".to_owned(),
            self.vectors.read().memory_bytes() as u64,
        );
        ram_bytes.insert(
            "payloads".to_owned(),
            (self.payloads.read().memory_bytes() + payload_bytes) as u64,
        );
        ram_bytes.insert("hnsw".to_owned(), self.graph.memory_bytes() as u64);
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
