//! `hnsw.graph`: the first byte picks the dimension (1..=8, low 3 bits) and
//! the metric (next bits), the rest is the file, decoded raw and with its
//! CRC sealed; a graph that loads is searched and must survive a round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quiver_core::Metric;
use quiver_fuzz::{raw_and_sealed, seal_trailing_crc};

fuzz_target!(|data: &[u8]| {
    let Some((&b, file)) = data.split_first() else {
        return;
    };
    let dimension = 1 + usize::from(b & 7);
    let metric = match (b >> 3) % 3 {
        0 => Metric::Cosine,
        1 => Metric::Euclid,
        _ => Metric::Dot,
    };
    raw_and_sealed(file, seal_trailing_crc, |d| {
        let _ = quiver_core::fuzzing::hnsw_graph(d, dimension, metric);
    });
});
