//! `irsa webhook` registered with a real kube-apiserver through a MutatingWebhookConfiguration
//! (`clientConfig.url` to its loopback port, `caBundle` from the test CA): the project's pod
//! fixtures created for real come out as the fixtures say, with every other field kept and
//! nothing added twice when a second webhook entry runs after it (reinvocation); a
//! ServiceAccount created an instant before its pod still counts (upstream's issue #174, with
//! `--service-account-lookup-grace-period`); and `failurePolicy` decides what happens while the
//! webhook is down.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod cluster;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use cluster::{Proc, apply_documents, client, create_namespace, subset, wait_for, workspace};
use irsa_testkit::{KubeApiServer, Pki, free_port, http_get};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

struct Webhook {
    proc: Proc,
    port: u16,
}

/// `irsa webhook` with the test CA's serving certificate and `flags`, ready (its caches synced).
async fn webhook(dir: &Path, api: &KubeApiServer, pki: &Pki, name: &str, flags: &[String]) -> Webhook {
    let (cert, key) = (dir.join("webhook.pem"), dir.join("webhook-key.pem"));
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let (port, metrics) = (free_port(), free_port());
    let mut args: Vec<String> = [
        "webhook",
        "--port",
        &port.to_string(),
        "--metrics-port",
        &metrics.to_string(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--kubeconfig",
        api.kubeconfig.to_str().unwrap(),
        "--in-cluster=false",
        "--service-account-lookup-grace-period=5s",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(flags.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = Proc::irsa(dir, name, &args, &[]);
    wait_for(&format!("{name} ready"), WAIT, || async {
        matches!(http_get(metrics, "/readyz"), Ok((200, _))).then_some(())
    })
    .await;
    Webhook { proc, port }
}

/// A MutatingWebhookConfiguration sending pod creates in namespaces labelled
/// `irsa-test-group=GROUP` to `ports` (one webhook entry each, in order).
fn registration(pki: &Pki, name: &str, group: &str, ports: &[u16], failure_policy: &str) -> Value {
    let ca = base64::engine::general_purpose::STANDARD.encode(&pki.ca_pem);
    let hooks: Vec<Value> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            json!({
                "name": format!("{name}-{i}.irsa.dev"),
                "admissionReviewVersions": ["v1", "v1beta1"],
                "failurePolicy": failure_policy,
                "reinvocationPolicy": "IfNeeded",
                "sideEffects": "None",
                "timeoutSeconds": 10,
                "clientConfig": {"url": format!("https://127.0.0.1:{port}/mutate"), "caBundle": ca},
                "namespaceSelector": {"matchLabels": {"irsa-test-group": group}},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]
            })
        })
        .collect();
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
           "metadata": {"name": name}, "webhooks": hooks})
}

/// Fixtures whose pods this API server itself refuses, so only the offline path sees them:
/// a container named `c,d` (it exercises the skip-containers annotation's comma splitting, but
/// is not a valid name), and fields of Kubernetes 1.24+ (gRPC probes, native sidecars) that a
/// 1.20 server prunes, leaving probes without a handler.
const INVALID_IN_A_CLUSTER: &[&str] = &["skip-containers-csv.yaml", "unknown-fields-survive.yaml"];

/// A namespace name for a fixture file name.
fn namespace_for(file: &str) -> String {
    let base = file.trim_end_matches(".yaml").to_ascii_lowercase();
    base.chars()
        .take(60)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

fn in_namespace(mut obj: Value, ns: &str) -> Value {
    obj["metadata"]["namespace"] = json!(ns);
    obj
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_pods_are_mutated_by_a_real_api_server_as_the_fixtures_say() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApiServer::start();
    let client = client(&api).await;
    let pki = Pki::new();
    let fixtures_dir = workspace().join("crates/webhook/tests/fixtures");
    let mut groups: BTreeMap<Vec<String>, Vec<(String, Value)>> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(&fixtures_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let fixture: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // The webhook's instance metadata, ConfigMap and Pod Identity file are not part of a
        // cluster: those fixtures stay with the offline tests.
        if ["composeRoleArn", "configMap", "containerCredentials"]
            .iter()
            .any(|k| fixture.get(k).is_some())
        {
            continue;
        }
        let flags: Vec<String> = fixture["flags"]
            .as_array()
            .map(|f| f.iter().map(|f| f.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        groups.entry(flags).or_default().push((name, fixture));
    }
    assert!(groups.values().map(Vec::len).sum::<usize>() >= 12, "fixtures missing");

    let mut webhooks = Vec::new();
    for (i, (flags, _)) in groups.iter().enumerate() {
        let hook = webhook(dir.path(), &api, &pki, &format!("webhook-{i}"), flags).await;
        // Two entries for the same webhook: the second sees the first's result, and the API
        // server reinvokes the first after it (reinvocationPolicy: IfNeeded). Nothing may be
        // added twice.
        let reg = registration(
            &pki,
            &format!("irsa-test-{i}"),
            &i.to_string(),
            &[hook.port, hook.port],
            "Fail",
        );
        apply_documents(&client, &[reg], None, false).await.unwrap();
        webhooks.push(hook);
    }
    let mut checked = 0;
    for (i, (_, fixtures)) in groups.iter().enumerate() {
        for (name, fixture) in fixtures {
            let ns = namespace_for(name);
            create_namespace(&client, &ns, &[("irsa-test-group", &i.to_string())]).await;
            let sas: Vec<Value> = fixture["serviceAccounts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|sa| {
                    in_namespace(
                        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa["metadata"]}),
                        &ns,
                    )
                })
                .collect();
            apply_documents(&client, &sas, Some(&ns), false).await.unwrap();
            // The ServiceAccount admission plugin (off in this API server: no controller manager
            // makes the token secrets it waits for) names `default` before webhooks run.
            // Ephemeral containers cannot be set when a pod is created (only through their
            // subresource, later): the API server drops them, so they are not compared.
            let with_default_sa = |mut pod: Value| {
                if pod["spec"].get("serviceAccountName").is_none() {
                    pod["spec"]["serviceAccountName"] = json!("default");
                }
                if let Some(spec) = pod["spec"].as_object_mut() {
                    spec.remove("ephemeralContainers");
                }
                pod
            };
            let pod_doc = with_default_sa(in_namespace(fixture["pod"].clone(), &ns));
            let pod: Pod = serde_json::from_value(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": pod_doc["metadata"], "spec": pod_doc["spec"]}),
            )
            .unwrap();
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let result = pods.create(&PostParams::default(), &pod).await;
            if INVALID_IN_A_CLUSTER.contains(&name.as_str()) {
                // Refused by the API server's own validation: only the offline path sees it.
                let err = result.expect_err("the API server refuses this pod");
                assert!(matches!(&err, kube::Error::Api(s) if s.code == 422), "{name}: {err}");
                continue;
            }
            let created = result.unwrap_or_else(|e| panic!("{name}: creating the pod: {e}"));
            let actual = serde_json::to_value(&created).unwrap();
            let expected = if fixture["expected"] == json!("unchanged") {
                pod_doc.clone()
            } else {
                with_default_sa(in_namespace(fixture["expected"].clone(), &ns))
            };
            subset(&expected["spec"], &actual["spec"], "/spec")
                .unwrap_or_else(|e| panic!("{name}: {e}\nexpected {}\nactual {}", expected["spec"], actual["spec"]));
            for field in ["name", "labels", "annotations"] {
                if let Some(want) = expected["metadata"].get(field) {
                    subset(want, &actual["metadata"][field], &format!("/metadata/{field}"))
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked} fixtures checked");
    for hook in &mut webhooks {
        assert!(hook.proc.running(), "a webhook died");
    }
}

fn annotated_sa(name: &str, ns: &str, role: &str) -> ServiceAccount {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns, "annotations": {"eks.amazonaws.com/role-arn": role}}}))
    .unwrap()
}

