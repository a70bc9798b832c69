//! Role and inline-policy action sequences against an in-memory store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use irsa_aws_query::ErrorCode;
use irsa_iam::layout;

#[tokio::test]
async fn create_get_update_delete_a_role() {
    let iam = iam();
    let xml = ok(
        &iam,
        "CreateRole",
        &[
            ("RoleName", "KF-User"),
            ("Path", "/kf/"),
            ("AssumeRolePolicyDocument", TRUST),
            ("Description", "a role"),
            ("MaxSessionDuration", "7200"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "ml"),
        ],
    )
    .await;
    assert_eq!(el(&xml, "Arn"), "arn:aws:iam::111122223333:role/kf/KF-User");
    let id = el(&xml, "RoleId");
    assert!(id.starts_with("AROA") && id.len() == 21, "{id}");
    assert_eq!(el(&xml, "CreateDate"), "2023-11-14T22:13:20Z");
    assert_eq!(el(&xml, "MaxSessionDuration"), "7200");
    assert_eq!(
        el(&xml, "AssumeRolePolicyDocument"),
        irsa_aws_query::url_encode_policy(TRUST)
    );

    // Names are case-insensitive: the same role by another spelling, and no second one.
    let got = ok(&iam, "GetRole", &[("RoleName", "kf-user")]).await;
    assert_eq!(el(&got, "RoleName"), "KF-User");
    assert_eq!(el(&got, "Value"), "ml");
    let msg = err(
        &iam,
        "CreateRole",
        &[("RoleName", "kf-USER"), ("AssumeRolePolicyDocument", TRUST)],
        ErrorCode::EntityAlreadyExists,
    )
    .await;
    assert_eq!(msg, "Role with name kf-USER already exists.");

    // The id index leads back to the role (the STS reads it).
    let idx = irsa_store::Store::get(iam.store(), &layout::role_id_key(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(idx.value, b"kf-user");

    assert_eq!(
        ok(
            &iam,
            "UpdateRole",
            &[("RoleName", "KF-User"), ("MaxSessionDuration", "43200")]
        )
        .await,
        ""
    );
    let updated = ok(
        &iam,
        "UpdateRoleDescription",
        &[("RoleName", "KF-User"), ("Description", "new words")],
    )
    .await;
    assert_eq!(el(&updated, "Description"), "new words");
    assert_eq!(el(&updated, "MaxSessionDuration"), "43200");
    let trust2 = TRUST.replace("ns:sa", "ns:other");
    ok(
        &iam,
        "UpdateAssumeRolePolicy",
        &[("RoleName", "KF-User"), ("PolicyDocument", &trust2)],
    )
    .await;
    let got = ok(&iam, "GetRole", &[("RoleName", "KF-User")]).await;
    assert_eq!(
        el(&got, "AssumeRolePolicyDocument"),
        irsa_aws_query::url_encode_policy(&trust2)
    );

    ok(&iam, "DeleteRole", &[("RoleName", "kf-user")]).await;
    let msg = err(&iam, "GetRole", &[("RoleName", "KF-User")], ErrorCode::NoSuchEntity).await;
    assert_eq!(msg, "The role with name KF-User cannot be found.");
    assert!(
        irsa_store::Store::get(iam.store(), &layout::role_id_key(&id))
            .await
            .unwrap()
            .is_none()
    );
    err(&iam, "DeleteRole", &[("RoleName", "KF-User")], ErrorCode::NoSuchEntity).await;
}

#[tokio::test]
async fn list_roles_pages_and_filters_by_path() {
    let iam = iam();
    for i in 0..7 {
        let path = if i % 2 == 0 { "/even/" } else { "/" };
        ok(
            &iam,
            "CreateRole",
            &[
                ("RoleName", &format!("r{i}")),
                ("Path", path),
                ("AssumeRolePolicyDocument", TRUST),
            ],
        )
        .await;
    }
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut p = vec![("MaxItems", "3")];
        if let Some(m) = &marker {
            p.push(("Marker", m));
        }
        let xml = ok(&iam, "ListRoles", &p).await;
        pages += 1;
        names.extend(all(&xml, "RoleName"));
        if el(&xml, "IsTruncated") == "true" {
            marker = Some(el(&xml, "Marker"));
        } else {
            assert!(all(&xml, "Marker").is_empty());
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]);
    let even = ok(&iam, "ListRoles", &[("PathPrefix", "/even/"), ("MaxItems", "2")]).await;
    assert_eq!(all(&even, "RoleName"), ["r0", "r2"]);
    assert_eq!(el(&even, "IsTruncated"), "true");
    let rest = ok(
        &iam,
        "ListRoles",
        &[("PathPrefix", "/even/"), ("Marker", &el(&even, "Marker"))],
    )
    .await;
    assert_eq!(all(&rest, "RoleName"), ["r4", "r6"]);
    // ListRoles leaves tags out, as IAM does.
    assert!(!rest.contains("<Tags>"));
}

#[tokio::test]
async fn bad_inputs_get_the_right_code_and_message() {
    let iam = iam();
    let msg = err(
        &iam,
        "CreateRole",
        &[("AssumeRolePolicyDocument", TRUST)],
        ErrorCode::ValidationError,
    )
    .await;
    assert_eq!(
        msg,
        "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"
    );
    let msg = err(
        &iam,
        "CreateRole",
        &[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST),
            ("MaxSessionDuration", "100"),
        ],
        ErrorCode::ValidationError,
    )
    .await;
    assert_eq!(
        msg,
        "1 validation error detected: Value '100' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"
    );
    // Characters IAM refuses in names and paths get IAM's own words.
    let msg = err(
        &iam,
        "CreateRole",
        &[("RoleName", "a b"), ("AssumeRolePolicyDocument", TRUST)],
        ErrorCode::ValidationError,
    )
    .await;
    assert_eq!(
        msg,
        "The specified value for roleName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-"
    );
    let msg = err(
        &iam,
        "GetRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "a/b")],
        ErrorCode::ValidationError,
    )
    .await;
    assert!(
        msg.starts_with("The specified value for policyName is invalid."),
        "{msg}"
    );
    let long = "r".repeat(65);
    err(
        &iam,
        "CreateRole",
        &[("RoleName", &long), ("AssumeRolePolicyDocument", TRUST)],
        ErrorCode::ValidationError,
    )
    .await;
    let msg = err(
        &iam,
        "CreateRole",
        &[("RoleName", "r"), ("Path", "nope"), ("AssumeRolePolicyDocument", TRUST)],
        ErrorCode::ValidationError,
    )
    .await;
    assert_eq!(
        msg,
        "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters."
    );
    // Trust policies: malformed, wrong kind, too big.
    err(
        &iam,
        "CreateRole",
        &[("RoleName", "r"), ("AssumeRolePolicyDocument", "{")],
        ErrorCode::MalformedPolicyDocument,
    )
    .await;
    err(
        &iam,
        "CreateRole",
        &[("RoleName", "r"), ("AssumeRolePolicyDocument", READ)],
        ErrorCode::MalformedPolicyDocument,
    )
    .await;
    let big = TRUST.replace("system:serviceaccount:ns:sa", &"x".repeat(2100));
    let msg = err(
        &iam,
        "CreateRole",
        &[("RoleName", "r"), ("AssumeRolePolicyDocument", &big)],
        ErrorCode::LimitExceeded,
    )
    .await;
    assert_eq!(msg, "Cannot exceed quota for ACLSizePerRole: 2048");
    // A boundary that does not exist.
    let msg = err(
        &iam,
        "CreateRole",
        &[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST),
            ("PermissionsBoundary", "arn:aws:iam::111122223333:policy/none"),
        ],
        ErrorCode::NoSuchEntity,
    )
    .await;
    assert_eq!(
        msg,
        "Scope ARN: arn:aws:iam::111122223333:policy/none does not exist or is not attachable."
    );
    // Nothing was created on the way.
    assert!(all(&ok(&iam, "ListRoles", &[]).await, "RoleName").is_empty());
    let msg = err(&iam, "CreateUser", &[], ErrorCode::InvalidAction).await;
    assert_eq!(msg, "Could not find operation CreateUser for version 2010-05-08");
    err(&iam, "ListRoles", &[("MaxItems", "0")], ErrorCode::ValidationError).await;
    err(&iam, "ListRoles", &[("MaxItems", "x")], ErrorCode::ValidationError).await;
    err(&iam, "UpdateRole", &[("RoleName", "ghost")], ErrorCode::NoSuchEntity).await;
    err(
        &iam,
        "CreateRole",
        &[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST),
            ("Tags.member.1.Key", "aws:x"),
            ("Tags.member.1.Value", "v"),
        ],
        ErrorCode::InvalidInput,
    )
    .await;
}

