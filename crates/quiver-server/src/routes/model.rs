//! Qdrant's wire shapes: request bodies as clients send them and results as
//! clients (e.g. qdrant-client's pydantic models) require them.
//!
//! No option is silently ignored: every body field Qdrant defines is either
//! applied, accepted because its value asks for what Quiver does anyway, or
//! rejected with a 400 naming it; a field Qdrant does not define is a 400
//! too (`deny_unknown_fields`). `null` always means "not set", as the
//! official clients send every unset option as null. docs/server.md lists
//! the decision for each field.

use quiver_core::PointId;
use quiver_core::filter::Filter;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use quiver_core::CollectionConfig;

use super::query_vector::{NamedQueryVector, SearchVectorSchema};
use super::vectors::{
    BatchVectorStruct, VectorName, VectorOutput, VectorOutputSchema, VectorStruct,
};
use crate::error::{ApiError, ApiResult};

/// A point id: an unsigned integer or a UUID string, bare on the wire.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = ExtendedPointId)]
pub enum ExtendedPointIdSchema {
    /// Unsigned integer id.
    Integer(u64),
    /// UUID id.
    Uuid(String),
}

/// Distance function of a collection, Qdrant's names.
#[derive(ToSchema)]
#[schema(as = Distance)]
pub enum DistanceSchema {
    /// Cosine similarity (vectors are normalised on insert).
    Cosine,
    /// Euclidean (L2) distance.
    Euclid,
    /// Dot product.
    Dot,
}

/// `?wait=true&ordering=..` of a write.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// true: answer `completed` once the write is applied (and durable as
    /// configured). false or absent (Qdrant's default): answer
    /// `acknowledged` once it is queued; queued writes of a collection apply
    /// in the order they were acknowledged.
    pub wait: Option<bool>,
    /// Ignored: there is one replica.
    pub ordering: Option<String>,
}

impl WaitParams {
    /// Whether the answer waits for the write; Qdrant's default is not to.
    pub fn wait(&self) -> bool {
        self.wait.unwrap_or(false)
    }
}

/// Parameters of one dense vector of a collection.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorParams {
    /// Dimension of every vector.
    pub size: usize,
    /// Distance function.
    #[schema(value_type = DistanceSchema)]
    pub distance: String,
    /// This vector's HNSW settings, over the collection's `hnsw_config`.
    pub hnsw_config: Option<HnswConfigDiff>,
    /// Not supported yet (vectors are stored unquantized): null.
    #[schema(value_type = Option<Object>)]
    pub quantization_config: Option<Value>,
    /// Each vector is held in memory, in its HNSW graph node (the
    /// memory-mapped vector file is the durable copy): null or false.
    pub on_disk: Option<bool>,
    /// Components are always 32-bit floats: null or `"float32"`.
    pub datatype: Option<String>,
    /// Not supported (one vector per name per point): null.
    #[schema(value_type = Option<Object>)]
    pub multivector_config: Option<Value>,
}

/// `vectors` of a create body: one vector's parameters (the default
/// vector `""`) or parameters by name.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = VectorsConfig)]
#[expect(
    clippy::large_enum_variant,
    reason = "a schema for the OpenAPI document, never built"
)]
pub enum VectorsConfigSchema {
    /// The default vector alone.
    Default(VectorParams),
    /// Dense vectors by name (`""` the default vector).
    Named(std::collections::BTreeMap<String, VectorParams>),
}

/// Parameters of one sparse vector of a collection.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SparseVectorParams {
    /// Index settings.
    pub index: Option<SparseIndexParams>,
    /// `none` (plain dot product, the default) or `idf` (query weights
    /// times each dimension's inverse document frequency, as BM25 needs).
    pub modifier: Option<String>,
}

/// Index settings of a sparse vector.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SparseIndexParams {
    /// Not supported (searches always use the inverted index): null.
    pub full_scan_threshold: Option<u64>,
    /// The inverted index is held in memory: null or false.
    pub on_disk: Option<bool>,
    /// Values are 32-bit floats: null or `"float32"`.
    pub datatype: Option<String>,
}

