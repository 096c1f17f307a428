//! What callers send to a collection and what they get back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::distance::Metric;
use crate::filter::{FieldType, Filter};
use crate::{Error, PointId, Result};

use super::CollectionConfig;
use crate::point::{NamedVectors, Vector};

/// A JSON object: the payload of a point.
pub type Payload = Map<String, Value>;

/// Largest `k` (and scroll `limit`) a request may ask for.
pub const MAX_K: usize = 100_000;
/// Largest `ef` a search may ask for.
pub const MAX_EF: usize = 100_000;

/// A point to write: id, vectors and optional payload (none = empty object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The point's id.
    pub id: PointId,
    /// Its vectors by name, any subset of the collection's: each dense one
    /// of its vector's dimension with finite components, each sparse one
    /// named as a sparse vector of the collection.
    pub vectors: NamedVectors,
    /// Its payload; `None` stores an empty object.
    #[serde(default)]
    pub payload: Option<Payload>,
}

impl Point {
    /// A point with `vector` as its default vector, without payload.
    pub fn new(id: impl Into<PointId>, vector: Vec<f32>) -> Self {
        Point::without_vectors(id).with_vector("", vector)
    }

    /// A point with no vector (add them with [`Point::with_vector`]).
    pub fn without_vectors(id: impl Into<PointId>) -> Self {
        Point {
            id: id.into(),
            vectors: NamedVectors::new(),
            payload: None,
        }
    }

    /// The same point with `vector` under `name` (replacing one there).
    #[must_use]
    pub fn with_vector(mut self, name: &str, vector: impl Into<Vector>) -> Self {
        self.vectors.insert(name.to_owned(), vector.into());
        self
    }

    /// The same point with `payload`.
    #[must_use]
    pub fn with_payload(mut self, payload: Payload) -> Self {
        self.payload = Some(payload);
        self
    }
}

/// A stored point as [`crate::Collection::get`] and scroll return it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The point's id.
    pub id: PointId,
    /// Its payload, when asked for.
    pub payload: Option<Payload>,
    /// Its stored vectors by name (dense ones normalised for Cosine), when
    /// asked for: those the point has.
    pub vectors: Option<NamedVectors>,
}

impl Record {
    /// Its default dense vector, when vectors were asked for and it has one.
    pub fn vector(&self) -> Option<&[f32]> {
        default_dense(self.vectors.as_ref())
    }
}

/// A search hit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    /// The point's id.
    pub id: PointId,
    /// Dense Cosine/Dot: similarity (higher is closer); Euclid: L2
    /// distance (lower is closer); sparse: the dot product (higher is closer).
    pub score: f32,
    /// Its payload, when asked for.
    pub payload: Option<Payload>,
    /// Its stored vectors by name (dense ones normalised for Cosine), when
    /// asked for: those the point has.
    pub vectors: Option<NamedVectors>,
}

impl ScoredPoint {
    /// Its default dense vector, when vectors were asked for and it has one.
    pub fn vector(&self) -> Option<&[f32]> {
        default_dense(self.vectors.as_ref())
    }
}

fn default_dense(vectors: Option<&NamedVectors>) -> Option<&[f32]> {
    vectors?.get("")?.as_dense()
}

/// A nearest-neighbour query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The query vector: dense (of the searched vector's dimension) or
    /// sparse, as the vector named `using` is.
    pub vector: Vector,
    /// Which vector of the points to search (`""` = the default one).
    #[serde(default)]
    pub using: String,
    /// How many results, 1..=100 000.
    pub k: usize,
    /// Only points matching this filter.
    #[serde(default)]
    pub filter: Option<Filter>,
    /// HNSW beam width, 1..=100 000; the collection chooses when `None`.
    #[serde(default)]
    pub ef: Option<usize>,
    /// Drop hits worse than this score (in the metric's direction: below it
    /// for Cosine/Dot, above it for Euclid).
    #[serde(default)]
    pub score_threshold: Option<f32>,
    /// Return payloads.
    #[serde(default)]
    pub with_payload: bool,
    /// Return vectors.
    #[serde(default)]
    pub with_vector: bool,
    /// Exhaustive search instead of the HNSW graph.
    #[serde(default)]
    pub exact: bool,
    /// Re-rank the nearest points for diversity (maximal marginal
    /// relevance) instead of returning them by score alone.
    #[serde(default)]
    pub mmr: Option<Mmr>,
}

