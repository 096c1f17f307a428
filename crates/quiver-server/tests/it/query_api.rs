//! The universal query and the grouped reads over HTTP, on named dense and
//! sparse vectors, checked against exact computations: prefetch, fusion
//! (RRF, DBSF), re-scoring, MMR, point id queries, `lookup_from`, BM25
//! Documents, groups with lookups, the legacy search with named vectors,
//! and the 400s that name what they refuse.
//!
//! Collections with named vectors are made through the engine before the
//! server opens the database (the server holds its lock while it runs).

use std::collections::HashMap;

use quiver_core::text::{Bm25, Bm25Config};
use quiver_core::{
    CollectionConfig, Database, Metric, Point, SparseModifier, SparseVector, SparseVectorParams,
    VectorParams,
};
use quiver_server::ServerConfig;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{TestServer, brute_force, cosine, error_of, seed_points, vectors};

/// A sparse vector as (indices, values).
type Sparse = (Vec<u32>, Vec<f32>);

const DIM: usize = 6;
const N: u64 = 120;
const WORDS: [&str; 8] = [
    "apple", "banana", "cherry", "grape", "lemon", "mango", "olive", "peach",
];

/// The text of point `i`: a few fruit words, repeated by a pattern.
fn text_of(i: u64) -> String {
    let i = i as usize;
    (0..1 + i % 4)
        .map(|j| WORDS[(i * 3 + j * 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sparse vector `sparse` of point `i` (plain dot product): a few
/// dimensions with values that differ per point.
fn sparse_of(i: u64) -> Sparse {
    let indices: Vec<u32> = (0..3).map(|j| ((i * 7 + j * 11) % 40) as u32).collect();
    let values: Vec<f32> = (0..3).map(|j| 0.1 + ((i + j) % 9) as f32 / 10.0).collect();
    (indices, values)
}

fn dot_sparse(a: &Sparse, b: &Sparse) -> f32 {
    let mut s = 0.0;
    for (ia, va) in a.0.iter().zip(&a.1) {
        for (ib, vb) in b.0.iter().zip(&b.1) {
            if ia == ib {
                s += va * vb;
            }
        }
    }
    s
}

struct Fixture {
    s: TestServer,
    dense: Vec<(u64, Vec<f32>)>,
    sparse: Vec<(u64, Sparse)>,
}

/// A server over a database holding `hybrid`: vectors `dense` (Cosine),
/// `sparse` (no modifier) and `bm25` (IDF) on points 0..N with payload
/// `{"group": i % 4, "text": ..}`; and `other`, with only a default vector.
fn hybrid_server() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("db");
    let dense: Vec<(u64, Vec<f32>)> = vectors(N as usize, DIM, 9)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v))
        .collect();
    let sparse: Vec<(u64, Sparse)> = (0..N).map(|i| (i, sparse_of(i))).collect();
    {
        let db = Database::open(&data_dir).unwrap();
        let mut config = CollectionConfig::with_vectors([(
            "dense".to_owned(),
            VectorParams::new(DIM, Metric::Cosine),
        )]);
        config
            .sparse_vectors
            .insert("sparse".to_owned(), SparseVectorParams::default());
        config.sparse_vectors.insert(
            "bm25".to_owned(),
            SparseVectorParams {
                modifier: SparseModifier::Idf,
            },
        );
        let c = db.create_collection("hybrid", config).unwrap();
        let bm25 = Bm25::new(&Bm25Config::default()).unwrap();
        let points: Vec<Point> = (0..N)
            .map(|i| {
                let (ix, vs) = sparse_of(i);
                Point::without_vectors(i)
                    .with_vector("dense", dense[i as usize].1.clone())
                    .with_vector("sparse", SparseVector::new(ix, vs).unwrap())
                    .with_vector("bm25", bm25.embed_document(&text_of(i)))
                    .with_payload(
                        json!({"group": i % 4, "text": text_of(i)})
                            .as_object()
                            .unwrap()
                            .clone(),
                    )
            })
            .collect();
        c.upsert(points).unwrap();
        let other = db
            .create_collection("other", CollectionConfig::new(DIM, Metric::Cosine))
            .unwrap();
        other
            .upsert(
                (0..5u64)
                    .map(|i| Point::new(1000 + i, vectors(1, DIM, 100 + i)[0].clone()))
                    .collect(),
            )
            .unwrap();
    }
    let config = ServerConfig {
        data_dir,
        port: 0,
        ..ServerConfig::default()
    };
    let s = TestServer::with_config(config, dir, Client::new());
    Fixture { s, dense, sparse }
}

fn ids(points: &Value) -> Vec<u64> {
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

fn scores(points: &Value) -> Vec<f64> {
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["score"].as_f64().unwrap())
        .collect()
}

/// Ids of the `k` best by sparse dot product (ties by id), positive only.
fn brute_sparse(points: &[(u64, Sparse)], q: &Sparse, k: usize) -> Vec<u64> {
    let mut scored: Vec<(f32, u64)> = points
        .iter()
        .map(|(id, v)| (dot_sparse(q, v), *id))
        .filter(|(s, _)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

fn query(f: &Fixture, body: Value) -> Value {
    f.s.ok(f.s.post("/collections/hybrid/points/query", body))["points"].clone()
}

#[test]
fn named_dense_and_sparse_queries_match_brute_force() {
    let f = hybrid_server();
    for (qi, q) in vectors(4, DIM, 77).iter().enumerate() {
        let got = query(
            &f,
            json!({"query": q, "using": "dense", "limit": 7, "params": {"exact": true}}),
        );
        assert_eq!(ids(&got), brute_force(&f.dense, q, 7), "dense query {qi}");
        let best = got[0]["id"].as_u64().unwrap() as usize;
        assert!((scores(&got)[0] as f32 - cosine(q, &f.dense[best].1)).abs() < 1e-4);
        // The legacy search names the vector the same way.
        let legacy = f.s.ok(f.s.post(
            "/collections/hybrid/points/search",
            json!({"vector": {"name": "dense", "vector": q}, "limit": 7, "params": {"exact": true}}),
        ));
        assert_eq!(ids(&legacy), ids(&got));
    }
    let q = (vec![3u32, 14, 25], vec![1.0f32, 0.5, 0.25]);
    let got = query(
        &f,
        json!({"query": {"indices": q.0, "values": q.1}, "using": "sparse", "limit": 6}),
    );
    let want = brute_sparse(&f.sparse, &q, 6);
    assert_eq!(ids(&got), want);
    let want_best = dot_sparse(&q, &f.sparse[want[0] as usize].1);
    assert!((scores(&got)[0] as f32 - want_best).abs() < 1e-5);
    let legacy = f.s.ok(f.s.post(
        "/collections/hybrid/points/search",
        json!({"vector": {"name": "sparse", "vector": {"indices": q.0, "values": q.1}}, "limit": 6}),
    ));
    assert_eq!(ids(&legacy), want);
    // A sparse query against a dense vector is refused, naming it.
    let e = error_of(
        f.s.post(
            "/collections/hybrid/points/query",
            json!({"query": {"indices": [1], "values": [1.0]}, "using": "dense"}),
        ),
        400,
    );
    assert!(e.contains("dense"), "{e}");
    let e = error_of(
        f.s.post(
            "/collections/hybrid/points/query",
            json!({"query": vec![1.0; DIM], "using": "nope"}),
        ),
        400,
    );
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn a_bm25_document_is_the_sparse_query_of_its_words() {
    let f = hybrid_server();
    let text = "Mango and PEACHES";
    let embedded = Bm25::new(&Bm25Config::default()).unwrap().embed_query(text);
    let by_doc = query(
        &f,
        json!({"query": {"text": text, "model": "qdrant/bm25"}, "using": "bm25", "limit": 10, "with_payload": true}),
    );
    let by_vector = query(
        &f,
        json!({"query": {"indices": embedded.indices(), "values": embedded.values()}, "using": "bm25", "limit": 10}),
    );
    assert_eq!(ids(&by_doc), ids(&by_vector));
    assert_eq!(scores(&by_doc), scores(&by_vector));
    assert!(!ids(&by_doc).is_empty());
    for p in by_doc.as_array().unwrap() {
        let t = p["payload"]["text"].as_str().unwrap();
        assert!(t.contains("mango") || t.contains("peach"), "{t}");
    }
    // fastembed's spelling, and options the model has.
    let nearest = query(
        &f,
        json!({"query": {"nearest": {"text": text, "model": "Qdrant/bm25", "options": {"k": 1.2}}}, "using": "bm25", "limit": 10}),
    );
    assert_eq!(ids(&nearest), ids(&by_doc));
    for (body, needle) in [
        (json!({"text": "a", "model": "bm42"}), "`bm42`"),
        (
            json!({"text": "a", "model": "qdrant/bm25", "options": {"ascii": true}}),
            "ascii",
        ),
    ] {
        let e = error_of(
            f.s.post(
                "/collections/hybrid/points/query",
                json!({"query": body, "using": "bm25"}),
            ),
            400,
        );
        assert!(e.contains(needle), "{e} lacks {needle}");
    }
}

/// RRF of `lists` (each best first) with constant `k`, best first (ties by id).
fn rrf(lists: &[Vec<u64>], k: f64) -> Vec<(u64, f64)> {
    let mut s: HashMap<u64, f64> = HashMap::new();
    for l in lists {
        for (pos, id) in l.iter().enumerate() {
            *s.entry(*id).or_default() += 1.0 / (k + pos as f64);
        }
    }
    let mut v: Vec<(u64, f64)> = s.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[test]
fn fusion_fuses_the_prefetch_lists_and_rescoring_ranks_their_union() {
    let f = hybrid_server();
    let q = vectors(1, DIM, 5)[0].clone();
    let sq = (vec![3u32, 14, 25, 36], vec![1.0f32, 0.8, 0.6, 0.4]);
    let dense_list = brute_force(&f.dense, &q, 20);
    let sparse_list = brute_sparse(&f.sparse, &sq, 20);
    let prefetch = json!([
        {"query": q, "using": "dense", "limit": 20, "params": {"exact": true}},
        {"query": {"indices": sq.0, "values": sq.1}, "using": "sparse", "limit": 20},
    ]);
    for (fusion, k) in [
        (json!({"fusion": "rrf"}), 2.0),
        (json!({"rrf": {"k": 60}}), 60.0),
    ] {
        let got = query(
            &f,
            json!({"prefetch": prefetch, "query": fusion, "limit": 10}),
        );
        let want = rrf(&[dense_list.clone(), sparse_list.clone()], k);
        assert_eq!(
            ids(&got),
            want.iter().take(10).map(|w| w.0).collect::<Vec<_>>()
        );
        for (g, w) in scores(&got).iter().zip(&want) {
            assert!((g - w.1).abs() < 1e-5, "{g} vs {}", w.1);
        }
    }
    // DBSF: each list normalised by mean +- 3 sample sd, then summed.
    let dense_scores: Vec<f64> = dense_list
        .iter()
        .map(|id| f64::from(cosine(&q, &f.dense[*id as usize].1)))
        .collect();
    let sparse_scores: Vec<f64> = sparse_list
        .iter()
        .map(|id| f64::from(dot_sparse(&sq, &f.sparse[*id as usize].1)))
        .collect();
    let norm = |s: &[f64]| -> Vec<f64> {
        let n = s.len() as f64;
        let mean = s.iter().sum::<f64>() / n;
        let sd = (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        s.iter()
            .map(|x| (x - (mean - 3.0 * sd)) / (6.0 * sd))
            .collect()
    };
    let mut want: HashMap<u64, f64> = HashMap::new();
    for (list, s) in [
        (&dense_list, norm(&dense_scores)),
        (&sparse_list, norm(&sparse_scores)),
    ] {
        for (id, x) in list.iter().zip(s) {
            *want.entry(*id).or_default() += x;
        }
    }
    let got = query(
        &f,
        json!({"prefetch": prefetch, "query": {"fusion": "dbsf"}, "limit": 5}),
    );
    for p in got.as_array().unwrap() {
        let id = p["id"].as_u64().unwrap();
        assert!(
            (p["score"].as_f64().unwrap() - want[&id]).abs() < 1e-4,
            "{id}"
        );
    }
    let mut best: Vec<(u64, f64)> = want.into_iter().collect();
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(ids(&got)[0], best[0].0);

    // Re-scoring: the sparse prefetch's candidates ranked by the dense query.
    let got = query(
        &f,
        json!({"prefetch": {"query": {"indices": sq.0, "values": sq.1}, "using": "sparse", "limit": 15},
               "query": q, "using": "dense", "limit": 5}),
    );
    let candidates: Vec<(u64, Vec<f32>)> = sparse_list[..15]
        .iter()
        .map(|id| (*id, f.dense[*id as usize].1.clone()))
        .collect();
    assert_eq!(ids(&got), brute_force(&candidates, &q, 5));

    // Nested prefetches, each with its own filter; the query's filter holds
    // in every stage.
    let got = query(
        &f,
        json!({"prefetch": {"prefetch": {"query": q, "using": "dense", "limit": 30, "params": {"exact": true},
                                          "filter": {"must": [{"key": "group", "match": {"value": 1}}]}},
                            "query": {"indices": sq.0, "values": sq.1}, "using": "sparse", "limit": 10},
               "query": {"fusion": "rrf"}, "limit": 10, "with_payload": true,
               "filter": {"must_not": [{"has_id": [1]}]}}),
    );
    for p in got.as_array().unwrap() {
        assert_eq!(p["payload"]["group"], 1);
        assert_ne!(p["id"], 1);
    }
    // Stages that cannot run are refused naming the stage.
    let e = error_of(
        f.s.post(
            "/collections/hybrid/points/query",
            json!({"prefetch": [{"query": q, "using": "dense"}, {"query": q, "using": "dense"}]}),
        ),
        400,
    );
    assert!(e.contains("2 prefetches need a query"), "{e}");
}

#[test]
fn point_id_queries_use_the_stored_vector_and_lookup_from_another_collection() {
    let f = hybrid_server();
    let got = query(
        &f,
        json!({"query": 7, "using": "dense", "limit": 5, "params": {"exact": true}}),
    );
    let without_7: Vec<(u64, Vec<f32>)> = f.dense.iter().filter(|p| p.0 != 7).cloned().collect();
    assert_eq!(ids(&got), brute_force(&without_7, &f.dense[7].1, 5));
    let sparse_by_id = query(
        &f,
        json!({"query": {"nearest": 7}, "using": "sparse", "limit": 4}),
    );
    let without_7: Vec<_> = f.sparse.iter().filter(|p| p.0 != 7).cloned().collect();
    assert_eq!(
        ids(&sparse_by_id),
        brute_sparse(&without_7, &f.sparse[7].1, 4)
    );

    // `other` holds point 1002 with its default vector: nearest to it here,
    // by `dense` (the id itself is not excluded: it is another
    // collection's point).
    let v1002 = vectors(1, DIM, 102)[0].clone();
    let got = query(
        &f,
        json!({"query": 1002, "using": "dense", "lookup_from": {"collection": "other", "vector": ""}, "limit": 5,
               "params": {"exact": true}}),
    );
    assert_eq!(ids(&got), brute_force(&f.dense, &v1002, 5));
    let got = query(
        &f,
        json!({"query": {"fusion": "rrf"}, "limit": 3, "prefetch": [
            {"query": 1002, "using": "dense", "lookup_from": {"collection": "other", "vector": ""},
             "limit": 5, "params": {"exact": true}}]}),
    );
    assert_eq!(ids(&got), brute_force(&f.dense, &v1002, 3));
    for (body, status, needle) in [
        (json!({"query": 999_999, "using": "dense"}), 404, "999999"),
        // Without `vector`, the lookup takes `using` (as Qdrant does):
        // `other` has no `dense`.
        (
            json!({"query": 1002, "using": "dense", "lookup_from": {"collection": "other"}}),
            400,
            "`dense`",
        ),
        (
            json!({"query": 1002, "using": "dense", "lookup_from": {"collection": "missing"}}),
            404,
            "missing",
        ),
        (
            json!({"query": 1002, "using": "dense", "lookup_from": {"collection": "other", "vector": "x"}}),
            400,
            "`x`",
        ),
        (
            json!({"query": vec![1.0; DIM], "using": "dense", "lookup_from": {"collection": "other"}}),
            400,
            "lookup_from",
        ),
    ] {
        let e = error_of(
            f.s.post("/collections/hybrid/points/query", body.clone()),
            status,
        );
        assert!(e.contains(needle), "{body}: {e} lacks {needle}");
    }
}

/// Maximal marginal relevance over the `candidates` nearest (Cosine: dot
/// products of normalised vectors), as Qdrant defines it.
fn mmr(
    points: &[(u64, Vec<f32>)],
    q: &[f32],
    candidates: usize,
    k: usize,
    diversity: f32,
) -> Vec<u64> {
    let pool: Vec<u64> = brute_force(points, q, candidates);
    let vec_of = |id: u64| &points.iter().find(|p| p.0 == id).unwrap().1;
    let mut picked: Vec<u64> = Vec::new();
    let mut rest = pool;
    while picked.len() < k && !rest.is_empty() {
        let (best, _) = rest
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let rel = cosine(q, vec_of(c));
                let red = picked
                    .iter()
                    .map(|&s| cosine(vec_of(c), vec_of(s)))
                    .fold(f32::NEG_INFINITY, f32::max);
                let red = if picked.is_empty() { 0.0 } else { red };
                (i, (1.0 - diversity) * rel - diversity * red)
            })
            .fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        picked.push(rest.remove(best));
    }
    picked
}

#[test]
fn mmr_reranks_the_candidates_for_diversity() {
    let f = hybrid_server();
    let q = vectors(1, DIM, 31)[0].clone();
    let got = query(
        &f,
        json!({"query": {"nearest": q, "mmr": {"diversity": 0.7, "candidates_limit": 30}},
               "using": "dense", "limit": 6, "params": {"exact": true}}),
    );
    assert_eq!(ids(&got), mmr(&f.dense, &q, 30, 6, 0.7));
    // Hits keep their score against the query.
    for p in got.as_array().unwrap() {
        let id = p["id"].as_u64().unwrap() as usize;
        assert!((p["score"].as_f64().unwrap() as f32 - cosine(&q, &f.dense[id].1)).abs() < 1e-4);
    }
    let plain = query(
        &f,
        json!({"query": {"nearest": q, "mmr": {"diversity": 0.0}}, "using": "dense", "limit": 6,
               "params": {"exact": true}}),
    );
    assert_eq!(ids(&plain), brute_force(&f.dense, &q, 6));
}

#[test]
fn with_vector_returns_a_list_or_vectors_by_name() {
    let f = hybrid_server();
    let all = query(
        &f,
        json!({"query": 3, "using": "dense", "limit": 1, "with_vector": true}),
    );
    let v = &all[0]["vector"];
    assert!(v["dense"].is_array(), "{v}");
    assert!(v["sparse"]["indices"].is_array(), "{v}");
    assert!(v["bm25"]["values"].is_array(), "{v}");
    let some = query(
        &f,
        json!({"query": 3, "using": "dense", "limit": 1, "with_vector": ["sparse"]}),
    );
    let v = some[0]["vector"].as_object().unwrap();
    assert_eq!(v.keys().collect::<Vec<_>>(), ["sparse"]);
    let id = some[0]["id"].as_u64().unwrap();
    let (ix, vs) = sparse_of(id);
    let mut pairs: Vec<(u32, f32)> = ix.into_iter().zip(vs).collect();
    pairs.sort_by_key(|p| p.0);
    assert_eq!(
        v["sparse"]["indices"],
        json!(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
    );
    let e = error_of(
        f.s.post(
            "/collections/hybrid/points/query",
            json!({"query": 3, "using": "dense", "with_vector": ["colour"]}),
        ),
        400,
    );
    assert!(e.contains("colour"), "{e}");

    // A collection with only the default vector prints a plain list.
    let plain = f.s.ok(f.s.post(
        "/collections/other/points/query",
        json!({"query": 1000, "limit": 1, "with_vector": true}),
    ));
    assert!(plain["points"][0]["vector"].is_array(), "{plain}");
    let listed = f.s.ok(f.s.post(
        "/collections/other/points/query",
        json!({"limit": 2, "with_vector": [""]}),
    ));
    assert!(listed["points"][1]["vector"].is_array(), "{listed}");
}

#[test]
fn query_batch_answers_each_query_as_alone() {
    let f = hybrid_server();
    let q = vectors(1, DIM, 8)[0].clone();
    let a = json!({"query": q, "using": "dense", "limit": 4, "params": {"exact": true}});
    let b = json!({"query": {"indices": [3], "values": [1.0]}, "using": "sparse", "limit": 3});
    let batch = f.s.ok(f.s.post(
        "/collections/hybrid/points/query/batch",
        json!({"searches": [a, b]}),
    ));
    assert_eq!(batch[0]["points"], query(&f, a.clone()));
    assert_eq!(batch[1]["points"], query(&f, b.clone()));
    let e = error_of(
        f.s.post(
            "/collections/hybrid/points/query/batch",
            json!({"searches": [a, {"query": q, "params": {"quantization": {"rescore": true}}}]}),
        ),
        400,
    );
    assert!(e.contains("params.quantization"), "{e}");
}

/// The best `groups` groups by `group` payload, `size` hits each, from the
/// ranking `ranked` (best first), as (group, ids).
fn brute_groups(
    ranked: &[u64],
    group_of: impl Fn(u64) -> u64,
    groups: usize,
    size: usize,
) -> Vec<(u64, Vec<u64>)> {
    let mut out: Vec<(u64, Vec<u64>)> = Vec::new();
    for &id in ranked {
        let g = group_of(id);
        match out.iter().position(|e| e.0 == g) {
            Some(i) if out[i].1.len() < size => out[i].1.push(id),
            Some(_) => {}
            None if out.len() < groups => out.push((g, vec![id])),
            None => {}
        }
    }
    out
}

fn groups_of(result: &Value) -> Vec<(u64, Vec<u64>)> {
    result["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_u64().unwrap(), ids(&g["hits"])))
        .collect()
}

#[test]
fn groups_hold_the_best_hits_of_the_best_groups_with_lookups() {
    let s = TestServer::start();
    s.create("c", 8, "Cosine");
    let points = seed_points(&s, "c", 300, 8);
    s.create("info", 2, "Dot");
    let r = s.put(
        "/collections/info/points?wait=true",
        json!({"points": [
            {"id": 0, "vector": [1.0, 0.0], "payload": {"name": "zero"}},
            {"id": 2, "vector": [0.0, 1.0], "payload": {"name": "two"}},
        ]}),
    );
    s.ok(r);
    let q = vectors(1, 8, 3)[0].clone();
    let ranked = brute_force(&points, &q, 300);
    let want = brute_groups(&ranked, |id| id % 3, 2, 4);
    let got = s.ok(s.post(
        "/collections/c/points/query/groups",
        json!({"query": q, "group_by": "group", "group_size": 4, "limit": 2,
               "params": {"exact": true}, "with_payload": ["tag"], "with_lookup": "info"}),
    ));
    assert_eq!(groups_of(&got), want);
    for g in got["groups"].as_array().unwrap() {
        let hit = &g["hits"][0];
        assert!(
            hit["payload"].get("group").is_none(),
            "only `tag` asked: {hit}"
        );
        assert!(hit["payload"]["tag"].is_string());
        match g["id"].as_u64().unwrap() {
            0 => assert_eq!(g["lookup"]["payload"]["name"], "zero"),
            2 => assert_eq!(g["lookup"]["payload"]["name"], "two"),
            _ => assert!(g.get("lookup").is_none_or(Value::is_null), "{g}"),
        }
    }
    // Search groups: the same, with the detailed lookup form and vectors.
    let got = s.ok(s.post(
        "/collections/c/points/search/groups",
        json!({"vector": q, "group_by": "group", "group_size": 4, "limit": 2,
               "params": {"exact": true}, "with_vector": true,
               "with_lookup": {"collection": "info", "with_payload": false, "with_vectors": true}}),
    ));
    assert_eq!(groups_of(&got), want);
    for g in got["groups"].as_array().unwrap() {
        assert_eq!(g["hits"][0]["vector"].as_array().unwrap().len(), 8);
        if let Some(l) = g.get("lookup").filter(|l| !l.is_null()) {
            assert_eq!(l["vector"].as_array().unwrap().len(), 2);
            assert!(l.get("payload").is_none_or(Value::is_null));
        }
    }
    // Many small groups: more candidates are fetched until every group is
    // full (`tag` has two values, so 150 points per group).
    let ranked_all = brute_force(&points, &q, 300);
    let want = brute_groups(&ranked_all, |id| id % 2, 2, 100);
    let got = s.ok(s.post(
        "/collections/c/points/search/groups",
        json!({"vector": q, "group_by": "tag", "group_size": 100, "limit": 5, "params": {"exact": true}}),
    ));
    let got: Vec<(String, Vec<u64>)> = got["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap().to_owned(), ids(&g["hits"])))
        .collect();
    assert_eq!(got.len(), 2);
    for ((tag, hits), (g, want_hits)) in got.iter().zip(&want) {
        assert_eq!(tag, &format!("t{g}"));
        assert_eq!(hits, want_hits);
    }
    for (body, needle) in [
        (
            json!({"vector": q, "group_by": "group", "group_size": 0, "limit": 2}),
            "group_size",
        ),
        (
            json!({"vector": q, "group_by": "group", "group_size": 1000, "limit": 1000}),
            "100000",
        ),
        (
            json!({"vector": q, "group_by": "", "group_size": 1, "limit": 1}),
            "group_by",
        ),
        (
            json!({"vector": q, "group_by": "g", "group_size": 1, "limit": 1, "with_lookup": "nope"}),
            "nope",
        ),
    ] {
        let (status, body) = s.post("/collections/c/points/search/groups", body);
        assert!(status == 400 || status == 404, "{body}");
        let e = error_of((status, body), status);
        assert!(e.contains(needle), "{e} lacks {needle}");
    }
    let e = error_of(
        s.post(
            "/collections/c/points/query/groups",
            json!({"group_by": "group"}),
        ),
        400,
    );
    assert!(e.contains("query"), "{e}");
}

#[test]
fn absurd_sizes_and_unknown_fields_are_refused_naming_them() {
    let s = TestServer::start();
    s.create("c", 4, "Dot");
    seed_points(&s, "c", 10, 4);
    let mut deep = json!({"query": [1.0, 0.0, 0.0, 0.0]});
    for _ in 0..12 {
        deep = json!({"query": [1.0, 0.0, 0.0, 0.0], "prefetch": deep});
    }
    let wide: Vec<Value> = (0..100)
        .map(|_| json!({"query": [1.0, 0.0, 0.0, 0.0]}))
        .collect();
    for (body, needle) in [
        (deep, "deeper"),
        (
            json!({"query": {"fusion": "rrf"}, "prefetch": wide}),
            "stages",
        ),
        (
            json!({"query": [1.0, 0.0, 0.0, 0.0], "limit": 1_000_000}),
            "limit",
        ),
        (
            json!({"query": [1.0, 0.0, 0.0, 0.0], "params": {"hnsw_ef": 10_000_000}}),
            "ef",
        ),
        (
            json!({"query": [1.0, 0.0, 0.0, 0.0], "prefetch": {"query": [1.0, 0.0, 0.0, 0.0], "limit": 0}}),
            "limit 0",
        ),
        (
            json!({"query": [1.0, 0.0, 0.0, 0.0], "params": {"quantization": {"ignore": true}}}),
            "quantization",
        ),
        (
            json!({"query": [1.0, 0.0, 0.0, 0.0], "prefetch": {"query": [1.0, 0.0, 0.0, 0.0], "colour": 1}}),
            "colour",
        ),
        (
            json!({"query": {"recommend": {"positive": [1]}}}),
            "recommend",
        ),
        (
            json!({"query": {"rrf": {"k": 0}}, "prefetch": {"query": [1.0, 0.0, 0.0, 0.0]}}),
            "k must be at least 1",
        ),
    ] {
        let e = error_of(s.post("/collections/c/points/query", body.clone()), 400);
        assert!(e.contains(needle), "{body}: {e} lacks {needle}");
    }
    let e = error_of(
        s.post(
            "/collections/c/points/search",
            json!({"vector": {"name": "img", "vector": [1.0, 0.0, 0.0, 0.0]}, "limit": 3}),
        ),
        400,
    );
    assert!(e.contains("img"), "{e}");
}

#[test]
fn sparse_vectors_returned_count_against_the_result_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("db");
    {
        let db = Database::open(&data_dir).unwrap();
        let mut config = CollectionConfig::with_vectors([]);
        config
            .sparse_vectors
            .insert("s".to_owned(), SparseVectorParams::default());
        let c = db.create_collection("wide", config).unwrap();
        let indices: Vec<u32> = (0..20_000).collect();
        let values = vec![1.0; indices.len()];
        c.upsert(
            (0..10u64)
                .map(|i| {
                    Point::without_vectors(i).with_vector(
                        "s",
                        SparseVector::new(indices.clone(), values.clone()).unwrap(),
                    )
                })
                .collect(),
        )
        .unwrap();
    }
    let config = ServerConfig {
        data_dir,
        port: 0,
        max_result_bytes: 1 << 20,
        ..ServerConfig::default()
    };
    let s = TestServer::with_config(config, dir, Client::new());
    let body = json!({"query": {"indices": [1], "values": [1.0]}, "using": "s", "limit": 10});
    let hits = s.ok(s.post("/collections/wide/points/query", body.clone()));
    assert_eq!(hits["points"].as_array().unwrap().len(), 10);
    let mut with_vectors = body;
    with_vectors["with_vector"] = json!(true);
    // 10 hits of 20 000 entries at 8 bytes: 1.6 MB, over the 1 MiB budget.
    let e = error_of(s.post("/collections/wide/points/query", with_vectors), 400);
    assert!(e.contains("max_result_bytes"), "{e}");
}

/// Needs named vectors written over HTTP (the write-side branch): the same
/// hybrid query on a collection made with Qdrant's create body.
#[test]
fn hybrid_query_on_a_collection_created_over_http() {
    let s = TestServer::start();
    let r = s.put(
        "/collections/h",
        json!({"vectors": {"dense": {"size": 2, "distance": "Cosine"}},
               "sparse_vectors": {"bm25": {"modifier": "idf"}}}),
    );
    s.ok(r);
    let r = s.put(
        "/collections/h/points?wait=true",
        json!({"points": [
            {"id": 1, "vector": {"dense": [1.0, 0.0], "bm25": {"indices": [3], "values": [1.0]}}},
            {"id": 2, "vector": {"dense": [0.8, 0.6]}},
        ]}),
    );
    s.ok(r);
    let got = s.ok(s.post(
        "/collections/h/points/query",
        json!({"prefetch": [
            {"query": [1.0, 0.1], "using": "dense", "limit": 20},
            {"query": {"text": "x", "model": "qdrant/bm25"}, "using": "bm25", "limit": 20},
            {"query": {"indices": [3], "values": [1.0]}, "using": "bm25", "limit": 20}],
            "query": {"fusion": "rrf"}, "limit": 10}),
    ));
    assert_eq!(got["points"][0]["id"], 1);
}