#[tokio::test]
async fn tags_on_roles() {
    let iam = iam();
    role(&iam, "r").await;
    ok(
        &iam,
        "TagRole",
        &[
            ("RoleName", "r"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.1.Value", "1"),
            ("Tags.member.2.Key", "b"),
            ("Tags.member.2.Value", "2"),
        ],
    )
    .await;
    ok(
        &iam,
        "TagRole",
        &[
            ("RoleName", "r"),
            ("Tags.member.1.Key", "A"),
            ("Tags.member.1.Value", "3"),
        ],
    )
    .await;
    let xml = ok(&iam, "ListRoleTags", &[("RoleName", "r"), ("MaxItems", "1")]).await;
    assert_eq!(all(&xml, "Key"), ["A"]);
    assert_eq!(el(&xml, "IsTruncated"), "true");
    let xml2 = ok(
        &iam,
        "ListRoleTags",
        &[("RoleName", "r"), ("Marker", &el(&xml, "Marker"))],
    )
    .await;
    assert_eq!(all(&xml2, "Key"), ["b"]);
    ok(&iam, "UntagRole", &[("RoleName", "r"), ("TagKeys.member.1", "a")]).await;
    err(&iam, "UntagRole", &[("RoleName", "r")], ErrorCode::ValidationError).await;
    err(&iam, "TagRole", &[("RoleName", "r")], ErrorCode::ValidationError).await;
    let xml = ok(&iam, "ListRoleTags", &[("RoleName", "r")]).await;
    assert_eq!(all(&xml, "Key"), ["b"]);
    let many: Vec<(String, String)> = (0..50)
        .map(|i| (format!("Tags.member.{}.Key", i + 1), format!("k{i}")))
        .collect();
    let mut p: Vec<(String, String)> = many.clone();
    p.extend((0..50).map(|i| (format!("Tags.member.{}.Value", i + 1), String::new())));
    p.push(("RoleName".into(), "r".into()));
    let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    err(&iam, "TagRole", &refs, ErrorCode::LimitExceeded).await;
}

#[tokio::test]
async fn inline_policies_and_the_aggregate_size() {
    let iam = iam_with(irsa_policy::Limits {
        inline: 300,
        ..Default::default()
    });
    role(&iam, "r").await;
    ok(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "read"), ("PolicyDocument", READ)],
    )
    .await;
    let xml = ok(&iam, "GetRolePolicy", &[("RoleName", "r"), ("PolicyName", "read")]).await;
    assert_eq!(el(&xml, "PolicyDocument"), irsa_aws_query::url_encode_policy(READ));
    assert_eq!(el(&xml, "RoleName"), "r");
    // Replacing a policy counts only the new document.
    ok(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "read"), ("PolicyDocument", READ)],
    )
    .await;
    ok(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "read2"), ("PolicyDocument", READ)],
    )
    .await;
    let msg = err(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "read3"), ("PolicyDocument", READ)],
        ErrorCode::LimitExceeded,
    )
    .await;
    assert_eq!(msg, "Maximum policy size of 300 bytes exceeded for role r");
    let list = ok(&iam, "ListRolePolicies", &[("RoleName", "r"), ("MaxItems", "1")]).await;
    assert_eq!(all(&list, "member"), ["read"]);
    assert_eq!(el(&list, "Marker"), "read");
    let list = ok(&iam, "ListRolePolicies", &[("RoleName", "r"), ("Marker", "read")]).await;
    assert_eq!(all(&list, "member"), ["read2"]);
    assert_eq!(el(&list, "IsTruncated"), "false");
    // Identity policies need a Resource and no Principal.
    err(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "p"), ("PolicyDocument", TRUST)],
        ErrorCode::MalformedPolicyDocument,
    )
    .await;
    err(
        &iam,
        "PutRolePolicy",
        &[("RoleName", "ghost"), ("PolicyName", "p"), ("PolicyDocument", READ)],
        ErrorCode::NoSuchEntity,
    )
    .await;
    // Inline policies block deletion.
    let msg = err(&iam, "DeleteRole", &[("RoleName", "r")], ErrorCode::DeleteConflict).await;
    assert_eq!(msg, "Cannot delete entity, must delete policies first.");
    ok(&iam, "DeleteRolePolicy", &[("RoleName", "r"), ("PolicyName", "read")]).await;
    let msg = err(
        &iam,
        "DeleteRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "read")],
        ErrorCode::NoSuchEntity,
    )
    .await;
    assert_eq!(msg, "The role policy with name read cannot be found.");
    err(
        &iam,
        "GetRolePolicy",
        &[("RoleName", "r"), ("PolicyName", "read")],
        ErrorCode::NoSuchEntity,
    )
    .await;
    ok(&iam, "DeleteRolePolicy", &[("RoleName", "r"), ("PolicyName", "read2")]).await;
    ok(&iam, "DeleteRole", &[("RoleName", "r")]).await;
}

