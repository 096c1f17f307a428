//! The collection API end to end: writes, reads, payload changes, scroll,
//! count, field indexes, info, and everything surviving a reopen.

use quiver_core::filter::{FieldType, Filter};
use quiver_core::storage::DurabilityMode;
use quiver_core::{
    CollectionConfig, Database, Metric, Payload, Point, PointId, PointSelector, ScrollRequest,
    SearchRequest,
};
use serde_json::json;
use uuid::Uuid;

fn obj(v: serde_json::Value) -> Payload {
    v.as_object().expect("test fixture").clone()
}

fn filter(v: serde_json::Value) -> Filter {
    serde_json::from_value(v).expect("test fixture")
}

fn ids(points: &[quiver_core::ScoredPoint]) -> Vec<PointId> {
    points.iter().map(|p| p.id).collect()
}

#[test]
fn upsert_get_search_delete_round_trip_and_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let uuid = PointId::Uuid(Uuid::from_u128(42));
    {
        let db = Database::open(tmp.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(2, Metric::Euclid))
            .unwrap();
        c.upsert(vec![
            Point::new(1, vec![0.0, 0.0]).with_payload(obj(json!({"color": "red", "n": 1}))),
            Point::new(2, vec![1.0, 0.0]).with_payload(obj(json!({"color": "blue", "n": 2}))),
            Point::new(uuid, vec![5.0, 5.0]),
        ])
        .unwrap();
        let got = c
            .get(&[PointId::Num(2), PointId::Num(99), uuid], true, true)
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, PointId::Num(2));
        assert_eq!(got[0].payload, Some(obj(json!({"color": "blue", "n": 2}))));
        assert_eq!(got[0].vector().map(<[f32]>::to_vec), Some(vec![1.0, 0.0]));
        assert_eq!(got[1].payload, Some(Payload::new()));

        let hits = c.search(&SearchRequest::new(vec![0.9, 0.0], 2)).unwrap();
        assert_eq!(ids(&hits), vec![PointId::Num(2), PointId::Num(1)]);
        assert!(
            (hits[0].score - 0.1).abs() < 1e-5,
            "Euclid score is the L2 distance"
        );
        assert!(hits[0].payload.is_none() && hits[0].vector().is_none());

        // Replace point 1: new vector and payload, old ones gone.
        c.upsert(vec![
            Point::new(1, vec![1.0, 0.1]).with_payload(obj(json!({"color": "green"}))),
        ])
        .unwrap();
        assert_eq!(c.count(None).unwrap(), 3);
        let deleted = c
            .delete(&PointSelector::Ids(vec![PointId::Num(2), PointId::Num(77)]))
            .unwrap()
            .points;
        assert_eq!(deleted, 1);
        assert_eq!(c.count(None).unwrap(), 2);
    }
    let db = Database::open(tmp.path()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.count(None).unwrap(), 2);
    let got = c
        .get(&[PointId::Num(1), PointId::Num(2)], true, true)
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].vector().map(<[f32]>::to_vec), Some(vec![1.0, 0.1]));
    assert_eq!(got[0].payload, Some(obj(json!({"color": "green"}))));
    let hits = c.search(&SearchRequest::new(vec![1.0, 0.0], 10)).unwrap();
    assert_eq!(ids(&hits), vec![PointId::Num(1), uuid]);
}

#[test]
fn duplicate_ids_in_one_upsert_keep_the_last() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::Dot))
        .unwrap();
    c.upsert(vec![
        Point::new(7, vec![1.0, 0.0]).with_payload(obj(json!({"v": 1}))),
        Point::new(8, vec![0.0, 1.0]),
        Point::new(7, vec![2.0, 0.0]).with_payload(obj(json!({"v": 2}))),
    ])
    .unwrap();
    assert_eq!(c.count(None).unwrap(), 2);
    let got = c.get(&[PointId::Num(7)], true, true).unwrap();
    assert_eq!(got[0].vector().map(<[f32]>::to_vec), Some(vec![2.0, 0.0]));
    assert_eq!(got[0].payload, Some(obj(json!({"v": 2}))));
}

#[test]
fn cosine_vectors_are_stored_normalised() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::Cosine))
        .unwrap();
    c.upsert(vec![
        Point::new(1, vec![3.0, 4.0]),
        Point::new(2, vec![-1.0, 0.0]),
    ])
    .unwrap();
    let mut req = SearchRequest::new(vec![30.0, 40.0], 2);
    req.with_vector = true;
    let hits = c.search(&req).unwrap();
    assert_eq!(hits[0].id, PointId::Num(1));
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    let v = hits[0].vector().unwrap().to_vec();
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    assert!((hits[1].score + 0.6).abs() < 1e-5);
}

