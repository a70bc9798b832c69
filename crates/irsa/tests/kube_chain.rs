//! The whole chain on a real kube-apiserver: the profile controller trusts team-a's
//! `default-editor` in irsa's IAM and annotates it, the webhook mutates team-a's pod, the API
//! server issues a TokenRequest bound to that pod for `sts.amazonaws.com`, and irsa's STS
//! (fetching discovery and JWKS from the API server itself, with the cluster's CA) exchanges it
//! for credentials of the Profile's role, used by the AWS CLI exactly as the pod's environment
//! says. team-b's real token is refused for team-a's role, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod cluster;

use std::time::Duration;

use base64::Engine as _;
use cluster::{Iam, Proc, client, profile, profiles, role_arn, subject, wait_for};
use irsa_testkit::{KubeApiServer, Pki, free_port, http_get};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// The pod's projected token, as the kubelet would get it: a TokenRequest bound to the pod,
/// with the audience and lifetime of the pod's `aws-iam-token` volume.
async fn pod_token(client: &kube::Client, pod: &Pod) -> String {
    let ns = pod.metadata.namespace.clone().unwrap();
    let spec = pod.spec.clone().unwrap();
    let volume = spec
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == "aws-iam-token")
        .expect("the webhook added the aws-iam-token volume");
    let projection = volume.projected.unwrap().sources.unwrap()[0]
        .service_account_token
        .clone()
        .unwrap();
    assert_eq!(projection.audience.as_deref(), Some("sts.amazonaws.com"));
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![projection.audience.unwrap()],
            expiration_seconds: projection.expiration_seconds,
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..TokenRequest::default()
    };
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa = spec.service_account_name.unwrap();
    let answer = sas
        .create_token_request(&sa, &PostParams::default(), &request)
        .await
        .unwrap();
    answer.status.unwrap().token
}

fn pod(ns: &str) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "notebook", "namespace": ns},
        "spec": {"serviceAccountName": "default-editor",
                 "containers": [{"name": "notebook", "image": "jupyter:1", "env": [{"name": "KEEP", "value": "me"}]}]}}))
    .unwrap()
}

fn env(pod: &Pod, name: &str) -> String {
    pod.spec.as_ref().unwrap().containers[0]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
        .unwrap_or_else(|| panic!("{name} not set in the pod"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_pod_token_becomes_its_profile_role_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = KubeApiServer::start();
    let client = client(&api).await;
    let iam = Iam::start(d, &api);
    iam.register_cluster(&api, &["kf-user", "kf-other"]);
    cluster::install_profile_crd(&client).await;
    cluster::install_istio_authorization_policy_crd(&client).await;
    cluster::create_namespace(&client, "kubeflow", &[]).await;

    // The profile controller, as a Deployment runs it.
    let (_controller, _) = cluster::profile_controller(d, &api, &iam, "profile-controller");

    // The webhook, registered for every namespace.
    let pki = Pki::new();
    std::fs::write(d.join("webhook.pem"), &pki.cert_pem).unwrap();
    std::fs::write(d.join("webhook-key.pem"), &pki.key_pem).unwrap();
    let (port, webhook_metrics) = (free_port(), free_port());
    let _webhook = Proc::irsa(
        d,
        "webhook",
        &[
            "webhook",
            "--port",
            &port.to_string(),
            "--metrics-port",
            &webhook_metrics.to_string(),
            "--tls-cert",
            "webhook.pem",
            "--tls-key",
            "webhook-key.pem",
            "--kubeconfig",
            api.kubeconfig.to_str().unwrap(),
            "--aws-default-region",
            "us-east-1",
            "--service-account-lookup-grace-period=5s",
        ],
        &[],
    );
    wait_for("the webhook ready", WAIT, || async {
        matches!(http_get(webhook_metrics, "/readyz"), Ok((200, _))).then_some(())
    })
    .await;
    let registration = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "irsa-chain"},
        "webhooks": [{"name": "pod-identity-webhook.amazonaws.com", "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail", "reinvocationPolicy": "IfNeeded", "sideEffects": "None", "timeoutSeconds": 10,
            "clientConfig": {"url": format!("https://127.0.0.1:{port}/mutate"),
                             "caBundle": base64::engine::general_purpose::STANDARD.encode(&pki.ca_pem)},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]});
    cluster::apply_documents(&client, &[registration], None, false)
        .await
        .unwrap();

    // Two Profiles with their own roles.
    let profiles = profiles(&client);
    profiles
        .create(&PostParams::default(), &profile("team-a", "kf-user"))
        .await
        .unwrap();
    profiles
        .create(&PostParams::default(), &profile("team-b", "kf-other"))
        .await
        .unwrap();
    for (ns, role) in [("team-a", "kf-user"), ("team-b", "kf-other")] {
        wait_for(&format!("{ns} trusted by {role}"), WAIT, || async {
            iam.trust_policy(role)
                .to_string()
                .contains(&subject(ns, "default-editor"))
                .then_some(())
        })
        .await;
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        wait_for(&format!("{ns}/default-editor annotated"), WAIT, || async {
            let sa = sas.get_opt("default-editor").await.ok().flatten()?;
            sa.metadata.annotations?.get("eks.amazonaws.com/role-arn").cloned()
        })
        .await;
    }

    // team-a's notebook: mutated at creation, its own env kept.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team-a");
    let created = pods.create(&PostParams::default(), &pod("team-a")).await.unwrap();
    assert_eq!(env(&created, "AWS_ROLE_ARN"), role_arn("kf-user"));
    assert_eq!(env(&created, "KEEP"), "me");
    let token_path = env(&created, "AWS_WEB_IDENTITY_TOKEN_FILE");
    assert_eq!(token_path, "/var/run/secrets/eks.amazonaws.com/serviceaccount/token");
    let token = pod_token(&client, &created).await;
    let token_file = d.join("team-a-token");
    std::fs::write(&token_file, &token).unwrap();

    // The AWS CLI with the pod's environment (the token file moved here) and no credentials.
    let caller = iam.aws_with(
        &["sts", "get-caller-identity", "--output", "json"],
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_ROLE_ARN", &env(&created, "AWS_ROLE_ARN")),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_SESSION_NAME", "notebook"),
        ],
    );
    let caller: serde_json::Value = serde_json::from_str(&cluster::ok(caller)).unwrap();
    assert_eq!(
        caller["Arn"],
        format!("arn:aws:sts::{}:assumed-role/kf-user/notebook", cluster::ACCOUNT)
    );

    // team-b's real token cannot become team-a's role, and STS says why.
    let pods_b: Api<Pod> = Api::namespaced(client.clone(), "team-b");
    let created_b = pods_b.create(&PostParams::default(), &pod("team-b")).await.unwrap();
    assert_eq!(env(&created_b, "AWS_ROLE_ARN"), role_arn("kf-other"));
    let token_b = pod_token(&client, &created_b).await;
    let refused = iam.aws_with(
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &role_arn("kf-user"),
            "--role-session-name",
            "intruder",
            "--web-identity-token",
            &token_b,
        ],
        &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(stderr.contains(&subject("team-b", "default-editor")), "{stderr}");
    // Its own role works with the same token.
    let own = iam.aws_with(
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &role_arn("kf-other"),
            "--role-session-name",
            "team-b",
            "--web-identity-token",
            &token_b,
        ],
        &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")],
    );
    assert!(cluster::ok(own).contains("assumed-role/kf-other/team-b"));
}
