//! Grouped reads: `points/query/groups` and `points/search/groups`.
//!
//! A groups request is a query (decoded as [`QueryPlan`]) whose hits are
//! gathered by the value of a payload key: the best `limit` groups (ordered
//! by their best hit) with at most `group_size` hits each, best first. The
//! query is run over a window of candidates that grows (by 4 each time, up
//! to the engine's largest `k`) until the first `limit` groups are full or
//! the candidates run out, so the answer is that of grouping the whole
//! ranking, except that a ranking deeper than [`MAX_K`] is cut there.
//!
//! A point whose key holds a list joins the group of each of its values;
//! only strings and integers form groups (as in Qdrant), a point without
//! such a value is in none.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use quiver_core::{Collection, MAX_K, PointId};
use serde_json::{Map, Value};

use super::budget::Demand;
use super::model::{
    GroupsResult, LookupRecord, PointGroup, QueryGroupsRequest, QueryRequest, ScoredPoint,
    SearchGroupsRequest, SearchRequest, WithLookup, WithPayload, WithVector,
};
use super::points::vector_output;
use super::query::{Lookup, QueryPlan, check_answer};
use super::{AppState, blocking};
use crate::envelope::{Envelope, ok};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};

/// Qdrant's default `group_size` of a query groups request.
const DEFAULT_GROUP_SIZE: usize = 3;
/// Qdrant's default number of groups.
const DEFAULT_GROUPS: usize = 10;
/// The first candidate window is this many times the hits returned.
const FIRST_WINDOW_FACTOR: usize = 2;
/// Each next window is this many times the last.
const WINDOW_GROWTH: usize = 4;

/// A groups request decoded.
#[derive(Debug)]
pub struct GroupsPlan {
    plan: QueryPlan,
    group_by: String,
    group_size: usize,
    groups: usize,
    lookup: Option<LookupSpec>,
}

/// What `with_lookup` returns of each group's point.
#[derive(Debug)]
struct LookupSpec {
    collection: String,
    with_payload: WithPayload,
    with_vector: WithVector,
}

impl GroupsPlan {
    /// Decodes `points/query/groups`.
    ///
    /// # Errors
    /// 400 naming the field for anything refused or malformed.
    pub fn from_query(r: QueryGroupsRequest) -> ApiResult<GroupsPlan> {
        if r.query.is_none() && r.prefetch.is_none() {
            return Err(ApiError::bad_request(
                "groups need a `query` (or a `prefetch`) to rank the points by",
            ));
        }
        let groups = r.limit.unwrap_or(DEFAULT_GROUPS);
        let group_size = r.group_size.unwrap_or(DEFAULT_GROUP_SIZE);
        check_shape(&r.group_by, groups, group_size)?;
        let plan = QueryPlan::from_query(QueryRequest {
            shard_key: r.shard_key,
            prefetch: r.prefetch,
            query: r.query,
            using: r.using,
            filter: r.filter,
            params: r.params,
            score_threshold: r.score_threshold,
            limit: Some(hits_of(groups, group_size)),
            offset: None,
            with_vector: r.with_vector,
            with_payload: r.with_payload,
            lookup_from: r.lookup_from,
        })?;
        Ok(GroupsPlan {
            plan,
            group_by: r.group_by,
            group_size,
            groups,
            lookup: r.with_lookup.map(LookupSpec::from),
        })
    }

    /// Decodes `points/search/groups`.
    ///
    /// # Errors
    /// 400 naming the field for anything refused or malformed.
    pub fn from_search(r: SearchGroupsRequest) -> ApiResult<GroupsPlan> {
        check_shape(&r.group_by, r.limit, r.group_size)?;
        let plan = QueryPlan::from_search(SearchRequest {
            shard_key: r.shard_key,
            vector: r.vector,
            filter: r.filter,
            params: r.params,
            limit: hits_of(r.limit, r.group_size),
            offset: None,
            with_payload: r.with_payload,
            with_vector: r.with_vector,
            score_threshold: r.score_threshold,
        })?;
        Ok(GroupsPlan {
            plan,
            group_by: r.group_by,
            group_size: r.group_size,
            groups: r.limit,
            lookup: r.with_lookup.map(LookupSpec::from),
        })
    }

