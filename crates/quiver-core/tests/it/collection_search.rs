//! Search semantics: filtered strategies against brute force, exact mode,
//! score thresholds, `min(k, matching)` results, batch search.

use std::collections::HashSet;
use std::sync::Arc;

use quiver_core::filter::{FieldType, Filter};
use quiver_core::{
    Collection, CollectionConfig, Database, Metric, Point, PointId, SearchRequest, SearchStrategy,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const N: u64 = 4000;
const DIM: usize = 16;

struct Fixture {
    _tmp: tempfile::TempDir,
    _db: Database,
    c: Arc<Collection>,
    vectors: Vec<Vec<f32>>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("test fixture");
    let db = Database::open(tmp.path()).expect("test fixture");
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::Euclid))
        .expect("test fixture");
    c.create_field_index("cat", FieldType::Keyword)
        .expect("test fixture");
    let mut rng = SmallRng::seed_from_u64(7);
    let vectors: Vec<Vec<f32>> = (0..N)
        .map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let points: Vec<Point> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let payload = json!({"cat": format!("c{}", i % 100), "n": i});
            Point::new(i as u64, v.clone())
                .with_payload(payload.as_object().expect("test fixture").clone())
        })
        .collect();
    for chunk in points.chunks(1000) {
        c.upsert(chunk.to_vec()).expect("test fixture");
    }
    Fixture {
        _tmp: tmp,
        _db: db,
        c,
        vectors,
    }
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Brute-force top-k among ids accepted by `keep`, as (id, distance).
fn truth(f: &Fixture, q: &[f32], k: usize, keep: impl Fn(u64) -> bool) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = (0..N)
        .filter(|&i| keep(i))
        .map(|i| (i, l2(q, &f.vectors[i as usize])))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn num(id: PointId) -> u64 {
    match id {
        PointId::Num(n) => n,
        PointId::Uuid(_) => panic!("numeric ids only"),
    }
}

