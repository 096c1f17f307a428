//! Maximal marginal relevance: the picks against a brute-force reference
//! written from the rule in [`quiver_core::Mmr`]'s documentation, and the
//! request's bounds.

use quiver_core::filter::Filter;
use quiver_core::{CollectionConfig, Database, Metric, Mmr, Point, SearchRequest};
use serde_json::json;

const DIM: usize = 6;

/// The metric's similarity of two preprocessed vectors, in f64.
fn similarity(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::Cosine | Metric::Dot => a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum(),
        Metric::Euclid => -a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum::<f64>(),
    }
}

fn prepared(metric: Metric, v: &[f32]) -> Vec<f32> {
    let mut v = v.to_vec();
    metric.preprocess(&mut v);
    v
}

/// The ids MMR picks from `points` (the candidates are the `pool` nearest
/// by exact similarity), in the order picked.
fn reference(
    metric: Metric,
    points: &[(u64, Vec<f32>)],
    query: &[f32],
    diversity: f64,
    pool: usize,
    k: usize,
) -> Vec<u64> {
    let q = prepared(metric, query);
    let mut by_nearness: Vec<(u64, Vec<f32>, f64)> = points
        .iter()
        .map(|(id, v)| {
            let v = prepared(metric, v);
            let s = similarity(metric, &q, &v);
            (*id, v, s)
        })
        .collect();
    by_nearness.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    by_nearness.truncate(pool);
    let mut picked: Vec<usize> = Vec::new();
    let mut pending: Vec<usize> = (0..by_nearness.len()).collect();
    while picked.len() < k && !pending.is_empty() {
        let score = |c: usize| {
            let closest = picked
                .iter()
                .map(|&p| similarity(metric, &by_nearness[c].1, &by_nearness[p].1))
                .fold(f64::NEG_INFINITY, f64::max);
            (1.0 - diversity) * by_nearness[c].2 - diversity * closest
        };
        let at = if picked.is_empty() {
            0
        } else {
            let mut best = 0;
            for i in 1..pending.len() {
                if score(pending[i]) > score(pending[best]) {
                    best = i;
                }
            }
            best
        };
        picked.push(pending.remove(at));
    }
    picked.into_iter().map(|i| by_nearness[i].0).collect()
}

/// Points in tight clusters of five around a few centres, so that
/// diversity changes the picks.
fn clustered() -> Vec<(u64, Vec<f32>)> {
    let centres = quiver_testkit::vectors(8, DIM, 11);
    let noise = quiver_testkit::vectors(40, DIM, 12);
    (0..40)
        .map(|i| {
            let c = &centres[i % 8];
            let v = c.iter().zip(&noise[i]).map(|(a, n)| a + 0.05 * n).collect();
            (i as u64, v)
        })
        .collect()
}

/// A collection `name` of `metric` holding `points`.
fn holding(
    db: &Database,
    name: &str,
    metric: Metric,
    points: &[(u64, Vec<f32>)],
) -> std::sync::Arc<quiver_core::Collection> {
    let c = db
        .create_collection(name, CollectionConfig::new(DIM, metric))
        .expect("test fixture");
    c.upsert(
        points
            .iter()
            .map(|(id, v)| Point::new(*id, v.clone()))
            .collect(),
    )
    .expect("test fixture");
    c
}

fn num(id: &quiver_core::PointId) -> u64 {
    match id {
        quiver_core::PointId::Num(n) => *n,
        other => panic!("unexpected id {other}"),
    }
}

fn mmr_request(query: &[f32], k: usize, diversity: f32, candidates: usize) -> SearchRequest {
    let mut r = SearchRequest::new(query.to_vec(), k);
    r.exact = true;
    r.mmr = Some(Mmr {
        diversity,
        candidates,
    });
    r
}

