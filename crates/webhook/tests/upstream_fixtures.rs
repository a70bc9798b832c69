//! Conformance with upstream's pod fixtures (`tests/upstream-testdata`, copied from
//! amazon-eks-pod-identity-webhook, see its README): for every file, the pod obtained by applying
//! *our* patch must equal the pod obtained by applying upstream's expected patch, modulo Go
//! encoding artefacts and the bugs this implementation fixes on purpose (listed in
//! [`intended_divergence`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use irsa_webhook::annotations::ServiceAccountInfo;
use irsa_webhook::mutate::{FixedRandom, apply_patch, build_patch, resolve_identity};
use irsa_webhook::sources::ContainerCredentials;
use irsa_webhook::{IdentitySources, MutationConfig};
use json_patch::Patch;
use serde_json::{Value, json};

const T: &str = "testing.eks.amazonaws.com/";

fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(format!("{T}{key}")))
        .and_then(Value::as_str)
}

/// Rebuilds upstream's harness environment from the `testing.eks.amazonaws.com/*` annotations.
fn harness(pod: &Value) -> (MutationConfig, ServiceAccountInfo, Option<ContainerCredentials>) {
    let mut cfg = MutationConfig::default();
    if let Some(region) = annotation(pod, "handler/region") {
        cfg.aws_default_region = region.into();
    }
    if let Some(mount) = annotation(pod, "handler/mountPath") {
        cfg.token_mount_path = mount.into();
    }
    let mut sa_annotations = vec![(
        "eks.amazonaws.com/audience".to_owned(),
        annotation(pod, "serviceAccount/audience")
            .unwrap_or("sts.amazonaws.com")
            .to_owned(),
    )];
    if let Some(role) = annotation(pod, "serviceAccount/roleArn") {
        sa_annotations.push(("eks.amazonaws.com/role-arn".into(), role.into()));
    }
    if let Some(sts) =
        annotation(pod, "serviceAccount/sts-regional-endpoints").or_else(|| annotation(pod, "handler/injectSTS"))
    {
        sa_annotations.push(("eks.amazonaws.com/sts-regional-endpoints".into(), sts.into()));
    }
    if let Some(exp) =
        annotation(pod, "serviceAccount/token-expiration").or_else(|| annotation(pod, "handler/expiration"))
    {
        sa_annotations.push(("eks.amazonaws.com/token-expiration".into(), exp.into()));
    }
    let sa = ServiceAccountInfo::from_annotations(
        "eks.amazonaws.com",
        sa_annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let mut creds = None;
    if let Some(uri) = annotation(pod, "containercredentials/uri").filter(|u| !u.is_empty()) {
        cfg.container_credentials_full_uri = uri.into();
        creds = Some(ContainerCredentials::from_pairs([("default", "default")]));
        let set = |target: &mut String, key: &str| {
            if let Some(v) = annotation(pod, key) {
                *target = v.into();
            }
        };
        set(&mut cfg.container_credentials_audience, "containercredentials/audience");
        set(
            &mut cfg.container_credentials_token_mount_path,
            "containercredentials/mountPath",
        );
        set(
            &mut cfg.container_credentials_token_volume_name,
            "containercredentials/volumeName",
        );
        set(
            &mut cfg.container_credentials_token_path,
            "containercredentials/tokenPath",
        );
    }
    (cfg, sa, creds)
}

/// Bugs fixed on purpose; each edits upstream's expected result into ours.
fn intended_divergence(name: &str, original: &Value, expected: &mut Value) -> bool {
    match name {
        // Upstream's early exit (all variables already defined) skipped the volume mount,
        // leaving the token volume unmounted. We mount it.
        "rawPodHasAll.pod.yaml" => {
            expected["spec"]["containers"][0]["volumeMounts"] = json!([{
                "name": "aws-iam-token", "readOnly": true,
                "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount"}]);
            true
        }
        // The pod's own `aws-iam-token` is a hostPath volume, not a projected token. Upstream
        // round-tripped containers through Go structs, dropping the mount's unknown key `path`
        // (leaving `mountPath: ""`), and pointed the token variable at a path with no token.
        // We leave the pod unchanged and warn (a volume conflict).
        "rawPodHasVolumeMount.pod.yaml" => {
            *expected = original.clone();
            true
        }
        // The pod has a hostPath volume of the token volume's name: upstream mounted nothing
        // new and pointed the token variable at a path where no token is. We inject nothing and
        // warn (the conflict is reported, never mounted in place of the token).
        "rawPodWithConflictingVolumeMount.pod.yaml" => {
            *expected = original.clone();
            true
        }
        _ => false,
    }
}

#[test]
fn every_upstream_fixture_yields_upstreams_pod() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream-testdata");
    let files = common::yaml_files(&dir);
    assert_eq!(files.len(), 24, "expected upstream's 24 fixtures");
    let mut diverging = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut pod = common::load_yaml(&path);
        if annotation(&pod, "skip") == Some("true") {
            continue;
        }
        pod["metadata"]["namespace"] = json!("default");
        pod["spec"]["serviceAccountName"] = json!("default");
        let (cfg, sa, creds) = harness(&pod);
        let sources = IdentitySources {
            service_account: Some(&sa),
            config_map: None,
            container_credentials: creds.as_ref(),
        };
        let identity = resolve_identity("default", "default", &sources, &cfg)
            .unwrap_or_else(|| panic!("{name}: no identity resolved"));
        let outcome = build_patch(&pod, &identity, &cfg, &FixedRandom(0)).unwrap();
        assert_eq!(
            outcome.volume_conflict,
            name == "rawPodWithConflictingVolumeMount.pod.yaml" || name == "rawPodHasVolumeMount.pod.yaml",
            "{name}: volume conflict"
        );

        // Every op is an `add` at a narrow path: never a whole container list.
        for op in &outcome.patch.0 {
            let json_patch::PatchOperation::Add(add) = op else {
                panic!("{name}: non-add op {op:?}");
            };
            let p = add.path.to_string();
            assert!(
                p != "/spec/containers" && p != "/spec/initContainers",
                "{name}: whole container list replaced"
            );
        }

        let mut ours = apply_patch(&pod, &outcome.patch).unwrap();
        let expected_patch: Patch = serde_json::from_str(annotation(&pod, "expectedPatch").unwrap()).unwrap();
        let mut theirs = apply_patch(&pod, &expected_patch).unwrap();
        if intended_divergence(&name, &pod, &mut theirs) {
            diverging += 1;
        }
        common::normalize(&mut ours);
        common::normalize(&mut theirs);
        assert_eq!(
            ours, theirs,
            "{name}: resulting pods differ\nours: {ours:#}\ntheirs: {theirs:#}"
        );
        common::assert_is_pod(&ours, &name);

        // Re-invocation: nothing more to do.
        let again = build_patch(&ours, &identity, &cfg, &FixedRandom(0)).unwrap();
        assert!(again.patch.0.is_empty(), "{name}: not idempotent: {:?}", again.patch);
    }
    assert_eq!(diverging, 3);
}
