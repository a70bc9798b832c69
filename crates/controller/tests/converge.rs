//! Benchmark (ignored by default; run with `cargo test -p irsa-controller --release --test converge
//! -- --ignored --nocapture`): 1,000 Profiles (100 roles, 10 Profiles each) converge through the
//! real reconcile function (Kubernetes answered by tower-test's mock) and aws-sdk-iam against
//! irsa's own IAM, started in-process (`IRSA_BENCH_BACKEND=moto`: a fresh moto_server instead).
//! Reports IAM calls and wall time for the first pass and for a resync (which makes none).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backend;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend::Backend;
use futures_util::StreamExt;
use http::{Request, Response};
use irsa_controller::config::ControllerConfig;
use irsa_controller::crd::Profile;
use irsa_controller::iam::SdkRoleTrust;
use irsa_controller::reconcile::{Context, Metrics, reconcile};
use irsa_controller::trust::TrustEditLoop;
use kube::client::Body;
use serde_json::{Value, json};

const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/BENCH";
const PROFILES: usize = 1000;
const ROLES: usize = 100;

type Statuses = Arc<Mutex<HashMap<String, Value>>>;

/// Answers every request: GET/DELETE 404, Profile patches with the Profile, others echoed.
async fn api_server(mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>, statuses: Statuses) {
    while let Some((req, send)) = handle.next_request().await {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (code, answer) = if method == "GET" || method == "DELETE" {
            (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
            )
        } else if let Some(rest) = path.strip_prefix("/apis/kubeflow.org/v1/profiles/") {
            let name = rest.trim_end_matches("/status").to_owned();
            if rest.ends_with("/status") {
                statuses.lock().unwrap().insert(name.clone(), body["status"].clone());
            }
            (
                200,
                json!({"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": name}, "spec": {}}),
            )
        } else {
            let mut b = body;
            b["metadata"]["resourceVersion"] = json!("1");
            (200, b)
        };
        send.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(answer.to_string().into_bytes()))
                .unwrap(),
        );
    }
}

fn profile(account: &str, i: usize, status: Option<&Value>) -> Profile {
    let role = format!("arn:aws:iam::{account}:role/team-{:03}", i % ROLES);
    serde_json::from_value(json!({
        "apiVersion": "kubeflow.org/v1", "kind": "Profile",
        "metadata": {"name": format!("profile-{i:04}"), "uid": format!("u-{i}"), "finalizers": ["profile-finalizer"]},
        "spec": {"owner": {"kind": "User", "name": format!("user{i}@example.com")},
                 "plugins": [{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": role}}]},
        "status": status.cloned().unwrap_or(Value::Null)
    }))
    .unwrap()
}

async fn pass(ctx: &Arc<Context<SdkRoleTrust>>, account: &str, statuses: &Statuses, use_status: bool) -> Duration {
    let started = Instant::now();
    let snapshot = statuses.lock().unwrap().clone();
    let results: Vec<_> = futures_util::stream::iter(0..PROFILES)
        .map(|i| {
            let ctx = ctx.clone();
            let status = use_status
                .then(|| snapshot.get(&format!("profile-{i:04}")).cloned())
                .flatten();
            let profile = profile(account, i, status.as_ref());
            async move { reconcile(Arc::new(profile), ctx).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for r in results {
        r.unwrap();
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn thousand_profiles_converge() {
    let backend = Backend::from_bench_env().await;
    let admin = backend.client();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for r in 0..ROLES {
        admin
            .create_role()
            .role_name(format!("team-{r:03}"))
            .assume_role_policy_document(doc)
            .send()
            .await
            .unwrap();
    }
    let iam = SdkRoleTrust::new(backend.client(), 0.0);
    let mut edits = TrustEditLoop::new(iam.clone());
    edits.settle = Duration::from_millis(100);
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let statuses: Statuses = Arc::default();
    tokio::spawn(api_server(handle, statuses.clone()));
    let mut config = ControllerConfig::default();
    config.aws.oidc_issuer = Some(ISSUER.into());
    let ctx = Arc::new(Context {
        client: kube::Client::new(service, "default"),
        config,
        edits: Arc::new(edits),
        recorder: None,
        metrics: Arc::new(Metrics::default()),
        resync: Duration::from_secs(600),
        full_retry: Duration::from_secs(1800),
    });
    let first = pass(&ctx, &backend.account, &statuses, false).await;
    let calls_first = iam.calls();
    let resync = pass(&ctx, &backend.account, &statuses, true).await;
    let calls_resync = iam.calls() - calls_first;
    for r in 0..ROLES {
        let role = admin.get_role().role_name(format!("team-{r:03}")).send().await.unwrap();
        let doc = irsa_controller::iam::decode_policy(role.role().unwrap().assume_role_policy_document().unwrap());
        assert_eq!(doc.matches(":default-editor").count(), PROFILES / ROLES, "{doc}");
    }
    eprintln!(
        "{PROFILES} profiles on {ROLES} roles against {} ({}): first pass {first:?} with {calls_first} IAM calls ({:.1} per profile), resync {resync:?} with {calls_resync} IAM calls",
        backend.name,
        backend.url,
        calls_first as f64 / PROFILES as f64
    );
    assert_eq!(calls_resync, 0);
}
