//! HNSW checkpoints: round trip, atomic replace, and damaged files.

use crate::common_data::{clustered, items};
use quiver_core::index::hnsw::Hnsw;
use quiver_core::{HnswConfig, Metric};
use std::io::ErrorKind;

fn sample() -> (Vec<Vec<f32>>, Hnsw) {
    let data = clustered(61, 400, 8, Metric::Euclid);
    let h = Hnsw::build(8, Metric::Euclid, HnswConfig::default(), &items(&data));
    h.delete(3);
    h.delete(17);
    (data, h)
}

/// A small graph (m 4) over 4-dimensional `data`, for the damage tests.
fn small_graph(data: &[Vec<f32>]) -> Hnsw {
    let config = HnswConfig {
        m: 4,
        ef_construction: 16,
        seed: 1,
    };
    Hnsw::build(4, Metric::Euclid, config, &items(data))
}

#[test]
fn save_load_round_trip_gives_equal_results() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hnsw.graph");
    let (data, h) = sample();
    h.save(&path, 99).unwrap();
    let (back, tag) = Hnsw::load(&path, 8, Metric::Euclid).unwrap();
    assert_eq!(tag, 99);
    assert_eq!(back.len(), h.len());
    assert_eq!(back.config(), h.config());
    assert!(!back.contains(3) && !back.contains(17) && back.contains(4));
    for q in data.iter().step_by(7) {
        assert_eq!(back.search(q, 10, 32, None), h.search(q, 10, 32, None));
    }
    // The loaded index keeps working.
    back.insert(400, &data[0]).unwrap();
    assert!(
        back.search(&data[0], 2, 32, None)
            .iter()
            .any(|n| n.id == 400)
    );
    // Saving again replaces the file atomically and leaves no temporary.
    back.save(&path, 100).unwrap();
    assert_eq!(Hnsw::load(&path, 8, Metric::Euclid).unwrap().1, 100);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn empty_index_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.graph");
    Hnsw::new(5, Metric::Dot, HnswConfig::default())
        .save(&path, 1)
        .unwrap();
    let (h, _) = Hnsw::load(&path, 5, Metric::Dot).unwrap();
    assert!(h.is_empty());
    assert!(h.search(&[0.0; 5], 3, 10, None).is_empty());
}

#[test]
fn wrong_dimension_or_metric_is_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    sample().1.save(&path, 0).unwrap();
    assert_eq!(
        Hnsw::load(&path, 9, Metric::Euclid).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    assert_eq!(
        Hnsw::load(&path, 8, Metric::Cosine).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
}

#[test]
fn truncated_file_is_invalid_data_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    let h = small_graph(&clustered(1, 40, 4, Metric::Euclid));
    h.save(&path, 0).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let cut_path = dir.path().join("cut");
    for len in 0..bytes.len() {
        std::fs::write(&cut_path, &bytes[..len]).unwrap();
        let err = Hnsw::load(&cut_path, 4, Metric::Euclid).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "cut at {len}: {err}");
    }
}

#[test]
fn flipped_bytes_are_invalid_data_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    let h = small_graph(&clustered(2, 40, 4, Metric::Euclid));
    h.save(&path, 0).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad");
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x41;
        std::fs::write(&bad, &b).unwrap();
        let err = Hnsw::load(&bad, 4, Metric::Euclid).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "flip at {i}: {err}");
    }
}

#[test]
fn missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = Hnsw::load(&dir.path().join("nope"), 4, Metric::Euclid).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// A vector source over `data`, as a collection's vector store is.
fn source(data: &[Vec<f32>]) -> impl FnMut(u32, &mut [f32]) -> bool + '_ {
    |id, out| match data.get(id as usize) {
        Some(v) => {
            out.copy_from_slice(v);
            true
        }
        None => false,
    }
}

#[test]
fn a_checkpoint_without_vectors_takes_them_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.graph");
    let links = dir.path().join("links.graph");
    let (data, h) = sample();
    h.save(&full, 1).unwrap();
    h.save_without_vectors(&links, 2).unwrap();
    let vector_bytes = (data.len() * 8 * 4) as u64;
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    assert_eq!(size(&full) - size(&links), vector_bytes);

    let (back, tag) = Hnsw::load_with_vectors(&links, 8, Metric::Euclid, source(&data)).unwrap();
    assert_eq!(tag, 2);
    assert_eq!(back.len(), h.len());
    assert!(!back.contains(3) && !back.contains(17) && back.holds(3) && back.contains(4));
    for q in data.iter().step_by(7) {
        assert_eq!(back.search(q, 10, 32, None), h.search(q, 10, 32, None));
    }
    // A file with vectors loads either way.
    let (either, _) = Hnsw::load_with_vectors(&full, 8, Metric::Euclid, |_, _| false).unwrap();
    assert_eq!(
        either.search(&data[5], 5, 32, None),
        h.search(&data[5], 5, 32, None)
    );

    // Without a source, or with a node (even a deleted one) missing from
    // it, the file is refused.
    let err = Hnsw::load(&links, 8, Metric::Euclid).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    let mut without_3 = source(&data);
    let err = Hnsw::load_with_vectors(&links, 8, Metric::Euclid, |id, out| {
        id != 3 && without_3(id, out)
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("node 3"), "{err}");
}

#[test]
fn a_damaged_checkpoint_without_vectors_is_invalid_data_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    let data = clustered(3, 40, 4, Metric::Euclid);
    small_graph(&data).save_without_vectors(&path, 0).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad");
    for len in 0..bytes.len() {
        std::fs::write(&bad, &bytes[..len]).unwrap();
        let err = Hnsw::load_with_vectors(&bad, 4, Metric::Euclid, source(&data)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "cut at {len}: {err}");
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x41;
        std::fs::write(&bad, &b).unwrap();
        let err = Hnsw::load_with_vectors(&bad, 4, Metric::Euclid, source(&data)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "flip at {i}: {err}");
    }
}