#[test]
fn payload_operations_merge_overwrite_delete_keys_and_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(1, Metric::Euclid))
        .unwrap();
    c.create_field_index("tag", FieldType::Keyword).unwrap();
    let points: Vec<Point> = (0..10u64)
        .map(|i| Point::new(i, vec![i as f32]).with_payload(obj(json!({"tag": "a", "i": i}))))
        .collect();
    c.upsert(points).unwrap();
    let tag_b = filter(json!({"must": [{"key": "tag", "match": {"value": "b"}}]}));
    let low = filter(json!({"must": [{"key": "i", "range": {"lt": 3}}]}));

    c.set_payload(
        &PointSelector::Filter(low.clone()),
        obj(json!({"tag": "b", "x": true})),
    )
    .unwrap();
    assert_eq!(c.count(Some(&tag_b)).unwrap(), 3);
    let p0 = c.get(&[PointId::Num(0)], true, false).unwrap()[0]
        .payload
        .clone()
        .unwrap();
    assert_eq!(p0, obj(json!({"tag": "b", "i": 0, "x": true})));

    c.delete_payload_keys(
        &PointSelector::Ids(vec![PointId::Num(0)]),
        &["x".into(), "tag".into()],
    )
    .unwrap();
    assert_eq!(c.count(Some(&tag_b)).unwrap(), 2);
    let p0 = c.get(&[PointId::Num(0)], true, false).unwrap()[0]
        .payload
        .clone()
        .unwrap();
    assert_eq!(p0, obj(json!({"i": 0})));

    c.overwrite_payload(
        &PointSelector::Ids(vec![PointId::Num(5)]),
        obj(json!({"tag": "b"})),
    )
    .unwrap();
    assert_eq!(c.count(Some(&tag_b)).unwrap(), 3);
    assert_eq!(
        c.get(&[PointId::Num(5)], true, false).unwrap()[0].payload,
        Some(obj(json!({"tag": "b"})))
    );

    c.clear_payload(&PointSelector::Filter(tag_b.clone()))
        .unwrap();
    assert_eq!(c.count(Some(&tag_b)).unwrap(), 0);
    assert_eq!(
        c.get(&[PointId::Num(1)], true, false).unwrap()[0].payload,
        Some(Payload::new())
    );

    // The index follows the payloads across a reopen (checkpoint + replay).
    c.set_payload(
        &PointSelector::Ids(vec![PointId::Num(9)]),
        obj(json!({"tag": "b"})),
    )
    .unwrap();
    drop((c, db));
    let db = Database::open(tmp.path()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.count(Some(&tag_b)).unwrap(), 1);
    let mut req = SearchRequest::new(vec![0.0], 5);
    req.filter = Some(tag_b);
    assert_eq!(ids(&c.search(&req).unwrap()), vec![PointId::Num(9)]);
}

#[test]
fn scroll_pages_by_id_numbers_then_uuids_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(1, Metric::Euclid))
        .unwrap();
    let mut points: Vec<Point> = [30u64, 2, 1000, 7, 1]
        .iter()
        .map(|&i| Point::new(i, vec![i as f32]).with_payload(obj(json!({"even": i % 2 == 0}))))
        .collect();
    points.push(Point::new(Uuid::from_u128(5), vec![0.0]).with_payload(obj(json!({"even": true}))));
    points.push(Point::new(Uuid::from_u128(1), vec![0.0]));
    c.upsert(points).unwrap();

    let mut all = Vec::new();
    let mut req = ScrollRequest::new(2);
    loop {
        let page = c.scroll(&req).unwrap();
        assert!(page.points.len() <= 2);
        all.extend(page.points.iter().map(|r| r.id));
        match page.next_offset {
            Some(next) => req.offset = Some(next),
            None => break,
        }
    }
    let expected: Vec<PointId> = vec![
        PointId::Num(1),
        PointId::Num(2),
        PointId::Num(7),
        PointId::Num(30),
        PointId::Num(1000),
        PointId::Uuid(Uuid::from_u128(1)),
        PointId::Uuid(Uuid::from_u128(5)),
    ];
    assert_eq!(all, expected);

    let mut req = ScrollRequest::new(10);
    req.filter = Some(filter(
        json!({"must": [{"key": "even", "match": {"value": true}}]}),
    ));
    req.offset = Some(PointId::Num(3));
    let page = c.scroll(&req).unwrap();
    let got: Vec<PointId> = page.points.iter().map(|r| r.id).collect();
    assert_eq!(
        got,
        vec![
            PointId::Num(30),
            PointId::Num(1000),
            PointId::Uuid(Uuid::from_u128(5))
        ]
    );
    assert_eq!(page.next_offset, None);
    assert_eq!(c.count(req.filter.as_ref()).unwrap(), 4);
}

