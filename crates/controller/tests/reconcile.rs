//! The kube-rs shell against tower-test's mock API server with an in-memory IAM: first reconcile
//! (finalizer added), a full reconcile (every object server-side applied, trust granted, status
//! written through the status subresource), a resync without IAM calls, a role change, a removed
//! plugin, a full trust policy, and deletion through the finalizer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use irsa_controller::config::ControllerConfig;
use irsa_controller::crd::Profile;
use irsa_controller::reconcile::{Context, Metrics, reconcile};
use irsa_controller::trust::{IamError, RoleInfo, RoleTrust, TrustEditLoop};
use kube::client::Body;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const ROLE: &str = "arn:aws:iam::111122223333:role/kf-user";
const ROLE2: &str = "arn:aws:iam::111122223333:role/kf-other";
const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/ABC";
const EDITOR: &str = "system:serviceaccount:team-a:default-editor";
const FOREIGN: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

#[derive(Clone, Default)]
struct FakeIam {
    roles: Arc<Mutex<HashMap<String, String>>>,
    calls: Arc<Mutex<u64>>,
}

impl FakeIam {
    fn policy(&self, role: &str) -> String {
        self.roles.lock().unwrap()[role].clone()
    }
    fn calls(&self) -> u64 {
        *self.calls.lock().unwrap()
    }
}

impl RoleTrust for FakeIam {
    async fn get_role(&self, role_name: &str) -> Result<Option<RoleInfo>, IamError> {
        *self.calls.lock().unwrap() += 1;
        Ok(self.roles.lock().unwrap().get(role_name).map(|p| RoleInfo {
            trust_policy: p.clone(),
            tags: vec![],
        }))
    }
    async fn put_trust(&self, role_name: &str, document: &str) -> Result<(), IamError> {
        *self.calls.lock().unwrap() += 1;
        self.roles.lock().unwrap().insert(role_name.into(), document.into());
        Ok(())
    }
}

fn setup(config: ControllerConfig) -> (Arc<Context<FakeIam>>, Handle, FakeIam) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let iam = FakeIam::default();
    iam.roles.lock().unwrap().insert("kf-user".into(), FOREIGN.into());
    iam.roles.lock().unwrap().insert("kf-other".into(), FOREIGN.into());
    let mut edits = TrustEditLoop::new(iam.clone());
    edits.settle = Duration::ZERO;
    let ctx = Arc::new(Context {
        client,
        config,
        edits: Arc::new(edits),
        recorder: None,
        metrics: Arc::new(Metrics::default()),
        resync: Duration::from_secs(600),
        full_retry: Duration::from_secs(1800),
    });
    (ctx, handle, iam)
}

fn config() -> ControllerConfig {
    let mut c = ControllerConfig::default();
    c.aws.oidc_issuer = Some(ISSUER.into());
    c
}

fn profile(role: Option<&str>, finalizers: bool, status: Value, deleting: bool) -> Value {
    let plugins = match role {
        Some(r) => json!([{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": r}}]),
        None => json!([]),
    };
    let mut meta = json!({"name": "team-a", "uid": "u-1", "generation": 2, "resourceVersion": "7"});
    if finalizers {
        meta["finalizers"] = json!(["profile-finalizer"]);
    }
    if deleting {
        meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    json!({"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": meta,
           "spec": {"owner": {"kind": "User", "name": "alice@example.com"}, "plugins": plugins},
           "status": status})
}

#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: Value,
}

/// Answers requests until the reconcile finishes: GETs of namespaces and quota DELETEs are 404,
/// PATCHes echo the body (a status patch echoes `profile`).
async fn serve(handle: Handle, profile: Value, namespace: Option<Value>) -> Vec<Seen> {
    serve_failing(handle, profile, namespace, None).await
}

/// As [`serve`], answering the first PATCH of `fail_once` with 422 Invalid.
async fn serve_failing(
    mut handle: Handle,
    profile: Value,
    namespace: Option<Value>,
    mut fail_once: Option<&str>,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    while let Some((req, send)) = handle.next_request().await {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let not_found =
            json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404});
        let (code, answer) = match method.as_str() {
            "PATCH" if fail_once == Some(path.as_str()) => {
                fail_once = None;
                (
                    422,
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "Invalid", "code": 422,
                             "message": "cannot change roleRef"}),
                )
            }
            "GET" | "PATCH" if path == "/api/v1/namespaces/team-a" && namespace.is_some() => {
                (200, namespace.clone().unwrap_or_default())
            }
            "GET" | "DELETE" => (404, not_found),
            "PATCH" if path.starts_with("/apis/kubeflow.org/") => (200, profile.clone()),
            _ => {
                let mut b = body.clone();
                b["metadata"]["resourceVersion"] = json!("1");
                (200, b)
            }
        };
        send.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(answer.to_string().into_bytes()))
                .unwrap(),
        );
        seen.push(Seen {
            method,
            path,
            query,
            body,
        });
    }
    seen
}

