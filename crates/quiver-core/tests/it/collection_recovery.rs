//! Reopening from crash images: the files as a killed process leaves them
//! (copied while the collection is open), with the graph or payload index
//! checkpoint missing, corrupt or stale, and with a torn op log tail.

use std::fs;
use std::path::Path;

use quiver_core::filter::{FieldType, Filter};
use quiver_core::{
    CollectionConfig, Database, Metric, Point, PointId, PointSelector, SearchRequest,
};
use quiver_testkit::crash_image;
use serde_json::json;

const DIM: usize = 4;

fn point(id: u64, version: u64) -> Point {
    let payload = json!({"v": version, "group": id % 3});
    Point::new(id, vec![id as f32, version as f32, 0.0, 1.0])
        .with_payload(payload.as_object().expect("object").clone())
}

fn group(g: u64) -> Filter {
    serde_json::from_value(json!({"must": [{"key": "group", "match": {"value": g}}]}))
        .expect("filter")
}

/// Writes 300 points, checkpoints, then rewrites, deletes and re-tags some
/// without a checkpoint. Returns the image directory holding both.
fn build(tmp: &Path) -> std::path::PathBuf {
    let live = tmp.join("live");
    let db = Database::open(&live).expect("test fixture");
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::Euclid))
        .expect("test fixture");
    c.create_field_index("group", FieldType::Integer)
        .expect("test fixture");
    c.upsert((0..300).map(|i| point(i, 0)).collect())
        .expect("test fixture");
    c.flush().expect("test fixture");
    fs::copy(
        live.join("collections/c/hnsw.graph"),
        tmp.join("first.graph"),
    )
    .expect("test fixture");
    c.upsert((0..50).map(|i| point(i, 1)).collect())
        .expect("test fixture");
    c.flush().expect("test fixture");
    // After the second checkpoint: only in the op log.
    c.upsert((50..100).map(|i| point(i, 2)).collect())
        .expect("test fixture");
    c.delete(&PointSelector::Ids((200..220).map(PointId::Num).collect()))
        .expect("test fixture");
    c.overwrite_payload(
        &PointSelector::Ids(vec![PointId::Num(1)]),
        json!({"v": 1, "group": 2})
            .as_object()
            .expect("test fixture")
            .clone(),
    )
    .expect("test fixture");
    let image = tmp.join("image");
    crash_image(&live, &image);
    image
}

/// Checks the state `build` acknowledged.
fn check(dir: &Path) {
    let db = Database::open(dir).expect("test fixture");
    let c = db.collection("c").expect("test fixture");
    assert_eq!(c.count(None).expect("test fixture"), 280);
    let info = c.info().expect("test fixture");
    assert_eq!(info.indexed_vectors, 280);
    let got = c
        .get(
            &[
                PointId::Num(10),
                PointId::Num(60),
                PointId::Num(150),
                PointId::Num(205),
            ],
            true,
            true,
        )
        .expect("test fixture");
    let versions: Vec<(PointId, u64)> = got
        .iter()
        .map(|r| {
            (
                r.id,
                r.payload.as_ref().expect("test fixture")["v"]
                    .as_u64()
                    .expect("test fixture"),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            (PointId::Num(10), 1),
            (PointId::Num(60), 2),
            (PointId::Num(150), 0)
        ]
    );
    assert_eq!(
        got[1].vector().map(<[f32]>::to_vec),
        Some(vec![60.0, 2.0, 0.0, 1.0])
    );
    // Payload index: group 2 lost nothing, gained point 1, lost 200..220's members.
    let want_group2 = (0..300u64)
        .filter(|i| !(200..220).contains(i))
        .filter(|&i| i % 3 == 2 || i == 1)
        .count() as u64;
    assert_eq!(c.count(Some(&group(2))).expect("test fixture"), want_group2);
    // Graph: a rewritten point is reachable in the recovered graph. The
    // beam covers every point, so this checks what recovery owns (the
    // point is linked), not the recall of a greedy search on points laid
    // out on a line.
    let mut nearest = SearchRequest::new(vec![60.0, 2.0, 0.0, 1.0], 1);
    nearest.ef = Some(300);
    let hits = c.search(&nearest).expect("test fixture");
    assert_eq!(hits[0].id, PointId::Num(60));
    let hits = c
        .search(&SearchRequest::new(vec![205.0, 0.0, 0.0, 1.0], 300))
        .expect("test fixture");
    assert_eq!(hits.len(), 280);
    assert!(hits.iter().all(|h| !matches!(h.id, PointId::Num(200..220))));
}

#[test]
fn crash_image_replays_the_log_onto_the_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    check(&image);
    // The reopen checkpointed: a second open replays nothing and agrees.
    let log = fs::metadata(image.join("collections/c/ops.log"))
        .unwrap()
        .len();
    assert_eq!(log, 20);
    check(&image);
}

