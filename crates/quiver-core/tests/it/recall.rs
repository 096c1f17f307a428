//! HNSW recall against exact search on seeded data.

use crate::common_data::{clustered, items};
use quiver_core::index::flat;
use quiver_core::index::hnsw::Hnsw;
use quiver_core::{HnswConfig, Metric};

fn recall_at_10(metric: Metric, ef: usize) -> f64 {
    let dim = 32;
    let data = clustered(11, 3000, dim, metric);
    let queries = clustered(12, 100, dim, metric);
    let it = items(&data);
    let h = Hnsw::build(dim, metric, HnswConfig::default(), &it);
    assert_eq!(h.len(), 3000);
    let mut hits = 0;
    for q in &queries {
        let exact = flat::search(metric, q, it.iter().copied(), 10);
        let got = h.search(q, 10, ef, None);
        assert_eq!(got.len(), 10);
        assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
        hits += got
            .iter()
            .filter(|g| exact.iter().any(|e| e.id == g.id))
            .count();
    }
    hits as f64 / (10 * queries.len()) as f64
}

#[test]
fn cosine_recall_at_10_is_high() {
    let r = recall_at_10(Metric::Cosine, 64);
    assert!(r >= 0.95, "recall@10 = {r}");
}

#[test]
fn euclid_recall_at_10_is_high() {
    let r = recall_at_10(Metric::Euclid, 64);
    assert!(r >= 0.95, "recall@10 = {r}");
}

#[test]
fn dot_recall_at_10_is_reasonable() {
    // Inner product is not a metric; graph search is weaker on it.
    let r = recall_at_10(Metric::Dot, 128);
    assert!(r >= 0.85, "recall@10 = {r}");
}

#[test]
fn incremental_inserts_reach_the_same_recall_as_a_build() {
    let dim = 24;
    let data = clustered(21, 2000, dim, Metric::Euclid);
    let it = items(&data);
    let h = Hnsw::new(
        dim,
        Metric::Euclid,
        HnswConfig {
            m: 12,
            ef_construction: 100,
            seed: 5,
        },
    );
    for (id, v) in &it {
        h.insert(*id, v).unwrap();
    }
    let mut hits = 0;
    for q in data.iter().step_by(40) {
        let exact = flat::search(Metric::Euclid, q, it.iter().copied(), 10);
        let got = h.search(q, 10, 64, None);
        hits += got
            .iter()
            .filter(|g| exact.iter().any(|e| e.id == g.id))
            .count();
    }
    let r = hits as f64 / (10 * 50) as f64;
    assert!(r >= 0.95, "recall@10 = {r}");
}
