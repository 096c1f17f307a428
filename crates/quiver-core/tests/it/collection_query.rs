//! Staged queries (`Collection::query`): prefetches fused by RRF and DBSF,
//! re-scored by another vector, re-ranked by MMR, with filters that hold
//! for every stage — each answer checked against brute force computed here.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use quiver_core::filter::Filter;
use quiver_core::{
    CollectionConfig, Database, Fusion, Metric, Mmr, Point, PointId, Prefetch, Query, QueryRequest,
    SparseVector, SparseVectorParams, VectorParams,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const N: u64 = 60;
const DIM: usize = 4;

struct Data {
    dense: Vec<Vec<f32>>,
    sparse: Vec<SparseVector>,
}

fn setup(dir: &std::path::Path) -> (Database, Arc<quiver_core::Collection>, Data) {
    let db = Database::open(dir).expect("test fixture");
    let mut config =
        CollectionConfig::with_vectors([("d".to_owned(), VectorParams::new(DIM, Metric::Dot))]);
    config
        .sparse_vectors
        .insert("s".to_owned(), SparseVectorParams::default());
    let c = db.create_collection("c", config).expect("test fixture");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut data = Data {
        dense: Vec::new(),
        sparse: Vec::new(),
    };
    let mut points = Vec::new();
    for id in 0..N {
        let d: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dims: BTreeSet<u32> = (0..3).map(|_| rng.random_range(0..12)).collect();
        let values = dims.iter().map(|_| rng.random_range(0.1..2.0)).collect();
        let s = SparseVector::new(dims.into_iter().collect(), values).expect("test fixture");
        data.dense.push(d.clone());
        data.sparse.push(s.clone());
        points.push(
            Point::without_vectors(id)
                .with_vector("d", d)
                .with_vector("s", s)
                .with_payload(
                    json!({"g": id % 3})
                        .as_object()
                        .expect("test fixture")
                        .clone(),
                ),
        );
    }
    c.upsert(points).expect("test fixture");
    (db, c, data)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Brute-force top `k` ids of `score` over the ids `keep` admits.
fn top(k: usize, keep: impl Fn(u64) -> bool, score: impl Fn(u64) -> f32) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = (0..N).filter(|&i| keep(i)).map(|i| (i, score(i))).collect();
    all.retain(|x| x.1.is_finite());
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn ids(hits: &[quiver_core::ScoredPoint]) -> Vec<u64> {
    hits.iter()
        .map(|h| match h.id {
            PointId::Num(i) => i,
            PointId::Uuid(_) => panic!(),
        })
        .collect()
}

fn sparse_query() -> SparseVector {
    SparseVector::new(vec![1, 4, 7, 9], vec![1.0, 0.5, 2.0, 1.5]).expect("test fixture")
}

fn dense_query() -> Vec<f32> {
    vec![0.3, -0.7, 0.5, 0.1]
}

fn hybrid(fusion: Fusion, limit: usize) -> QueryRequest {
    let mut stage = Prefetch::nearest(dense_query(), "d", limit);
    stage.query = Some(Query::Fusion(fusion));
    stage.using = String::new();
    stage.prefetch = vec![
        Prefetch::nearest(dense_query(), "d", 10),
        Prefetch::nearest(sparse_query(), "s", 10),
    ];
    for p in &mut stage.prefetch {
        p.exact = true;
    }
    QueryRequest::new(stage)
}

#[test]
fn rrf_and_dbsf_fuse_the_exact_dense_and_sparse_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, c, data) = setup(tmp.path());
    let dq = dense_query();
    let sq = sparse_query();
    let dense = top(10, |_| true, |i| dot(&data.dense[i as usize], &dq));
    let sparse = top(
        10,
        |i| data.sparse[i as usize].dot(&sq) > 0.0,
        |i| data.sparse[i as usize].dot(&sq),
    );
    // RRF with k = 2 (positions from 0).
    let mut want: HashMap<u64, f64> = HashMap::new();
    for list in [&dense, &sparse] {
        for (pos, (id, _)) in list.iter().enumerate() {
            *want.entry(*id).or_default() += 1.0 / (2.0 + pos as f64);
        }
    }
    let mut want: Vec<(u64, f64)> = want.into_iter().collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let got = c.query(&hybrid(Fusion::Rrf { k: 2 }, 6)).unwrap();
    assert_eq!(
        ids(&got),
        want.iter().take(6).map(|w| w.0).collect::<Vec<_>>()
    );
    for (h, w) in got.iter().zip(&want) {
        assert!((f64::from(h.score) - w.1).abs() < 1e-6);
    }

    // DBSF: each list mapped by mean ± 3 sample sd, then summed.
    let mut want: HashMap<u64, f64> = HashMap::new();
    for list in [&dense, &sparse] {
        let s: Vec<f64> = list.iter().map(|x| f64::from(x.1)).collect();
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        let sd = (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (s.len() - 1) as f64).sqrt();
        for ((id, _), x) in list.iter().zip(&s) {
            *want.entry(*id).or_default() += (x - (mean - 3.0 * sd)) / (6.0 * sd);
        }
    }
    let mut want: Vec<(u64, f64)> = want.into_iter().collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let got = c.query(&hybrid(Fusion::Dbsf, 20)).unwrap();
    assert_eq!(got.len(), want.len().min(20));
    for (h, w) in got.iter().zip(&want) {
        assert!(
            (f64::from(h.score) - w.1).abs() < 1e-4,
            "{} vs {}",
            h.score,
            w.1
        );
    }

    // Offset skips into the same ranking; payloads and vectors come along.
    let mut paged = hybrid(Fusion::Rrf { k: 2 }, 3);
    paged.offset = 2;
    paged.with_payload = true;
    paged.with_vector = true;
    let page = c.query(&paged).unwrap();
    let all = c.query(&hybrid(Fusion::Rrf { k: 2 }, 5)).unwrap();
    assert_eq!(ids(&page), ids(&all)[2..5]);
    for h in &page {
        let PointId::Num(i) = h.id else { panic!() };
        assert_eq!(h.payload.as_ref().unwrap()["g"], json!(i % 3));
        let v = h.vectors.as_ref().unwrap();
        assert_eq!(
            v["d"].as_dense().unwrap(),
            data.dense[i as usize].as_slice()
        );
        assert_eq!(v["s"].as_sparse().unwrap(), &data.sparse[i as usize]);
    }
}

