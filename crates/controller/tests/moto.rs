//! The IAM side through aws-sdk-iam, every scenario against two backends: `moto_server` (from the
//! repository's Python venv: `IRSA_TEST_PYTHON` names its python, else `.venv` at the workspace
//! root; missing = failure) and irsa's own STS + IAM server, in-process. Add/remove round trips
//! keep foreign statements, 1,000 profiles on one role hit the size limit with the documented
//! error and no corrupted policy, and two independent editors adding 200 subjects each to one
//! role concurrently lose none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backend;

use std::sync::Arc;
use std::time::{Duration, Instant};

use backend::Backend;
use irsa_controller::iam::{SdkRoleTrust, TrustClient, TrustClientError};
use irsa_controller::trust::{RoleTrust, TrustEditLoop, TrustLoopError};
use serde_json::Value;

const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/ABC";

/// Each scenario as two tests, one per backend; irsa's server gets the trust-policy size limit in
/// parentheses (it enforces ACLSizePerRole as AWS does; moto does not). Two worker threads, so
/// concurrent editors (and the in-process server) really run in parallel.
macro_rules! on_both_backends {
    ($($scenario:ident => $moto:ident, $irsa:ident($trust_limit:expr);)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $moto() {
            $scenario(Backend::moto()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $irsa() {
            $scenario(Backend::irsa($trust_limit).await).await;
        }
    )*};
}

on_both_backends! {
    round_trips_keep_foreign_statements =>
        round_trips_keep_foreign_statements_moto, round_trips_keep_foreign_statements_irsa(2048);
    a_thousand_profiles_hit_the_documented_limit =>
        a_thousand_profiles_hit_the_documented_limit_moto, a_thousand_profiles_hit_the_documented_limit_irsa(2048);
    // 400 subjects are far over any real quota: this one is about lost updates, not size.
    two_editors_adding_200_each_lose_none =>
        two_editors_adding_200_each_lose_none_moto, two_editors_adding_200_each_lose_none_irsa(1_000_000);
}

const FOREIGN: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalTag/team":"a+b c%20"}}}]}"#;

async fn create_role(client: &aws_sdk_iam::Client, name: &str, policy: &str) -> String {
    client
        .create_role()
        .role_name(name)
        .assume_role_policy_document(policy)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_owned()
}

fn statements(policy: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(policy).unwrap();
    match &v["Statement"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

async fn round_trips_keep_foreign_statements(backend: Backend) {
    let arn = create_role(&backend.client(), "kf-user", FOREIGN).await;
    let tc = TrustClient::new(SdkRoleTrust::new(backend.client(), 0.0));
    let out = tc.add(&arn, Some(ISSUER), "team-a", "default-editor").await.unwrap();
    assert!(out.written);
    let (policy, trust) = tc.show(&arn).await.unwrap().unwrap();
    assert_eq!(trust.len(), 1);
    assert_eq!(trust[0].subjects, vec!["system:serviceaccount:team-a:default-editor"]);
    assert_eq!(trust[0].audiences, vec!["sts.amazonaws.com"]);
    let foreign = statements(FOREIGN).remove(0);
    assert_eq!(
        statements(&policy)[0],
        foreign,
        "the foreign statement (with `+` and `%20`) is kept: {policy}"
    );
    // Without --issuer, the role's only provider is used.
    tc.add(&arn, None, "team-b", "default-editor").await.unwrap();
    tc.remove(&arn, Some(ISSUER), "team-a", "default-editor").await.unwrap();
    tc.remove(&arn, None, "team-b", "default-editor").await.unwrap();
    let (policy, trust) = tc.show(&arn).await.unwrap().unwrap();
    assert!(
        trust.is_empty() || trust.iter().all(|t| t.subjects.is_empty()),
        "{policy}"
    );
    assert_eq!(statements(&policy), vec![foreign], "back to the original meaning");
    // Removing again, and from a role that does not exist, is done.
    assert!(
        !tc.remove(&arn, Some(ISSUER), "team-a", "default-editor")
            .await
            .unwrap()
            .written
    );
    let ghost = &format!("arn:aws:iam::{}:role/ghost", backend.account);
    assert!(
        !tc.remove(ghost, Some(ISSUER), "team-a", "default-editor")
            .await
            .unwrap()
            .written
    );
    assert!(matches!(
        tc.add(ghost, Some(ISSUER), "team-a", "default-editor").await,
        Err(TrustClientError::Loop(TrustLoopError::NoSuchRole(_)))
    ));
    assert!(tc.show(ghost).await.unwrap().is_none());
}

async fn a_thousand_profiles_hit_the_documented_limit(backend: Backend) {
    let shared = "shared";
    let arn = create_role(&backend.client(), shared, FOREIGN).await;
    let iam = SdkRoleTrust::new(backend.client(), 0.0);
    let tc = TrustClient::new(iam.clone());
    let mut added = Vec::new();
    let mut first_error = None;
    for i in 1..=1000 {
        let ns = format!("profile-{i:04}");
        match tc.add(&arn, Some(ISSUER), &ns, "default-editor").await {
            Ok(_) => added.push(ns),
            Err(e) => {
                first_error.get_or_insert((i, e.to_string()));
            }
        }
    }
    let (i, message) = first_error.expect("the limit is hit");
    assert!(
        message.contains("would make the trust policy")
            && message.contains("over the 2048-character limit")
            && message.contains("use a role per profile"),
        "{message}"
    );
    assert!(i > 20 && i < 40, "{i}");
    let role = iam.get_role(shared).await.unwrap().unwrap();
    let report = irsa_policy::validate(
        &role.trust_policy,
        irsa_policy::PolicyKind::Trust,
        &irsa_policy::Limits::default(),
    );
    assert!(report.valid, "{:?}", report.errors);
    let (_, trust) = tc.show(&arn).await.unwrap().unwrap();
    let want: Vec<String> = added
        .iter()
        .map(|ns| format!("system:serviceaccount:{ns}:default-editor"))
        .collect();
    assert_eq!(trust[0].subjects, want);
    assert_eq!(statements(&role.trust_policy)[0], statements(FOREIGN)[0]);
    eprintln!(
        "{}: {} profiles fit, {} IAM calls for 1,000 attempts",
        backend.name,
        added.len(),
        iam.calls()
    );
}

async fn two_editors_adding_200_each_lose_none(backend: Backend) {
    let contended = "contended";
    let arn = create_role(&backend.client(), contended, FOREIGN).await;
    let provider = irsa_controller::aws::RoleArn::parse(&arn)
        .unwrap()
        .provider(ISSUER)
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..2 {
        // Two independent editors: own client, own loop (own per-role mutex), like two processes.
        let mut edits = TrustEditLoop::new(SdkRoleTrust::new(backend.client(), 0.0));
        edits.limit = 1_000_000;
        edits.settle = Duration::from_millis(40);
        edits.max_attempts = 100;
        let edits = Arc::new(edits);
        let provider = provider.clone();
        tasks.push(tokio::spawn(async move {
            let mut retried = 0;
            for i in 0..200 {
                let s = format!("system:serviceaccount:e{k}-{i:03}:default-editor");
                let out = edits
                    .edit(irsa_controller::trust::EditRequest {
                        role_name: contended,
                        provider: Some(&provider),
                        subject: &s,
                        change: irsa_controller::trust::Change::Add,
                        required_tag: None,
                    })
                    .await
                    .unwrap();
                retried += out.attempts - 1;
            }
            (retried, edits.iam().calls())
        }));
    }
    let mut summary = Vec::new();
    for t in tasks {
        summary.push(t.await.unwrap());
    }
    let check = TrustClient::new(SdkRoleTrust::new(backend.client(), 0.0));
    let (policy, trust) = check.show(&arn).await.unwrap().unwrap();
    assert_eq!(trust[0].subjects.len(), 400, "lost updates: {policy}");
    assert_eq!(statements(&policy)[0], statements(FOREIGN)[0]);
    eprintln!(
        "{}: 400 subjects in {:?}; (redone edits, IAM calls) per editor: {summary:?}",
        backend.name,
        started.elapsed()
    );
}
