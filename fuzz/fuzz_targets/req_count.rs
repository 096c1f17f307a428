//! `POST points/count` bodies, run on the fixture collection, decoded and checked as the handler does
//! (see `quiver_server::fuzzing`); rejections are errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quiver_server::fuzzing::count(data);
});