#[test]
fn picks_follow_the_rule_for_every_metric() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let points = clustered();
    let queries = quiver_testkit::vectors(5, DIM, 13);
    for metric in [Metric::Cosine, Metric::Dot, Metric::Euclid] {
        let name = format!("{metric:?}").to_lowercase();
        let c = holding(&db, &name, metric, &points);
        for q in &queries {
            for diversity in [0.0f32, 0.3, 0.5, 0.8, 1.0] {
                for (k, pool) in [(5, 20), (4, 40), (10, 10), (6, 3)] {
                    let hits = c.search(&mmr_request(q, k, diversity, pool)).unwrap();
                    let got: Vec<u64> = hits.iter().map(|h| num(&h.id)).collect();
                    let want = reference(metric, &points, q, f64::from(diversity), pool, k);
                    assert_eq!(
                        got, want,
                        "{metric:?} diversity {diversity} k {k} pool {pool}"
                    );
                    // Each hit keeps its ordinary score against the query.
                    for h in &hits {
                        let plain = c
                            .search(&SearchRequest {
                                exact: true,
                                filter: Some(
                                    serde_json::from_value::<Filter>(
                                        json!({"must": [{"has_id": [h.id]}]}),
                                    )
                                    .unwrap(),
                                ),
                                ..SearchRequest::new(q.clone(), 1)
                            })
                            .unwrap();
                        assert!((plain[0].score - h.score).abs() < 1e-6);
                    }
                }
            }
        }
    }
}

#[test]
fn no_diversity_is_the_plain_top_k_and_more_diversity_spreads_the_picks() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let points = clustered();
    let c = holding(&db, "c", Metric::Cosine, &points);
    // The query is a point's own vector: its cluster holds the 5 nearest.
    let q = points[0].1.clone();
    let mut plain = SearchRequest::new(q.clone(), 5);
    plain.exact = true;
    let plain: Vec<_> = c
        .search(&plain)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    let relevant: Vec<_> = c
        .search(&mmr_request(&q, 5, 0.0, 40))
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(relevant, plain);
    let cluster = |id: &quiver_core::PointId| num(id) % 8;
    assert!(plain.iter().all(|id| cluster(id) == 0));
    let diverse = c.search(&mmr_request(&q, 5, 0.9, 40)).unwrap();
    let mut clusters: Vec<u64> = diverse.iter().map(|h| cluster(&h.id)).collect();
    clusters.sort_unstable();
    clusters.dedup();
    assert_eq!(clusters.len(), 5, "one pick per cluster: {clusters:?}");
}

#[test]
fn filters_and_thresholds_shape_the_candidates_and_bad_settings_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::Euclid))
        .unwrap();
    c.upsert(
        (0..20u64)
            .map(|i| {
                let payload = json!({"even": i % 2 == 0});
                Point::new(i, vec![i as f32, 0.0])
                    .with_payload(payload.as_object().unwrap().clone())
            })
            .collect(),
    )
    .unwrap();
    let mut r = mmr_request(&[0.0, 0.0], 5, 0.5, 20);
    r.exact = false;
    r.filter = Some(
        serde_json::from_value(json!({"must": [{"key": "even", "match": {"value": true}}]}))
            .unwrap(),
    );
    r.score_threshold = Some(10.0);
    let hits = c.search(&r).unwrap();
    assert!(!hits.is_empty());
    for h in &hits {
        let n = num(&h.id);
        assert_eq!(n % 2, 0, "filtered out: {n}");
        assert!(h.score <= 10.0, "beyond the threshold: {}", h.score);
    }
    assert_eq!(
        hits[0].id,
        quiver_core::PointId::Num(0),
        "the nearest comes first"
    );

    for (diversity, candidates, what) in [
        (-0.1, 10, "diversity"),
        (1.5, 10, "diversity"),
        (f32::NAN, 10, "diversity"),
        (0.5, 0, "candidates"),
        (0.5, quiver_core::MAX_K + 1, "candidates"),
    ] {
        let err = c
            .search(&mmr_request(&[0.0, 0.0], 3, diversity, candidates))
            .unwrap_err()
            .to_string();
        assert!(err.contains(what), "{what}: {err}");
    }
}
