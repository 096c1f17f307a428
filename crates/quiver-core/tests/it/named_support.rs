//! Shared helpers of the named-vector tests: a collection with two named
//! dense vectors and an IDF sparse vector, deterministic vectors whose
//! values encode point, vector and version, a model of what each point
//! holds, and a check of a collection against it (every read path and
//! every index).

#![cfg(test)]

use std::collections::BTreeMap;

use quiver_core::{
    Collection, CollectionConfig, Metric, NamedVectors, Payload, Point, PointId, ScrollRequest,
    SearchRequest, SparseModifier, SparseVector, SparseVectorParams, Vector, VectorParams,
};
use serde_json::json;

use crate::storage_support::pattern;

/// The dense vectors: name, dimension, metric (none is Cosine, whose
/// normalisation would keep stored vectors from matching their pattern bit
/// for bit).
pub const DENSE: [(&str, usize, Metric); 2] = [("a", 6, Metric::Dot), ("b", 4, Metric::Euclid)];
/// The sparse vector's name.
pub const SPARSE: &str = "s";
/// Every vector name.
pub const NAMES: [&str; 3] = ["a", "b", SPARSE];
/// Sparse dimensions are below this.
pub const SPARSE_DIMS: u32 = 24;

/// The collection's configuration: `a`, `b` and the IDF sparse `s`.
pub fn config() -> CollectionConfig {
    let mut config = CollectionConfig::with_vectors(
        DENSE.map(|(name, dim, metric)| (name.to_owned(), VectorParams::new(dim, metric))),
    );
    config.sparse_vectors.insert(
        SPARSE.to_owned(),
        SparseVectorParams {
            modifier: SparseModifier::Idf,
        },
    );
    config
}

/// The value of vector `name` of point `id` at `version`.
pub fn vector(name: &str, id: u64, version: u64) -> Vector {
    match DENSE.iter().position(|(n, _, _)| *n == name) {
        Some(k) => Vector::Dense(pattern(id * 4 + k as u64, version, DENSE[k].1)),
        None => {
            // Three distinct dimensions, in 0..11, 11..18 and 18..24; all
            // weights positive, so every point shares the all-ones query.
            let indices = vec![
                (version % 11) as u32,
                11 + (id % 7) as u32,
                18 + ((id + version) % 6) as u32,
            ];
            // The last weight encodes the version (exact below 2^24).
            let values = vec![
                1.0 + (version % 5) as f32,
                0.5 + (id % 3) as f32,
                1.0 + version as f32,
            ];
            Vector::Sparse(SparseVector::new(indices, values).expect("test fixture"))
        }
    }
}

/// What one point holds: the version its payload records and the version of
/// each vector it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub payload: u64,
    pub vectors: BTreeMap<String, u64>,
}

/// Point id -> what it holds.
pub type Model = BTreeMap<u64, Held>;

/// The payload of a point whose payload version is `v`.
pub fn payload(v: u64) -> Payload {
    json!({"v": v}).as_object().expect("test fixture").clone()
}

/// The point to upsert for `id` holding `held`.
pub fn point(id: u64, held: &Held) -> Point {
    let mut p = Point::without_vectors(id).with_payload(payload(held.payload));
    for (name, &v) in &held.vectors {
        p = p.with_vector(name, vector(name, id, v));
    }
    p
}

/// The vectors `held` stands for.
pub fn vectors_of(id: u64, held: &Held) -> NamedVectors {
    held.vectors
        .iter()
        .map(|(n, &v)| (n.clone(), vector(n, id, v)))
        .collect()
}

fn bits(v: &Vector) -> (Vec<u32>, Vec<u32>) {
    match v {
        Vector::Dense(d) => (vec![], d.iter().map(|x| x.to_bits()).collect()),
        Vector::Sparse(s) => (
            s.indices().to_vec(),
            s.values().iter().map(|x| x.to_bits()).collect(),
        ),
    }
}

/// What the collection holds, read by scroll, each point's vectors checked
/// bit for bit against their versions.
pub fn read(c: &Collection) -> Model {
    let mut req = ScrollRequest::new(10_000);
    req.with_vector = true;
    let page = c.scroll(&req).expect("test fixture");
    assert!(page.next_offset.is_none());
    let mut out = Model::new();
    for r in page.points {
        let PointId::Num(id) = r.id else {
            panic!("uuid")
        };
        let payload = r.payload.expect("test fixture");
        let mut held = Held {
            payload: payload["v"].as_u64().expect("test fixture"),
            vectors: BTreeMap::new(),
        };
        for (name, v) in r.vectors.expect("test fixture") {
            // The version is the dense pattern's second component and the
            // sparse vector's last weight, minus one.
            let version = match &v {
                Vector::Dense(d) => d[1] as u64,
                Vector::Sparse(s) => (s.values()[s.len() - 1] - 1.0) as u64,
            };
            assert_eq!(
                bits(&v),
                bits(&vector(&name, id, version)),
                "point {id}: vector `{name}` is not its version {version}"
            );
            held.vectors.insert(name, version);
        }
        out.insert(id, held);
    }
    out
}

