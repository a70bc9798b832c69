//! Every manifest under `deploy/` is accepted by a real kube-apiserver: each kustomization's
//! resources are server-side applied with `dryRun=All` (schema validation, defaulting,
//! admission) in the kustomization's namespace. Namespaces and CRDs are applied for real first,
//! since the objects that live in them cannot be dry-run without them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod cluster;

use cluster::{apply_documents, client, workspace, yaml_documents};
use irsa_testkit::{KUBE_APISERVER_VERSION, KubeApiServer};
use serde_json::Value;

/// Kinds that need something this cluster does not have, and why they are left out.
fn external(doc: &Value) -> Option<&'static str> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    if api_version.starts_with("cert-manager.io/") {
        return Some("needs cert-manager's CRDs");
    }
    None
}

/// `policy/v1` is served from Kubernetes 1.21 and the test server is 1.20: a
/// PodDisruptionBudget is checked as `policy/v1beta1`, whose fields are the same.
fn for_this_server(mut doc: Value) -> Value {
    if doc["apiVersion"] == "policy/v1"
        && doc["kind"] == "PodDisruptionBudget"
        && KUBE_APISERVER_VERSION.starts_with("1.20.")
    {
        doc["apiVersion"] = Value::String("policy/v1beta1".into());
    }
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_manifests_are_accepted_by_a_real_api_server() {
    let api = KubeApiServer::start();
    let client = client(&api).await;
    let deploy = workspace().join("deploy");
    let mut applied = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(&deploy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("kustomization.yaml").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 2, "kustomizations under deploy/: {dirs:?}");
    for dir in dirs {
        let kustomization: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap()).unwrap();
        let namespace = kustomization["namespace"].as_str().map(str::to_owned);
        if let Some(ns) = &namespace {
            cluster::create_namespace(&client, ns, &[]).await;
        }
        let mut docs = Vec::new();
        for resource in kustomization["resources"].as_array().unwrap() {
            let path = dir.join(resource.as_str().unwrap());
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs.extend(yaml_documents(&text));
        }
        let (first, rest): (Vec<Value>, Vec<Value>) = docs
            .into_iter()
            .filter(|d| external(d).is_none())
            .map(for_this_server)
            .partition(|d| matches!(d["kind"].as_str(), Some("Namespace" | "CustomResourceDefinition")));
        apply_documents(&client, &first, namespace.as_deref(), false)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        apply_documents(&client, &rest, namespace.as_deref(), true)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        applied += first.len() + rest.len();
    }
    assert!(applied >= 12, "{applied} documents applied");
}
