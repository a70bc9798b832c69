//! AssumeRoleWithWebIdentity end to end: a real HTTPS issuer, a store written through
//! irsa_iam's layout, tokens minted by irsa_oidc; then the credentials used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use irsa_aws_query::ErrorCode;
use irsa_oidc::token::sign_claims;
use irsa_oidc::{TokenParams, mint_token};
use irsa_sts::{Caller, Sts};

const S3_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

fn redact(xml: &str, f: &Fixture) -> String {
    let mut out = xml.replace(&f.issuer, "https://ISSUER/id/TEST");
    for tag in ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"] {
        let v = element(&out, tag);
        out = out.replace(&format!("<{tag}>{v}</{tag}>"), &format!("<{tag}>[{tag}]</{tag}>"));
    }
    out.replace("><", ">\n<")
}

#[tokio::test]
async fn success_path_credentials_and_caller_identity() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[("s3", S3_ALL)])
        .await;
    let token = f.token("team-a", "default-editor");
    let xml = f.web_identity("kf-user", &token, &[]).await.unwrap();
    insta::assert_snapshot!(redact(&xml, &f));

    let (akid, secret, session_token) = credentials(&xml);
    assert!(akid.starts_with("ASIA") && akid.len() == 20, "{akid}");
    assert_eq!(secret.len(), 40);
    assert_eq!(
        irsa_iam::ids::account_of_access_key(&akid),
        Some(ACCOUNT.parse::<u64>().unwrap())
    );
    let expiration = element(&xml, "Expiration");
    assert!(expiration.ends_with('Z'));

    // The credentials resolve back to the session.
    let (caller, resolved_secret) = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap();
    assert_eq!(resolved_secret, secret);
    let Caller::Session(s) = &caller else {
        panic!("not a session")
    };
    assert_eq!(s.role_arn, format!("arn:aws:iam::{ACCOUNT}:role/kf-user"));
    assert_eq!(
        s.subject.as_deref(),
        Some("system:serviceaccount:team-a:default-editor")
    );
    assert_eq!(s.provider.as_deref(), Some(f.provider_arn.as_str()));
    assert!(!format!("{s:?}").contains(&secret), "Debug must not print the secret");

    // GetCallerIdentity as that session.
    let who = f.call_as("GetCallerIdentity", &[], Some(&caller)).await.unwrap();
    assert_eq!(
        who,
        format!(
            "<UserId>AROAKFUSER00000000000:app1</UserId><Account>{ACCOUNT}</Account>\
             <Arn>arn:aws:sts::{ACCOUNT}:assumed-role/kf-user/app1</Arn>"
        )
    );
    // The role's identity policy applies to the session.
    f.sts
        .authorize(&caller, "s3:GetObject", "arn:aws:s3:::bucket/key", &info(), now())
        .await
        .unwrap();
    let denied = f
        .sts
        .authorize(&caller, "iam:ListRoles", "*", &info(), now())
        .await
        .unwrap_err();
    assert_eq!(denied.code, ErrorCode::AccessDenied);
    assert!(
        denied.message.starts_with(&format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/kf-user/app1 is not authorized to perform: iam:ListRoles on resource: * (irsa: "
        )),
        "{}",
        denied.message
    );
    // GetCallerIdentity is always allowed.
    f.sts
        .authorize(&caller, "sts:GetCallerIdentity", "*", &info(), now())
        .await
        .unwrap();
}

async fn expect(f: &Fixture, role: &str, token: &str, extra: &[(&str, &str)], code: ErrorCode, message: &str) {
    let err = f.web_identity(role, token, extra).await.unwrap_err();
    assert_eq!(err.code, code, "{}", err.message);
    assert_eq!(err.message, message);
}

async fn expect_prefix(f: &Fixture, role: &str, token: &str, code: ErrorCode, prefix: &str) -> String {
    let err = f.web_identity(role, token, &[]).await.unwrap_err();
    assert_eq!(err.code, code, "{}", err.message);
    assert!(err.message.starts_with(prefix), "{}", err.message);
    assert!(!err.message.contains(token), "the token must never be echoed");
    err.message
}

