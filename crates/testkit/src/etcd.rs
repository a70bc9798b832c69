//! A throwaway etcd: Debian's `etcd` binary on free loopback ports with a temp data dir.

use crate::{Pki, free_port, http_get, tail};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A single-member etcd, killed (and its data dir removed) on drop.
pub struct EtcdServer {
    child: Child,
    /// The client URL: `http://127.0.0.1:PORT`, or `https://` when started with TLS.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl EtcdServer {
    /// etcd on plain http, ready to serve.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// etcd on https with client-certificate authentication, ready to serve: its certificate is
    /// `pki`'s server certificate, and it accepts clients presenting `pki`'s client certificate.
    pub fn start_tls(pki: &Pki) -> Self {
        Self::spawn(Some(pki))
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the URL ends in the port")
    }

    /// Kills etcd now (SIGKILL, as a crash would) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn spawn(pki: Option<&Pki>) -> Self {
        let binary = std::env::var("IRSA_TEST_ETCD").unwrap_or_else(|_| "etcd".to_owned());
        if Command::new(&binary).arg("--version").output().is_err() {
            panic!(
                "these tests need the `{binary}` binary (Debian package etcd-server; \
                 `scripts/test` installs it, or `apt-get install etcd-server`; or set IRSA_TEST_ETCD)"
            );
        }
        let mut last_log = String::new();
        // A free port can be taken between finding and binding it: retry a few times.
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let (client, peer, metrics) = (free_port(), free_port(), free_port());
            let scheme = if pki.is_some() { "https" } else { "http" };
            let url = format!("{scheme}://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log_path = dir.path().join("etcd.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut command = Command::new(&binary);
            if let Some(pki) = pki {
                let file = |name: &str, pem: &str| {
                    let path = dir.path().join(name);
                    std::fs::write(&path, pem).unwrap();
                    path.display().to_string()
                };
                command
                    .arg(format!("--trusted-ca-file={}", file("ca.pem", &pki.ca_pem)))
                    .arg(format!("--cert-file={}", file("server.pem", &pki.cert_pem)))
                    .arg(format!("--key-file={}", file("server-key.pem", &pki.key_pem)))
                    .arg("--client-cert-auth");
            }
            let child = command
                .arg("--name=irsa-test")
                .arg(format!("--data-dir={}", dir.path().join("data").display()))
                .arg(format!("--listen-client-urls={url}"))
                .arg(format!("--advertise-client-urls={url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=irsa-test={peer_url}"))
                // Plain-http /health even when clients need TLS, so readiness needs no TLS client.
                .arg(format!("--listen-metrics-urls=http://127.0.0.1:{metrics}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
            let mut server = EtcdServer { child, url, _dir: dir };
            if server.wait_healthy(metrics, Duration::from_secs(20)) {
                return server;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            server.kill();
        }
        panic!("etcd did not become healthy; last log lines:\n{}", tail(&last_log, 20));
    }

    /// Whether etcd reports itself healthy (a leader, a quorum read) before `timeout`, and its
    /// client port accepts connections; false as soon as it exits (a port taken, say).
    fn wait_healthy(&mut self, metrics_port: u16, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let healthy = http_get(metrics_port, "/health")
                .is_ok_and(|(status, body)| status == 200 && body.contains(r#""health":"true""#));
            if healthy && std::net::TcpStream::connect(("127.0.0.1", self.port())).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}
