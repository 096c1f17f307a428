//! What identifies a point and the vectors it carries: ids (unsigned
//! integers or UUIDs, as users give them), dense and sparse vectors.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A point's external id: an unsigned integer or a UUID.
///
/// Serialises as a JSON number or a UUID string, the way clients send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PointId {
    /// An unsigned integer id.
    Num(u64),
    /// A UUID id.
    Uuid(Uuid),
}

impl From<u64> for PointId {
    fn from(v: u64) -> Self {
        PointId::Num(v)
    }
}

impl From<Uuid> for PointId {
    fn from(v: Uuid) -> Self {
        PointId::Uuid(v)
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{u}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_json_as_number_or_string() {
        let n: PointId = serde_json::from_str("42").unwrap();
        assert_eq!(n, PointId::Num(42));
        let u: PointId = serde_json::from_str("\"550e8400-e29b-41d4-a716-446655440000\"").unwrap();
        assert!(matches!(u, PointId::Uuid(_)));
        assert_eq!(serde_json::to_string(&n).unwrap(), "42");
        assert!(serde_json::from_str::<PointId>("-1").is_err());
        assert!(serde_json::from_str::<PointId>("\"not-a-uuid\"").is_err());
    }
}

/// The most non-zero entries a sparse vector may hold.
pub const MAX_SPARSE_ENTRIES: usize = 1 << 16;

/// A sparse vector: the non-zero `values` at dimensions `indices`, sorted by
/// index with no index twice.
///
/// Built by [`SparseVector::new`], which sorts, checks and rejects what
/// cannot be a vector, so every `SparseVector` a caller holds is valid.
/// Serialises as `{"indices": [...], "values": [...]}`, the form clients
/// send.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SparseVector {
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl SparseVector {
    /// The vector with `values[i]` at dimension `indices[i]`, in any order.
    ///
    /// Fails, naming the problem, if the two lengths differ, an index
    /// appears twice, a value is NaN or infinite, or there are more than
    /// [`MAX_SPARSE_ENTRIES`] entries. Zero values are kept as given.
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> Result<SparseVector, String> {
        if indices.len() != values.len() {
            return Err(format!(
                "sparse vector has {} indices but {} values",
                indices.len(),
                values.len()
            ));
        }
        if indices.len() > MAX_SPARSE_ENTRIES {
            return Err(format!(
                "sparse vector has {} entries; at most {MAX_SPARSE_ENTRIES} are allowed",
                indices.len()
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "sparse vector value {} (at index {}) is not a finite number",
                values[i], indices[i]
            ));
        }
        let mut pairs: Vec<(u32, f32)> = indices.into_iter().zip(values).collect();
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            pairs.sort_unstable_by_key(|p| p.0);
            if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(format!("sparse vector index {} appears twice", w[0].0));
            }
        }
        let (indices, values) = pairs.into_iter().unzip();
        Ok(SparseVector { indices, values })
    }

    /// The dimensions that have a value, ascending.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// The values, in the order of [`indices`](Self::indices).
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// How many entries the vector holds.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the vector has no entries.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The dot product with `other` (dimensions missing from either count
    /// as zero), accumulated in f64 so the order of terms does not matter
    /// to the f32 result.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0f64);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += f64::from(self.values[i]) * f64::from(other.values[j]);
                    i += 1;
                    j += 1;
                }
            }
        }
        sum as f32
    }
}

impl<'de> Deserialize<'de> for SparseVector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            indices: Vec<u32>,
            values: Vec<f32>,
        }
        let wire = Wire::deserialize(d)?;
        SparseVector::new(wire.indices, wire.values).map_err(serde::de::Error::custom)
    }
}

/// One vector of a point, or of a query: dense or sparse.
///
/// Serialises as a list of floats or as `{"indices": [...], "values": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Vector {
    /// A dense vector.
    Dense(Vec<f32>),
    /// A sparse vector.
    Sparse(SparseVector),
}

impl Vector {
    /// The dense vector, if this is one.
    pub fn as_dense(&self) -> Option<&[f32]> {
        match self {
            Vector::Dense(v) => Some(v),
            Vector::Sparse(_) => None,
        }
    }

    /// The sparse vector, if this is one.
    pub fn as_sparse(&self) -> Option<&SparseVector> {
        match self {
            Vector::Dense(_) => None,
            Vector::Sparse(v) => Some(v),
        }
    }
}

impl From<Vec<f32>> for Vector {
    fn from(v: Vec<f32>) -> Self {
        Vector::Dense(v)
    }
}

impl From<SparseVector> for Vector {
    fn from(v: SparseVector) -> Self {
        Vector::Sparse(v)
    }
}

/// The vectors of a point by name (`""` = the default vector).
pub type NamedVectors = std::collections::BTreeMap<String, Vector>;

#[cfg(test)]
mod sparse_tests {
    use super::*;

    #[test]
    fn new_sorts_and_keeps_pairs_together() {
        let v = SparseVector::new(vec![9, 2, 5], vec![0.9, 0.2, 0.5]).unwrap();
        assert_eq!(v.indices(), &[2, 5, 9]);
        assert_eq!(v.values(), &[0.2, 0.5, 0.9]);
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn new_rejects_what_is_not_a_vector() {
        let dup = SparseVector::new(vec![3, 1, 3], vec![1.0, 1.0, 2.0]).unwrap_err();
        assert!(dup.contains("index 3 appears twice"), "{dup}");
        let lens = SparseVector::new(vec![1, 2], vec![1.0]).unwrap_err();
        assert!(lens.contains("2 indices but 1 values"), "{lens}");
        let nan = SparseVector::new(vec![1, 7], vec![1.0, f32::NAN]).unwrap_err();
        assert!(nan.contains("at index 7"), "{nan}");
        let inf = SparseVector::new(vec![1], vec![f32::INFINITY]).unwrap_err();
        assert!(inf.contains("not a finite number"), "{inf}");
        let huge = MAX_SPARSE_ENTRIES as u32 + 1;
        let many = SparseVector::new((0..huge).collect(), vec![1.0; huge as usize]).unwrap_err();
        assert!(many.contains("at most"), "{many}");
    }

    #[test]
    fn dot_counts_only_shared_dimensions() {
        let a = SparseVector::new(vec![1, 4, 8], vec![1.0, 2.0, 3.0]).unwrap();
        let b = SparseVector::new(vec![0, 4, 8, 9], vec![5.0, 0.5, 2.0, 7.0]).unwrap();
        assert_eq!(a.dot(&b), 7.0);
        assert_eq!(b.dot(&a), 7.0);
        assert_eq!(a.dot(&SparseVector::default()), 0.0);
    }

    #[test]
    fn json_form_is_validated() {
        let v: SparseVector =
            serde_json::from_str(r#"{"indices": [4, 1], "values": [0.4, 0.1]}"#).unwrap();
        assert_eq!(v.indices(), &[1, 4]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"indices":[1,4],"values":[0.1,0.4]}"#
        );
        let bad = serde_json::from_str::<SparseVector>(r#"{"indices": [1, 1], "values": [1, 2]}"#)
            .unwrap_err();
        assert!(bad.to_string().contains("appears twice"), "{bad}");
        let neg = serde_json::from_str::<SparseVector>(r#"{"indices": [-1], "values": [1]}"#);
        assert!(neg.is_err());
        let extra =
            serde_json::from_str::<SparseVector>(r#"{"indices": [], "values": [], "x": 1}"#);
        assert!(extra.is_err());
    }
}
