//! The etcd backend against a real etcd: each test starts its own `etcd` (Debian's etcd-server,
//! installed by `scripts/test`) on free loopback ports with a temp data dir, and kills it when the
//! test ends. Without the `etcd` binary these tests fail, on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod model_check;

use std::time::Duration;

use irsa_store::{Error, EtcdConfig, EtcdStore, EtcdTls, Store, Txn};
use irsa_testkit::{Pki as TestPki, free_port};

/// A running etcd (`irsa_testkit::EtcdServer`, killed on drop) and what a client needs to reach it.
struct EtcdServer {
    server: irsa_testkit::EtcdServer,
    url: String,
    /// What a client needs to connect, when etcd runs with TLS.
    tls: Option<EtcdTls>,
}

fn client_tls(pki: &TestPki) -> EtcdTls {
    EtcdTls::new(pki.ca_pem.clone()).with_client_identity(pki.client_cert_pem.clone(), pki.client_key_pem.clone())
}

impl EtcdServer {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts etcd; with `pki`, on https with client certificate authentication. The testkit
    /// waits until etcd is healthy; it blocks, so it runs off the async workers.
    async fn start_with(pki: Option<&TestPki>) -> Self {
        let tls = pki.map(client_tls);
        let pki = pki.cloned();
        let server = tokio::task::spawn_blocking(move || match &pki {
            Some(pki) => irsa_testkit::EtcdServer::start_tls(pki),
            None => irsa_testkit::EtcdServer::start(),
        })
        .await
        .unwrap();
        let url = server.url.clone();
        EtcdServer { server, url, tls }
    }

    fn config(&self, namespace: &str) -> EtcdConfig {
        let config = EtcdConfig::new([self.url.clone()]).with_namespace(namespace);
        match &self.tls {
            Some(tls) => config.with_tls(tls.clone()),
            None => config,
        }
    }

    async fn store(&self, namespace: &str) -> EtcdStore {
        EtcdStore::connect(self.config(namespace)).await.unwrap()
    }
}

async fn etcd() -> (EtcdStore, EtcdServer) {
    let server = EtcdServer::start().await;
    (server.store("irsa/").await, server)
}

