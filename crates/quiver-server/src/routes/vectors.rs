//! Vectors on the wire. Qdrant names a point's vectors; `""` is the name of
//! the default vector, the one every Quiver collection has, so each place
//! a vector or a vector name goes takes both spellings: a plain list or
//! `{"": [...]}` for a point's vector, `{"": [[...], ...]}` for a batch's,
//! `{"name": "", "vector": [...]}` for a search's, and `""` in `using` and
//! `with_vector`. Any other name, and sparse vectors, are refused with an
//! error that names them.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The default vector's name.
pub const DEFAULT_VECTOR: &str = "";

fn unknown_name(name: &str) -> String {
    format!("vector `{name}` does not exist: collections have one vector, the default `\"\"`")
}

/// Checks that `name` is the default vector's.
///
/// # Errors
/// A message naming the vector otherwise.
pub fn check_name(name: &str) -> Result<(), String> {
    if name == DEFAULT_VECTOR {
        Ok(())
    } else {
        Err(unknown_name(name))
    }
}

/// The one vector of a `{name: vector}` object: the default one.
fn only_default(map: Map<String, Value>) -> Result<Value, String> {
    if map.contains_key("indices") || map.contains_key("values") {
        return Err("sparse vectors are not supported: give a list of numbers".into());
    }
    if map.len() > 1 {
        let names: Vec<String> = map.keys().map(|k| format!("`{k}`")).collect();
        return Err(format!(
            "several named vectors given ({}): collections have one vector, the default `\"\"`",
            names.join(", ")
        ));
    }
    match map.into_iter().next() {
        Some((name, value)) => check_name(&name).map(|()| value),
        None => Err("no vector given: `{}` names none".into()),
    }
}

fn floats<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// A point's vector: a list of numbers, or `{"": [...]}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(value_type = Vec<f32>)]
pub struct PointVector(pub Vec<f32>);

impl<'de> Deserialize<'de> for PointVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = match Value::deserialize(d)? {
            Value::Object(map) => only_default(map).map_err(de::Error::custom)?,
            other => other,
        };
        floats(value).map(PointVector).map_err(de::Error::custom)
    }
}

/// A batch's vectors: a list of lists, or `{"": [[...], ...]}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(value_type = Vec<Vec<f32>>)]
pub struct BatchVectors(pub Vec<Vec<f32>>);

impl<'de> Deserialize<'de> for BatchVectors {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = match Value::deserialize(d)? {
            Value::Object(map) => only_default(map).map_err(de::Error::custom)?,
            other => other,
        };
        floats(value).map(BatchVectors).map_err(de::Error::custom)
    }
}

/// A search's vector: a list of numbers, `{"": [...]}`, or
/// `{"name": "", "vector": [...]}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(value_type = Vec<f32>)]
pub struct SearchVector(pub Vec<f32>);

impl<'de> Deserialize<'de> for SearchVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = match Value::deserialize(d)? {
            Value::Object(mut map) if map.contains_key("vector") => {
                let name = match map.remove("name") {
                    Some(Value::String(name)) => name,
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "vector `name` must be a string, got {other}"
                        )));
                    }
                    None => {
                        return Err(de::Error::custom(
                            "a named vector needs `name` beside `vector`",
                        ));
                    }
                };
                check_name(&name).map_err(de::Error::custom)?;
                let vector = map.remove("vector").unwrap_or(Value::Null);
                if let Some(key) = map.keys().next() {
                    return Err(de::Error::custom(format!(
                        "unknown field `{key}` in a named vector: it takes `name` and `vector`"
                    )));
                }
                vector
            }
            Value::Object(map) => only_default(map).map_err(de::Error::custom)?,
            other => other,
        };
        floats(value).map(SearchVector).map_err(de::Error::custom)
    }
}

/// A vector name in `with_vector`: only the default one exists.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(value_type = String)]
pub struct VectorName(pub String);

impl<'de> Deserialize<'de> for VectorName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        check_name(&name).map_err(de::Error::custom)?;
        Ok(VectorName(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn point(v: Value) -> Result<Vec<f32>, String> {
        serde_json::from_value::<PointVector>(v)
            .map(|p| p.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_vector_has_two_spellings_and_other_names_are_refused() {
        assert_eq!(point(json!([1.0, 2.0])).unwrap(), vec![1.0, 2.0]);
        assert_eq!(point(json!({"": [1.0, 2.0]})).unwrap(), vec![1.0, 2.0]);
        let err = point(json!({"dense": [1.0]})).unwrap_err();
        assert!(err.contains("vector `dense` does not exist"), "{err}");
        let err = point(json!({"": [1.0], "b": [2.0]})).unwrap_err();
        assert!(err.contains("several named vectors"), "{err}");
        let err = point(json!({"indices": [1], "values": [0.5]})).unwrap_err();
        assert!(err.contains("sparse"), "{err}");
        assert!(point(json!({})).unwrap_err().contains("no vector"));
        assert!(point(json!({"": "x"})).is_err());

        let batch: BatchVectors = serde_json::from_value(json!({"": [[1.0], [2.0]]})).unwrap();
        assert_eq!(batch.0, vec![vec![1.0], vec![2.0]]);
        let batch: BatchVectors = serde_json::from_value(json!([[1.0], [2.0]])).unwrap();
        assert_eq!(batch.0.len(), 2);
        assert!(serde_json::from_value::<BatchVectors>(json!({"x": [[1.0]]})).is_err());
    }

    #[test]
    fn a_search_vector_may_be_named_the_default() {
        let parse = |v: Value| {
            serde_json::from_value::<SearchVector>(v)
                .map(|s| s.0)
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse(json!([0.5])).unwrap(), vec![0.5]);
        assert_eq!(
            parse(json!({"name": "", "vector": [0.5]})).unwrap(),
            vec![0.5]
        );
        assert_eq!(parse(json!({"": [0.5]})).unwrap(), vec![0.5]);
        let err = parse(json!({"name": "img", "vector": [0.5]})).unwrap_err();
        assert!(err.contains("vector `img` does not exist"), "{err}");
        let err = parse(json!({"vector": [0.5]})).unwrap_err();
        assert!(err.contains("needs `name`"), "{err}");
        let err = parse(json!({"name": "", "vector": [0.5], "x": 1})).unwrap_err();
        assert!(err.contains("unknown field `x`"), "{err}");
        assert!(serde_json::from_value::<VectorName>(json!("")).is_ok());
        let err = serde_json::from_value::<VectorName>(json!("img"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`img`"), "{err}");
    }
}
