//! Load test and memory measurement for the webhook.
//!
//! ```text
//! cargo run --release -p irsa-webhook --example loadtest -- [SECONDS] [CONNECTIONS]
//! ```
//!
//! 1. Resident memory of the identity store holding 100,000 ServiceAccounts (10% annotated).
//! 2. Pure review throughput (decode + resolve + patch + encode) on one core.
//! 3. HTTPS end to end: the server on a 2-worker runtime, CONNECTIONS keep-alive TLS clients on
//!    another runtime (same machine, so clients compete with the server for the CPUs), requests
//!    per second and latency percentiles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use irsa_webhook::MutationConfig;
use irsa_webhook::admission::{ReviewContext, review};
use irsa_webhook::annotations::ServiceAccountInfo;
use irsa_webhook::mutate::DefaultRandom;
use irsa_webhook::server::{AppState, router, serve_https};
use irsa_webhook::store::IdentityStore;
use irsa_webhook::tls::{ReloadingCertResolver, provider, server_config};
use rustls::pki_types::ServerName;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of this process's threads whose name starts with `prefix`, from
/// /proc (clock ticks of 10 ms). On a shared machine this is the fair measure of cost.
fn threads_cpu(prefix: &str) -> Duration {
    let mut ticks = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if !comm.trim_end().starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // fields after the ")" of comm: state is field 3; utime 14, stime 15
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ut: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
                let st: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
                ticks += ut + st;
            }
        }
    }
    Duration::from_millis(ticks * 10)
}

fn fill(store: &IdentityStore, n: usize) {
    for i in 0..n {
        let ns = format!("namespace-{}", i / 100);
        let name = format!("service-account-{i}");
        let info = if i % 10 == 0 {
            ServiceAccountInfo::from_annotations(
                "eks.amazonaws.com",
                [
                    (
                        "eks.amazonaws.com/role-arn",
                        format!("arn:aws:iam::111122223333:role/role-{i}").as_str(),
                    ),
                    ("eks.amazonaws.com/sts-regional-endpoints", "true"),
                ],
            )
        } else {
            ServiceAccountInfo::default()
        };
        store.upsert(&ns, &name, info);
    }
    store.set_synced(true);
}

