//! The HTTPS server in-process: real TLS (rustls, rcgen certificates), AdmissionReview v1 and
//! v1beta1 bodies, malformed bodies, health/readiness/metrics, certificate hot reload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use irsa_webhook::MutationConfig;
use irsa_webhook::annotations::ServiceAccountInfo;
use irsa_webhook::server::{AppState, router, serve_https};
use irsa_webhook::store::IdentityStore;
use irsa_webhook::tls::{ReloadingCertResolver, provider, server_config};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;

struct Server {
    addr: SocketAddr,
    store: Arc<IdentityStore>,
    resolver: Arc<ReloadingCertResolver>,
    dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn self_signed() -> (String, String, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der = ck.cert.der().clone();
    (ck.cert.pem(), ck.signing_key.serialize_pem(), der)
}

async fn start(min_version: &str) -> (Server, CertificateDer<'static>) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed();
    std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
    std::fs::write(dir.path().join("tls.key"), key).unwrap();
    let resolver = Arc::new(
        ReloadingCertResolver::load(
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
            Arc::new(provider()),
        )
        .unwrap(),
    );
    let tls = server_config(min_version, "", resolver.clone()).unwrap();
    let store = Arc::new(IdentityStore::new());
    store.upsert(
        "default",
        "s3-reader",
        ServiceAccountInfo::from_annotations(
            "eks.amazonaws.com",
            [("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/s3-reader")],
        ),
    );
    let mut state = AppState::new(store.clone(), MutationConfig::default());
    state.max_body_bytes = 1024 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_https(listener, router(state), Arc::new(tls), async move {
        let _ = rx.await;
    }));
    (
        Server {
            addr,
            store,
            resolver,
            dir,
            shutdown: Some(tx),
            task,
        },
        der,
    )
}

struct Reply {
    status: u16,
    content_type: String,
    body: Bytes,
    peer_cert: CertificateDer<'static>,
}

async fn call(
    addr: SocketAddr,
    trust: &CertificateDer<'static>,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let peer_cert = tls.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body,
        peer_cert,
    }
}

fn review(api_version: &str) -> Vec<u8> {
    json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": "abc-123",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "default",
            "operation": "CREATE",
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"serviceAccountName": "s3-reader",
                         "containers": [{"name": "c", "image": "i"}]}
            }
        }
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn https_end_to_end() {
    let (mut server, trust) = start("").await;
    let addr = server.addr;

    // v1 review: answered with apiVersion, kind, uid and a patch.
    let r = call(
        addr,
        &trust,
        "POST",
        "/mutate",
        Some("application/json"),
        review("admission.k8s.io/v1"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], "abc-123");
    assert_eq!(v["response"]["allowed"], true);
    let patch = base64::engine::general_purpose::STANDARD
        .decode(v["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    assert!(!patch.0.is_empty());

    // v1beta1, with a charset parameter on the content type.
    let r = call(
        addr,
        &trust,
        "POST",
        "/mutate",
        Some("application/json; charset=utf-8"),
        review("admission.k8s.io/v1beta1"),
    )
    .await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(v["response"]["uid"], "abc-123");

    // Wrong content type: upstream's 415.
    let r = call(
        addr,
        &trust,
        "POST",
        "/mutate",
        Some("text/plain"),
        review("admission.k8s.io/v1"),
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(&r.body[..], b"Invalid Content-Type, expected `application/json`\n");
    let r = call(addr, &trust, "POST", "/mutate", None, review("admission.k8s.io/v1")).await;
    assert_eq!(r.status, 415);

    // Truncated JSON: a well-formed denial.
    let body = review("admission.k8s.io/v1");
    let r = call(
        addr,
        &trust,
        "POST",
        "/mutate",
        Some("application/json"),
        body[..body.len() / 2].to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    assert_eq!(v["response"]["uid"], "");

    // Empty body.
    let r = call(addr, &trust, "POST", "/mutate", Some("application/json"), Vec::new()).await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["response"]["status"]["message"], "bad content");

    // Huge body: 413, the server keeps serving.
    let r = call(
        addr,
        &trust,
        "POST",
        "/mutate",
        Some("application/json"),
        vec![b' '; 2 * 1024 * 1024],
    )
    .await;
    assert_eq!(r.status, 413);

    // Health and readiness (readiness waits for the cache sync).
    let r = call(addr, &trust, "GET", "/healthz", None, Vec::new()).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
    let r = call(addr, &trust, "GET", "/readyz", None, Vec::new()).await;
    assert_eq!(r.status, 503);
    server.store.set_synced(true);
    let r = call(addr, &trust, "GET", "/readyz", None, Vec::new()).await;
    assert_eq!(r.status, 200);

    // Metrics.
    let r = call(addr, &trust, "GET", "/metrics", None, Vec::new()).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    for needle in [
        "http_request_count{verb=\"POST\",path=\"/mutate\",code=\"200\"}",
        "http_request_count{verb=\"POST\",path=\"/mutate\",code=\"415\"} 2",
        "pod_identity_webhook_pod_count{method=\"sts_web_identity\"} 2",
        "http_request_duration_microseconds_count{verb=\"POST\",path=\"/mutate\"}",
        "irsa_webhook_request_duration_seconds_bucket",
        "irsa_webhook_cache_service_accounts{annotated=\"true\"} 1",
        "irsa_webhook_cache_synced 1",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }

    // Certificate hot reload: a new certificate is served to new connections.
    let (cert2, key2, der2) = self_signed();
    std::fs::write(server.dir.path().join("tls.crt"), cert2).unwrap();
    std::fs::write(server.dir.path().join("tls.key"), key2).unwrap();
    assert!(server.resolver.reload().unwrap());
    assert!(!server.resolver.reload().unwrap());
    let r = call(addr, &der2, "GET", "/healthz", None, Vec::new()).await;
    assert_eq!(r.peer_cert, der2);

    // A broken rotation keeps the current certificate.
    std::fs::write(server.dir.path().join("tls.key"), "garbage").unwrap();
    assert!(server.resolver.reload().is_err());
    let r = call(addr, &der2, "GET", "/healthz", None, Vec::new()).await;
    assert_eq!(r.status, 200);

    server.shutdown.take().unwrap().send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn tls13_only_rejects_tls12_clients() {
    let (mut server, trust) = start("1.3").await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let result = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await;
    assert!(result.is_err());
    // TLS 1.3 works.
    let r = call(server.addr, &trust, "GET", "/healthz", None, Vec::new()).await;
    assert_eq!(r.status, 200);
    server.shutdown.take().unwrap().send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn http2_with_alpn() {
    let (mut server, trust) = start("").await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method("POST")
        .uri("https://localhost/mutate")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(review("admission.k8s.io/v1"))))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["uid"], "abc-123");
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    server.shutdown.take().unwrap().send(()).unwrap();
    server.task.await.unwrap().unwrap();
}
