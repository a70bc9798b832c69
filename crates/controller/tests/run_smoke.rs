//! `run` wired end to end against a minimal fake API server (empty lists, slow empty watches): the
//! health and metrics endpoints answer, and the controller stops when `shutdown` resolves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::extract::{Query, Request};
use clap::Parser;
use irsa_controller::ControllerArgs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ControllerArgs,
}

async fn fake_api(
    Query(q): Query<std::collections::HashMap<String, String>>,
    req: Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return (axum::http::StatusCode::OK, "").into_response();
    }
    let _ = req;
    let list =
        serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []});
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        list.to_string(),
    )
        .into_response()
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_health_and_metrics_and_stops() {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(api, axum::Router::new().fallback(fake_api)).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{api_addr}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    let cli = Cli::parse_from([
        "irsa".to_owned(),
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--metrics-bind-address={metrics}"),
        format!("--namespace-labels-path={}", dir.path().join("missing.yaml").display()),
        "--endpoint-url=http://127.0.0.1:9".to_owned(),
        "--allowed-role=arn:aws:iam::*:role/kf-*".to_owned(),
    ]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(irsa_controller::run(cli.args, async move {
        let _ = rx.await;
    }));
    let mut health = String::new();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(metrics).await.is_ok() {
            health = get(metrics, "/healthz").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    let m = get(metrics, "/metrics").await;
    assert!(
        m.contains("profile_reconciles_total 0") && m.contains("iam_calls_total 0"),
        "{m}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("run stops")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