#[tokio::test]
async fn resource_arns_for_authorization() {
    let iam = iam();
    ok(
        &iam,
        "CreateRole",
        &[("RoleName", "r"), ("Path", "/kf/"), ("AssumeRolePolicyDocument", TRUST)],
    )
    .await;
    assert_eq!(
        iam.resource_arn("GetRole", &params(&[("RoleName", "R")])).await,
        "arn:aws:iam::111122223333:role/kf/r"
    );
    assert_eq!(
        iam.resource_arn("CreateRole", &params(&[("RoleName", "n"), ("Path", "/a/")]))
            .await,
        "arn:aws:iam::111122223333:role/a/n"
    );
    assert_eq!(
        iam.resource_arn(
            "GetPolicy",
            &params(&[("PolicyArn", "arn:aws:iam::111122223333:policy/p")])
        )
        .await,
        "arn:aws:iam::111122223333:policy/p"
    );
    assert_eq!(
        iam.resource_arn(
            "CreateOpenIDConnectProvider",
            &params(&[("Url", "https://oidc.example.com/x")])
        )
        .await,
        "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/x"
    );
    assert_eq!(iam.resource_arn("ListRoles", &params(&[])).await, "*");
    // Attaching acts on the role, not on the policy.
    assert_eq!(
        iam.resource_arn(
            "AttachRolePolicy",
            &params(&[("RoleName", "r"), ("PolicyArn", "arn:aws:iam::111122223333:policy/p")])
        )
        .await,
        "arn:aws:iam::111122223333:role/kf/r"
    );
}

