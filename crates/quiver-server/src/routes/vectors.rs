//! Vectors on the wire. Qdrant names a point's vectors; `""` is the name of
//! the default vector, the one a plain list of numbers means.
//!
//! A point's vectors arrive as a plain list (the default vector) or as a
//! `{name: vector}` object giving any subset of the collection's vectors,
//! each a dense list, a sparse `{"indices": [...], "values": [...]}` or a
//! document `{"text": "...", "model": "qdrant/bm25", "options": {..}}`
//! that the server turns into a BM25 sparse vector ([`Embedder`]). The
//! bodies ([`VectorStruct`], [`BatchVectorStruct`]) read dense lists
//! straight into floats and keep the rest as JSON, which the route converts
//! so that an error names the point and the vector it is about.
//!
//! Vectors go out ([`VectorOutput`]) as Qdrant sends them: a plain list
//! when the default vector is the only one returned, a `{name: vector}`
//! object otherwise.
//!
//! What queries rank by is read in `query_vector`.

use std::collections::{BTreeMap, HashMap};

use quiver_core::text::{Bm25, Bm25Config};
use quiver_core::{NamedVectors, SparseVector, Vector};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The default vector's name.
pub const DEFAULT_VECTOR: &str = "";

/// The one text model the server embeds with, as Qdrant names it (compared
/// case-insensitively, as Qdrant does: clients send `Qdrant/bm25`).
pub const BM25_MODEL: &str = "qdrant/bm25";

/// `vector `name`` for messages; the default vector by that name.
pub fn label(name: &str) -> String {
    if name == DEFAULT_VECTOR {
        "default vector `\"\"`".to_owned()
    } else {
        format!("vector `{name}`")
    }
}

/// A vector name in `with_vector`; whether the collection has it is
/// checked against the collection ([`crate::routes::model::WithVector::check`]).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct VectorName(pub String);

/// One vector as sent: a dense list read straight into floats (the bulk
/// of most bodies), anything else kept as JSON until [`Embedder::vector`]
/// reads it with the point at hand for its errors.
#[derive(Clone, Debug)]
pub enum RawVector {
    /// A list of numbers.
    Dense(Vec<f32>),
    /// A sparse vector, a document, or something that is neither.
    Other(Value),
}

