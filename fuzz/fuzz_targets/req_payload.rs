//! The payload writes: the first byte picks set, overwrite, delete keys or
//! clear, the rest is the body, decoded and checked as the handler does
//! (see `quiver_server::fuzzing`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let _ = quiver_server::fuzzing::payload(kind, body);
});
