//! A database written by the last release whose collections held one
//! unnamed vector (the fixture `tests/fixtures/one-vector-6a11f81a`, see its
//! README) opens unchanged: the same points, vectors, payloads and payload
//! index, its op-log tail replayed, every file checked, and it takes new
//! writes.

use std::path::Path;

use quiver_core::filter::Filter;
use quiver_core::{Database, FileState, Metric, Point, PointId, ScrollRequest, SearchRequest};
use serde_json::json;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("test fixture");
    for entry in std::fs::read_dir(from).expect("test fixture") {
        let entry = entry.expect("test fixture");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("test fixture").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "README.md" {
            std::fs::copy(entry.path(), target).expect("test fixture");
        }
    }
}

/// The vector the fixture gave point `i`.
fn v(i: u64) -> Vec<f32> {
    (0..4u64)
        .map(|d| ((i * 7 + d * 3) % 11) as f32 - 5.0 + 0.25 * d as f32)
        .collect()
}

fn unit(mut x: Vec<f32>) -> Vec<f32> {
    let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
    x.iter_mut().for_each(|a| *a /= n);
    x
}

fn city(name: &str) -> Filter {
    serde_json::from_value(json!({"must": [{"key": "city", "match": {"value": name}}]}))
        .expect("test fixture")
}

#[test]
fn a_database_of_the_one_vector_release_opens_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/one-vector-6a11f81a");
    copy_dir(&fixture, tmp.path());
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(
        db.list_collections(),
        vec!["docs".to_owned(), "euclid".to_owned()]
    );
    let docs = db.collection("docs").unwrap();
    assert!(
        docs.repaired_on_open().is_empty(),
        "{:?}",
        docs.repaired_on_open()
    );
    let config = docs.config();
    let default = config.default_vector().unwrap();
    assert_eq!(
        (default.dimension, default.metric, default.hnsw.m),
        (4, Metric::Cosine, 8)
    );
    assert_eq!(config.vectors.len(), 1);
    assert!(config.sparse_vectors.is_empty());

    let mut req = ScrollRequest::new(100);
    req.with_vector = true;
    let points = docs.scroll(&req).unwrap().points;
    let want: Vec<u64> = (0..36).filter(|i| *i != 3 && *i != 4).collect();
    let got: Vec<u64> = points
        .iter()
        .map(|p| match p.id {
            PointId::Num(i) => i,
            PointId::Uuid(_) => panic!(),
        })
        .collect();
    assert_eq!(got, want);
    for p in &points {
        let PointId::Num(i) = p.id else { panic!() };
        let stored = p.vector().unwrap();
        for (a, b) in stored.iter().zip(unit(v(i))) {
            assert!((a - b).abs() < 1e-6, "point {i}: {stored:?}");
        }
        let payload = p.payload.as_ref().unwrap();
        match i {
            5 => assert_eq!(payload["city"], "Oslo"),
            30.. => assert!(payload.is_empty(), "{payload:?}"),
            _ => {
                let cities = ["London", "Paris", "Rome"];
                assert_eq!(payload["city"], cities[(i % 3) as usize]);
                assert_eq!(payload["n"], i);
            }
        }
    }
    // The payload index, its checkpoint and the replayed tail agree.
    assert_eq!(docs.count(Some(&city("Oslo"))).unwrap(), 1);
    // Paris: i % 3 == 1 below 30, less the deleted 4.
    assert_eq!(docs.count(Some(&city("Paris"))).unwrap(), 9);
    // v repeats every 11 ids: 6, 17 and 28 share a vector.
    let hits = docs.search(&SearchRequest::new(v(17), 4)).unwrap();
    let mut same: Vec<PointId> = hits.iter().take(3).map(|h| h.id).collect();
    same.sort();
    assert_eq!(same, [6, 17, 28].map(PointId::Num));
    assert!(hits[..3].iter().all(|h| (h.score - 1.0).abs() < 1e-5));
    assert!(hits[3].score < 0.999);
    for f in docs.verify_files().unwrap() {
        assert_eq!(f.state, FileState::Ok, "{f:?}");
    }

    let euclid = db.collection("euclid").unwrap();
    let got = euclid.get(&[PointId::Num(1)], false, true).unwrap();
    assert_eq!(got[0].vector(), Some(&[1.0, 2.0][..]));

    // It takes new writes, named the old way, and keeps them.
    docs.upsert(vec![Point::new(40, v(40))]).unwrap();
    docs.flush().unwrap();
    drop(docs);
    drop(euclid);
    drop(db);
    let db = Database::open(tmp.path()).unwrap();
    let docs = db.collection("docs").unwrap();
    assert_eq!(docs.count(None).unwrap(), 35);
}
