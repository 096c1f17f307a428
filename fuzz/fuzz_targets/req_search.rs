//! The search family: the first byte picks search, search batch, query or
//! query batch, the rest is the body, decoded and run on the fixture
//! collection as the handler does (see `quiver_server::fuzzing`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let _ = quiver_server::fuzzing::search(kind, body);
});
