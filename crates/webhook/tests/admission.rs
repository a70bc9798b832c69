//! AdmissionReview handling without HTTP: v1 / v1beta1 answers, malformed input, and insta
//! snapshots of the answers (patches shown decoded).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use irsa_webhook::MutationConfig;
use irsa_webhook::admission::{Decision, ReviewContext, review};
use irsa_webhook::annotations::ServiceAccountInfo;
use irsa_webhook::mutate::FixedRandom;
use irsa_webhook::sources::ContainerCredentials;
use irsa_webhook::store::IdentityStore;
use serde_json::{Value, json};

/// Snapshots live next to this file, whatever insta infers as the workspace root (its
/// `cargo metadata` probe fails while another crate of the workspace is mid-edit).
fn snapshot(name: &str, value: &Value) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_json_snapshot!(format!("admission__{name}"), value));
}

fn store() -> IdentityStore {
    let s = IdentityStore::new();
    s.upsert(
        "default",
        "s3-reader",
        ServiceAccountInfo::from_annotations(
            "eks.amazonaws.com",
            [("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/s3-reader")],
        ),
    );
    s.upsert("default", "plain", ServiceAccountInfo::default());
    s.set_container_credentials(Some(ContainerCredentials::from_pairs([("apps", "agent")])));
    s.set_synced(true);
    s
}

fn pod(sa: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "labels": {"app": "x"}},
        "spec": {
            "serviceAccountName": sa,
            "containers": [{
                "name": "app", "image": "amazonlinux",
                "startupProbe": {"grpc": {"port": 5000}},
                "futureField": {"kept": true},
                "env": [{"name": "A", "value": "b"}]
            }],
            "volumes": [{"name": "scratch", "emptyDir": {}}]
        }
    })
}

fn request(api_version: &str, namespace: &str, object: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": "918ef1dc-928f-4525-99ef-988389f263c3",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": object
        }
    })
}

async fn run(body: &[u8]) -> (Value, Decision) {
    let store = store();
    let config = MutationConfig {
        aws_default_region: "eu-west-1".into(),
        ..MutationConfig::default()
    };
    let ctx = ReviewContext {
        store: &store,
        config: &config,
        random: &FixedRandom(0),
        grace: Duration::ZERO,
    };
    let answer = review(body, &ctx).await;
    let mut value: Value = serde_json::from_slice(&answer.body).unwrap();
    // Decode the patch for readable snapshots.
    if let Some(p) = value.pointer("/response/patch").and_then(Value::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        value["response"]["patch"] = serde_json::from_slice(&bytes).unwrap();
    }
    (value, answer.decision)
}

#[tokio::test]
async fn v1_web_identity_is_answered_with_gvk_and_uid() {
    let body = request("admission.k8s.io/v1", "default", pod("s3-reader"));
    let (answer, decision) = run(body.to_string().as_bytes()).await;
    assert!(matches!(decision, Decision::Mutated { .. }));
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["response"]["uid"], "918ef1dc-928f-4525-99ef-988389f263c3");
    snapshot("v1_web_identity", &answer);

    // The patched pod keeps unknown fields and is a valid Pod.
    let patch: json_patch::Patch = serde_json::from_value(answer["response"]["patch"].clone()).unwrap();
    let mut mutated = pod("s3-reader");
    json_patch::patch(&mut mutated, &patch.0).unwrap();
    assert_eq!(mutated["spec"]["containers"][0]["futureField"], json!({"kept": true}));
    assert_eq!(
        mutated["spec"]["containers"][0]["startupProbe"],
        json!({"grpc": {"port": 5000}})
    );
    common::assert_is_pod(&mutated, "v1 web identity");
}

#[tokio::test]
async fn v1beta1_is_accepted_and_echoed() {
    let body = request("admission.k8s.io/v1beta1", "default", pod("s3-reader"));
    let (answer, _) = run(body.to_string().as_bytes()).await;
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(answer["response"]["patchType"], "JSONPatch");
}

#[tokio::test]
async fn pod_identity_mode() {
    let body = request("admission.k8s.io/v1", "apps", pod("agent"));
    let (answer, decision) = run(body.to_string().as_bytes()).await;
    assert!(matches!(decision, Decision::Mutated { .. }));
    snapshot("v1_pod_identity", &answer);
}