#[test]
fn field_indexes_are_persisted_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(2, Metric::Euclid))
            .unwrap();
        let points: Vec<Point> = (0..50u64)
            .map(|i| {
                let payload = if i % 5 == 0 {
                    json!({})
                } else {
                    json!({"k": format!("v{}", i % 3), "n": i})
                };
                Point::new(i, vec![i as f32, 0.0]).with_payload(obj(payload))
            })
            .collect();
        c.upsert(points).unwrap();
        c.create_field_index("k", FieldType::Keyword).unwrap();
        c.create_field_index("n", FieldType::Integer).unwrap();
        assert!(c.delete_field_index("n").unwrap());
        assert!(!c.delete_field_index("n").unwrap());
        let info = c.info().unwrap();
        assert_eq!(
            info.payload_schema,
            vec![("k".to_owned(), FieldType::Keyword, 40)]
        );
        assert_eq!(info.points, 50);
        assert_eq!(info.indexed_vectors, 50);
        assert!(info.fully_indexed());
        c.flush().unwrap();
        let info = c.info().unwrap();
        for component in [
            "vectors",
            "payloads",
            "hnsw",
            "payload_index",
            "op_log",
            "config",
        ] {
            assert!(
                info.disk_bytes.get(component).copied().unwrap_or(0) > 0,
                "{component}: {info:?}"
            );
        }
        for component in ["hnsw", "payload_index", "id_map"] {
            assert!(
                info.ram_bytes.get(component).copied().unwrap_or(0) > 0,
                "{component}"
            );
        }
        assert!(info.files.iter().any(|(name, _)| name == "ops.log"));
    }
    let db = Database::open(tmp.path()).unwrap();
    let c = db.collection("c").unwrap();
    let info = c.info().unwrap();
    assert_eq!(
        info.payload_schema,
        vec![("k".to_owned(), FieldType::Keyword, 40)]
    );
    let f = filter(json!({"must": [{"key": "k", "match": {"any": ["v1", "v2"]}}]}));
    let expected = (0..50u64).filter(|i| i % 5 != 0 && i % 3 != 0).count() as u64;
    assert_eq!(c.count(Some(&f)).unwrap(), expected);
}

#[test]
fn compaction_keeps_every_live_point() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(4, Metric::Euclid))
        .unwrap();
    for round in 0..3u64 {
        let points: Vec<Point> = (0..200u64)
            .map(|i| {
                Point::new(i, vec![(i + round) as f32; 4]).with_payload(obj(json!({"r": round})))
            })
            .collect();
        c.upsert(points).unwrap();
    }
    c.delete(&PointSelector::Ids((0..100u64).map(PointId::Num).collect()))
        .unwrap();
    let before = c.info().unwrap().disk_bytes["payloads"];
    c.compact().unwrap();
    assert!(c.info().unwrap().disk_bytes["payloads"] < before);
    assert_eq!(c.count(None).unwrap(), 100);
    let got = c.get(&[PointId::Num(150)], true, true).unwrap();
    assert_eq!(got[0].vector().map(<[f32]>::to_vec), Some(vec![152.0; 4]));
    assert_eq!(got[0].payload, Some(obj(json!({"r": 2}))));
    let hits = c.search(&SearchRequest::new(vec![152.0; 4], 1)).unwrap();
    assert_eq!(hits[0].id, PointId::Num(150));
    // Writes after compaction reuse freed internal ids and stay correct.
    c.upsert(vec![Point::new(5, vec![-1.0; 4])]).unwrap();
    let hits = c.search(&SearchRequest::new(vec![-1.0; 4], 1)).unwrap();
    assert_eq!(hits[0].id, PointId::Num(5));
    assert_eq!(c.count(None).unwrap(), 101);
}

#[test]
fn payload_writes_naming_a_missing_id_fail_whole_and_filters_skip_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(1, Metric::Euclid))
        .unwrap();
    let points: Vec<Point> = (0..3u64)
        .map(|i| Point::new(i, vec![i as f32]).with_payload(obj(json!({"i": i}))))
        .collect();
    c.upsert(points).unwrap();
    let both = PointSelector::Ids(vec![PointId::Num(1), PointId::Num(77), PointId::Num(2)]);
    let writes: [&dyn Fn() -> quiver_core::Result<quiver_core::UpdateResult>; 4] = [
        &|| c.set_payload(&both, obj(json!({"x": 1}))),
        &|| c.overwrite_payload(&both, obj(json!({"x": 1}))),
        &|| c.delete_payload_keys(&both, &["i".into()]),
        &|| c.clear_payload(&both),
    ];
    for write in writes {
        let e = write().unwrap_err();
        assert!(
            matches!(
                e,
                quiver_core::Error::PointNotFound {
                    id: PointId::Num(77)
                }
            ),
            "{e}"
        );
        assert_eq!(e.kind(), quiver_core::ErrorKind::NotFound);
        assert_eq!(e.to_string(), "No point with id 77 found");
    }
    // Nothing changed: point 1 (named before the missing id) and 2 (after).
    for i in 1..3u64 {
        assert_eq!(
            c.get(&[PointId::Num(i)], true, false).unwrap()[0].payload,
            Some(obj(json!({"i": i})))
        );
    }
    // A filter matches only points that exist; none is missing.
    let some = filter(json!({"must": [{"has_id": [2, 77]}]}));
    c.set_payload(&PointSelector::Filter(some), obj(json!({"x": 1})))
        .unwrap();
    assert_eq!(
        c.get(&[PointId::Num(2)], true, false).unwrap()[0].payload,
        Some(obj(json!({"i": 2, "x": 1})))
    );
}

