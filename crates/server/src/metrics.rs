//! Prometheus metrics: requests by service, action and outcome, and latency.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub service: &'static str,
    pub action: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LatencyLabels {
    pub service: &'static str,
    pub action: String,
}

/// The service's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    jwks_cache_hits: Counter,
    jwks_fetches: Counter,
    jwks_fetch_failures: Counter,
}

/// Brings a counter up to a total counted elsewhere.
fn sync(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 1.6 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 15,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("irsa");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "requests",
            "STS and IAM requests by service, action and outcome (ok or the AWS error code)",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer an STS or IAM request",
            latency.clone(),
        );
        let jwks_cache_hits = Counter::default();
        let jwks_fetches = Counter::default();
        let jwks_fetch_failures = Counter::default();
        registry.register(
            "jwks_cache_hits",
            "Web identity tokens verified with cached issuer keys",
            jwks_cache_hits.clone(),
        );
        registry.register(
            "jwks_fetches",
            "Fetches of issuers' discovery documents and JWKS",
            jwks_fetches.clone(),
        );
        registry.register(
            "jwks_fetch_failures",
            "Failed fetches of issuers' discovery documents and JWKS",
            jwks_fetch_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            jwks_cache_hits,
            jwks_fetches,
            jwks_fetch_failures,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let jwks = irsa_oidc::stats::snapshot();
        sync(&self.jwks_cache_hits, jwks.cache_hits);
        sync(&self.jwks_fetches, jwks.fetches);
        sync(&self.jwks_fetch_failures, jwks.fetch_failures);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
