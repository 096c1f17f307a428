//! `vectors.wal` and `payloads.log` records (one layout): frames up to the
//! first torn one; the frames read must re-encode to the bytes they came
//! from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quiver_fuzz::{raw_and_sealed, seal_records};

fuzz_target!(|data: &[u8]| {
    raw_and_sealed(
        data,
        |d| Some(seal_records(d, 0)),
        |d| {
            let _ = quiver_core::fuzzing::wal_records(d);
        },
    );
});
