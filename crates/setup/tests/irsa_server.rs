//! `irsa setup` against irsa's own STS + IAM service, in process: the same
//! scenario as against moto_server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod common;

use common::{sdk_config, setup_scenario};
use irsa_server::{ServerConfig, spawn};
use std::time::Duration;

const ROOT: (&str, &str) = ("AKIAIRSASETUPTEST000", "irsa-setup-test-secret-key-0000000000000");

#[tokio::test]
async fn setup_is_idempotent_and_teardown_removes_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        root_access_key: Some((ROOT.0.into(), ROOT.1.into())),
        ..ServerConfig::new(dir.path())
    };
    let server = tokio::time::timeout(Duration::from_secs(30), spawn(config))
        .await
        .expect("irsa server started")
        .expect("irsa server reported its address");

    setup_scenario(&sdk_config(&server.url(), ROOT.0, ROOT.1).await).await;

    server.stop().await.unwrap();
}