    /// Runs on the blocking pool: the budget first, then the windows.
    ///
    /// # Errors
    /// As [`QueryPlan::run`]; 404 for a `with_lookup` collection that does
    /// not exist; 400 for an answer over `max` bytes.
    pub fn run(self, c: &Collection, lookup: Lookup<'_>, max: usize) -> ApiResult<GroupsResult> {
        let config = c.config();
        self.plan.with_vector.check(&config)?;
        let lookup_c = match &self.lookup {
            Some(spec) => {
                let other = lookup(&spec.collection)?;
                spec.with_vector.check(&other.config())?;
                Some(other)
            }
            None => None,
        };
        let mut demand = Demand::default();
        demand.add(
            hits_of(self.groups, self.group_size),
            self.plan.with_vector.wanted(),
            self.plan.with_payload.wanted(),
        );
        let mut floats = self.plan.with_vector.dense_floats(&config);
        if let (Some(spec), Some(other)) = (&self.lookup, &lookup_c) {
            demand.add(
                self.groups,
                spec.with_vector.wanted(),
                spec.with_payload.wanted(),
            );
            floats = floats.max(spec.with_vector.dense_floats(&other.config()));
        }
        demand.check(floats, max)?;

        let mut window = hits_of(self.groups, self.group_size)
            .saturating_mul(FIRST_WINDOW_FACTOR)
            .min(MAX_K);
        let formed = loop {
            let hits = self.plan.ranked(c, lookup, window, true, false)?;
            let exhausted = hits.len() < window || window == MAX_K;
            let formed = form_groups(hits, &self.group_by, self.groups, self.group_size);
            if exhausted || formed.complete(self.groups, self.group_size) {
                break formed;
            }
            window = window.saturating_mul(WINDOW_GROWTH).min(MAX_K);
        };

        // Vectors only for the hits returned, not for every candidate.
        let mut vectors = HashMap::new();
        if self.plan.with_vector.wanted() {
            let ids: Vec<PointId> = formed
                .groups
                .iter()
                .flat_map(|g| g.hits.iter().map(|h| h.id))
                .collect();
            for r in c.get(&ids, false, true)? {
                vectors.insert(r.id, r.vectors);
            }
        }
        let mut lookups: HashMap<PointId, LookupRecord> = HashMap::new();
        if let (Some(spec), Some(other)) = (&self.lookup, &lookup_c) {
            let ids: Vec<PointId> = formed
                .groups
                .iter()
                .filter_map(|g| group_point(&g.id))
                .collect();
            for r in other.get(&ids, spec.with_payload.wanted(), spec.with_vector.wanted())? {
                lookups.insert(
                    r.id,
                    LookupRecord {
                        id: r.id,
                        payload: r.payload.map(|p| spec.with_payload.project(p)),
                        vector: vector_output(r.vectors, Some(&spec.with_vector)),
                    },
                );
            }
        }
        let groups: Vec<PointGroup> = formed
            .groups
            .into_iter()
            .map(|g| PointGroup {
                lookup: group_point(&g.id).and_then(|id| lookups.remove(&id)),
                hits: g
                    .hits
                    .into_iter()
                    .map(|h| ScoredPoint {
                        id: h.id,
                        version: 0,
                        score: h.score,
                        vector: vector_output(
                            vectors.get(&h.id).cloned().flatten(),
                            Some(&self.plan.with_vector),
                        ),
                        payload: if self.plan.with_payload.wanted() {
                            h.payload.map(|p| self.plan.with_payload.project(p))
                        } else {
                            None
                        },
                    })
                    .collect(),
                id: g.id,
            })
            .collect();
        check_answer(
            groups
                .iter()
                .flat_map(|g| {
                    g.hits
                        .iter()
                        .map(|h| (h.vector.as_ref(), h.payload.is_some()))
                })
                .chain(
                    groups
                        .iter()
                        .filter_map(|g| g.lookup.as_ref())
                        .map(|l| (l.vector.as_ref(), l.payload.is_some())),
                ),
            max,
        )?;
        Ok(GroupsResult { groups })
    }
}