/// HNSW settings; fields left out keep their defaults.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HnswConfigDiff {
    /// Edges per node.
    pub m: Option<usize>,
    /// Candidate list size while building.
    pub ef_construct: Option<usize>,
    /// Not supported (search always uses the graph unless `exact`): null.
    pub full_scan_threshold: Option<u64>,
    /// Graph builds use every core: null or 0 (Qdrant's "automatic").
    pub max_indexing_threads: Option<u64>,
    /// The graph is held in memory: null or false.
    pub on_disk: Option<bool>,
    /// Not supported (no per-payload graphs): null.
    pub payload_m: Option<u64>,
}

/// Write-ahead log settings of a create request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalConfigDiff {
    /// MiB the op log may grow to before it is checkpointed (the
    /// collection's `checkpoint_log_bytes`); the server's
    /// `checkpoint_log_bytes` setting when absent.
    pub wal_capacity_mb: Option<u64>,
    /// Not supported (the op log is one file): must be absent or null.
    pub wal_segments_ahead: Option<u64>,
}

/// `PUT /collections/{name}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    /// The dense vectors: `{"size": .., "distance": ..}` for the default
    /// vector alone, or `{name: {...}}` (`""` the default vector).
    #[schema(value_type = VectorsConfigSchema)]
    pub vectors: Value,
    /// HNSW settings.
    pub hnsw_config: Option<HnswConfigDiff>,
    /// Op log settings.
    pub wal_config: Option<WalConfigDiff>,
    /// One shard: null or 1.
    pub shard_number: Option<u64>,
    /// One shard: null or `"auto"`.
    pub sharding_method: Option<String>,
    /// One replica: null or 1.
    pub replication_factor: Option<u64>,
    /// One replica: null or 1.
    pub write_consistency_factor: Option<u64>,
    /// Payloads always live on disk: null or true.
    pub on_disk_payload: Option<bool>,
    /// Not supported (no background optimizer): null.
    #[schema(value_type = Option<Object>)]
    pub optimizers_config: Option<Value>,
    /// Not supported: null.
    #[schema(value_type = Option<Object>)]
    pub init_from: Option<Value>,
    /// Not supported yet: null.
    #[schema(value_type = Option<Object>)]
    pub quantization_config: Option<Value>,
    /// Sparse vectors by name.
    pub sparse_vectors: Option<std::collections::BTreeMap<String, SparseVectorParams>>,
    /// Not supported (no strict mode): null, `{}` or `{"enabled": false}`.
    #[schema(value_type = Option<Object>)]
    pub strict_mode_config: Option<Map<String, Value>>,
}

/// Per-vector part of `PATCH /collections/{name}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorParamsDiff {
    /// Must ask for the vector's current HNSW settings.
    pub hnsw_config: Option<HnswConfigDiff>,
    /// Not supported (vectors are stored unquantized): null.
    #[schema(value_type = Option<Object>)]
    pub quantization_config: Option<Value>,
    /// Null or false, as at create.
    pub on_disk: Option<bool>,
}

/// `params` of `PATCH /collections/{name}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionParamsDiff {
    /// One replica: null or 1.
    pub replication_factor: Option<u64>,
    /// One replica: null or 1.
    pub write_consistency_factor: Option<u64>,
    /// One replica: null, 0 or 1.
    pub read_fan_out_factor: Option<u64>,
    /// Payloads always live on disk: null or true.
    pub on_disk_payload: Option<bool>,
}

/// `PATCH /collections/{name}` body. A collection's settings are fixed
/// when it is created, so every field must be null or ask for what the
/// collection already is; anything else is a 400 naming it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCollection {
    /// Dense vectors by name (`""` the default vector).
    pub vectors: Option<std::collections::BTreeMap<String, VectorParamsDiff>>,
    /// Not supported (no background optimizer): null.
    #[schema(value_type = Option<Object>)]
    pub optimizers_config: Option<Value>,
    /// Replication and payload storage.
    pub params: Option<CollectionParamsDiff>,
    /// Must ask for the collection's current HNSW settings.
    pub hnsw_config: Option<HnswConfigDiff>,
    /// Not supported yet: null.
    #[schema(value_type = Option<Object>)]
    pub quantization_config: Option<Value>,
    /// Sparse vectors by name: each must exist and keep its modifier.
    pub sparse_vectors: Option<std::collections::BTreeMap<String, SparseVectorParams>>,
    /// As at create: null, `{}` or `{"enabled": false}`.
    #[schema(value_type = Option<Object>)]
    pub strict_mode_config: Option<Map<String, Value>>,
}

/// `shard_key` of point and search bodies: collections have one shard, so
/// only null (not set) is accepted; any key is refused naming the field.
#[derive(Debug)]
pub struct NoShardKey;