#[test]
fn missing_or_corrupt_graph_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    let graph = image.join("collections/c/hnsw.graph");
    let copy = tmp.path().join("copy");
    crash_image(&image, &copy);
    fs::remove_file(&graph).unwrap();
    check(&image);

    let graph = copy.join("collections/c/hnsw.graph");
    let mut bytes = fs::read(&graph).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    bytes.truncate(bytes.len() - 7);
    fs::write(&graph, bytes).unwrap();
    check(&copy);
}

#[test]
fn stale_graph_checkpoint_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    // The graph of the first checkpoint: its tag is older than the log.
    fs::copy(
        tmp.path().join("first.graph"),
        image.join("collections/c/hnsw.graph"),
    )
    .unwrap();
    check(&image);
}

#[test]
fn missing_or_corrupt_payload_index_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    let copy = tmp.path().join("copy");
    crash_image(&image, &copy);
    let index_files = |dir: &Path| -> Vec<std::path::PathBuf> {
        fs::read_dir(dir.join("collections/c"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("payload_index.")
            })
            .collect()
    };
    let files = index_files(&image);
    assert_eq!(files.len(), 1, "{files:?}");
    fs::remove_file(&files[0]).unwrap();
    check(&image);

    for f in index_files(&copy) {
        let mut bytes = fs::read(&f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        fs::write(&f, bytes).unwrap();
    }
    check(&copy);
}

#[test]
fn torn_op_log_tail_loses_only_the_last_write_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    // Append a write, then cut its frame short: a crash during the append.
    {
        let copy = tmp.path().join("with_extra");
        crash_image(&image, &copy);
        let db = Database::open(&copy).unwrap();
        db.collection("c")
            .unwrap()
            .upsert((0..300).map(|i| point(i, 9)).collect())
            .unwrap();
        let log = fs::read(copy.join("collections/c/ops.log")).unwrap();
        let before = fs::metadata(image.join("collections/c/ops.log"))
            .unwrap()
            .len() as usize;
        // `Database::open` of the copy checkpointed, so its log holds only
        // the new frame: graft the cut frame onto the image's log.
        let frame = &log[20..];
        assert!(frame.len() > 1000);
        let mut torn = fs::read(image.join("collections/c/ops.log")).unwrap();
        assert_eq!(torn.len(), before);
        torn.extend_from_slice(&frame[..frame.len() / 2]);
        fs::write(image.join("collections/c/ops.log"), torn).unwrap();
    }
    check(&image);
    let db = Database::open(&image).unwrap();
    let c = db.collection("c").unwrap();
    // Writes continue after the cut.
    c.upsert(vec![point(7, 5)]).unwrap();
    drop((c, db));
    let db = Database::open(&image).unwrap();
    let got = db
        .collection("c")
        .unwrap()
        .get(&[PointId::Num(7)], true, false)
        .unwrap();
    assert_eq!(got[0].payload.as_ref().unwrap()["v"], json!(5));
}

