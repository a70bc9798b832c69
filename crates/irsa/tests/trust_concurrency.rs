//! Two `irsa trust add` processes editing one role's trust policy at the same time, against irsa's
//! own IAM (in-process): IAM has no etag, so only the edit loop's write, settle and re-read keeps
//! one process's write from silently replacing the other's. None may be lost.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_controller::iam::{SdkRoleTrust, TrustClient};
use irsa_server::ServerConfig;
use std::time::{Duration, Instant};

const ROOT_KEY: (&str, &str) = ("AKIAIRSATESTROOT0002", "irsa-test-root-secret-0123456789");
const ISSUER: &str = "https://oidc.example.com/id/CONCURRENCY";
const PROVIDER: &str = "arn:aws:iam::000000000000:oidc-provider/oidc.example.com/id/CONCURRENCY";
const ROLE: &str = "arn:aws:iam::000000000000:role/shared";
/// Per process. 200 per editor is covered in-process by irsa-controller's tests/moto.rs; every
/// `irsa trust add` here is a process start plus a 1 s settle, so 50 keeps this test near a minute.
const PER_PROCESS: usize = 50;
/// 100 subjects are about 5,000 characters, over AWS's default 2,048: the server and the
/// processes get this raised limit (a quota can be raised the same way).
const TRUST_LIMIT: &str = "20480";

/// One process's loop: `irsa trust add` for `ns-$P-1` .. `ns-$P-$N`, stopping at the first failure.
/// Two loops of equal pace would keep whatever phase they start with and rarely collide: one of
/// them pauses `$PAUSE` s per add, so their phases drift through each other again and again.
const LOOP: &str = r#"i=1
while [ "$i" -le "$N" ]; do
  "$IRSA" trust add --role-arn "$ROLE" --issuer "$ISSUER" --namespace "ns-$P-$i" \
    --service-account default-editor --trust-limit "$LIMIT" >/dev/null || exit 1
  sleep "$PAUSE"
  i=$((i + 1))
done"#;

async fn start_server(data_dir: &std::path::Path) -> irsa_server::RunningServer {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        root_access_key: Some((ROOT_KEY.0.into(), ROOT_KEY.1.into())),
        trust_limit: TRUST_LIMIT.parse().unwrap(),
        ..ServerConfig::new(data_dir)
    };
    tokio::time::timeout(Duration::from_secs(30), irsa_server::spawn(config))
        .await
        .unwrap()
        .unwrap()
}

fn iam_client(url: &str) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            ROOT_KEY.0, ROOT_KEY.1, None, None, "test",
        ))
        .endpoint_url(url)
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

fn trust_loop(dir: &std::path::Path, url: &str, process: &str, pause: &str) -> tokio::process::Child {
    tokio::process::Command::new("sh")
        .args(["-c", LOOP])
        .env("IRSA", env!("CARGO_BIN_EXE_irsa"))
        .env("ROLE", ROLE)
        .env("ISSUER", ISSUER)
        .env("P", process)
        .env("PAUSE", pause)
        .env("N", PER_PROCESS.to_string())
        .env("LIMIT", TRUST_LIMIT)
        // Redone edits are logged at info: the test reports how often the processes collided.
        .env("IRSA_LOG", "info")
        .env("AWS_ACCESS_KEY_ID", ROOT_KEY.0)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_KEY.1)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_IAM", url)
        .env("AWS_ENDPOINT_URL_STS", url)
        // Nothing from the machine's own AWS set-up.
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_irsa_trust_processes_adding_concurrently_lose_none() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data")).await;
    let url = server.url();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"oidc.example.com/id/CONCURRENCY:aud":"sts.amazonaws.com","oidc.example.com/id/CONCURRENCY:sub":"system:serviceaccount:admin:default-editor"}}}}}}]}}"#
    );
    iam_client(&url)
        .create_role()
        .role_name("shared")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();

    let started = Instant::now();
    let a = trust_loop(dir.path(), &url, "a", "0");
    let b = trust_loop(dir.path(), &url, "b", "0.05");
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let mut redone = 0;
    for out in [a.unwrap(), b.unwrap()] {
        let logs = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{logs}");
        redone += logs.matches("overwritten by another writer").count();
    }
    let elapsed = started.elapsed();

    let (policy, trust) = TrustClient::new(SdkRoleTrust::new(iam_client(&url), 0.0))
        .show(ROLE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trust.len(), 1, "{policy}");
    let subjects = &trust[0].subjects;
    let mut want = vec!["system:serviceaccount:admin:default-editor".to_owned()];
    for p in ["a", "b"] {
        want.extend((1..=PER_PROCESS).map(|i| format!("system:serviceaccount:ns-{p}-{i}:default-editor")));
    }
    let missing: Vec<_> = want.iter().filter(|s| !subjects.contains(s)).collect();
    assert!(missing.is_empty(), "lost updates: {missing:?}\n{policy}");
    assert_eq!(subjects.len(), want.len(), "{policy}");
    eprintln!(
        "{} subjects added by two `irsa trust add` loops in {elapsed:?}, {redone} edits redone after being overwritten",
        2 * PER_PROCESS
    );
}
