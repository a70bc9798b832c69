//! Arbitrary parameters to every action: an answer or an AWS error, never a
//! panic, and errors are always sender faults or ConcurrentModification, never
//! a ServiceFailure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use irsa_aws_query::QueryParams;
use proptest::prelude::*;

// Every action the service answers.
use irsa_iam::ACTIONS;

const NAMES: &[&str] = &[
    "RoleName",
    "Path",
    "PathPrefix",
    "AssumeRolePolicyDocument",
    "PolicyDocument",
    "PolicyName",
    "PolicyArn",
    "PermissionsBoundary",
    "Description",
    "MaxSessionDuration",
    "Marker",
    "MaxItems",
    "Url",
    "ClientID",
    "ClientIDList.member.1",
    "ThumbprintList.member.1",
    "OpenIDConnectProviderArn",
    "Tags.member.1.Key",
    "Tags.member.1.Value",
    "TagKeys.member.1",
    "VersionId",
    "SetAsDefault",
    "Scope",
    "OnlyAttached",
    "EntityFilter",
    "PolicyUsageFilter",
    "PolicyInputList.member.1",
    "PermissionsBoundaryPolicyInputList.member.1",
    "ActionNames.member.1",
    "ResourceArns.member.1",
    "ResourcePolicy",
    "CallerArn",
    "PolicySourceArn",
    "ContextEntries.member.1.ContextKeyName",
    "ContextEntries.member.1.ContextKeyValues.member.1",
    "ContextEntries.member.1.ContextKeyType",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("r".to_owned()),
        Just("R".to_owned()),
        Just("p".to_owned()),
        Just("/".to_owned()),
        Just("/a/".to_owned()),
        Just("3600".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("true".to_owned()),
        Just("v1".to_owned()),
        Just("v2".to_owned()),
        Just("stringList".to_owned()),
        Just("s3:GetObject".to_owned()),
        Just("https://oidc.example.com".to_owned()),
        Just("arn:aws:iam::111122223333:role/r".to_owned()),
        Just("arn:aws:iam::111122223333:policy/p".to_owned()),
        Just("arn:aws:iam::111122223333:oidc-provider/oidc.example.com".to_owned()),
        Just(TRUST.to_owned()),
        Just(READ.to_owned()),
        Just("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]".to_owned()),
        "\\PC{0,40}",
        "[\\x00-\\x7f]{0,20}",
    ]
}

proptest! {
    // PROPTEST_CASES raises the case count (e.g. 1000 for a longer local run).
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

    #[test]
    fn arbitrary_requests_never_panic(
        calls in proptest::collection::vec(
            (0..ACTIONS.len(), proptest::collection::vec((0..NAMES.len(), value()), 0..6)),
            1..12,
        )
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let iam = iam();
            role(&iam, "r").await;
            policy(&iam, "p").await;
            ok(&iam, "CreateOpenIDConnectProvider", &[("Url", "https://oidc.example.com")]).await;
            for (a, ps) in calls {
                let mut seen = std::collections::HashSet::new();
                let pairs: Vec<(&str, &str)> = ps
                    .iter()
                    .filter(|(n, _)| seen.insert(*n))
                    .map(|(n, v)| (NAMES[*n], v.as_str()))
                    .collect();
                let params: QueryParams = params(&pairs);
                match iam.handle(ACTIONS[a], &params, NOW).await {
                    Ok(_) => {}
                    Err(e) => prop_assert!(
                        e.code.fault() == irsa_aws_query::Fault::Sender,
                        "{} {pairs:?}: {e}", ACTIONS[a]
                    ),
                }
                let _ = iam.resource_arn(ACTIONS[a], &params).await;
            }
            // The fixtures' invariants still hold: attachment counts match attachments.
            let listed = ok(&iam, "ListPolicies", &[]).await;
            let counts: usize = all(&listed, "AttachmentCount").iter().map(|c| c.parse::<usize>().unwrap()).sum();
            let roles = ok(&iam, "ListRoles", &[]).await;
            let mut attached = 0;
            for name in all(&roles, "RoleName") {
                attached += all(&ok(&iam, "ListAttachedRolePolicies", &[("RoleName", &name)]).await, "PolicyArn").len();
            }
            prop_assert_eq!(counts, attached);
            Ok(())
        })?;
    }
}