async fn run(
    ctx: Arc<Context<FakeIam>>,
    handle: Handle,
    p: Value,
) -> (Result<kube::runtime::controller::Action, String>, Vec<Seen>) {
    run_with(ctx, handle, p, None).await
}

async fn run_with(
    ctx: Arc<Context<FakeIam>>,
    handle: Handle,
    p: Value,
    namespace: Option<Value>,
) -> (Result<kube::runtime::controller::Action, String>, Vec<Seen>) {
    let server = tokio::spawn(serve(handle, p.clone(), namespace));
    let profile: Profile = serde_json::from_value(p).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), reconcile(Arc::new(profile), ctx.clone()))
        .await
        .expect("reconcile hangs")
        .map_err(|e| e.to_string());
    drop(ctx);
    // The mock service lives in the client inside the context: dropping the last Arc ends `serve`.
    let seen = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server hangs")
        .unwrap();
    (result, seen)
}

fn status_patch(seen: &[Seen]) -> &Value {
    let s = seen
        .iter()
        .find(|s| s.path == "/apis/kubeflow.org/v1/profiles/team-a/status")
        .expect("status written");
    assert_eq!(s.method, "PATCH");
    assert!(s.query.contains("fieldManager=irsa-profile-controller"), "{}", s.query);
    &s.body["status"]
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} in {status}"))
}

#[tokio::test]
async fn first_reconcile_adds_the_finalizer_only() {
    let (ctx, handle, iam) = setup(config());
    let (r, seen) = run(ctx, handle, profile(Some(ROLE), false, Value::Null, false)).await;
    r.unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(seen[0].path, "/apis/kubeflow.org/v1/profiles/team-a");
    assert!(seen[0].body.to_string().contains("profile-finalizer"));
    assert_eq!(iam.calls(), 0);
}