#[test]
fn a_query_over_prefetches_rescores_their_points_by_another_vector() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, c, data) = setup(tmp.path());
    let (dq, sq) = (dense_query(), sparse_query());
    let candidates: BTreeSet<u64> = top(
        15,
        |i| data.sparse[i as usize].dot(&sq) > 0.0,
        |i| data.sparse[i as usize].dot(&sq),
    )
    .into_iter()
    .map(|x| x.0)
    .collect();
    let want = top(
        5,
        |i| candidates.contains(&i),
        |i| dot(&data.dense[i as usize], &dq),
    );
    let mut stage = Prefetch::nearest(dq.clone(), "d", 5);
    stage.prefetch = vec![Prefetch::nearest(sq.clone(), "s", 15)];
    let got = c.query(&QueryRequest::new(stage.clone())).unwrap();
    assert_eq!(ids(&got), want.iter().map(|w| w.0).collect::<Vec<_>>());
    for (h, w) in got.iter().zip(&want) {
        assert!((h.score - w.1).abs() < 1e-5);
    }

    // A filter on the query holds for its prefetches too.
    let f: Filter =
        serde_json::from_value(json!({"must": [{"key": "g", "match": {"value": 1}}]})).unwrap();
    let candidates: BTreeSet<u64> = top(
        15,
        |i| i % 3 == 1 && data.sparse[i as usize].dot(&sq) > 0.0,
        |i| data.sparse[i as usize].dot(&sq),
    )
    .into_iter()
    .map(|x| x.0)
    .collect();
    let want = top(
        5,
        |i| candidates.contains(&i),
        |i| dot(&data.dense[i as usize], &dq),
    );
    let mut filtered = stage.clone();
    filtered.filter = Some(f);
    let got = c.query(&QueryRequest::new(filtered)).unwrap();
    assert_eq!(ids(&got), want.iter().map(|w| w.0).collect::<Vec<_>>());

    // MMR over prefetched points picks among them only.
    let mut mmr = stage.clone();
    mmr.query = Some(Query::Mmr {
        vector: dq.into(),
        mmr: Mmr {
            diversity: 0.5,
            candidates: 10,
        },
    });
    let got = c.query(&QueryRequest::new(mmr)).unwrap();
    let pool: BTreeSet<u64> = top(
        15,
        |i| data.sparse[i as usize].dot(&sq) > 0.0,
        |i| data.sparse[i as usize].dot(&sq),
    )
    .into_iter()
    .map(|x| x.0)
    .collect();
    assert_eq!(got.len(), 5);
    assert!(ids(&got).iter().all(|i| pool.contains(i)));
    assert_eq!(ids(&got)[0], want_first(&data, &pool));

    // A stage with one prefetch and no query passes its results on.
    let mut pass = Prefetch::nearest(vec![0.0], "", 4);
    pass.query = None;
    pass.prefetch = vec![Prefetch::nearest(sparse_query(), "s", 10)];
    let got = c.query(&QueryRequest::new(pass)).unwrap();
    let want = top(
        4,
        |i| data.sparse[i as usize].dot(&sq) > 0.0,
        |i| data.sparse[i as usize].dot(&sq),
    );
    assert_eq!(ids(&got), want.iter().map(|w| w.0).collect::<Vec<_>>());
}

/// MMR's first pick is the nearest of the pool by the dense vector.
fn want_first(data: &Data, pool: &BTreeSet<u64>) -> u64 {
    top(
        1,
        |i| pool.contains(&i),
        |i| dot(&data.dense[i as usize], &dense_query()),
    )[0]
    .0
}

#[test]
fn errors_name_the_stage_that_caused_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, c, _) = setup(tmp.path());
    let mut req = hybrid(Fusion::Rrf { k: 2 }, 5);
    req.stage.prefetch[1].using = "nope".into();
    let err = c.query(&req).unwrap_err().to_string();
    assert!(
        err.contains("query.prefetch[1]") && err.contains("`nope`"),
        "{err}"
    );
    let mut req = hybrid(Fusion::Rrf { k: 2 }, 5);
    req.offset = quiver_core::MAX_K;
    assert!(c.query(&req).unwrap_err().to_string().contains("offset"));
}
