//! Fixtures written for this project (`tests/fixtures/*.yaml`): one behaviour per file, a pod in
//! and the expected pod out, run through the offline entry point (`irsa webhook mutate`), which
//! is exactly the server's logic. Each file:
//!
//! ```yaml
//! description: what it checks
//! flags: ["--aws-default-region=eu-west-1"]     # mutation flags, upstream syntax
//! composeRoleArn: {accountId: "…", region: …}   # optional: --compose-role-arn context
//! serviceAccounts: [ServiceAccount objects]
//! configMap: ConfigMap object                   # optional: --watch-config-map data
//! containerCredentials: {identities: […]}       # optional: Pod Identity file content
//! pod: Pod object
//! expected: Pod object | unchanged
//! expectedWarnings: 0                           # optional
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use clap::Parser;
use irsa_webhook::config::ComposeRoleArn;
use irsa_webhook::mutate::FixedRandom;
use irsa_webhook::offline::{OfflineInput, OutputKind, mutate_offline};
use irsa_webhook::{MutationArgs, MutationConfig};
use serde_json::{Value, json};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    mutation: MutationArgs,
}

fn config(fixture: &Value) -> MutationConfig {
    let mut argv = vec!["mutate".to_owned()];
    if let Some(flags) = fixture["flags"].as_array() {
        argv.extend(flags.iter().map(|f| f.as_str().unwrap().to_owned()));
    }
    let mut cfg = Flags::try_parse_from(argv).unwrap().mutation.to_config();
    if let Some(c) = fixture.get("composeRoleArn") {
        cfg.compose_role_arn =
            Some(ComposeRoleArn::from_region(c["accountId"].as_str().unwrap(), c["region"].as_str().unwrap()).unwrap());
    }
    cfg
}

#[test]
fn project_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files = common::yaml_files(&dir);
    assert!(files.len() >= 20, "fixtures missing");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let fixture = common::load_yaml(&path);
        assert!(fixture["description"].is_string(), "{name}: no description");
        let cfg = config(&fixture);

        // Service accounts as one YAML `List` file (exercises the YAML path), the ConfigMap and
        // Pod Identity file as JSON, the pod as YAML.
        let sas = json!({"apiVersion": "v1", "kind": "List",
                         "items": fixture["serviceAccounts"].clone()});
        let sa_files = vec![serde_saphyr::to_string(&sas).unwrap()];
        let config_map = fixture.get("configMap").map(Value::to_string);
        let creds = fixture.get("containerCredentials").map(Value::to_string);
        let pod_yaml = serde_saphyr::to_string(&fixture["pod"]).unwrap();
        let input = OfflineInput {
            service_accounts: &sa_files,
            config_map: config_map.as_deref(),
            container_credentials: creds.as_deref(),
            pod: &pod_yaml,
        };
        let out = mutate_offline(&input, &cfg, &FixedRandom(0)).unwrap_or_else(|e| panic!("{name}: {e}"));

        let expected = if fixture["expected"] == json!("unchanged") {
            assert!(out.patch.0.is_empty(), "{name}: expected no patch, got {:?}", out.patch);
            fixture["pod"].clone()
        } else {
            fixture["expected"].clone()
        };
        assert_eq!(
            out.pod, expected,
            "{name}: {}\nresult: {:#}",
            fixture["description"], out.pod
        );
        assert_eq!(
            out.warnings.len() as u64,
            fixture.get("expectedWarnings").and_then(Value::as_u64).unwrap_or(0),
            "{name}: warnings {:?}",
            out.warnings
        );
        common::assert_is_pod(&out.pod, &name);

        // Output renderings parse back.
        let patch_text = out.render(OutputKind::Patch).unwrap();
        let _: json_patch::Patch = serde_json::from_str(&patch_text).unwrap();
        let pod_text = out.render(OutputKind::Pod).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&pod_text).unwrap(), out.pod);

        // Idempotent: the mutated pod needs nothing more.
        let again_pod = out.pod.to_string();
        let again = mutate_offline(
            &OfflineInput {
                pod: &again_pod,
                ..input
            },
            &cfg,
            &FixedRandom(0),
        )
        .unwrap();
        assert!(again.patch.0.is_empty(), "{name}: second run patched {:?}", again.patch);
    }
}