impl<'de> Deserialize<'de> for NoShardKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Reached only for a non-null value: serde maps null to None.
        let _ = Value::deserialize(d)?;
        Err(serde::de::Error::custom(
            "`shard_key` is not supported: collections have one shard",
        ))
    }
}

/// One collection in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionDescription {
    /// Its name.
    pub name: String,
}

/// `GET /collections` result.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionsResponse {
    /// Every collection, by name.
    pub collections: Vec<CollectionDescription>,
}

/// `GET /collections/{name}/exists` result.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionExistence {
    /// Whether it exists.
    pub exists: bool,
}

/// Result of every write.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateResult {
    /// Sequence number of the operation in its collection's op log: grows
    /// with every logged write, across restarts. `null` when the answer
    /// came before the write ran (`acknowledged`) or the write logs no
    /// operation (payload index changes).
    pub operation_id: Option<u64>,
    /// `completed`: the write was applied before the answer;
    /// `acknowledged`: it was queued and applies in order.
    pub status: &'static str,
}

/// One point to insert or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointStruct {
    /// Its id.
    #[schema(value_type = ExtendedPointIdSchema)]
    pub id: PointId,
    /// Its vectors: an array of numbers (the default vector), or
    /// `{name: vector}` with any subset of the collection's vectors, each
    /// dense `[...]`, sparse `{"indices": [...], "values": [...]}` or a
    /// document `{"text": "...", "model": "qdrant/bm25"}` the server
    /// embeds into a sparse vector.
    pub vector: VectorStruct,
    /// Its JSON payload.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Map<String, Value>>,
}

/// Column-wise form of an upsert.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Ids, one per point.
    #[schema(value_type = Vec<ExtendedPointIdSchema>)]
    pub ids: Vec<PointId>,
    /// Vectors, one per id: a list of lists (the default vector), or
    /// `{name: [vector per id]}`.
    pub vectors: BatchVectorStruct,
    /// Payloads, one per id (or absent).
    #[schema(value_type = Option<Vec<Object>>)]
    pub payloads: Option<Vec<Option<Map<String, Value>>>>,
}

/// `PUT /collections/{name}/points` body: `points` (list) or `batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointInsertOperations {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// List form.
    pub points: Option<Vec<PointStruct>>,
    /// Batch form.
    pub batch: Option<Batch>,
}

/// `with_payload`: a bool, a list of keys to include, or include/exclude.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WithPayload {
    /// All or nothing.
    Enable(bool),
    /// Only these keys.
    Include(Vec<String>),
    /// Include and/or exclude keys.
    Selector {
        /// Only these keys.
        include: Option<Vec<String>>,
        /// All keys but these.
        exclude: Option<Vec<String>>,
    },
}

impl WithPayload {
    /// Whether any payload must be fetched.
    pub fn wanted(&self) -> bool {
        !matches!(self, WithPayload::Enable(false))
    }

    /// Applies key selection to a fetched payload.
    pub fn project(&self, payload: Map<String, Value>) -> Map<String, Value> {
        match self {
            WithPayload::Enable(_) => payload,
            WithPayload::Include(keys) => keep(payload, Some(keys), None),
            WithPayload::Selector { include, exclude } => {
                keep(payload, include.as_deref(), exclude.as_deref())
            }
        }
    }
}

fn keep(
    payload: Map<String, Value>,
    include: Option<&[String]>,
    exclude: Option<&[String]>,
) -> Map<String, Value> {
    payload
        .into_iter()
        .filter(|(k, _)| include.is_none_or(|inc| inc.iter().any(|i| i == k)))
        .filter(|(k, _)| exclude.is_none_or(|exc| !exc.iter().any(|e| e == k)))
        .collect()
}

/// `with_vector`: a bool, or the names of the vectors to return.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WithVector {
    /// All or nothing.
    Enable(bool),
    /// These vectors (each must be one of the collection's).
    Names(Vec<VectorName>),
}

impl WithVector {
    /// Whether any vector must be returned.
    pub fn wanted(&self) -> bool {
        match self {
            WithVector::Enable(b) => *b,
            WithVector::Names(n) => !n.is_empty(),
        }
    }

