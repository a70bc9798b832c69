//! Connection exhaustion against `irsa server` at an open-file limit of 256: hundreds of
//! connections that say nothing, and slow clients trickling headers, while normal clients keep
//! being answered within a second.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::io::Write as _;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use irsa_testkit::{free_port, wait_for_port};

const KEY_ID: &str = "AKIAIRSACHAOSROOT002";
const SECRET: &str = "irsa-chaos-root-secret-access-key-000002";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_clients_are_served_while_idle_and_slow_connections_pile_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    // The open-file limit a small container or an old distribution default gives.
    let script = format!(
        "ulimit -n 256 && exec '{}' server --listen 127.0.0.1:{port} --data-dir '{}' --root-access-key-id {KEY_ID} --root-secret-access-key {SECRET}",
        env!("CARGO_BIN_EXE_irsa"),
        dir.path().join("data").display()
    );
    let mut server = Server(
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(30));
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new(KEY_ID, SECRET, None, None, "chaos"))
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(3))
                .build(),
        )
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&conf);
    sts.get_caller_identity().send().await.unwrap();

    // 600 connections that say nothing (more than the server's 256 descriptors), and 40 that
    // trickle a request head a byte every 200 ms.
    let idle: Vec<TcpStream> = (0..600)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let slow = std::thread::spawn(move || {
        let mut streams: Vec<TcpStream> = (0..40)
            .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
            .collect();
        for b in b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" {
            streams.retain_mut(|s| s.write_all(&[*b]).is_ok());
            std::thread::sleep(Duration::from_millis(200));
        }
        streams.len()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let start = Instant::now();
        let who = sts.get_caller_identity().send().await;
        let took = start.elapsed();
        assert!(who.is_ok(), "probe {i} failed after {took:?}: {who:?}");
        assert!(took < Duration::from_secs(1), "probe {i} took {took:?}");
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let still_trickling = slow.join().unwrap();
    assert!(matches!(server.0.try_wait(), Ok(None)), "the server died");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    println!(
        "open-file limit 256: {} idle and 40 slow connections opened; 20 GetCallerIdentity probes, slowest {slowest:?}; {still_trickling} slow connections still open after 15 s",
        idle.len()
    );
}
