//! Managed policies, versions, attachments and boundaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use irsa_aws_query::ErrorCode;
use std::sync::Arc;

#[tokio::test]
async fn create_get_list_delete_policies() {
    let iam = iam();
    let xml = ok(
        &iam,
        "CreatePolicy",
        &[
            ("PolicyName", "Read"),
            ("Path", "/team/"),
            ("PolicyDocument", READ),
            ("Description", "reads"),
        ],
    )
    .await;
    let arn = el(&xml, "Arn");
    assert_eq!(arn, "arn:aws:iam::111122223333:policy/team/Read");
    assert!(el(&xml, "PolicyId").starts_with("ANPA"));
    assert_eq!(el(&xml, "DefaultVersionId"), "v1");
    assert_eq!(el(&xml, "AttachmentCount"), "0");
    let msg = err(
        &iam,
        "CreatePolicy",
        &[("PolicyName", "READ"), ("PolicyDocument", READ)],
        ErrorCode::EntityAlreadyExists,
    )
    .await;
    assert_eq!(
        msg,
        "A policy called READ already exists. Duplicate names are not allowed."
    );
    let got = ok(&iam, "GetPolicy", &[("PolicyArn", &arn)]).await;
    assert_eq!(el(&got, "Description"), "reads");
    // The path is part of the ARN.
    let msg = err(
        &iam,
        "GetPolicy",
        &[("PolicyArn", "arn:aws:iam::111122223333:policy/Read")],
        ErrorCode::NoSuchEntity,
    )
    .await;
    assert_eq!(msg, "Policy arn:aws:iam::111122223333:policy/Read was not found.");
    for i in 0..4 {
        policy(&iam, &format!("p{i}")).await;
    }
    let page = ok(&iam, "ListPolicies", &[("MaxItems", "2"), ("Scope", "Local")]).await;
    assert_eq!(all(&page, "PolicyName"), ["p0", "p1"]);
    let page2 = ok(&iam, "ListPolicies", &[("Marker", &el(&page, "Marker"))]).await;
    assert_eq!(all(&page2, "PolicyName"), ["p2", "p3", "Read"]);
    assert_eq!(el(&page2, "IsTruncated"), "false");
    let team = ok(&iam, "ListPolicies", &[("PathPrefix", "/team/")]).await;
    assert_eq!(all(&team, "PolicyName"), ["Read"]);
    let aws = ok(&iam, "ListPolicies", &[("Scope", "AWS")]).await;
    assert!(all(&aws, "PolicyName").is_empty());
    err(&iam, "ListPolicies", &[("Scope", "Mine")], ErrorCode::ValidationError).await;
    ok(&iam, "DeletePolicy", &[("PolicyArn", &arn)]).await;
    err(&iam, "GetPolicy", &[("PolicyArn", &arn)], ErrorCode::NoSuchEntity).await;
    // Managed documents: validated as managed policies, sized against 6,144.
    err(
        &iam,
        "CreatePolicy",
        &[("PolicyName", "bad"), ("PolicyDocument", TRUST)],
        ErrorCode::MalformedPolicyDocument,
    )
    .await;
    let big = READ.replace("bucket/*", &"b".repeat(6200));
    let msg = err(
        &iam,
        "CreatePolicy",
        &[("PolicyName", "big"), ("PolicyDocument", &big)],
        ErrorCode::LimitExceeded,
    )
    .await;
    assert_eq!(msg, "Cannot exceed quota for PolicySize: 6144");
    err(
        &iam,
        "CreatePolicy",
        &[("PolicyName", "a/b"), ("PolicyDocument", READ)],
        ErrorCode::ValidationError,
    )
    .await;
}