crate::conformance::conformance_tests!(etcd);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_do_not_see_each_other() {
    let server = EtcdServer::start().await;
    let a = server.store("tenant-a/").await;
    let b = server.store("tenant-b/").await;
    assert_eq!(a.namespace(), "tenant-a/");
    let mut watch_b = b.watch("").await.unwrap();
    assert!(a.txn(Txn::new().put("roles/r", "a's")).await.unwrap().is_committed());
    assert!(b.txn(Txn::new().put("roles/r", "b's")).await.unwrap().is_committed());
    assert_eq!(a.get("roles/r").await.unwrap().unwrap().value, b"a's");
    assert_eq!(b.get("roles/r").await.unwrap().unwrap().value, b"b's");
    assert_eq!(a.list("", None, 100).await.unwrap().entries.len(), 1);
    let event = tokio::time::timeout(Duration::from_secs(10), watch_b.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.key(), "roles/r");
    assert_eq!(event.revision(), b.get("roles/r").await.unwrap().unwrap().revision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_sees_another_replicas_writes() {
    let server = EtcdServer::start().await;
    let replica1 = server.store("irsa/").await;
    let replica2 = server.store("irsa/").await;
    let mut watch = replica2.watch("roles/").await.unwrap();
    let rev = replica1.txn(Txn::new().put("roles/r", "v")).await.unwrap().revision();
    let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((event.key(), event.revision()), ("roles/r", rev));
    assert_eq!(replica2.get("roles/r").await.unwrap().unwrap().revision, rev);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_etcd_is_unavailable() {
    let config = EtcdConfig::new([format!("http://127.0.0.1:{}", free_port())])
        .with_connect_timeout(Duration::from_millis(500))
        .with_request_timeout(Duration::from_millis(500));
    let err = EtcdStore::connect(config).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    // The cause, from the client's transport error chain, is in the message.
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_endpoints_are_one_store() {
    // The testkit's etcd is one member, so the endpoints name it twice: two connections in the
    // balanced channel, and whichever a request takes, it sees the same data.
    let server = EtcdServer::start().await;
    let config = EtcdConfig::new([server.url.clone(), server.url.clone()]);
    let store = EtcdStore::connect(config).await.unwrap();
    let mut watch = store.watch("roles/").await.unwrap();
    let mut revs = Vec::new();
    for i in 0..20 {
        let key = format!("roles/r{i:02}");
        revs.push(store.txn(Txn::new().put(key.as_str(), "v")).await.unwrap().revision());
        assert_eq!(store.get(&key).await.unwrap().unwrap().revision, revs[i]);
    }
    assert_eq!(store.list("roles/", None, 100).await.unwrap().entries.len(), 20);
    for rev in revs {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.revision(), rev);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_settings_that_cannot_work_are_backend_errors() {
    let pki = TestPki::new();
    let cases = [
        (EtcdConfig::new(["https://127.0.0.1:2379"]), "no TLS settings"),
        (
            EtcdConfig::new(["http://127.0.0.1:2379"]).with_tls(client_tls(&pki)),
            "use https://",
        ),
        (EtcdConfig::new(["grpc://127.0.0.1:2379"]), "http:// or https://"),
        (EtcdConfig::new(["http://bad host:2379"]), "is not a URL"),
    ];
    for (config, expected) in cases {
        let err = EtcdStore::connect(config).await.unwrap_err();
        assert!(matches!(err, Error::Backend(_)), "{err:?}");
        assert!(!err.is_transient());
        assert!(err.to_string().contains(expected), "{err}");
    }
    let none = EtcdStore::connect(EtcdConfig::new(Vec::<String>::new()))
        .await
        .unwrap_err();
    assert!(matches!(none, Error::Unavailable(_)), "{none:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_never_ends_fails_at_the_connect_timeout() {
    // The kernel completes TCP connections to a listening socket that never accepts; the TLS
    // handshake then gets no answer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", silent.local_addr().unwrap());
    let config = EtcdConfig::new([url])
        .with_tls(client_tls(&TestPki::new()))
        .with_connect_timeout(Duration::from_millis(300))
        .with_request_timeout(Duration::from_secs(20));
    let started = std::time::Instant::now();
    let err = EtcdStore::connect(config).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}: {err}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_going_away_is_unavailable_and_ends_watches() {
    let mut server = EtcdServer::start().await;
    let config = EtcdConfig::new([server.url.clone()]).with_request_timeout(Duration::from_secs(1));
    let store = EtcdStore::connect(config).await.unwrap();
    let mut watch = store.watch("").await.unwrap();
    server.server.kill();
    let err = store.get("roles/r").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    match tokio::time::timeout(Duration::from_secs(30), watch.next()).await {
        Ok(None | Some(Err(_))) => {}
        other => panic!("the watch should end or fail when etcd is gone: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_limits_are_backend_errors() {
    let server = EtcdServer::start().await;
    let store = server.store("irsa/").await;
    // etcd's default --max-txn-ops is 128.
    let mut txn = Txn::new();
    for i in 0..200 {
        txn = txn.put(format!("k/{i}"), "v");
    }
    let err = store.txn(txn).await.unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    assert!(store.list("k/", None, 10).await.unwrap().entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let pki = TestPki::new();
    let server = EtcdServer::start_with(Some(&pki)).await;
    assert!(server.url.starts_with("https://"));
    let store = server.store("irsa/").await;
    let mut watch = store.watch("").await.unwrap();
    let rev = store
        .txn(Txn::new().put("roles/r", "over TLS"))
        .await
        .unwrap()
        .revision();
    assert_eq!(store.get("roles/r").await.unwrap().unwrap().revision, rev);
    let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.revision(), rev);

    let short = |config: EtcdConfig| {
        config
            .with_connect_timeout(Duration::from_secs(2))
            .with_request_timeout(Duration::from_secs(2))
    };
    // Without a client certificate etcd refuses the handshake.
    let no_identity = short(EtcdConfig::new([server.url.clone()]).with_tls(EtcdTls::new(pki.ca_pem.clone())));
    let err = EtcdStore::connect(no_identity).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    // A server certificate from another CA is not trusted.
    let other = TestPki::new();
    let wrong_ca = short(EtcdConfig::new([server.url.clone()]).with_tls(client_tls(&other)));
    assert!(EtcdStore::connect(wrong_ca).await.is_err());
    // Plain http to a TLS port fails too.
    let plain = short(EtcdConfig::new([server.url.replace("https://", "http://")]));
    assert!(EtcdStore::connect(plain).await.is_err());
    // The private key never shows in debug output.
    let debug = format!("{:?}", client_tls(&pki));
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

/// The property test of `tests/model.rs`, against etcd: each case in a fresh namespace of one
/// server, the model starting at the cluster revision (only this test writes to that server).
#[test]
fn etcd_matches_the_model() {
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(EtcdServer::start());
    // PROPTEST_CASES raises the count for a longer local run.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicU64::new(0);
    let steps = proptest::collection::vec(model_check::step(), 1..30);
    let result = runner.run(&steps, |steps| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let store = rt.block_on(server.store(&format!("case-{n}/")));
        let start = rt.block_on(store.revision()).unwrap();
        model_check::check(&store, &rt, &mut model_check::Model::starting_at(start), &steps)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
