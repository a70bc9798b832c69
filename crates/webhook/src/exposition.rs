//! The Prometheus text exposition format (0.0.4), as amazon-eks-pod-identity-webhook serves it,
//! made from prometheus-client's OpenMetrics text.
//!
//! Why: upstream (client_golang, `promhttp.Handler()`, OpenMetrics off) serves format 0.0.4, where
//! a counter's series is named as the counter is: `http_request_count`. OpenMetrics requires a
//! counter's samples to end in `_total`, so a scraper reading prometheus-client's output stores
//! `http_request_count_total`, and the dashboards and alerts written for upstream find nothing.
//! Serving 0.0.4 with upstream's counters under their own names keeps those series, and their
//! types, exactly as upstream's; irsa's own counters keep the `_total` series they always had.
//!
//! prometheus-client has no summary either: upstream's `http_request_duration_microseconds` is a
//! client_golang summary without objectives, which exposes only `_sum` and `_count`. It is kept
//! as a bucket-less histogram and printed as that summary (its buckets dropped).

/// Rewrites an OpenMetrics exposition as Prometheus text format 0.0.4:
/// - counters named in `plain_counters` are printed under their family name (`name`, not
///   `name_total`), as client_golang prints counters; other counters keep their `name_total`
///   samples, now with `name_total` as the family name;
/// - histograms named in `summaries` become summaries of their `_sum` and `_count`;
/// - `_created` samples, exemplars, `# UNIT` and `# EOF` are dropped (0.0.4 has none of them),
///   `unknown` is `untyped`, and HELP texts lose OpenMetrics' `\"` escape.
///
/// Pure; lines it does not recognise are kept as they are.
#[must_use]
pub fn to_prometheus_text(openmetrics: &str, plain_counters: &[&str], summaries: &[&str]) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // The family being printed: its name in the input, its printed name, its input type.
    let mut family: Option<(String, String, String)> = None;
    // HELP comes before TYPE in OpenMetrics, and the printed name depends on the type.
    let mut pending_help: Option<(String, String)> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name.to_owned(), text.replace("\\\"", "\"")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (printed, printed_kind) = match kind {
                "counter" if plain_counters.contains(&name) => (name.to_owned(), "counter"),
                "counter" => (format!("{name}_total"), "counter"),
                "histogram" if summaries.contains(&name) => (name.to_owned(), "summary"),
                "unknown" => (name.to_owned(), "untyped"),
                "info" => (format!("{name}_info"), "gauge"),
                other => (name.to_owned(), other),
            };
            if let Some((help_name, text)) = pending_help.take()
                && help_name == name
            {
                out.push_str(&format!("# HELP {printed} {text}\n"));
            }
            out.push_str(&format!("# TYPE {printed} {printed_kind}\n"));
            family = Some((name.to_owned(), printed, kind.to_owned()));
            continue;
        }
        if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // A sample: drop an exemplar (` # {…} value`), which only OpenMetrics has. A label
        // value may hold ` # ` or braces, so look for it after the label set only.
        let labels_end = label_set_end(line);
        let sample = match line[labels_end..].find(" # ") {
            Some(i) => &line[..labels_end + i],
            None => line,
        };
        let name_end = sample.find(['{', ' ']).unwrap_or(sample.len());
        let (sample_name, rest) = sample.split_at(name_end);
        let Some((family_name, printed, kind)) = &family else {
            out.push_str(sample);
            out.push('\n');
            continue;
        };
        let suffix = sample_name.strip_prefix(family_name.as_str()).unwrap_or("");
        let keep = match (kind.as_str(), suffix) {
            (_, "_created") => None,
            ("counter", "_total") => Some(printed.clone()),
            ("histogram", "_bucket") if summaries.contains(&family_name.as_str()) => None,
            _ => Some(sample_name.to_owned()),
        };
        if let Some(name) = keep {
            out.push_str(&name);
            out.push_str(rest);
            out.push('\n');
        }
    }
    out
}

