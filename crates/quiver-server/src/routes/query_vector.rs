//! Vectors as reads name them: the query inputs of the universal query
//! (a dense list, a sparse `{"indices", "values"}`, a point id, a BM25
//! `Document`) and the vector of a legacy search (plain, or named dense or
//! sparse). Sparse vectors and Documents are read as a point's are
//! (`vectors`), Documents embedded as queries.
//!
//! Names are not checked here: whether the collection has the vector a
//! query names, and of which kind, is the engine's check when the query
//! runs, so the error names the collection's vectors.

use quiver_core::{PointId, SparseVector, Vector};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::vectors::{BM25_MODEL, Embedder, sparse};
use crate::error::{ApiError, ApiResult};

/// What a query stage ranks by, before point ids are resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// This vector (a Document is embedded when decoded).
    Vector(Vector),
    /// The stored vector of this point (of the stage's `using` vector, or
    /// of `lookup_from`'s).
    Point(PointId),
}

/// Decodes one query input: `[floats]`, `{"indices", "values"}`, a point
/// id, or `{"text", "model", "options"?}`. `at` names the place in the
/// request for errors.
///
/// # Errors
/// 400 naming `at` and what was wrong.
pub fn input(value: Value, at: &str) -> ApiResult<Input> {
    let bad = |m: String| ApiError::bad_request(format!("{at}: {m}"));
    match value {
        Value::Array(items) => {
            if items.first().is_some_and(Value::is_array) {
                return Err(bad(
                    "multi-vectors (a list of lists) are not supported: give one vector".into(),
                ));
            }
            serde_json::from_value::<Vec<f32>>(Value::Array(items))
                .map(|v| Input::Vector(Vector::Dense(v)))
                .map_err(|e| bad(format!("a dense vector must be a list of numbers: {e}")))
        }
        Value::Object(map) if map.contains_key("indices") || map.contains_key("values") => {
            sparse(Value::Object(map))
                .map(|v| Input::Vector(Vector::Sparse(v)))
                .map_err(bad)
        }
        Value::Object(map) if map.contains_key("text") => document(map)
            .map(|v| Input::Vector(Vector::Sparse(v)))
            .map_err(bad),
        Value::Object(map) if map.contains_key("image") || map.contains_key("object") => {
            let kind = if map.contains_key("image") {
                "image"
            } else {
                "object"
            };
            Err(bad(format!(
                "`{kind}` inference is not supported: the server embeds only Documents of model \
                 `{BM25_MODEL}`"
            )))
        }
        Value::Number(_) | Value::String(_) => serde_json::from_value::<PointId>(value)
            .map(Input::Point)
            .map_err(|_| bad("a point id must be an unsigned integer or a UUID".into())),
        other => Err(bad(format!(
            "expected a vector, a sparse vector, a point id or a Document, got {other}"
        ))),
    }
}

/// A Document embedded as a BM25 query.
fn document(map: Map<String, Value>) -> Result<SparseVector, String> {
    Embedder::default().query(map)
}

/// The vector of a legacy search: `[floats]` (the default vector),
/// `{"name": n, "vector": [floats] | {"indices", "values"}}`, or
/// `{n: [floats]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedQueryVector {
    /// The vector searched (`""` = the default one).
    pub name: String,
    /// The query.
    pub vector: Vector,
}

/// Documentation of [`NamedQueryVector`]'s forms in the OpenAPI document.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(
    dead_code,
    reason = "describes the wire form in the OpenAPI document only"
)]
pub enum SearchVectorSchema {
    /// The default dense vector.
    Plain(Vec<f32>),
    /// A named dense or sparse vector.
    Named {
        /// The vector's name.
        name: String,
        /// Its value: a list of numbers, or `{"indices", "values"}`.
        #[schema(value_type = Object)]
        vector: Value,
    },
}

impl<'de> Deserialize<'de> for NamedQueryVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        named_query_vector(value).map_err(de::Error::custom)
    }
}

