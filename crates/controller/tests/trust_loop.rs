//! The edit loop against an in-memory IAM: read/edit/write/verify, a full policy, `NoSuchEntity`
//! on revoke, the required tag, the issuer taken from the role, and two independent loops (two
//! controllers) editing one role concurrently without losing an update.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use irsa_controller::trust::{Change, EditRequest, IamError, RoleInfo, RoleTrust, TrustEditLoop, TrustLoopError};
use irsa_policy::trust::OidcProvider;

const PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC";

#[derive(Clone, Default)]
struct FakeIam {
    roles: Arc<Mutex<HashMap<String, RoleInfo>>>,
    calls: Arc<Mutex<u64>>,
    latency: Duration,
}

impl FakeIam {
    fn with_role(name: &str, policy: &str) -> Self {
        let f = FakeIam::default();
        f.roles.lock().unwrap().insert(
            name.into(),
            RoleInfo {
                trust_policy: policy.into(),
                tags: vec![("team".into(), "a".into())],
            },
        );
        f
    }
    fn policy(&self, name: &str) -> String {
        self.roles.lock().unwrap()[name].trust_policy.clone()
    }
}

impl RoleTrust for FakeIam {
    async fn get_role(&self, role_name: &str) -> Result<Option<RoleInfo>, IamError> {
        *self.calls.lock().unwrap() += 1;
        tokio::time::sleep(self.latency).await;
        Ok(self.roles.lock().unwrap().get(role_name).cloned())
    }
    async fn put_trust(&self, role_name: &str, document: &str) -> Result<(), IamError> {
        *self.calls.lock().unwrap() += 1;
        tokio::time::sleep(self.latency).await;
        let mut roles = self.roles.lock().unwrap();
        match roles.get_mut(role_name) {
            Some(r) => {
                r.trust_policy = document.into();
                Ok(())
            }
            None => Err(IamError::NoSuchEntity(role_name.into())),
        }
    }
}

const FOREIGN: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn provider() -> OidcProvider {
    OidcProvider::from_arn(PROVIDER).unwrap()
}

fn req<'a>(subject: &'a str, change: Change, p: Option<&'a OidcProvider>) -> EditRequest<'a> {
    EditRequest {
        role_name: "kf-user",
        provider: p,
        subject,
        change,
        required_tag: None,
    }
}

fn fast(iam: FakeIam) -> TrustEditLoop<FakeIam> {
    let mut l = TrustEditLoop::new(iam);
    l.settle = Duration::ZERO;
    l
}

#[tokio::test]
async fn add_verify_idempotent_remove() {
    let iam = FakeIam::with_role("kf-user", FOREIGN);
    let l = fast(iam.clone());
    let p = provider();
    let s = "system:serviceaccount:team-a:default-editor";
    let out = l.edit(req(s, Change::Add, Some(&p))).await.unwrap();
    assert!(out.written);
    let policy = iam.policy("kf-user");
    assert!(policy.contains(s) && policy.contains("ec2.amazonaws.com"), "{policy}");
    // get + put + verify.
    assert_eq!(*iam.calls.lock().unwrap(), 3);
    let out = l.edit(req(s, Change::Add, Some(&p))).await.unwrap();
    assert!(!out.written);
    // Without a configured provider the role's only OIDC provider is used.
    let out = l
        .edit(req("system:serviceaccount:team-b:default-editor", Change::Add, None))
        .await
        .unwrap();
    assert_eq!(out.provider.unwrap().arn, PROVIDER);
    l.edit(req(s, Change::Remove, Some(&p))).await.unwrap();
    l.edit(req(
        "system:serviceaccount:team-b:default-editor",
        Change::Remove,
        Some(&p),
    ))
    .await
    .unwrap();
    let policy = iam.policy("kf-user");
    assert!(
        !policy.contains("team-a") && policy.contains("ec2.amazonaws.com"),
        "{policy}"
    );
    assert!(
        !policy.contains("sts:AssumeRoleWithWebIdentity"),
        "no aud-only statement left: {policy}"
    );
}

