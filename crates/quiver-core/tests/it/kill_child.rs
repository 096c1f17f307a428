//! Child processes of this test binary: the harness of the tests that need
//! a second process (a writer to SIGKILL, a second opener of a database, a
//! writer on a full disk).
//!
//! A child is an `#[ignore]`d `#[test]` of this binary, its "child entry".
//! A plain `cargo test` skips it and runs its parent, which re-runs this
//! binary with `--ignored --exact <child>` and the environment the child
//! reads. A child entry run any other way (`cargo test -- --ignored`)
//! panics through [`parent_env`] instead of passing without testing
//! anything.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The command that runs only the child entry `name` (its full test path,
/// `module::test`) of this test binary, with its output not captured so
/// that the parent can read what it prints. The caller adds the
/// environment and the stdio it wants.
pub fn child_command(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(Stdio::null());
    cmd
}

/// How long a child may take to show the progress [`run_and_kill`] waits
/// for; past it the child is killed anyway and the parent's own progress
/// assertions fail.
const PROGRESS_DEADLINE: Duration = Duration::from_secs(120);

/// Runs the child entry `name` with `env` set and SIGKILLs it `run_for`
/// after it has printed `min_acks` lines containing `ACK` (the children's
/// word for an acknowledged step), so that every run makes progress however
/// loaded the machine is, and the kill still lands at a random point of the
/// work. Returns every line the child printed to stdout in whole: a last
/// line the kill cut before its newline is left out.
pub fn run_and_kill(
    name: &str,
    env: &[(&str, String)],
    min_acks: usize,
    run_for: Duration,
) -> Vec<String> {
    let mut cmd = child_command(name);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn the child test");
    let stdout = child.stdout.take().expect("piped stdout");
    let (acks_tx, acks_rx) = mpsc::channel();
    // Read while the child runs, so that a full pipe never stalls it.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut stdout = BufReader::new(stdout);
        loop {
            let start = out.len();
            match stdout.read_until(b'\n', &mut out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if out[start..].windows(3).any(|w| w == b"ACK") {
                        // The parent stops listening once it has seen enough.
                        let _ = acks_tx.send(());
                    }
                }
            }
        }
        out
    });
    let began = Instant::now();
    let mut acks = 0;
    while acks < min_acks {
        let left = PROGRESS_DEADLINE.saturating_sub(began.elapsed());
        match acks_rx.recv_timeout(left) {
            Ok(()) => acks += 1,
            // The child ended (its stdout closed) or took too long.
            Err(_) => break,
        }
    }
    std::thread::sleep(run_for);
    child.kill().expect("kill the child");
    child.wait().expect("reap the child");
    let out = reader.join().expect("reader thread");
    let mut lines: Vec<String> = out
        .split(|&b| b == b'\n')
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect();
    // What follows the last newline: empty, or a line cut by the kill.
    lines.pop();
    lines
}

/// The value of `var` in a child entry of the test `parent`, which sets it
/// when it starts the child.
///
/// # Panics
/// When `var` is not set: the child entry was run on its own, not by its
/// parent, and would test nothing.
pub fn parent_env(var: &str, parent: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "this is a child entry of the test `{parent}`, which runs it with {var} set; \
             on its own it tests nothing: run `{parent}` instead"
        )
    })
}