fn named_query_vector(value: Value) -> Result<NamedQueryVector, String> {
    let dense = |v: Value| -> Result<Vector, String> {
        if let Value::Object(_) = v {
            return sparse(v).map(Vector::Sparse);
        }
        serde_json::from_value::<Vec<f32>>(v)
            .map(Vector::Dense)
            .map_err(|e| format!("a vector must be a list of numbers: {e}"))
    };
    match value {
        Value::Object(mut map) if map.contains_key("vector") || map.contains_key("name") => {
            let name = match map.remove("name") {
                Some(Value::String(name)) => name,
                Some(other) => return Err(format!("vector `name` must be a string, got {other}")),
                None => return Err("a named vector needs `name` beside `vector`".into()),
            };
            let vector = map
                .remove("vector")
                .ok_or("a named vector needs `vector` beside `name`")?;
            if let Some(key) = map.keys().next() {
                return Err(format!(
                    "unknown field `{key}` in a named vector: it takes `name` and `vector`"
                ));
            }
            Ok(NamedQueryVector {
                name,
                vector: dense(vector)?,
            })
        }
        Value::Object(map) if map.contains_key("indices") || map.contains_key("values") => {
            Err("a sparse search vector needs its name: {\"name\": .., \"vector\": {\"indices\", \"values\"}}".into())
        }
        Value::Object(map) => {
            if map.len() != 1 {
                return Err(format!(
                    "give one vector: {{\"name\": .., \"vector\": ..}}, not {} entries",
                    map.len()
                ));
            }
            let Some((name, vector)) = map.into_iter().next() else {
                return Err("no vector given".into());
            };
            Ok(NamedQueryVector {
                name,
                vector: dense(vector)?,
            })
        }
        other => Ok(NamedQueryVector {
            name: String::new(),
            vector: dense(other)?,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_core::text::{Bm25, Bm25Config};
    use serde_json::json;

    #[test]
    fn query_inputs_take_each_wire_form() {
        assert_eq!(
            input(json!([1.0, 2.0]), "q").unwrap(),
            Input::Vector(Vector::Dense(vec![1.0, 2.0]))
        );
        let Input::Vector(Vector::Sparse(s)) =
            input(json!({"indices": [3, 1], "values": [0.5, 0.25]}), "q").unwrap()
        else {
            panic!("sparse")
        };
        assert_eq!(s.indices(), &[1, 3]);
        assert_eq!(input(json!(7), "q").unwrap(), Input::Point(PointId::Num(7)));
        let Input::Vector(Vector::Sparse(doc)) = input(
            json!({"text": "running dogs, running", "model": "Qdrant/bm25"}),
            "q",
        )
        .unwrap() else {
            panic!("document")
        };
        let want = Bm25::new(&Bm25Config::default())
            .unwrap()
            .embed_query("running dogs, running");
        assert_eq!(doc, want);
        assert_eq!(doc.len(), 2, "distinct stems, each 1.0");
        for (body, needle) in [
            (json!({"text": "a", "model": "bert"}), "`bert`"),
            (
                json!({"text": "a", "model": "qdrant/bm25", "options": {"kk": 1}}),
                "kk",
            ),
            (
                json!({"text": "a", "model": "qdrant/bm25", "options": {"b": 2.0}}),
                "`b`",
            ),
            (json!({"text": "a", "model": "qdrant/bm25", "x": 1}), "`x`"),
            (json!([[1.0]]), "multi-vectors"),
            (json!({"image": "x.png", "model": "clip"}), "image"),
            (json!({"indices": [1], "values": []}), "sparse"),
            (json!(true), "expected a vector"),
            (json!(-1), "point id"),
        ] {
            let e = input(body, "query").unwrap_err();
            assert!(
                e.message().contains(needle),
                "{} lacks {needle}",
                e.message()
            );
            assert!(e.message().starts_with("query: "), "{}", e.message());
        }
    }

    #[test]
    fn a_search_vector_is_plain_or_named_dense_or_sparse() {
        let parse =
            |v: Value| serde_json::from_value::<NamedQueryVector>(v).map_err(|e| e.to_string());
        assert_eq!(
            parse(json!([0.5])).unwrap(),
            NamedQueryVector {
                name: String::new(),
                vector: Vector::Dense(vec![0.5])
            }
        );
        let named = parse(json!({"name": "img", "vector": [0.5]})).unwrap();
        assert_eq!(named.name, "img");
        let sparse =
            parse(json!({"name": "bm25", "vector": {"indices": [2], "values": [1.0]}})).unwrap();
        assert!(matches!(sparse.vector, Vector::Sparse(_)));
        assert_eq!(parse(json!({"": [1.0]})).unwrap().name, "");
        for (v, needle) in [
            (json!({"vector": [0.5]}), "needs `name`"),
            (
                json!({"name": "a", "vector": [0.5], "x": 1}),
                "unknown field `x`",
            ),
            (json!({"indices": [1], "values": [1.0]}), "needs its name"),
            (json!({"a": [1.0], "b": [1.0]}), "2 entries"),
            (json!("x"), "list of numbers"),
        ] {
            let e = parse(v).unwrap_err();
            assert!(e.contains(needle), "{e} lacks {needle}");
        }
    }
}