fn query(seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn filter(v: serde_json::Value) -> Filter {
    serde_json::from_value(v).expect("test fixture")
}

fn request(q: Vec<f32>, k: usize, f: Option<Filter>) -> SearchRequest {
    let mut r = SearchRequest::new(q, k);
    r.filter = f;
    r
}

#[test]
fn filtered_search_matches_brute_force_on_both_strategies() {
    let f = fixture();
    // Selective (40 points): exact scan of the indexed candidates.
    let narrow = filter(json!({"must": [{"key": "cat", "match": {"value": "c7"}}]}));
    // Broad (95 % of points): graph search admitting only allowed points.
    let any: Vec<String> = (0..95).map(|i| format!("c{i}")).collect();
    let broad = filter(json!({"must": [{"key": "cat", "match": {"any": any}}]}));
    // Unindexed key: candidates are all points, `matches` decides.
    let unindexed = filter(json!({"must": [{"key": "n", "range": {"gte": 1000, "lt": 3000}}]}));
    let q0 = query(999);
    for (flt, want) in [
        (&narrow, SearchStrategy::Scan),
        (&broad, SearchStrategy::FilteredGraph),
        (&unindexed, SearchStrategy::FilteredGraph),
    ] {
        let r = request(q0.clone(), 10, Some(flt.clone()));
        assert_eq!(f.c.search_strategy(&r).unwrap(), want, "{flt:?}");
    }
    let mut exact = request(q0.clone(), 10, Some(broad.clone()));
    exact.exact = true;
    assert_eq!(f.c.search_strategy(&exact).unwrap(), SearchStrategy::Scan);
    assert_eq!(
        f.c.search_strategy(&request(q0, 10, None)).unwrap(),
        SearchStrategy::Graph
    );
    let mut recall_hits = 0usize;
    let mut recall_total = 0usize;
    for seed in 0..20 {
        let q = query(1000 + seed);
        let hits =
            f.c.search(&request(q.clone(), 10, Some(narrow.clone())))
                .unwrap();
        let want = truth(&f, &q, 10, |i| i % 100 == 7);
        let got: Vec<u64> = hits.iter().map(|h| num(h.id)).collect();
        assert_eq!(
            got,
            want.iter().map(|w| w.0).collect::<Vec<_>>(),
            "narrow, seed {seed}"
        );
        for (h, w) in hits.iter().zip(&want) {
            assert!((h.score - w.1).abs() < 1e-4);
        }

        for (flt, keep) in [
            (
                &broad,
                Box::new(|i: u64| i % 100 < 95) as Box<dyn Fn(u64) -> bool>,
            ),
            (&unindexed, Box::new(|i: u64| (1000..3000).contains(&i))),
        ] {
            let hits =
                f.c.search(&request(q.clone(), 10, Some(flt.clone())))
                    .unwrap();
            assert_eq!(hits.len(), 10);
            assert!(
                hits.iter().all(|h| keep(num(h.id))),
                "a hit violates the filter"
            );
            assert!(
                hits.windows(2).all(|w| w[0].score <= w[1].score),
                "sorted best first"
            );
            let want: HashSet<u64> = truth(&f, &q, 10, &keep).iter().map(|w| w.0).collect();
            recall_hits += hits.iter().filter(|h| want.contains(&num(h.id))).count();
            recall_total += 10;
        }
    }
    let recall = recall_hits as f64 / recall_total as f64;
    assert!(recall >= 0.9, "filtered recall@10 = {recall}");
}

#[test]
fn results_are_min_of_k_and_matching_points() {
    let f = fixture();
    let q = query(5);
    let narrow = filter(json!({"must": [{"key": "cat", "match": {"value": "c3"}}]}));
    assert_eq!(
        f.c.search(&request(q.clone(), 100, Some(narrow)))
            .unwrap()
            .len(),
        40
    );
    // 600 matching points on an unindexed key, k above that: every one.
    let unindexed = filter(json!({"must": [{"key": "n", "range": {"lt": 600}}]}));
    let hits =
        f.c.search(&request(q.clone(), 1000, Some(unindexed)))
            .unwrap();
    assert_eq!(hits.len(), 600);
    let distinct: HashSet<u64> = hits.iter().map(|h| num(h.id)).collect();
    assert_eq!(distinct.len(), 600);
    assert!(distinct.iter().all(|&i| i < 600));
    let none = filter(json!({"must": [{"key": "cat", "match": {"value": "zzz"}}]}));
    assert!(
        f.c.search(&request(q.clone(), 10, Some(none)))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.c.search(&request(q, N as usize + 5, None)).unwrap().len(),
        N as usize
    );
}

#[test]
fn exact_search_equals_brute_force_and_threshold_cuts_in_metric_direction() {
    let f = fixture();
    let q = query(9);
    let mut r = request(q.clone(), 25, None);
    r.exact = true;
    let hits = f.c.search(&r).unwrap();
    let want = truth(&f, &q, 25, |_| true);
    assert_eq!(
        hits.iter().map(|h| num(h.id)).collect::<Vec<_>>(),
        want.iter().map(|w| w.0).collect::<Vec<_>>()
    );
    // Euclid: lower is better, the threshold is a maximum distance.
    let t = want[9].1 + 1e-4;
    r.score_threshold = Some(t);
    let cut = f.c.search(&r).unwrap();
    assert_eq!(cut.len(), 10);
    assert!(cut.iter().all(|h| h.score <= t));
}

#[test]
fn dot_threshold_is_a_minimum_score_and_batch_matches_single() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("d", CollectionConfig::new(2, Metric::Dot))
        .unwrap();
    c.upsert(
        (1..=10u64)
            .map(|i| Point::new(i, vec![i as f32, 0.0]))
            .collect(),
    )
    .unwrap();
    let mut r = SearchRequest::new(vec![1.0, 0.0], 10);
    r.score_threshold = Some(7.5);
    let hits = c.search(&r).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![PointId::Num(10), PointId::Num(9), PointId::Num(8)]
    );
    let requests: Vec<SearchRequest> = (0..8)
        .map(|i| SearchRequest::new(vec![1.0, i as f32], 3))
        .collect();
    let batch = c.search_batch(&requests).unwrap();
    for (req, got) in requests.iter().zip(batch) {
        assert_eq!(got, c.search(req).unwrap());
    }
}

#[test]
fn has_id_filters_resolve_point_ids() {
    let f = fixture();
    let flt = filter(json!({"must": [{"has_id": [3, 17, 999_999]}]}));
    let hits =
        f.c.search(&request(query(1), 10, Some(flt.clone())))
            .unwrap();
    let got: HashSet<u64> = hits.iter().map(|h| num(h.id)).collect();
    assert_eq!(got, HashSet::from([3, 17]));
    assert_eq!(f.c.count(Some(&flt)).unwrap(), 2);
}
