//! Random sequences of PutRolePolicy / DeleteRolePolicy against a model: the
//! aggregate inline size never exceeds the limit, every refusal leaves the role
//! as it was, and the stored role always equals the model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use irsa_aws_query::ErrorCode;
use irsa_policy::{Limits, policy_size};
use proptest::prelude::*;
use std::collections::BTreeMap;

const LIMIT: usize = 700;
const NAMES: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
enum Op {
    Put { name: usize, pad: usize, pretty: bool },
    Delete { name: usize },
    Bad { name: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..NAMES.len(), 0..400usize, any::<bool>()).prop_map(|(name, pad, pretty)| Op::Put { name, pad, pretty }),
        2 => (0..NAMES.len()).prop_map(|name| Op::Delete { name }),
        1 => (0..NAMES.len()).prop_map(|name| Op::Bad { name }),
    ]
}

fn document(pad: usize, pretty: bool) -> String {
    let resource = format!("arn:aws:s3:::b/{}", "x".repeat(pad));
    if pretty {
        // Whitespace outside strings is not counted.
        format!(
            "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {{ \"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"{resource}\" }}\n  ]\n}}"
        )
    } else {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"{resource}"}}]}}"#
        )
    }
}

fn total(model: &BTreeMap<String, String>) -> usize {
    model.values().map(|d| policy_size(d)).sum()
}

proptest! {
    // PROPTEST_CASES raises the case count (e.g. 1000 for a longer local run).
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48)))]

    #[test]
    fn inline_policies_follow_the_model(ops in proptest::collection::vec(op(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let iam = iam_with(Limits { inline: LIMIT, ..Limits::default() });
            role(&iam, "r").await;
            let mut model: BTreeMap<String, String> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Put { name, pad, pretty } => {
                        let doc = document(pad, pretty);
                        let n = NAMES[name];
                        let mut next = model.clone();
                        next.insert(n.to_owned(), doc.clone());
                        let res = call(&iam, "PutRolePolicy", &[("RoleName", "r"), ("PolicyName", n), ("PolicyDocument", &doc)]).await;
                        if total(&next) <= LIMIT {
                            prop_assert!(res.is_ok(), "{res:?}");
                            model = next;
                        } else {
                            let e = res.unwrap_err();
                            prop_assert_eq!(e.code, ErrorCode::LimitExceeded);
                        }
                    }
                    Op::Delete { name } => {
                        let n = NAMES[name];
                        let res = call(&iam, "DeleteRolePolicy", &[("RoleName", "r"), ("PolicyName", n)]).await;
                        if model.remove(n).is_some() {
                            prop_assert!(res.is_ok(), "{res:?}");
                        } else {
                            prop_assert_eq!(res.unwrap_err().code, ErrorCode::NoSuchEntity);
                        }
                    }
                    Op::Bad { name } => {
                        let res = call(&iam, "PutRolePolicy", &[("RoleName", "r"), ("PolicyName", NAMES[name]), ("PolicyDocument", "{\"Version\":")]).await;
                        prop_assert_eq!(res.unwrap_err().code, ErrorCode::MalformedPolicyDocument);
                    }
                }
                let (stored, _) = irsa_iam::layout::get_role(iam.store(), "r").await.unwrap().unwrap();
                prop_assert_eq!(&stored.inline_policies, &model);
                prop_assert!(total(&stored.inline_policies) <= LIMIT);
                let listed = ok(&iam, "ListRolePolicies", &[("RoleName", "r")]).await;
                let names: Vec<String> = model.keys().cloned().collect();
                prop_assert_eq!(all(&listed, "member"), names);
            }
            // A role with policies cannot be deleted; without, it can.
            let res = call(&iam, "DeleteRole", &[("RoleName", "r")]).await;
            prop_assert_eq!(res.is_ok(), model.is_empty());
            Ok(())
        })?;
    }
}
