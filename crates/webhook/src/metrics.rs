//! Prometheus metrics (`prometheus-client`), served in the Prometheus text format 0.0.4 as
//! upstream serves them ([`crate::exposition`]).
//!
//! Upstream's metrics keep their names, types, labels and help texts ([`UPSTREAM_METRICS`]), so
//! that dashboards and alerts written for amazon-eks-pod-identity-webhook work unchanged:
//! `http_request_count` (a counter without `_total`), `http_request_latencies` (µs),
//! `http_request_duration_microseconds` (a summary of `_sum` and `_count`),
//! `pod_identity_webhook_pod_count{method}`, `pod_identity_webhook_missing_sa_count`,
//! `pod_identity_webhook_used`. irsa adds finer-grained latency
//! (`irsa_webhook_request_duration_seconds`), review outcomes and cache sizes under its own names.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::admission::Decision;
use crate::store::IdentityStore;

/// `verb`, `path`, `code`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub verb: String,
    /// Request path.
    pub path: String,
    /// Status code.
    pub code: String,
}

/// `verb`, `path`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub verb: String,
    /// Request path.
    pub path: String,
}

/// `method` (`sts_web_identity` / `container_credentials`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// Mode.
    pub method: String,
}

/// `result`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `mutated`, `unchanged`, `no_identity`, `ignored`, `rejected`.
    pub result: String,
}

/// `annotated`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `"true"` / `"false"`.
    pub annotated: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Upstream's metrics (amazon-eks-pod-identity-webhook `pkg/handler/middleware.go` and
/// `pkg/cache/cache.go`) as `(name, type, labels)`; `certificate_manager_server_rotation_seconds`
/// belongs to the `--in-cluster=true` certificate flow, which irsa does not implement, and the
/// `go_*` collectors to Go.
pub const UPSTREAM_METRICS: &[(&str, &str, &[&str])] = &[
    ("http_request_count", "counter", &["verb", "path", "code"]),
    ("http_request_latencies", "histogram", &["verb", "path"]),
    ("http_request_duration_microseconds", "summary", &["verb", "path"]),
    ("pod_identity_webhook_pod_count", "counter", &["method"]),
    ("pod_identity_webhook_missing_sa_count", "counter", &[]),
    ("pod_identity_webhook_used", "gauge", &[]),
];

/// Upstream's counters, printed without `_total` as client_golang prints them.
const PLAIN_COUNTERS: &[&str] = &[
    "http_request_count",
    "pod_identity_webhook_pod_count",
    "pod_identity_webhook_missing_sa_count",
];

/// Upstream's summaries (kept as bucket-less histograms, printed as summaries).
const SUMMARIES: &[&str] = &["http_request_duration_microseconds"];