    /// Refuses a name the collection does not have.
    ///
    /// # Errors
    /// 400 naming the vector and listing the collection's.
    pub fn check(&self, config: &CollectionConfig) -> ApiResult<()> {
        let WithVector::Names(names) = self else {
            return Ok(());
        };
        match names.iter().find(|n| !has_vector(config, &n.0)) {
            Some(n) => Err(ApiError::bad_request(format!(
                "with_vector: {}",
                unknown_vector(config, &n.0)
            ))),
            None => Ok(()),
        }
    }

    /// Whether vector `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        match self {
            WithVector::Enable(b) => *b,
            WithVector::Names(n) => n.iter().any(|n| n.0 == name),
        }
    }

    /// The floats of the selected dense vectors of one point: what
    /// returning them costs at most (sparse vectors are counted once read).
    pub fn dense_floats(&self, config: &CollectionConfig) -> usize {
        config
            .vectors
            .iter()
            .filter(|(name, _)| self.selects(name))
            .map(|(_, p)| p.dimension)
            .sum()
    }

    /// The wire form of a point's stored vectors, keeping the selected ones.
    pub fn output(&self, mut vectors: quiver_core::NamedVectors) -> VectorOutput {
        vectors.retain(|name, _| self.selects(name));
        VectorOutput::from(vectors)
    }
}

/// Whether the collection has a dense or sparse vector called `name`.
pub fn has_vector(config: &CollectionConfig, name: &str) -> bool {
    config.vectors.contains_key(name) || config.sparse_vectors.contains_key(name)
}

/// "the collection has no vector `name`; its vectors are ..." for messages.
pub fn unknown_vector(config: &CollectionConfig, name: &str) -> String {
    let have: Vec<String> = config
        .vectors
        .keys()
        .chain(config.sparse_vectors.keys())
        .map(|n| format!("`{n}`"))
        .collect();
    format!(
        "the collection has no vector named `{name}`; its vectors are {}",
        have.join(", ")
    )
}

/// `POST /collections/{name}/points` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointRequest {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Ids to fetch; missing ones are skipped.
    #[schema(value_type = Vec<ExtendedPointIdSchema>)]
    pub ids: Vec<PointId>,
    /// Default true.
    pub with_payload: Option<WithPayload>,
    /// Default false.
    pub with_vector: Option<WithVector>,
}

/// A stored point.
#[derive(Debug, Serialize, ToSchema)]
pub struct Record {
    /// Its id.
    #[schema(value_type = ExtendedPointIdSchema)]
    pub id: PointId,
    /// Payload, if asked for.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Map<String, Value>>,
    /// Vectors, if asked for: a list when the default vector is the only
    /// one returned, `{name: vector}` otherwise.
    #[schema(value_type = Option<VectorOutputSchema>)]
    pub vector: Option<VectorOutput>,
}

/// One point's vectors to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointVectors {
    /// Its id (the point must exist).
    #[schema(value_type = ExtendedPointIdSchema)]
    pub id: PointId,
    /// The vectors to set, as in an upsert; the point's others stay.
    pub vector: VectorStruct,
}

/// `PUT /collections/{name}/points/vectors` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVectors {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// The points and their vectors to set.
    pub points: Vec<PointVectors>,
}

/// `POST /collections/{name}/points/vectors/delete` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteVectors {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// These ids (each must exist).
    #[schema(value_type = Option<Vec<ExtendedPointIdSchema>>)]
    pub points: Option<Vec<PointId>>,
    /// Points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Names of the vectors to remove.
    pub vector: Vec<String>,
}

/// A search hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoredPoint {
    /// Its id.
    #[schema(value_type = ExtendedPointIdSchema)]
    pub id: PointId,
    /// Always 0: Quiver does not version points.
    pub version: u64,
    /// Similarity (Cosine, Dot: larger is closer) or distance (Euclid).
    pub score: f32,
    /// Payload, if asked for.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Map<String, Value>>,
    /// Vectors, if asked for: see [`VectorOutput`].
    #[schema(value_type = Option<VectorOutputSchema>)]
    pub vector: Option<VectorOutput>,
}

/// Selects points by ids or by filter (exactly one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsSelector {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// These ids.
    #[schema(value_type = Option<Vec<ExtendedPointIdSchema>>)]
    pub points: Option<Vec<PointId>>,
    /// Points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
}

