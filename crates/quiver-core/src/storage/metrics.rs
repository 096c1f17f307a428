//! Growth metrics of the vector store.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many recent growth latencies are kept for the percentiles.
const LATENCY_WINDOW: usize = 4096;

/// Latency percentiles in microseconds over the recorded calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// Number of calls recorded (all time, not only the window).
    pub count: u64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 95th percentile, microseconds.
    pub p95_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// Largest latency seen, microseconds.
    pub max_us: u64,
}

/// Counters of `vectors.dat` growth. Each call that had to grow the file
/// (`ensure_capacity`, reached from `store`, `store_batch`,
/// `reserve_capacity` and replay) is timed, including the remap.
#[derive(Debug, Default)]
pub struct StorageMetrics {
    latencies_us: Mutex<VecDeque<u64>>,
    count: AtomicU64,
    max_us: AtomicU64,
    resize_count: AtomicU64,
    total_bytes_resized: AtomicU64,
}

impl StorageMetrics {
    /// Percentiles of the growth latency over the last 4096 growths (count
    /// and max over all of them); all zero before the first growth.
    pub fn ensure_capacity_latency_stats(&self) -> LatencyStats {
        let mut sorted: Vec<u64> = self.latencies_us.lock().iter().copied().collect();
        sorted.sort_unstable();
        let pick = |q: f64| -> u64 {
            if sorted.is_empty() {
                return 0;
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "index into a window of at most 4096 entries, q in 0..=1"
            )]
            let i = ((sorted.len() - 1) as f64 * q).round() as usize;
            sorted.get(i).copied().unwrap_or(0)
        };
        LatencyStats {
            count: self.count.load(Ordering::Relaxed),
            p50_us: pick(0.50),
            p95_us: pick(0.95),
            p99_us: pick(0.99),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }

    /// Number of times the data file was grown.
    pub fn resize_count(&self) -> u64 {
        self.resize_count.load(Ordering::Relaxed)
    }

    /// Bytes added to the data file by all growths together.
    pub fn total_bytes_resized(&self) -> u64 {
        self.total_bytes_resized.load(Ordering::Relaxed)
    }

    /// Record one growth of `added_bytes` that took `elapsed`.
    pub(crate) fn record_growth(&self, elapsed: Duration, added_bytes: u64) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        {
            let mut window = self.latencies_us.lock();
            if window.len() == LATENCY_WINDOW {
                window.pop_front();
            }
            window.push_back(us);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        self.resize_count.fetch_add(1, Ordering::Relaxed);
        self.total_bytes_resized
            .fetch_add(added_bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_recorded_growths() {
        let m = StorageMetrics::default();
        assert_eq!(m.ensure_capacity_latency_stats(), LatencyStats::default());
        for us in 1..=100 {
            m.record_growth(Duration::from_micros(us), 10);
        }
        let s = m.ensure_capacity_latency_stats();
        assert_eq!(s.count, 100);
        assert_eq!(s.max_us, 100);
        assert!((49..=52).contains(&s.p50_us), "{s:?}");
        assert!((94..=97).contains(&s.p95_us), "{s:?}");
        assert_eq!(m.resize_count(), 100);
        assert_eq!(m.total_bytes_resized(), 1000);
    }
}
