//! Micro-benchmarks of the hot path: one AdmissionReview decoded, resolved, patched and encoded;
//! and the patch builder alone. `cargo bench -p irsa-webhook --bench review`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use irsa_webhook::MutationConfig;
use irsa_webhook::admission::{ReviewContext, review};
use irsa_webhook::annotations::ServiceAccountInfo;
use irsa_webhook::mutate::{FixedRandom, Identity, build_patch};
use irsa_webhook::store::IdentityStore;
use serde_json::json;

fn main() {
    divan::main();
}

fn pod() -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "app-", "labels": {"app": "web"}},
        "spec": {
            "serviceAccountName": "app",
            "containers": [
                {"name": "app", "image": "registry/app:1", "env": [{"name": "LOG", "value": "info"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "proxy", "image": "registry/proxy:2"}
            ],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }
    })
}

#[divan::bench]
fn build_patch_two_containers(bencher: divan::Bencher<'_, '_>) {
    let pod = pod();
    let cfg = MutationConfig {
        aws_default_region: "eu-west-1".into(),
        ..MutationConfig::default()
    };
    let id = Identity::WebIdentity {
        role_arn: "arn:aws:iam::111122223333:role/app".into(),
        audience: "sts.amazonaws.com".into(),
        regional_sts: true,
        token_expiration: 86400,
    };
    bencher.bench(|| build_patch(divan::black_box(&pod), &id, &cfg, &FixedRandom(0)).unwrap());
}

#[divan::bench]
fn full_review(bencher: divan::Bencher<'_, '_>) {
    let store = IdentityStore::new();
    store.upsert(
        "default",
        "app",
        ServiceAccountInfo::from_annotations(
            "eks.amazonaws.com",
            [("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/app")],
        ),
    );
    let cfg = MutationConfig::default();
    let random = FixedRandom(0);
    let ctx = ReviewContext {
        store: &store,
        config: &cfg,
        random: &random,
        grace: Duration::ZERO,
    };
    let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "namespace": "default", "operation": "CREATE",
                    "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": pod()}})
    .to_string()
    .into_bytes();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    bencher.bench(|| rt.block_on(review(divan::black_box(&body), &ctx)));
}