#[test]
fn flush_only_collection_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let db = Database::open(&live).unwrap();
    let mut config = CollectionConfig::new(DIM, Metric::Euclid);
    config.durability = quiver_core::storage::DurabilityMode::FlushOnly;
    let c = db.create_collection("c", config).unwrap();
    c.upsert((0..10).map(|i| point(i, 3)).collect()).unwrap();
    let image = tmp.path().join("image");
    crash_image(&live, &image);
    let db2 = Database::open(&image).unwrap();
    assert_eq!(db2.collection("c").unwrap().count(None).unwrap(), 10);
}

/// `build`'s image, opened once so it checkpoints: the log is empty and
/// every checkpoint file is written. Returns the collection's directory.
fn checkpointed(tmp: &Path) -> std::path::PathBuf {
    let image = build(tmp);
    check(&image);
    image
}

fn open_err(image: &Path) -> quiver_core::Error {
    let db = Database::open(image).expect("test fixture");
    db.collection("c").expect_err("the open must fail")
}

#[test]
fn truncated_payload_log_fails_the_open_instead_of_bringing_deleted_points_back() {
    let tmp = tempfile::tempdir().unwrap();
    let image = checkpointed(tmp.path());
    let log = image.join("collections/c/payloads.log");
    let bytes = fs::read(&log).unwrap();
    fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
    let err = open_err(&image);
    assert_eq!(err.kind(), quiver_core::ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("payloads.log"), "{err}");
}

#[test]
fn deleted_payload_log_fails_the_open_instead_of_emptying_the_collection() {
    let tmp = tempfile::tempdir().unwrap();
    let image = checkpointed(tmp.path());
    fs::remove_file(image.join("collections/c/payloads.log")).unwrap();
    let err = open_err(&image);
    assert_eq!(err.kind(), quiver_core::ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("payloads.log"), "{err}");
    assert!(!image.join("collections/c/payloads.log").exists());
}

#[test]
fn deleted_vector_files_fail_the_open() {
    let tmp = tempfile::tempdir().unwrap();
    let image = checkpointed(tmp.path());
    let copy = tmp.path().join("copy");
    crash_image(&image, &copy);
    fs::remove_file(image.join("collections/c/vectors.idx")).unwrap();
    let err = open_err(&image);
    assert!(err.to_string().contains("vectors.idx"), "{err}");
    fs::remove_file(copy.join("collections/c/vectors.dat")).unwrap();
    let err = open_err(&copy);
    assert!(err.to_string().contains("vectors.dat"), "{err}");
}

#[test]
fn damaged_vectors_are_reported_by_verify_files() {
    let tmp = tempfile::tempdir().unwrap();
    let image = checkpointed(tmp.path());
    {
        let db = Database::open(&image).unwrap();
        let files = db.collection("c").unwrap().verify_files().unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.file.as_str()).collect();
        for want in [
            "config.json",
            "hnsw.graph",
            "ids.map",
            "ops.log",
            "payloads.idx",
            "payloads.log",
            "vectors.dat",
            "vectors.idx",
        ] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        assert!(
            files.iter().all(|f| f.state == quiver_core::FileState::Ok),
            "{files:?}"
        );
    }
    let data = image.join("collections/c/vectors.dat");
    let mut bytes = fs::read(&data).unwrap();
    // Slot 150 holds point 150's only version (the first upsert filled slots 0..300).
    bytes[DIM * 4 * 150 + 2] ^= 0x01;
    fs::write(&data, &bytes).unwrap();
    let db = Database::open(&image).unwrap();
    let files = db.collection("c").unwrap().verify_files().unwrap();
    let dat = files.iter().find(|f| f.file == "vectors.dat").unwrap();
    assert_eq!(dat.state, quiver_core::FileState::Damaged, "{dat:?}");
    assert!(dat.detail.starts_with("1 of "), "{dat:?}");
    drop(db);
    fs::write(&data, vec![0u8; bytes.len()]).unwrap();
    let db = Database::open(&image).unwrap();
    let files = db.collection("c").unwrap().verify_files().unwrap();
    let dat = files.iter().find(|f| f.file == "vectors.dat").unwrap();
    assert_eq!(dat.state, quiver_core::FileState::Damaged, "{dat:?}");
    let (bad, total) = dat
        .detail
        .split_once(" vectors are bad")
        .and_then(|(counts, _)| counts.split_once(" of "))
        .unwrap();
    assert_eq!(bad, total, "{dat:?}");
}

