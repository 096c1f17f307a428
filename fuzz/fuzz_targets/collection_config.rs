//! A collection's `config.json`: what decodes must be in bounds and
//! survive a round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quiver_core::fuzzing::collection_config(data);
});