#[tokio::test]
async fn missing_role_no_issuer_full_policy_and_tags() {
    let iam = FakeIam::with_role("kf-user", FOREIGN);
    let l = fast(iam.clone());
    let p = provider();
    // Revoking from a role that is gone is done; adding is an error.
    let mut r = req("system:serviceaccount:a:default-editor", Change::Remove, Some(&p));
    r.role_name = "gone";
    assert!(!l.edit(r.clone()).await.unwrap().written);
    r.change = Change::Add;
    assert_eq!(l.edit(r).await.unwrap_err(), TrustLoopError::NoSuchRole("gone".into()));
    // No issuer and a policy without an OIDC provider.
    let e = l
        .edit(req("system:serviceaccount:a:default-editor", Change::Add, None))
        .await
        .unwrap_err();
    assert!(matches!(e, TrustLoopError::IssuerUnknown { found: 0, .. }), "{e}");
    // Required tag.
    let tag = ("team".to_owned(), Some("b".to_owned()));
    let mut r = req("system:serviceaccount:a:default-editor", Change::Add, Some(&p));
    r.required_tag = Some(&tag);
    assert!(matches!(
        l.edit(r).await.unwrap_err(),
        TrustLoopError::TagMissing { .. }
    ));
    // Fill the role: the 31st profile does not fit, the policy stays valid and unchanged.
    let mut full = None;
    for i in 1..=40 {
        let s = format!("system:serviceaccount:profile-{i:04}:default-editor");
        match l.edit(req(&s, Change::Add, Some(&p))).await {
            Ok(_) => {}
            Err(e) => {
                full = Some((i, e));
                break;
            }
        }
    }
    let (i, e) = full.expect("the limit is reached");
    assert!(matches!(e, TrustLoopError::PolicyFull { .. }), "{e}");
    assert!(e.to_string().contains("over the 2048-character limit"), "{e}");
    assert!(i > 20, "{i}");
    let policy = iam.policy("kf-user");
    assert!(irsa_policy::validate(&policy, irsa_policy::PolicyKind::Trust, &irsa_policy::Limits::default()).valid);
}

#[tokio::test]
async fn two_loops_editing_one_role_lose_nothing() {
    let mut iam = FakeIam::with_role("kf-user", FOREIGN);
    iam.latency = Duration::from_millis(2);
    let p = provider();
    let loops: Vec<Arc<TrustEditLoop<FakeIam>>> = (0..2)
        .map(|_| {
            let mut l = TrustEditLoop::new(iam.clone());
            l.settle = Duration::from_millis(15);
            l.limit = 100_000;
            l.max_attempts = 50;
            Arc::new(l)
        })
        .collect();
    let mut tasks = Vec::new();
    for (k, l) in loops.iter().enumerate() {
        for i in 0..40 {
            let l = l.clone();
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                let s = format!("system:serviceaccount:ns-{k}-{i}:default-editor");
                l.edit(EditRequest {
                    role_name: "kf-user",
                    provider: Some(&p),
                    subject: &s,
                    change: Change::Add,
                    required_tag: None,
                })
                .await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let policy = iam.policy("kf-user");
    for k in 0..2 {
        for i in 0..40 {
            assert!(policy.contains(&format!("ns-{k}-{i}:")), "lost ns-{k}-{i}");
        }
    }
}

#[tokio::test]
async fn upstream_written_policies_are_adopted_not_duplicated() {
    // What upstream's controller wrote: one statement rebuilt from Statement[0], no Sid, lists.
    let upstream = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Principal":{{"Federated":"{PROVIDER}"}},"Condition":{{"StringEquals":{{"oidc.eks.us-west-2.amazonaws.com/id/ABC:aud":["sts.amazonaws.com"],"oidc.eks.us-west-2.amazonaws.com/id/ABC:sub":["system:serviceaccount:ns1:default-editor","system:serviceaccount:ns2:default-editor"]}}}}}}]}}"#
    );
    let iam = FakeIam::with_role("kf-user", &upstream);
    let l = fast(iam.clone());
    // Already trusted by upstream: no write, and no provider configured needed.
    let out = l
        .edit(req("system:serviceaccount:ns1:default-editor", Change::Add, None))
        .await
        .unwrap();
    assert!(!out.written);
    assert_eq!(iam.policy("kf-user"), upstream);
    l.edit(req("system:serviceaccount:ns3:default-editor", Change::Add, None))
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(&iam.policy("kf-user")).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "adopted, not duplicated: {policy}");
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["oidc.eks.us-west-2.amazonaws.com/id/ABC:sub"],
        serde_json::json!([
            "system:serviceaccount:ns1:default-editor",
            "system:serviceaccount:ns2:default-editor",
            "system:serviceaccount:ns3:default-editor"
        ])
    );
    // The seed document (duplicate `sub` key, trailing comma) is refused, never merged.
    let seed = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"oidc.eks.us-west-2.amazonaws.com/id/ABC:sub":"system:serviceaccount:usera:defult-viewer","oidc.eks.us-west-2.amazonaws.com/id/ABC:sub":"system:serviceaccount:userb:defult-viewer",}}}}}}]}}"#
    );
    let iam = FakeIam::with_role("kf-user", &seed);
    let l = fast(iam.clone());
    let p = provider();
    let e = l
        .edit(req("system:serviceaccount:ns1:default-editor", Change::Add, Some(&p)))
        .await
        .unwrap_err();
    assert!(matches!(e, TrustLoopError::Edit { .. }), "{e}");
    assert_eq!(iam.policy("kf-user"), seed);
}
