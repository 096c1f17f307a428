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

/// Links of every node on every level, in node order.
fn all_links(g: &Graph) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut links = Vec::new();
    for id in 0..g.capacity as u32 {
        for l in 0..=g.levels[id as usize] as usize {
            g.read_links(id, l, &mut links);
            out.push(links.clone());
        }
    }
    out
}

/// A graph over codes linked with exact distances has the links a float32
/// build chooses (same seed, one thread), and searches with rescoring as
/// well as the float32 graph does.
#[test]
fn exact_linking_over_codes_builds_the_float32_graph() {
    let mut rng = SmallRng::seed_from_u64(24);
    let metric = Metric::Cosine;
    let data = clustered(&mut rng, 1200, 32, metric);
    let items = numbered(&data);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (h, rows) = pool.install(|| quantized(&data, metric, true));
    let float = pool.install(|| Hnsw::build(32, metric, HnswConfig::default(), &items));
    let (gq, gf) = (h.graph.read(), float.graph.read());
    assert!(gq.quantizer.is_some());
    assert_eq!(gq.levels, gf.levels);
    assert_eq!(all_links(&gq), all_links(&gf));
    drop((gq, gf));
    let (by_codes, _) = pool.install(|| quantized(&data, metric, false));
    assert_ne!(
        all_links(&by_codes.graph.read()),
        all_links(&float.graph.read()),
        "code distances happened to choose the float32 links: the test shows nothing"
    );
    let source = RowVectors::new(&rows, 32);
    let params = QuantizationSearch {
        oversampling: 4.0,
        ..QuantizationSearch::default()
    };
    for query in clustered(&mut rng, 20, 32, metric) {
        let exact = flat::search(metric, &query, items.iter().copied(), 10);
        let (got, _) = h.search_quantized(&query, 10, 128, params, &source, None);
        assert!(overlap(&got, &exact) >= 9, "{got:?} vs {exact:?}");
    }
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
    g.select_neighbors(
        &space::FloatSpace(Metric::Euclid.kernel()),
        &mut cands,
        2,
        &mut out,
    );
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

/// Points around a few centres (like real embeddings), preprocessed for `metric`.
fn clustered(rng: &mut SmallRng, n: usize, dim: usize, metric: Metric) -> Vec<Vec<f32>> {
    let centres: Vec<Vec<f32>> = (0..12)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    (0..n)
        .map(|i| {
            let mut v: Vec<f32> = centres[i % centres.len()]
                .iter()
                .map(|x| x + rng.random_range(-0.4f32..0.4))
                .collect();
            metric.preprocess(&mut v);
            v
        })
        .collect()
}

fn quantized(data: &[Vec<f32>], metric: Metric, exact: bool) -> (Hnsw, Vec<f32>) {
    let dim = data[0].len();
    let q = ScalarQuantizer::fit(dim, data.iter().map(Vec::as_slice)).unwrap();
    let items = numbered(data);
    let rows = data.concat();
    let source = RowVectors::new(&rows, dim);
    let linking = if exact {
        Linking::Exact(&source)
    } else {
        Linking::Codes
    };
    let h = Hnsw::build_quantized(dim, metric, HnswConfig::default(), q, &items, linking, None)
        .unwrap();
    (h, rows)
}

fn overlap(got: &[Neighbor], want: &[Neighbor]) -> usize {
    got.iter()
        .filter(|n| want.iter().any(|w| w.id == n.id))
        .count()
}

#[test]
fn graph_over_codes_with_rescoring_finds_the_true_neighbours() {
    let mut rng = SmallRng::seed_from_u64(21);
    for metric in [Metric::Cosine, Metric::Euclid, Metric::Dot] {
        let data = clustered(&mut rng, 3000, 48, metric);
        let (h, flat_rows) = quantized(&data, metric, false);
        let source = RowVectors::new(&flat_rows, 48);
        let items = numbered(&data);
        let params = QuantizationSearch {
            oversampling: 2.0,
            ..QuantizationSearch::default()
        };
        let float = Hnsw::build(48, metric, HnswConfig::default(), &items);
        let (mut found, mut found_float, mut total) = (0, 0, 0);
        for query in clustered(&mut rng, 40, 48, metric) {
            let exact = flat::search(metric, &query, items.iter().copied(), 10);
            found_float += overlap(&float.search(&query, 10, 64, None), &exact);
            let (got, _) = h.search_quantized(&query, 10, 64, params, &source, None);
            assert_eq!(got.len(), 10);
            // Rescored distances are the exact ones, best first.
            for n in &got {
                let want = metric.distance(&query, &data[n.id as usize]);
                assert_eq!(n.distance, want);
            }
            assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
            found += overlap(&got, &exact);
            total += 10;
        }
        let recall = found as f64 / total as f64;
        let recall_float = found_float as f64 / total as f64;
        // Inner product on vectors of unequal norms is hard for any HNSW
        // (it is not a metric); the codes must not lose much beyond that.
        assert!(
            recall >= (recall_float - 0.03).min(0.95),
            "{metric:?}: recall@10 {recall} over codes with 2x rescoring, {recall_float} over floats"
        );
    }
}

#[test]
fn quantization_search_parameters_change_what_is_scored() {
    let mut rng = SmallRng::seed_from_u64(22);
    let metric = Metric::Cosine;
    let data = clustered(&mut rng, 1500, 32, metric);
    let (h, rows) = quantized(&data, metric, false);
    let source = RowVectors::new(&rows, 32);
    let q = h.quantizer().unwrap();
    let query = &data[5];
    // Without rescoring the distances are those of the codes.
    let plain = QuantizationSearch {
        rescore: false,
        ..QuantizationSearch::default()
    };
    let (coarse, _) = h.search_quantized(query, 5, 32, plain, &source, None);
    assert_eq!(coarse, h.search(query, 5, 32, None));
    let mut qc = Vec::new();
    let qt = q.encode(query, &mut qc);
    for n in &coarse {
        let mut c = Vec::new();
        let t = q.encode(&data[n.id as usize], &mut c);
        assert!((n.distance - q.distance(metric, &qc, qt, &c, t)).abs() < 1e-4);
    }
    // `ignore` traverses with the source's exact distances.
    let ignore = QuantizationSearch {
        ignore: true,
        ..QuantizationSearch::default()
    };
    let (exact, _) = h.search_quantized(query, 5, 64, ignore, &source, None);
    assert_eq!(exact[0].id, 5);
    assert_eq!(exact[0].distance, metric.distance(query, query));
    // More oversampling rescores more candidates (counted as distances).
    let wide = QuantizationSearch {
        oversampling: 8.0,
        ..QuantizationSearch::default()
    };
    let (_, s1) = h.search_quantized(query, 5, 8, QuantizationSearch::default(), &source, None);
    let (_, s8) = h.search_quantized(query, 5, 8, wide, &source, None);
    assert!(s8.distances > s1.distances);
    // A source without the vectors drops the candidates it cannot rescore.
    let empty = RowVectors::new(&[], 32);
    let (none, _) = h.search_quantized(query, 5, 32, QuantizationSearch::default(), &empty, None);
    assert!(none.is_empty());
    // A float32 graph ignores the parameters.
    let f = Hnsw::build(32, metric, HnswConfig::default(), &numbered(&data));
    let (r, _) = f.search_quantized(query, 5, 32, wide, &empty, None);
    assert_eq!(r, f.search(query, 5, 32, None));
}

#[test]
fn candidates_follow_oversampling_and_never_fall_below_k() {
    let p = |rescore, oversampling| QuantizationSearch {
        ignore: false,
        rescore,
        oversampling,
    };
    assert_eq!(p(true, 2.0).candidates(10), 20);
    assert_eq!(p(true, 1.25).candidates(10), 13);
    assert_eq!(p(true, 0.5).candidates(10), 10);
    assert_eq!(p(true, f64::NAN).candidates(10), 10);
    assert_eq!(p(true, f64::INFINITY).candidates(10), usize::MAX);
    assert_eq!(p(false, 4.0).candidates(10), 10);
}

#[test]
fn graph_over_codes_is_a_fraction_of_the_float_graph() {
    let mut rng = SmallRng::seed_from_u64(23);
    let data = clustered(&mut rng, 1000, 128, Metric::Cosine);
    let (h, _) = quantized(&data, Metric::Cosine, false);
    let f = Hnsw::build(128, Metric::Cosine, HnswConfig::default(), &numbered(&data));
    let (mq, mf) = (h.memory(), f.memory());
    assert_eq!(mq.vectors_bytes, 0);
    assert_eq!(mf.codes_bytes, 0);
    // 128 code bytes + 8 bytes of terms per node against 512 float bytes.
    assert_eq!(mq.codes_bytes, 1000 * (128 + 8));
    assert_eq!(mf.vectors_bytes, 1000 * 128 * 4);
    assert_eq!(mq.graph_bytes + mq.codes_bytes, h.memory_bytes());
    assert_eq!(mf.graph_bytes + mf.vectors_bytes, f.memory_bytes());
    assert!(h.memory_bytes() * 2 < f.memory_bytes());
}

#[test]
fn graph_over_codes_inserts_deletes_and_rebuilds() {
    let mut rng = SmallRng::seed_from_u64(24);
    let metric = Metric::Euclid;
    let data = clustered(&mut rng, 600, 16, metric);
    let q = ScalarQuantizer::train(16, data.iter().map(Vec::as_slice), 1.0).unwrap();
    assert!(matches!(
        Hnsw::new_quantized(8, metric, HnswConfig::default(), q),
        Err(crate::Error::DimensionMismatch { .. })
    ));
    let h = Hnsw::new_quantized(16, metric, HnswConfig::default(), q).unwrap();
    for (i, v) in data.iter().enumerate() {
        h.insert(i as u32, v).unwrap();
    }
    assert_eq!(h.len(), 600);
    // The vector of a node is its codes read back, within half a step.
    let back = h.vector(3).unwrap();
    let mut codes = Vec::new();
    q.encode(&data[3], &mut codes);
    assert_eq!(back, q.decode(&codes));
    for id in 0..300u32 {
        h.delete(id);
    }
    assert!(h.rebuilds() >= 1);
    assert_eq!(h.len(), 300);
    // The rebuild re-encoded the read-back vectors to the same codes.
    assert_eq!(h.vector(400).unwrap(), {
        let mut c = Vec::new();
        q.encode(&data[400], &mut c);
        q.decode(&c)
    });
    let rows = data.concat();
    let source = RowVectors::new(&rows, 16);
    let live: Vec<(u32, &[f32])> = numbered(&data)[300..].to_vec();
    let params = QuantizationSearch {
        oversampling: 2.0,
        ..QuantizationSearch::default()
    };
    let mut found = 0;
    for query in data.iter().skip(300).take(20) {
        let exact = flat::search(metric, query, live.iter().copied(), 10);
        let (got, _) = h.search_quantized(query, 10, 64, params, &source, None);
        assert!(got.iter().all(|n| n.id >= 300));
        found += overlap(&got, &exact);
    }
    assert!(
        found >= 180,
        "recall {found}/200 after a rebuild over codes"
    );
    // No checkpoint format for codes yet: saving says so.
    let dir = tempfile::tempdir().unwrap();
    let err = h.save(&dir.path().join("g"), 1).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}