#[tokio::test]
async fn no_identity_and_unknown_accounts_are_allowed_unchanged() {
    let (answer, decision) = run(request("admission.k8s.io/v1", "default", pod("plain"))
        .to_string()
        .as_bytes())
    .await;
    assert_eq!(decision, Decision::NoIdentity { missing: false });
    snapshot("v1_no_identity", &answer);
    let (_, decision) = run(request("admission.k8s.io/v1", "default", pod("ghost"))
        .to_string()
        .as_bytes())
    .await;
    assert_eq!(decision, Decision::NoIdentity { missing: true });
}

#[tokio::test]
async fn malformed_inputs_get_well_formed_answers() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty_body", Vec::new()),
        ("empty_object", b"{}".to_vec()),
        (
            "truncated_json",
            br#"{"apiVersion":"admission.k8s.io/v1","request":{"uid":"x""#.to_vec(),
        ),
        ("not_json", b"\xff\xfe garbage".to_vec()),
        ("json_array", b"[1,2]".to_vec()),
        (
            "object_is_a_string",
            request("admission.k8s.io/v1", "default", json!("pod"))
                .to_string()
                .into_bytes(),
        ),
        (
            "object_missing",
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"uid": "u1", "operation": "CREATE"}})
            .to_string()
            .into_bytes(),
        ),
        (
            // The API server always sends a uid and matches the answer by it; one without is
            // not a review to patch (it used to be answered `uid: ""` with a patch).
            "uid_missing",
            {
                let mut review = request("admission.k8s.io/v1", "default", pod("s3-reader"));
                review["request"].as_object_mut().unwrap().remove("uid");
                review.to_string().into_bytes()
            },
        ),
        ("uid_empty", {
            let mut review = request("admission.k8s.io/v1", "default", pod("s3-reader"));
            review["request"]["uid"] = json!("");
            review.to_string().into_bytes()
        }),
        (
            "containers_not_a_list",
            request(
                "admission.k8s.io/v1",
                "default",
                json!({"kind": "Pod", "spec": {"serviceAccountName": "s3-reader", "containers": 7}}),
            )
            .to_string()
            .into_bytes(),
        ),
    ];
    for (name, body) in cases {
        let (answer, decision) = run(&body).await;
        assert!(matches!(decision, Decision::Rejected(_)), "{name}: {decision:?}");
        assert_eq!(answer["kind"], "AdmissionReview", "{name}");
        assert_eq!(answer["response"]["allowed"], false, "{name}");
        snapshot(&format!("malformed_{name}"), &answer);
    }
}

#[tokio::test]
async fn non_pod_objects_and_non_create_operations_are_ignored() {
    let mut deployment = request(
        "admission.k8s.io/v1",
        "default",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}),
    );
    deployment["request"]["kind"]["kind"] = json!("Deployment");
    let (answer, decision) = run(deployment.to_string().as_bytes()).await;
    assert!(matches!(decision, Decision::Ignored(_)));
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"].get("patch").is_none());

    let mut update = request("admission.k8s.io/v1", "default", pod("s3-reader"));
    update["request"]["operation"] = json!("UPDATE");
    let (answer, decision) = run(update.to_string().as_bytes()).await;
    assert!(matches!(decision, Decision::Ignored(_)));
    snapshot("v1_update_ignored", &answer);
}

#[tokio::test]
async fn reinvocation_yields_no_patch() {
    let body = request("admission.k8s.io/v1", "default", pod("s3-reader"));
    let (answer, _) = run(body.to_string().as_bytes()).await;
    let patch: json_patch::Patch = serde_json::from_value(answer["response"]["patch"].clone()).unwrap();
    let mut mutated = pod("s3-reader");
    json_patch::patch(&mut mutated, &patch.0).unwrap();
    let (again, decision) = run(request("admission.k8s.io/v1", "default", mutated)
        .to_string()
        .as_bytes())
    .await;
    assert!(matches!(decision, Decision::AlreadyMutated(_)));
    assert!(again["response"].get("patch").is_none());
    assert_eq!(again["response"]["allowed"], true);
}