/// `POST|PUT /collections/{name}/points/payload` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPayload {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Keys and values to set.
    #[schema(value_type = Object)]
    pub payload: Map<String, Value>,
    /// These ids.
    #[schema(value_type = Option<Vec<ExtendedPointIdSchema>>)]
    pub points: Option<Vec<PointId>>,
    /// Points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Nested key to set under (not supported: must be absent).
    pub key: Option<String>,
}

/// `POST /collections/{name}/points/payload/delete` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletePayload {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Keys to remove.
    pub keys: Vec<String>,
    /// These ids.
    #[schema(value_type = Option<Vec<ExtendedPointIdSchema>>)]
    pub points: Option<Vec<PointId>>,
    /// Points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
}

/// Search-time parameters.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// HNSW candidate list size, 1..=100 000 (larger: better recall, slower).
    pub hnsw_ef: Option<usize>,
    /// Exact (brute-force) search instead of HNSW.
    #[serde(default)]
    pub exact: bool,
    /// Not supported (collections are searched unquantized): null.
    #[schema(value_type = Option<Object>)]
    pub quantization: Option<Value>,
    /// Every point is searched, indexed or not: null or false.
    pub indexed_only: Option<bool>,
}

/// `POST /collections/{name}/points/search` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Query vector: an array of numbers (the default vector),
    /// `{"name": n, "vector": [...]}` (named dense) or
    /// `{"name": n, "vector": {"indices": [...], "values": [...]}}` (named sparse).
    #[schema(value_type = SearchVectorSchema)]
    pub vector: NamedQueryVector,
    /// Only points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Search parameters.
    pub params: Option<SearchParams>,
    /// Number of results.
    pub limit: usize,
    /// Results to skip first.
    pub offset: Option<usize>,
    /// Default false.
    pub with_payload: Option<WithPayload>,
    /// Default false: true, false or the names of the vectors to return.
    pub with_vector: Option<WithVector>,
    /// Only results at least this good.
    pub score_threshold: Option<f32>,
}

/// `POST /collections/{name}/points/search/batch` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBatch {
    /// The searches, answered in order.
    pub searches: Vec<SearchRequest>,
}

/// A stage of a universal query whose results feed the stage above it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefetchQuery {
    /// Its own prefetches: one, or a list.
    #[schema(value_type = Option<Vec<Object>>)]
    pub prefetch: Option<Value>,
    /// What it ranks by (the forms of the query's `query`); absent: its
    /// one prefetch's results pass through.
    #[schema(value_type = Option<QueryInterfaceSchema>)]
    pub query: Option<Value>,
    /// The vector `query` ranks by (default: the default vector `""`).
    pub using: Option<String>,
    /// Only points matching this (and every enclosing stage's filter).
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Search parameters of this stage.
    pub params: Option<SearchParams>,
    /// Only results at least this good.
    pub score_threshold: Option<f32>,
    /// How many results it passes on (default 10).
    pub limit: Option<usize>,
    /// Where a point id `query` takes its vector from.
    pub lookup_from: Option<LookupLocation>,
}

/// Another collection's vector for a point id query.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupLocation {
    /// The collection holding the point.
    pub collection: String,
    /// Its vector to use (default: the stage's `using`).
    pub vector: Option<String>,
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
}

/// The forms of a universal query's `query` (documentation only: the
/// server decodes `query` itself to name what is wrong in a bad one).
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(
    dead_code,
    reason = "describes the wire forms in the OpenAPI document only"
)]
pub enum QueryInterfaceSchema {
    /// Nearest to this dense vector.
    Dense(Vec<f32>),
    /// Nearest to this sparse vector.
    Sparse(SparseVectorSchema),
    /// Nearest to this point's stored vector.
    #[schema(value_type = ExtendedPointIdSchema)]
    Point(Value),
    /// BM25 of this text.
    Document(DocumentSchema),
    /// `{"nearest": input, "mmr": {..}?}`.
    Nearest(NearestQuerySchema),
    /// `{"fusion": "rrf" | "dbsf"}`.
    Fusion(FusionQuerySchema),
    /// `{"rrf": {"k": k}}`.
    Rrf(RrfQuerySchema),
}

/// A sparse vector.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct SparseVectorSchema {
    /// Dimensions, each once.
    pub indices: Vec<u32>,
    /// Values, one per index.
    pub values: Vec<f32>,
}

