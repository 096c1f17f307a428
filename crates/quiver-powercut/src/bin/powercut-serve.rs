//! `powercut-serve N [--seed S] [--writers W] [--quiver BIN]`: N power cuts
//! under a real `quiver serve` whose data directory is on a power-cut disk
//! (see `quiver_powercut::server_cut`). Prints the seed first and
//! `N cuts, A acknowledged writes, L lost, T torn` last; exits 1 when
//! anything was lost or torn or a write failed.
//!
//! `BIN` defaults to `$QUIVER_BIN`, else the `quiver` next to this binary.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use quiver_powercut::PowerCutFs;
use quiver_powercut::cli::flag_pairs;
use quiver_powercut::http::quiver_bin;
use quiver_powercut::server_cut::{CutConfig, run};

fn main() -> ExitCode {
    match main_inner() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("powercut-serve: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn main_inner() -> Result<bool> {
    let me = std::env::current_exe().context("locating this binary")?;
    let mut args = std::env::args().skip(1);
    let usage = "usage: powercut-serve N [--seed S] [--writers W] [--quiver BIN]";
    let cuts: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("{usage}"))?;
    let mut seed: u64 = rand::random();
    let mut writers = 4;
    let mut quiver = None;
    for (flag, value) in flag_pairs(args, usage)? {
        match flag.as_str() {
            "--seed" => seed = value.parse().context("--seed")?,
            "--writers" => writers = value.parse().context("--writers")?,
            "--quiver" => quiver = Some(value.into()),
            _ => bail!("unknown argument {flag:?}; {usage}"),
        }
    }
    let quiver = match quiver {
        Some(q) => q,
        None => quiver_bin(&me)?,
    };
    let work = tempfile::tempdir().context("a temporary directory")?;
    let mountpoint = work.path().join("disk");
    std::fs::create_dir(&mountpoint)?;
    let fs = PowerCutFs::new(me.with_file_name("powercut-fs"));
    let mut m = fs
        .mount(&mountpoint)
        .context("mounting the power-cut disk")?;
    let config = CutConfig {
        quiver,
        cuts,
        seed,
        writers,
        log: work.path().join("serve.log"),
        checkpoint_bytes: 8192,
    };
    println!(
        "powercut-serve: seed {seed}, {cuts} cuts, {writers} clients, server {}",
        config.quiver.display()
    );
    let began = Instant::now();
    let figures = run(&config, &mut m)?;
    m.unmount().context("unmounting")?;
    for p in &figures.problems {
        eprintln!("problem: {p}");
    }
    println!(
        "seed {seed}: {} in-flight writes kept whole, {} error answers, {:.0} s",
        figures.in_flight_kept,
        figures.errors,
        began.elapsed().as_secs_f64()
    );
    println!("{}", figures.summary());
    Ok(figures.passed())
}