/// Maximal marginal relevance: the search takes the `candidates` points
/// nearest to the query (filter and score threshold applied), then picks
/// `k` of them one at a time. The first pick is the nearest; each next one
/// maximises `(1 - diversity) * sim(query, c) - diversity * max sim(c, s)`
/// over the picks `s` so far, where `sim` is the metric's similarity
/// (Cosine and Dot: the dot product of the stored vectors; Euclid: minus
/// the squared distance); ties go to the nearer candidate. Hits come in
/// the order picked, each with its ordinary score against the query. This
/// is the rule of Qdrant's `mmr` query.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mmr {
    /// 0.0 picks by nearness alone, 1.0 by difference from the earlier
    /// picks alone; within 0.0..=1.0.
    pub diversity: f32,
    /// How many nearest points to pick from, 1..=100 000. Fewer than `k`
    /// returns at most this many.
    pub candidates: usize,
}

impl SearchRequest {
    /// `k` nearest to `vector` by the default vector, no filter, nothing
    /// hydrated.
    pub fn new(vector: impl Into<Vector>, k: usize) -> Self {
        SearchRequest {
            vector: vector.into(),
            using: String::new(),
            k,
            filter: None,
            ef: None,
            score_threshold: None,
            with_payload: false,
            with_vector: false,
            exact: false,
            mmr: None,
        }
    }

    /// The same request searching the vector named `using`.
    #[must_use]
    pub fn using(mut self, using: &str) -> Self {
        self.using = using.to_owned();
        self
    }

    /// Checks everything that does not depend on the collection's content.
    pub(crate) fn validate(&self, config: &CollectionConfig) -> Result<()> {
        let at = super::config::vector_label(&self.using);
        match &self.vector {
            Vector::Dense(v) => {
                let Some(params) = config.vectors.get(&self.using) else {
                    return Err(if config.sparse_vectors.contains_key(&self.using) {
                        Error::InvalidInput(format!("{at}is a sparse vector; the query is dense"))
                    } else {
                        config.unknown_vector(&self.using)
                    });
                };
                check_vector(v, params.dimension, params.metric).map_err(|e| prefix(&at, e))?;
            }
            Vector::Sparse(_) => {
                if !config.sparse_vectors.contains_key(&self.using) {
                    return Err(if config.vectors.contains_key(&self.using) {
                        Error::InvalidInput(format!(
                            "{}is a dense vector; the query is sparse",
                            if self.using.is_empty() {
                                "the default vector ".to_owned()
                            } else {
                                at.clone()
                            }
                        ))
                    } else {
                        config.unknown_vector(&self.using)
                    });
                }
            }
        }
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::InvalidInput(format!(
                "k = {} is out of range 1..={MAX_K}",
                self.k
            )));
        }
        if let Some(ef) = self.ef
            && (ef == 0 || ef > MAX_EF)
        {
            return Err(Error::InvalidInput(format!(
                "ef = {ef} is out of range 1..={MAX_EF}"
            )));
        }
        if let Some(t) = self.score_threshold
            && !t.is_finite()
        {
            return Err(Error::InvalidInput(format!(
                "score_threshold {t} is not finite"
            )));
        }
        if let Some(filter) = &self.filter {
            filter.validate()?;
        }
        if let Some(mmr) = &self.mmr {
            if !(0.0..=1.0).contains(&mmr.diversity) {
                return Err(Error::InvalidInput(format!(
                    "mmr diversity {} is outside 0.0..=1.0",
                    mmr.diversity
                )));
            }
            if mmr.candidates == 0 || mmr.candidates > MAX_K {
                return Err(Error::InvalidInput(format!(
                    "mmr candidates = {} is out of range 1..={MAX_K}",
                    mmr.candidates
                )));
            }
        }
        Ok(())
    }
}

