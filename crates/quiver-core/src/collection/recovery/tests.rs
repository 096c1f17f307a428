//! Recovery loads the graph and payload index checkpoints and applies only
//! the logged operations after their tags (what the integration tests can
//! only see as the right answers, this sees as the path taken).

use std::fs;
use std::path::PathBuf;

use super::*;
use crate::{CollectionConfig, Database, Metric, Point, PointId, PointSelector};

fn point(id: u64, version: u64) -> Point {
    let payload = serde_json::json!({"v": version, "group": id % 3});
    Point::new(id, vec![id as f32, version as f32, 1.0])
        .with_payload(payload.as_object().expect("test fixture").clone())
}

fn recover_at(dir: &Path) -> Parts {
    let stored = StoredConfig::read(dir).expect("test fixture");
    recover(dir, &stored).expect("test fixture")
}

/// A database at `dir` whose collection `c` (3 dimensions, Euclid, `group`
/// indexed) holds points 0..300 at version 0, not yet checkpointed.
fn seeded(dir: &Path) -> (Database, std::sync::Arc<crate::Collection>) {
    let db = Database::open(dir).expect("test fixture");
    let c = db
        .create_collection("c", CollectionConfig::new(3, Metric::Euclid))
        .expect("test fixture");
    c.create_field_index("group", FieldType::Integer)
        .expect("test fixture");
    c.upsert((0..300).map(|i| point(i, 0)).collect())
        .expect("test fixture");
    (db, c)
}

/// Returns (image with 2 operations after the checkpoints' tag, image whose
/// checkpoints already cover the 2 operations still in its log).
fn images(tmp: &Path) -> (PathBuf, PathBuf) {
    let (_db, c) = seeded(&tmp.join("db"));
    c.flush().expect("test fixture");
    c.upsert((0..50).map(|i| point(i, 1)).collect())
        .expect("test fixture");
    c.delete(&PointSelector::Ids((290..300).map(PointId::Num).collect()))
        .expect("test fixture");
    let dir = tmp.join("db/collections/c");
    let tail = tmp.join("tail");
    quiver_testkit::crash_image(&dir, &tail);
    // A crash after the next checkpoint saved the graph, id map and payload
    // index but before it replaced the log: the old log, whose operations the
    // checkpoints already cover.
    c.flush().expect("test fixture");
    let covered = tmp.join("covered");
    quiver_testkit::crash_image(&tail, &covered);
    for entry in fs::read_dir(&dir).expect("test fixture") {
        let name = entry.expect("test fixture").file_name();
        let name = name.to_string_lossy();
        if name == GRAPH_FILE || name == ID_MAP_FILE || name.starts_with(PAYLOAD_INDEX_PREFIX) {
            fs::copy(dir.join(&*name), covered.join(&*name)).expect("test fixture");
        }
    }
    (tail, covered)
}

#[test]
fn reopen_loads_checkpoints_and_replays_only_later_operations() {
    let tmp = tempfile::tempdir().expect("test fixture");
    let (tail, covered) = images(tmp.path());

    let parts = recover_at(&tail);
    assert_eq!(
        parts.report,
        RecoveryReport {
            logged_ops: 2,
            graph_replayed: Some(2),
            indexes_replayed: Some(2),
            damaged: vec![],
        }
    );
    assert_eq!(parts.dense[0].graph.len(), 290);
    assert_eq!(parts.state.live.len(), 290);

    let parts = recover_at(&covered);
    assert_eq!(
        parts.report,
        RecoveryReport {
            logged_ops: 2,
            graph_replayed: Some(0),
            indexes_replayed: Some(0),
            damaged: vec![],
        }
    );
    assert_eq!(parts.dense[0].graph.len(), 290);
    assert_eq!(parts.state.live.len(), 290);
}

#[test]
fn reopen_without_a_graph_checkpoint_rebuilds_it() {
    let tmp = tempfile::tempdir().expect("test fixture");
    let (tail, _) = images(tmp.path());
    fs::remove_file(tail.join(GRAPH_FILE)).expect("test fixture");
    let parts = recover_at(&tail);
    assert_eq!(parts.report.graph_replayed, None);
    assert_eq!(parts.report.indexes_replayed, Some(2));
    assert_eq!(parts.dense[0].graph.len(), 290);
    assert!(parts.needs_checkpoint);
}

