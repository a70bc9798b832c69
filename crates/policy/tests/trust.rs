//! The web-identity trust-policy editor, scenario by scenario, with every
//! result checked by the validator and by evaluating a token's claims.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_policy::trust::{
    DEFAULT_SID, OidcProvider, TrustEditError, TrustEditor, provider_sid, service_account_subject, web_identity_trust,
};
use irsa_policy::{
    Context, Decision, Limits, Policy, PolicyKind, PolicyRole, PolicySet, Request, RequestPrincipal, validate,
};

const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const ISSUER: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

fn editor() -> TrustEditor {
    TrustEditor::new(OidcProvider::from_arn(PROVIDER).unwrap())
}

fn sub(ns: &str) -> String {
    service_account_subject(ns, "default-editor").unwrap()
}

/// Whether a token with these claims may assume a role with this trust policy.
fn assume(doc: &str, provider: &str, issuer: &str, subject: &str, aud: &str) -> Decision {
    let policy = Policy::parse(doc).unwrap();
    let set = PolicySet::new().with(PolicyRole::Resource, "trust", &policy);
    let mut ctx = Context::new();
    ctx.insert(&format!("{issuer}:sub"), subject);
    ctx.insert(&format!("{issuer}:aud"), aud);
    ctx.insert("aws:FederatedProvider", provider);
    let req = Request::new("sts:AssumeRoleWithWebIdentity")
        .with_principal(RequestPrincipal::parse(&format!("Federated:{provider}")))
        .with_context(ctx);
    set.evaluate(&req)
}

fn can_assume(doc: &str, subject: &str) -> bool {
    assume(doc, PROVIDER, ISSUER, subject, "sts.amazonaws.com") == Decision::Allow
}

fn assert_valid_trust(doc: &str) {
    let r = validate(doc, PolicyKind::Trust, &Limits::default());
    assert!(r.valid, "{doc}\n{:#?}", r.errors);
}

#[test]
fn new_role_gets_one_statement_with_aud_and_sorted_subjects() {
    let e = editor();
    let a = e.add_subject(None, &sub("team-b")).unwrap();
    let b = e.add_subject(Some(&a.document), &sub("team-a")).unwrap();
    assert!(a.changed && b.changed);
    assert_valid_trust(&b.document);
    insta::assert_snapshot!(b.policy.to_json_pretty(), @r###"
    {
      "Version": "2012-10-17",
      "Statement": [
        {
          "Sid": "IrsaWebIdentityAE67262E",
          "Effect": "Allow",
          "Principal": {
            "Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
          },
          "Action": "sts:AssumeRoleWithWebIdentity",
          "Condition": {
            "StringEquals": {
              "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud": "sts.amazonaws.com",
              "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": [
                "system:serviceaccount:team-a:default-editor",
                "system:serviceaccount:team-b:default-editor"
              ]
            }
          }
        }
      ]
    }
    "###);
    assert!(can_assume(&b.document, &sub("team-a")));
    assert!(can_assume(&b.document, &sub("team-b")));
    // Tenant isolation and audience.
    assert!(!can_assume(&b.document, &sub("team-c")));
    assert_eq!(
        assume(&b.document, PROVIDER, ISSUER, &sub("team-a"), "other-audience"),
        Decision::ImplicitDeny
    );
}

#[test]
fn adding_twice_changes_nothing() {
    let e = editor();
    let a = e.add_subject(None, &sub("team-a")).unwrap();
    let again = e.add_subject(Some(&a.document), &sub("team-a")).unwrap();
    assert!(!again.changed);
    assert_eq!(again.document, a.document);
}

const FOREIGN: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Ec2", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
    {"Effect": "Allow",
     "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
     "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:org/repo:*"},
                   "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}},
    {"Sid": "Pipelines", "Effect": "Allow",
     "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"},
     "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {"StringLike": {"oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": "system:serviceaccount:kubeflow:pipeline-*"}}},
    {"Sid": "DenyOld", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
     "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}}
  ]
}"#;

