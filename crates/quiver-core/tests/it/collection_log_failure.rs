//! An upsert whose log append fails changes nothing: not the points, not
//! the graph (which links new versions while the log syncs), and not what
//! a reopen finds.

use quiver_core::storage::DurabilityMode;
use quiver_core::storage::fault;
use quiver_core::{CollectionConfig, Database, Metric, Point, PointId, SearchRequest};
use serde_json::json;

fn point(id: u64, version: u64) -> Point {
    let payload = json!({"v": version});
    Point::new(id, vec![id as f32, version as f32, 0.0, 1.0])
        .with_payload(payload.as_object().expect("object").clone())
}

fn version(c: &quiver_core::Collection, id: u64) -> Option<u64> {
    let got = c.get(&[PointId::Num(id)], true, false).expect("get");
    got.first().map(|r| {
        r.payload.as_ref().expect("payload")["v"]
            .as_u64()
            .expect("v")
    })
}

fn failed_sync_changes_nothing(durability: DurabilityMode) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Database::open(tmp.path()).expect("open");
    let mut config = CollectionConfig::new(4, Metric::Euclid);
    config.durability = durability;
    let c = db.create_collection("c", config).expect("create");
    c.upsert((0..200).map(|i| point(i, 0)).collect())
        .expect("first upsert");

    fault::arm("oplog:sync");
    let err = c
        .upsert((190..210).map(|i| point(i, 1)).collect())
        .expect_err("the log sync fails");
    fault::disarm();
    assert!(err.to_string().contains("ops.log"), "{err}");

    let info = c.info().expect("info");
    assert_eq!(info.points, 200);
    assert_eq!(
        info.indexed_vectors, 200,
        "the graph still holds versions that were never committed"
    );
    assert_eq!(version(&c, 195), Some(0));
    assert_eq!(version(&c, 205), None);
    let hits = c
        .search(&SearchRequest::new(vec![195.0, 1.0, 0.0, 1.0], 3))
        .expect("search");
    let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], PointId::Num(195));
    assert!((hits[0].score - 1.0).abs() < 1e-6, "{hits:?}");

    // The same write then goes through, and everything survives a reopen.
    c.upsert((190..210).map(|i| point(i, 1)).collect())
        .expect("retry");
    let info = c.info().expect("info");
    assert_eq!((info.points, info.indexed_vectors), (210, 210));
    c.flush().expect("flush");
    drop(c);
    drop(db);
    let db = Database::open(tmp.path()).expect("reopen");
    let c = db.collection("c").expect("collection");
    assert!(
        c.repaired_on_open().is_empty(),
        "the graph checkpoint must load: {:?}",
        c.repaired_on_open()
    );
    let info = c.info().expect("info");
    assert_eq!((info.points, info.indexed_vectors), (210, 210));
    assert_eq!(version(&c, 10), Some(0));
    assert_eq!(version(&c, 195), Some(1));
    assert_eq!(version(&c, 205), Some(1));
}

#[test]
fn an_upsert_whose_log_sync_fails_changes_nothing() {
    failed_sync_changes_nothing(DurabilityMode::Fsync);
}

#[test]
fn an_upsert_whose_log_append_fails_changes_nothing_without_sync() {
    failed_sync_changes_nothing(DurabilityMode::FlushOnly);
}
