//! `irsa_webhook::run` end to end, as the binary calls it: upstream-style flags, an unreachable
//! API server (the ServiceAccount cache never syncs: not ready), a Pod Identity associations
//! file (mutation works without the API), both ports, graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use irsa_webhook::WebhookArgs;
use irsa_webhook::config::normalize_go_flags;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    webhook: WebhookArgs,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn http_get(port: u16, path: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn run_serves_both_ports_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), ck.signing_key.serialize_pem()).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    \
         server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  \
         context: {cluster: k, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let creds = dir.path().join("pod-identity.json");
    std::fs::write(
        &creds,
        r#"{"identities":[{"namespace":"apps","serviceAccount":"agent"}]}"#,
    )
    .unwrap();

    let (port, metrics_port) = (free_port(), free_port());
    let argv = normalize_go_flags([
        "webhook".to_owned(),
        format!("--port={port}"),
        format!("-metrics-port={metrics_port}"),
        "--in-cluster=false".to_owned(),
        format!("--tls-cert={}", dir.path().join("tls.crt").display()),
        format!("--tls-key={}", dir.path().join("tls.key").display()),
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--watch-container-credentials-config={}", creds.display()),
        "--aws-default-region=us-east-1".to_owned(),
        "--logtostderr".to_owned(),
        "-v=4".to_owned(),
    ]);
    let args = Cli::try_parse_from(argv).unwrap().webhook;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        irsa_webhook::run(&args, async move {
            let _ = rx.await;
        })
        .await
    });

    // Wait for the metrics port.
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", metrics_port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "metrics port never opened");
    assert_eq!(http_get(metrics_port, "/healthz").await, (200, "ok".to_owned()));
    let (status, _) = http_get(metrics_port, "/readyz").await;
    assert_eq!(status, 503, "not ready without a synced service account cache");

    // Give the file watcher its first tick, then mutate over HTTPS.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(irsa_webhook::tls::provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "namespace": "apps", "operation": "CREATE",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "object": {"kind": "Pod", "metadata": {"name": "p"},
                "spec": {"serviceAccountName": "agent", "containers": [{"name": "c"}]}}}});
    let req = hyper::Request::builder()
        .method("POST")
        .uri("/mutate")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(review.to_string())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["uid"], "u-1");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(v["response"]["patch"].as_str().expect("a patch"))
        .unwrap();
    let patch = String::from_utf8(patch).unwrap();
    assert!(patch.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "{patch}");
    assert!(patch.contains("us-east-1"), "{patch}");

    let (_, metrics) = http_get(metrics_port, "/metrics").await;
    assert!(
        metrics.contains("pod_identity_webhook_pod_count{method=\"container_credentials\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("irsa_webhook_pod_identity_associations 1"),
        "{metrics}"
    );

    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("run did not stop")
        .unwrap()
        .unwrap();
}