#[test]
fn offline_accepts_admission_reviews_json_and_multi_document_yaml() {
    let sa = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n\
              apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n  namespace: ns\n  \
              annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/r\n"
        .to_owned();
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "namespace": "ns", "object": {"kind": "Pod",
            "spec": {"serviceAccountName": "app", "containers": [{"name": "c"}]}}}})
    .to_string();
    let files = [sa];
    let out = mutate_offline(
        &OfflineInput {
            service_accounts: &files,
            pod: &review,
            ..OfflineInput::default()
        },
        &MutationConfig::default(),
        &FixedRandom(0),
    )
    .unwrap();
    assert_eq!(out.namespace, "ns");
    assert_eq!(out.patch.0.len(), 3);
    let yaml = out.render_yaml(OutputKind::Pod).unwrap();
    assert!(yaml.contains("AWS_ROLE_ARN"));
}

#[test]
fn offline_errors_are_reported_not_panicked() {
    let cfg = MutationConfig::default();
    let r = FixedRandom(0);
    let run = |pod: &str, cm: Option<&str>| {
        mutate_offline(
            &OfflineInput {
                pod,
                config_map: cm,
                ..OfflineInput::default()
            },
            &cfg,
            &r,
        )
    };
    assert!(run("{not json", None).is_err());
    assert!(run("kind: Deployment\n", None).is_err());
    assert!(run("", None).is_err());
    assert!(run("kind: Pod\n---\nkind: Pod\n", None).is_err());
    assert!(
        run(
            "kind: Pod\nspec: {}\n",
            Some("kind: ConfigMap\ndata: {config: '{bad'}\n")
        )
        .is_err()
    );
    assert!(
        run("kind: Pod\nspec: {containers: 3}\n", None).is_ok(),
        "no identity: untouched"
    );
}

#[test]
fn mutate_cli_reads_files_like_the_binary() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: irsa_webhook::MutateArgs,
    }
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("sa.yaml");
    std::fs::write(
        &sa,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n  annotations:\n    \
         eks.amazonaws.com/role-arn: reader\n",
    )
    .unwrap();
    let pod = dir.path().join("pod.json");
    std::fs::write(
        &pod,
        r#"{"kind":"Pod","metadata":{"name":"p"},"spec":{"serviceAccountName":"app","containers":[{"name":"c"}]}}"#,
    )
    .unwrap();
    let argv = [
        "mutate".to_owned(),
        format!("--service-account={}", sa.display()),
        "--aws-default-region=eu-west-1".to_owned(),
        "--compose-role-arn-account-id=111122223333".to_owned(),
        "--compose-role-arn-region=eu-west-1".to_owned(),
        "--output=pod".to_owned(),
        pod.display().to_string(),
    ];
    let cli = Cli::try_parse_from(argv).unwrap();
    let (text, warnings) = irsa_webhook::run_mutate(&cli.args).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["spec"]["containers"][0]["env"][2]["value"],
        "arn:aws:iam::111122223333:role/reader"
    );
    // Patch output by default, YAML on request.
    let cli = Cli::try_parse_from([
        "mutate",
        "--format",
        "yaml",
        "--service-account",
        sa.to_str().unwrap(),
        pod.to_str().unwrap(),
    ])
    .unwrap();
    let (text, _) = irsa_webhook::run_mutate(&cli.args).unwrap();
    assert!(text.contains("op: add"), "{text}");
    // Missing file: an error, not a panic.
    let cli = Cli::try_parse_from(["mutate", "/nonexistent/pod.yaml"]).unwrap();
    assert!(irsa_webhook::run_mutate(&cli.args).is_err());
}
