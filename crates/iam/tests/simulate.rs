//! SimulateCustomPolicy and SimulatePrincipalPolicy against the documented semantics:
//! an explicit deny wins and is the only matched statement reported; nothing
//! allowing is an implicit deny; a boundary limits what identity policies allow;
//! keys the policies need but the request lacks are listed as missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use irsa_aws_query::ErrorCode;

const ALLOW_LIST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::teambucket"},
    {"Sid": "Get", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::teambucket/*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ml"}}}
  ]
}"#;

const DENY_DELETE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

#[tokio::test]
async fn custom_policy_decisions() {
    let iam = iam();
    let xml = ok(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", ALLOW_LIST),
            ("ActionNames.member.1", "s3:ListBucket"),
            ("ActionNames.member.2", "s3:PutObject"),
            ("ResourceArns.member.1", "arn:aws:s3:::teambucket"),
        ],
    )
    .await;
    assert_eq!(all(&xml, "EvalDecision"), ["allowed", "implicitDeny"]);
    assert_eq!(all(&xml, "EvalActionName"), ["s3:ListBucket", "s3:PutObject"]);
    assert_eq!(all(&xml, "EvalResourceDecision"), ["allowed", "implicitDeny"]);
    // The allowing statement, with its place in the document.
    let first = xml.split("</member></EvaluationResults>").next().unwrap();
    assert_eq!(el(first, "SourcePolicyId"), "PolicyInputList.1");
    assert_eq!(el(first, "StartPosition"), "<Line>4</Line><Column>5</Column>");
    assert_eq!(el(first, "EndPosition"), "<Line>4</Line><Column>104</Column>");

    // A missing condition key: implicit deny, and the key reported (over `*`, at the top level).
    let xml = ok(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", ALLOW_LIST),
            ("ActionNames.member.1", "s3:GetObject"),
        ],
    )
    .await;
    assert_eq!(el(&xml, "EvalResourceName"), "*");
    assert_eq!(el(&xml, "EvalDecision"), "implicitDeny");
    assert_eq!(
        all(&el(&xml, "MissingContextValues"), "member"),
        ["aws:PrincipalTag/team"]
    );
    assert!(!xml.contains("ResourceSpecificResults"));

    // Given the key, allowed.
    let xml = ok(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", ALLOW_LIST),
            ("ActionNames.member.1", "s3:GetObject"),
            ("ResourceArns.member.1", "arn:aws:s3:::teambucket/a.txt"),
            ("ContextEntries.member.1.ContextKeyName", "aws:PrincipalTag/team"),
            ("ContextEntries.member.1.ContextKeyValues.member.1", "ml"),
            ("ContextEntries.member.1.ContextKeyType", "string"),
        ],
    )
    .await;
    assert_eq!(el(&xml, "EvalDecision"), "allowed");
    assert_eq!(el(&xml, "MissingContextValues"), "");

    // An explicit deny wins, and only the deny is reported.
    let xml = ok(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", ALLOW_LIST),
            ("PolicyInputList.member.2", DENY_DELETE),
            ("ActionNames.member.1", "s3:ListBucket"),
            ("ResourceArns.member.1", "arn:aws:s3:::teambucket"),
            ("ContextEntries.member.1.ContextKeyName", "aws:SecureTransport"),
            ("ContextEntries.member.1.ContextKeyValues.member.1", "false"),
            ("ContextEntries.member.1.ContextKeyType", "boolean"),
        ],
    )
    .await;
    assert_eq!(el(&xml, "EvalDecision"), "explicitDeny");
    let ids = all(&xml, "SourcePolicyId");
    assert!(ids.iter().all(|i| i == "PolicyInputList.2"), "{ids:?}");
    assert!(!ids.is_empty());
}

#[tokio::test]
async fn boundaries_limit_custom_policies() {
    let iam = iam();
    let boundary = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"*"}]}"#;
    let xml = ok(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", ALLOW_LIST),
            ("PermissionsBoundaryPolicyInputList.member.1", boundary),
            ("ActionNames.member.1", "s3:ListBucket"),
            ("ActionNames.member.2", "s3:GetObject"),
            ("ResourceArns.member.1", "arn:aws:s3:::teambucket"),
            ("ResourceArns.member.2", "arn:aws:s3:::teambucket/x"),
            ("ContextEntries.member.1.ContextKeyName", "aws:PrincipalTag/team"),
            ("ContextEntries.member.1.ContextKeyValues.member.1", "ml"),
            ("ContextEntries.member.1.ContextKeyType", "string"),
        ],
    )
    .await;
    // 2 actions x 2 resources.
    assert_eq!(
        all(&xml, "EvalDecision"),
        ["allowed", "implicitDeny", "implicitDeny", "implicitDeny"]
    );
    assert_eq!(
        all(&xml, "AllowedByPermissionsBoundary"),
        ["true", "true", "false", "false"]
    );
}

#[tokio::test]
async fn simulation_inputs_are_checked() {
    let iam = iam();
    err(
        &iam,
        "SimulateCustomPolicy",
        &[("ActionNames.member.1", "s3:GetObject")],
        ErrorCode::ValidationError,
    )
    .await;
    err(
        &iam,
        "SimulateCustomPolicy",
        &[("PolicyInputList.member.1", ALLOW_LIST)],
        ErrorCode::ValidationError,
    )
    .await;
    let msg = err(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", "{"),
            ("ActionNames.member.1", "s3:GetObject"),
        ],
        ErrorCode::InvalidInput,
    )
    .await;
    assert!(msg.starts_with("PolicyInputList.1 is not a valid policy"), "{msg}");
    err(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", ALLOW_LIST),
            ("ActionNames.member.1", "s3:GetObject"),
            ("ContextEntries.member.1.ContextKeyName", "aws:x"),
            ("ContextEntries.member.1.ContextKeyType", "colour"),
        ],
        ErrorCode::ValidationError,
    )
    .await;
    let resource = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    err(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", READ),
            ("ActionNames.member.1", "s3:GetObject"),
            ("ResourcePolicy", resource),
        ],
        ErrorCode::InvalidInput,
    )
    .await;
    // With a caller, a same-account resource policy can allow on its own.
    let xml = ok(
        &iam,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", READ),
            ("ActionNames.member.1", "s3:GetObject"),
            ("ResourceArns.member.1", "arn:aws:s3:::b/k"),
            ("ResourcePolicy", resource),
            ("CallerArn", "arn:aws:iam::111122223333:user/alice"),
        ],
    )
    .await;
    assert_eq!(el(&xml, "EvalDecision"), "allowed");
    assert_eq!(el(&xml, "SourcePolicyId"), "ResourcePolicy");
}

#[tokio::test]
async fn principal_policy_of_a_role() {
    let iam = iam();
    role(&iam, "r").await;
    ok(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "inline"), ("PolicyDocument", READ)],
    )
    .await;
    let list = ok(
        &iam,
        "CreatePolicy",
        &[("PolicyName", "lister"), ("PolicyDocument", ALLOW_LIST)],
    )
    .await;
    let list_arn = el(&list, "Arn");
    ok(&iam, "AttachRolePolicy", &[("RoleName", "r"), ("PolicyArn", &list_arn)]).await;
    let role_arn = "arn:aws:iam::111122223333:role/r";
    let xml = ok(
        &iam,
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", role_arn),
            ("ActionNames.member.1", "s3:GetObject"),
            ("ActionNames.member.2", "s3:ListBucket"),
            ("ActionNames.member.3", "s3:DeleteBucket"),
            ("ResourceArns.member.1", "arn:aws:s3:::bucket/k"),
            ("ResourceArns.member.2", "arn:aws:s3:::teambucket"),
        ],
    )
    .await;
    assert_eq!(
        all(&xml, "EvalDecision"),
        [
            "allowed",
            "implicitDeny",
            "implicitDeny",
            "allowed",
            "implicitDeny",
            "implicitDeny"
        ]
    );
    let ids = all(&xml, "SourcePolicyId");
    assert!(
        ids.contains(&"inline".to_owned()) && ids.contains(&"lister".to_owned()),
        "{ids:?}"
    );
    assert!(xml.contains("<SourcePolicyType>role</SourcePolicyType>"));
    assert!(xml.contains("<SourcePolicyType>user-managed</SourcePolicyType>"));

    // A boundary on the role now limits it.
    let b = ok(
        &iam,
        "CreatePolicy",
        &[
            ("PolicyName", "only-list"),
            (
                "PolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#,
            ),
        ],
    )
    .await;
    ok(
        &iam,
        "PutRolePermissionsBoundary",
        &[("RoleName", "r"), ("PermissionsBoundary", &el(&b, "Arn"))],
    )
    .await;
    let xml = ok(
        &iam,
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", role_arn),
            ("ActionNames.member.1", "s3:GetObject"),
            ("ActionNames.member.2", "s3:ListBucket"),
            ("ResourceArns.member.1", "arn:aws:s3:::bucket/k"),
            ("ResourceArns.member.2", "arn:aws:s3:::teambucket"),
        ],
    )
    .await;
    assert_eq!(
        all(&xml, "EvalDecision"),
        ["implicitDeny", "implicitDeny", "implicitDeny", "allowed"]
    );

    let msg = err(
        &iam,
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", "arn:aws:iam::111122223333:role/ghost"),
            ("ActionNames.member.1", "s3:GetObject"),
        ],
        ErrorCode::NoSuchEntity,
    )
    .await;
    assert_eq!(msg, "The role with name ghost cannot be found.");
    err(
        &iam,
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", "arn:aws:iam::111122223333:user/alice"),
            ("ActionNames.member.1", "s3:GetObject"),
        ],
        ErrorCode::InvalidInput,
    )
    .await;
}

#[tokio::test]
async fn context_keys_the_policies_use() {
    let iam = iam();
    let xml = ok(
        &iam,
        "GetContextKeysForCustomPolicy",
        &[
            ("PolicyInputList.member.1", ALLOW_LIST),
            ("PolicyInputList.member.2", DENY_DELETE),
        ],
    )
    .await;
    assert_eq!(all(&xml, "member"), ["aws:PrincipalTag/team", "aws:SecureTransport"]);
    role(&iam, "r").await;
    ok(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "p"), ("PolicyDocument", DENY_DELETE)],
    )
    .await;
    let xml = ok(
        &iam,
        "GetContextKeysForPrincipalPolicy",
        &[
            ("PolicySourceArn", "arn:aws:iam::111122223333:role/r"),
            ("PolicyInputList.member.1", ALLOW_LIST),
        ],
    )
    .await;
    assert_eq!(all(&xml, "member"), ["aws:SecureTransport", "aws:PrincipalTag/team"]);
    err(&iam, "GetContextKeysForCustomPolicy", &[], ErrorCode::ValidationError).await;
}

#[tokio::test]
async fn simulation_results_are_paged() {
    let iam = iam();
    let base = [
        ("PolicyInputList.member.1", ALLOW_LIST),
        ("ActionNames.member.1", "s3:ListBucket"),
        ("ActionNames.member.2", "s3:GetObject"),
        ("ActionNames.member.3", "s3:PutObject"),
        ("ResourceArns.member.1", "arn:aws:s3:::teambucket"),
        ("ResourceArns.member.2", "arn:aws:s3:::other"),
    ];
    let mut first = base.to_vec();
    first.push(("MaxItems", "4"));
    let xml = ok(&iam, "SimulateCustomPolicy", &first).await;
    assert_eq!(
        all(&xml, "EvalDecision"),
        ["allowed", "implicitDeny", "implicitDeny", "implicitDeny"]
    );
    assert_eq!(el(&xml, "IsTruncated"), "true");
    let marker = el(&xml, "Marker");
    let mut second = base.to_vec();
    second.push(("Marker", &marker));
    let xml = ok(&iam, "SimulateCustomPolicy", &second).await;
    assert_eq!(all(&xml, "EvalActionName"), ["s3:PutObject", "s3:PutObject"]);
    assert_eq!(
        all(&xml, "EvalResourceName").last().map(String::as_str),
        Some("arn:aws:s3:::other")
    );
    assert_eq!(el(&xml, "IsTruncated"), "false");
    let mut bad = base.to_vec();
    bad.push(("Marker", "x"));
    err(&iam, "SimulateCustomPolicy", &bad, ErrorCode::InvalidInput).await;
}
