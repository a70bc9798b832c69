//! `irsa-testkit` is what several of irsa's test suites need and nothing
//! ships: the tools of the test virtualenv that `scripts/test` creates
//! (Python with PyJWT and botocore, the AWS CLI, moto_server), a throwaway
//! certificate authority for in-process HTTPS and TLS peers, a moto_server, an
//! etcd and a several-member etcd cluster ([`EtcdCluster`]) on free loopback
//! ports, and a real kube-apiserver on its own etcd ([`KubeApiServer`]). It is
//! a dev-dependency only; its
//! functions panic with instructions, as failed test set-up should.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic is a failed set-up

mod etcd;
mod etcd_cluster;
mod kube;

pub use etcd::EtcdServer;
pub use etcd_cluster::EtcdCluster;
pub use kube::{KUBE_APISERVER_VERSION, KubeApiServer, kube_apiserver_binary};

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tool of the test virtualenv: `python`, `aws`, `moto_server`. The
/// virtualenv is the one whose python `IRSA_TEST_PYTHON` names (set by
/// `scripts/test`), else `.venv` at the workspace root. Missing: the test fails
/// and says how to make it, since interop tests must never pass silently.
pub fn venv_tool(name: &str) -> PathBuf {
    let python = std::env::var_os("IRSA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    let tool = python.with_file_name(name);
    assert!(
        tool.exists(),
        "{} not found: run ./scripts/test once (it creates .venv from scripts/requirements-test.txt), \
         or set IRSA_TEST_PYTHON to a python whose bin directory has {name}",
        tool.display()
    );
    tool
}

/// A free TCP port on 127.0.0.1 (free when asked; bind it soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET path` on `127.0.0.1:port` over plain HTTP/1.0: the status and the body. No client
/// library, so that synchronous test set-up can poll health endpoints.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .ok_or_else(bad)?;
    Ok((status, body))
}

/// A throwaway CA with a server certificate for `127.0.0.1` and `localhost`
/// and a client certificate, all PEM.
#[derive(Clone)]
pub struct Pki {
    /// The CA certificate.
    pub ca_pem: String,
    /// The server certificate.
    pub cert_pem: String,
    /// The server key.
    pub key_pem: String,
    /// A client certificate (CN `irsa`).
    pub client_cert_pem: String,
    /// Its key.
    pub client_key_pem: String,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// A new CA and its two leaves.
    pub fn new() -> Self {
        let name = "irsa test CA";
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, usage: rcgen::ExtendedKeyUsagePurpose| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            (params.signed_by(&key, &issuer).unwrap().pem(), key.serialize_pem())
        };
        let (cert_pem, key_pem) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert_pem, client_key_pem) = leaf(vec!["irsa".into()], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        Pki {
            ca_pem,
            cert_pem,
            key_pem,
            client_cert_pem,
            client_key_pem,
        }
    }
}

/// moto_server on a free loopback port, stopped on drop.
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl MotoServer {
    /// Starts moto_server from the test virtualenv and waits until it answers.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(venv_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = MotoServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_for_port(port, Duration::from_secs(30));
        server
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