/// Which points a delete or payload change applies to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointSelector {
    /// These ids (missing ones are skipped).
    Ids(Vec<PointId>),
    /// Every point matching the filter.
    Filter(Filter),
}

impl PointSelector {
    /// The check a write with this selector makes before touching
    /// anything (a filter's semantic validation; ids need none), for
    /// callers that answer before the write runs.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        match self {
            PointSelector::Ids(_) => Ok(()),
            PointSelector::Filter(filter) => filter.validate(),
        }
    }
}

/// A page of points in id order (numbers ascending, then UUIDs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScrollRequest {
    /// Only points matching this filter.
    #[serde(default)]
    pub filter: Option<Filter>,
    /// Page size, 1..=100 000.
    pub limit: usize,
    /// Start at this id (inclusive): the `next_offset` of the previous page.
    #[serde(default)]
    pub offset: Option<PointId>,
    /// Return payloads.
    #[serde(default)]
    pub with_payload: bool,
    /// Return vectors.
    #[serde(default)]
    pub with_vector: bool,
}

impl ScrollRequest {
    /// The first page of `limit` points, payloads included.
    pub fn new(limit: usize) -> Self {
        ScrollRequest {
            filter: None,
            limit,
            offset: None,
            with_payload: true,
            with_vector: false,
        }
    }
}

/// One page of a scroll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScrollPage {
    /// Up to `limit` points in id order.
    pub points: Vec<Record>,
    /// The id to pass as `offset` for the next page; `None` at the end.
    pub next_offset: Option<PointId>,
}

/// What a write did: where it stands in the collection's log and how many
/// points it changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateResult {
    /// The sequence number of the write's operation in the collection's
    /// log: later writes have higher numbers, and upserts committed together
    /// share one. A write that changed nothing logs nothing and reports the
    /// number of the last write before it, whose state it saw.
    pub operation_id: u64,
    /// Points the write changed: those an upsert wrote (each id once), a
    /// delete removed, or a payload write gave a different payload.
    pub points: u64,
}

/// What [`crate::Collection::info`] reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Live points.
    pub points: u64,
    /// Points in the HNSW graph.
    pub indexed_vectors: u64,
    /// The collection's configuration.
    pub config: CollectionConfig,
    /// Indexed payload fields: name, type, points with a value.
    pub payload_schema: Vec<(String, FieldType, u64)>,
    /// Bytes on disk per component (`vectors`, `payloads`, `hnsw`,
    /// `payload_index`, `op_log`, `config`).
    pub disk_bytes: BTreeMap<String, u64>,
    /// Heap bytes per component (`vectors`, `payloads`: the decoded payloads
    /// and the store's record index, `hnsw`, `payload_index`, `id_map`),
    /// estimated from capacities.
    pub ram_bytes: BTreeMap<String, u64>,
    /// Every file of the collection with its size in bytes.
    pub files: Vec<(String, u64)>,
    /// Sequence number of the last operation applied.
    pub last_operation_id: u64,
}

impl CollectionInfo {
    /// Whether the HNSW graph holds every live point (searches then see
    /// all of them through the graph).
    pub fn fully_indexed(&self) -> bool {
        self.indexed_vectors == self.points
    }
}

/// Largest Euclidean norm a vector may have under [`Metric::Euclid`] and
/// [`Metric::Dot`]. With both norms at most this, every dot product,
/// squared distance and partial sum a kernel forms stays below `f32::MAX`
/// (`(2 * 1e18)^2 = 4e36`), so no score overflows to infinity.
pub const MAX_VECTOR_NORM: f64 = 1e18;

