//! Whole response documents of representative actions, as a client receives
//! them (wrapped by `response_xml`, as the server does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use irsa_aws_query::{IAM_NAMESPACE, error_response, response_xml};

const RID: &str = "4a5b7c9d-0000-4000-8000-000000000001";

async fn doc(iam: &irsa_iam::Iam<irsa_store::RedbStore>, action: &str, pairs: &[(&str, &str)]) -> String {
    match call(iam, action, pairs).await {
        Ok(r) => response_xml(action, IAM_NAMESPACE, RID, r.as_deref()),
        Err(e) => error_response(&e, IAM_NAMESPACE, RID),
    }
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        let value = $value;
        insta::with_settings!({
            snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"),
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, value);
        })
    };
}

#[tokio::test]
async fn representative_documents() {
    let iam = iam();
    let b = policy(&iam, "boundary").await;
    snap!(
        "create_role",
        doc(
            &iam,
            "CreateRole",
            &[
                ("RoleName", "kf-user"),
                ("Path", "/kf/"),
                ("AssumeRolePolicyDocument", TRUST),
                ("Description", "Kubeflow user"),
                ("PermissionsBoundary", &b),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "ml"),
            ],
        )
        .await
    );
    snap!("get_role", doc(&iam, "GetRole", &[("RoleName", "kf-user")]).await);
    snap!("list_roles", doc(&iam, "ListRoles", &[]).await);
    snap!(
        "update_role",
        doc(
            &iam,
            "UpdateRole",
            &[("RoleName", "kf-user"), ("MaxSessionDuration", "7200")]
        )
        .await
    );
    ok(
        &iam,
        "PutRolePolicy",
        &[
            ("RoleName", "kf-user"),
            ("PolicyName", "read"),
            ("PolicyDocument", READ),
        ],
    )
    .await;
    snap!(
        "get_role_policy",
        doc(
            &iam,
            "GetRolePolicy",
            &[("RoleName", "kf-user"), ("PolicyName", "read")]
        )
        .await
    );
    snap!(
        "list_role_policies",
        doc(&iam, "ListRolePolicies", &[("RoleName", "kf-user")]).await
    );
    snap!(
        "create_policy",
        doc(
            &iam,
            "CreatePolicy",
            &[
                ("PolicyName", "reader"),
                ("PolicyDocument", READ),
                ("Description", "reads & lists")
            ],
        )
        .await
    );
    let arn = "arn:aws:iam::111122223333:policy/reader";
    snap!(
        "attach_role_policy",
        doc(&iam, "AttachRolePolicy", &[("RoleName", "kf-user"), ("PolicyArn", arn)]).await
    );
    snap!(
        "list_attached_role_policies",
        doc(&iam, "ListAttachedRolePolicies", &[("RoleName", "kf-user")]).await
    );
    snap!(
        "create_policy_version",
        doc(
            &iam,
            "CreatePolicyVersion",
            &[("PolicyArn", arn), ("PolicyDocument", READ), ("SetAsDefault", "true")],
        )
        .await
    );
    snap!(
        "get_policy_version",
        doc(&iam, "GetPolicyVersion", &[("PolicyArn", arn), ("VersionId", "v1")]).await
    );
    snap!(
        "list_policy_versions",
        doc(&iam, "ListPolicyVersions", &[("PolicyArn", arn)]).await
    );
    snap!(
        "list_policies",
        doc(&iam, "ListPolicies", &[("OnlyAttached", "true")]).await
    );
    snap!(
        "create_oidc_provider",
        doc(
            &iam,
            "CreateOpenIDConnectProvider",
            &[
                ("Url", "https://oidc.example.com/id/ABC"),
                ("ClientIDList.member.1", "sts.amazonaws.com"),
                ("ThumbprintList.member.1", "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"),
            ],
        )
        .await
    );
    snap!(
        "get_oidc_provider",
        doc(
            &iam,
            "GetOpenIDConnectProvider",
            &[(
                "OpenIDConnectProviderArn",
                "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/id/ABC"
            )],
        )
        .await
    );
    snap!(
        "list_oidc_providers",
        doc(&iam, "ListOpenIDConnectProviders", &[]).await
    );
    snap!(
        "simulate_principal_policy",
        doc(
            &iam,
            "SimulatePrincipalPolicy",
            &[
                ("PolicySourceArn", "arn:aws:iam::111122223333:role/kf/kf-user"),
                ("ActionNames.member.1", "s3:GetObject"),
                ("ResourceArns.member.1", "arn:aws:s3:::bucket/key"),
            ],
        )
        .await
    );
    snap!(
        "delete_conflict",
        doc(&iam, "DeleteRole", &[("RoleName", "kf-user")]).await
    );
    snap!("no_such_role", doc(&iam, "GetRole", &[("RoleName", "nobody")]).await);
    snap!(
        "validation_error",
        doc(
            &iam,
            "CreateRole",
            &[("RoleName", &"r".repeat(65)), ("MaxSessionDuration", "60")]
        )
        .await
    );
}