/// Text embedded by the server.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct DocumentSchema {
    /// The text.
    pub text: String,
    /// `qdrant/bm25` (any case): the only model.
    pub model: String,
    /// BM25 settings: `k`, `b`, `avg_len`, `language`, `lowercase`,
    /// `stopwords`, `stemmer`, `min_token_len`, `max_token_len`.
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
}

/// Nearest query, optionally diversified.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct NearestQuerySchema {
    /// A vector, sparse vector, point id or Document.
    #[schema(value_type = Object)]
    pub nearest: Value,
    /// Maximal marginal relevance re-ranking.
    pub mmr: Option<MmrSchema>,
}

/// `mmr` of a nearest query.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct MmrSchema {
    /// 0.0..=1.0 (default 0.5): 0 ranks by relevance only.
    pub diversity: Option<f32>,
    /// Nearest points to choose from (default: the stage's limit).
    pub candidates_limit: Option<usize>,
}

/// Fusion of the prefetches' results.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct FusionQuerySchema {
    /// `rrf` or `dbsf`.
    pub fusion: String,
}

/// Reciprocal rank fusion with its constant.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct RrfQuerySchema {
    /// `{"k": k}` (k at least 1, default 2).
    #[schema(value_type = Object)]
    pub rrf: Value,
}

/// `POST /collections/{name}/points/query` body (universal query).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Stages whose results `query` fuses or re-scores: one, or a list.
    #[schema(value_type = Option<Vec<PrefetchQuery>>)]
    pub prefetch: Option<Value>,
    /// A vector, sparse vector, point id, Document, `{"nearest": ..}`
    /// (with `mmr`), `{"fusion": ..}` or `{"rrf": {"k": ..}}`; absent with
    /// no prefetch: points in id order.
    #[schema(value_type = Option<QueryInterfaceSchema>)]
    pub query: Option<Value>,
    /// The vector `query` ranks by (default: the default vector `""`).
    pub using: Option<String>,
    /// Only points matching this filter (in every stage).
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Search parameters.
    pub params: Option<SearchParams>,
    /// Only results at least this good.
    pub score_threshold: Option<f32>,
    /// Number of results (default 10).
    pub limit: Option<usize>,
    /// Results to skip first.
    pub offset: Option<usize>,
    /// Default false: true, false or the names of the vectors to return.
    pub with_vector: Option<WithVector>,
    /// Default false.
    pub with_payload: Option<WithPayload>,
    /// Where a point id `query` takes its vector from.
    pub lookup_from: Option<LookupLocation>,
}

/// `POST /collections/{name}/points/query/batch` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequestBatch {
    /// The queries, answered in order.
    pub searches: Vec<QueryRequest>,
}

/// `points/query` result.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResponse {
    /// The hits, best first.
    pub points: Vec<ScoredPoint>,
}

/// `with_lookup` of a groups request: a collection name, or the collection
/// and what to return of each group's point there.
#[derive(Clone, Debug, ToSchema)]
#[serde(untagged)]
pub enum WithLookup {
    /// The collection; payloads are returned, vectors not.
    Collection(String),
    /// The collection and what to return.
    Detailed(WithLookupDetailed),
}

impl<'de> Deserialize<'de> for WithLookup {
    // By hand, not untagged: an untagged enum's error names no field.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(name) => Ok(WithLookup::Collection(name)),
            other => serde_json::from_value(other)
                .map(WithLookup::Detailed)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// The object form of [`WithLookup`].
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithLookupDetailed {
    /// The collection whose point of id = the group id is returned.
    pub collection: String,
    /// Default true.
    pub with_payload: Option<WithPayload>,
    /// Default false (`with_vector` is accepted too, as in Qdrant).
    #[serde(alias = "with_vector")]
    pub with_vectors: Option<WithVector>,
}

/// `POST /collections/{name}/points/search/groups` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchGroupsRequest {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Query vector, as in `points/search`.
    #[schema(value_type = SearchVectorSchema)]
    pub vector: NamedQueryVector,
    /// Only points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Search parameters.
    pub params: Option<SearchParams>,
    /// Default false.
    pub with_payload: Option<WithPayload>,
    /// Default false.
    pub with_vector: Option<WithVector>,
    /// Only results at least this good.
    pub score_threshold: Option<f32>,
    /// Payload key whose value (a string or an integer, or a list of them)
    /// names a point's group(s).
    pub group_by: String,
    /// Hits per group, at least 1.
    pub group_size: usize,
    /// Number of groups, at least 1.
    pub limit: usize,
    /// Each group's point (id = the group id) from another collection.
    pub with_lookup: Option<WithLookup>,
}

