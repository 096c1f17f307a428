//! Payload indexes: per indexed key, a map from value to the bitmap of
//! internal ids holding it, kept current by `insert` / `remove`.

use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::eval::{is_empty, values_at};
use super::parse::{parse_datetime, parse_key};
use crate::{Error, Result};

/// The type of a payload index, with Qdrant's `field_schema` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Strings, exact match (and substring via a key scan).
    Keyword,
    /// Integers (JSON numbers that fit in i64 and have no fraction).
    Integer,
    /// All numbers, as f64, for ranges.
    Float,
    /// Booleans.
    Bool,
    /// Strings that parse as datetimes, for ranges.
    Datetime,
}

impl FieldType {
    /// Every field type.
    pub(crate) const ALL: [FieldType; 5] = [
        FieldType::Keyword,
        FieldType::Integer,
        FieldType::Float,
        FieldType::Bool,
        FieldType::Datetime,
    ];
}

/// A float key with a total order: `-0.0` is stored as `0.0`, and NaN
/// cannot come from JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FloatKey(u64);

impl FloatKey {
    pub(crate) fn new(x: f64) -> Self {
        let x = if x == 0.0 { 0.0 } else { x };
        let bits = x.to_bits();
        // Flip so that unsigned order equals numeric order.
        FloatKey(if bits >> 63 == 1 {
            !bits
        } else {
            bits | (1 << 63)
        })
    }

    pub(crate) fn get(self) -> f64 {
        let bits = if self.0 >> 63 == 1 {
            self.0 & !(1 << 63)
        } else {
            !self.0
        };
        f64::from_bits(bits)
    }

    pub(crate) fn from_raw(raw: u64) -> Self {
        FloatKey(raw)
    }

    pub(crate) fn raw(self) -> u64 {
        self.0
    }
}

/// The value maps of one index, by type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Keys {
    Keyword(HashMap<String, RoaringBitmap>),
    Integer(BTreeMap<i64, RoaringBitmap>),
    Float(BTreeMap<FloatKey, RoaringBitmap>),
    Bool(BTreeMap<bool, RoaringBitmap>),
    Datetime(BTreeMap<i64, RoaringBitmap>),
}

impl Keys {
    pub(crate) fn new(ty: FieldType) -> Self {
        match ty {
            FieldType::Keyword => Keys::Keyword(HashMap::new()),
            FieldType::Integer => Keys::Integer(BTreeMap::new()),
            FieldType::Float => Keys::Float(BTreeMap::new()),
            FieldType::Bool => Keys::Bool(BTreeMap::new()),
            FieldType::Datetime => Keys::Datetime(BTreeMap::new()),
        }
    }

