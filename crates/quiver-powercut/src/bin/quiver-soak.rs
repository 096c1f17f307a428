//! `quiver-soak MINUTES [--connections N] [--ids-per-connection N]
//! [--seed S] [--quiver BIN]`: a mixed load on a real `quiver serve` (see
//! `quiver_powercut::soak`), then the per-operation table, the server's
//! memory and descriptors over time, and last
//! `soak: O operations, E errors, L lost writes, RSS start S MiB end T MiB`.
//! Exits 1 when an operation failed or a write was lost.
//!
//! `BIN` defaults to `$QUIVER_BIN`, else the `quiver` next to this binary.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use quiver_powercut::cli::flag_pairs;
use quiver_powercut::http::quiver_bin;
use quiver_powercut::soak::{SoakConfig, run};

fn main() -> ExitCode {
    match main_inner() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("quiver-soak: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn main_inner() -> Result<bool> {
    let usage = "usage: quiver-soak MINUTES [--connections N] [--ids-per-connection N] [--seed S] [--quiver BIN]";
    let mut args = std::env::args().skip(1);
    let minutes: f64 = args
        .next()
        .and_then(|m| m.parse().ok())
        .filter(|m: &f64| m.is_finite() && *m > 0.0)
        .ok_or_else(|| anyhow!("{usage}"))?;
    let mut connections = 32;
    let mut ids_per_connection = 250;
    let mut seed: u64 = rand::random();
    let mut quiver = None;
    for (flag, value) in flag_pairs(args, usage)? {
        match flag.as_str() {
            "--connections" => connections = value.parse().context("--connections")?,
            "--ids-per-connection" => {
                ids_per_connection = value.parse().context("--ids-per-connection")?
            }
            "--seed" => seed = value.parse().context("--seed")?,
            "--quiver" => quiver = Some(value.into()),
            _ => bail!("unknown argument {flag:?}; {usage}"),
        }
    }
    let quiver = match quiver {
        Some(q) => q,
        None => quiver_bin(&std::env::current_exe().context("locating this binary")?)?,
    };
    let work = tempfile::tempdir().context("a temporary directory")?;
    let config = SoakConfig {
        quiver,
        work: work.path().to_owned(),
        duration: Duration::from_secs_f64(minutes * 60.0),
        connections,
        ids_per_connection,
        sample_every: Duration::from_secs(5),
        checkpoint_bytes: 4 << 20,
        seed,
        print_samples: true,
    };
    println!(
        "quiver-soak: {minutes} min, {connections} connections, {} ids, seed {seed}, server {}",
        connections as u64 * ids_per_connection,
        config.quiver.display()
    );
    let report = run(&config)?;
    println!("{}", report.tables(30));
    if let Some(heap) = report.second_half_heap() {
        println!("{}", heap.line());
    }
    println!("compact: {}", report.compact);
    if let Some((rss, anon)) = report.restarted_rss_kib {
        println!(
            "restarted after compaction, every point read back: RSS {:.1} MiB, of which anonymous {:.1} MiB",
            rss as f64 / 1024.0,
            anon as f64 / 1024.0
        );
    }
    for p in &report.problems {
        eprintln!("problem: {p}");
    }
    println!("{}", report.summary());
    Ok(report.errors() == 0 && report.lost_writes() == 0)
}