/// A database at `dir` whose collection `c` has 300 points, 50 of them
/// deleted (below the graph's rebuild threshold, so 50 tombstones), flushed.
fn with_tombstones(dir: &Path) -> (Database, std::sync::Arc<crate::Collection>) {
    let (db, c) = seeded(dir);
    c.delete(&PointSelector::Ids((0..50).map(PointId::Num).collect()))
        .expect("test fixture");
    c.flush().expect("test fixture");
    (db, c)
}

/// The vectors of deleted points stay in the store while the graph keeps
/// them as routing nodes (its checkpoint takes them from there), and go at
/// the first checkpoint after the graph has dropped them.
#[test]
fn checkpoints_keep_exactly_the_vectors_the_graph_still_holds() {
    let tmp = tempfile::tempdir().expect("test fixture");
    let (_db, c) = with_tombstones(tmp.path());
    assert_eq!(c.dense[0].graph.len(), 250);
    assert_eq!(c.dense[0].vectors.read().len(), 300);
    let dir = tmp.path().join("collections/c");
    // The graph file holds links only: it cannot load without the store.
    let alone = Hnsw::load(&dir.join(GRAPH_FILE), 3, Metric::Euclid);
    assert!(alone.is_err_and(|e| e.kind() == io::ErrorKind::InvalidData));
    let image = tmp.path().join("image");
    quiver_testkit::crash_image(&dir, &image);
    let parts = recover_at(&image);
    assert_eq!(
        parts.report.graph_replayed,
        Some(0),
        "graph checkpoint loads"
    );
    assert_eq!(parts.dense[0].vectors.read().len(), 300);

    // 100 more: past the threshold, the graph rebuilds without tombstones.
    c.delete(&PointSelector::Ids((50..150).map(PointId::Num).collect()))
        .expect("test fixture");
    let held: Vec<u32> = (0..300).filter(|&i| c.dense[0].graph.holds(i)).collect();
    assert!(held.len() < 250, "the graph has dropped its tombstones");
    assert!(
        held.len() > 150,
        "and holds the later deletions as tombstones"
    );
    assert_eq!(
        c.dense[0].vectors.read().len(),
        300,
        "nothing dropped before the checkpoint"
    );
    c.flush().expect("test fixture");
    let vectors = c.dense[0].vectors.read();
    assert_eq!(vectors.len(), held.len());
    assert!(
        held.iter()
            .all(|&i| vectors.retrieve_ref(u64::from(i)).expect("read").is_some())
    );
    drop(vectors);
    let hits = c
        .search(&crate::SearchRequest::new(vec![200.0, 0.0, 1.0], 3))
        .expect("test fixture");
    assert_eq!(hits[0].id, PointId::Num(200));

    // A crash image from before that checkpoint still opens with its graph.
    let parts = recover_at(&image);
    assert_eq!(parts.report.graph_replayed, Some(0));
}

/// Deletions logged after the graph checkpoint keep the vectors it needs
/// (the stores replay them as no-ops for vectors), and a reopen drops the
/// vectors of a graph that had to be rebuilt.
#[test]
fn recovery_keeps_tombstone_vectors_for_the_graph_and_drops_the_rest() {
    let tmp = tempfile::tempdir().expect("test fixture");
    let (tail, _) = images(tmp.path());
    let parts = recover_at(&tail);
    assert_eq!(parts.report.graph_replayed, Some(2));
    // 300 original versions (60 of them now tombstones) + 50 new versions.
    assert_eq!(parts.dense[0].vectors.read().len(), 350);

    let rebuilt = tmp.path().join("rebuilt");
    quiver_testkit::crash_image(&tail, &rebuilt);
    fs::remove_file(rebuilt.join(GRAPH_FILE)).expect("test fixture");
    let parts = recover_at(&rebuilt);
    assert_eq!(parts.report.graph_replayed, None);
    assert_eq!(parts.dense[0].vectors.read().len(), 290);
    assert!(parts.needs_checkpoint);
}