#[test]
fn foreign_statements_keys_and_operators_are_kept() {
    let e = editor();
    let original = Policy::parse(FOREIGN).unwrap();
    let added = e.add_subject(Some(FOREIGN), &sub("team-a")).unwrap();
    assert_valid_trust(&added.document);
    assert_eq!(added.policy.statements.len(), original.statements.len() + 1);
    assert_eq!(&added.policy.statements[..4], &original.statements[..]);
    // The StringLike statement for the same provider still works.
    assert!(can_assume(
        &added.document,
        "system:serviceaccount:kubeflow:pipeline-runner"
    ));
    let removed = e.remove_subject(&added.document, &sub("team-a")).unwrap();
    assert!(removed.changed);
    assert_eq!(removed.policy.statements, original.statements);
}

#[test]
fn upstream_statement_is_adopted_not_duplicated() {
    // What Kubeflow's controller leaves: one statement, aud + sub as a string, no Sid.
    let upstream = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},
        "Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{
        "{ISSUER}:aud":"sts.amazonaws.com","{ISSUER}:sub":"system:serviceaccount:usera:default-editor"}}}}}}]}}"#
    );
    let e = editor();
    let out = e.add_subject(Some(&upstream), &sub("userb")).unwrap();
    assert_eq!(out.policy.statements.len(), 1);
    let trust = e.show(&out.document).unwrap();
    assert_eq!(trust.subjects, vec![sub("usera"), sub("userb")]);
    assert_eq!(trust.audiences, vec!["sts.amazonaws.com"]);
    assert_eq!(out.policy.statements[0].sid, Some(provider_sid(PROVIDER)));
}

#[test]
fn removing_the_last_subject_removes_the_statement() {
    let e = editor();
    let base = e.add_subject(Some(FOREIGN), &sub("team-a")).unwrap();
    let out = e.remove_subject(&base.document, &sub("team-a")).unwrap();
    // No statement may be left trusting every subject with only `aud`.
    for s in &out.policy.statements {
        if let Some(blocks) = &s.condition {
            assert!(
                blocks.iter().flat_map(|b| &b.entries).all(|c| !c.key.ends_with(":aud"))
                    || blocks.iter().flat_map(|b| &b.entries).any(|c| c.key.ends_with(":sub"))
            );
        }
    }
    assert!(!can_assume(&out.document, &sub("team-a")));
    assert_valid_trust(&out.document);
}

#[test]
fn removing_from_a_role_with_only_our_statement_leaves_a_valid_deny() {
    let e = editor();
    let a = e.add_subject(None, &sub("team-a")).unwrap();
    let out = e.remove_subject(&a.document, &sub("team-a")).unwrap();
    assert_valid_trust(&out.document);
    assert_eq!(out.policy.statements.len(), 1);
    assert!(!can_assume(&out.document, &sub("team-a")));
    // Adding again replaces the placeholder.
    let back = e.add_subject(Some(&out.document), &sub("team-b")).unwrap();
    assert_eq!(back.policy.statements.len(), 1);
    assert!(can_assume(&back.document, &sub("team-b")));
}

#[test]
fn removing_an_absent_subject_is_a_no_op() {
    let e = editor();
    let out = e.remove_subject(FOREIGN, &sub("nobody")).unwrap();
    assert!(!out.changed);
    assert_eq!(out.policy, Policy::parse(FOREIGN).unwrap());
}

#[test]
fn removal_reaches_subjects_in_every_statement_of_the_provider() {
    // Hand-written: one statement per namespace (valid, but twice the size).
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"A","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity",
          "Condition":{{"StringEquals":{{"{ISSUER}:sub":"system:serviceaccount:x:default-editor","{ISSUER}:aud":"sts.amazonaws.com"}}}}}},
        {{"Sid":"B","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity",
          "Condition":{{"StringEquals":{{"{ISSUER}:sub":["system:serviceaccount:x:default-editor","system:serviceaccount:y:default-editor"]}}}}}}]}}"#
    );
    let out = editor().remove_subject(&doc, &sub("x")).unwrap();
    assert!(!can_assume(&out.document, &sub("x")));
    assert!(can_assume(&out.document, &sub("y")));
    assert_eq!(out.policy.statements.len(), 1);
    assert_eq!(out.policy.statements[0].sid.as_deref(), Some("B"));
}