#[tokio::test]
async fn versions() {
    let iam = iam();
    let arn = policy(&iam, "p").await;
    let write = READ.replace("GetObject", "PutObject");
    let v2 = ok(
        &iam,
        "CreatePolicyVersion",
        &[("PolicyArn", &arn), ("PolicyDocument", &write)],
    )
    .await;
    assert_eq!(el(&v2, "VersionId"), "v2");
    assert_eq!(el(&v2, "IsDefaultVersion"), "false");
    let v3 = ok(
        &iam,
        "CreatePolicyVersion",
        &[
            ("PolicyArn", &arn),
            ("PolicyDocument", &write),
            ("SetAsDefault", "true"),
        ],
    )
    .await;
    assert_eq!(el(&v3, "IsDefaultVersion"), "true");
    assert_eq!(
        el(&ok(&iam, "GetPolicy", &[("PolicyArn", &arn)]).await, "DefaultVersionId"),
        "v3"
    );
    ok(
        &iam,
        "CreatePolicyVersion",
        &[("PolicyArn", &arn), ("PolicyDocument", READ)],
    )
    .await;
    ok(
        &iam,
        "CreatePolicyVersion",
        &[("PolicyArn", &arn), ("PolicyDocument", READ)],
    )
    .await;
    let msg = err(
        &iam,
        "CreatePolicyVersion",
        &[("PolicyArn", &arn), ("PolicyDocument", READ)],
        ErrorCode::LimitExceeded,
    )
    .await;
    assert!(msg.starts_with("A managed policy can have up to 5 versions."), "{msg}");
    let list = ok(&iam, "ListPolicyVersions", &[("PolicyArn", &arn)]).await;
    assert_eq!(all(&list, "VersionId"), ["v5", "v4", "v3", "v2", "v1"]);
    let got = ok(&iam, "GetPolicyVersion", &[("PolicyArn", &arn), ("VersionId", "v2")]).await;
    assert_eq!(el(&got, "Document"), irsa_aws_query::url_encode_policy(&write));
    let msg = err(
        &iam,
        "DeletePolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v3")],
        ErrorCode::DeleteConflict,
    )
    .await;
    assert_eq!(msg, "Cannot delete the default version of a policy.");
    let msg = err(&iam, "DeletePolicy", &[("PolicyArn", &arn)], ErrorCode::DeleteConflict).await;
    assert!(msg.starts_with("This policy has more than one version."), "{msg}");
    ok(
        &iam,
        "SetDefaultPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v1")],
    )
    .await;
    for v in ["v2", "v3", "v4", "v5"] {
        ok(&iam, "DeletePolicyVersion", &[("PolicyArn", &arn), ("VersionId", v)]).await;
    }
    err(
        &iam,
        "GetPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v2")],
        ErrorCode::NoSuchEntity,
    )
    .await;
    err(
        &iam,
        "GetPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "2")],
        ErrorCode::ValidationError,
    )
    .await;
    err(
        &iam,
        "SetDefaultPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v9")],
        ErrorCode::NoSuchEntity,
    )
    .await;
    // Version ids keep counting after deletions.
    let v6 = ok(
        &iam,
        "CreatePolicyVersion",
        &[("PolicyArn", &arn), ("PolicyDocument", READ)],
    )
    .await;
    assert_eq!(el(&v6, "VersionId"), "v6");
    ok(&iam, "DeletePolicyVersion", &[("PolicyArn", &arn), ("VersionId", "v6")]).await;
    ok(&iam, "DeletePolicy", &[("PolicyArn", &arn)]).await;
}