/// `POST /collections/{name}/points/query/groups` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryGroupsRequest {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// As in `points/query`.
    #[schema(value_type = Option<Vec<PrefetchQuery>>)]
    pub prefetch: Option<Value>,
    /// As in `points/query`; required (groups rank by a query).
    #[schema(value_type = Option<QueryInterfaceSchema>)]
    pub query: Option<Value>,
    /// The vector `query` ranks by.
    pub using: Option<String>,
    /// Only points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Search parameters.
    pub params: Option<SearchParams>,
    /// Only results at least this good.
    pub score_threshold: Option<f32>,
    /// Default false.
    pub with_vector: Option<WithVector>,
    /// Default false.
    pub with_payload: Option<WithPayload>,
    /// Where a point id `query` takes its vector from.
    pub lookup_from: Option<LookupLocation>,
    /// Payload key whose value names a point's group(s).
    pub group_by: String,
    /// Hits per group (default 3).
    pub group_size: Option<usize>,
    /// Number of groups (default 10).
    pub limit: Option<usize>,
    /// Each group's point (id = the group id) from another collection.
    pub with_lookup: Option<WithLookup>,
}

/// A group's point from the `with_lookup` collection.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupRecord {
    /// Its id (the group id).
    #[schema(value_type = ExtendedPointIdSchema)]
    pub id: PointId,
    /// Payload, if asked for.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Map<String, Value>>,
    /// Vectors, if asked for.
    #[schema(value_type = Option<VectorOutputSchema>)]
    pub vector: Option<VectorOutput>,
}

/// One group of a groups answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointGroup {
    /// The group's value of `group_by`: a string or an integer.
    #[schema(value_type = Object)]
    pub id: Value,
    /// Its best hits, best first.
    pub hits: Vec<ScoredPoint>,
    /// Its point in the `with_lookup` collection, when asked for and present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup: Option<LookupRecord>,
}

/// Result of the groups routes.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupsResult {
    /// Groups ordered by their best hit.
    pub groups: Vec<PointGroup>,
}

/// `POST /collections/{name}/points/scroll` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrollRequest {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Start at this id (inclusive).
    #[schema(value_type = Option<ExtendedPointIdSchema>)]
    pub offset: Option<PointId>,
    /// Page size (default 10).
    pub limit: Option<usize>,
    /// Only points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Default true.
    pub with_payload: Option<WithPayload>,
    /// Default false.
    pub with_vector: Option<WithVector>,
    /// Ordering by a payload field (not supported: must be absent).
    pub order_by: Option<Value>,
}

/// `points/scroll` result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScrollResult {
    /// This page, in id order.
    pub points: Vec<Record>,
    /// Where the next page starts; null on the last page.
    #[schema(value_type = Option<ExtendedPointIdSchema>)]
    pub next_page_offset: Option<PointId>,
}

/// `POST /collections/{name}/points/count` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    /// Not supported (one shard): null.
    #[schema(value_type = Option<Object>)]
    pub shard_key: Option<NoShardKey>,
    /// Only points matching this filter.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// Accepted for compatibility; counts are always exact.
    pub exact: Option<bool>,
}

/// `points/count` result.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountResult {
    /// Number of matching points.
    pub count: u64,
}

/// `PUT /collections/{name}/index` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFieldIndex {
    /// Payload key to index.
    pub field_name: String,
    /// `"keyword"`, `"integer"`, `"float"`, `"bool"`, `"datetime"`, or
    /// `{"type": ..}` with one of those.
    pub field_schema: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_selection_includes_and_excludes_keys() {
        let p: Map<String, Value> = serde_json::from_str(r#"{"a":1,"b":2,"c":3}"#).unwrap();
        let w: WithPayload = serde_json::from_str(r#"["a","c"]"#).unwrap();
        assert_eq!(
            Value::Object(w.project(p.clone())),
            serde_json::json!({"a":1,"c":3})
        );
        let w: WithPayload = serde_json::from_str(r#"{"exclude":["a"]}"#).unwrap();
        assert_eq!(
            Value::Object(w.project(p.clone())),
            serde_json::json!({"b":2,"c":3})
        );
        let w: WithPayload = serde_json::from_str("false").unwrap();
        assert!(!w.wanted());
    }
}
