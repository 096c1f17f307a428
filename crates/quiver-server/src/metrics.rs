//! Prometheus metrics: request counts and latency histograms per route, and
//! (filled in at scrape time) points and bytes per collection.
//!
//! Routes are labelled by their template (`/collections/{name}/points`), not
//! the concrete path, so the number of series stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS_SECS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Counts per bucket of `LATENCY_BUCKETS_SECS` (not cumulative) plus +Inf.
    buckets: [u64; LATENCY_BUCKETS_SECS.len() + 1],
    sum_secs: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        let i = LATENCY_BUCKETS_SECS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BUCKETS_SECS.len());
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
        }
        self.sum_secs += secs;
        self.count += 1;
    }
}

#[derive(Default)]
struct Inner {
    /// (method, route, status) -> count
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) -> latency
    latency: BTreeMap<(String, String), Histogram>,
}

/// Per-collection figures gathered at scrape time.
#[derive(Clone, Debug, Default)]
pub struct CollectionGauges {
    /// Collection name.
    pub name: String,
    /// Live points.
    pub points: u64,
    /// Bytes held in memory, by component.
    pub ram_bytes: BTreeMap<String, u64>,
    /// Bytes on disk, by component.
    pub disk_bytes: BTreeMap<String, u64>,
}

/// The server's request metrics. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        // A panic elsewhere while holding the lock leaves counters that are
        // still valid numbers, so poisoning is ignored.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *inner
            .requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        inner
            .latency
            .entry((method.to_string(), route.to_string()))
            .or_default()
            .observe(secs);
    }

    /// The Prometheus text exposition of everything recorded, plus the
    /// given per-collection gauges.
    pub fn render(&self, collections: &[CollectionGauges]) -> String {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str(
            "# HELP quiver_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE quiver_http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "quiver_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP quiver_http_request_duration_seconds HTTP request latency by method and route.\n");
        out.push_str("# TYPE quiver_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &inner.latency {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (i, bound) in LATENCY_BUCKETS_SECS.iter().enumerate() {
                cumulative += h.buckets.get(i).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "quiver_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "quiver_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "quiver_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_secs
            );
            let _ = writeln!(
                out,
                "quiver_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP quiver_collection_points Live points per collection.\n");
        out.push_str("# TYPE quiver_collection_points gauge\n");
        for c in collections {
            let _ = writeln!(
                out,
                "quiver_collection_points{{collection=\"{}\"}} {}",
                escape(&c.name),
                c.points
            );
        }
        for (metric, help, get) in [
            (
                "quiver_collection_ram_bytes",
                "Bytes held in memory per collection and component.",
                (|c: &CollectionGauges| &c.ram_bytes)
                    as fn(&CollectionGauges) -> &BTreeMap<String, u64>,
            ),
            (
                "quiver_collection_disk_bytes",
                "Bytes on disk per collection and component.",
                |c| &c.disk_bytes,
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
            for c in collections {
                for (component, bytes) in get(c) {
                    let _ = writeln!(
                        out,
                        "{metric}{{collection=\"{}\",component=\"{}\"}} {bytes}",
                        escape(&c.name),
                        escape(component)
                    );
                }
            }
        }
        out
    }
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let m = Metrics::default();
        m.record("GET", "/collections", 200, 0.0001);
        m.record("GET", "/collections", 200, 0.3);
        m.record("GET", "/collections", 404, 100.0);
        let text = m.render(&[CollectionGauges {
            name: "c".into(),
            points: 5,
            ram_bytes: BTreeMap::from([("hnsw".to_string(), 10)]),
            disk_bytes: BTreeMap::from([("vectors".to_string(), 20)]),
        }]);
        assert!(text.contains(
            "quiver_http_requests_total{method=\"GET\",route=\"/collections\",status=\"200\"} 2"
        ));
        assert!(text.contains("route=\"/collections\",le=\"0.0005\"} 1"));
        assert!(text.contains("route=\"/collections\",le=\"0.5\"} 2"));
        assert!(text.contains("route=\"/collections\",le=\"10\"} 2"));
        assert!(text.contains("route=\"/collections\",le=\"+Inf\"} 3"));
        assert!(text.contains("quiver_collection_points{collection=\"c\"} 5"));
        assert!(
            text.contains(
                "quiver_collection_disk_bytes{collection=\"c\",component=\"vectors\"} 20"
            )
        );
    }
}