fn pod(name: &str, ns: &str, sa: &str) -> Pod {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "image": "app:1"}]}}),
    )
    .unwrap()
}

fn env_value(pod: &Pod, name: &str) -> Option<String> {
    pod.spec.as_ref()?.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_created_an_instant_before_its_pod_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApiServer::start();
    let client = client(&api).await;
    let pki = Pki::new();
    let hook = webhook(dir.path(), &api, &pki, "webhook", &[]).await;
    apply_documents(
        &client,
        &[registration(&pki, "irsa-race", "race", &[hook.port], "Fail")],
        None,
        false,
    )
    .await
    .unwrap();
    create_namespace(&client, "race", &[("irsa-test-group", "race")]).await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "race");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "race");
    for i in 0..10 {
        let role = format!("arn:aws:iam::111122223333:role/race-{i}");
        sas.create(&PostParams::default(), &annotated_sa(&format!("sa-{i}"), "race", &role))
            .await
            .unwrap();
        // No wait: the webhook's watch has most likely not seen the account yet.
        let created = pods
            .create(
                &PostParams::default(),
                &pod(&format!("p-{i}"), "race", &format!("sa-{i}")),
            )
            .await
            .unwrap();
        assert_eq!(env_value(&created, "AWS_ROLE_ARN"), Some(role), "pod {i} not mutated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_policy_decides_while_the_webhook_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApiServer::start();
    let client = client(&api).await;
    let pki = Pki::new();
    let mut hook = webhook(dir.path(), &api, &pki, "webhook", &[]).await;
    let regs = [
        registration(&pki, "irsa-fail", "fail", &[hook.port], "Fail"),
        registration(&pki, "irsa-ignore", "ignore", &[hook.port], "Ignore"),
    ];
    apply_documents(&client, &regs, None, false).await.unwrap();
    for group in ["fail", "ignore"] {
        create_namespace(&client, group, &[("irsa-test-group", group)]).await;
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), group);
        sas.create(
            &PostParams::default(),
            &annotated_sa("app", group, "arn:aws:iam::111122223333:role/app"),
        )
        .await
        .unwrap();
    }
    // Up: both mutated.
    for group in ["fail", "ignore"] {
        let pods: Api<Pod> = Api::namespaced(client.clone(), group);
        let created = pods
            .create(&PostParams::default(), &pod("up", group, "app"))
            .await
            .unwrap();
        assert!(
            env_value(&created, "AWS_ROLE_ARN").is_some(),
            "{group}: not mutated while up"
        );
    }
    hook.proc.kill();
    let fail: Api<Pod> = Api::namespaced(client.clone(), "fail");
    let err = fail
        .create(&PostParams::default(), &pod("down", "fail", "app"))
        .await
        .expect_err("failurePolicy Fail refuses pods while the webhook is down");
    assert!(err.to_string().contains("irsa-fail-0.irsa.dev"), "{err}");
    let ignore: Api<Pod> = Api::namespaced(client.clone(), "ignore");
    let created = ignore
        .create(&PostParams::default(), &pod("down", "ignore", "app"))
        .await
        .expect("failurePolicy Ignore admits pods unmutated while the webhook is down");
    assert_eq!(env_value(&created, "AWS_ROLE_ARN"), None);
}
