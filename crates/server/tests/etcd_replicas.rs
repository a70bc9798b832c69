//! Replicas on one etcd are one service, as the AWS SDK for Rust sees it: what one writes the
//! other reads, session credentials from one are accepted by the other (the session-token key
//! ring is in etcd), and a restarted replica still sees everything. Each test starts its own
//! `etcd` (Debian's etcd-server, installed by `scripts/test`); without it they fail, on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irsa_server::{EtcdConfig, RunningServer, ServerConfig, StoreChoice, spawn};
use irsa_testkit::EtcdServer;
use std::path::Path;
use std::time::Duration;

const ACCOUNT: &str = "111122223333";
const ROOT: (&str, &str) = ("AKIAIRSAREPLICATEST0", "irsa-replica-test-secret-key-0000000000000");
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:ListRoles"],"Resource":"*"}]}"#;

mod common;

/// One in-process `irsa server` on etcd.
struct Replica {
    url: String,
    server: RunningServer,
}

impl Replica {
    /// Starts a replica with this data dir on `etcd` under `prefix`; `root: None` takes the root
    /// key from the store (or generates it, for the first replica).
    async fn start(etcd: &EtcdServer, prefix: &str, data_dir: &Path, root: Option<(&str, &str)>) -> Self {
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            store: StoreChoice::Etcd(EtcdConfig::new([etcd.url.clone()]).with_namespace(prefix)),
            account: ACCOUNT.into(),
            root_access_key: root.map(|(id, secret)| (id.into(), secret.into())),
            ..ServerConfig::new(data_dir)
        };
        let server = tokio::time::timeout(Duration::from_secs(30), spawn(config))
            .await
            .unwrap()
            .unwrap();
        Replica {
            url: server.url(),
            server,
        }
    }

    /// The root key id and secret this replica wrote to its data dir.
    fn root_file(&self) -> (String, String) {
        common::root_key_in(self.server.started().root_credentials_file.as_deref().unwrap())
    }

    async fn client(&self, id: &str, secret: &str, token: Option<&str>) -> aws_config::SdkConfig {
        common::sdk(&self.url, id, secret, token.map(str::to_owned)).await
    }

    async fn root(&self) -> aws_config::SdkConfig {
        self.client(ROOT.0, ROOT.1, None).await
    }

    /// Stops the replica and waits until it has let go of everything.
    async fn stop(self) {
        self.server.stop().await.unwrap();
    }
}

/// etcd, started off the async workers (the testkit waits for it synchronously).
async fn etcd() -> EtcdServer {
    tokio::task::spawn_blocking(EtcdServer::start).await.unwrap()
}

