//! `irsa profile-controller` against a real kube-apiserver (the CRD applied as shipped in
//! `deploy/profile-controller`) and irsa's own IAM as a process: a Profile's namespace,
//! service accounts, role bindings and Istio policy; the AWS plugin's annotation and trust;
//! status conditions and Events on the Profile; a cluster without Istio's CRDs; a changed role
//! handing trust over; a deleted service account restored through the owner mapping; deletion
//! revoking trust through the finalizer; and two controllers sharing a Lease.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod cluster;

use std::time::Duration;

use cluster::{Iam, client, profile, profile_controller, profiles, role_arn, subject, wait_for};
use irsa_testkit::KubeApiServer;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
const WAIT: Duration = Duration::from_secs(30);

fn condition<'a>(p: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    p.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn trusts(iam: &Iam, role: &str, subject: &str) -> bool {
    iam.trust_policy(role).to_string().contains(subject)
}

/// Events about Profile `name` (they live in kube-system: the Profile is cluster-scoped).
async fn profile_events(client: &kube::Client, name: &str) -> Vec<Event> {
    let events: Api<Event> = Api::all(client.clone());
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some("Profile") && r.name.as_deref() == Some(name))
        })
        .collect()
}

async fn wait_event(client: &kube::Client, profile: &str, reason: &str) -> Event {
    wait_for(&format!("a {reason} Event about Profile {profile}"), WAIT, || async {
        profile_events(client, profile)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_is_applied_trusted_handed_over_and_revoked_on_a_real_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApiServer::start();
    let client = client(&api).await;
    let iam = Iam::start(dir.path(), &api);
    iam.register_cluster(&api, &["kf-user", "kf-other"]);
    cluster::install_profile_crd(&client).await;
    cluster::create_namespace(&client, "kubeflow", &[]).await;
    let (_controller, _) = profile_controller(dir.path(), &api, &iam, "controller-a");

    // No Istio CRDs in this cluster yet: everything else of the Profile is applied.
    let profiles = profiles(&client);
    profiles
        .create(&PostParams::default(), &profile("team-a", "kf-user"))
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
    let editor = wait_for("default-editor annotated", WAIT, || async {
        let sa = sas.get_opt("default-editor").await.ok().flatten()?;
        sa.metadata.annotations.as_ref()?.get(ROLE_ANNOTATION).cloned()
    })
    .await;
    assert_eq!(editor, role_arn("kf-user"));
    let viewer = sas.get("default-viewer").await.unwrap();
    assert!(
        !viewer
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(ROLE_ANNOTATION),
        "default-viewer is not annotated unless --annotate-viewer"
    );
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "team-a");
    wait_for("the Profile's RoleBindings", WAIT, || async {
        let names: Vec<String> = bindings
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|b| b.metadata.name)
            .collect();
        ["default-editor", "default-viewer", "namespaceAdmin"]
            .iter()
            .all(|want| names.iter().any(|n| n == want))
            .then_some(())
    })
    .await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = namespaces.get("team-a").await.unwrap();
    let owner = &ns.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Profile", "team-a"));
    assert!(trusts(&iam, "kf-user", &subject("team-a", "default-editor")));

    let not_served =
        "AuthorizationPolicy security.istio.io/v1beta1 is not served by this cluster; install Istio's CRDs";
    let p = wait_for("Ready=False APINotServed", WAIT, || async {
        let p = profiles.get("team-a").await.ok()?;
        let ready = condition(&p, "Ready")?;
        (ready["reason"] == "APINotServed").then_some(p.clone())
    })
    .await;
    assert_eq!(condition(&p, "Ready").unwrap()["message"], not_served);
    assert_eq!(condition(&p, "AwsIamTrusted").unwrap()["status"], "True");
    let event = wait_event(&client, "team-a", "APINotServed").await;
    assert_eq!(event.note.as_deref(), Some(not_served));
    assert_eq!(event.metadata.namespace.as_deref(), Some("kube-system"));
    assert_eq!(
        event.regarding.as_ref().unwrap().namespace,
        None,
        "a namespace-free reference"
    );
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    wait_event(&client, "team-a", "Trusted").await;

    // Istio arrives; the next reconcile (here: a touch of the Profile) applies its policy.
    cluster::install_istio_authorization_policy_crd(&client).await;
    let touch = json!({"metadata": {"annotations": {"irsa.dev/touch": "1"}}});
    profiles
        .patch("team-a", &PatchParams::default(), &Patch::Merge(&touch))
        .await
        .unwrap();
    let policies: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "team-a",
        &irsa_controller::reconcile::authorization_policy_resource(),
    );
    wait_for("the Istio AuthorizationPolicy", WAIT, || async {
        policies.get_opt("ns-owner-access-istio").await.ok().flatten()
    })
    .await;
    wait_for("Ready=True", WAIT, || async {
        let p = profiles.get("team-a").await.ok()?;
        (condition(&p, "Ready")?["status"] == "True").then_some(())
    })
    .await;

    // A deleted service account comes back at once: its owner reference maps to the Profile
    // by name (the Profile is cluster-scoped), well before the 10-minute resync.
    sas.delete("default-editor", &DeleteParams::default()).await.unwrap();
    wait_for("default-editor restored", Duration::from_secs(20), || async {
        let sa = sas.get_opt("default-editor").await.ok().flatten()?;
        sa.metadata.annotations.as_ref()?.get(ROLE_ANNOTATION).cloned()
    })
    .await;

    // A changed role hands trust over: the old role forgets team-a, the new one trusts it.
    let change = json!({"spec": {"plugins": [{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": role_arn("kf-other")}}]}});
    profiles
        .patch("team-a", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    wait_for("default-editor annotated with kf-other", WAIT, || async {
        let sa = sas.get_opt("default-editor").await.ok().flatten()?;
        (sa.metadata.annotations.as_ref()?.get(ROLE_ANNOTATION)? == &role_arn("kf-other")).then_some(())
    })
    .await;
    wait_for("trust handed over", WAIT, || async {
        (trusts(&iam, "kf-other", &subject("team-a", "default-editor"))
            && !trusts(&iam, "kf-user", &subject("team-a", "default-editor")))
        .then_some(())
    })
    .await;
    wait_event(&client, "team-a", "RoleChanged").await;

    // Deletion: the finalizer revokes trust, then lets the Profile go.
    profiles.delete("team-a", &DeleteParams::default()).await.unwrap();
    wait_for("Profile team-a gone", WAIT, || async {
        profiles.get_opt("team-a").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(!trusts(&iam, "kf-other", &subject("team-a", "default-editor")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_share_a_lease_and_the_second_takes_over_when_the_first_dies() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApiServer::start();
    let client = client(&api).await;
    let iam = Iam::start(dir.path(), &api);
    iam.register_cluster(&api, &["kf-user"]);
    cluster::install_profile_crd(&client).await;
    cluster::install_istio_authorization_policy_crd(&client).await;
    cluster::create_namespace(&client, "kubeflow", &[]).await;
    let (mut first, first_metrics) = profile_controller(dir.path(), &api, &iam, "controller-a");
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kubeflow");
    let holder = || async {
        let lease = leases.get_opt("irsa-profile-controller").await.ok().flatten()?;
        lease.spec?.holder_identity
    };
    assert_eq!(wait_for("a leader", WAIT, holder).await, "controller-a");
    let (_second, second_metrics) = profile_controller(dir.path(), &api, &iam, "controller-b");
    // The second waits: not ready, and the Lease stays with the first.
    let readyz = |port: u16| irsa_testkit::http_get(port, "/readyz").map(|(s, _)| s).unwrap_or(0);
    wait_for("controller-b serving /readyz", WAIT, || async {
        (readyz(second_metrics) != 0).then_some(())
    })
    .await;
    assert_eq!(readyz(second_metrics), 503);
    assert_eq!(readyz(first_metrics), 200);

    let profiles = profiles(&client);
    profiles
        .create(&PostParams::default(), &profile("team-a", "kf-user"))
        .await
        .unwrap();
    wait_for("team-a trusted", WAIT, || async {
        trusts(&iam, "kf-user", &subject("team-a", "default-editor")).then_some(())
    })
    .await;
    assert_eq!(holder().await.as_deref(), Some("controller-a"));

    // The leader dies without a word; after the Lease expires (15 s) the second leads.
    first.kill();
    wait_for("controller-b leading", Duration::from_secs(45), || async {
        (holder().await.as_deref() == Some("controller-b")).then_some(())
    })
    .await;
    wait_for("controller-b ready", WAIT, || async {
        (readyz(second_metrics) == 200).then_some(())
    })
    .await;
    profiles
        .create(&PostParams::default(), &profile("team-b", "kf-user"))
        .await
        .unwrap();
    wait_for("team-b trusted by the new leader", WAIT, || async {
        trusts(&iam, "kf-user", &subject("team-b", "default-editor")).then_some(())
    })
    .await;
    let lease = leases.get("irsa-profile-controller").await.unwrap();
    assert!(lease.spec.unwrap().lease_transitions.unwrap_or(0) >= 1);
}
