use super::*;
use crate::index::flat;
use graph::Graph;
use rand::Rng;

fn random_unit(rng: &mut SmallRng, n: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            Metric::Cosine.preprocess(&mut v);
            v
        })
        .collect()
}

/// Each vector paired with its position as the node id.
fn numbered(data: &[Vec<f32>]) -> Vec<(u32, &[f32])> {
    data.iter()
        .enumerate()
        .map(|(i, v)| (i as u32, v.as_slice()))
        .collect()
}

#[test]
fn single_threaded_build_is_deterministic() {
    let mut rng = SmallRng::seed_from_u64(1);
    let data = random_unit(&mut rng, 500, 16);
    let items = numbered(&data);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let a = pool.install(|| Hnsw::build(16, Metric::Cosine, HnswConfig::default(), &items));
    let b = pool.install(|| Hnsw::build(16, Metric::Cosine, HnswConfig::default(), &items));
    let (ga, gb) = (a.graph.read(), b.graph.read());
    assert_eq!(ga.levels, gb.levels);
    let links = |g: &Graph| -> Vec<u32> {
        (0..g.capacity as u32)
            .flat_map(|id| g.links(id, 0).iter().map(|x| x.load(Ordering::Relaxed)))
            .collect()
    };
    let (la, lb) = (links(&ga), links(&gb));
    assert_eq!(la, lb);
}

#[test]
fn link_lists_respect_limits_and_point_to_present_nodes() {
    let mut rng = SmallRng::seed_from_u64(2);
    let data = random_unit(&mut rng, 800, 8);
    let items = numbered(&data);
    let cfg = HnswConfig {
        m: 4,
        ef_construction: 32,
        seed: 3,
    };
    let h = Hnsw::build(8, Metric::Euclid, cfg, &items);
    let g = h.graph.read();
    let mut links = Vec::new();
    for id in 0..800u32 {
        g.read_links(id, 0, &mut links);
        assert!(
            links.len() <= 8 && !links.is_empty(),
            "node {id} has {} links",
            links.len()
        );
        assert!(!links.contains(&id));
        for l in 1..=g.levels[id as usize] as usize {
            g.read_links(id, l, &mut links);
            assert!(links.len() <= 4);
            assert!(links.iter().all(|&n| g.levels[n as usize] as usize >= l));
        }
    }
}

#[test]
fn heuristic_drops_candidate_closer_to_a_kept_neighbor() {
    // base at 0; a at 1; b at 1.1 (closer to a than to base) ; c at -1
    let data = [vec![0.0f32], vec![1.0], vec![1.1], vec![-1.0]];
    let items = numbered(&data);
    let h = Hnsw::build(1, Metric::Euclid, HnswConfig::default(), &items);
    let g = h.graph.read();
    let mut cands: Vec<Neighbor> = [(1, 1.0), (2, 1.21), (3, 1.0)]
        .iter()
        .map(|&(id, distance)| Neighbor { id, distance })
        .collect();
    let mut out = Vec::new();
    g.select_neighbors(Metric::Euclid.kernel(), &mut cands, 2, &mut out);
    let ids: Vec<u32> = out.iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![1, 3]);
}

#[test]
fn search_on_empty_and_tiny_indexes() {
    let h = Hnsw::new(3, Metric::Dot, HnswConfig::default());
    assert!(h.search(&[1.0, 0.0, 0.0], 5, 10, None).is_empty());
    assert!(h.is_empty());
    h.insert(7, &[1.0, 0.0, 0.0]).unwrap();
    let r = h.search(&[1.0, 0.0, 0.0], 5, 10, None);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].id, 7);
    assert!(h.search(&[1.0, 0.0], 5, 10, None).is_empty());
    assert!(matches!(
        h.insert(1, &[1.0]),
        Err(crate::Error::DimensionMismatch {
            expected: 3,
            got: 1
        })
    ));
}

#[test]
fn tombstones_past_ratio_trigger_rebuild_that_keeps_live_points() {
    let mut rng = SmallRng::seed_from_u64(4);
    let data = random_unit(&mut rng, 400, 8);
    let items = numbered(&data);
    let h = Hnsw::build(8, Metric::Cosine, HnswConfig::default(), &items);
    for id in 0..200u32 {
        h.delete(id);
    }
    assert_eq!(h.len(), 200);
    let g = h.graph.read();
    // A rebuild dropped the tombstones so far; the ones after it stay below the ratio.
    let (present, deleted) = (
        g.present.load(Ordering::Relaxed),
        g.deleted.load(Ordering::Relaxed),
    );
    assert!(present < 400, "no rebuild happened");
    assert_eq!(present - deleted, 200);
    assert!((deleted as f64) < REBUILD_DELETED_RATIO * present as f64);
    drop(g);
    let cands: Vec<(u32, &[f32])> = items[200..].to_vec();
    for q in data.iter().take(20) {
        let got = h.search(q, 10, 64, None);
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|n| n.id >= 200));
        let exact = flat::search(Metric::Cosine, q, cands.iter().copied(), 10);
        let hits = got
            .iter()
            .filter(|n| exact.iter().any(|e| e.id == n.id))
            .count();
        assert!(hits >= 8, "recall {hits}/10 after rebuild");
    }
}

#[test]
fn search_stats_count_every_distance() {
    let empty = Hnsw::new(8, Metric::Cosine, HnswConfig::default());
    let (r, s) = empty.search_with_stats(&[1.0; 8], 5, 10, None);
    assert!(r.is_empty());
    assert_eq!(s, SearchStats::default());

    let mut rng = SmallRng::seed_from_u64(9);
    let n = 300;
    let data = random_unit(&mut rng, n, 8);
    let items = numbered(&data);
    let h = Hnsw::build(8, Metric::Cosine, HnswConfig::default(), &items);
    for q in data.iter().take(20) {
        let (r, s) = h.search_with_stats(q, 5, 16, None);
        assert_eq!(r, h.search(q, 5, 16, None));
        assert!(s.expanded >= 1 && s.distances > s.expanded);
        // With ef >= n the beam reaches every node: each is evaluated once
        // on level 0 (the start already in the descent), plus the descent.
        let (_, all) = h.search_with_stats(q, 5, n, None);
        assert!(all.distances >= n as u64, "{all:?}");
        assert!(all.distances > s.distances);
    }
}