/// A checkpoint file (or the payload store's snapshot) that fails its
/// checksum, or is missing after a checkpoint (no crash leaves that: every
/// one is written before the log takes its base), is rebuilt, and the
/// report names it.
#[test]
fn damaged_and_missing_checkpoints_are_reported() {
    let tmp = tempfile::tempdir().expect("test fixture");
    let (tail, _) = images(tmp.path());
    let index = index_checkpoints(&tail)
        .into_iter()
        .next()
        .expect("test fixture")
        .1;
    let index_name = index
        .file_name()
        .expect("test fixture")
        .to_string_lossy()
        .into_owned();

    let missing = tmp.path().join("missing");
    quiver_testkit::crash_image(&tail, &missing);
    for name in [GRAPH_FILE, ID_MAP_FILE, index_name.as_str()] {
        fs::remove_file(missing.join(name)).expect("test fixture");
    }
    let parts = recover_at(&missing);
    assert_eq!(parts.report.graph_replayed, None);
    for name in [GRAPH_FILE, ID_MAP_FILE, index_name.as_str()] {
        assert!(
            parts
                .report
                .damaged
                .iter()
                .any(|d| d.starts_with(name) && d.contains("missing")),
            "{name}: {:?}",
            parts.report.damaged
        );
    }

    for name in [GRAPH_FILE, ID_MAP_FILE, index_name.as_str(), "payloads.idx"] {
        let image = tmp.path().join(format!("flipped-{name}"));
        quiver_testkit::crash_image(&tail, &image);
        let path = image.join(name);
        let mut bytes = fs::read(&path).expect("test fixture");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        fs::write(&path, bytes).expect("test fixture");
        let parts = recover_at(&image);
        assert_eq!(
            parts.report.damaged.len(),
            1,
            "{name}: {:?}",
            parts.report.damaged
        );
        assert!(
            parts.report.damaged[0].starts_with(name),
            "{:?}",
            parts.report.damaged
        );
        assert_eq!(parts.state.live.len(), 290);
        assert_eq!(parts.dense[0].graph.len(), 290);
        assert!(parts.needs_checkpoint);
    }
}

/// A directory from before graph checkpoints left their vectors to the
/// store: its graph file carries every vector, and the store has dropped
/// the deleted ones. The open puts those back, so the first links-only
/// checkpoint loads too.
#[test]
fn a_graph_file_with_its_own_vectors_still_loads_and_leads_to_a_loadable_checkpoint() {
    let tmp = tempfile::tempdir().expect("test fixture");
    let dir = tmp.path().join("collections/c");
    {
        let (_db, c) = with_tombstones(tmp.path());
        // The old layout: a graph file with vectors, a store without the
        // deleted points' vectors.
        let tag = c.writer.lock().log.last_seq();
        c.dense[0]
            .graph
            .save(&dir.join(GRAPH_FILE), tag)
            .expect("test fixture");
        let mut vectors = c.dense[0].vectors.write();
        for i in 0..50 {
            vectors.delete(i).expect("test fixture");
        }
        vectors.flush_full().expect("test fixture");
    }
    let image = tmp.path().join("image");
    quiver_testkit::crash_image(&dir, &image);
    let parts = recover_at(&image);
    assert_eq!(parts.report.graph_replayed, Some(0));
    assert_eq!(
        parts.dense[0].vectors.read().len(),
        300,
        "the deleted nodes' vectors are back"
    );
    assert!(parts.needs_checkpoint);

    for _ in 0..2 {
        let db = Database::open(tmp.path()).expect("test fixture");
        let c = db.collection("c").expect("test fixture");
        assert!(
            c.repaired_on_open().is_empty(),
            "{:?}",
            c.repaired_on_open()
        );
        assert_eq!(c.info().expect("test fixture").indexed_vectors, 250);
    }
    let alone = Hnsw::load(&dir.join(GRAPH_FILE), 3, Metric::Euclid);
    assert!(alone.is_err(), "the open wrote a links-only checkpoint");
}