impl From<WithLookup> for LookupSpec {
    fn from(w: WithLookup) -> Self {
        match w {
            WithLookup::Collection(collection) => LookupSpec {
                collection,
                with_payload: WithPayload::Enable(true),
                with_vector: WithVector::Enable(false),
            },
            WithLookup::Detailed(d) => LookupSpec {
                collection: d.collection,
                with_payload: d.with_payload.unwrap_or(WithPayload::Enable(true)),
                with_vector: d.with_vectors.unwrap_or(WithVector::Enable(false)),
            },
        }
    }
}

/// Hits the groups hold at most.
fn hits_of(groups: usize, group_size: usize) -> usize {
    groups.saturating_mul(group_size)
}

fn check_shape(group_by: &str, groups: usize, group_size: usize) -> ApiResult<()> {
    if group_by.is_empty() {
        return Err(ApiError::bad_request("`group_by` must name a payload key"));
    }
    if groups == 0 || group_size == 0 {
        return Err(ApiError::bad_request(
            "`limit` (groups) and `group_size` must be at least 1",
        ));
    }
    if hits_of(groups, group_size) > MAX_K {
        return Err(ApiError::bad_request(format!(
            "`limit` * `group_size` must be at most {MAX_K}"
        )));
    }
    Ok(())
}

/// A group being formed.
struct Group {
    id: Value,
    hits: Vec<quiver_core::ScoredPoint>,
}

/// Groups in the order of their best hit.
struct Formed {
    groups: Vec<Group>,
}

impl Formed {
    /// Whether `groups` groups are formed and each is full: no later
    /// candidate can change the answer.
    fn complete(&self, groups: usize, group_size: usize) -> bool {
        self.groups.len() == groups && self.groups.iter().all(|g| g.hits.len() == group_size)
    }
}

/// Gathers `hits` (best first) into at most `groups` groups of at most
/// `group_size` hits by their values of `key`.
fn form_groups(
    hits: Vec<quiver_core::ScoredPoint>,
    key: &str,
    groups: usize,
    group_size: usize,
) -> Formed {
    let mut formed: Vec<Group> = Vec::new();
    for hit in hits {
        let values = hit
            .payload
            .as_ref()
            .map(|p| group_values(p, key))
            .unwrap_or_default();
        for value in values {
            match formed.iter().position(|g| g.id == value) {
                Some(i) if formed[i].hits.len() < group_size => formed[i].hits.push(hit.clone()),
                Some(_) => {}
                None if formed.len() < groups => formed.push(Group {
                    id: value,
                    hits: vec![hit.clone()],
                }),
                None => {}
            }
        }
    }
    Formed { groups: formed }
}

/// The distinct strings and integers at `key` (a dotted path; lists on the
/// way and at the end are looked through) of `payload`.
fn group_values(payload: &Map<String, Value>, key: &str) -> Vec<Value> {
    let mut current: Vec<&Value> = Vec::new();
    let mut parts = key.split('.');
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    if let Some(v) = payload.get(first.trim_end_matches("[]")) {
        current.push(v);
    }
    for part in parts {
        let name = part.trim_end_matches("[]");
        current = current
            .into_iter()
            .flat_map(flatten)
            .filter_map(|v| v.as_object().and_then(|o| o.get(name)))
            .collect();
    }
    let mut out: Vec<Value> = Vec::new();
    for v in current.into_iter().flat_map(flatten) {
        let groupable = v.is_string() || v.as_i64().is_some() || v.as_u64().is_some();
        if groupable && !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// A value, or the items of a list.
fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The point id a group id names, for `with_lookup`: an unsigned integer
/// or a UUID string.
fn group_point(id: &Value) -> Option<PointId> {
    serde_json::from_value(id.clone()).ok()
}

async fn run_groups(state: &AppState, name: String, plan: GroupsPlan) -> ApiResult<GroupsResult> {
    let db = Arc::clone(&state.db);
    let max = state.max_result_bytes;
    blocking(move || {
        let c = db.collection(&name)?;
        let lookup = |other: &str| -> ApiResult<Arc<Collection>> { Ok(db.collection(other)?) };
        plan.run(&c, &lookup, max)
    })
    .await
}

/// Universal query, its hits grouped by a payload key.
#[utoipa::path(post, path = "/collections/{name}/points/query/groups", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = QueryGroupsRequest,
    responses(
        (status = 200, description = "Groups, by their best hit", body = Envelope<GroupsResult>),
        (status = 404, description = "No such collection, query point or lookup collection"),
    ))]