    /// Adds (or removes) `id` under `value`; false if the value is not of
    /// this index's type.
    fn update(&mut self, value: &Value, id: u32, add: bool) -> bool {
        fn apply<K: Ord>(map: &mut BTreeMap<K, RoaringBitmap>, key: K, id: u32, add: bool) {
            if add {
                map.entry(key).or_default().insert(id);
            } else if let Some(bits) = map.get_mut(&key) {
                bits.remove(id);
                if bits.is_empty() {
                    map.remove(&key);
                }
            }
        }
        match (self, value) {
            (Keys::Keyword(map), Value::String(s)) => {
                if add {
                    map.entry(s.clone()).or_default().insert(id);
                } else if let Some(bits) = map.get_mut(s.as_str()) {
                    bits.remove(id);
                    if bits.is_empty() {
                        map.remove(s.as_str());
                    }
                }
                true
            }
            (Keys::Integer(map), Value::Number(n)) => match n.as_i64() {
                Some(i) => {
                    apply(map, i, id, add);
                    true
                }
                None => false,
            },
            (Keys::Float(map), Value::Number(n)) => match n.as_f64() {
                Some(x) => {
                    apply(map, FloatKey::new(x), id, add);
                    true
                }
                None => false,
            },
            (Keys::Bool(map), Value::Bool(b)) => {
                apply(map, *b, id, add);
                true
            }
            (Keys::Datetime(map), Value::String(s)) => match parse_datetime(s) {
                Some(t) => {
                    apply(map, t, id, add);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    pub(crate) fn bitmaps(&self) -> Box<dyn Iterator<Item = &RoaringBitmap> + '_> {
        match self {
            Keys::Keyword(m) => Box::new(m.values()),
            Keys::Integer(m) | Keys::Datetime(m) => Box::new(m.values()),
            Keys::Float(m) => Box::new(m.values()),
            Keys::Bool(m) => Box::new(m.values()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Keys::Keyword(m) => m.len(),
            Keys::Integer(m) | Keys::Datetime(m) => m.len(),
            Keys::Float(m) => m.len(),
            Keys::Bool(m) => m.len(),
        }
    }
}

/// The index of one payload key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldIndex {
    pub(crate) ty: FieldType,
    pub(crate) keys: Keys,
    /// Ids whose value at the key is not empty (Qdrant's is_empty is false).
    pub(crate) present: RoaringBitmap,
    /// Ids holding at least one non-null value this index cannot represent
    /// (wrong type, object, nested array): conditions that such a value
    /// might satisfy cannot be answered from `keys` alone.
    pub(crate) unindexed: RoaringBitmap,
}

impl FieldIndex {
    pub(crate) fn new(ty: FieldType) -> Self {
        FieldIndex {
            ty,
            keys: Keys::new(ty),
            present: RoaringBitmap::new(),
            unindexed: RoaringBitmap::new(),
        }
    }

    fn update(&mut self, field: &str, id: u32, payload: &Map<String, Value>, add: bool) {
        let values = values_at(payload, field);
        if add {
            if !is_empty(&values) {
                self.present.insert(id);
            }
        } else {
            self.present.remove(id);
            self.unindexed.remove(id);
        }
        let flat = values.iter().flat_map(|v| match v {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![*other],
        });
        for value in flat {
            if value.is_null() {
                continue;
            }
            if !self.keys.update(value, id, add) && add {
                self.unindexed.insert(id);
            }
        }
    }
}

/// Payload indexes of one collection, keyed by internal `u32` ids.
///
/// Not internally locked: the collection serialises writers. The index
/// trusts its caller to pass, to [`PayloadIndexes::remove`], the payload
/// that was last passed to [`PayloadIndexes::insert`] for that id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PayloadIndexes {
    pub(crate) fields: BTreeMap<String, FieldIndex>,
}

impl PayloadIndexes {
    /// No indexes.
    pub fn new() -> Self {
        PayloadIndexes::default()
    }

    /// Creates (or rebuilds, possibly with a new type) the index of `field`
    /// from the existing points.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if `field` is not a valid key path.
    pub fn create<'a>(
        &mut self,
        field: &str,
        ty: FieldType,
        existing: impl Iterator<Item = (u32, &'a Map<String, Value>)>,
    ) -> Result<()> {
        parse_key(field).map_err(|e| Error::InvalidInput(format!("payload index: {e}")))?;
        let mut index = FieldIndex::new(ty);
        for (id, payload) in existing {
            index.update(field, id, payload, true);
        }
        self.fields.insert(field.to_string(), index);
        Ok(())
    }

    /// Drops the index of `field`; false if there was none.
    pub fn drop_index(&mut self, field: &str) -> bool {
        self.fields.remove(field).is_some()
    }

    /// The indexed keys and their types, in key order.
    pub fn fields(&self) -> Vec<(String, FieldType)> {
        self.fields
            .iter()
            .map(|(name, index)| (name.clone(), index.ty))
            .collect()
    }

    /// The indexed keys, their types, and how many points have a non-empty
    /// value at each.
    pub fn field_counts(&self) -> Vec<(String, FieldType, u64)> {
        self.fields
            .iter()
            .map(|(name, index)| (name.clone(), index.ty, index.present.len()))
            .collect()
    }

    /// Indexes the payload of `id`; call after the payload is written.
    pub fn insert(&mut self, id: u32, payload: &Map<String, Value>) {
        for (field, index) in &mut self.fields {
            index.update(field, id, payload, true);
        }
    }

    /// Un-indexes `id`; call with the OLD payload before it changes or the
    /// point is deleted.
    pub fn remove(&mut self, id: u32, payload: &Map<String, Value>) {
        for (field, index) in &mut self.fields {
            index.update(field, id, payload, false);
        }
    }

    /// Approximate heap bytes held by the indexes.
    pub fn memory_bytes(&self) -> usize {
        let bitmap_bytes = |b: &RoaringBitmap| b.serialized_size() + 16;
        self.fields
            .iter()
            .map(|(name, index)| {
                let key_bytes = match &index.keys {
                    Keys::Keyword(m) => m.keys().map(|k| k.capacity() + 48).sum::<usize>(),
                    other => other.len() * 24,
                };
                name.len()
                    + 128
                    + key_bytes
                    + index.keys.bitmaps().map(bitmap_bytes).sum::<usize>()
                    + bitmap_bytes(&index.present)
                    + bitmap_bytes(&index.unindexed)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_keys_order_like_numbers() {
        let xs = [-1e300, -2.5, -1.0, -0.0, 0.0, 1e-300, 1.0, 3.5, 1e300];
        let keys: Vec<FloatKey> = xs.iter().map(|&x| FloatKey::new(x)).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(FloatKey::new(-0.0), FloatKey::new(0.0));
        for &x in &xs {
            assert_eq!(FloatKey::new(x).get(), if x == 0.0 { 0.0 } else { x });
        }
    }
}