#[tokio::test]
async fn token_failures_have_aws_codes_and_messages() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;

    // Unknown issuer.
    let other = mint_token(
        &f.key,
        &TokenParams::new("https://oidc.example.com/id/X", "team-a", "default-editor"),
    )
    .unwrap();
    expect(
        &f,
        "kf-user",
        &other,
        &[],
        ErrorCode::InvalidIdentityToken,
        "No OpenIDConnect provider found in your account for https://oidc.example.com/id/X",
    )
    .await;
    // A trailing slash is a different issuer.
    let slash = mint_token(
        &f.key,
        &TokenParams::new(format!("{}/", f.issuer), "team-a", "default-editor"),
    )
    .unwrap();
    expect_prefix(
        &f,
        "kf-user",
        &slash,
        ErrorCode::InvalidIdentityToken,
        "No OpenIDConnect provider found",
    )
    .await;

    // Wrong audience.
    let mut p = TokenParams::new(&f.issuer, "team-a", "default-editor");
    p.audiences = vec!["vault".into()];
    let wrong_aud = mint_token(&f.key, &p).unwrap();
    expect(
        &f,
        "kf-user",
        &wrong_aud,
        &[],
        ErrorCode::InvalidIdentityToken,
        "Incorrect token audience",
    )
    .await;

    // Expired.
    let mut p = TokenParams::new(&f.issuer, "team-a", "default-editor");
    p.issued_at = Some(now() - 7200);
    p.expiration_seconds = 600;
    let expired = mint_token(&f.key, &p).unwrap();
    expect_prefix(
        &f,
        "kf-user",
        &expired,
        ErrorCode::ExpiredTokenException,
        "Token expired: current date/time ",
    )
    .await;

    // Bad signature: the signature of another token.
    let good = f.token("team-a", "default-editor");
    let other_sig = f.token("team-a", "other");
    let forged = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other_sig.rsplit_once('.').unwrap().1
    );
    expect_prefix(
        &f,
        "kf-user",
        &forged,
        ErrorCode::InvalidIdentityToken,
        "invalid signature",
    )
    .await;

    // Signed by a key the issuer does not publish.
    let stranger = irsa_oidc::SigningKey::generate(irsa_oidc::KeySpec::Rsa(2048)).unwrap();
    let foreign = mint_token(&stranger, &TokenParams::new(&f.issuer, "team-a", "default-editor")).unwrap();
    expect_prefix(
        &f,
        "kf-user",
        &foreign,
        ErrorCode::InvalidIdentityToken,
        "no key with kid",
    )
    .await;

    // alg none.
    let payload = good.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let msg = expect_prefix(&f, "kf-user", &none, ErrorCode::InvalidIdentityToken, "malformed token").await;
    assert!(msg.contains("unsigned"), "{msg}");
    // alg none with something in the signature place.
    let none = format!(
        "{}.{payload}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let msg = expect_prefix(&f, "kf-user", &none, ErrorCode::InvalidIdentityToken, "").await;
    assert!(msg.contains("`none`"), "{msg}");
    // HS256 (a shared secret) is not accepted either.
    let hs = format!(
        "{}.{payload}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#)
    );
    let msg = expect_prefix(&f, "kf-user", &hs, ErrorCode::InvalidIdentityToken, "").await;
    assert!(msg.contains("HS256"), "{msg}");

    // Not a JWT at all.
    expect_prefix(
        &f,
        "kf-user",
        "not-a-token",
        ErrorCode::InvalidIdentityToken,
        "malformed token",
    )
    .await;

    // Missing aud.
    let no_aud = sign_claims(
        &f.key,
        &serde_json::json!({"iss": f.issuer, "sub": "x", "exp": now() + 600, "iat": now()}),
    )
    .unwrap();
    expect(
        &f,
        "kf-user",
        &no_aud,
        &[],
        ErrorCode::InvalidIdentityToken,
        "Missing a required claim: aud",
    )
    .await;
}

#[tokio::test]
async fn roles_and_trust() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let token = f.token("team-a", "default-editor");

    // A missing role is AccessDenied, exactly like a trust policy that says no.
    let missing = f.web_identity("no-such-role", &token, &[]).await.unwrap_err();
    assert_eq!(missing.code, ErrorCode::AccessDenied);
    assert!(
        missing
            .message
            .starts_with("Not authorized to perform sts:AssumeRoleWithWebIdentity (irsa: ")
    );

    // Tenant isolation: team-b's token cannot assume team-a's role, and is told why.
    let team_b = f.token("team-b", "default-editor");
    let denied = f.web_identity("kf-user", &team_b, &[]).await.unwrap_err();
    assert_eq!(denied.code, ErrorCode::AccessDenied);
    assert_eq!(denied.status(), 403);
    assert!(
        denied
            .message
            .starts_with("Not authorized to perform sts:AssumeRoleWithWebIdentity (irsa: "),
        "{}",
        denied.message
    );
    assert!(denied.message.ends_with(')'));

    // Another account's role ARN: the provider is not in that account.
    let err = f
        .call(
            "AssumeRoleWithWebIdentity",
            &[
                ("RoleArn", "arn:aws:iam::444455556666:role/kf-user"),
                ("RoleSessionName", "app1"),
                ("WebIdentityToken", &token),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidIdentityToken);
    assert!(
        err.message
            .starts_with("No OpenIDConnect provider found in your account for")
    );

    // Revoked sessions: the role's sessions_revoked_before.
    let xml = f.web_identity("kf-user", &token, &[]).await.unwrap();
    let (akid, _, session_token) = credentials(&xml);
    let (mut role, _) = irsa_iam::layout::get_role(&f.store, "kf-user").await.unwrap().unwrap();
    role.sessions_revoked_before = Some(now() + 1);
    f.save_role(&role).await;
    let err = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ExpiredToken);
}

