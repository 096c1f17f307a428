//! Bad input gets a clear error and changes nothing.

use quiver_core::filter::{FieldType, Filter};
use quiver_core::{
    Collection, CollectionConfig, Database, Error, ErrorKind, Metric, Payload, Point, PointId,
    PointSelector, ScrollRequest, SearchRequest,
};
use serde_json::json;
use std::sync::Arc;

fn setup() -> (tempfile::TempDir, Database, Arc<Collection>) {
    let tmp = tempfile::tempdir().expect("test fixture");
    let db = Database::open(tmp.path()).expect("test fixture");
    let c = db
        .create_collection("c", CollectionConfig::new(3, Metric::Cosine))
        .expect("test fixture");
    c.upsert(vec![Point::new(1, vec![1.0, 0.0, 0.0]).with_payload(
        json!({"a": 1}).as_object().expect("test fixture").clone(),
    )])
    .expect("test fixture");
    (tmp, db, c)
}

/// Everything observable about the collection, to compare before and after.
fn snapshot(c: &Collection) -> (u64, Vec<quiver_core::Record>, u64) {
    let page = c
        .scroll(&ScrollRequest {
            filter: None,
            limit: 1000,
            offset: None,
            with_payload: true,
            with_vector: true,
        })
        .expect("test fixture");
    (
        c.count(None).expect("test fixture"),
        page.points,
        c.info().expect("test fixture").last_operation_id,
    )
}

#[test]
fn bad_points_reject_the_whole_batch() {
    let (_tmp, _db, c) = setup();
    let before = snapshot(&c);
    let good = || Point::new(2, vec![0.0, 1.0, 0.0]);
    let cases: Vec<(Vec<Point>, ErrorKind, &str)> = vec![
        (
            vec![good(), Point::new(3, vec![1.0, 2.0])],
            ErrorKind::InvalidInput,
            "expected 3, got 2",
        ),
        (
            vec![good(), Point::new(3, vec![])],
            ErrorKind::InvalidInput,
            "empty",
        ),
        (
            vec![good(), Point::new(3, vec![1.0, f32::NAN, 0.0])],
            ErrorKind::InvalidInput,
            "NaN",
        ),
        (
            vec![Point::new(3, vec![f32::INFINITY, 0.0, 0.0]), good()],
            ErrorKind::InvalidInput,
            "inf",
        ),
    ];
    for (points, kind, needle) in cases {
        let err = c.upsert(points).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
        assert_eq!(snapshot(&c), before);
    }
    assert!(matches!(
        c.upsert(vec![Point::new(3, vec![1.0; 4])]),
        Err(Error::DimensionMismatch {
            expected: 3,
            got: 4
        })
    ));
    assert_eq!(snapshot(&c), before);
}

#[test]
fn payloads_that_are_not_objects_do_not_parse() {
    for body in [
        r#"{"id": 1, "vectors": {"": [1, 2, 3]}, "payload": [1, 2]}"#,
        r#"{"id": 1, "vectors": {"": [1, 2, 3]}, "payload": "text"}"#,
        r#"{"id": 1, "vectors": {"": [1, 2, 3]}, "payload": 5}"#,
        r#"{"id": -1, "vectors": {"": [1, 2, 3]}}"#,
        r#"{"id": "not-a-uuid", "vectors": {"": [1, 2, 3]}}"#,
    ] {
        assert!(serde_json::from_str::<Point>(body).is_err(), "{body}");
    }
    let ok: Point = serde_json::from_str(
        r#"{"id": 1, "vectors": {"": [1, 2, 3]}, "payload": {"a": [1, {"b": null}]}}"#,
    )
    .unwrap();
    assert_eq!(ok.payload.unwrap()["a"], json!([1, {"b": null}]));
    let p: Payload = serde_json::from_str("{}").unwrap();
    assert!(p.is_empty());
}

#[test]
fn bad_search_requests_are_rejected_and_change_nothing() {
    let (_tmp, _db, c) = setup();
    let before = snapshot(&c);
    let base = SearchRequest::new(vec![1.0, 0.0, 0.0], 1);
    let mut cases: Vec<(SearchRequest, &str)> = Vec::new();
    let mut r = base.clone();
    r.k = 0;
    cases.push((r, "k = 0"));
    let mut r = base.clone();
    r.k = 100_001;
    cases.push((r, "k = 100001"));
    let mut r = base.clone();
    r.ef = Some(0);
    cases.push((r, "ef = 0"));
    let mut r = base.clone();
    r.ef = Some(100_001);
    cases.push((r, "ef = 100001"));
    let mut r = base.clone();
    r.vector = vec![1.0, 0.0].into();
    cases.push((r, "expected 3, got 2"));
    let mut r = base.clone();
    r.vector = Vec::new().into();
    cases.push((r, "empty"));
    let mut r = base.clone();
    r.vector = vec![0.0, f32::NEG_INFINITY, 0.0].into();
    cases.push((r, "inf"));
    let mut r = base.clone();
    r.filter = Some(serde_json::from_value(json!({"must": [{"key": "a", "range": {}}]})).unwrap());
    cases.push((r, "range"));
    for (req, needle) in cases {
        let err = c.search(&req).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
        let err = c.search_batch(&[base.clone(), req]).unwrap_err();
        assert!(
            err.to_string().contains(needle),
            "batch: {err} lacks {needle:?}"
        );
    }
    assert_eq!(snapshot(&c), before);
    let mut ok = base;
    ok.k = 100_000;
    ok.ef = Some(100_000);
    assert_eq!(c.search(&ok).unwrap().len(), 1);
}