#[tokio::test]
async fn attachments_keep_counts_and_block_deletion() {
    let iam = iam();
    role(&iam, "r").await;
    let arn = policy(&iam, "p").await;
    ok(&iam, "AttachRolePolicy", &[("RoleName", "r"), ("PolicyArn", &arn)]).await;
    // Attaching twice is a no-op.
    ok(&iam, "AttachRolePolicy", &[("RoleName", "r"), ("PolicyArn", &arn)]).await;
    assert_eq!(
        el(&ok(&iam, "GetPolicy", &[("PolicyArn", &arn)]).await, "AttachmentCount"),
        "1"
    );
    let attached = ok(&iam, "ListAttachedRolePolicies", &[("RoleName", "r")]).await;
    assert_eq!(all(&attached, "PolicyArn"), std::slice::from_ref(&arn));
    assert_eq!(all(&attached, "PolicyName"), ["p"]);
    let only = ok(&iam, "ListPolicies", &[("OnlyAttached", "true")]).await;
    assert_eq!(all(&only, "PolicyName"), ["p"]);
    let entities = ok(
        &iam,
        "ListEntitiesForPolicy",
        &[("PolicyArn", &arn), ("EntityFilter", "Role")],
    )
    .await;
    assert_eq!(all(&entities, "RoleName"), ["r"]);
    let profiles = ok(&iam, "ListInstanceProfilesForRole", &[("RoleName", "r")]).await;
    assert_eq!(
        profiles,
        "<InstanceProfiles></InstanceProfiles><IsTruncated>false</IsTruncated>"
    );
    err(
        &iam,
        "ListInstanceProfilesForRole",
        &[("RoleName", "ghost")],
        ErrorCode::NoSuchEntity,
    )
    .await;
    err(
        &iam,
        "ListEntitiesForPolicy",
        &[("PolicyArn", "arn:aws:iam::111122223333:policy/none")],
        ErrorCode::NoSuchEntity,
    )
    .await;
    let msg = err(&iam, "DeletePolicy", &[("PolicyArn", &arn)], ErrorCode::DeleteConflict).await;
    assert_eq!(msg, "Cannot delete a policy attached to entities.");
    let msg = err(&iam, "DeleteRole", &[("RoleName", "r")], ErrorCode::DeleteConflict).await;
    assert_eq!(msg, "Cannot delete entity, must detach all policies first.");
    let missing = "arn:aws:iam::111122223333:policy/none";
    let msg = err(
        &iam,
        "AttachRolePolicy",
        &[("RoleName", "r"), ("PolicyArn", missing)],
        ErrorCode::NoSuchEntity,
    )
    .await;
    assert_eq!(msg, format!("Policy {missing} does not exist or is not attachable."));
    err(
        &iam,
        "AttachRolePolicy",
        &[("RoleName", "ghost"), ("PolicyArn", &arn)],
        ErrorCode::NoSuchEntity,
    )
    .await;
    ok(&iam, "DetachRolePolicy", &[("RoleName", "r"), ("PolicyArn", &arn)]).await;
    let msg = err(
        &iam,
        "DetachRolePolicy",
        &[("RoleName", "r"), ("PolicyArn", &arn)],
        ErrorCode::NoSuchEntity,
    )
    .await;
    assert_eq!(msg, format!("Policy {arn} was not found."));
    assert_eq!(
        el(&ok(&iam, "GetPolicy", &[("PolicyArn", &arn)]).await, "AttachmentCount"),
        "0"
    );
    ok(&iam, "DeleteRole", &[("RoleName", "r")]).await;
    ok(&iam, "DeletePolicy", &[("PolicyArn", &arn)]).await;
}

#[tokio::test]
async fn at_most_ten_attached_policies() {
    let iam = iam();
    role(&iam, "r").await;
    for i in 0..11 {
        let arn = policy(&iam, &format!("p{i}")).await;
        let res = call(&iam, "AttachRolePolicy", &[("RoleName", "r"), ("PolicyArn", &arn)]).await;
        if i < 10 {
            assert!(res.is_ok(), "{res:?}");
        } else {
            let e = res.unwrap_err();
            assert_eq!(e.code, ErrorCode::LimitExceeded);
            assert_eq!(e.message, "Cannot exceed quota for PoliciesPerRole: 10");
            assert_eq!(
                el(&ok(&iam, "GetPolicy", &[("PolicyArn", &arn)]).await, "AttachmentCount"),
                "0"
            );
        }
    }
    let page = ok(
        &iam,
        "ListAttachedRolePolicies",
        &[("RoleName", "r"), ("MaxItems", "4")],
    )
    .await;
    assert_eq!(all(&page, "PolicyName"), ["p0", "p1", "p2", "p3"]);
    let page = ok(
        &iam,
        "ListAttachedRolePolicies",
        &[("RoleName", "r"), ("Marker", &el(&page, "Marker"))],
    )
    .await;
    assert_eq!(all(&page, "PolicyName").len(), 6);
}