#[tokio::test]
async fn parameter_validation() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let token = f.token("team-a", "default-editor");

    let err = f
        .call(
            "AssumeRoleWithWebIdentity",
            &[
                ("RoleArn", "nothing-valid-in-here"),
                ("RoleSessionName", "app1"),
                ("WebIdentityToken", &token),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert_eq!(err.message, "nothing-valid-in-here is invalid");

    let err = f
        .call(
            "AssumeRoleWithWebIdentity",
            &[
                ("RoleArn", &format!("arn:aws:iam::{ACCOUNT}:role/kf-user")),
                ("RoleSessionName", "Session1:2"),
                ("WebIdentityToken", &token),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "1 validation error detected: Value 'Session1:2' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    );

    expect(
        &f,
        "kf-user",
        &token,
        &[("DurationSeconds", "600")],
        ErrorCode::ValidationError,
        "1 validation error detected: Value '600' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
    )
    .await;
    expect(
        &f,
        "kf-user",
        &token,
        &[("DurationSeconds", "7200")],
        ErrorCode::ValidationError,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )
    .await;

    let err = f
        .web_identity(
            "kf-user",
            &token,
            &[(
                "Policy",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",}]}"#,
            )],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::MalformedPolicyDocument, "{}", err.message);

    let arns: Vec<(String, String)> = (1..=11)
        .map(|i| {
            (
                format!("PolicyArns.member.{i}.arn"),
                format!("arn:aws:iam::{ACCOUNT}:policy/p{i}"),
            )
        })
        .collect();
    let extra: Vec<(&str, &str)> = arns.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let err = f.web_identity("kf-user", &token, &extra).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert!(
        err.message
            .contains("at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10"),
        "{}",
        err.message
    );

    // A policy ARN that does not exist.
    let err = f
        .web_identity(
            "kf-user",
            &token,
            &[(
                "PolicyArns.member.1.arn",
                &format!("arn:aws:iam::{ACCOUNT}:policy/nope"),
            )],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);

    // A token over 20,000 characters: the message does not echo it.
    let huge = format!("{token}{}", "A".repeat(20_001 - token.len()));
    let err = f.web_identity("kf-user", &huge, &[]).await.unwrap_err();
    assert_eq!(
        err.message,
        "1 validation error detected: Value '*** Sensitive Data Redacted ***' at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000"
    );

    let err = f
        .web_identity("kf-user", &token, &[("ProviderId", "www.amazon.com")])
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);

    let err = f
        .call("AssumeRoleWithWebIdentity", &[("RoleSessionName", "app1")])
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert!(
        err.message
            .starts_with("2 validation errors detected: Value null at 'roleArn'"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn session_policies_intersect_with_the_role() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[("s3", S3_ALL)])
        .await;
    let read_only = f
        .managed_policy(
            "ReadOnly",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","iam:*"],"Resource":"*"}]}"#,
        )
        .await;
    let token = f.token("team-a", "default-editor");
    let inline = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::kubeflow/*"}]}"#;
    let xml = f
        .web_identity(
            "kf-user",
            &token,
            &[("Policy", inline), ("PolicyArns.member.1.arn", read_only.as_str())],
        )
        .await
        .unwrap();
    let packed: usize = element(&xml, "PackedPolicySize").parse().unwrap();
    assert!(packed > 0 && packed <= 100);
    let (akid, _, session_token) = credentials(&xml);
    let (caller, _) = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap();
    let auth = |action: &'static str, resource: &'static str| {
        let caller = caller.clone();
        let f = &f;
        async move { f.sts.authorize(&caller, action, resource, &info(), now()).await }
    };
    // Both the role and both session policies allow it.
    auth("s3:GetObject", "arn:aws:s3:::kubeflow/a").await.unwrap();
    // The role allows s3:PutObject; the session policies do not.
    let e = auth("s3:PutObject", "arn:aws:s3:::kubeflow/a").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied);
    assert!(e.message.contains("(irsa: "), "{}", e.message);
    // The managed session policy allows iam:*; the role does not: session policies never grant.
    auth("iam:ListRoles", "*").await.unwrap_err();
}

#[tokio::test]
async fn session_tokens_tampered_or_expired() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let token = f.token("team-a", "default-editor");
    let xml = f
        .web_identity("kf-user", &token, &[("DurationSeconds", "900")])
        .await
        .unwrap();
    let (akid, _, session_token) = credentials(&xml);

    // Tampered: flip one character in the middle.
    let mut bytes = session_token.clone().into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let e = f.sts.resolve(&akid, Some(&tampered), now()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidClientTokenId);
    assert_eq!(e.message, "The security token included in the request is invalid.");
    // Another key id with this token.
    let other = format!("ASIA{}", "A".repeat(16));
    assert_eq!(
        f.sts
            .resolve(&other, Some(&session_token), now())
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidClientTokenId
    );
    // No token.
    assert_eq!(
        f.sts.resolve(&akid, None, now()).await.unwrap_err().code,
        ErrorCode::InvalidClientTokenId
    );
    // Garbage.
    assert_eq!(
        f.sts.resolve(&akid, Some("garbage"), now()).await.unwrap_err().code,
        ErrorCode::InvalidClientTokenId
    );
    // Expired.
    let e = f
        .sts
        .resolve(&akid, Some(&session_token), now() + 901)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ExpiredToken);
    assert_eq!(e.message, "The security token included in the request is expired");
    assert_eq!(e.status(), 403);
    // Unknown long-term key.
    assert_eq!(
        f.sts
            .resolve("AKIAAAAAAAAAAAAAAAAA", None, now())
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidClientTokenId
    );
}

#[tokio::test]
async fn key_ring_and_root_key_persist_across_opens() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let xml = f
        .web_identity("kf-user", &f.token("team-a", "default-editor"), &[])
        .await
        .unwrap();
    let (akid, secret, session_token) = credentials(&xml);
    let (root_id, root_secret) = f.sts.root_credentials();
    assert!(root_id.starts_with("AKIA"));
    assert_eq!(root_secret.len(), 40);

    let again = Sts::open(f.store.clone(), f.config.clone()).await.unwrap();
    assert_eq!(again.root_credentials(), (root_id.clone(), root_secret.clone()));
    let (_, s) = again.resolve(&akid, Some(&session_token), now()).await.unwrap();
    assert_eq!(s, secret);
    let (root, s) = again.resolve(&root_id, None, now()).await.unwrap();
    assert_eq!(s, root_secret);
    assert_eq!(
        root,
        Caller::Root {
            account: ACCOUNT.into(),
            access_key_id: root_id.clone()
        }
    );
    let who = again
        .handle(
            "GetCallerIdentity",
            &query("GetCallerIdentity", &[]),
            Some(&root),
            &info(),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        who,
        format!("<UserId>{ACCOUNT}</UserId><Account>{ACCOUNT}</Account><Arn>arn:aws:iam::{ACCOUNT}:root</Arn>")
    );

    // A configured root key replaces the generated one.
    let mut config = f.config.clone();
    config.root_access_key = Some((
        "AKIAIOSFODNN7EXAMPLE".into(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
    ));
    let third = Sts::open(f.store.clone(), config.clone()).await.unwrap();
    assert_eq!(third.root_credentials().0, "AKIAIOSFODNN7EXAMPLE");
    let fourth = Sts::open(f.store.clone(), StsConfig::new(ACCOUNT)).await.unwrap();
    assert_eq!(fourth.root_credentials().0, "AKIAIOSFODNN7EXAMPLE");
    assert!(fourth.resolve(&root_id, None, now()).await.is_err());
}

use irsa_sts::StsConfig;

#[tokio::test]
async fn session_tags_and_source_identity_from_the_token() {
    let f = Fixture::new().await;
    let claims = |ns: &str| {
        serde_json::json!({
            "iss": f.issuer, "sub": format!("system:serviceaccount:{ns}:default-editor"),
            "aud": ["sts.amazonaws.com"], "exp": now() + 600, "iat": now(),
            "amr": ["pwd", "mfa"],
            "https://aws.amazon.com/tags": {
                "principal_tags": {"kubeflow-namespace": [ns]},
                "transitive_tag_keys": ["kubeflow-namespace"]
            },
            "https://aws.amazon.com/source_identity": "alice"
        })
    };
    let token = sign_claims(&f.key, &claims("team-a")).unwrap();
    // Trust without sts:TagSession: refused, and the message names the action.
    f.role("no-tags", &f.trust("team-a", "default-editor"), &[]).await;
    let e = f.web_identity("no-tags", &token, &[]).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied);
    assert!(
        e.message
            .starts_with("Not authorized to perform sts:TagSession (irsa: "),
        "{}",
        e.message
    );

    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{}"}},"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession","sts:SetSourceIdentity"],"Condition":{{"StringEquals":{{"{p}:sub":"system:serviceaccount:team-a:default-editor"}},"ForAnyValue:StringEquals":{{"{p}:amr":"mfa"}}}}}}]}}"#,
        f.provider_arn,
        p = f.prefix
    );
    let home = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::kf/home/${aws:PrincipalTag/kubeflow-namespace}/*"}]}"#;
    f.role("tagged", &trust, &[("home", home)]).await;
    let xml = f.web_identity("tagged", &token, &[]).await.unwrap();
    assert_eq!(element(&xml, "SourceIdentity"), "alice");
    let (akid, _, session_token) = credentials(&xml);
    let (caller, _) = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap();
    f.sts
        .authorize(
            &caller,
            "s3:GetObject",
            "arn:aws:s3:::kf/home/team-a/model.pt",
            &info(),
            now(),
        )
        .await
        .unwrap();
    let e = f
        .sts
        .authorize(
            &caller,
            "s3:GetObject",
            "arn:aws:s3:::kf/home/team-b/model.pt",
            &info(),
            now(),
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("irsa: "), "{}", e.message);

    // Role chaining: tags and source identity carry over; the duration is capped at one hour.
    let chained_trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/tagged"}},"Action":["sts:AssumeRole","sts:TagSession"]}}]}}"#
    );
    let mut next = f.role("next", &chained_trust, &[("home", home)]).await;
    next.max_session_duration = 43200;
    f.save_role(&next).await;
    // The caller's role must allow sts:AssumeRole on it? No: a trust policy naming the role
    // grants directly within the session's limits.
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/next");
    let e = f
        .call_as(
            "AssumeRole",
            &[
                ("RoleArn", arn.as_str()),
                ("RoleSessionName", "hop"),
                ("DurationSeconds", "7200"),
            ],
            Some(&caller),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    );
    let xml = f
        .call_as(
            "AssumeRole",
            &[("RoleArn", arn.as_str()), ("RoleSessionName", "hop")],
            Some(&caller),
        )
        .await
        .unwrap();
    assert_eq!(
        element(&xml, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/next/hop")
    );
    let (akid, _, session_token) = credentials(&xml);
    let (hop, _) = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap();
    let Caller::Session(s) = &hop else { panic!() };
    assert!(s.chained);
    assert_eq!(s.source_identity.as_deref(), Some("alice"));
    assert_eq!(s.tag("kubeflow-namespace"), Some("team-a"));
    f.sts
        .authorize(&hop, "s3:GetObject", "arn:aws:s3:::kf/home/team-a/x", &info(), now())
        .await
        .unwrap();
    // A transitive key cannot be overridden down the chain.
    let e = f
        .call_as(
            "AssumeRole",
            &[
                ("RoleArn", arn.as_str()),
                ("RoleSessionName", "hop"),
                ("Tags.member.1.Key", "kubeflow-namespace"),
                ("Tags.member.1.Value", "team-b"),
            ],
            Some(&caller),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterValue);
}

#[tokio::test]
async fn assume_role_as_root_and_unsigned() {
    let f = Fixture::new().await;
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    f.role("admin", &trust, &[("s3", S3_ALL)]).await;
    f.role("web-only", &f.trust("team-a", "default-editor"), &[]).await;
    let (root_id, _) = f.sts.root_credentials();
    let (root, _) = f.sts.resolve(&root_id, None, now()).await.unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/admin");
    let xml = f
        .call_as(
            "AssumeRole",
            &[("RoleArn", arn.as_str()), ("RoleSessionName", "ops")],
            Some(&root),
        )
        .await
        .unwrap();
    assert_eq!(element(&xml, "AssumedRoleId"), "AROAADMIN000000000000:ops");
    let (akid, _, session_token) = credentials(&xml);
    let (admin, _) = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap();
    let Caller::Session(s) = &admin else { panic!() };
    assert!(!s.chained);

    // A role whose trust only names the web identity provider refuses root.
    let web = format!("arn:aws:iam::{ACCOUNT}:role/web-only");
    let e = f
        .call_as(
            "AssumeRole",
            &[("RoleArn", web.as_str()), ("RoleSessionName", "ops")],
            Some(&root),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied);
    assert!(
        e.message.starts_with(&format!(
            "User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: sts:AssumeRole on resource: {web} (irsa: "
        )),
        "{}",
        e.message
    );
    // Signed actions need a caller.
    let e = f
        .call("AssumeRole", &[("RoleArn", arn.as_str()), ("RoleSessionName", "ops")])
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);
    let e = f.call("GetCallerIdentity", &[]).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);
    let e = f.call("GetSessionToken", &[]).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidAction);
}

#[tokio::test]
async fn issuer_outage_is_idp_communication_error() {
    let f = Fixture::new().await;
    // A provider whose issuer does not answer (nothing listens on the port).
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let prefix = format!("127.0.0.1:{port}");
    let issuer = format!("https://{prefix}");
    let provider_arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{prefix}");
    let provider = irsa_iam::OidcProvider {
        url: prefix.clone(),
        arn: provider_arn.clone(),
        client_ids: vec![AUD.to_owned()],
        thumbprints: vec![],
        tags: vec![],
        create_date: 0,
    };
    put(
        &f.store,
        &irsa_iam::layout::oidc_provider_key(&prefix),
        &serde_json::to_vec(&provider).unwrap(),
    )
    .await;
    f.role(
        "down",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{provider_arn}"}},"Action":"sts:AssumeRoleWithWebIdentity"}}]}}"#
        ),
        &[],
    )
    .await;
    let token = mint_token(&f.key, &TokenParams::new(&issuer, "team-a", "default-editor")).unwrap();
    let e = f.web_identity("down", &token, &[]).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::IdpCommunicationError, "{}", e.message);
    assert!(
        e.message.starts_with(irsa_sts::errors::KEY_RETRIEVAL_MESSAGE),
        "{}",
        e.message
    );

    // Adding a client id to the provider is seen at the next call (no restart).
    let mut p = TokenParams::new(&f.issuer, "team-a", "default-editor");
    p.audiences = vec!["vault".into()];
    let vault = mint_token(&f.key, &p).unwrap();
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let e = f.web_identity("kf-user", &vault, &[]).await.unwrap_err();
    assert_eq!(e.message, "Incorrect token audience");
    let key = irsa_iam::layout::oidc_provider_key(&f.prefix);
    let (mut provider, _) = {
        let e = irsa_store::Store::get(&f.store, &key).await.unwrap().unwrap();
        (
            serde_json::from_slice::<irsa_iam::OidcProvider>(&e.value).unwrap(),
            e.revision,
        )
    };
    provider.client_ids.push("vault".into());
    put(&f.store, &key, &serde_json::to_vec(&provider).unwrap()).await;
    // Now the audience is accepted; the trust policy's aud condition still says no.
    let e = f.web_identity("kf-user", &vault, &[]).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied, "{}", e.message);
}

/// Signs a request the way SDKs do, with irsa_sigv4's own key derivation: parse with a
/// placeholder signature, sign the string to sign, put the signature in.
fn signed_authorization(
    verifier: &irsa_sigv4::Verifier,
    akid: &str,
    secret: &str,
    token: Option<&str>,
    amz_date: &str,
    body: &[u8],
    at: std::time::SystemTime,
) -> String {
    let date = &amz_date[..8];
    let signed_headers = if token.is_some() {
        "host;x-amz-date;x-amz-security-token"
    } else {
        "host;x-amz-date"
    };
    let placeholder = format!(
        "AWS4-HMAC-SHA256 Credential={akid}/{date}/us-east-1/sts/aws4_request, SignedHeaders={signed_headers}, Signature=00"
    );
    let mut req = irsa_sigv4::Request::new("POST", "/")
        .header("Host", "sts.irsa.test")
        .header("X-Amz-Date", amz_date)
        .header("Authorization", placeholder.as_str())
        .body(body);
    if let Some(t) = token {
        req = req.header("X-Amz-Security-Token", t);
    }
    let auth = verifier.parse(&req, at).unwrap();
    let (_, string_to_sign) = auth.canonical_request_and_string_to_sign().unwrap();
    let key = irsa_sigv4::SigningKey::derive(secret, &irsa_sigv4::Scope::new(date, "us-east-1", "sts"));
    placeholder.replace("Signature=00", &format!("Signature={}", key.sign(&string_to_sign)))
}

#[tokio::test]
async fn sigv4_authentication_with_session_credentials() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let xml = f
        .web_identity("kf-user", &f.token("team-a", "default-editor"), &[])
        .await
        .unwrap();
    let (akid, secret, session_token) = credentials(&xml);
    let verifier = irsa_sigv4::Verifier::new(["sts"]);
    let t = now();
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64);
    let amz_date = irsa_sigv4::AmzDate::from_unix_seconds(t).to_string();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let authz = signed_authorization(&verifier, &akid, &secret, Some(&session_token), &amz_date, body, at);
    let req = irsa_sigv4::Request::new("POST", "/")
        .header("Host", "sts.irsa.test")
        .header("X-Amz-Date", amz_date.as_str())
        .header("X-Amz-Security-Token", session_token.as_str())
        .header("Authorization", authz.as_str())
        .body(body);
    let (caller, _) = f.sts.authenticate(&verifier, &req, at).await.unwrap();
    assert_eq!(
        caller.arn("aws"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/kf-user/app1")
    );

    // The wrong secret: SignatureDoesNotMatch.
    let bad = signed_authorization(
        &verifier,
        &akid,
        &"x".repeat(40),
        Some(&session_token),
        &amz_date,
        body,
        at,
    );
    let req = irsa_sigv4::Request::new("POST", "/")
        .header("Host", "sts.irsa.test")
        .header("X-Amz-Date", amz_date.as_str())
        .header("X-Amz-Security-Token", session_token.as_str())
        .header("Authorization", bad.as_str())
        .body(body);
    let e = f.sts.authenticate(&verifier, &req, at).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);

    // The root key signs without a token.
    let (root_id, root_secret) = f.sts.root_credentials();
    let authz = signed_authorization(&verifier, &root_id, &root_secret, None, &amz_date, body, at);
    let req = irsa_sigv4::Request::new("POST", "/")
        .header("Host", "sts.irsa.test")
        .header("X-Amz-Date", amz_date.as_str())
        .header("Authorization", authz.as_str())
        .body(body);
    let (caller, _) = f.sts.authenticate(&verifier, &req, at).await.unwrap();
    assert!(matches!(caller, Caller::Root { .. }));

    // Unsigned: MissingAuthenticationToken.
    let req = irsa_sigv4::Request::new("POST", "/")
        .header("Host", "sts.irsa.test")
        .body(body);
    let e = f.sts.authenticate(&verifier, &req, at).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);
}

#[tokio::test]
async fn bare_aws_messages_when_explanations_are_off() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let mut config = f.config.clone();
    config.explain_denials = false;
    let strict = Sts::open(f.store.clone(), config).await.unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/kf-user");
    for role in [arn.clone(), format!("arn:aws:iam::{ACCOUNT}:role/missing")] {
        let team_b = f.token("team-b", "default-editor");
        let q = query(
            "AssumeRoleWithWebIdentity",
            &[
                ("RoleArn", role.as_str()),
                ("RoleSessionName", "s1"),
                ("WebIdentityToken", &team_b),
            ],
        );
        let e = strict
            .handle("AssumeRoleWithWebIdentity", &q, None, &info(), now())
            .await
            .unwrap_err();
        // A missing role and a trust policy that says no are indistinguishable.
        assert_eq!(e.code, ErrorCode::AccessDenied);
        assert_eq!(e.message, "Not authorized to perform sts:AssumeRoleWithWebIdentity");
    }
}

#[tokio::test]
async fn futures_are_send_for_the_server() {
    fn send<T: Send>(t: T) -> T {
        t
    }
    fn send_sync<T: Send + Sync>(_: &T) {}
    let f = Fixture::new().await;
    send_sync(&f.sts);
    let q = query("GetCallerIdentity", &[]);
    let info = info();
    let e = send(f.sts.handle("GetCallerIdentity", &q, None, &info, now())).await;
    assert!(e.is_err());
    let e = send(f.sts.resolve("AKIA", None, now())).await;
    assert!(e.is_err());
    let root = Caller::Root {
        account: ACCOUNT.into(),
        access_key_id: "AKIAX".into(),
    };
    send(f.sts.authorize(&root, "iam:ListRoles", "*", &info, now()))
        .await
        .unwrap();
}

#[tokio::test]
async fn permissions_boundary_limits_the_session_and_fails_closed() {
    let f = Fixture::new().await;
    let boundary = f
        .managed_policy(
            "Boundary",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .await;
    let mut role = f
        .role("bounded", &f.trust("team-a", "default-editor"), &[("s3", S3_ALL)])
        .await;
    role.permissions_boundary = Some(boundary.clone());
    f.save_role(&role).await;
    let xml = f
        .web_identity("bounded", &f.token("team-a", "default-editor"), &[])
        .await
        .unwrap();
    let (akid, _, session_token) = credentials(&xml);
    let (caller, _) = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap();
    f.sts
        .authorize(&caller, "s3:GetObject", "arn:aws:s3:::b/k", &info(), now())
        .await
        .unwrap();
    let e = f
        .sts
        .authorize(&caller, "s3:PutObject", "arn:aws:s3:::b/k", &info(), now())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied);
    // The boundary policy disappears: nothing is allowed rather than everything.
    role.permissions_boundary = Some(format!("arn:aws:iam::{ACCOUNT}:policy/Gone"));
    f.save_role(&role).await;
    let e = f
        .sts
        .authorize(&caller, "s3:GetObject", "arn:aws:s3:::b/k", &info(), now())
        .await
        .unwrap_err();
    assert!(e.message.contains("boundary"), "{}", e.message);
    // The role is deleted and re-created under the same name: old sessions are not its own.
    role.permissions_boundary = None;
    role.id = "AROANEWROLE0000000000".into();
    f.save_role(&role).await;
    let e = f.sts.resolve(&akid, Some(&session_token), now()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidClientTokenId);
}

#[test]
fn resolve_and_web_identity_never_panic_on_garbage() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(Fixture::new());
    rt.block_on(f.role("kf-user", &f.trust("team-a", "default-editor"), &[]));
    let xml = rt
        .block_on(f.web_identity("kf-user", &f.token("team-a", "default-editor"), &[]))
        .unwrap();
    let (akid, _, session_token) = credentials(&xml);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let strategy = (
        prop_oneof![Just(akid.clone()), "[A-Z0-9]{0,24}", Just("AKIA".to_owned())],
        prop_oneof![
            Just(None),
            "\\PC{0,64}".prop_map(Some),
            (0..session_token.len(), any::<u8>()).prop_map(|(i, b)| {
                let mut t = session_token.clone().into_bytes();
                t[i] = b'A' + b % 26;
                Some(String::from_utf8_lossy(&t).into_owned())
            }),
        ],
        "\\PC{0,64}",
    );
    runner
        .run(&strategy, |(key, token, garbage)| {
            let r = rt.block_on(f.sts.resolve(&key, token.as_deref(), now()));
            if let Err(e) = &r {
                prop_assert!(matches!(
                    e.code,
                    ErrorCode::InvalidClientTokenId | ErrorCode::ExpiredToken
                ));
            }
            let w = rt.block_on(f.web_identity("kf-user", &garbage, &[]));
            prop_assert!(w.is_err());
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn session_key_rotation() {
    let f = Fixture::new().await;
    f.role("kf-user", &f.trust("team-a", "default-editor"), &[]).await;
    let token = f.token("team-a", "default-editor");
    let (old_akid, _, old_token) = credentials(&f.web_identity("kf-user", &token, &[]).await.unwrap());
    let stale = Sts::open(f.store.clone(), f.config.clone()).await.unwrap();

    let t = now();
    assert_eq!(f.sts.rotate_session_key(t).await.unwrap(), 2);
    let (new_akid, _, new_token) = credentials(&f.web_identity("kf-user", &token, &[]).await.unwrap());
    // Old and new credentials both work here.
    f.sts.resolve(&old_akid, Some(&old_token), now()).await.unwrap();
    f.sts.resolve(&new_akid, Some(&new_token), now()).await.unwrap();
    // A replica opened before the rotation knows the new key only after reloading.
    assert_eq!(
        stale
            .resolve(&new_akid, Some(&new_token), now())
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidClientTokenId
    );
    stale.reload_key_ring().await.unwrap();
    stale.resolve(&new_akid, Some(&new_token), now()).await.unwrap();

    // Much later, the first key can no longer have live tokens and is dropped.
    assert_eq!(f.sts.rotate_session_key(t + 50_000).await.unwrap(), 3);
    assert_eq!(
        f.sts
            .resolve(&old_akid, Some(&old_token), now())
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidClientTokenId
    );
    f.sts.resolve(&new_akid, Some(&new_token), now()).await.unwrap();
    let ring: Vec<irsa_sts::token::RingKey> = serde_json::from_slice(
        &irsa_store::Store::get(&f.store, irsa_iam::layout::SESSION_KEY_RING)
            .await
            .unwrap()
            .unwrap()
            .value,
    )
    .unwrap();
    assert_eq!(ring.iter().map(|k| k.id).collect::<Vec<_>>(), vec![2, 3]);
}
