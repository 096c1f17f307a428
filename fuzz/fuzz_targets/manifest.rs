//! The database manifest `quiver.json`: what decodes must survive a round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quiver_core::fuzzing::manifest(data);
});