#[test]
fn malformed_filters_are_rejected_everywhere_and_change_nothing() {
    let (_tmp, _db, c) = setup();
    let before = snapshot(&c);
    assert!(
        serde_json::from_value::<Filter>(json!({"must": [{"key": "a", "match": {"nope": 1}}]}))
            .is_err()
    );
    let bad: Filter =
        serde_json::from_value(json!({"must": [{"key": "", "match": {"value": 1}}]})).unwrap();
    let sel = PointSelector::Filter(bad.clone());
    assert_eq!(c.delete(&sel).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(
        c.set_payload(&sel, Payload::new()).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        c.count(Some(&bad)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let mut scroll = ScrollRequest::new(10);
    scroll.filter = Some(bad);
    assert_eq!(
        c.scroll(&scroll).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    scroll.filter = None;
    scroll.limit = 0;
    assert_eq!(
        c.scroll(&scroll).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(snapshot(&c), before);
}

#[test]
fn unknown_field_types_and_bad_field_names_are_rejected_and_change_nothing() {
    let (tmp, _db, c) = setup();
    let config_file = tmp.path().join("collections/c/config.json");
    let config_before = std::fs::read(&config_file).unwrap();
    let before = snapshot(&c);
    assert!(serde_json::from_str::<FieldType>(r#""keyword""#).is_ok());
    assert!(serde_json::from_str::<FieldType>(r#""geo_polygon""#).is_err());
    assert_eq!(
        c.create_field_index("", FieldType::Keyword)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert!(c.info().unwrap().payload_schema.is_empty());
    assert_eq!(snapshot(&c), before);
    assert_eq!(std::fs::read(&config_file).unwrap(), config_before);
}

/// Deleting or reading a missing point is not an error (as in Qdrant);
/// changing the payload of a missing point is `PointNotFound` (Qdrant's 404)
/// and changes nothing.
#[test]
fn missing_points_are_skipped_by_deletes_and_reads_and_refused_by_payload_writes() {
    let (_tmp, _db, c) = setup();
    let before = snapshot(&c);
    assert_eq!(
        c.delete(&PointSelector::Ids(vec![PointId::Num(404)]))
            .unwrap()
            .points,
        0
    );
    let err = c
        .set_payload(&PointSelector::Ids(vec![PointId::Num(404)]), Payload::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(c.get(&[PointId::Num(404)], true, true).unwrap().is_empty());
    assert_eq!(snapshot(&c), before);
}

/// Finite components whose squares overflow `f32`: Cosine normalises them
/// exactly and ranks by direction; Euclid and Dot reject a vector whose
/// norm would make scores overflow, naming the point and the component, and
/// keep every score finite up to the limit.
#[test]
fn huge_components_are_exact_or_rejected_per_metric() {
    let tmp = tempfile::tempdir().expect("test fixture");
    let db = Database::open(tmp.path()).expect("test fixture");

    let cosine = db
        .create_collection("cos", CollectionConfig::new(3, Metric::Cosine))
        .expect("test fixture");
    cosine
        .upsert(vec![
            Point::new(1, vec![1e20, 1e20, 0.0]),
            Point::new(2, vec![1.0, 0.9, 0.0]),
            Point::new(3, vec![1e-30, 1e-30, 0.0]),
        ])
        .expect("any finite vector is fine under Cosine");
    let hits = cosine
        .search(&SearchRequest {
            exact: true,
            ..SearchRequest::new(vec![2.0, 2.0, 0.0], 3)
        })
        .expect("search");
    let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert!(
        ids[..2].contains(&PointId::Num(1)) && ids[..2].contains(&PointId::Num(3)),
        "the same direction ranks first, whatever the magnitude: {hits:?}"
    );
    for h in &hits {
        assert!(h.score.is_finite() && h.score <= 1.0 + 1e-5, "{hits:?}");
    }
    assert!((hits[0].score - 1.0).abs() < 1e-5, "{hits:?}");
    let huge_query = cosine
        .search(&SearchRequest::new(vec![3e38, 3e38, 0.0], 1))
        .expect("a huge query normalises too");
    assert!((huge_query[0].score - 1.0).abs() < 1e-5, "{huge_query:?}");

    for metric in [Metric::Euclid, Metric::Dot] {
        let name = format!("{metric:?}").to_lowercase();
        let c = db
            .create_collection(&name, CollectionConfig::new(3, metric))
            .expect("test fixture");
        c.upsert(vec![Point::new(1, vec![1.0, 2.0, 3.0])])
            .expect("test fixture");
        let before = snapshot(&c);
        let err = c
            .upsert(vec![
                Point::new(2, vec![1.0, 1.0, 1.0]),
                Point::new(7, vec![0.0, 1e20, 0.0]),
            ])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("point 1 (7)") && text.contains("component is 1"),
            "names the point and the component: {text}"
        );
        assert_eq!(snapshot(&c), before, "{metric:?}: nothing written");
        let err = c
            .search(&SearchRequest::new(vec![1e20, 0.0, 0.0], 1))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

        // At the limit every score stays finite, for points and queries.
        let big = (quiver_core::MAX_VECTOR_NORM / 2.0) as f32;
        c.upsert(vec![
            Point::new(3, vec![big, big, 0.0]),
            Point::new(4, vec![-big, -big, 0.0]),
        ])
        .expect("within the limit");
        for exact in [true, false] {
            let hits = c
                .search(&SearchRequest {
                    exact,
                    ..SearchRequest::new(vec![-big, -big, 0.0], 3)
                })
                .expect("search");
            assert_eq!(hits.len(), 3);
            for h in &hits {
                assert!(h.score.is_finite(), "{metric:?} exact={exact}: {hits:?}");
            }
            let expected_first = PointId::Num(4);
            assert_eq!(hits[0].id, expected_first, "{metric:?}: {hits:?}");
        }
    }
}