#[test]
fn the_seed_document_is_refused_not_silently_merged() {
    let seed = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},
        "Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{
        "{ISSUER}:aud":"sts.amazonaws.com",
        "{ISSUER}:sub":"system:serviceaccount:userA:defult-viewer",
        "{ISSUER}:sub":"system:serviceaccount:userB:defult-viewer",}}}}}}]}}"#
    );
    let err = editor().add_subject(Some(&seed), &sub("usera")).unwrap_err();
    let TrustEditError::InvalidPolicy(errors) = &err else {
        panic!("{err}")
    };
    assert!(errors.iter().any(|d| d.message.contains("duplicate key")));
    assert!(errors.iter().any(|d| d.message.contains("trailing comma")));
    assert!(err.to_string().contains("refusing to edit"));
}

#[test]
fn subjects_are_checked() {
    assert!(service_account_subject("userA", "default-editor").is_err());
    assert!(service_account_subject("-x", "default-editor").is_err());
    assert!(service_account_subject(&"a".repeat(64), "sa").is_err());
    assert!(service_account_subject("ns", "my.sa-1").is_ok());
    let e = editor();
    assert!(matches!(
        e.add_subject(None, "system:serviceaccount:*:default-editor"),
        Err(TrustEditError::InvalidSubject { .. })
    ));
    assert!(OidcProvider::from_arn("arn:aws:iam::123:oidc-provider/x").is_err());
    assert!(OidcProvider::from_arn("arn:aws:iam::111122223333:role/x").is_err());
    let p = OidcProvider::from_issuer("aws-cn", "111122223333", "https://oidc.example.cn/id/1").unwrap();
    assert_eq!(p.arn, "arn:aws-cn:iam::111122223333:oidc-provider/oidc.example.cn/id/1");
}

#[test]
fn the_size_limit_stops_growth_with_a_clear_error() {
    let e = editor();
    let mut doc: Option<String> = None;
    let mut fitted = 0;
    let err = loop {
        match e.add_subject(doc.as_deref(), &sub(&format!("profile-{fitted:04}"))) {
            Ok(edit) => {
                assert!(edit.size <= 2048);
                assert_valid_trust(&edit.document);
                doc = Some(edit.document);
                fitted += 1;
            }
            Err(err) => break err,
        }
        assert!(fitted < 1000, "the limit never triggered");
    };
    // About 45 characters a subject: a few dozen profiles fit in 2,048.
    assert!((30..50).contains(&fitted), "{fitted} subjects fitted");
    let TrustEditError::TooLarge { size, limit, over, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(limit, 2048);
    assert_eq!(over, size - limit);
    let msg = err.to_string();
    assert!(
        msg.contains("role per profile") && msg.contains("ACLSizePerRole"),
        "{msg}"
    );
    // The last good document is intact.
    assert_eq!(e.show(doc.as_deref().unwrap()).unwrap().subjects.len(), fitted);
    // A raised quota lets it grow further.
    let raised = editor().limit(8192);
    assert!(raised.add_subject(doc.as_deref(), &sub("one-more")).is_ok());
}

#[test]
fn web_identity_trust_lists_every_provider() {
    let all = web_identity_trust(&Policy::parse(FOREIGN).unwrap());
    assert_eq!(all.len(), 2);
    let eks = all.iter().find(|t| t.provider == PROVIDER).unwrap();
    assert_eq!(eks.subject_patterns, vec!["system:serviceaccount:kubeflow:pipeline-*"]);
}

#[test]
fn a_new_role_can_trust_nobody_and_then_someone() {
    let e = editor();
    let none = e.trusting_nobody();
    assert_valid_trust(&none.document);
    assert!(!can_assume(&none.document, &sub("team-a")));
    let one = e.add_subject(Some(&none.document), &sub("team-a")).unwrap();
    assert_eq!(one.policy.statements.len(), 1);
    assert!(can_assume(&one.document, &sub("team-a")));
}

const OLD_PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/OLDCLUSTER";
const OLD_ISSUER: &str = "oidc.eks.eu-west-1.amazonaws.com/id/OLDCLUSTER";

/// What earlier versions of the editor wrote for a provider: its statement under the one Sid
/// `IrsaWebIdentity` that every provider got.
fn legacy_statement(provider: &str, issuer: &str, ns: &str) -> String {
    format!(
        r#"{{"Sid":"{DEFAULT_SID}","Effect":"Allow","Principal":{{"Federated":"{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{issuer}:aud":"sts.amazonaws.com","{issuer}:sub":["{}"]}}}}}}"#,
        sub(ns)
    )
}

#[test]
fn sid_is_stable_per_provider_and_differs_between_providers() {
    let a = provider_sid(PROVIDER);
    assert_eq!(a, provider_sid(PROVIDER));
    assert_ne!(a, provider_sid(OLD_PROVIDER));
    assert!(
        a.starts_with(DEFAULT_SID) && a.chars().all(|c| c.is_ascii_alphanumeric()),
        "{a}"
    );
    // Pinned: the Sid is written into live trust policies, so it must never change.
    assert_eq!(
        provider_sid("arn:aws:iam::111122223333:oidc-provider/example.com"),
        "IrsaWebIdentity37D2697D"
    );
    let out = editor().add_subject(None, &sub("usera")).unwrap();
    assert_eq!(out.policy.statements[0].sid, Some(a));
}

/// A cluster migration: the role trusts a service account of the old cluster through the
/// statement an earlier irsa wrote (Sid `IrsaWebIdentity`, the old cluster's provider). Adding
/// the new cluster's subject must not write a second `IrsaWebIdentity` (IAM refuses duplicate
/// Sids), and must leave the old cluster's statement exactly as it was.
#[test]
fn a_second_provider_gets_its_own_sid_and_leaves_the_first_alone() {
    let current = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        legacy_statement(OLD_PROVIDER, OLD_ISSUER, "usera")
    );
    let out = editor().add_subject(Some(&current), &sub("userb")).unwrap();
    let report = validate(&out.document, PolicyKind::Trust, &Limits::default());
    assert!(report.valid, "{:?}\n{}", report.errors, out.document);
    assert_eq!(out.policy.statements.len(), 2);
    let old = Policy::parse(&current).unwrap();
    assert_eq!(
        out.policy.statements[0], old.statements[0],
        "the other provider's statement is untouched"
    );
    assert_eq!(out.policy.statements[1].sid, Some(provider_sid(PROVIDER)));
    assert!(can_assume(&out.document, &sub("userb")));
    assert_eq!(
        assume(
            &out.document,
            OLD_PROVIDER,
            OLD_ISSUER,
            &sub("usera"),
            "sts.amazonaws.com"
        ),
        Decision::Allow
    );
    // And back: the old cluster's editor adopts its own legacy statement, renames it to its
    // Sid, and leaves the new cluster's alone.
    let old_editor = TrustEditor::new(OidcProvider::from_arn(OLD_PROVIDER).unwrap());
    let back = old_editor.add_subject(Some(&out.document), &sub("userc")).unwrap();
    assert!(
        validate(&back.document, PolicyKind::Trust, &Limits::default()).valid,
        "{}",
        back.document
    );
    assert_eq!(back.policy.statements.len(), 2);
    assert_eq!(back.policy.statements[0].sid, Some(provider_sid(OLD_PROVIDER)));
    assert_eq!(back.policy.statements[1], out.policy.statements[1]);
    assert_eq!(
        old_editor.show(&back.document).unwrap().subjects,
        vec![sub("usera"), sub("userc")]
    );
}

