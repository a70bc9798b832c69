//! The IAM endpoints the aws-sdk-iam tests and the benchmark run against: `moto_server` (an
//! independent implementation, so the scenarios check what AWS does and not only what we think it
//! does) and irsa's own STS + IAM server, started in this process on a free port.

use std::time::Duration;

use irsa_server::{ServerConfig, Started};

/// irsa's root key for the in-process server; its SigV4 check needs the exact pair.
const ROOT_KEY: (&str, &str) = ("AKIAIRSATESTROOT0001", "irsa-test-root-secret-0123456789");

/// A running IAM endpoint, stopped on drop.
pub struct Backend {
    /// `moto` or `irsa`, for messages.
    pub name: &'static str,
    /// The endpoint URL.
    pub url: String,
    /// The account roles are created in.
    pub account: String,
    key: (String, String),
    _moto: Option<irsa_testkit::MotoServer>,
    // Dropping the sender ends the in-process server's graceful-shutdown future.
    _irsa: Option<(tokio::sync::oneshot::Sender<()>, tempfile::TempDir)>,
}

impl Backend {
    /// A fresh moto_server (any key is accepted).
    pub fn moto() -> Self {
        let server = irsa_testkit::MotoServer::start();
        Backend {
            name: "moto",
            url: server.url.clone(),
            account: "123456789012".into(),
            key: ("AKIDTEST".into(), "secret".into()),
            _moto: Some(server),
            _irsa: None,
        }
    }

    /// irsa's server on the current tokio runtime, with a fresh store and this trust-policy size
    /// limit (AWS's default is 2,048).
    pub async fn irsa(trust_limit: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            store: irsa_server::StoreChoice::Embedded,
            account: "000000000000".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            root_access_key: Some((ROOT_KEY.0.into(), ROOT_KEY.1.into())),
            oidc_ca_pem: None,
            allow_http_issuers: false,
            trust_limit,
        };
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<Started>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            irsa_server::serve(
                config,
                move |s| {
                    let _ = started_tx.send(s.clone());
                },
                async move {
                    let _ = stop_rx.await;
                },
            )
            .await
            .unwrap();
        });
        let started = tokio::time::timeout(Duration::from_secs(30), started_rx)
            .await
            .expect("irsa server did not start")
            .expect("irsa server failed to start");
        assert_eq!(started.root_access_key_id, ROOT_KEY.0);
        Backend {
            name: "irsa",
            url: format!("http://{}", started.addr),
            account: "000000000000".into(),
            key: (ROOT_KEY.0.into(), ROOT_KEY.1.into()),
            _moto: None,
            _irsa: Some((stop_tx, dir)),
        }
    }

    /// moto when `IRSA_BENCH_BACKEND=moto`, else irsa.
    #[allow(dead_code)] // the benchmark's choice only
    pub async fn from_bench_env() -> Self {
        match std::env::var("IRSA_BENCH_BACKEND").as_deref() {
            Ok("moto") => Self::moto(),
            Ok("irsa") | Err(_) => Self::irsa(2048).await,
            Ok(other) => panic!("IRSA_BENCH_BACKEND must be `irsa` or `moto`, not `{other}`"),
        }
    }

    /// An aws-sdk-iam client with this backend's credentials, given explicitly (the process
    /// environment is shared by parallel tests).
    pub fn client(&self) -> aws_sdk_iam::Client {
        let creds = aws_sdk_iam::config::Credentials::new(&self.key.0, &self.key.1, None, None, "test");
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(&self.url)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }
}
