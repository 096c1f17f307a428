//! Named dense and sparse vectors: points with any subset of a collection's
//! vectors, each searched by name, through writes that change some vectors
//! and keep the rest, checkpoints, compaction and reopening — checked
//! against a model of what each point holds (see `named_support`).

use std::collections::BTreeMap;

use proptest::prelude::*;
use quiver_core::storage::DurabilityMode;
use quiver_core::{
    Database, Error, Metric, Point, PointId, PointSelector, SearchRequest, SparseVector,
};

use crate::named_support::{Held, Model, NAMES, SPARSE, check, config, point, vector};

fn held(payload: u64, vectors: &[(&str, u64)]) -> Held {
    Held {
        payload,
        vectors: vectors.iter().map(|&(n, v)| (n.to_owned(), v)).collect(),
    }
}

/// Applies an upsert of `points` to `model`.
fn upsert(c: &quiver_core::Collection, model: &mut Model, points: &[(u64, Held)]) {
    c.upsert(points.iter().map(|(id, h)| point(*id, h)).collect())
        .expect("test fixture");
    for (id, h) in points {
        model.insert(*id, h.clone());
    }
}

#[test]
fn points_hold_any_subset_of_the_vectors_through_checkpoints_compaction_and_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Database::open(tmp.path()).unwrap();
        let c = db.create_collection("c", config()).unwrap();
        upsert(
            &c,
            &mut model,
            &[
                (1, held(1, &[("a", 1), ("b", 1), (SPARSE, 1)])),
                (2, held(1, &[("a", 1)])),
                (3, held(1, &[("b", 1), (SPARSE, 1)])),
                (4, held(1, &[(SPARSE, 2)])),
                (5, held(1, &[])),
            ],
        );
        check(&c, &model);

        // Update some vectors, keeping the others and the payload.
        c.update_vectors(vec![
            Point::without_vectors(2).with_vector("b", vector("b", 2, 7)),
            Point::without_vectors(4).with_vector(SPARSE, vector(SPARSE, 4, 8)),
            Point::without_vectors(2).with_vector("a", vector("a", 2, 9)),
        ])
        .unwrap();
        model.get_mut(&2).unwrap().vectors.insert("a".into(), 9);
        model.get_mut(&2).unwrap().vectors.insert("b".into(), 7);
        model.get_mut(&4).unwrap().vectors.insert(SPARSE.into(), 8);
        check(&c, &model);

        // Delete some vectors; a point left with none stays.
        let r = c
            .delete_vectors(
                &PointSelector::Ids(vec![PointId::Num(1), PointId::Num(3), PointId::Num(5)]),
                &["b".to_owned(), SPARSE.to_owned()],
            )
            .unwrap();
        assert_eq!(r.points, 2, "point 5 had neither vector");
        model.get_mut(&1).unwrap().vectors.retain(|n, _| n == "a");
        model.get_mut(&3).unwrap().vectors.clear();
        check(&c, &model);
        c.flush().unwrap();
        check(&c, &model);
    }
    {
        let db = Database::open(tmp.path()).unwrap();
        let c = db.collection("c").unwrap();
        check(&c, &model);
        c.delete(&PointSelector::Ids(vec![PointId::Num(2)]))
            .unwrap();
        model.remove(&2);
        upsert(&c, &mut model, &[(6, held(3, &[("a", 3), (SPARSE, 3)]))]);
        c.compact().unwrap();
        check(&c, &model);
    }
    // Reopened after compaction and without a final flush: the log replays.
    let db = Database::open(tmp.path()).unwrap();
    let c = db.collection("c").unwrap();
    check(&c, &model);
    let files = c.verify_files().unwrap();
    for f in &files {
        assert_eq!(f.state, quiver_core::FileState::Ok, "{f:?}");
    }
    // Each named vector's files and the sparse store are checked too.
    for want in ["sparse/payloads.log", "vectors.dat"] {
        let n = files.iter().filter(|f| f.file.ends_with(want)).count();
        assert!(
            n >= if want == "vectors.dat" { 2 } else { 1 },
            "{want} in {files:?}"
        );
    }
}