#[test]
fn own_legacy_statement_is_adopted_and_renamed() {
    let current = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        legacy_statement(PROVIDER, ISSUER, "usera")
    );
    let out = editor().add_subject(Some(&current), &sub("userb")).unwrap();
    assert_eq!(out.policy.statements.len(), 1);
    assert_eq!(out.policy.statements[0].sid, Some(provider_sid(PROVIDER)));
    assert_eq!(
        editor().show(&out.document).unwrap().subjects,
        vec![sub("usera"), sub("userb")]
    );
    // Removing the last subject of a legacy statement leaves the placeholder under the new Sid,
    // and the next add replaces it rather than keeping a Deny beside the new statement.
    let only = editor().remove_subject(&current, &sub("usera")).unwrap();
    let again = editor().add_subject(Some(&only.document), &sub("userb")).unwrap();
    assert_eq!(again.policy.statements.len(), 1, "{}", again.document);
    assert!(can_assume(&again.document, &sub("userb")));
}

#[test]
fn a_foreign_statement_holding_the_sid_is_a_clear_error() {
    let sid = provider_sid(PROVIDER);
    let current = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"Service":"ec2.amazonaws.com"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let err = editor().add_subject(Some(&current), &sub("usera")).unwrap_err();
    assert!(
        matches!(&err, TrustEditError::SidTaken { sid: s } if *s == sid),
        "{err}"
    );
    assert!(err.to_string().contains(&sid));
}