pub async fn query_groups(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<QueryGroupsRequest>,
) -> ApiResult<Envelope<GroupsResult>> {
    let plan = GroupsPlan::from_query(body)?;
    Ok(ok(run_groups(&state, name, plan).await?))
}

/// Search, its hits grouped by a payload key.
#[utoipa::path(post, path = "/collections/{name}/points/search/groups", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = SearchGroupsRequest,
    responses(
        (status = 200, description = "Groups, by their best hit", body = Envelope<GroupsResult>),
        (status = 404, description = "No such collection or lookup collection"),
    ))]
pub async fn search_groups(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SearchGroupsRequest>,
) -> ApiResult<Envelope<GroupsResult>> {
    let plan = GroupsPlan::from_search(body)?;
    Ok(ok(run_groups(&state, name, plan).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hit(id: u64, score: f32, payload: Value) -> quiver_core::ScoredPoint {
        quiver_core::ScoredPoint {
            id: PointId::Num(id),
            score,
            payload: payload.as_object().cloned(),
            vectors: None,
        }
    }

    #[test]
    fn group_values_are_strings_and_integers_through_lists_and_paths() {
        let p = json!({"a": "x", "b": [1, "y", 1, 2.5, true], "c": {"d": [{"e": 7}, {"e": 8}]}});
        let p = p.as_object().unwrap();
        assert_eq!(group_values(p, "a"), vec![json!("x")]);
        assert_eq!(group_values(p, "b"), vec![json!(1), json!("y")]);
        assert_eq!(group_values(p, "c.d[].e"), vec![json!(7), json!(8)]);
        assert_eq!(group_values(p, "c.d.e"), vec![json!(7), json!(8)]);
        assert!(group_values(p, "missing").is_empty());
        assert!(group_values(p, "c").is_empty());
    }

    #[test]
    fn groups_fill_in_order_of_their_best_hit() {
        let hits = vec![
            hit(1, 0.9, json!({"g": "a"})),
            hit(2, 0.8, json!({"g": ["b", "a"]})),
            hit(3, 0.7, json!({"g": "a"})),
            hit(4, 0.6, json!({})),
            hit(5, 0.5, json!({"g": "c"})),
            hit(6, 0.4, json!({"g": "b"})),
        ];
        let formed = form_groups(hits, "g", 2, 2);
        let got: Vec<(Value, Vec<u64>)> = formed
            .groups
            .iter()
            .map(|g| {
                (
                    g.id.clone(),
                    g.hits
                        .iter()
                        .map(|h| match h.id {
                            PointId::Num(n) => n,
                            PointId::Uuid(_) => 0,
                        })
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![(json!("a"), vec![1, 2]), (json!("b"), vec![2, 6])]
        );
        assert!(formed.complete(2, 2));
        assert!(!formed.complete(3, 2));
    }

    #[test]
    fn with_lookup_is_a_name_or_an_object_with_qdrant_defaults() {
        let spec = |v: Value| -> Result<LookupSpec, String> {
            serde_json::from_value::<WithLookup>(v)
                .map(LookupSpec::from)
                .map_err(|e| e.to_string())
        };
        let s = spec(json!("info")).unwrap();
        assert_eq!(s.collection, "info");
        assert!(s.with_payload.wanted() && !s.with_vector.wanted());
        let s = spec(json!({"collection": "info", "with_vector": ["a"]})).unwrap();
        assert!(s.with_payload.wanted() && s.with_vector.wanted());
        let s = spec(json!({"collection": "info", "with_payload": false})).unwrap();
        assert!(!s.with_payload.wanted());
        let e = spec(json!({"collection": "info", "colour": 1})).unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn group_shapes_out_of_range_are_refused() {
        assert!(
            check_shape("", 1, 1)
                .unwrap_err()
                .message()
                .contains("group_by")
        );
        assert!(check_shape("g", 0, 1).is_err());
        assert!(check_shape("g", 1, 0).is_err());
        assert!(
            check_shape("g", 1000, 1000)
                .unwrap_err()
                .message()
                .contains("100000")
        );
        assert!(check_shape("g", 10, 3).is_ok());
    }
}