/// Where a sample's label set ends (just after its `}`), skipping quoted label values; the
/// end of the name when it has none.
fn label_set_end(sample: &str) -> usize {
    let Some(open) = sample.find(['{', ' ']) else {
        return sample.len();
    };
    if !sample[open..].starts_with('{') {
        return open;
    }
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in sample[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return open + i + 1,
            _ => {}
        }
    }
    sample.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS: &str = "\
# HELP http_request_count Counter of requests broken out for each verb, path, and response code.
# TYPE http_request_count counter
http_request_count_total{verb=\"POST\",path=\"/mutate\",code=\"200\"} 3
http_request_count_created{verb=\"POST\",path=\"/mutate\",code=\"200\"} 1700000000.0
# HELP irsa_webhook_admission_reviews Admission reviews by \\\"result\\\"
# TYPE irsa_webhook_admission_reviews counter
irsa_webhook_admission_reviews_total{result=\"mutated\"} 3 # {trace=\"a\"} 1.0
# HELP http_request_duration_microseconds Response latency summary in microseconds for each verb and path.
# TYPE http_request_duration_microseconds histogram
http_request_duration_microseconds_sum{verb=\"POST\",path=\"/mutate\"} 1500.0
http_request_duration_microseconds_count{verb=\"POST\",path=\"/mutate\"} 3
http_request_duration_microseconds_bucket{le=\"+Inf\",verb=\"POST\",path=\"/mutate\"} 3
# HELP http_request_latencies Response latency distribution in microseconds for each verb and path
# TYPE http_request_latencies histogram
http_request_latencies_sum{verb=\"POST\",path=\"/a # {b}\\\"\"} 1500.0
http_request_latencies_count{verb=\"POST\",path=\"/a # b\"} 3
http_request_latencies_bucket{le=\"125000.0\",verb=\"POST\",path=\"/a # b\"} 3
# HELP pod_identity_webhook_used Indicator to know pod identity webhook is used
# TYPE pod_identity_webhook_used gauge
pod_identity_webhook_used 1
# HELP build Build.
# TYPE build info
build_info{version=\"1\"} 1
# HELP seconds Seconds.
# TYPE seconds unknown
# UNIT seconds seconds
seconds 2
# EOF
";

    #[test]
    fn counters_summaries_and_the_rest_as_client_golang_prints_them() {
        let text = to_prometheus_text(
            OPENMETRICS,
            &["http_request_count"],
            &["http_request_duration_microseconds"],
        );
        assert_eq!(
            text,
            "\
# HELP http_request_count Counter of requests broken out for each verb, path, and response code.
# TYPE http_request_count counter
http_request_count{verb=\"POST\",path=\"/mutate\",code=\"200\"} 3
# HELP irsa_webhook_admission_reviews_total Admission reviews by \"result\"
# TYPE irsa_webhook_admission_reviews_total counter
irsa_webhook_admission_reviews_total{result=\"mutated\"} 3
# HELP http_request_duration_microseconds Response latency summary in microseconds for each verb and path.
# TYPE http_request_duration_microseconds summary
http_request_duration_microseconds_sum{verb=\"POST\",path=\"/mutate\"} 1500.0
http_request_duration_microseconds_count{verb=\"POST\",path=\"/mutate\"} 3
# HELP http_request_latencies Response latency distribution in microseconds for each verb and path
# TYPE http_request_latencies histogram
http_request_latencies_sum{verb=\"POST\",path=\"/a # {b}\\\"\"} 1500.0
http_request_latencies_count{verb=\"POST\",path=\"/a # b\"} 3
http_request_latencies_bucket{le=\"125000.0\",verb=\"POST\",path=\"/a # b\"} 3
# HELP pod_identity_webhook_used Indicator to know pod identity webhook is used
# TYPE pod_identity_webhook_used gauge
pod_identity_webhook_used 1
# HELP build_info Build.
# TYPE build_info gauge
build_info{version=\"1\"} 1
# HELP seconds Seconds.
# TYPE seconds untyped
seconds 2
"
        );
    }

    #[test]
    fn anything_else_passes_through() {
        assert_eq!(to_prometheus_text("", &[], &[]), "");
        assert_eq!(to_prometheus_text("x 1\n# comment\n", &[], &[]), "x 1\n# comment\n");
    }
}
