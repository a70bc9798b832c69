//! `irsa policy` as users run it: exit codes, output formats, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::path::PathBuf;
use std::process::{Command, Output};

fn irsa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run irsa")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const ISSUER: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

#[test]
fn validate_exit_codes_and_json_shape() {
    let ok = irsa(&[
        "policy",
        "validate",
        "--kind",
        "trust",
        "examples/policies/kf-user-trust.json",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("valid (trust policy, 554 of 2048 characters)"));

    let bad = irsa(&[
        "policy",
        "validate",
        "--kind",
        "trust",
        "-o",
        "json",
        "examples/policies/seed-trust-policy.json",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    // The raw line, so member order is checked too.
    insta::assert_snapshot!(stdout(&bad), @r###"{"valid":false,"errors":[{"pointer":"/Statement/0/Condition/StringEquals/oidc.eks.us-west-2.amazonaws.com~1id~1EXAMPLED539D4633E53DE1B71EXAMPLE:sub","message":"invalid JSON: duplicate key `oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub` at line 14 column 11"},{"pointer":"/Statement/0/Condition/StringEquals","message":"invalid JSON: trailing comma before `}` at line 15 column 9"}],"warnings":[],"size":600,"kind":"trust","kind_inferred":false}"###);
}

#[test]
fn validate_applies_the_kind_and_the_limit() {
    let as_identity = irsa(&[
        "policy",
        "validate",
        "--kind",
        "identity",
        "examples/policies/kf-user-trust.json",
    ]);
    assert_eq!(as_identity.status.code(), Some(1));
    assert!(stdout(&as_identity).contains("has prohibited field Principal"));
    let tight = irsa(&[
        "policy",
        "validate",
        "--kind",
        "trust",
        "--trust-limit",
        "500",
        "examples/policies/kf-user-trust.json",
    ]);
    assert_eq!(tight.status.code(), Some(1));
    assert!(stdout(&tight).contains("exceeds the 500-character limit for trust policies by 54"));
}

#[test]
fn validate_without_kind_infers_it_and_says_so() {
    // A correct trust policy is valid without --kind (it used to be "prohibited field Principal").
    let trust = irsa(&["policy", "validate", "examples/policies/kf-user-trust.json"]);
    assert_eq!(trust.status.code(), Some(0), "{}", stderr(&trust));
    assert_eq!(
        stdout(&trust),
        "examples/policies/kf-user-trust.json: valid (trust policy, 554 of 2048 characters)\n"
    );
    assert_eq!(
        stderr(&trust),
        "irsa: examples/policies/kf-user-trust.json: checked as a trust policy: statement 1 names a \
         Principal and `sts:AssumeRoleWithWebIdentity` (--kind chooses)\n"
    );

    // JSON stays one object per line on stdout, with the kind and that it was inferred.
    let out = irsa(&[
        "policy",
        "validate",
        "-o",
        "json",
        "examples/policies/s3-home-prefix.json",
        "examples/policies/kf-user-trust.json",
        "examples/policies/seed-trust-policy.json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<(&str, bool, bool)> = lines
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["kind_inferred"].as_bool().unwrap(),
                l["valid"].as_bool().unwrap(),
            )
        })
        .collect();
    // The seed's trust policy (a duplicate key and a trailing comma) is not JSON: checked as an
    // identity policy, and invalid for its syntax.
    assert_eq!(
        kinds,
        [
            ("identity", true, true),
            ("trust", true, true),
            ("identity", true, false)
        ]
    );
    let err = stderr(&out);
    assert!(err.contains("s3-home-prefix.json: checked as an identity policy: no statement names a Principal"));
    assert!(err.contains("seed-trust-policy.json: checked as an identity policy: the document could not be read"));

    // A resource policy (a Principal, no sts:AssumeRole*), from standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(["policy", "validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        br#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("-: valid (resource policy"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("checked as a resource policy: statement 1 names a Principal"));
}

#[test]
fn validate_several_files_prints_one_json_line_each() {
    let out = irsa(&[
        "policy",
        "validate",
        "--kind",
        "identity",
        "-o",
        "json",
        "examples/policies/s3-home-prefix.json",
        "examples/policies/kf-user-trust.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["file"], "examples/policies/s3-home-prefix.json");
    assert_eq!(lines[1]["valid"], false);
}

#[test]
fn eval_explains_a_denied_web_identity() {
    let sub = format!("{ISSUER}:sub=system:serviceaccount:team-c:default-editor");
    let aud = format!("{ISSUER}:aud=sts.amazonaws.com");
    let principal = format!("Federated:{PROVIDER}");
    let out = irsa(&[
        "policy",
        "eval",
        "--resource-policy",
        "examples/policies/kf-user-trust.json",
        "--principal",
        &principal,
        "--action",
        "sts:AssumeRoleWithWebIdentity",
        "--context",
        &sub,
        "--context",
        &aud,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["decision"], "ImplicitDeny");
    let st = &v["explanation"]["policies"][0]["statements"][0];
    assert_eq!(st["outcome"], "condition_failed");
    assert_eq!(st["key"], format!("{ISSUER}:sub"));
    assert_eq!(st["request_values"][0], "system:serviceaccount:team-c:default-editor");

    let allowed_sub = format!("{ISSUER}:sub=system:serviceaccount:team-a:default-editor");
    let ok = irsa(&[
        "policy",
        "eval",
        "--resource-policy",
        "examples/policies/kf-user-trust.json",
        "--principal",
        &principal,
        "--action",
        "sts:AssumeRoleWithWebIdentity",
        "--context",
        &allowed_sub,
        "--context",
        &aud,
    ]);
    assert!(stdout(&ok).starts_with("Allow: "), "{}", stdout(&ok));
}

#[test]
fn eval_web_identity_shorthand() {
    let ask = |sub: &str| {
        stdout(&irsa(&[
            "policy",
            "eval",
            "--trust-policy",
            "examples/policies/kf-user-trust.json",
            "--web-identity-subject",
            sub,
        ]))
    };
    assert!(ask("system:serviceaccount:team-a:default-editor").starts_with("Allow: `sts:AssumeRoleWithWebIdentity`"));
    let denied = ask("system:serviceaccount:team-c:default-editor");
    assert!(denied.starts_with("ImplicitDeny: "), "{denied}");
    assert!(
        denied.contains("request value `system:serviceaccount:team-c:default-editor`"),
        "{denied}"
    );
    let wrong_aud = irsa(&[
        "policy",
        "eval",
        "--trust-policy",
        "examples/policies/kf-user-trust.json",
        "--web-identity-subject",
        "system:serviceaccount:team-a:default-editor",
        "--audience",
        "other",
    ]);
    assert!(stdout(&wrong_aud).starts_with("ImplicitDeny"));
}

#[test]
fn eval_substitutes_variables_and_says_so() {
    let out = irsa(&[
        "policy",
        "eval",
        "--policy",
        "examples/policies/s3-home-prefix.json",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::kubeflow-artifacts/home/team-b/model.pt",
        "--context",
        "aws:PrincipalTag/kubeflow-namespace=team-a",
        "--context",
        "aws:SecureTransport=true",
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("ImplicitDeny: "), "{text}");
    assert!(
        text.contains("with policy variables substituted: `arn:aws:s3:::kubeflow-artifacts/home/team-a/*`"),
        "{text}"
    );
}

#[test]
fn repeated_context_keys_are_multivalued() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.json");
    std::fs::write(
        &p,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:TagRole","Resource":"*",
        "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}}}"#,
    )
    .unwrap();
    let p = p.to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let mut args = vec!["policy", "eval", "--policy", &p, "--action", "iam:TagRole"];
        args.extend_from_slice(extra);
        stdout(&irsa(&args))
    };
    assert!(run(&["--context", "aws:TagKeys=team", "--context", "aws:TagKeys=env"]).starts_with("Allow"));
    assert!(run(&["--context", "aws:TagKeys=team", "--context", "aws:TagKeys=owner"]).starts_with("ImplicitDeny"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let cases: &[&[&str]] = &[
        &["policy", "validate", "does-not-exist.json"],
        &[
            "policy",
            "eval",
            "--policy",
            "does-not-exist.json",
            "--action",
            "s3:GetObject",
        ],
        &[
            "policy",
            "eval",
            "--policy",
            "examples/policies/s3-home-prefix.json",
            "--action",
            "s3GetObject",
        ],
        &[
            "policy",
            "eval",
            "--policy",
            "examples/policies/s3-home-prefix.json",
            "--action",
            "s3:GetObject",
            "--context",
            "novalue",
        ],
        &[
            "policy",
            "eval",
            "--policy",
            "examples/policies/seed-trust-policy.json",
            "--action",
            "s3:GetObject",
        ],
        &["policy", "eval", "--action", "s3:GetObject"],
        &["policy", "validate", "--kind", "bogus", "x.json"],
        &["policy", "fmt", "examples/policies/seed-trust-policy.json"],
        &["policy", "nonsense"],
    ];
    for args in cases {
        let out = irsa(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{args:?}: {err}"
        );
        if args[1] != "nonsense" && args[2] != "--kind" {
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
            assert!(err.starts_with("irsa: error: "), "{err}");
        }
    }
}

#[test]
fn binary_and_non_utf8_input_is_rejected_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bin.json");
    std::fs::write(&p, [0xff, 0xfe, 0x00, 0x7b]).unwrap();
    let out = irsa(&["policy", "validate", &p.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not UTF-8 text"));
}

#[test]
fn fmt_prints_canonical_json() {
    let out = irsa(&["policy", "fmt", "--compact", "examples/policies/kf-user-trust.json"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.trim_end().chars().count(), 554);
    let reparsed = irsa_policy::Policy::parse(text.trim_end()).unwrap();
    let original = irsa_policy::Policy::parse(
        &std::fs::read_to_string(root().join("examples/policies/kf-user-trust.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(reparsed, original);
}