impl CollectionConfig {
    /// The check [`super::Collection::upsert`] (and
    /// [`super::Collection::update_vectors`]) makes of each point's vectors
    /// before writing anything, for a caller that must answer a bad point
    /// before the write runs (the server's writes that do not wait).
    ///
    /// # Errors
    /// As [`super::Collection::upsert`] for a bad vector, naming the point.
    pub fn check_points(&self, points: &[Point]) -> Result<()> {
        check_points(points, self)
    }
}

/// Checks every vector of every point of an upsert against the
/// collection's vectors, naming the point (and the vector) at fault: each
/// name must be one of the collection's, dense vectors must pass
/// [`check_vector`], sparse ones are valid by construction.
pub(crate) fn check_points(points: &[Point], config: &CollectionConfig) -> Result<()> {
    for (i, p) in points.iter().enumerate() {
        let at = |e: Error| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("point {i} ({}): {m}", p.id)),
            other => other,
        };
        for (name, vector) in &p.vectors {
            check_named(config, name, vector).map_err(at)?;
        }
    }
    Ok(())
}

/// Checks one named vector of a point against the collection's vectors.
pub(crate) fn check_named(config: &CollectionConfig, name: &str, vector: &Vector) -> Result<()> {
    let label = super::config::vector_label(name);
    match vector {
        Vector::Dense(v) => match config.vectors.get(name) {
            Some(params) => {
                check_vector(v, params.dimension, params.metric).map_err(|e| prefix(&label, e))
            }
            None if config.sparse_vectors.contains_key(name) => Err(Error::InvalidInput(format!(
                "{label}is a sparse vector, given a dense one"
            ))),
            None => Err(config.unknown_vector(name)),
        },
        Vector::Sparse(_) => {
            if config.sparse_vectors.contains_key(name) {
                Ok(())
            } else if config.vectors.contains_key(name) {
                Err(Error::InvalidInput(format!(
                    "{}is a dense vector, given a sparse one",
                    if name.is_empty() {
                        "the default vector "
                    } else {
                        &label
                    }
                )))
            } else {
                Err(config.unknown_vector(name))
            }
        }
    }
}

/// `e` with the vector's `label` in front ([`super::config::vector_label`]);
/// a dimension mismatch of a named vector becomes a message naming it.
fn prefix(label: &str, e: Error) -> Error {
    if label.is_empty() {
        return e;
    }
    match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("{label}{m}")),
        Error::DimensionMismatch { expected, got } => Error::InvalidInput(format!(
            "{label}dimension mismatch: expected {expected}, got {got}"
        )),
        other => other,
    }
}

/// Check one vector: non-empty, the right dimension, finite components,
/// and for Euclid and Dot a norm of at most [`MAX_VECTOR_NORM`]. Cosine
/// takes any finite vector: it is normalised exactly (in `f64`) on the way in.
pub(crate) fn check_vector(vector: &[f32], dimension: usize, metric: Metric) -> Result<()> {
    if vector.is_empty() {
        return Err(Error::InvalidInput("vector is empty".into()));
    }
    if vector.len() != dimension {
        return Err(Error::DimensionMismatch {
            expected: dimension,
            got: vector.len(),
        });
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "vector component {i} is {} (must be finite)",
            vector[i]
        )));
    }
    if metric != Metric::Cosine {
        let norm = vector
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm > MAX_VECTOR_NORM {
            let (i, x) = vector
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map_or((0, 0.0), |(i, &x)| (i, x));
            return Err(Error::InvalidInput(format!(
                "vector norm is {norm:e}, above the limit of {MAX_VECTOR_NORM:e} for {metric:?} \
                 (its largest component is {i}: {x:e}); scores would overflow"
            )));
        }
    }
    Ok(())
}