#[tokio::test]
async fn reconcile_applies_everything_and_trusts_then_resyncs_without_iam() {
    let (ctx, handle, iam) = setup(config());
    let (r, seen) = run(ctx, handle, profile(Some(ROLE), true, Value::Null, false)).await;
    r.unwrap();
    let calls: Vec<(String, String)> = seen.iter().map(|s| (s.method.clone(), s.path.clone())).collect();
    let want = [
        ("GET", "/api/v1/namespaces/team-a"),
        ("PATCH", "/api/v1/namespaces/team-a"),
        ("PATCH", "/api/v1/namespaces/team-a/serviceaccounts/default-editor"),
        ("PATCH", "/api/v1/namespaces/team-a/serviceaccounts/default-viewer"),
        (
            "PATCH",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/default-editor",
        ),
        (
            "PATCH",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/default-viewer",
        ),
        (
            "PATCH",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/namespaceAdmin",
        ),
        ("DELETE", "/api/v1/namespaces/team-a/resourcequotas/kf-resource-quota"),
        // Last: a cluster without Istio's CRDs still gets everything before it.
        (
            "PATCH",
            "/apis/security.istio.io/v1beta1/namespaces/team-a/authorizationpolicies/ns-owner-access-istio",
        ),
        ("PATCH", "/apis/kubeflow.org/v1/profiles/team-a/status"),
    ];
    assert_eq!(calls, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    for s in seen.iter().filter(|s| s.method == "PATCH") {
        assert!(s.query.contains("fieldManager=irsa-profile-controller") && s.query.contains("force=true"));
    }
    let patched = |path: &str| {
        let found = seen.iter().find(|s| s.method == "PATCH" && s.path == path);
        &found.unwrap_or_else(|| panic!("no PATCH of {path}")).body
    };
    assert_eq!(
        patched("/api/v1/namespaces/team-a/serviceaccounts/default-editor")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        ROLE,
        "default-editor annotated"
    );
    assert!(
        patched("/api/v1/namespaces/team-a/serviceaccounts/default-viewer")["metadata"]
            .get("annotations")
            .is_none()
    );
    assert!(iam.policy("kf-user").contains(EDITOR));
    let status = status_patch(&seen).clone();
    assert_eq!(status["aws"]["appliedRoleArn"], ROLE);
    assert_eq!(status["aws"]["subjects"], json!([EDITOR]));
    assert_eq!(status["aws"]["mode"], "Trust");
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(condition(&status, "AwsIamTrusted")["status"], "True");

    // Resync with that status: objects re-applied, no IAM call, no status write.
    let (ctx, handle, iam) = setup(config());
    let (r, seen) = run(ctx, handle, profile(Some(ROLE), true, status, false)).await;
    r.unwrap();
    assert_eq!(iam.calls(), 0);
    assert!(
        seen.iter().all(|s| !s.path.ends_with("/status")),
        "unchanged status is not rewritten"
    );
}

fn with_edits(edits: Arc<TrustEditLoop<FakeIam>>) -> (Arc<Context<FakeIam>>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = Arc::new(Context {
        client: kube::Client::new(service, "default"),
        config: config(),
        edits,
        recorder: None,
        metrics: Arc::new(Metrics::default()),
        resync: Duration::from_secs(600),
        full_retry: Duration::from_secs(1800),
    });
    (ctx, handle)
}

#[tokio::test]
async fn role_change_and_plugin_removal_revoke_the_old_trust() {
    let (ctx, handle, iam) = setup(config());
    let edits = ctx.edits.clone();
    let (r, seen) = run(ctx, handle, profile(Some(ROLE), true, Value::Null, false)).await;
    r.unwrap();
    assert!(iam.policy("kf-user").contains(EDITOR));
    let recorded = json!({"aws": status_patch(&seen)["aws"].clone()});

    // Role changed to kf-other: kf-user's trust is revoked, kf-other's granted.
    let (ctx, handle) = with_edits(edits.clone());
    let (r, seen) = run(ctx, handle, profile(Some(ROLE2), true, recorded, false)).await;
    r.unwrap();
    let status = status_patch(&seen);
    assert_eq!(status["aws"]["appliedRoleArn"], ROLE2);
    assert!(!iam.policy("kf-user").contains(EDITOR), "old trust revoked");
    assert!(
        iam.policy("kf-user").contains("ec2.amazonaws.com"),
        "foreign statement kept"
    );
    assert!(iam.policy("kf-other").contains(EDITOR));
    let recorded = json!({"aws": status["aws"].clone()});

    // Plugin removed: kf-other's trust goes and the annotation is no longer applied.
    let (ctx, handle) = with_edits(edits);
    let (r, seen) = run(ctx, handle, profile(None, true, recorded, false)).await;
    r.unwrap();
    assert!(!iam.policy("kf-other").contains(EDITOR));
    let sa = seen
        .iter()
        .find(|s| s.path.ends_with("/serviceaccounts/default-editor"))
        .unwrap();
    assert!(sa.body["metadata"].get("annotations").is_none());
    assert!(status_patch(&seen).get("aws").is_none());
}

#[tokio::test]
async fn full_policy_is_a_condition_not_a_hot_retry() {
    let (ctx, handle, iam) = setup(config());
    let mut subjects: Vec<String> = (1..=60)
        .map(|i| format!("system:serviceaccount:profile-{i:04}:default-editor"))
        .collect();
    subjects.sort();
    let full = json!({"Version": "2012-10-17", "Statement": [{"Sid": "IrsaWebIdentity", "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"oidc.eks.us-west-2.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
            "oidc.eks.us-west-2.amazonaws.com/id/ABC:sub": subjects}}}]});
    iam.roles.lock().unwrap().insert("kf-user".into(), full.to_string());
    let before = iam.policy("kf-user");
    let (r, seen) = run(ctx, handle, profile(Some(ROLE), true, Value::Null, false)).await;
    let action = r.unwrap();
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(Duration::from_secs(1800))
        )
    );
    assert_eq!(iam.policy("kf-user"), before, "a full policy is not written");
    let status = status_patch(&seen);
    assert_eq!(condition(status, "TrustPolicyFull")["status"], "True");
    assert!(
        condition(status, "TrustPolicyFull")["message"]
            .as_str()
            .unwrap()
            .contains("2048-character limit")
    );
    assert_eq!(condition(status, "Ready")["status"], "False");
    assert!(status.get("aws").is_none());
}

