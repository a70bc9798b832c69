//! The IAM endpoints the aws-sdk-iam tests and the benchmark run against: `moto_server` (an
//! independent implementation, so the scenarios check what AWS does and not only what we think it
//! does) and irsa's own STS + IAM server, started in this process on a free port.

use std::time::Duration;

use irsa_server::ServerConfig;

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
    // Dropping the server shuts it down gracefully.
    _irsa: Option<(irsa_server::RunningServer, tempfile::TempDir)>,
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
            root_access_key: Some((ROOT_KEY.0.into(), ROOT_KEY.1.into())),
            trust_limit,
            ..ServerConfig::new(dir.path())
        };
        let server = tokio::time::timeout(Duration::from_secs(30), irsa_server::spawn(config))
            .await
            .expect("irsa server did not start")
            .expect("irsa server failed to start");
        assert_eq!(server.started().root_access_key_id, ROOT_KEY.0);
        Backend {
            name: "irsa",
            url: server.url(),
            account: "000000000000".into(),
            key: (ROOT_KEY.0.into(), ROOT_KEY.1.into()),
            _moto: None,
            _irsa: Some((server, dir)),
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
