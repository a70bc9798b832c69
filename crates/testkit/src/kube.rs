//! A throwaway Kubernetes control plane: a real kube-apiserver (built from Debian's
//! `kubernetes` source package by `scripts/build-kube-apiserver`) on its own etcd, with its own
//! CA, serving certificate, service-account signing key and a token-authenticated admin.
//!
//! There is no controller manager and no scheduler: namespaces are not finalized after
//! deletion, owner references are not garbage-collected, service accounts get no token
//! secrets, pods are never scheduled. Everything irsa itself talks to is real: CRDs,
//! server-side apply, status, Events, Leases, admission webhooks, TokenRequest and the
//! service-account issuer's discovery document and JWKS.

use crate::{EtcdServer, Pki, free_port, tail};
use base64::Engine as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The kube-apiserver version `scripts/build-kube-apiserver` builds.
pub const KUBE_APISERVER_VERSION: &str = "1.20.2";

/// A running kube-apiserver, killed (with its etcd) on drop.
pub struct KubeApiServer {
    child: Child,
    _etcd: EtcdServer,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`, also the service-account issuer.
    pub url: String,
    /// The CA of the serving certificate (PEM).
    pub ca_pem: String,
    /// The bearer token of a `system:masters` user.
    pub admin_token: String,
    /// A kubeconfig for that user.
    pub kubeconfig: PathBuf,
    tls: Arc<rustls::ClientConfig>,
}

/// Where the binary is: `IRSA_KUBE_APISERVER`, else the cache `scripts/build-kube-apiserver`
/// fills (`IRSA_KUBE_APISERVER_CACHE`, else `$XDG_CACHE_HOME/irsa`, else `~/.cache/irsa`).
pub fn kube_apiserver_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("IRSA_KUBE_APISERVER") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("IRSA_KUBE_APISERVER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("irsa")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/irsa")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    cache.join(format!("kube-apiserver-{KUBE_APISERVER_VERSION}"))
}

impl KubeApiServer {
    /// Starts etcd and kube-apiserver and waits until the API server is ready (its RBAC
    /// bootstrap done), then lets unauthenticated clients read the issuer's discovery document
    /// and JWKS, as EKS does. Panics with how to build the binary when it is missing: these
    /// tests must never pass without a real API server.
    pub fn start() -> Self {
        let binary = kube_apiserver_binary();
        assert!(
            binary.exists(),
            "kube-apiserver not found at {}: run `scripts/build-kube-apiserver` (it builds {KUBE_APISERVER_VERSION} from \
             Debian's kubernetes source package, about 6 minutes, and caches it there; `./scripts/test` runs it), \
             or set IRSA_KUBE_APISERVER to a kube-apiserver binary",
            binary.display()
        );
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&binary) {
                Ok(server) => return server,
                Err(log) => last = log,
            }
        }
        panic!("kube-apiserver did not become ready; last log lines:\n{last}");
    }

    fn try_start(binary: &Path) -> Result<Self, String> {
        let etcd = EtcdServer::start();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let pki = Pki::new();
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).map(|()| path.display().to_string())
        };
        let sa_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
        let admin_token = format!("admin-{}", free_port());
        let files = (|| -> std::io::Result<_> {
            Ok((
                write("ca.pem", &pki.ca_pem)?,
                write("server.pem", &pki.cert_pem)?,
                write("server-key.pem", &pki.key_pem)?,
                write("sa.key", &sa_key.serialize_pem())?,
                write(
                    "tokens.csv",
                    &format!("{admin_token},admin,admin-uid,\"system:masters\"\n"),
                )?,
            ))
        })()
        .map_err(|e| e.to_string())?;
        let (ca, cert, key, sa, tokens) = files;
        let log_path = dir.path().join("kube-apiserver.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg(format!("--etcd-servers={}", etcd.url))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--tls-cert-file={cert}"))
            .arg(format!("--tls-private-key-file={key}"))
            .arg(format!("--client-ca-file={ca}"))
            .arg(format!("--token-auth-file={tokens}"))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--service-account-issuer={url}"))
            .arg(format!("--service-account-signing-key-file={sa}"))
            .arg(format!("--service-account-key-file={sa}"))
            .arg(format!("--api-audiences=sts.amazonaws.com,{url}"))
            .arg("--service-cluster-ip-range=10.96.0.0/24")
            // No controller manager: nothing would create the token secrets this plugin waits for.
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg(format!("--cert-dir={}", dir.path().join("certs").display()))
            .arg("--enable-priority-and-fairness=false")
            .arg("--profiling=false")
            .arg("--logtostderr=true")
            .arg("--v=1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let tls = client_tls(&pki.ca_pem);
        let kubeconfig = dir.path().join("kubeconfig");
        let mut server = KubeApiServer {
            child,
            _etcd: etcd,
            dir,
            url,
            ca_pem: pki.ca_pem.clone(),
            admin_token,
            kubeconfig,
            tls,
        };
        if !server.wait_ready(Duration::from_secs(60)) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = server.child.kill();
            let _ = server.child.wait();
            return Err(tail(&log, 30));
        }
        std::fs::write(&server.kubeconfig, server.kubeconfig_yaml()).map_err(|e| e.to_string())?;
        // EKS lets anyone read the issuer's discovery document and JWKS; so does this cluster.
        let binding = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"irsa-test-issuer-discovery"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:service-account-issuer-discovery"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:unauthenticated"}]}"#;
        let (status, body) = server
            .request(
                "POST",
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                Some(binding),
            )
            .map_err(|e| e.to_string())?;
        if status != 201 {
            return Err(format!("creating the issuer-discovery binding: HTTP {status}: {body}"));
        }
        Ok(server)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the URL ends in the port")
    }

    /// The service-account issuer (the API server's URL).
    pub fn issuer(&self) -> &str {
        &self.url
    }

    /// The kubeconfig text: the admin's token, the CA inline.
    pub fn kubeconfig_yaml(&self) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: irsa-test\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n\
             users:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: irsa-test\n  context:\n    cluster: irsa-test\n    user: admin\n\
             current-context: irsa-test\n",
            self.url, self.admin_token
        )
    }

    /// The last `n` lines of the API server's log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(
            &std::fs::read_to_string(self.dir.path().join("kube-apiserver.log")).unwrap_or_default(),
            n,
        )
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// One request as the admin (HTTP/1.1, `Connection: close`): status and body. For test
    /// set-up; tests use kube-rs.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
        self.request_as(Some(&self.admin_token), method, path, body)
    }

    /// One request with `token` (none: anonymous).
    pub fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(|e| invalid(e.to_string()))?;
        let conn = rustls::ClientConnection::new(self.tls.clone(), name).map_err(|e| invalid(e.to_string()))?;
        let tcp = std::net::TcpStream::connect(("127.0.0.1", self.port()))?;
        tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAccept: application/json\r\n");
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or_default();
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ));
        tls.write_all(head.as_bytes())?;
        tls.write_all(body.as_bytes())?;
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            // The server closing without close_notify still delivered the whole response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(e),
        }
        parse_response(&raw).ok_or_else(|| invalid("not an HTTP response".into()))
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.is_running() {
                return false;
            }
            if let Ok((200, _)) = self.request("GET", "/readyz", None) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        false
    }
}

impl Drop for KubeApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- kube-apiserver log (last 40 lines) ---\n{}", self.log_tail(40));
        }
    }
}

fn client_tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("the test CA is PEM"))
            .expect("the test CA is a certificate");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Status and body of a whole HTTP/1.1 response, chunked or not.
fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).ok()?.trim(), 16).ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body = out;
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(parse_response(plain), Some((200, "ok".into())));
        let chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((201, "abcde".into())));
        assert_eq!(parse_response(b"garbage"), None);
    }
}