#[tokio::test]
async fn deletion_revokes_and_removes_the_finalizer() {
    let (ctx, handle, iam) = setup(config());
    let edits = ctx.edits.clone();
    let (r, _) = run(ctx, handle, profile(Some(ROLE), true, Value::Null, false)).await;
    r.unwrap();
    assert!(iam.policy("kf-user").contains(EDITOR));
    let recorded = json!({"aws": {"appliedRoleArn": ROLE, "subjects": [EDITOR], "mode": "Trust"}});
    let (ctx, handle) = with_edits(edits.clone());
    let (r, seen) = run(ctx, handle, profile(Some(ROLE), true, recorded.clone(), true)).await;
    r.unwrap();
    assert!(!iam.policy("kf-user").contains(EDITOR));
    assert!(iam.policy("kf-user").contains("ec2.amazonaws.com"));
    assert_eq!(seen.len(), 1, "only the finalizer removal: {seen:?}");
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(seen[0].path, "/apis/kubeflow.org/v1/profiles/team-a");

    // Deleting again after the role is gone is still fine (NoSuchEntity = revoked).
    iam.roles.lock().unwrap().remove("kf-user");
    let (ctx, handle) = with_edits(edits);
    let (r, _) = run(ctx, handle, profile(Some(ROLE), true, recorded, true)).await;
    r.unwrap();
}

#[tokio::test]
async fn a_namespace_of_another_owner_is_not_adopted() {
    let (ctx, handle, iam) = setup(config());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a", "annotations": {"owner": "bob@example.com"}, "resourceVersion": "3"}});
    let (r, seen) = run_with(ctx, handle, profile(Some(ROLE), true, Value::Null, false), Some(ns)).await;
    r.unwrap();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, vec!["GET", "PATCH"], "only the status is written");
    let status = status_patch(&seen);
    assert_eq!(condition(status, "Ready")["status"], "False");
    assert_eq!(condition(status, "Ready")["reason"], "NamespaceOwnedByOther");
    assert_eq!(iam.calls(), 0);
}

#[tokio::test]
async fn labels_with_empty_values_are_removed_from_the_namespace() {
    let mut c = config();
    c.namespace_labels
        .insert("katib.kubeflow.org/metrics-collector-injection".into(), String::new());
    let (ctx, handle, _) = setup(c);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a", "annotations": {"owner": "alice@example.com"}, "resourceVersion": "3",
                     "labels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"}}});
    let (r, seen) = run_with(ctx, handle, profile(None, true, Value::Null, false), Some(ns)).await;
    r.unwrap();
    let merge = seen
        .iter()
        .filter(|s| s.method == "PATCH" && s.path == "/api/v1/namespaces/team-a")
        .nth(1)
        .expect("a merge patch after the apply");
    assert_eq!(
        merge.body,
        json!({"metadata": {"labels": {"katib.kubeflow.org/metrics-collector-injection": null}}})
    );
}

#[tokio::test]
async fn a_role_without_the_required_tag_is_neither_annotated_nor_trusted() {
    let mut c = config();
    c.aws.required_role_tag = Some(("kubeflow.org/profile".into(), Some("{profile}".into())));
    for annotate_only in [true, false] {
        let (ctx, handle, iam) = setup(c.clone());
        let mut p = profile(Some(ROLE), true, Value::Null, false);
        p["spec"]["plugins"][0]["spec"]["annotateOnly"] = json!(annotate_only);
        let (r, seen) = run(ctx, handle, p).await;
        r.unwrap();
        let sa = seen
            .iter()
            .find(|s| s.path.ends_with("/serviceaccounts/default-editor"))
            .unwrap();
        assert!(
            sa.body["metadata"].get("annotations").is_none(),
            "annotateOnly={annotate_only}"
        );
        let status = status_patch(&seen);
        assert_eq!(condition(status, "RoleNotAllowed")["status"], "True");
        assert!(
            condition(status, "RoleNotAllowed")["message"]
                .as_str()
                .unwrap()
                .contains("kubeflow.org/profile=team-a")
        );
        assert_eq!(condition(status, "Ready")["status"], "False");
        assert!(!iam.policy("kf-user").contains(EDITOR));
        assert_eq!(iam.calls(), 1, "one GetRole for the tag");
    }
}

#[tokio::test]
async fn a_role_binding_with_another_role_ref_is_replaced() {
    let (ctx, handle, _) = setup(config());
    const RB: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/default-editor";
    let p = profile(None, true, Value::Null, false);
    let server = tokio::spawn(async move { serve_failing(handle, p, None, Some(RB)).await });
    let profile: Profile = serde_json::from_value(profile(None, true, Value::Null, false)).unwrap();
    reconcile(Arc::new(profile), ctx).await.unwrap();
    let seen = server.await.unwrap();
    let rb: Vec<&str> = seen
        .iter()
        .filter(|s| s.path == RB)
        .map(|s| s.method.as_str())
        .collect();
    assert_eq!(rb, vec!["PATCH", "DELETE", "PATCH"]);
}