#[test]
fn missing_checkpoint_files_are_rebuilt_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let image = checkpointed(tmp.path());
    let dir = image.join("collections/c");
    let index = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("payload_index."))
        .unwrap();
    for name in ["hnsw.graph", "ids.map", "payloads.idx", index.as_str()] {
        let copy = tmp.path().join(format!("without-{name}"));
        crash_image(&image, &copy);
        fs::remove_file(copy.join("collections/c").join(name)).unwrap();
        {
            let db = Database::open(&copy).unwrap();
            let c = db.collection("c").unwrap();
            let repaired = c.repaired_on_open();
            assert!(
                repaired
                    .iter()
                    .any(|r| r.starts_with(name) && r.contains("missing")),
                "{name}: {repaired:?}"
            );
            let files = c.verify_files().unwrap();
            let f = files.iter().find(|f| f.file == name).unwrap();
            assert_eq!(f.state, quiver_core::FileState::RepairedOnOpen, "{f:?}");
        }
        check(&copy);
        // Rebuilt and checkpointed: the next open finds nothing to report.
        let db = Database::open(&copy).unwrap();
        assert_eq!(
            db.collection("c").unwrap().repaired_on_open(),
            &[] as &[String]
        );
    }
}

/// Byte ranges of the frames of an `ops.log`.
fn frames(log: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 20;
    while pos + 8 <= log.len() {
        let len = u32::from_le_bytes(log[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        out.push(pos..pos + 8 + len);
        pos += 8 + len;
    }
    out
}

#[test]
fn a_bad_byte_mid_log_is_corruption_and_repair_cuts_the_log_there() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    let log = image.join("collections/c/ops.log");
    let bytes = fs::read(&log).unwrap();
    let f = frames(&bytes);
    assert_eq!(f.len(), 3, "build leaves three operations in the log");
    let mut bad = bytes.clone();
    bad[f[1].start + 30] ^= 0x40;
    fs::write(&log, &bad).unwrap();
    let err = open_err(&image);
    assert_eq!(err.kind(), quiver_core::ErrorKind::Corrupt, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("ops.log")
            && msg.contains(&format!("at byte {}", f[1].start))
            && msg.contains("1 valid frames follow"),
        "{msg}"
    );
    // Nothing was cut by the failed open.
    assert_eq!(fs::read(&log).unwrap(), bad);
    let db = Database::open(&image).unwrap();
    let repair = db.repair_op_log("c").unwrap().expect("the log is damaged");
    assert_eq!(repair.cut_at, f[1].start as u64);
    assert_eq!(repair.dropped_frames, 2);
    assert_eq!(repair.dropped_bytes, (bytes.len() - f[1].start) as u64);
    let c = db.collection("c").unwrap();
    // The first logged operation (points 50..100 at version 2) survived.
    let got = c
        .get(&[PointId::Num(60), PointId::Num(205)], true, false)
        .unwrap();
    assert_eq!(got.len(), 2, "the delete of 200..220 was dropped");
    assert_eq!(got[0].payload.as_ref().unwrap()["v"], 2);
    assert_eq!(c.count(None).unwrap(), 300);
    assert_eq!(c.repaired_on_open(), &[] as &[String], "the stores agree");
    assert_eq!(
        db.repair_op_log("c").unwrap_err().kind(),
        quiver_core::ErrorKind::InvalidInput
    );
}

#[test]
fn a_sequence_gap_is_corruption_and_a_torn_tail_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    let copy = tmp.path().join("copy");
    crash_image(&image, &copy);
    let log = image.join("collections/c/ops.log");
    let bytes = fs::read(&log).unwrap();
    let f = frames(&bytes);
    // Frame 2 removed whole: frame 3 has a good CRC but the wrong sequence.
    let mut gap = bytes[..f[1].start].to_vec();
    gap.extend_from_slice(&bytes[f[2].clone()]);
    fs::write(&log, &gap).unwrap();
    let err = open_err(&image);
    assert!(err.to_string().contains("sequence"), "{err}");
    let db = Database::open(&image).unwrap();
    let repair = db.repair_op_log("c").unwrap().unwrap();
    assert_eq!(repair.dropped_frames, 1);
    assert!(db.collection("c").is_ok());
    drop(db);

    // The last frame cut short: a torn tail, cut at open as before.
    let log = copy.join("collections/c/ops.log");
    fs::write(&log, &bytes[..f[2].end - 3]).unwrap();
    let db = Database::open(&copy).unwrap();
    assert_eq!(db.repair_op_log("c").unwrap(), None);
    let c = db.collection("c").unwrap();
    assert_eq!(c.count(None).unwrap(), 280);
}