/// A mix of upserts of existing points, deletes and payload updates (the
/// soak's writes) leaves dead slots in `vectors.dat`: every new version
/// takes the next slot. Checkpoints rewrite the file once they outweigh
/// the live ones, so its disk (and the page cache mapped from it) stays
/// bounded, and nothing live is lost on the way.
#[test]
fn vector_churn_does_not_grow_the_vector_file_without_bound() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let dim = 256;
    let mut config = CollectionConfig::new(dim, Metric::Euclid);
    config.durability = DurabilityMode::FlushOnly;
    config.checkpoint_log_bytes = 256 << 10;
    let c = db.create_collection("c", config).unwrap();
    let vector = |id: u64, round: u64| -> Vec<f32> {
        (0..dim)
            .map(|d| (id * 31 + round + d as u64) as f32)
            .collect()
    };
    let n = 2000u64;
    let mut model: std::collections::BTreeMap<u64, u64> = (0..n).map(|i| (i, 0)).collect();
    c.upsert((0..n).map(|i| Point::new(i, vector(i, 0))).collect())
        .unwrap();
    // About 30 MiB of vectors written (1 KiB each), under 2 MiB live: past
    // the first 16 MiB of the file, which has room for 16,384.
    for round in 1..90_000u64 {
        let id = (round * 7919) % n;
        match round % 3 {
            0 => {
                c.delete(&PointSelector::Ids(vec![PointId::Num(id)]))
                    .unwrap();
                model.remove(&id);
            }
            1 => {
                c.upsert(vec![Point::new(id, vector(id, round))]).unwrap();
                model.insert(id, round);
            }
            _ if model.contains_key(&id) => {
                let ids = vec![PointId::Num(id)];
                c.set_payload(&PointSelector::Ids(ids), obj(json!({"round": round})))
                    .unwrap();
            }
            _ => {}
        }
    }
    let file = tmp.path().join("collections/c/vectors.dat");
    let on_disk = std::fs::metadata(&file).unwrap().blocks() * 512;
    assert!(
        on_disk <= 32 << 20,
        "vectors.dat takes {on_disk} bytes on disk for {} live vectors of 1 KiB",
        model.len()
    );
    let check = |c: &quiver_core::Collection| {
        assert_eq!(c.count(None).unwrap(), model.len() as u64);
        for (&id, &round) in &model {
            let got = c.get(&[PointId::Num(id)], false, true).unwrap();
            assert_eq!(got[0].vector(), Some(vector(id, round).as_slice()));
        }
    };
    check(&c);
    drop(c);
    drop(db);
    let db = Database::open(tmp.path()).unwrap();
    check(&db.collection("c").unwrap());
}

#[test]
fn payload_churn_does_not_grow_the_payload_log_without_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let mut config = CollectionConfig::new(4, Metric::Euclid);
    config.durability = DurabilityMode::FlushOnly;
    config.checkpoint_log_bytes = 64 << 10;
    let c = db.create_collection("c", config).unwrap();
    let points = (0..20u64)
        .map(|i| Point::new(i, vec![i as f32, 0.0, 0.0, 1.0]))
        .collect();
    c.upsert(points).unwrap();
    let text = "x".repeat(1000);
    // About 6 MB of payload records, of which 20 KB stay live.
    for round in 0..300u64 {
        let ids = (0..20u64).map(PointId::Num).collect();
        c.overwrite_payload(
            &PointSelector::Ids(ids),
            obj(json!({"round": round, "text": text})),
        )
        .unwrap();
    }
    let on_disk = c.info().unwrap().disk_bytes["payloads"];
    assert!(
        on_disk < 3 << 20,
        "payloads take {on_disk} bytes on disk for 20 KB of live payloads"
    );
    let got = c.get(&[PointId::Num(7)], true, false).unwrap();
    assert_eq!(got[0].payload.as_ref().unwrap()["round"], json!(299));
    drop(c);
    drop(db);
    let db = Database::open(tmp.path()).unwrap();
    let got = db
        .collection("c")
        .unwrap()
        .get(&[PointId::Num(19)], true, false)
        .unwrap();
    assert_eq!(got[0].payload.as_ref().unwrap()["round"], json!(299));
}
