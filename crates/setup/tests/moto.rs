//! `irsa setup` against moto_server: resources exist as planned, a second run
//! changes nothing, teardown removes only what irsa setup created.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_setup::{Change, Target, apply, connect_with, parse_config, plan, teardown};
use irsa_testkit::MotoServer;

/// Clients for moto with its test credentials (set explicitly: tests do not touch the environment).
async fn clients(url: &str) -> (aws_sdk_iam::Client, String) {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .endpoint_url(url)
        .load()
        .await;
    connect_with(&conf).await.unwrap()
}

const CONFIG: &str = "apiVersion: kfdef.apps.kubeflow.org/v1
kind: KfDef
metadata:
  name: prod
spec:
  plugins:
  - kind: KfAwsPlugin
    metadata:
      name: aws
    spec:
      region: us-west-2
      enablePodIamPolicy: true
";

fn target(account: &str) -> Target {
    Target {
        cluster_name: "prod".into(),
        issuer_url: "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE".into(),
        account: account.into(),
        partition: "aws".into(),
        trust_limit: 2048,
        allow_http_issuer: false,
    }
}

#[tokio::test]
async fn setup_is_idempotent_and_teardown_removes_only_its_own() {
    let m = MotoServer::start();
    let (client, account) = clients(&m.url).await;
    assert_eq!(account.len(), 12);
    let cfg = parse_config(CONFIG).unwrap().config;
    let p = plan(&cfg, &target(&account)).unwrap();

    let dry = apply(&client, &p, "prod", true, |_| {}).await.unwrap();
    assert!(dry.iter().all(|c| matches!(c, Change::Created(_))), "{dry:#?}");
    assert!(
        client.get_role().role_name("kf-admin-prod").send().await.is_err(),
        "a dry run writes nothing"
    );

    let first = apply(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert!(first.iter().all(|c| matches!(c, Change::Created(_))), "{first:#?}");
    let role = client
        .get_role()
        .role_name("kf-admin-prod")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust = percent_encoding::percent_decode_str(role.assume_role_policy_document().unwrap())
        .decode_utf8()
        .unwrap();
    assert!(
        trust.contains("system:serviceaccount:kubeflow:profiles-controller-service-account"),
        "{trust}"
    );
    let pol = client
        .get_role_policy()
        .role_name("kf-admin-prod")
        .policy_name("irsa-profile-controller")
        .send()
        .await;
    assert!(pol.is_ok());

    let second = apply(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert!(second.iter().all(|c| matches!(c, Change::Unchanged(_))), "{second:#?}");

    // A role of someone else's with a planned name is never touched.
    client
        .create_role()
        .role_name("kf-user-other")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let mut other_cfg = cfg.clone();
    other_cfg.user_role_name = Some("kf-user-other".into());
    let mut other = plan(&other_cfg, &target(&account)).unwrap();
    other.roles.retain(|r| r.name == "kf-user-other");
    let changes = apply(&client, &other, "prod", false, |_| {}).await.unwrap();
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Skipped(s) if s.contains("kf-user-other"))),
        "{changes:#?}"
    );
    let down = teardown(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert_eq!(
        down.iter().filter(|c| matches!(c, Change::Deleted(_))).count(),
        3,
        "{down:#?}"
    );
    assert!(client.get_role().role_name("kf-admin-prod").send().await.is_err());
    // Teardown never deletes what irsa setup did not create.
    let down = teardown(&client, &other, "prod", false, |_| {}).await.unwrap();
    assert!(
        down.iter()
            .any(|c| matches!(c, Change::Skipped(s) if s.contains("kf-user-other"))),
        "{down:#?}"
    );
    assert!(client.get_role().role_name("kf-user-other").send().await.is_ok());
}
