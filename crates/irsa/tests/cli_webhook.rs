//! `irsa webhook mutate`: the server's mutation from files, as users run it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::process::{Command, Output};

fn irsa(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run irsa")
}

const SA: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: default-editor
  namespace: team-a
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/kf-user
";

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: notebook-0
  namespace: team-a
spec:
  serviceAccountName: default-editor
  containers:
  - name: notebook
    image: jupyter
    futureField: kept
";

#[test]
fn mutate_prints_a_patch_and_a_pod() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("sa.yaml"), SA).unwrap();
    std::fs::write(d.join("pod.yaml"), POD).unwrap();

    let out = irsa(d, &["webhook", "mutate", "--service-account", "sa.yaml", "pod.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let patch: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops = patch.as_array().unwrap();
    assert!(ops.iter().all(|op| op["op"] == "add"), "{patch:#}");
    let text = patch.to_string();
    assert!(
        text.contains("AWS_ROLE_ARN") && text.contains("arn:aws:iam::111122223333:role/kf-user"),
        "{text}"
    );
    assert!(text.contains("AWS_WEB_IDENTITY_TOKEN_FILE"), "{text}");

    // Go-style flags, as in upstream's manifests.
    let pod = irsa(
        d,
        &[
            "webhook",
            "mutate",
            "-token-audience=irsa.example.com",
            "--output",
            "pod",
            "--service-account",
            "sa.yaml",
            "pod.yaml",
        ],
    );
    assert!(pod.status.success(), "{}", String::from_utf8_lossy(&pod.stderr));
    let pod: serde_json::Value = serde_json::from_slice(&pod.stdout).unwrap();
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["futureField"], "kept", "fields the webhook does not know survive");
    assert!(c["env"].as_array().unwrap().iter().any(|e| e["name"] == "AWS_ROLE_ARN"));
    let vol = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "aws-iam-token")
        .unwrap();
    assert_eq!(
        vol["projected"]["sources"][0]["serviceAccountToken"]["audience"],
        "irsa.example.com"
    );
}

#[test]
fn a_pod_without_an_annotated_account_gets_an_empty_patch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pod.yaml"), POD).unwrap();
    let out = irsa(dir.path(), &["webhook", "mutate", "pod.yaml"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "kind: Pod\nspec: [unclosed").unwrap();
    for args in [
        &["webhook", "mutate", "bad.yaml"][..],
        &["webhook", "mutate", "missing.yaml"][..],
    ] {
        let out = irsa(dir.path(), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with("irsa: error: ") && !err.contains("panicked"), "{err}");
    }
}
