//! kill -9 of `irsa server` under concurrent writes on the embedded store: every write the
//! server acknowledged is there after a restart, and the restarted server serves at once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use irsa_testkit::{free_port, wait_for_port};

const KEY_ID: &str = "AKIAIRSACHAOSROOT001";
const SECRET: &str = "irsa-chaos-root-secret-access-key-000000";

/// The server process, killed (SIGKILL) on drop too, so a failed test leaves none behind.
struct Server(Child);

impl Server {
    fn kill_9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_9();
    }
}

fn start(dir: &std::path::Path, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.to_str().unwrap(),
            "--root-access-key-id",
            KEY_ID,
            "--root-secret-access-key",
            SECRET,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, Duration::from_secs(30));
    Server(child)
}

async fn iam(port: u16) -> aws_sdk_iam::Client {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new(KEY_ID, SECRET, None, None, "chaos"))
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await;
    aws_sdk_iam::Client::new(&conf)
}

/// Every role's name, through ListRoles' pages.
async fn role_names(client: &aws_sdk_iam::Client) -> BTreeSet<String> {
    let mut listed = BTreeSet::new();
    let mut pages = client.list_roles().into_paginator().items().send();
    while let Some(role) = pages.next().await {
        listed.insert(role.unwrap().role_name().to_owned());
    }
    listed
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let mut total_lost = 0;
    let mut acked_total = 0;
    for round in 0..3 {
        let mut server = start(dir.path(), port);
        let client = iam(port).await;
        // The restarted server has everything acknowledged before the previous kill.
        let listed = role_names(&client).await;
        let missing: Vec<String> = acknowledged.lock().unwrap().difference(&listed).cloned().collect();
        total_lost += missing.len();
        assert!(missing.is_empty(), "round {round}: acknowledged but lost: {missing:?}");
        // Eight writers for a while, then kill -9 in the middle of their writes.
        let stop_at = Instant::now() + Duration::from_millis(1500);
        let mut writers = Vec::new();
        for w in 0..8 {
            let client = client.clone();
            let acknowledged = acknowledged.clone();
            writers.push(tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < stop_at + Duration::from_secs(2) {
                    let name = format!("r{round}-w{w}-{i}");
                    i += 1;
                    let created = client
                        .create_role()
                        .role_name(&name)
                        .assume_role_policy_document(TRUST)
                        .send()
                        .await;
                    match created {
                        Ok(_) => {
                            acknowledged.lock().unwrap().insert(name);
                        }
                        // Killed: the connection fails; nothing was acknowledged.
                        Err(_) => return,
                    }
                }
            }));
        }
        tokio::time::sleep_until(stop_at.into()).await;
        server.kill_9();
        for w in writers {
            w.await.unwrap();
        }
        acked_total = acknowledged.lock().unwrap().len();
        assert!(acked_total > round * 10, "writers made progress: {acked_total}");
    }
    let mut server = start(dir.path(), port);
    let client = iam(port).await;
    let listed = role_names(&client).await;
    let missing: Vec<String> = acknowledged.lock().unwrap().difference(&listed).cloned().collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    println!(
        "kill -9 x3 under 8 concurrent writers: {acked_total} acknowledged role creations, {} lost",
        total_lost + missing.len()
    );
    server.kill_9();
}