#[test]
fn a_damaged_payload_record_fails_only_the_reads_that_need_it() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(DIM, Metric::Euclid))
            .unwrap();
        let points = (0..30)
            .map(|id| {
                let payload = json!({"name": format!("point number {id}"), "group": id % 3});
                Point::new(id, vec![id as f32, 1.0, 0.0, 1.0])
                    .with_payload(payload.as_object().expect("object").clone())
            })
            .collect();
        c.upsert(points).unwrap();
        c.flush().unwrap();
    }
    let log = tmp.path().join("collections/c/payloads.log");
    quiver_testkit::flip_first(&log, b"point number 17");

    let db = Database::open(tmp.path()).unwrap();
    let c = db
        .collection("c")
        .expect("a damaged record does not stop the open");
    let err = c.get(&[PointId::Num(17)], true, false).unwrap_err();
    assert_eq!(err.kind(), quiver_core::ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("payloads.log"), "{err}");
    let other = c.get(&[PointId::Num(16)], true, false).unwrap();
    assert_eq!(other.len(), 1);
    // A filter that must look at the damaged payload fails, and so does
    // indexing the field; a search without a filter does not need it.
    let mut req = SearchRequest::new(vec![17.0, 1.0, 0.0, 1.0], 5);
    req.filter = Some(group(2));
    assert_eq!(
        c.search(&req).unwrap_err().kind(),
        quiver_core::ErrorKind::Corrupt
    );
    assert_eq!(
        c.create_field_index("group", FieldType::Integer)
            .unwrap_err()
            .kind(),
        quiver_core::ErrorKind::Corrupt
    );
    let unfiltered = c
        .search(&SearchRequest::new(vec![16.0, 1.0, 0.0, 1.0], 1))
        .unwrap();
    assert_eq!(unfiltered[0].id, PointId::Num(16));
}

/// Found by the `ops_log` fuzz target: a log header (with a good checksum)
/// whose base sequence number is `u64::MAX` made the scan overflow
/// computing the next one (a panic in debug builds, a wrap to 0 in
/// release). It is damage, and the open says so.
#[test]
fn op_log_header_with_the_last_sequence_number_is_corrupt_not_an_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let image = checkpointed(tmp.path());
    let mut header = b"QVOPLOG1".to_vec();
    header.extend_from_slice(&u64::MAX.to_le_bytes());
    let crc = crc32fast::hash(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    fs::write(image.join("collections/c/ops.log"), &header).unwrap();
    let err = open_err(&image);
    assert_eq!(err.kind(), quiver_core::ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("base sequence number"), "{err}");
}
