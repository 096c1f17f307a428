//! `ops.log`: the first byte picks the collection's dimension (1..=8), the
//! rest is the file, decoded raw and with its header and frame CRCs sealed;
//! what decodes must survive a round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quiver_fuzz::{raw_and_sealed, seal_op_log};

fuzz_target!(|data: &[u8]| {
    let Some((&b, file)) = data.split_first() else {
        return;
    };
    let dimension = 1 + usize::from(b & 7);
    raw_and_sealed(
        file,
        |d| Some(seal_op_log(d)),
        |d| {
            let _ = quiver_core::fuzzing::op_log(d, dimension);
        },
    );
});
