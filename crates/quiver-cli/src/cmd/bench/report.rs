//! What a bench run prints and writes: the per-`ef` table on stdout (the
//! same columns for both benches, so they compare line by line) and the
//! JSON files.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use super::stats::{Latency, PerEf};

/// One line of the table: the medians over the repeats of one `ef`.
pub struct Row {
    /// Search beam width.
    pub ef: usize,
    /// Recall@k of the first repeat.
    pub recall: f64,
    /// Single-thread queries per second.
    pub qps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Queries/s of the same searches without payloads (collection bench).
    pub qps_no_payload: Option<f64>,
}

impl Row {
    /// The medians over the repeats of `run`, whose cells hold their
    /// timings where `latency` says (no `qps_no_payload`).
    pub fn median_of<C>(run: &PerEf<C>, latency: impl Fn(&C) -> &Latency) -> Row {
        Row {
            ef: run.ef,
            recall: run.recall,
            qps: run.median(|c| latency(c).qps),
            p50_us: run.median(|c| latency(c).p50_us),
            p99_us: run.median(|c| latency(c).p99_us),
            qps_no_payload: None,
        }
    }

    /// The row as a `runs` entry of the summary JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"ef": self.ef, "recall": self.recall, "qps": self.qps,
            "p50_us": self.p50_us, "p99_us": self.p99_us});
        if let (Some(q), Some(map)) = (self.qps_no_payload, v.as_object_mut()) {
            map.insert("qps_no_payload".into(), json!(q));
        }
        v
    }
}

/// Prints the table of `rows`, with the `qps_no_payload` column when the
/// rows have it.
pub fn print_table(rows: &[Row]) {
    let no_payload = rows.iter().any(|r| r.qps_no_payload.is_some());
    let mut header = format!(
        "{:>6} {:>9} {:>10} {:>9} {:>9}",
        "ef", "recall", "qps", "p50_us", "p99_us"
    );
    if no_payload {
        header.push_str(&format!(" {:>16}", "qps_no_payload"));
    }
    println!("{header}");
    for r in rows {
        let mut line = format!(
            "{:>6} {:>9.4} {:>10.1} {:>9.1} {:>9.1}",
            r.ef, r.recall, r.qps, r.p50_us, r.p99_us
        );
        if let Some(q) = r.qps_no_payload {
            line.push_str(&format!(" {q:>16.1}"));
        }
        println!("{line}");
    }
}

/// Writes `v` as pretty JSON to `path`, creating its directory.
///
/// # Errors
/// The directory or the file cannot be written.
pub fn write_json(path: &Path, v: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(v)?;
    std::fs::write(path, text).with_context(|| format!("{}", path.display()))
}
