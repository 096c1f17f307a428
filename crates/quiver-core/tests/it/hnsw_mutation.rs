//! HNSW deletes, updates, filters and concurrent use.

use crate::common_data::{clustered, items};
use quiver_core::index::flat;
use quiver_core::index::hnsw::Hnsw;
use quiver_core::{HnswConfig, Metric};
use std::sync::atomic::{AtomicBool, Ordering};

fn built(n: usize, dim: usize) -> (Vec<Vec<f32>>, Hnsw) {
    let data = clustered(31, n, dim, Metric::Cosine);
    let h = Hnsw::build(dim, Metric::Cosine, HnswConfig::default(), &items(&data));
    (data, h)
}

#[test]
fn deleted_points_never_appear_and_k_is_still_returned() {
    let (data, h) = built(1500, 16);
    // Delete the 10 nearest of each query first: the hardest case.
    let mut deleted = std::collections::HashSet::new();
    for q in data.iter().take(30) {
        for n in h.search(q, 10, 64, None) {
            h.delete(n.id);
            deleted.insert(n.id);
        }
    }
    assert_eq!(h.len(), 1500 - deleted.len());
    for id in &deleted {
        assert!(!h.contains(*id));
        assert!(h.vector(*id).is_none());
    }
    for q in &data {
        let got = h.search(q, 10, 32, None);
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|n| !deleted.contains(&n.id)));
    }
}

#[test]
fn deleting_almost_everything_still_returns_the_live_rest() {
    let (data, h) = built(300, 8);
    for id in 0..295u32 {
        h.delete(id);
    }
    let got = h.search(&data[0], 10, 16, None);
    let ids: Vec<u32> = got.iter().map(|n| n.id).collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.iter().all(|&i| i >= 295));
}

#[test]
fn filtered_search_returns_only_allowed_and_min_k_allowed() {
    let (data, h) = built(2000, 16);
    let it = items(&data);
    let selective = |id: u32| id % 97 == 3; // 21 allowed points
    let allowed_count = (0..2000u32).filter(|&i| selective(i)).count();
    for q in data.iter().step_by(100) {
        let got = h.search(q, 10, 16, Some(&selective));
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|n| selective(n.id)));
        let all = h.search(q, 50, 16, Some(&selective));
        assert_eq!(all.len(), allowed_count);
        let exact = flat::search(
            Metric::Cosine,
            q,
            it.iter().copied().filter(|(i, _)| selective(*i)),
            10,
        );
        let hits = got
            .iter()
            .filter(|g| exact.iter().any(|e| e.id == g.id))
            .count();
        assert!(hits >= 9, "filtered recall {hits}/10");
    }
    let none = |_: u32| false;
    assert!(h.search(&data[0], 10, 16, Some(&none)).is_empty());
}

#[test]
fn update_moves_a_point_to_its_new_neighborhood() {
    let (data, h) = built(1000, 16);
    let target = data[500].clone();
    assert_ne!(h.search(&target, 1, 64, None)[0].id, 7);
    h.insert(7, &target).unwrap();
    assert_eq!(h.len(), 1000);
    assert_eq!(h.vector(7).unwrap(), target);
    let got = h.search(&target, 2, 64, None);
    let ids: Vec<u32> = got.iter().map(|n| n.id).collect();
    assert!(ids.contains(&7) && ids.contains(&500), "{ids:?}");
    // The old position no longer finds it.
    let old = &data[7];
    let near_old = h.search(old, 5, 64, None);
    assert!(near_old.iter().all(|n| n.id != 7 || n.distance > 0.01));
}

#[test]
fn reinserting_a_deleted_id_revives_it() {
    let (data, h) = built(500, 8);
    h.delete(42);
    assert!(!h.contains(42));
    h.insert(42, &data[42]).unwrap();
    assert!(h.contains(42));
    assert_eq!(h.search(&data[42], 1, 32, None)[0].id, 42);
    assert_eq!(h.len(), 500);
}

