//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not a
//! stable interface): each request body family, decoded from arbitrary
//! bytes as the handlers decode it (axum's `Json` extractor) and taken
//! through the same conversions and checks.
//!
//! Reads (search, query, scroll, count) then run against a small fixed
//! collection: 4 dimensions, cosine, 24 points with payloads, `city`
//! indexed as a keyword and `n` as an integer, in a database created once
//! per process under the system temp directory. Writes are not applied:
//! they go as far as the handler goes before it queues a write that does
//! not wait (the engine's filter check), and an upsert also through the
//! check the engine makes of its points before writing. Every function
//! returns the handler's `Result`; a panic is a bug.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::Json;
use quiver_core::filter::FieldType;
use quiver_core::{Collection, CollectionConfig, Database, Metric, Point, PointId};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::config::{DEFAULT_CHECKPOINT_LOG_BYTES, DEFAULT_MAX_RESULT_BYTES};
use crate::error::{ApiError, ApiResult};
use crate::routes::model::{
    CountRequest, CreateCollection, CreateFieldIndex, DeletePayload, PointInsertOperations,
    PointsSelector, QueryRequest, QueryRequestBatch, ScrollRequest, SearchBatch, SearchRequest,
    SetPayload,
};
use crate::routes::points::{no_nested_key, points_of, records, vectors_of};
use crate::routes::query::{QueryPlan, check_answer, check_budget, results_of};
use crate::routes::search::scroll_of;
use crate::routes::{collections, index, selector};

/// Dimension of the fixed collection.
pub const DIMENSION: usize = 4;

struct Fixture {
    _db: Database,
    collection: Arc<Collection>,
}

fn fixture() -> &'static Collection {
    fixture_arc()
}

fn fixture_arc() -> &'static Arc<Collection> {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    &FIXTURE
        .get_or_init(|| match build_fixture() {
            Ok(f) => f,
            Err(e) => panic!("cannot build the fuzz fixture: {e}"),
        })
        .collection
}

fn build_fixture() -> quiver_core::Result<Fixture> {
    let dir: PathBuf = std::env::temp_dir().join(format!("quiver-fuzz-{}", std::process::id()));
    // A directory of an earlier process with the same id is stale.
    let _ = std::fs::remove_dir_all(&dir);
    let db = Database::open(&dir)?;
    let collection =
        db.create_collection("fuzz", CollectionConfig::new(DIMENSION, Metric::Cosine))?;
    let cities = ["London", "Paris", "Berlin"];
    let points = (0..24u64)
        .map(|i| Point {
            id: if i % 5 == 4 {
                PointId::Uuid(uuid::Uuid::from_u128(u128::from(i)))
            } else {
                PointId::Num(i)
            },
            vectors: [(
                String::new(),
                quiver_core::Vector::Dense(
                    (0..DIMENSION)
                        .map(|d| ((i as usize * 7 + d * 3) % 11) as f32 + 0.5)
                        .collect(),
                ),
            )]
            .into(),
            payload: json!({
                "city": cities[i as usize % 3],
                "n": i,
                "price": i as f64 * 1.5,
                "tags": ["a", if i % 2 == 0 { "even" } else { "odd" }],
                "when": format!("2024-01-{:02}T00:00:00Z", i + 1),
                "nested": {"k": i % 4, "list": [{"v": i}]},
            })
            .as_object()
            .cloned(),
        })
        .collect();
    collection.upsert(points)?;
    collection.create_field_index("city", FieldType::Keyword)?;
    collection.create_field_index("n", FieldType::Integer)?;
    Ok(Fixture {
        _db: db,
        collection,
    })
}

/// A body decoded as the `ApiJson` extractor decodes it.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    Json::<T>::from_bytes(bytes)
        .map(|Json(v)| v)
        .map_err(ApiError::from)
}

/// `PUT /collections/{name}`: the configuration, checked as the engine
/// checks it on create.
///
/// # Errors
/// The 400 the server answers.
pub fn create_collection(bytes: &[u8]) -> ApiResult<()> {
    let config = collections::parse_config(
        body::<CreateCollection>(bytes)?,
        DEFAULT_CHECKPOINT_LOG_BYTES,
    )?;
    config.validate()?;
    Ok(())
}