#[tokio::test]
async fn floods_of_list_members_are_refused_cheaply() {
    let iam = iam();
    role(&iam, "r").await;
    let n = 5_000;
    let mut p: Vec<(String, String)> = Vec::with_capacity(2 * n + 1);
    for i in 1..=n {
        p.push((format!("Tags.member.{i}.Key"), format!("k{i}")));
        p.push((format!("Tags.member.{i}.Value"), String::new()));
    }
    p.push(("RoleName".into(), "r".into()));
    let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // (Decoding the form is the server's and aws-query's part; time the action only.)
    let parsed = params(&refs);
    let started = std::time::Instant::now();
    let e = iam.handle("TagRole", &parsed, NOW).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationError);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_break_the_rules() {
    let iam = std::sync::Arc::new(iam_with(irsa_policy::Limits {
        inline: 300,
        ..Default::default()
    }));
    // Eight creators of one name (in different cases): exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let iam = std::sync::Arc::clone(&iam);
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 { "Same" } else { "sAME" };
            call(
                &iam,
                "CreateRole",
                &[("RoleName", name), ("AssumeRolePolicyDocument", TRUST)],
            )
            .await
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => created += 1,
            Err(e) => assert_eq!(e.code, ErrorCode::EntityAlreadyExists, "{e}"),
        }
    }
    assert_eq!(created, 1);
    // Eight inline policies of 116 characters against a 300 aggregate: at most two fit.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let iam = std::sync::Arc::clone(&iam);
        tasks.push(tokio::spawn(async move {
            let pname = format!("p{i}");
            call(
                &iam,
                "PutRolePolicy",
                &[("RoleName", "same"), ("PolicyName", &pname), ("PolicyDocument", READ)],
            )
            .await
        }));
    }
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            assert!(
                matches!(e.code, ErrorCode::LimitExceeded | ErrorCode::ConcurrentModification),
                "{e}"
            );
        }
    }
    let (stored, _) = irsa_iam::layout::get_role(iam.store(), "same").await.unwrap().unwrap();
    let total: usize = stored
        .inline_policies
        .values()
        .map(|d| irsa_policy::policy_size(d))
        .sum();
    assert!(total <= 300, "{total}");
    assert_eq!(stored.inline_policies.len(), 2);
}
