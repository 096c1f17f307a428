//! Runs one test of this binary as a child process, lets it work for a
//! while, SIGKILLs it and returns every line it printed: the harness of the
//! collection crash tests.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs the test `name` (its child mode switched on by `env`), kills it
/// after `run_for`, and returns its stdout lines (a line cut by the kill is
/// never returned half: each is one write to a pipe).
pub fn run_and_kill(name: &str, env: &[(&str, String)], run_for: Duration) -> Vec<String> {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn the child test");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(|l| l.ok())
            .collect::<Vec<String>>()
    });
    std::thread::sleep(run_for);
    child.kill().expect("kill the child");
    child.wait().expect("reap the child");
    reader.join().expect("reader thread")
}
