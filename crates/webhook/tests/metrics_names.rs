//! `/metrics` against amazon-eks-pod-identity-webhook's metrics, written down here as data from
//! upstream's source (`pkg/handler/middleware.go`, `pkg/cache/cache.go`, client_golang v1.12.2
//! serving the text format 0.0.4), so that a dashboard or alert written for upstream finds the
//! same series: names (no `_total` on counters), types, label names. irsa's own metrics keep
//! their names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irsa_webhook::metrics::{CONTENT_TYPE, MethodLabels, Metrics};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Upstream: (family, type, label names, the series its samples have).
const UPSTREAM: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "http_request_count",
        "counter",
        &["code", "path", "verb"],
        &["http_request_count"],
    ),
    (
        "http_request_latencies",
        "histogram",
        &["path", "verb"],
        &[
            "http_request_latencies_bucket",
            "http_request_latencies_count",
            "http_request_latencies_sum",
        ],
    ),
    (
        "http_request_duration_microseconds",
        "summary",
        &["path", "verb"],
        &[
            "http_request_duration_microseconds_count",
            "http_request_duration_microseconds_sum",
        ],
    ),
    (
        "pod_identity_webhook_pod_count",
        "counter",
        &["method"],
        &["pod_identity_webhook_pod_count"],
    ),
    (
        "pod_identity_webhook_missing_sa_count",
        "counter",
        &[],
        &["pod_identity_webhook_missing_sa_count"],
    ),
    (
        "pod_identity_webhook_used",
        "gauge",
        &[],
        &["pod_identity_webhook_used"],
    ),
];

/// irsa's own series, under the names they had before (counters with `_total`).
const IRSA_SERIES: &[&str] = &[
    "irsa_webhook_request_duration_seconds_bucket",
    "irsa_webhook_admission_reviews_total",
    "irsa_webhook_cache_service_accounts",
    "irsa_webhook_cache_synced",
    "irsa_webhook_config_map_entries",
    "irsa_webhook_pod_identity_associations",
    "process_resident_memory_bytes",
    "process_open_fds",
];

#[derive(Default, Debug)]
struct Family {
    kind: String,
    series: BTreeSet<String>,
    labels: BTreeSet<String>,
}

/// Families by name from `# TYPE` lines, with their samples' series and label names (`le` and
/// `quantile` left out, as they belong to the type).
fn families(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            current = name.to_owned();
            out.entry(current.clone()).or_default().kind = kind.to_owned();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let family = out.get_mut(&current).expect("a sample before any # TYPE");
        family.series.insert(line[..name_end].to_owned());
        if let Some(labels) = line[name_end..].strip_prefix('{') {
            let labels = &labels[..labels.rfind('}').unwrap()];
            for pair in labels.split("\",") {
                let name = pair.split_once('=').unwrap().0;
                if name != "le" && name != "quantile" {
                    family.labels.insert(name.to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn metrics_are_named_typed_and_labelled_as_upstreams() {
    let m = Metrics::new();
    m.observe_request("POST", "/mutate", 200, Duration::from_millis(3));
    m.pod_count
        .get_or_create(&MethodLabels {
            method: "sts_web_identity".into(),
        })
        .inc();
    m.missing_sa.inc();
    m.used.set(1);
    m.reviews
        .get_or_create(&irsa_webhook::metrics::ResultLabels {
            result: "mutated".into(),
        })
        .inc();
    m.refresh_process();
    m.refresh_cache(&irsa_webhook::store::IdentityStore::new());
    m.request_duration
        .get_or_create(&irsa_webhook::metrics::RouteLabels {
            verb: "POST".into(),
            path: "/mutate".into(),
        })
        .observe(0.003);
    let text = m.encode().unwrap();
    assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "OpenMetrics' terminator in a 0.0.4 exposition");
    let got = families(&text);

    for (name, kind, labels, series) in UPSTREAM {
        let f = got
            .get(*name)
            .unwrap_or_else(|| panic!("upstream's {name} is missing:\n{text}"));
        assert_eq!(f.kind, *kind, "{name}");
        assert_eq!(
            f.labels.iter().map(String::as_str).collect::<Vec<_>>(),
            *labels,
            "{name}'s labels"
        );
        assert_eq!(
            f.series.iter().map(String::as_str).collect::<Vec<_>>(),
            *series,
            "{name}'s series"
        );
    }
    // The values upstream's dashboards divide: counts and µs.
    assert!(text.contains("http_request_count{verb=\"POST\",path=\"/mutate\",code=\"200\"} 1\n"));
    assert!(text.contains("http_request_duration_microseconds_count{verb=\"POST\",path=\"/mutate\"} 1\n"));
    assert!(text.contains("http_request_latencies_bucket{le=\"125000.0\",verb=\"POST\",path=\"/mutate\"} 1\n"));
    assert!(text.contains("pod_identity_webhook_missing_sa_count 1\n"));

    let all_series: BTreeSet<&str> = got.values().flat_map(|f| f.series.iter().map(String::as_str)).collect();
    for s in IRSA_SERIES {
        assert!(all_series.contains(s), "irsa's {s} is missing:\n{text}");
    }
    // No upstream family under an OpenMetrics name.
    assert!(!text.contains("http_request_count_total") && !text.contains("pod_count_total"));
}
