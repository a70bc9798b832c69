//! Shared helpers for the action tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use irsa_aws_query::{AwsError, ErrorCode, QueryParams};
use irsa_iam::Iam;
use irsa_iam::ids::Random;
use irsa_policy::Limits;
use irsa_store::RedbStore;

pub const ACCOUNT: &str = "111122223333";
pub const NOW: i64 = 1_700_000_000;

/// A deterministic generator (xorshift).
pub struct Seeded(pub u64);

impl Random for Seeded {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0 >> 24) as u8;
        }
    }
}

pub fn iam_with(limits: Limits) -> Iam<RedbStore> {
    Iam::new(
        RedbStore::in_memory().unwrap(),
        ACCOUNT.to_owned(),
        "aws".to_owned(),
        limits,
        Box::new(Seeded(0x5eed)),
    )
}

pub fn iam() -> Iam<RedbStore> {
    iam_with(Limits::default())
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn params(pairs: &[(&str, &str)]) -> QueryParams {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    QueryParams::parse(body.join("&").as_bytes()).unwrap()
}

pub async fn call(iam: &Iam<RedbStore>, action: &str, pairs: &[(&str, &str)]) -> Result<Option<String>, AwsError> {
    iam.handle(action, &params(pairs), NOW).await
}

/// The call must succeed; its result content ("" when none).
pub async fn ok(iam: &Iam<RedbStore>, action: &str, pairs: &[(&str, &str)]) -> String {
    match call(iam, action, pairs).await {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => panic!("{action} {pairs:?} failed: {e}"),
    }
}

/// The call must fail with `code`; its message.
pub async fn err(iam: &Iam<RedbStore>, action: &str, pairs: &[(&str, &str)], code: ErrorCode) -> String {
    match call(iam, action, pairs).await {
        Ok(r) => panic!("{action} {pairs:?} succeeded: {r:?}"),
        Err(e) => {
            assert_eq!(e.code, code, "{action} {pairs:?}: {}", e.message);
            e.message
        }
    }
}

/// The text of every `<name>` element, in order.
pub fn all(xml: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(rest[..j].to_owned());
        rest = &rest[j + close.len()..];
    }
    out
}

/// The text of the first `<name>` element.
pub fn el(xml: &str, name: &str) -> String {
    all(xml, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
}

pub const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.example.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.example.com:sub":"system:serviceaccount:ns:sa"}}}]}"#;

pub const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}]}"#;

pub async fn role(iam: &Iam<RedbStore>, name: &str) -> String {
    ok(
        iam,
        "CreateRole",
        &[("RoleName", name), ("AssumeRolePolicyDocument", TRUST)],
    )
    .await
}

pub async fn policy(iam: &Iam<RedbStore>, name: &str) -> String {
    let xml = ok(iam, "CreatePolicy", &[("PolicyName", name), ("PolicyDocument", READ)]).await;
    el(&xml, "Arn")
}