#[test]
fn vector_writes_that_fail_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db.create_collection("c", config()).unwrap();
    let mut model = Model::new();
    upsert(&c, &mut model, &[(1, held(1, &[("a", 1)]))]);

    // A missing point among present ones: nothing is updated.
    let err = c
        .update_vectors(vec![
            Point::without_vectors(1).with_vector("b", vector("b", 1, 2)),
            Point::without_vectors(9).with_vector("b", vector("b", 9, 2)),
        ])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PointNotFound {
                id: PointId::Num(9)
            }
        ),
        "{err}"
    );
    let cases: Vec<(Point, &str)> = vec![
        (Point::without_vectors(1), "no vector"),
        (
            Point::without_vectors(1).with_vector("zz", vec![1.0]),
            "`zz`",
        ),
        (
            Point::without_vectors(1).with_vector(SPARSE, vec![1.0]),
            "sparse",
        ),
        (
            Point::without_vectors(1)
                .with_vector("a", SparseVector::new(vec![1], vec![1.0]).unwrap()),
            "dense",
        ),
        (
            Point::without_vectors(1).with_vector("a", vec![1.0, 2.0]),
            "dimension",
        ),
        (
            Point::without_vectors(1)
                .with_vector("b", vector("b", 1, 3))
                .with_payload(Default::default()),
            "payload",
        ),
    ];
    for (p, needle) in cases {
        let err = c.update_vectors(vec![p]).unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should name {needle}");
    }
    for names in [vec![], vec!["zz".to_owned()]] {
        assert!(
            c.delete_vectors(&PointSelector::Ids(vec![PointId::Num(1)]), &names)
                .is_err()
        );
    }
    let err = c
        .delete_vectors(
            &PointSelector::Ids(vec![PointId::Num(1), PointId::Num(7)]),
            &["a".to_owned()],
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PointNotFound {
                id: PointId::Num(7)
            }
        ),
        "{err}"
    );
    check(&c, &model);

    // Searching a vector the collection lacks, or with the wrong kind of
    // query, names the problem.
    for (req, needle) in [
        (SearchRequest::new(vec![1.0; 6], 3).using("zz"), "`zz`"),
        (SearchRequest::new(vec![1.0; 6], 3), "default vector"),
        (SearchRequest::new(vec![1.0; 6], 3).using(SPARSE), "sparse"),
        (
            SearchRequest::new(SparseVector::new(vec![1], vec![1.0]).unwrap(), 3).using("a"),
            "dense",
        ),
    ] {
        let err = c.search(&req).unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should name {needle}");
    }
}

#[test]
fn the_unnamed_and_the_named_default_vector_are_one_collection() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let plain = quiver_core::CollectionConfig::new(3, Metric::Cosine);
    let named = quiver_core::CollectionConfig::with_vectors([(
        String::new(),
        quiver_core::VectorParams::new(3, Metric::Cosine),
    )]);
    assert_eq!(plain, named);
    let c = db.create_collection("c", named).unwrap();
    c.upsert(vec![Point::new(1, vec![1.0, 0.0, 0.0])]).unwrap();
    let hits = c
        .search(&SearchRequest::new(vec![1.0, 0.0, 0.0], 1).using(""))
        .unwrap();
    assert_eq!(hits[0].id, PointId::Num(1));
}

/// One step of the model-based test.
#[derive(Clone, Debug)]
enum Op {
    /// Points (id, which vectors by bit of `NAMES`).
    Upsert(Vec<(u64, u8)>),
    /// Set the vectors of the mask on a point (skipped if absent).
    Update(u64, u8),
    /// Remove the vectors of the mask from points.
    DeleteVectors(Vec<u64>, u8),
    Delete(Vec<u64>),
    Flush,
    Compact,
    Reopen,
}

const IDS: u64 = 12;

