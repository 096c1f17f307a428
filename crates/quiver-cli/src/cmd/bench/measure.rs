//! How the bench measures: timed passes over the queries, and what Linux
//! reports about this process (CPU time, resident memory, CPU model).

use std::time::{Duration, Instant};

/// Calls `search(i)` for every query `i` in `0..queries`, pass after pass,
/// until `min_time` seconds have passed or `max_passes` passes (at least
/// one) were made, timing each call alone and handing its result to
/// `keep(pass, result)`. Returns the latency of every call, microseconds.
///
/// # Errors
/// The first error of `search` or `keep`.
pub fn timed_passes<T>(
    queries: usize,
    max_passes: usize,
    min_time: f64,
    mut search: impl FnMut(usize) -> anyhow::Result<T>,
    mut keep: impl FnMut(usize, T) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    let mut lat_us = Vec::with_capacity(queries * max_passes);
    let start = Instant::now();
    for pass in 0..max_passes.max(1) {
        for i in 0..queries {
            let t = Instant::now();
            let result = search(i)?;
            lat_us.push(t.elapsed().as_secs_f64() * 1e6);
            keep(pass, result)?;
        }
        if start.elapsed() >= Duration::from_secs_f64(min_time) {
            break;
        }
    }
    Ok(lat_us)
}

/// Resident set size of this process in bytes (Linux), for the build's
/// memory delta.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// CPU time this thread has run, in nanoseconds (Linux), to report how much
/// of the wall time the single-thread timing really got on a busy machine.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU time of the whole process in seconds (Linux; clock ticks of 10 ms).
pub fn process_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The CPU model from `/proc/cpuinfo`, or the architecture's name.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