/// Checks every read path and index of `c` against `model`: the points and
/// their vectors (scroll and get), the count, each dense vector's search
/// (graph and exact: the points holding it, ranked as brute force ranks
/// them) and the sparse search (scores as brute force with IDF computes).
pub fn check(c: &Collection, model: &Model) {
    assert_eq!(&read(c), model);
    assert_eq!(c.count(None).expect("test fixture"), model.len() as u64);
    let ids: Vec<PointId> = model.keys().map(|&id| PointId::Num(id)).collect();
    let got = c.get(&ids, true, true).expect("test fixture");
    assert_eq!(got.len(), model.len());
    for r in &got {
        let PointId::Num(id) = r.id else { panic!() };
        let want = vectors_of(id, &model[&id]);
        assert_eq!(
            r.vectors.as_ref().map(|v| v.len()),
            Some(want.len()),
            "get {id}"
        );
    }
    for (name, dim, metric) in DENSE {
        let query: Vec<f32> = (0..dim).map(|i| 0.25 - i as f32 * 0.1).collect();
        let mut want: Vec<(f32, u64)> = model
            .iter()
            .filter_map(|(&id, h)| {
                let v = h.vectors.get(name)?;
                let Vector::Dense(d) = vector(name, id, *v) else {
                    unreachable!()
                };
                let score = match metric {
                    Metric::Dot => d.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>(),
                    _ => d
                        .iter()
                        .zip(&query)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f32>()
                        .sqrt(),
                };
                Some((score, id))
            })
            .collect();
        if metric == Metric::Dot {
            want.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        } else {
            want.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        }
        for exact in [true, false] {
            let mut req = SearchRequest::new(query.clone(), model.len().max(1)).using(name);
            req.exact = exact;
            req.ef = Some(500);
            let hits = c.search(&req).expect("test fixture");
            assert_eq!(hits.len(), want.len(), "`{name}` exact {exact}: hit count");
            let mut got: Vec<u64> = hits
                .iter()
                .map(|h| match h.id {
                    PointId::Num(id) => id,
                    PointId::Uuid(_) => panic!(),
                })
                .collect();
            got.sort_unstable();
            let mut ids: Vec<u64> = want.iter().map(|w| w.1).collect();
            ids.sort_unstable();
            assert_eq!(got, ids, "`{name}` exact {exact}: the points holding it");
            for (h, w) in hits.iter().zip(&want) {
                assert!(
                    (h.score - w.0).abs() <= 1e-3 * w.0.abs().max(1.0),
                    "`{name}` exact {exact}: score {} want {}",
                    h.score,
                    w.0
                );
            }
        }
    }
    // Sparse: the all-ones query meets every point that has `s`.
    let holders: Vec<(u64, SparseVector)> = model
        .iter()
        .filter_map(|(&id, h)| {
            let v = h.vectors.get(SPARSE)?;
            match vector(SPARSE, id, *v) {
                Vector::Sparse(s) => Some((id, s)),
                Vector::Dense(_) => unreachable!(),
            }
        })
        .collect();
    let n = holders.len() as f64;
    let idf = |dim: u32| {
        let df = holders
            .iter()
            .filter(|(_, s)| s.indices().contains(&dim))
            .count() as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    };
    let query = SparseVector::new((0..SPARSE_DIMS).collect(), vec![1.0; SPARSE_DIMS as usize])
        .expect("test fixture");
    let mut want: Vec<(f64, u64)> = holders
        .iter()
        .map(|(id, s)| {
            let score = s
                .indices()
                .iter()
                .zip(s.values())
                .map(|(&d, &w)| f64::from(w) * idf(d))
                .sum();
            (score, *id)
        })
        .collect();
    want.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    let hits = c
        .search(&SearchRequest::new(query, model.len().max(1)).using(SPARSE))
        .expect("test fixture");
    assert_eq!(hits.len(), want.len(), "sparse: hit count");
    for (h, w) in hits.iter().zip(&want) {
        assert!(
            (f64::from(h.score) - w.0).abs() <= 1e-3 * w.0.max(1.0),
            "sparse: score {} of {:?}, want {} of {}",
            h.score,
            h.id,
            w.0,
            w.1
        );
    }
    // The graphs index exactly the dense vectors held.
    let info = c.info().expect("test fixture");
    let dense_held: usize = model
        .values()
        .map(|h| {
            DENSE
                .iter()
                .filter(|(n, _, _)| h.vectors.contains_key(*n))
                .count()
        })
        .sum();
    assert_eq!(info.indexed_vectors, dense_held as u64);
}
