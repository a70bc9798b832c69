//! `ServerConfig::seed` and the in-memory store, as CI uses them: the seed's entities through the
//! AWS SDK, a restart with the same seed that changes nothing, a changed seed that updates, an
//! entry IAM refuses named in the error, and a memory store that writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_server::{RunningServer, Seed, SeedReport, ServerConfig, ServerError, StoreChoice, spawn};
use std::time::Duration;

mod common;

const SEED: &str = r#"
oidc-providers:
  - url: https://oidc.example.com/clusters/ci
policies:
  - name: read-artifacts
    path: /ci/
    document:
      Version: "2012-10-17"
      Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "arn:aws:s3:::artifacts/*"}]
roles:
  - name: team-a
    description: team-a's notebooks
    trust-policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/clusters/ci"}
          Action: sts:AssumeRoleWithWebIdentity
          Condition:
            StringEquals:
              "oidc.example.com/clusters/ci:sub": system:serviceaccount:team-a:default-editor
              "oidc.example.com/clusters/ci:aud": sts.amazonaws.com
    inline-policies:
      logs: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}'
    managed-policies: [read-artifacts]
"#;

fn config(dir: &std::path::Path, seed: &str) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        account: "111122223333".into(),
        seed: Some(Seed::parse(seed).unwrap()),
        ..ServerConfig::new(dir)
    }
}

async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    tokio::time::timeout(Duration::from_secs(30), spawn(config))
        .await
        .unwrap()
}

async fn iam(server: &RunningServer) -> aws_sdk_iam::Client {
    let (id, secret) = match &server.started().root_credentials_file {
        Some(file) => common::root_key_in(file),
        None => (
            server.started().root_access_key_id.clone(),
            server
                .started()
                .ephemeral_root_secret
                .as_ref()
                .unwrap()
                .expose()
                .to_owned(),
        ),
    };
    aws_sdk_iam::Client::new(&common::sdk(&server.url(), &id, &secret, None).await)
}

/// What a client sees of the seeded account: role (id, date, trust), providers, attached
/// policies, inline policy names, the managed policy's versions.
async fn snapshot(iam: &aws_sdk_iam::Client) -> (String, String, String, Vec<String>, Vec<String>, Vec<String>, usize) {
    let role = iam.get_role().role_name("team-a").send().await.unwrap();
    let role = role.role().unwrap();
    let providers = iam.list_open_id_connect_providers().send().await.unwrap();
    let attached = iam
        .list_attached_role_policies()
        .role_name("team-a")
        .send()
        .await
        .unwrap();
    let inline = iam.list_role_policies().role_name("team-a").send().await.unwrap();
    let versions = iam
        .list_policy_versions()
        .policy_arn("arn:aws:iam::111122223333:policy/ci/read-artifacts")
        .send()
        .await
        .unwrap();
    (
        role.role_id().to_owned(),
        role.create_date().to_string(),
        role.assume_role_policy_document().unwrap_or_default().to_owned(),
        providers
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn().map(str::to_owned))
            .collect(),
        attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect(),
        inline.policy_names().to_vec(),
        versions.versions().len(),
    )
}

#[tokio::test]
async fn a_seed_is_applied_once_and_a_restart_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(config(dir.path(), SEED)).await.unwrap();
    assert_eq!(
        first.started().seeded,
        Some(SeedReport {
            created: 3,
            updated: 0,
            unchanged: 0
        })
    );
    let before = snapshot(&iam(&first).await).await;
    assert!(before.0.starts_with("AROA"));
    assert_eq!(
        before.3,
        ["arn:aws:iam::111122223333:oidc-provider/oidc.example.com/clusters/ci"]
    );
    assert_eq!(before.4, ["arn:aws:iam::111122223333:policy/ci/read-artifacts"]);
    assert_eq!(before.5, ["logs"]);
    assert_eq!(before.6, 1);
    first.stop().await.unwrap();

    // The same seed again: nothing is written, the role keeps its id and date.
    let again = start(config(dir.path(), SEED)).await.unwrap();
    assert_eq!(
        again.started().seeded,
        Some(SeedReport {
            created: 0,
            updated: 0,
            unchanged: 3
        })
    );
    assert_eq!(snapshot(&iam(&again).await).await, before);
    again.stop().await.unwrap();

    // A changed seed brings what it names to its state and leaves the rest.
    let changed = SEED
        .replace("team-a:default-editor", "team-a:pipeline-runner")
        .replace("s3:GetObject", "s3:ListBucket");
    let third = start(config(dir.path(), &changed)).await.unwrap();
    assert_eq!(
        third.started().seeded,
        Some(SeedReport {
            created: 0,
            updated: 2,
            unchanged: 1
        })
    );
    let after = snapshot(&iam(&third).await).await;
    assert_eq!(after.0, before.0, "the role is updated in place");
    assert!(after.2.contains("pipeline-runner"), "{}", after.2);
    assert_eq!(after.6, 2, "a new default version of the managed policy");
    third.stop().await.unwrap();
}

#[tokio::test]
async fn an_entry_iam_refuses_stops_the_start_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"
roles:
  - name: fine
    trust-policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: sts:AssumeRole}]}
  - name: broken
    trust-policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: sts:AssumeRole, Resource: "*"}]}
"#;
    let e = start(config(dir.path(), bad)).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("seed: roles[1] (broken): CreateRole: MalformedPolicyDocument"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_memory_store_writes_nothing_and_hands_over_its_generated_key() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("never-created");
    let server = start(ServerConfig {
        store: StoreChoice::Memory,
        ..config(&data_dir, SEED)
    })
    .await
    .unwrap();
    let started = server.started();
    assert_eq!(started.root_credentials_file, None);
    let secret = started.ephemeral_root_secret.as_ref().unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(..)", "Debug never shows the secret");
    assert_eq!(started.store, "in memory, nothing written to disk");
    assert_eq!(snapshot(&iam(&server).await).await.4.len(), 1);
    let health = reqwest::get(format!("{}/healthz", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["store"], "memory");
    server.stop().await.unwrap();
    assert!(!data_dir.exists());
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);

    // Given root keys, there is nothing to hand over.
    let server = start(ServerConfig {
        store: StoreChoice::Memory,
        root_access_key: Some(("AKIAIRSATESTEXAMPLE1".into(), "test-secret-test-secret-0001".into())),
        ..config(&data_dir, "")
    })
    .await
    .unwrap();
    assert!(server.started().ephemeral_root_secret.is_none());
    assert_eq!(server.started().seeded, Some(SeedReport::default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_applying_one_seed_at_once_both_start() {
    // Two IAM services over one store, as two replicas on one etcd: whichever loses a race to
    // create an entity finds it and carries on.
    let store = irsa_store::RedbStore::in_memory().unwrap();
    let iam = || {
        irsa_iam::Iam::new(
            store.clone(),
            "111122223333".into(),
            "aws".into(),
            irsa_policy::Limits::default(),
            Box::new(irsa_iam::SystemRandom::new()),
        )
    };
    let (a, b) = (iam(), iam());
    let seed = Seed::parse(SEED).unwrap();
    for round in 0..5 {
        let (ra, rb) = tokio::join!(seed.apply(&a, "aws", round), seed.apply(&b, "aws", round));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let created = ra.created + rb.created;
        assert_eq!(created, if round == 0 { 3 } else { 0 }, "{ra:?} {rb:?}");
        assert_eq!(ra.created + ra.updated + ra.unchanged, 3);
        assert_eq!(rb.created + rb.updated + rb.unchanged, 3);
    }
}
