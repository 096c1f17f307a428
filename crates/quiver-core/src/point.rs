//! Point identifiers: unsigned integers or UUIDs, as users give them.

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