fn body(i: usize) -> Vec<u8> {
    let sa = (i % 10_000) * 10;
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{i}"),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": format!("namespace-{}", sa / 100),
            "operation": "CREATE",
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": "app-", "labels": {"app": "web"},
                             "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "serviceAccountName": format!("service-account-{sa}"),
                    "containers": [
                        {"name": "app", "image": "registry/app:1.2.3",
                         "ports": [{"containerPort": 8080}],
                         "env": [{"name": "LOG_LEVEL", "value": "info"}],
                         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                        {"name": "sidecar", "image": "registry/proxy:2",
                         "readinessProbe": {"httpGet": {"path": "/ready", "port": 15021}}}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }
        }
    })
    .to_string()
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);

    // 1. Memory.
    let before = rss_kib();
    let store = Arc::new(IdentityStore::new());
    fill(&store, 100_000);
    let after = rss_kib();
    println!(
        "store: {} annotated + {} plain service accounts; RSS {} KiB -> {} KiB (+{} KiB)",
        store.annotated_len(),
        store.plain_len(),
        before,
        after,
        after.saturating_sub(before)
    );

    // 1b. The same through the real watch path: 200 metadata-only list pages of 500 accounts
    //     (each with a ~1 KiB kubectl last-applied annotation that is dropped), decoded by kube's
    //     types and applied as watch events.
    {
        use irsa_webhook::k8s::{ListBuffer, apply_service_account_event};
        use k8s_openapi::api::core::v1::ServiceAccount;
        use kube::api::{ObjectList, PartialObjectMeta};
        use kube::runtime::watcher::Event;
        let before = rss_kib();
        let watched = IdentityStore::new();
        let mut buffer = ListBuffer::default();
        let padding = "x".repeat(1024);
        apply_service_account_event(&watched, "eks.amazonaws.com", &mut buffer, Event::Init);
        for page in 0..200 {
            let items: Vec<serde_json::Value> = (0..500)
                .map(|j| {
                    let i = page * 500 + j;
                    let mut ann = serde_json::json!({
                        "kubectl.kubernetes.io/last-applied-configuration": padding});
                    if i % 10 == 0 {
                        ann["eks.amazonaws.com/role-arn"] = format!("arn:aws:iam::111122223333:role/role-{i}").into();
                    }
                    serde_json::json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                        "metadata": {"name": format!("service-account-{i}"),
                                     "namespace": format!("namespace-{}", i / 100),
                                     "uid": format!("00000000-0000-0000-0000-{i:012}"),
                                     "resourceVersion": i.to_string(),
                                     "creationTimestamp": "2026-01-01T00:00:00Z",
                                     "annotations": ann}})
                })
                .collect();
            let body = serde_json::json!({"apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadataList", "metadata": {"resourceVersion": "1"},
                "items": items})
            .to_string();
            let list: ObjectList<PartialObjectMeta<ServiceAccount>> = serde_json::from_str(&body).unwrap();
            for item in list.items {
                apply_service_account_event(&watched, "eks.amazonaws.com", &mut buffer, Event::InitApply(item));
            }
        }
        apply_service_account_event(&watched, "eks.amazonaws.com", &mut buffer, Event::InitDone);
        let after = rss_kib();
        println!(
            "watch path: {} annotated + {} plain after 200 pages x 500; RSS {} KiB -> {} KiB (+{} KiB)",
            watched.annotated_len(),
            watched.plain_len(),
            before,
            after,
            after.saturating_sub(before)
        );
    }

    // 2. Pure review throughput.
    let config = MutationConfig {
        aws_default_region: "eu-west-1".into(),
        ..MutationConfig::default()
    };
    let bodies: Vec<Vec<u8>> = (0..1000).map(body).collect();
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let random = DefaultRandom::default();
    let ctx = ReviewContext {
        store: &store,
        config: &config,
        random: &random,
        grace: Duration::ZERO,
    };
    let n = 100_000;
    // The main thread is named after the executable.
    let core_cpu_before = threads_cpu("loadtest");
    let start = Instant::now();
    rt1.block_on(async {
        for i in 0..n {
            let a = review(&bodies[i % bodies.len()], &ctx).await;
            assert!(matches!(a.decision, irsa_webhook::admission::Decision::Mutated { .. }));
        }
    });
    let el = start.elapsed();
    let core_cpu = threads_cpu("loadtest").saturating_sub(core_cpu_before);
    println!(
        "core: {n} reviews in {:.2?} wall = {:.0} reviews/s on one core ({:.1} µs wall, {:.1} µs CPU each)",
        el,
        n as f64 / el.as_secs_f64(),
        el.as_secs_f64() * 1e6 / n as f64,
        core_cpu.as_secs_f64() * 1e6 / n as f64
    );

    // 3. HTTPS.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("srv")
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), ck.signing_key.serialize_pem()).unwrap();
    let der = ck.cert.der().clone();
    let resolver = Arc::new(
        ReloadingCertResolver::load(
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
            Arc::new(provider()),
        )
        .unwrap(),
    );
    let tls = Arc::new(server_config("", "", resolver).unwrap());
    let state = AppState::new(store.clone(), config.clone());
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    server_rt.spawn(serve_https(listener, router(state), tls, std::future::pending()));

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cli")
        .enable_all()
        .build()
        .unwrap();
    let bodies = Arc::new(bodies);
    let server_cpu_before = threads_cpu("srv");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let latencies = client_rt.block_on(async move {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let cfg = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let mut tasks = Vec::new();
        for c in 0..connections {
            let cfg = cfg.clone();
            let bodies = bodies.clone();
            tasks.push(tokio::spawn(async move {
                let connector = tokio_rustls::TlsConnector::from(cfg);
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let stream = connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await
                    .unwrap();
                let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
                tokio::spawn(conn);
                let mut lat = Vec::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let req = hyper::Request::builder()
                        .method("POST")
                        .uri("/mutate")
                        .header("host", "localhost")
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(bodies[i % bodies.len()].clone())))
                        .unwrap();
                    let t = Instant::now();
                    let resp = sender.send_request(req).await.unwrap();
                    let status = resp.status();
                    let _ = resp.into_body().collect().await.unwrap();
                    lat.push(t.elapsed());
                    assert_eq!(status, 200);
                    i += connections;
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut lat = latencies;
    lat.sort();
    println!(
        "https: {} connections, {} reviews in {seconds} s = {:.0} reviews/s; latency p50 {:.2?}, p99 {:.2?}, p99.9 {:.2?}, max {:.2?}",
        connections,
        lat.len(),
        lat.len() as f64 / seconds as f64,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().copied().unwrap_or_default()
    );
    let server_cpu = threads_cpu("srv").saturating_sub(server_cpu_before);
    let per_review = server_cpu.as_secs_f64() / lat.len().max(1) as f64;
    println!(
        "https: server threads used {:.2?} CPU = {:.1} µs CPU per review => capacity on 2 dedicated cores ~ {:.0} reviews/s",
        server_cpu,
        per_review * 1e6,
        2.0 / per_review.max(1e-9)
    );
    println!("process RSS at end: {} KiB", rss_kib());
}
