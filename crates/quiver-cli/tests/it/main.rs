//! Integration tests of the `quiver` binary: each runs the real executable
//! on a temporary database.

// Helpers outside #[test] fns fail the test by panicking.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod bench_collection;
mod bench_data;
mod bench_index;
mod check_files;
mod check_manifest;
mod commands;
mod full_disk;
mod serve;

/// Runs the real `quiver` binary with `args` on database `data`, its own
/// log at level `log` (on stderr).
fn quiver_at(log: &str, args: &[&str], data: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("QUIVER_LOG", log)
        .output()
        .unwrap()
}