fn op() -> impl Strategy<Value = Op> {
    let ids = proptest::collection::vec(0..IDS, 1..4);
    prop_oneof![
        5 => proptest::collection::vec((0..IDS, 0u8..8), 1..5).prop_map(Op::Upsert),
        3 => (0..IDS, 1u8..8).prop_map(|(id, m)| Op::Update(id, m)),
        2 => (ids.clone(), 1u8..8).prop_map(|(ids, m)| Op::DeleteVectors(ids, m)),
        2 => ids.prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn names(mask: u8) -> Vec<&'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn named_vectors_match_a_model(ops in proptest::collection::vec(op(), 1..30)) {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = config();
        cfg.durability = DurabilityMode::FlushOnly;
        // Small, so that checkpoints (and their file rewrites) happen mid-run.
        cfg.checkpoint_log_bytes = 2048;
        let mut db = Database::open(tmp.path()).unwrap();
        db.create_collection("c", cfg).unwrap();
        let mut model = Model::new();
        for (step, op) in ops.iter().enumerate() {
            let version = step as u64 + 1;
            let c = db.collection("c").unwrap();
            match op {
                Op::Upsert(points) => {
                    let mut batch = BTreeMap::new();
                    for &(id, mask) in points {
                        let vectors = names(mask).into_iter().map(|n| (n.to_owned(), version)).collect();
                        batch.insert(id, Held { payload: version, vectors });
                    }
                    let batch: Vec<(u64, Held)> = batch.into_iter().collect();
                    upsert(&c, &mut model, &batch);
                }
                Op::Update(id, mask) => {
                    let mut p = Point::without_vectors(*id);
                    for n in names(*mask) {
                        p = p.with_vector(n, vector(n, *id, version));
                    }
                    match model.get_mut(id) {
                        Some(h) => {
                            c.update_vectors(vec![p]).unwrap();
                            for n in names(*mask) {
                                h.vectors.insert(n.to_owned(), version);
                            }
                        }
                        None => prop_assert!(c.update_vectors(vec![p]).is_err()),
                    }
                }
                Op::DeleteVectors(ids, mask) => {
                    let present: Vec<PointId> =
                        ids.iter().filter(|id| model.contains_key(id)).map(|&id| PointId::Num(id)).collect();
                    let gone: Vec<String> = names(*mask).into_iter().map(str::to_owned).collect();
                    let r = c.delete_vectors(&PointSelector::Ids(present.clone()), &gone).unwrap();
                    let mut changed = 0;
                    for id in present {
                        let PointId::Num(id) = id else { unreachable!() };
                        let h = model.get_mut(&id).unwrap();
                        let before = h.vectors.len();
                        h.vectors.retain(|n, _| !gone.contains(n));
                        changed += usize::from(h.vectors.len() != before);
                    }
                    prop_assert_eq!(r.points, changed as u64);
                }
                Op::Delete(ids) => {
                    c.delete(&PointSelector::Ids(ids.iter().map(|&id| PointId::Num(id)).collect())).unwrap();
                    for id in ids {
                        model.remove(id);
                    }
                }
                Op::Flush => c.flush().unwrap(),
                Op::Compact => c.compact().unwrap(),
                Op::Reopen => {
                    drop(c);
                    drop(db);
                    db = Database::open(tmp.path()).unwrap();
                }
            }
            check(&db.collection("c").unwrap(), &model);
        }
    }
}

#[test]
fn damage_to_a_named_vectors_file_is_reported_for_that_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Database::open(tmp.path()).unwrap();
        let c = db.create_collection("c", config()).unwrap();
        upsert(
            &c,
            &mut model,
            &[(1, held(1, &[("a", 1), ("b", 1), (SPARSE, 1)]))],
        );
        c.flush().unwrap();
    }
    // `b` lives in vectors/62 (the hex of its name); its one slot is first.
    let data = tmp.path().join("collections/c/vectors/62/vectors.dat");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[1] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let files = db.collection("c").unwrap().verify_files().unwrap();
    let bad: Vec<&str> = files
        .iter()
        .filter(|f| f.state != quiver_core::FileState::Ok)
        .map(|f| f.file.as_str())
        .collect();
    assert_eq!(bad, ["vectors/62/vectors.dat"], "{files:?}");
}
