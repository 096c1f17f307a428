//! Power cuts under the real `quiver serve` binary, driven over HTTP (see
//! `quiver_powercut::server_cut`). Needs the `quiver` binary of the same
//! target directory (built by `cargo test --workspace`, or
//! `cargo build -p quiver-cli`), or `QUIVER_BIN`.
//!
//! `QUIVER_POWERCUT_CUTS` sets the cuts (default 40);
//! `QUIVER_POWERCUT_SEED` replays a run (the seed is printed).

use quiver_powercut::PowerCutFs;
use quiver_powercut::http::quiver_bin;
use quiver_powercut::server_cut::{CutConfig, run};

#[test]
fn server_keeps_every_acknowledged_write_across_power_cuts() {
    const TEST: &str = "server_keeps_every_acknowledged_write_across_power_cuts";
    let fs_bin = env!("CARGO_BIN_EXE_powercut-fs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).expect("mkdir");
    let Some(mut m) = PowerCutFs::new(fs_bin).mount_or_skip(&disk, TEST) else {
        return;
    };
    let quiver = quiver_bin(std::path::Path::new(fs_bin)).expect("the quiver binary");
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let config = CutConfig {
        quiver,
        cuts: env("QUIVER_POWERCUT_CUTS").map_or(40, |n: u64| n as usize),
        seed: env("QUIVER_POWERCUT_SEED").unwrap_or_else(rand::random),
        writers: 4,
        log: tmp.path().join("serve.log"),
        checkpoint_bytes: 8192,
    };
    let f = run(&config, &mut m).expect("the power-cut run");
    drop(m);
    eprintln!(
        "{TEST}: seed={} {} in_flight_kept={} errors={}",
        config.seed,
        f.summary(),
        f.in_flight_kept,
        f.errors
    );
    assert!(f.cuts == config.cuts && f.acked_writes > 0, "{f:#?}");
    assert!(f.passed(), "QUIVER_POWERCUT_SEED={}: {f:#?}", config.seed);
}
