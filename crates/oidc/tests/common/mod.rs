//! Shared test support: an in-process HTTPS issuer with a test CA, whose every route can be
//! told to answer normally, slowly, hugely, by redirect, with an error, or to drop the
//! connection.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use irsa_oidc::cache::CachePolicy;
use irsa_oidc::fetch::FetchOptions;
use irsa_oidc::{JwkSet, TrustedIssuer, ValidationOptions, Verifier, VerifierConfig, VerifyingKey};
use rustls_pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

pub const AUD: &str = "sts.amazonaws.com";

/// The shared test CA, with the server configuration the issuer here needs.
pub use irsa_testkit::Pki;

pub trait PkiExt {
    fn server_config(&self) -> Arc<rustls::ServerConfig>;
}

impl PkiExt for Pki {
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap();
        let mut cfg =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(cfg)
    }
}

/// How a route answers.
#[derive(Clone, Debug)]
pub enum Reply {
    Body {
        body: Vec<u8>,
        cache_control: Option<String>,
    },
    Status(u16),
    Redirect(String),
    Slow {
        delay: Duration,
        body: Vec<u8>,
    },
    /// Send `count` chunks of `chunk`, one per `interval`, without Content-Length.
    Drip {
        chunk: Vec<u8>,
        interval: Duration,
        count: usize,
    },
    /// Claim a huge Content-Length.
    HugeLength,
    /// Drop the connection without answering.
    Close,
    /// Serve `body` labelled `content_type`, and answer 406 unless the request's `Accept`
    /// admits that type (by name, `type/*` or `*/*`), as kube-apiserver does for its JWKS
    /// (`application/jwk-set+json` only).
    Negotiated {
        content_type: String,
        body: Vec<u8>,
    },
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Reply>>,
    hits: Mutex<HashMap<String, usize>>,
    down: AtomicBool,
}

/// An HTTP(S) server on 127.0.0.1 with scripted routes.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let s = Arc::clone(&s);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if s.down.load(Ordering::SeqCst) {
                        drop(tcp);
                        return;
                    }
                    match acceptor {
                        Some(a) => {
                            if let Ok(stream) = a.accept(tcp).await {
                                handle(stream, s).await;
                            }
                        }
                        None => handle(tcp, s).await,
                    }
                });
            }
        });
        Self {
            addr,
            base: format!("{scheme}://{addr}"),
            shared,
            task,
        }
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.shared.routes.lock().unwrap().insert(path.to_owned(), reply);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.shared.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// While down, connections are accepted and dropped at once.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Publish discovery (issuer = base URL) and a JWKS of `keys`.
    pub fn publish(&self, keys: &[VerifyingKey], cache_control: Option<&str>) {
        self.publish_discovery(&self.base.clone());
        self.set(
            "/openid/v1/jwks",
            Reply::Body {
                body: JwkSet::from_keys(keys).to_json().into_bytes(),
                cache_control: cache_control.map(str::to_owned),
            },
        );
    }

    pub fn publish_discovery(&self, issuer: &str) {
        let doc = irsa_oidc::discovery_document(issuer, Some(&format!("{}/openid/v1/jwks", self.base)), &[]);
        self.set(
            "/.well-known/openid-configuration",
            Reply::Body {
                body: doc.to_json().into_bytes(),
                cache_control: None,
            },
        );
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
        if buf.len() > 16 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    *shared.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let reply = shared
        .routes
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Reply::Status(404));
    let accept = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("accept")))
        .map(|(_, v)| v.trim().to_owned());
    let write_as = |status: &str, content_type: &str, extra: &str, body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let write = |status: &str, extra: &str, body: &[u8]| write_as(status, "application/json", extra, body);
    let bytes = match reply {
        Reply::Negotiated { content_type, body } => {
            let major = content_type.split('/').next().unwrap_or_default();
            let admitted = accept.as_deref().is_none_or(|a| {
                a.split(',').any(|range| {
                    let range = range.split(';').next().unwrap_or_default().trim();
                    range == content_type || range == "*/*" || range == format!("{major}/*")
                })
            });
            if admitted {
                write_as("200 OK", &content_type, "", &body)
            } else {
                write("406 Not Acceptable", "", b"{}")
            }
        }
        Reply::Body { body, cache_control } => {
            let extra = cache_control
                .map(|c| format!("Cache-Control: {c}\r\n"))
                .unwrap_or_default();
            write("200 OK", &extra, &body)
        }
        Reply::Status(code) => write(&format!("{code} Status"), "", b"{}"),
        Reply::Redirect(loc) => write("302 Found", &format!("Location: {loc}\r\n"), b""),
        Reply::Slow { delay, body } => {
            tokio::time::sleep(delay).await;
            write("200 OK", "", &body)
        }
        Reply::Drip { chunk, interval, count } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..count {
                if stream.write_all(&chunk).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
            let _ = stream.shutdown().await;
            return;
        }
        Reply::HugeLength => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n{\"keys\":[";
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            return;
        }
        Reply::Close => return,
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// A cache policy with test-sized durations.
pub fn fast_policy() -> CachePolicy {
    CachePolicy {
        min_ttl: Duration::from_millis(300),
        max_ttl: Duration::from_secs(60),
        default_ttl: Duration::from_secs(60),
        max_stale: Duration::from_secs(1),
        refresh_interval: Duration::from_millis(300),
        failure_backoff: Duration::from_millis(100),
    }
}

pub fn fetch_options(pki: &Pki) -> FetchOptions {
    FetchOptions {
        extra_ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        only_extra_ca: true,
        timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(800),
        ..FetchOptions::default()
    }
}

pub fn verifier(issuer: &str, pki: &Pki, cache: CachePolicy) -> Verifier {
    verifier_with(issuer, fetch_options(pki), cache)
}

pub fn verifier_with(issuer: &str, fetch: FetchOptions, cache: CachePolicy) -> Verifier {
    Verifier::new(VerifierConfig {
        issuers: vec![TrustedIssuer::new(issuer, [AUD])],
        validation: ValidationOptions::default(),
        cache,
        fetch,
    })
    .unwrap()
}
