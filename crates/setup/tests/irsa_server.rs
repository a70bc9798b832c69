//! `irsa setup` against irsa's own STS + IAM service, in process: the same
//! scenario as against moto_server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod common;

use common::{sdk_config, setup_scenario};
use irsa_server::{ServerConfig, serve};
use std::time::Duration;

const ROOT: (&str, &str) = ("AKIAIRSASETUPTEST000", "irsa-setup-test-secret-key-0000000000000");

#[tokio::test]
async fn setup_is_idempotent_and_teardown_removes_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        store: irsa_server::StoreChoice::Embedded,
        account: "000000000000".into(),
        region: "us-east-1".into(),
        partition: "aws".into(),
        root_access_key: Some((ROOT.0.into(), ROOT.1.into())),
        oidc_ca_pem: None,
        allow_http_issuers: false,
        trust_limit: 2048,
    };
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut started_tx = Some(started_tx);
        serve(
            config,
            move |s| {
                if let Some(tx) = started_tx.take() {
                    let _ = tx.send(s.addr);
                }
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    let addr = tokio::time::timeout(Duration::from_secs(30), started_rx)
        .await
        .expect("irsa server started")
        .expect("irsa server reported its address");

    setup_scenario(&sdk_config(&format!("http://{addr}"), ROOT.0, ROOT.1).await).await;

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