fn summary_histogram() -> Histogram {
    Histogram::new(std::iter::empty())
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn upstream_latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(125_000.0, 2.0, 7))
}

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// All metrics, with their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `http_request_count`.
    pub http_requests: Family<RequestLabels, Counter>,
    /// `http_request_latencies` (µs).
    pub http_latencies_us: HistogramFamily<RouteLabels>,
    /// `http_request_duration_microseconds` (µs; a summary of `_sum` and `_count`).
    pub http_duration_us: HistogramFamily<RouteLabels>,
    /// `irsa_webhook_request_duration_seconds`.
    pub request_duration: HistogramFamily<RouteLabels>,
    /// `pod_identity_webhook_pod_count`.
    pub pod_count: Family<MethodLabels, Counter>,
    /// `pod_identity_webhook_missing_sa_count`.
    pub missing_sa: Counter,
    /// `pod_identity_webhook_used`.
    pub used: Gauge,
    /// `irsa_webhook_admission_reviews`.
    pub reviews: Family<ResultLabels, Counter>,
    /// `irsa_webhook_cache_service_accounts`.
    pub cache_size: Family<CacheLabels, Gauge>,
    /// `irsa_webhook_cache_synced`.
    pub cache_synced: Gauge,
    /// `irsa_webhook_config_map_entries`.
    pub config_map_entries: Gauge,
    /// `irsa_webhook_pod_identity_associations`.
    pub associations: Gauge,
    /// `process_resident_memory_bytes` (Linux, refreshed on scrape).
    pub resident_memory: Gauge,
    /// `process_open_fds` (Linux, refreshed on scrape).
    pub open_fds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    #[must_use]
    pub fn new() -> Self {
        // Upstream's help texts, without a final period: prometheus-client adds one.
        let mut registry = Registry::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        let http_latencies_us: HistogramFamily<RouteLabels> = Family::new_with_constructor(upstream_latency_histogram);
        let http_duration_us: HistogramFamily<RouteLabels> = Family::new_with_constructor(summary_histogram);
        let request_duration: HistogramFamily<RouteLabels> = Family::new_with_constructor(seconds_histogram);
        let pod_count = Family::<MethodLabels, Counter>::default();
        let missing_sa = Counter::default();
        let used = Gauge::default();
        let reviews = Family::<ResultLabels, Counter>::default();
        let cache_size = Family::<CacheLabels, Gauge>::default();
        let cache_synced = Gauge::default();
        let config_map_entries = Gauge::default();
        let associations = Gauge::default();
        let resident_memory = Gauge::default();
        let open_fds = Gauge::default();
        registry.register(
            "http_request_count",
            "Counter of requests broken out for each verb, path, and response code",
            http_requests.clone(),
        );
        registry.register(
            "http_request_latencies",
            "Response latency distribution in microseconds for each verb and path",
            http_latencies_us.clone(),
        );
        registry.register(
            "http_request_duration_microseconds",
            "Response latency summary in microseconds for each verb and path",
            http_duration_us.clone(),
        );
        registry.register(
            "irsa_webhook_request_duration_seconds",
            "Request latency in seconds for each verb and path",
            request_duration.clone(),
        );
        registry.register(
            "pod_identity_webhook_pod_count",
            "Indicator to how many pods are using sts web identity or container credentials",
            pod_count.clone(),
        );
        registry.register(
            "pod_identity_webhook_missing_sa_count",
            "Service account did not have the right annotations or was not found in the cache",
            missing_sa.clone(),
        );
        registry.register(
            "pod_identity_webhook_used",
            "Indicator to know pod identity webhook is used",
            used.clone(),
        );
        registry.register(
            "irsa_webhook_admission_reviews",
            "Admission reviews by result",
            reviews.clone(),
        );
        registry.register(
            "irsa_webhook_cache_service_accounts",
            "Service accounts held by the cache (annotated: full entries; others: hashes)",
            cache_size.clone(),
        );
        registry.register(
            "irsa_webhook_cache_synced",
            "1 once the service account cache has synced",
            cache_synced.clone(),
        );
        registry.register(
            "irsa_webhook_config_map_entries",
            "Entries of the pod-identity-webhook ConfigMap mapping",
            config_map_entries.clone(),
        );
        registry.register(
            "irsa_webhook_pod_identity_associations",
            "Entries of the Pod Identity (container credentials) file",
            associations.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            resident_memory.clone(),
        );
        registry.register("process_open_fds", "Number of open file descriptors", open_fds.clone());
        Self {
            registry,
            http_requests,
            http_latencies_us,
            http_duration_us,
            request_duration,
            pod_count,
            missing_sa,
            used,
            reviews,
            cache_size,
            cache_synced,
            config_map_entries,
            associations,
            resident_memory,
            open_fds,
        }
    }

    /// Records one HTTP request.
    pub fn observe_request(&self, verb: &str, path: &str, code: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&RequestLabels {
                verb: verb.to_owned(),
                path: path.to_owned(),
                code: code.to_string(),
            })
            .inc();
        let route = RouteLabels {
            verb: verb.to_owned(),
            path: path.to_owned(),
        };
        let micros = elapsed.as_secs_f64() * 1e6;
        self.http_latencies_us.get_or_create(&route).observe(micros);
        self.http_duration_us.get_or_create(&route).observe(micros);
        self.request_duration
            .get_or_create(&route)
            .observe(elapsed.as_secs_f64());
    }

    /// Records the decision of one review.
    pub fn observe_decision(&self, decision: &Decision) {
        let result = match decision {
            Decision::Mutated { mode, .. } => {
                self.pod_count
                    .get_or_create(&MethodLabels {
                        method: mode.as_str().to_owned(),
                    })
                    .inc();
                "mutated"
            }
            Decision::AlreadyMutated(mode) => {
                self.pod_count
                    .get_or_create(&MethodLabels {
                        method: mode.as_str().to_owned(),
                    })
                    .inc();
                "unchanged"
            }
            Decision::NoIdentity { missing } => {
                if *missing {
                    self.missing_sa.inc();
                }
                "no_identity"
            }
            Decision::VolumeConflict(_) => "volume_conflict",
            Decision::Ignored(_) => "ignored",
            Decision::Rejected(_) => "rejected",
        };
        self.reviews
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Refreshes the cache gauges from the store.
    pub fn refresh_cache(&self, store: &IdentityStore) {
        let annotated = i64::try_from(store.annotated_len()).unwrap_or(i64::MAX);
        let plain = i64::try_from(store.plain_len()).unwrap_or(i64::MAX);
        self.cache_size
            .get_or_create(&CacheLabels {
                annotated: "true".into(),
            })
            .set(annotated);
        self.cache_size
            .get_or_create(&CacheLabels {
                annotated: "false".into(),
            })
            .set(plain);
        self.used.set(i64::from(annotated > 0));
        self.cache_synced.set(i64::from(store.is_synced()));
        self.config_map_entries.set(
            store
                .config_map()
                .map_or(0, |m| i64::try_from(m.len()).unwrap_or(i64::MAX)),
        );
        self.associations.set(
            store
                .container_credentials()
                .map_or(0, |c| i64::try_from(c.len()).unwrap_or(i64::MAX)),
        );
    }

    /// Refreshes the process gauges from `/proc` (no-op where unavailable).
    pub fn refresh_process(&self) {
        if let Some(pages) = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<i64>().ok()))
        {
            // Page size is 4 KiB on every Linux platform this image targets.
            self.resident_memory.set(pages.saturating_mul(4096));
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(i64::try_from(dir.count()).unwrap_or(i64::MAX));
        }
    }

    /// The Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]), as upstream serves it.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(crate::exposition::to_prometheus_text(&out, PLAIN_COUNTERS, SUMMARIES))
    }
}
