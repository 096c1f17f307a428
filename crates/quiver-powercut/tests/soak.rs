//! A short soak of the real `quiver serve` (see `quiver_powercut::soak`):
//! every operation answers, and every acknowledged write is there, live
//! and after a restart with compaction. Needs the `quiver` binary of the
//! same target directory, or `QUIVER_BIN`.

use std::path::Path;
use std::time::Duration;

use quiver_powercut::http::quiver_bin;
use quiver_powercut::soak::{SoakConfig, run};

#[test]
fn short_soak_has_no_errors_and_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sibling = Path::new(env!("CARGO_BIN_EXE_powercut-fs"));
    let config = SoakConfig {
        quiver: quiver_bin(sibling).expect("the quiver binary"),
        work: tmp.path().to_owned(),
        duration: Duration::from_secs(8),
        connections: 32,
        ids_per_connection: 20,
        sample_every: Duration::from_secs(1),
        // Small, so automatic checkpoints happen during the run.
        checkpoint_bytes: 256 << 10,
        seed: rand::random(),
        print_samples: false,
    };
    let report = run(&config).expect("the soak");
    eprintln!("seed {}: {}", config.seed, report.summary());
    eprintln!("{}", report.tables(10));
    let writes = ["upsert", "delete", "set_payload"]
        .iter()
        .filter_map(|op| report.ops.get(op))
        .map(|s| s.micros.len())
        .sum::<usize>();
    assert!(writes > 0 && !report.samples.is_empty(), "{report:#?}");
    assert_eq!(
        (report.errors(), report.lost_writes()),
        (0, 0),
        "seed {}: {:#?}",
        config.seed,
        report.problems
    );
}
