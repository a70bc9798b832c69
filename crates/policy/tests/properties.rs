//! Properties of the parser, printer, evaluator and editor over generated input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_policy::trust::{OidcProvider, TrustEditor, service_account_subject};
use irsa_policy::{Context, Decision, Policy, PolicyRole, PolicySet, Request, RequestPrincipal, policy_size};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:*",
    "S3:get*",
    "ec2:Describe*",
    "iam:?etRole",
    "*",
    "sts:AssumeRole",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::bucket/home/${aws:username}/*",
    "arn:aws:s3:::other",
    "arn:aws:ec2:*:111122223333:instance/*",
    "arn:aws:iam::111122223333:role/${aws:PrincipalTag/team, 'x'}",
];
const KEYS: &[&str] = &[
    "aws:username",
    "aws:SourceIp",
    "aws:PrincipalTag/team",
    "aws:TagKeys",
    "s3:max-keys",
    "aws:CurrentTime",
    "aws:SecureTransport",
];
const OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLikeIfExists",
    "StringEqualsIgnoreCase",
    "ForAnyValue:StringEquals",
    "ForAllValues:StringLike",
    "NumericLessThan",
    "DateGreaterThan",
    "Bool",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "Null",
];

fn values_for(op: &str) -> Vec<&'static str> {
    match op {
        "NumericLessThan" => vec!["10", "100", "0"],
        "DateGreaterThan" => vec!["2020-01-01T00:00:00Z", "1700000000"],
        "Bool" | "Null" => vec!["true", "false"],
        "IpAddress" | "NotIpAddress" => vec!["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"],
        "ArnLike" => vec!["arn:aws:iam::*:role/*", "arn:aws:s3:::b*"],
        _ => vec!["alice", "bob", "a*", "team-?", "${aws:username}", "x"],
    }
}

fn condition() -> impl Strategy<Value = (String, String, Vec<String>)> {
    (0..OPS.len(), 0..KEYS.len()).prop_flat_map(|(o, k)| {
        let op = OPS[o];
        let vals = values_for(op);
        let n = if op == "Null" { 1..2usize } else { 1..4usize };
        prop::collection::vec(prop::sample::select(vals), n).prop_map(move |vs| {
            (
                op.to_owned(),
                KEYS[k].to_owned(),
                vs.into_iter().map(str::to_owned).collect(),
            )
        })
    })
}

fn statement(deny_only: bool) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(prop::sample::select(ACTIONS), 1..3),
        any::<bool>(),
        prop::collection::vec(prop::sample::select(RESOURCES), 1..3),
        prop::collection::vec(condition(), 0..3),
        prop::option::of("[A-Za-z0-9]{1,8}"),
    )
        .prop_map(
            move |(allow, not_action, actions, not_resource, resources, conds, sid)| {
                let mut s = Map::new();
                if let Some(sid) = sid {
                    s.insert("Sid".into(), json!(sid));
                }
                s.insert(
                    "Effect".into(),
                    json!(if allow && !deny_only { "Allow" } else { "Deny" }),
                );
                let one_or_many = |v: Vec<&str>| if v.len() == 1 { json!(v[0]) } else { json!(v) };
                s.insert(
                    (if not_action { "NotAction" } else { "Action" }).into(),
                    one_or_many(actions),
                );
                s.insert(
                    (if not_resource { "NotResource" } else { "Resource" }).into(),
                    one_or_many(resources),
                );
                if !conds.is_empty() {
                    let mut c = Map::new();
                    for (op, key, vals) in conds {
                        let block = c.entry(op).or_insert_with(|| json!({}));
                        let v = if vals.len() == 1 { json!(vals[0]) } else { json!(vals) };
                        if let Some(b) = block.as_object_mut() {
                            b.insert(key, v);
                        }
                    }
                    s.insert("Condition".into(), Value::Object(c));
                }
                Value::Object(s)
            },
        )
}

fn policy_doc() -> impl Strategy<Value = String> {
    (prop::collection::vec(statement(false), 1..6), any::<bool>()).prop_map(|(sts, v2008)| {
        // Sids must be unique: drop repeats.
        let mut seen = std::collections::HashSet::new();
        let sts: Vec<Value> = sts
            .into_iter()
            .map(|mut s| {
                if let Some(sid) = s.get("Sid").and_then(Value::as_str).map(str::to_owned)
                    && !seen.insert(sid)
                    && let Some(o) = s.as_object_mut()
                {
                    o.remove("Sid");
                }
                s
            })
            .collect();
        let version = if v2008 { "2008-10-17" } else { "2012-10-17" };
        serde_json::to_string_pretty(&json!({"Version": version, "Statement": sts})).unwrap_or_default()
    })
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(
            &[
                "s3:GetObject",
                "s3:PutObject",
                "ec2:DescribeInstances",
                "iam:GetRole",
                "sts:AssumeRole",
            ][..],
        ),
        prop::option::of(prop::sample::select(
            &[
                "arn:aws:s3:::bucket/home/alice/x",
                "arn:aws:s3:::other",
                "arn:aws:iam::111122223333:role/x",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
            ][..],
        )),
        prop::collection::vec(
            (
                0..KEYS.len(),
                prop::sample::select(&["alice", "bob", "10.1.2.3", "5", "true", "2024-01-01T00:00:00Z", "x"][..]),
            ),
            0..5,
        ),
        prop::option::of(prop::collection::vec(
            prop::sample::select(&["a", "b", "alice"][..]),
            0..3,
        )),
    )
        .prop_map(|(action, resource, ctx, tags)| {
            let mut c = Context::new();
            for (k, v) in ctx {
                c.insert(KEYS[k], v);
            }
            if let Some(tags) = tags {
                c.insert_multi("aws:TagKeys", tags);
            }
            let mut r = Request::new(action)
                .with_principal(RequestPrincipal::parse("arn:aws:iam::111122223333:user/alice"))
                .with_context(c);
            if let Some(res) = resource {
                r = r.with_resource(res);
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(doc in policy_doc()) {
        let p = Policy::parse(&doc).map_err(|e| TestCaseError::fail(format!("{e}\n{doc}")))?;
        let compact = p.to_json();
        prop_assert_eq!(&Policy::parse(&compact).unwrap(), &p);
        prop_assert_eq!(&Policy::parse(&p.to_json_pretty()).unwrap(), &p);
        // The compact form has no whitespace outside strings: its size is its length.
        prop_assert_eq!(policy_size(&compact), compact.chars().count());
        prop_assert_eq!(policy_size(&p.to_json_pretty()), compact.chars().count());
    }

    #[test]
    fn adding_a_deny_never_grants(doc in policy_doc(), mut extra in statement(true), req in request()) {
        if let Some(o) = extra.as_object_mut() {
            o.remove("Sid");
        }
        let p = Policy::parse(&doc).unwrap();
        let before = PolicySet::new().with(PolicyRole::Identity, "p", &p).evaluate(&req);
        let mut v: Value = serde_json::from_str(&doc).unwrap();
        v["Statement"].as_array_mut().unwrap().push(extra);
        let q = Policy::parse(&v.to_string()).unwrap();
        let after = PolicySet::new().with(PolicyRole::Identity, "p", &q).evaluate(&req);
        if before != Decision::Allow {
            prop_assert_ne!(after, Decision::Allow);
        }
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }

    #[test]
    fn explain_agrees_with_evaluate(doc in policy_doc(), boundary in policy_doc(), req in request()) {
        let set = PolicySet::new()
            .with(PolicyRole::Identity, "p", &Policy::parse(&doc).unwrap())
            .with(PolicyRole::Boundary, "b", &Policy::parse(&boundary).unwrap());
        let e = set.explain(&req);
        prop_assert_eq!(set.evaluate(&req), e.decision);
        prop_assert!(!e.summary.is_empty());
    }

    #[test]
    fn a_boundary_only_narrows(doc in policy_doc(), boundary in policy_doc(), req in request()) {
        let p = Policy::parse(&doc).unwrap();
        let alone = PolicySet::new().with(PolicyRole::Identity, "p", &p).evaluate(&req);
        let bounded = PolicySet::new()
            .with(PolicyRole::Identity, "p", &p)
            .with(PolicyRole::Boundary, "b", &Policy::parse(&boundary).unwrap())
            .evaluate(&req);
        if bounded == Decision::Allow {
            prop_assert_eq!(alone, Decision::Allow);
        }
    }

    #[test]
    fn set_operators_on_empty_and_absent_keys(op in prop::sample::select(&["StringEquals", "StringLike", "StringNotEquals"][..]), present in any::<bool>()) {
        let doc = |q: &str| format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{q}:{op}":{{"aws:TagKeys":"x"}}}}}}}}"#
        );
        let mut req = Request::new("s3:GetObject");
        if present {
            req.context_mut().insert_multi("aws:TagKeys", Vec::<String>::new());
        }
        let all = PolicySet::new().with(PolicyRole::Identity, "p", &Policy::parse(&doc("ForAllValues")).unwrap());
        let any = PolicySet::new().with(PolicyRole::Identity, "p", &Policy::parse(&doc("ForAnyValue")).unwrap());
        prop_assert_eq!(all.evaluate(&req), Decision::Allow);
        prop_assert_eq!(any.evaluate(&req), Decision::ImplicitDeny);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = Policy::parse(&s);
        let _ = irsa_policy::validate(&s, irsa_policy::PolicyKind::Trust, &Default::default());
    }

    #[test]
    fn parser_never_panics_on_mutated_documents(doc in policy_doc(), cut in 0usize..400, byte in any::<u8>()) {
        let mut b = doc.into_bytes();
        if !b.is_empty() {
            let i = cut % b.len();
            b[i] = byte;
            b.truncate((cut * 7) % (b.len() + 1) + i.min(1));
        }
        let s = String::from_utf8_lossy(&b);
        if let Ok(p) = Policy::parse(&s) {
            prop_assert_eq!(Policy::parse(&p.to_json()).unwrap(), p);
        }
    }

    #[test]
    fn editor_add_remove_round_trips(names in prop::collection::btree_set("[a-z][a-z0-9-]{0,10}[a-z0-9]", 1..12), extra in "[a-z]{3,8}") {
        let e = TrustEditor::new(OidcProvider::from_arn("arn:aws:iam::111122223333:oidc-provider/issuer.example.com").unwrap()).limit(100_000);
        let mut doc = None::<String>;
        for n in &names {
            doc = Some(e.add_subject(doc.as_deref(), &service_account_subject(n, "default-editor").unwrap()).unwrap().document);
        }
        let doc = doc.unwrap();
        let subject = service_account_subject(&format!("zz-{extra}"), "default-editor").unwrap();
        let added = e.add_subject(Some(&doc), &subject).unwrap();
        let shown = e.show(&added.document).unwrap().subjects;
        let mut sorted = shown.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&shown, &sorted);
        let removed = e.remove_subject(&added.document, &subject).unwrap();
        prop_assert_eq!(Policy::parse(&removed.document).unwrap(), Policy::parse(&doc).unwrap());
    }
}