#[tokio::test]
async fn permissions_boundaries() {
    let iam = iam();
    let a = policy(&iam, "a").await;
    let b = policy(&iam, "b").await;
    let xml = ok(
        &iam,
        "CreateRole",
        &[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST),
            ("PermissionsBoundary", &a),
        ],
    )
    .await;
    assert_eq!(el(&xml, "PermissionsBoundaryArn"), a);
    let usage = |xml: String| el(&xml, "PermissionsBoundaryUsageCount");
    assert_eq!(usage(ok(&iam, "GetPolicy", &[("PolicyArn", &a)]).await), "1");
    err(&iam, "DeletePolicy", &[("PolicyArn", &a)], ErrorCode::DeleteConflict).await;
    ok(
        &iam,
        "PutRolePermissionsBoundary",
        &[("RoleName", "r"), ("PermissionsBoundary", &b)],
    )
    .await;
    assert_eq!(usage(ok(&iam, "GetPolicy", &[("PolicyArn", &a)]).await), "0");
    assert_eq!(usage(ok(&iam, "GetPolicy", &[("PolicyArn", &b)]).await), "1");
    let only = ok(
        &iam,
        "ListPolicies",
        &[("OnlyAttached", "true"), ("PolicyUsageFilter", "PermissionsBoundary")],
    )
    .await;
    assert_eq!(all(&only, "PolicyName"), ["b"]);
    let entities = ok(&iam, "ListEntitiesForPolicy", &[("PolicyArn", &b)]).await;
    assert_eq!(all(&entities, "RoleName"), ["r"]);
    let entities = ok(
        &iam,
        "ListEntitiesForPolicy",
        &[("PolicyArn", &b), ("PolicyUsageFilter", "PermissionsPolicy")],
    )
    .await;
    assert!(all(&entities, "RoleName").is_empty());
    ok(&iam, "DeleteRolePermissionsBoundary", &[("RoleName", "r")]).await;
    assert_eq!(usage(ok(&iam, "GetPolicy", &[("PolicyArn", &b)]).await), "0");
    assert!(
        !ok(&iam, "GetRole", &[("RoleName", "r")])
            .await
            .contains("PermissionsBoundary")
    );
    // Deleting a role releases its boundary.
    ok(
        &iam,
        "PutRolePermissionsBoundary",
        &[("RoleName", "r"), ("PermissionsBoundary", &b)],
    )
    .await;
    ok(&iam, "DeleteRole", &[("RoleName", "r")]).await;
    assert_eq!(usage(ok(&iam, "GetPolicy", &[("PolicyArn", &b)]).await), "0");
    ok(&iam, "DeletePolicy", &[("PolicyArn", &b)]).await;
}

#[tokio::test]
async fn tags_on_policies() {
    let iam = iam();
    let arn = policy(&iam, "p").await;
    ok(
        &iam,
        "TagPolicy",
        &[
            ("PolicyArn", &arn),
            ("Tags.member.1.Key", "k"),
            ("Tags.member.1.Value", "v"),
        ],
    )
    .await;
    assert_eq!(
        all(&ok(&iam, "ListPolicyTags", &[("PolicyArn", &arn)]).await, "Key"),
        ["k"]
    );
    ok(&iam, "UntagPolicy", &[("PolicyArn", &arn), ("TagKeys.member.1", "K")]).await;
    assert!(all(&ok(&iam, "ListPolicyTags", &[("PolicyArn", &arn)]).await, "Key").is_empty());
}

#[tokio::test]
async fn concurrent_attachments_keep_the_count_exact() {
    let iam = Arc::new(iam());
    let arn = policy(&iam, "shared").await;
    for i in 0..8 {
        role(&iam, &format!("r{i}")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        let iam = Arc::clone(&iam);
        let arn = arn.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("r{i}");
            call(&iam, "AttachRolePolicy", &[("RoleName", &name), ("PolicyArn", &arn)]).await
        }));
    }
    let mut ok_count = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok_count += 1,
            Err(e) => assert_eq!(e.code, ErrorCode::ConcurrentModification),
        }
    }
    let count: usize = el(&ok(&iam, "GetPolicy", &[("PolicyArn", &arn)]).await, "AttachmentCount")
        .parse()
        .unwrap();
    assert_eq!(count, ok_count);
    let mut attached = 0;
    for i in 0..8 {
        let xml = ok(&iam, "ListAttachedRolePolicies", &[("RoleName", &format!("r{i}"))]).await;
        attached += all(&xml, "PolicyArn").len();
    }
    assert_eq!(attached, count);
}