impl<'de> Deserialize<'de> for RawVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> de::Visitor<'de> for Visit {
            type Value = RawVector;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a vector: a list of numbers, {\"indices\", \"values\"} or a document")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawVector, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(x) = seq.next_element::<f32>()? {
                    v.push(x);
                }
                Ok(RawVector::Dense(v))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawVector, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawVector::Other)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawVector, E> {
                Ok(RawVector::Other(Value::String(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawVector, E> {
                Ok(RawVector::Other(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawVector, E> {
                Ok(RawVector::Other(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawVector, E> {
                Ok(RawVector::Other(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawVector, E> {
                Ok(RawVector::Other(Value::from(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawVector, E> {
                Ok(RawVector::Other(Value::Null))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl RawVector {
    fn into_value(self) -> Value {
        match self {
            RawVector::Dense(v) => Value::from(v),
            RawVector::Other(v) => v,
        }
    }
}

/// A point's vectors as sent: a list of numbers (the default vector) or a
/// `{name: vector}` object; [`VectorStruct::into_named`] converts it.
#[derive(Clone, Debug, ToSchema)]
#[schema(value_type = VectorStructSchema)]
pub struct VectorStruct(Vec<(String, RawVector)>);

impl<'de> Deserialize<'de> for VectorStruct {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> de::Visitor<'de> for Visit {
            type Value = VectorStruct;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of numbers or {name: vector}")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<VectorStruct, A::Error> {
                let dense = RawVector::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(VectorStruct(vec![(DEFAULT_VECTOR.to_owned(), dense)]))
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<VectorStruct, A::Error> {
                let mut entries: Vec<(String, RawVector)> = Vec::new();
                while let Some((name, vector)) = map.next_entry::<String, RawVector>()? {
                    if entries.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!(
                            "{} is given twice",
                            label(&name)
                        )));
                    }
                    entries.push((name, vector));
                }
                // Names map to vectors and no vector is a string, so a
                // string `model` makes the object one document (or image or
                // object to embed) of the default vector, as Qdrant's
                // untagged `VectorStruct` decides. A bare sparse object is
                // a map of two dense vectors named `indices` and `values`.
                let single = entries
                    .iter()
                    .any(|(n, v)| n == "model" && matches!(v, RawVector::Other(Value::String(_))));
                if single {
                    let doc: Map<String, Value> = entries
                        .into_iter()
                        .map(|(n, v)| (n, v.into_value()))
                        .collect();
                    return Ok(VectorStruct(vec![(
                        DEFAULT_VECTOR.to_owned(),
                        RawVector::Other(Value::Object(doc)),
                    )]));
                }
                Ok(VectorStruct(entries))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl VectorStruct {
    /// The named vectors, documents embedded by `embedder`.
    ///
    /// # Errors
    /// A message naming the vector at fault (the caller adds the point).
    pub fn into_named(self, embedder: &mut Embedder) -> Result<NamedVectors, String> {
        self.0
            .into_iter()
            .map(|(name, raw)| {
                let vector = embedder
                    .vector(raw)
                    .map_err(|e| format!("{}: {e}", label(&name)))?;
                Ok((name, vector))
            })
            .collect()
    }
}

/// A batch's vectors as sent: a list with one vector per id (the default
/// vector), or `{name: [vector per id]}`.
#[derive(Clone, Debug, ToSchema)]
#[schema(value_type = BatchVectorStructSchema)]
pub struct BatchVectorStruct(Vec<(String, Vec<RawVector>)>);

impl<'de> Deserialize<'de> for BatchVectorStruct {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> de::Visitor<'de> for Visit {
            type Value = BatchVectorStruct;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of vectors or {name: [vectors]}")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<BatchVectorStruct, A::Error> {
                let list =
                    Vec::<RawVector>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(BatchVectorStruct(vec![(DEFAULT_VECTOR.to_owned(), list)]))
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<BatchVectorStruct, A::Error> {
                let mut columns: Vec<(String, Vec<RawVector>)> = Vec::new();
                while let Some((name, list)) = map.next_entry::<String, Vec<RawVector>>()? {
                    if columns.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!(
                            "{} is given twice",
                            label(&name)
                        )));
                    }
                    columns.push((name, list));
                }
                Ok(BatchVectorStruct(columns))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl BatchVectorStruct {
    /// The named vectors of each of `n` points, in order.
    ///
    /// # Errors
    /// A message naming the vector (and its position) at fault, or a list
    /// whose length is not `n`.
    pub fn into_points(
        self,
        n: usize,
        embedder: &mut Embedder,
    ) -> Result<Vec<NamedVectors>, String> {
        let mut points = vec![NamedVectors::new(); n];
        for (name, list) in self.0 {
            if list.len() != n {
                return Err(format!(
                    "batch has {n} ids but {} vectors for {}",
                    list.len(),
                    label(&name)
                ));
            }
            for (i, (raw, point)) in list.into_iter().zip(points.iter_mut()).enumerate() {
                let vector = embedder
                    .vector(raw)
                    .map_err(|e| format!("batch {} #{i}: {e}", label(&name)))?;
                point.insert(name.clone(), vector);
            }
        }
        Ok(points)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The sparse vector's wire form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SparseWire {
    indices: Vec<u32>,
    values: Vec<f32>,
}

/// `{"indices": [...], "values": [...]}`, checked by the engine's rules:
/// equal lengths, no index twice, finite values, u32 indices.
///
/// # Errors
/// A message saying what is wrong with it.
pub fn sparse(value: Value) -> Result<SparseVector, String> {
    let wire: SparseWire =
        serde_json::from_value(value).map_err(|e| format!("sparse vector: {e}"))?;
    SparseVector::new(wire.indices, wire.values)
}

/// A document to embed, as qdrant-client's `models.Document` sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentWire {
    text: String,
    model: String,
    #[serde(default)]
    options: Option<Map<String, Value>>,
}

/// Turns wire vectors into engine vectors, embedding documents with BM25.
/// Holds one model per distinct `options`, so a batch of documents builds
/// its model once.
#[derive(Default)]
pub struct Embedder {
    models: HashMap<String, Bm25>,
}

impl Embedder {
    /// One vector: a dense list, a sparse object or a document.
    ///
    /// # Errors
    /// A message saying what is wrong with it: a sparse vector with
    /// unequal lengths, an index twice, a value not finite or an index
    /// that is not a u32; a document of a model other than `qdrant/bm25`
    /// or with unknown options; anything else.
    pub fn vector(&mut self, raw: RawVector) -> Result<Vector, String> {
        let value = match raw {
            RawVector::Dense(v) => return Ok(Vector::Dense(v)),
            RawVector::Other(value) => value,
        };
        match value {
            Value::Object(map) if map.contains_key("indices") || map.contains_key("values") => {
                sparse(Value::Object(map)).map(Vector::Sparse)
            }
            Value::Object(map) if map.contains_key("text") => {
                let wire = document_wire(map)?;
                Ok(Vector::Sparse(
                    self.model(&wire)?.embed_document(&wire.text),
                ))
            }
            Value::Object(map) if map.contains_key("image") || map.contains_key("object") => {
                Err(format!(
                    "only text documents can be embedded (model `{BM25_MODEL}`), not images or objects"
                ))
            }
            other => Err(format!(
                "expected a list of numbers, a sparse vector {{\"indices\": [...], \"values\": [...]}} \
                 or a document {{\"text\": \"...\", \"model\": \"{BM25_MODEL}\"}}, got {}",
                kind(&other)
            )),
        }
    }

    /// A document `{"text", "model", "options"?}` embedded as a BM25 query:
    /// 1.0 for each distinct word (the collection's sparse vector applies
    /// IDF when its modifier says so).
    ///
    /// # Errors
    /// As [`Embedder::vector`] for a document.
    pub fn query(&mut self, document: Map<String, Value>) -> Result<SparseVector, String> {
        let wire = document_wire(document)?;
        Ok(self.model(&wire)?.embed_query(&wire.text))
    }

    /// The model for a document's `options`, built on first use.
    fn model(&mut self, doc: &DocumentWire) -> Result<&Bm25, String> {
        if !doc.model.eq_ignore_ascii_case(BM25_MODEL) {
            return Err(format!(
                "document model `{}` is not available: the server embeds with `{BM25_MODEL}` only",
                doc.model
            ));
        }
        let options = Value::Object(doc.options.clone().unwrap_or_default());
        let key = options.to_string();
        if !self.models.contains_key(&key) {
            let config: Bm25Config = serde_json::from_value(options)
                .map_err(|e| format!("document options of `{BM25_MODEL}`: {e}"))?;
            let model = Bm25::new(&config)
                .map_err(|e| format!("document options of `{BM25_MODEL}`: {e}"))?;
            self.models.insert(key.clone(), model);
        }
        self.models
            .get(&key)
            .ok_or_else(|| "document model was not built".to_owned())
    }
}

fn document_wire(map: Map<String, Value>) -> Result<DocumentWire, String> {
    serde_json::from_value(Value::Object(map)).map_err(|e| format!("document: {e}"))
}

/// A point's vectors going out: a plain list when the default dense vector
/// is the only one returned, `{name: vector}` otherwise (also when none
/// is: `{}`), as Qdrant answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum VectorOutput {
    /// The default vector alone.
    Default(Vec<f32>),
    /// Named vectors: dense lists and sparse `{"indices", "values"}`.
    Named(NamedVectors),
}

impl From<NamedVectors> for VectorOutput {
    fn from(mut vectors: NamedVectors) -> Self {
        if vectors.len() == 1
            && let Some(Vector::Dense(_)) = vectors.get(DEFAULT_VECTOR)
            && let Some(Vector::Dense(v)) = vectors.remove(DEFAULT_VECTOR)
        {
            return VectorOutput::Default(v);
        }
        VectorOutput::Named(vectors)
    }
}

/// OpenAPI shape of a sparse vector.
#[derive(Serialize, ToSchema)]
#[schema(as = SparseVector)]
pub struct SparseVectorSchema {
    /// Dimensions that have a value, each once.
    pub indices: Vec<u32>,
    /// The values, one per index, finite.
    pub values: Vec<f32>,
}

/// OpenAPI shape of a document the server embeds.
#[derive(Serialize, ToSchema)]
#[schema(as = Document)]
pub struct DocumentSchema {
    /// The text.
    pub text: String,
    /// `qdrant/bm25` (any case).
    pub model: String,
    /// BM25 settings: `k`, `b`, `avg_len`, `language`, `lowercase`,
    /// `stopwords`, `stemmer`, `min_token_len`, `max_token_len`.
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
}

/// OpenAPI shape of one vector going in.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = VectorInput)]
pub enum VectorInputSchema {
    /// Dense.
    Dense(Vec<f32>),
    /// Sparse.
    Sparse(SparseVectorSchema),
    /// Text embedded by the server into a sparse vector.
    Document(DocumentSchema),
}

/// OpenAPI shape of a point's vectors going in.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = VectorStruct)]
pub enum VectorStructSchema {
    /// The default vector.
    Default(Vec<f32>),
    /// Vectors by name.
    Named(BTreeMap<String, VectorInputSchema>),
}

/// OpenAPI shape of a batch's vectors going in.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = BatchVectorStruct)]
pub enum BatchVectorStructSchema {
    /// The default vector of each point.
    Default(Vec<Vec<f32>>),
    /// For each name, one vector per point.
    Named(BTreeMap<String, Vec<VectorInputSchema>>),
}

/// OpenAPI shape of one stored vector going out.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = VectorOutputValue)]
pub enum VectorValueSchema {
    /// Dense.
    Dense(Vec<f32>),
    /// Sparse.
    Sparse(SparseVectorSchema),
}

/// OpenAPI shape of a point's vectors going out.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = VectorStructOutput)]
pub enum VectorOutputSchema {
    /// The default vector, the only one returned.
    Default(Vec<f32>),
    /// Vectors by name.
    Named(BTreeMap<String, VectorValueSchema>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(v: Value) -> Result<NamedVectors, String> {
        serde_json::from_value::<VectorStruct>(v)
            .map_err(|e| e.to_string())?
            .into_named(&mut Embedder::default())
    }

    fn batch(v: Value, n: usize) -> Result<Vec<NamedVectors>, String> {
        serde_json::from_value::<BatchVectorStruct>(v)
            .map_err(|e| e.to_string())?
            .into_points(n, &mut Embedder::default())
    }

    #[test]
    fn point_vectors_are_a_list_or_named_dense_sparse_and_documents() {
        let one = named(json!([1.0, 2.0])).unwrap();
        assert_eq!(one[""], Vector::Dense(vec![1.0, 2.0]));
        let many = named(json!({
            "": [1.0], "s": {"indices": [5, 2], "values": [0.5, 0.2]},
            "d": {"text": "running dogs", "model": "Qdrant/bm25", "options": null}
        }))
        .unwrap();
        assert_eq!(many.len(), 3);
        assert_eq!(many["s"].as_sparse().unwrap().indices(), &[2, 5]);
        let bm25 = Bm25::new(&Bm25Config::default()).unwrap();
        assert_eq!(
            many["d"],
            Vector::Sparse(bm25.embed_document("running dogs"))
        );
        assert!(named(json!({})).unwrap().is_empty());
        // A document given bare is the default vector's (then refused by
        // the engine: the default vector is dense); a bare sparse object is
        // two vectors named `indices` and `values`, as in Qdrant.
        let bare = named(json!({"text": "a", "model": "qdrant/bm25"})).unwrap();
        assert!(bare[""].as_sparse().is_some());
        let bare = named(json!({"indices": [1], "values": [1.0]})).unwrap();
        assert_eq!(bare.keys().collect::<Vec<_>>(), ["indices", "values"]);
    }

    #[test]
    fn bad_vectors_are_refused_naming_the_vector_and_the_fault() {
        for (v, want) in [
            (
                json!({"s": {"indices": [1, 1], "values": [1, 2]}}),
                "vector `s`: sparse vector index 1 appears twice",
            ),
            (
                json!({"s": {"indices": [1], "values": []}}),
                "1 indices but 0 values",
            ),
            (
                json!({"s": {"indices": [-1], "values": [1]}}),
                "vector `s`: sparse vector: invalid value",
            ),
            (
                json!({"s": {"indices": [4294967296u64], "values": [1]}}),
                "u32",
            ),
            (
                json!({"s": {"indices": [1], "values": [1], "x": 1}}),
                "unknown field `x`",
            ),
            (
                json!({"t": {"text": "a", "model": "bert"}}),
                "model `bert` is not available",
            ),
            (
                json!({"t": {"text": "a", "model": "qdrant/bm25", "options": {"kk": 1}}}),
                "unknown field `kk`",
            ),
            (
                json!({"t": {"text": "a", "model": "qdrant/bm25", "options": {"b": 7}}}),
                "document options",
            ),
            (
                json!({"t": {"image": "x.png", "model": "clip"}}),
                "only text documents",
            ),
            (
                json!({"t": "words"}),
                "vector `t`: expected a list of numbers",
            ),
            (
                json!({"": ["x"]}),
                "invalid type: string \"x\", expected f32",
            ),
            (json!([1.0, null]), "expected f32"),
        ] {
            let e = named(v.clone()).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }

    #[test]
    fn batch_vectors_are_columns_of_one_vector_per_id() {
        let rows = batch(json!([[1.0], [2.0]]), 2).unwrap();
        assert_eq!(rows[1][""], Vector::Dense(vec![2.0]));
        let rows = batch(
            json!({
                "a": [[1.0], [2.0]],
                "s": [{"indices": [1], "values": [1.0]}, {"text": "x y", "model": "qdrant/bm25"}]
            }),
            2,
        )
        .unwrap();
        assert_eq!(rows[0].len(), 2);
        assert!(rows[1]["s"].as_sparse().is_some());
        let err = batch(json!({"a": [[1.0]]}), 2).unwrap_err();
        assert!(err.contains("2 ids but 1 vectors for vector `a`"), "{err}");
        let err = batch(json!({"a": [[1.0], "x"]}), 2).unwrap_err();
        assert!(err.contains("batch vector `a` #1"), "{err}");
        let err = batch(json!(7), 1).unwrap_err();
        assert!(
            err.contains("a list of vectors or {name: [vectors]}"),
            "{err}"
        );
    }

    #[test]
    fn output_is_a_list_only_for_the_default_vector_alone() {
        let one = NamedVectors::from([("".to_owned(), Vector::Dense(vec![1.0]))]);
        assert_eq!(
            serde_json::to_value(VectorOutput::from(one.clone())).unwrap(),
            json!([1.0])
        );
        let mut two = one;
        two.insert(
            "s".into(),
            Vector::Sparse(SparseVector::new(vec![3], vec![0.5]).unwrap()),
        );
        assert_eq!(
            serde_json::to_value(VectorOutput::from(two)).unwrap(),
            json!({"": [1.0], "s": {"indices": [3], "values": [0.5]}})
        );
        assert_eq!(
            serde_json::to_value(VectorOutput::from(NamedVectors::new())).unwrap(),
            json!({})
        );
    }
}