fn code<E: aws_sdk_iam::error::ProvideErrorMetadata>(e: &E) -> Option<&str> {
    e.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_etcd_are_one_service() {
    let etcd = etcd().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Replica::start(&etcd, "replicas/", dir_a.path(), Some(ROOT)).await;
    let b = Replica::start(&etcd, "replicas/", dir_b.path(), Some(ROOT)).await;
    assert!(
        a.server.started().store.contains(&format!("etcd at {}", etcd.url)),
        "{}",
        a.server.started().store
    );
    assert!(
        a.server.started().store.contains("replicas/"),
        "{}",
        a.server.started().store
    );
    // The data dir holds the root credentials only: no embedded store was opened.
    let files: Vec<_> = std::fs::read_dir(dir_b.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, [irsa_server::ROOT_CREDENTIALS_FILE]);

    // A role written through A is read through B, and its name is taken on B too.
    let iam_a = aws_sdk_iam::Client::new(&a.root().await);
    let iam_b = aws_sdk_iam::Client::new(&b.root().await);
    let created = iam_a
        .create_role()
        .role_name("reader")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    iam_a
        .put_role_policy()
        .role_name("reader")
        .policy_name("read")
        .policy_document(READ_ONLY)
        .send()
        .await
        .unwrap();
    let role_id = created.role().unwrap().role_id().to_owned();
    let got = iam_b.get_role().role_name("reader").send().await.unwrap();
    assert_eq!(got.role().unwrap().role_id(), role_id);
    let policy = iam_b
        .get_role_policy()
        .role_name("reader")
        .policy_name("read")
        .send()
        .await
        .unwrap();
    // IAM returns policy documents URL-encoded.
    assert!(
        policy.policy_document().contains("iam%3AGetRole"),
        "{}",
        policy.policy_document()
    );
    let again = iam_b
        .create_role()
        .role_name("reader")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again.into_service_error()), Some("EntityAlreadyExists"));

    // A session from A's STS is accepted by B, with the role's policy enforced there; and the
    // other way round.
    let assume = |sdk: aws_config::SdkConfig, session: &'static str| async move {
        let out = aws_sdk_sts::Client::new(&sdk)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/reader"))
            .role_session_name(session)
            .send()
            .await
            .unwrap();
        let c = out.credentials().unwrap();
        (
            c.access_key_id().to_owned(),
            c.secret_access_key().to_owned(),
            c.session_token().to_owned(),
        )
    };
    let from_a = assume(a.root().await, "from-a").await;
    let from_b = assume(b.root().await, "from-b").await;
    for (replica, (id, secret, token), name) in [(&b, &from_a, "from-a"), (&a, &from_b, "from-b")] {
        let session = replica.client(id, secret, Some(token)).await;
        let who = aws_sdk_sts::Client::new(&session)
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(
            who.arn(),
            Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/reader/{name}").as_str())
        );
        let iam = aws_sdk_iam::Client::new(&session);
        iam.get_role().role_name("reader").send().await.unwrap();
        let denied = iam.delete_role().role_name("reader").send().await.unwrap_err();
        assert_eq!(code(&denied.into_service_error()), Some("AccessDenied"));
    }

    // B restarts on the same etcd, told no root key: it serves the stored one (and writes it to
    // its own file), still sees the role, and still accepts A's session.
    b.stop().await;
    let b = Replica::start(&etcd, "replicas/", dir_b.path(), None).await;
    assert_eq!(b.root_file(), (ROOT.0.to_owned(), ROOT.1.to_owned()));
    let iam_b = aws_sdk_iam::Client::new(&b.root().await);
    let got = iam_b.get_role().role_name("reader").send().await.unwrap();
    assert_eq!(got.role().unwrap().role_id(), role_id);
    let (id, secret, token) = &from_a;
    let who = aws_sdk_sts::Client::new(&b.client(id, secret, Some(token)).await)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/reader/from-a").as_str())
    );
    // What the restarted B writes, A reads.
    iam_b
        .create_role()
        .role_name("after-restart")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    iam_a.get_role().role_name("after-restart").send().await.unwrap();
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_together_agree_on_one_root_key() {
    let etcd = etcd().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Neither is given a root key: both race to generate one; one wins, both serve it.
    let (a, b) = tokio::join!(
        Replica::start(&etcd, "fresh/", dir_a.path(), None),
        Replica::start(&etcd, "fresh/", dir_b.path(), None),
    );
    let root = a.root_file();
    assert_eq!(b.root_file(), root);
    assert_eq!(a.server.started().root_access_key_id, root.0);
    // And one session-key ring: B accepts a session from A.
    let root_a = a.client(&root.0, &root.1, None).await;
    aws_sdk_iam::Client::new(&root_a)
        .create_role()
        .role_name("r")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    let creds = aws_sdk_sts::Client::new(&root_a)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/r"))
        .role_session_name("together")
        .send()
        .await
        .unwrap()
        .credentials()
        .cloned()
        .unwrap();
    let session = b
        .client(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token()),
        )
        .await;
    aws_sdk_sts::Client::new(&session)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    a.stop().await;
    b.stop().await;
}