/// `PUT /collections/{name}/points`: the points, checked against the
/// fixed collection.
///
/// # Errors
/// The 400 the server answers (or the engine's error for a bad vector).
pub fn upsert(bytes: &[u8]) -> ApiResult<usize> {
    let points = points_of(body::<PointInsertOperations>(bytes)?)?;
    vectors_of(&points, false)(fixture())?;
    Ok(points.len())
}

/// The search family, `kind % 4`: 0 `points/search`, 1 `points/search/batch`,
/// 2 `points/query`, 3 `points/query/batch`; run on the fixed collection.
/// Returns the hits.
///
/// # Errors
/// The error the server answers.
pub fn search(kind: u8, bytes: &[u8]) -> ApiResult<usize> {
    let plans = match kind % 4 {
        0 => vec![QueryPlan::from_search(body::<SearchRequest>(bytes)?)?],
        1 => body::<SearchBatch>(bytes)?
            .searches
            .into_iter()
            .map(QueryPlan::from_search)
            .collect::<ApiResult<Vec<_>>>()?,
        2 => vec![QueryPlan::from_query(body::<QueryRequest>(bytes)?)?],
        _ => body::<QueryRequestBatch>(bytes)?
            .searches
            .into_iter()
            .map(QueryPlan::from_query)
            .collect::<ApiResult<Vec<_>>>()?,
    };
    let c = fixture();
    check_budget(&plans, &c.config(), DEFAULT_MAX_RESULT_BYTES)?;
    // `lookup_from` finds only the fixture collection.
    let lookup = |name: &str| -> ApiResult<Arc<Collection>> {
        if name == "fuzz" {
            Ok(Arc::clone(fixture_arc()))
        } else {
            Err(ApiError::not_found(format!(
                "collection `{name}` not found"
            )))
        }
    };
    let mut hits = 0;
    for plan in plans {
        let answer = vec![plan.run(c, &lookup)?];
        check_answer(results_of(&answer), DEFAULT_MAX_RESULT_BYTES)?;
        hits += answer[0].len();
    }
    Ok(hits)
}

/// `points/scroll` on the fixed collection: the records of the page.
///
/// # Errors
/// The error the server answers.
pub fn scroll(bytes: &[u8]) -> ApiResult<usize> {
    let (request, with_payload, with_vector, demand) = scroll_of(body::<ScrollRequest>(bytes)?)?;
    let c = fixture();
    let config = c.config();
    with_vector.check(&config)?;
    demand.check(with_vector.dense_floats(&config), DEFAULT_MAX_RESULT_BYTES)?;
    let page = c.scroll(&request)?;
    let records = records(
        page.points,
        &with_payload,
        Some(&with_vector),
        &demand,
        DEFAULT_MAX_RESULT_BYTES,
    )?;
    Ok(records.len())
}

/// `points/count` on the fixed collection.
///
/// # Errors
/// The error the server answers.
pub fn count(bytes: &[u8]) -> ApiResult<u64> {
    let filter = body::<CountRequest>(bytes)?.filter;
    Ok(fixture().count(filter.as_ref())?)
}

/// The payload writes, `kind % 4`: 0 set (`POST points/payload`),
/// 1 overwrite (`PUT points/payload`), 2 delete keys, 3 clear.
///
/// # Errors
/// The 400 the server answers.
pub fn payload(kind: u8, bytes: &[u8]) -> ApiResult<()> {
    match kind % 4 {
        0 | 1 => {
            let b = body::<SetPayload>(bytes)?;
            no_nested_key(b.key.as_ref())?;
            selector(b.points, b.filter, false)?;
        }
        2 => {
            let b = body::<DeletePayload>(bytes)?;
            selector(b.points, b.filter, false)?;
        }
        _ => {
            let b = body::<PointsSelector>(bytes)?;
            selector(b.points, b.filter, false)?;
        }
    }
    Ok(())
}

/// `POST points/delete`.
///
/// # Errors
/// The 400 the server answers.
pub fn delete(bytes: &[u8]) -> ApiResult<()> {
    let b = body::<PointsSelector>(bytes)?;
    selector(b.points, b.filter, false)?;
    Ok(())
}

/// `PUT /collections/{name}/index`: the field and its type.
///
/// # Errors
/// The 400 the server answers.
pub fn field_index(bytes: &[u8]) -> ApiResult<FieldType> {
    Ok(index::index_of(body::<CreateFieldIndex>(bytes)?)?.1)
}
