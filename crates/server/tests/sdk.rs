//! The service as the AWS SDK for Rust sees it: SigV4, the Query protocol, XML.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_server::{RunningServer, ServerConfig, spawn};
use std::time::Duration;

mod common;

use common::sdk;

struct Running {
    url: String,
    root: (String, String),
    _dir: Option<tempfile::TempDir>,
    server: RunningServer,
}

impl Running {
    /// Stops the server and waits until it has let go of the store.
    async fn stop(self) {
        self.server.stop().await.unwrap();
    }
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut r = start_in(dir.path()).await;
    r._dir = Some(dir);
    r
}

async fn start_in(data_dir: &std::path::Path) -> Running {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        account: "111122223333".into(),
        ..ServerConfig::new(data_dir)
    };
    let server = tokio::time::timeout(Duration::from_secs(30), spawn(config))
        .await
        .unwrap()
        .unwrap();
    let root = common::root_key_in(server.started().root_credentials_file.as_deref().unwrap());
    assert_eq!(root.0, server.started().root_access_key_id);
    Running {
        url: server.url(),
        root,
        _dir: None,
        server,
    }
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:ListRoles"],"Resource":"*"}]}"#;

#[tokio::test]
async fn root_and_role_sessions_through_the_sdk() {
    let s = start().await;
    let root = sdk(&s.url, &s.root.0, &s.root.1, None).await;
    let sts = aws_sdk_sts::Client::new(&root);
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("111122223333"));
    assert_eq!(me.arn(), Some("arn:aws:iam::111122223333:root"));

    let iam = aws_sdk_iam::Client::new(&root);
    iam.create_role()
        .role_name("reader")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("reader")
        .policy_name("read")
        .policy_document(READ_ONLY)
        .send()
        .await
        .unwrap();
    let got = iam.get_role().role_name("reader").send().await.unwrap();
    assert!(got.role().unwrap().role_id().starts_with("AROA"));

    // A session of the role may read but not write, and is told why.
    let assumed = sts
        .assume_role()
        .role_arn("arn:aws:iam::111122223333:role/reader")
        .role_session_name("t1")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let session = sdk(
        &s.url,
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
    )
    .await;
    let who = aws_sdk_sts::Client::new(&session)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some("arn:aws:sts::111122223333:assumed-role/reader/t1"));
    let siam = aws_sdk_iam::Client::new(&session);
    assert!(siam.get_role().role_name("reader").send().await.is_ok());
    let denied = siam.delete_role().role_name("reader").send().await.unwrap_err();
    let svc = denied.into_service_error();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&svc),
        Some("AccessDenied")
    );

    // Wrong secret: SignatureDoesNotMatch; unknown key: InvalidClientTokenId.
    let bad = sdk(&s.url, &s.root.0, "wrong-secret-wrong-secret-wrong-secret00", None).await;
    let e = aws_sdk_sts::Client::new(&bad)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("SignatureDoesNotMatch")
    );
    let unknown = sdk(&s.url, "AKIAIOSFODNN7EXAMPLE", "x", None).await;
    let e = aws_sdk_sts::Client::new(&unknown)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("InvalidClientTokenId")
    );
}

#[tokio::test]
async fn malformed_requests_get_aws_errors_not_500s() {
    let s = start().await;
    let client = reqwest::Client::new();
    let cases: &[(&str, &str, u16, &str)] = &[
        ("", "", 400, "MissingAction"),
        ("Action=GetCallerIdentity&Version=1999-01-01", "", 400, "InvalidAction"),
        (
            "Action=GetCallerIdentity&Version=2011-06-15",
            "",
            403,
            "MissingAuthenticationToken",
        ),
        (
            "Action=ListRoles&Version=2010-05-08",
            "",
            403,
            "MissingAuthenticationToken",
        ),
        (
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15",
            "",
            400,
            "ValidationError",
        ),
        ("Action=A&Action=B", "", 400, "MalformedQueryString"),
    ];
    for (query, body, status, code) in cases {
        let r = client
            .post(format!("{}/?{query}", s.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), *status, "{query}");
        assert!(r.headers().contains_key("x-amzn-requestid"));
        let text = r.text().await.unwrap();
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{query}: {text}");
    }
    let huge = "A=".to_owned() + &"x".repeat(2 * 1024 * 1024);
    let r = client
        .post(&s.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let health = client.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(
        health.headers().get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    let health: serde_json::Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();
    assert_eq!(
        health,
        serde_json::json!({"status": "ok", "service": "irsa", "version": env!("CARGO_PKG_VERSION"), "store": "embedded"})
    );
    let metrics = client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("irsa_requests_total"), "{metrics}");
    assert!(metrics.contains("outcome=\"MissingAuthenticationToken\""), "{metrics}");
}

#[tokio::test]
async fn a_second_start_serves_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_in(dir.path()).await;
    let root = first.root.clone();
    let conf = sdk(&first.url, &root.0, &root.1, None).await;
    aws_sdk_iam::Client::new(&conf)
        .create_role()
        .role_name("kept")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    first.stop().await;

    let second = start_in(dir.path()).await;
    assert_eq!(second.root, root, "the root credentials are kept");
    let conf = sdk(&second.url, &root.0, &root.1, None).await;
    let role = aws_sdk_iam::Client::new(&conf)
        .get_role()
        .role_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(role.role().unwrap().role_name(), "kept");
    second.stop().await;
}
