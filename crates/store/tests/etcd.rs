//! The etcd backend against a real etcd: each test starts its own `etcd` (Debian's etcd-server,
//! installed by `scripts/test`) on free loopback ports with a temp data dir, and kills it when the
//! test ends. Without the `etcd` binary these tests fail, on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod model_check;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use irsa_store::{Error, EtcdConfig, EtcdStore, EtcdTls, Store, Txn};

/// A running etcd, killed on drop.
struct EtcdServer {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
    /// What a client needs to connect, when etcd runs with TLS.
    tls: Option<EtcdTls>,
}

fn client_tls(pki: &TestPki) -> EtcdTls {
    EtcdTls::new(pki.ca_pem.clone()).with_client_identity(pki.client_cert_pem.clone(), pki.client_key_pem.clone())
}

/// A CA, etcd's server certificate (127.0.0.1 and localhost) and a client certificate, in PEM.
use irsa_testkit::Pki as TestPki;

impl EtcdServer {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts etcd; with `pki`, on https with client certificate authentication.
    async fn start_with(pki: Option<&TestPki>) -> Self {
        let binary = std::env::var("IRSA_TEST_ETCD").unwrap_or_else(|_| "etcd".to_owned());
        if Command::new(&binary).arg("--version").output().is_err() {
            panic!(
                "the etcd backend tests need the `{binary}` binary (Debian package etcd-server; \
                 `scripts/test` installs it, or `apt-get install etcd-server`; or set IRSA_TEST_ETCD)"
            );
        }
        let mut last_log = String::new();
        // Free ports can be taken between finding and binding them: retry a few times.
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let (client, peer) = (free_port(), free_port());
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
                    format!("{}", path.display())
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
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
            let mut server = EtcdServer {
                child,
                url,
                _dir: dir,
                tls: pki.map(client_tls),
            };
            if server.wait_healthy().await {
                return server;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            drop(server);
        }
        let tail: String = last_log
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!("etcd did not become healthy; last log lines:\n{tail}");
    }

    async fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let config = self
                .config("irsa/")
                .with_connect_timeout(Duration::from_millis(500))
                .with_request_timeout(Duration::from_millis(500));
            if EtcdStore::connect(config).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
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

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_going_away_is_unavailable_and_ends_watches() {
    let mut server = EtcdServer::start().await;
    let config = EtcdConfig::new([server.url.clone()]).with_request_timeout(Duration::from_secs(1));
    let store = EtcdStore::connect(config).await.unwrap();
    let mut watch = store.watch("").await.unwrap();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
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
