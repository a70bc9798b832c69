//! OIDC provider action sequences.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use irsa_aws_query::ErrorCode;

const TP: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";

#[tokio::test]
async fn provider_lifecycle() {
    let iam = iam();
    let xml = ok(
        &iam,
        "CreateOpenIDConnectProvider",
        &[
            ("Url", "https://oidc.example.com/id/ABC"),
            ("ClientIDList.member.1", "sts.amazonaws.com"),
            ("ThumbprintList.member.1", TP),
            ("Tags.member.1.Key", "cluster"),
            ("Tags.member.1.Value", "c1"),
        ],
    )
    .await;
    let arn = el(&xml, "OpenIDConnectProviderArn");
    assert_eq!(arn, "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/id/ABC");
    let msg = err(
        &iam,
        "CreateOpenIDConnectProvider",
        &[("Url", "https://oidc.example.com/id/ABC")],
        ErrorCode::EntityAlreadyExists,
    )
    .await;
    assert_eq!(msg, "Provider with url https://oidc.example.com/id/ABC already exists.");
    // The STS reads providers through the layout helpers.
    let p = irsa_iam::layout::get_oidc_provider(iam.store(), "https://oidc.example.com/id/ABC")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.client_ids, ["sts.amazonaws.com"]);

    let got = ok(&iam, "GetOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)]).await;
    assert_eq!(el(&got, "Url"), "oidc.example.com/id/ABC");
    assert_eq!(el(&got, "CreateDate"), "2023-11-14T22:13:20Z");

    ok(
        &iam,
        "AddClientIDToOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("ClientID", "kf")],
    )
    .await;
    ok(
        &iam,
        "AddClientIDToOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("ClientID", "kf")],
    )
    .await;
    ok(
        &iam,
        "RemoveClientIDFromOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("ClientID", "sts.amazonaws.com")],
    )
    .await;
    ok(
        &iam,
        "RemoveClientIDFromOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("ClientID", "absent")],
    )
    .await;
    let got = ok(&iam, "GetOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)]).await;
    assert_eq!(
        got.split("<ClientIDList>").nth(1).map(|s| all(s, "member")[0].clone()),
        Some("kf".to_owned())
    );

    let tp2 = "A".repeat(40);
    ok(
        &iam,
        "UpdateOpenIDConnectProviderThumbprint",
        &[("OpenIDConnectProviderArn", &arn), ("ThumbprintList.member.1", &tp2)],
    )
    .await;
    assert!(
        ok(&iam, "GetOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)])
            .await
            .contains(&tp2.to_ascii_lowercase())
    );
    let msg = err(
        &iam,
        "UpdateOpenIDConnectProviderThumbprint",
        &[("OpenIDConnectProviderArn", &arn)],
        ErrorCode::ValidationError,
    )
    .await;
    assert_eq!(
        msg,
        "1 validation error detected: Value null at 'thumbprintList' failed to satisfy constraint: Member must not be null"
    );

    ok(
        &iam,
        "TagOpenIDConnectProvider",
        &[
            ("OpenIDConnectProviderArn", &arn),
            ("Tags.member.1.Key", "env"),
            ("Tags.member.1.Value", "dev"),
        ],
    )
    .await;
    let tags = ok(
        &iam,
        "ListOpenIDConnectProviderTags",
        &[("OpenIDConnectProviderArn", &arn)],
    )
    .await;
    assert_eq!(all(&tags, "Key"), ["cluster", "env"]);
    ok(
        &iam,
        "UntagOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("TagKeys.member.1", "cluster")],
    )
    .await;
    let tags = ok(
        &iam,
        "ListOpenIDConnectProviderTags",
        &[("OpenIDConnectProviderArn", &arn)],
    )
    .await;
    assert_eq!(all(&tags, "Key"), ["env"]);

    ok(&iam, "CreateOpenIDConnectProvider", &[("Url", "https://a.example.com")]).await;
    let list = ok(&iam, "ListOpenIDConnectProviders", &[]).await;
    assert_eq!(
        all(&list, "Arn"),
        ["arn:aws:iam::111122223333:oidc-provider/a.example.com", arn.as_str()]
    );
    ok(
        &iam,
        "DeleteOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn)],
    )
    .await;
    let msg = err(
        &iam,
        "GetOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn)],
        ErrorCode::NoSuchEntity,
    )
    .await;
    assert_eq!(msg, format!("OpenIDConnect Provider not found for arn {arn}"));
    err(
        &iam,
        "DeleteOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn)],
        ErrorCode::NoSuchEntity,
    )
    .await;
    // Another account's provider is not found here.
    err(
        &iam,
        "GetOpenIDConnectProvider",
        &[(
            "OpenIDConnectProviderArn",
            "arn:aws:iam::444455556666:oidc-provider/a.example.com",
        )],
        ErrorCode::NoSuchEntity,
    )
    .await;
}

#[tokio::test]
async fn provider_inputs_are_checked() {
    let iam = iam();
    // Not a URL at all: ValidationError; a URL IAM refuses: InvalidInput.
    for bad in ["https://", "oidc.example.com"] {
        let msg = err(
            &iam,
            "CreateOpenIDConnectProvider",
            &[("Url", bad)],
            ErrorCode::ValidationError,
        )
        .await;
        assert_eq!(msg, "Invalid Open ID Connect Provider URL", "{bad}");
    }
    let msg = err(
        &iam,
        "CreateOpenIDConnectProvider",
        &[("Url", "http://oidc.example.com")],
        ErrorCode::InvalidInput,
    )
    .await;
    assert_eq!(
        msg,
        "Invalid Open ID Connect Provider URL. The URL must begin with https://."
    );
    for bad in [
        "https://oidc.example.com:443/x",
        "https://oidc.example.com/x?a=b",
        "https://oidc.example.com/#f",
        "https://user@oidc.example.com",
        "https://exa_mple.com",
    ] {
        let msg = err(
            &iam,
            "CreateOpenIDConnectProvider",
            &[("Url", bad)],
            ErrorCode::InvalidInput,
        )
        .await;
        assert_eq!(msg, "Invalid Open ID Connect Provider URL.", "{bad}");
    }
    err(&iam, "CreateOpenIDConnectProvider", &[], ErrorCode::ValidationError).await;
    let msg = err(
        &iam,
        "CreateOpenIDConnectProvider",
        &[("Url", "https://x.example.com"), ("ThumbprintList.member.1", "abc")],
        ErrorCode::InvalidInput,
    )
    .await;
    assert_eq!(msg, "Thumbprint must be exactly 40 characters.");
    let six: Vec<(String, String)> = (1..=6)
        .map(|i| (format!("ThumbprintList.member.{i}"), format!("{i:040}")))
        .collect();
    let mut p: Vec<(&str, &str)> = six.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    p.push(("Url", "https://x.example.com"));
    let msg = err(&iam, "CreateOpenIDConnectProvider", &p, ErrorCode::InvalidInput).await;
    assert_eq!(msg, "Thumbprint list must contain fewer than 5 entries.");
    // Five are accepted, 40 characters need not be hex, and they are kept lowercase.
    let mut p: Vec<(&str, &str)> = six[..5].iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    p.push(("Url", "https://five.example.com"));
    ok(&iam, "CreateOpenIDConnectProvider", &p).await;
    let upper = "Z".repeat(40);
    let xml = ok(
        &iam,
        "CreateOpenIDConnectProvider",
        &[("Url", "https://z.example.com"), ("ThumbprintList.member.1", &upper)],
    )
    .await;
    let got = ok(
        &iam,
        "GetOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &el(&xml, "OpenIDConnectProviderArn"))],
    )
    .await;
    assert!(got.contains(&"z".repeat(40)), "{got}");
    // A trailing slash makes another provider.
    ok(
        &iam,
        "CreateOpenIDConnectProvider",
        &[("Url", "https://z.example.com/")],
    )
    .await;
    for arn in [
        "arn:aws:iam::111122223333:oidc-provider/five.example.com",
        "arn:aws:iam::111122223333:oidc-provider/z.example.com",
        "arn:aws:iam::111122223333:oidc-provider/z.example.com/",
    ] {
        ok(
            &iam,
            "DeleteOpenIDConnectProvider",
            &[("OpenIDConnectProviderArn", arn)],
        )
        .await;
    }
    let ids: Vec<(String, String)> = (1..=101)
        .map(|i| (format!("ClientIDList.member.{i}"), format!("c{i}")))
        .collect();
    let mut p: Vec<(&str, &str)> = ids.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    p.push(("Url", "https://x.example.com"));
    err(&iam, "CreateOpenIDConnectProvider", &p, ErrorCode::LimitExceeded).await;
    // Gaps in list indices are refused, not guessed at.
    err(
        &iam,
        "CreateOpenIDConnectProvider",
        &[("Url", "https://x.example.com"), ("ClientIDList.member.2", "a")],
        ErrorCode::MalformedQueryString,
    )
    .await;
    err(
        &iam,
        "GetOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", "short")],
        ErrorCode::ValidationError,
    )
    .await;
    assert!(all(&ok(&iam, "ListOpenIDConnectProviders", &[]).await, "Arn").is_empty());
}
