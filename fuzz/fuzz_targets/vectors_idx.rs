//! `vectors.idx`, the vector store's checkpoint: decoded raw and with its CRC sealed; what
//! decodes must survive a round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quiver_fuzz::{raw_and_sealed, seal_trailing_crc};

fuzz_target!(|data: &[u8]| {
    raw_and_sealed(data, seal_trailing_crc, |d| {
        let _ = quiver_core::fuzzing::vector_index(d);
    });
});
