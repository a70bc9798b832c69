//! Policy engine benchmarks (divan). Targets, from the foundation issue:
//! a 1,000-subject trust policy evaluates in at most 1 µs, a 50-statement
//! identity policy in at most 5 µs, and a 10 KB policy parses in at most 100 µs.
//! Run: `cargo bench -p irsa-policy`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench set-up: a panic is a broken fixture

use divan::{Bencher, black_box};
use irsa_policy::trust::{OidcProvider, TrustEditor, service_account_subject};
use irsa_policy::{Context, Policy, PolicyRole, PolicySet, Request, RequestPrincipal, policy_size};

fn main() {
    divan::main();
}

const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const ISSUER: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

fn trust_policy(subjects: usize) -> String {
    let subs: Vec<String> = (0..subjects)
        .map(|i| service_account_subject(&format!("profile-{i:04}"), "default-editor").unwrap())
        .collect();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "IrsaWebIdentity",
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{ISSUER}:aud"): "sts.amazonaws.com",
                format!("{ISSUER}:sub"): subs,
            }}
        }]
    })
    .to_string()
}

fn web_identity_request(subject: &str) -> Request {
    let mut ctx = Context::new();
    ctx.insert(&format!("{ISSUER}:sub"), subject);
    ctx.insert(&format!("{ISSUER}:aud"), "sts.amazonaws.com");
    Request::new("sts:AssumeRoleWithWebIdentity")
        .with_principal(RequestPrincipal::parse(&format!("Federated:{PROVIDER}")))
        .with_context(ctx)
}

#[divan::bench(args = [1, 100, 1000])]
fn trust_policy_evaluate(b: Bencher<'_, '_>, subjects: usize) {
    let policy = Policy::parse(&trust_policy(subjects)).unwrap();
    let set = PolicySet::new().with(PolicyRole::Resource, "trust", &policy);
    let req = web_identity_request(&format!(
        "system:serviceaccount:profile-{:04}:default-editor",
        subjects / 2
    ));
    assert_eq!(set.evaluate(&req), irsa_policy::Decision::Allow);
    b.bench(|| set.evaluate(black_box(&req)));
}

#[divan::bench]
fn trust_policy_1000_subjects_denied(b: Bencher<'_, '_>) {
    let policy = Policy::parse(&trust_policy(1000)).unwrap();
    let set = PolicySet::new().with(PolicyRole::Resource, "trust", &policy);
    let req = web_identity_request("system:serviceaccount:intruder:default-editor");
    assert_eq!(set.evaluate(&req), irsa_policy::Decision::ImplicitDeny);
    b.bench(|| set.evaluate(black_box(&req)));
}

fn identity_policy(statements: usize) -> String {
    let services = [
        "s3", "ec2", "dynamodb", "sqs", "sns", "kms", "logs", "iam", "lambda", "sts",
    ];
    let sts: Vec<serde_json::Value> = (0..statements)
        .map(|i| {
            let svc = services[i % services.len()];
            serde_json::json!({
                "Sid": format!("S{i}"),
                "Effect": if i % 7 == 3 { "Deny" } else { "Allow" },
                "Action": [format!("{svc}:Get*"), format!("{svc}:List*"), format!("{svc}:Describe{i}")],
                "Resource": [format!("arn:aws:{svc}:us-east-1:111122223333:thing-{i}/*"), format!("arn:aws:{svc}:*:*:shared/${{aws:username}}/*")],
                "Condition": {
                    "StringEquals": {"aws:PrincipalTag/team": ["ml", "data", format!("t{i}")]},
                    "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]},
                    "Bool": {"aws:SecureTransport": "true"}
                }
            })
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": sts}).to_string()
}

#[divan::bench]
fn identity_policy_50_statements(b: Bencher<'_, '_>) {
    let policy = Policy::parse(&identity_policy(50)).unwrap();
    let set = PolicySet::new().with(PolicyRole::Identity, "identity", &policy);
    // Matches only the last statement: every statement is looked at.
    let mut ctx = Context::new();
    ctx.insert("aws:PrincipalTag/team", "ml")
        .insert("aws:SourceIp", "10.1.2.3")
        .insert("aws:SecureTransport", "true")
        .insert("aws:username", "alice");
    let req = Request::new("sts:Describe49")
        .with_resource("arn:aws:sts:us-east-1:111122223333:thing-49/x")
        .with_principal(RequestPrincipal::parse("arn:aws:iam::111122223333:user/alice"))
        .with_context(ctx);
    assert_eq!(set.evaluate(&req), irsa_policy::Decision::Allow);
    b.bench(|| set.evaluate(black_box(&req)));
}

#[divan::bench]
fn identity_policy_50_statements_explained(b: Bencher<'_, '_>) {
    let policy = Policy::parse(&identity_policy(50)).unwrap();
    let set = PolicySet::new().with(PolicyRole::Identity, "identity", &policy);
    let req = Request::new("sts:Describe49").with_resource("arn:aws:sts:us-east-1:111122223333:thing-49/x");
    b.bench(|| set.explain(black_box(&req)));
}

fn ten_kb_policy() -> String {
    let mut n = 1;
    loop {
        let doc =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&identity_policy(n)).unwrap())
                .unwrap();
        if doc.len() >= 10 * 1024 {
            return doc;
        }
        n += 1;
    }
}

#[divan::bench]
fn parse_10kb(b: Bencher<'_, '_>) {
    let doc = ten_kb_policy();
    assert!(doc.len() >= 10 * 1024 && doc.len() < 12 * 1024, "{}", doc.len());
    b.counter(divan::counter::BytesCount::new(doc.len()))
        .bench(|| Policy::parse(black_box(&doc)).unwrap());
}

#[divan::bench]
fn parse_and_compile_10kb(b: Bencher<'_, '_>) {
    let doc = ten_kb_policy();
    b.bench(|| Policy::parse(black_box(&doc)).unwrap().compile());
}

#[divan::bench]
fn size_10kb(b: Bencher<'_, '_>) {
    let doc = ten_kb_policy();
    b.bench(|| policy_size(black_box(&doc)));
}

#[divan::bench]
fn trust_editor_add_to_40_subjects(b: Bencher<'_, '_>) {
    let e = TrustEditor::new(OidcProvider::from_arn(PROVIDER).unwrap());
    let doc = trust_policy(40);
    b.bench(|| e.add_subject(Some(black_box(&doc)), "system:serviceaccount:new:default-editor"));
}