#[test]
fn searches_run_while_other_threads_insert_and_delete() {
    let dim = 16;
    let data = clustered(41, 3000, dim, Metric::Cosine);
    let h = Hnsw::build(
        dim,
        Metric::Cosine,
        HnswConfig::default(),
        &items(&data[..1000]),
    );
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2usize {
            let (h, data) = (&h, &data);
            s.spawn(move || {
                for id in (1000 + t..3000).step_by(2) {
                    h.insert(id as u32, &data[id]).unwrap();
                }
            });
        }
        {
            let h = &h;
            s.spawn(move || {
                for id in (0..1000u32).step_by(10) {
                    h.delete(id);
                }
            });
        }
        let (h, data, done) = (&h, &data, &done);
        s.spawn(move || {
            let mut searches = 0;
            while !done.load(Ordering::Relaxed) || searches < 50 {
                let q = &data[searches % 1000];
                let got = h.search(q, 10, 32, None);
                assert_eq!(got.len(), 10);
                assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
                searches += 1;
            }
        });
        // Let the writers finish, then stop the reader.
        s.spawn(move || {
            while h.len() < 2900 {
                std::thread::yield_now();
            }
            done.store(true, Ordering::Relaxed);
        });
    });
    assert_eq!(h.len(), 2900);
    let it = items(&data);
    let mut hits = 0;
    for q in data.iter().skip(1000).step_by(100) {
        let exact = flat::search(
            Metric::Cosine,
            q,
            it.iter()
                .copied()
                .filter(|(i, _)| *i >= 1000 || i % 10 != 0),
            10,
        );
        let got = h.search(q, 10, 64, None);
        assert!(got.iter().all(|n| n.id >= 1000 || n.id % 10 != 0));
        hits += got
            .iter()
            .filter(|g| exact.iter().any(|e| e.id == g.id))
            .count();
    }
    assert!(
        hits as f64 / 200.0 >= 0.9,
        "recall after concurrent inserts: {hits}/200"
    );
}

#[test]
fn parallel_build_matches_exact_search_closely() {
    let dim = 16;
    let data = clustered(51, 2000, dim, Metric::Euclid);
    let it = items(&data);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let h = pool.install(|| Hnsw::build(dim, Metric::Euclid, HnswConfig::default(), &it));
    let mut hits = 0;
    for q in data.iter().step_by(20) {
        let exact = flat::search(Metric::Euclid, q, it.iter().copied(), 10);
        hits += h
            .search(q, 10, 64, None)
            .iter()
            .filter(|g| exact.iter().any(|e| e.id == g.id))
            .count();
    }
    assert!(hits as f64 / 1000.0 >= 0.95, "{hits}/1000");
}

#[test]
fn tombstones_stay_hidden_through_relinking_save_and_load_and_revive() {
    let (data, h) = built(1000, 16);
    // Fewer than the rebuild threshold, so the tombstones stay in the graph.
    let deleted: Vec<u32> = (0..1000u32).step_by(25).collect();
    for &id in &deleted {
        h.delete(id);
    }
    let hidden = |h: &Hnsw| {
        for &id in &deleted {
            let got = h.search(&data[id as usize], 10, 64, None);
            assert_eq!(got.len(), 10);
            assert!(
                got.iter().all(|n| n.id >= 1000 || n.id % 25 != 0),
                "{id}: {got:?}"
            );
        }
    };
    hidden(&h);
    // New points right next to the deleted ones: linking them rewrites the
    // link lists of the tombstones (back links), which must keep them deleted.
    for (k, &id) in deleted.iter().enumerate() {
        let mut v = data[id as usize].clone();
        v[k % 16] += 1e-3;
        h.insert(1000 + k as u32, &v).unwrap();
    }
    hidden(&h);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph");
    h.save(&path, 1).unwrap();
    let (back, _) = Hnsw::load(&path, 16, Metric::Cosine).unwrap();
    hidden(&back);
    // Re-inserting a deleted id brings it back, nearest to its own vector.
    back.insert(50, &data[50]).unwrap();
    let got = back.search(&data[50], 1, 64, None);
    assert_eq!(got[0].id, 50);
}

/// The rebuild past the tombstone ratio builds the new graph beside the old
/// one: searches keep being answered while it runs (and a deletion made
/// meanwhile is kept).
#[test]
fn searches_are_answered_while_the_graph_rebuilds() {
    let (data, h) = built(20_000, 32);
    // The rebuild starts when 30 % of the nodes are deleted: at 6000.
    for id in 0..5999 {
        h.delete(id);
    }
    assert_eq!(h.rebuilds(), 0);
    let rebuilding = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let answered_during = std::thread::scope(|scope| {
        let searcher = scope.spawn(|| {
            let mut answered = 0usize;
            let mut q = 0usize;
            while !done.load(Ordering::Acquire) {
                let started_during = rebuilding.load(Ordering::Acquire);
                let hits = h.search(&data[10_000 + q % 10_000], 10, 32, None);
                assert_eq!(hits.len(), 10);
                assert!(hits.iter().all(|n| n.id >= 5999));
                if started_during && !done.load(Ordering::Acquire) {
                    answered += 1;
                    if answered == 5 {
                        h.delete(19_999);
                    }
                }
                q += 1;
            }
            answered
        });
        rebuilding.store(true, Ordering::Release);
        h.delete(5999);
        done.store(true, Ordering::Release);
        searcher.join().expect("searcher")
    });
    assert_eq!(h.rebuilds(), 1, "the 6000th deletion rebuilds the graph");
    assert!(
        answered_during >= 20,
        "only {answered_during} searches were answered during the rebuild"
    );
    assert_eq!(h.len(), 13_999);
    assert!(
        !h.contains(19_999),
        "a deletion during the rebuild was lost"
    );
    assert!(!h.holds(5999) && h.holds(6000));
}
