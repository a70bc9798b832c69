//! The verifier against a real in-process HTTPS issuer (own CA): caching, rotation, outage,
//! slow and oversized responses, redirects, TLS and scheme rules, single-flight; and the
//! crate's own `serve` router end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{AUD, Pki, PkiExt as _, Reply, TestServer, fast_policy, fetch_options, verifier, verifier_with};
use irsa_oidc::CachePolicy;
use irsa_oidc::{Curve, IssuerDocuments, KeySpec, SigningKey, StsErrorCode, TokenParams, VerifyError, mint_token};

fn token(key: &SigningKey, issuer: &str) -> String {
    mint_token(key, &TokenParams::new(issuer, "default", "app")).unwrap()
}

fn rsa() -> SigningKey {
    SigningKey::generate(KeySpec::Rsa(2048)).unwrap()
}

async fn https() -> (Pki, TestServer) {
    let pki = Pki::new();
    let server = TestServer::start(Some(pki.server_config())).await;
    (pki, server)
}

#[tokio::test]
async fn verifies_and_caches() {
    let (pki, server) = https().await;
    let rsa = rsa();
    let ec = SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap();
    server.publish(
        &[rsa.public_key().clone(), ec.public_key().clone()],
        Some("public, max-age=3600"),
    );
    let v = verifier(&server.base, &pki, fast_policy());
    let warmed = v.prefetch().await;
    assert_eq!(warmed.len(), 1);
    assert_eq!(warmed[0].1.as_ref().ok(), Some(&2));
    for _ in 0..20 {
        let ok = v.verify(&token(&rsa, &server.base)).await.unwrap();
        assert_eq!(ok.kid, rsa.kid());
        assert_eq!(ok.audience, AUD);
        assert_eq!(ok.claims.sub.as_deref(), Some("system:serviceaccount:default:app"));
        v.verify(&token(&ec, &server.base)).await.unwrap();
    }
    assert_eq!(server.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/openid/v1/jwks"), 1);
}

#[tokio::test]
async fn max_age_is_honoured_within_bounds() {
    let (pki, server) = https().await;
    let key = rsa();
    // max-age=0 is raised to min_ttl (1 s)
    server.publish(&[key.public_key().clone()], Some("max-age=0"));
    let v = verifier(
        &server.base,
        &pki,
        CachePolicy {
            min_ttl: Duration::from_secs(1),
            ..fast_policy()
        },
    );
    let t = token(&key, &server.base);
    v.verify(&t).await.unwrap();
    v.verify(&t).await.unwrap();
    assert_eq!(server.hits("/openid/v1/jwks"), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.verify(&t).await.unwrap();
    assert_eq!(server.hits("/openid/v1/jwks"), 2);
}

#[tokio::test]
async fn rotation_unknown_kid_refreshes_once_then_rate_limits() {
    let (pki, server) = https().await;
    let old = rsa();
    let new = rsa();
    server.publish(&[old.public_key().clone()], Some("max-age=3600"));
    let v = verifier(
        &server.base,
        &pki,
        CachePolicy {
            refresh_interval: Duration::from_secs(1),
            ..fast_policy()
        },
    );
    v.verify(&token(&old, &server.base)).await.unwrap();

    // the cluster rotates: publishes both keys, signs with the new one
    server.publish(
        &[new.public_key().clone(), old.public_key().clone()],
        Some("max-age=3600"),
    );
    // right after the first fetch, a refresh is rate-limited
    let e = v.verify(&token(&new, &server.base)).await.unwrap_err();
    assert!(matches!(e, VerifyError::UnknownKid { .. }), "{e}");
    assert_eq!(e.sts_error_code(), StsErrorCode::InvalidIdentityToken);
    assert!(e.to_string().contains(new.kid()), "{e}");
    assert_eq!(server.hits("/openid/v1/jwks"), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.verify(&token(&new, &server.base)).await.unwrap();
    v.verify(&token(&old, &server.base)).await.unwrap();
    assert_eq!(server.hits("/openid/v1/jwks"), 2);
}

#[tokio::test]
async fn forged_kids_do_not_cause_a_fetch_storm() {
    let (pki, server) = https().await;
    let key = rsa();
    server.publish(&[key.public_key().clone()], Some("max-age=3600"));
    let v = Arc::new(verifier(
        &server.base,
        &pki,
        CachePolicy {
            refresh_interval: Duration::from_secs(10),
            ..fast_policy()
        },
    ));
    v.verify(&token(&key, &server.base)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let attacker = SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap();
        let t = token(&attacker, &server.base);
        let v = Arc::clone(&v);
        tasks.push(tokio::spawn(async move { v.verify(&t).await }));
    }
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, VerifyError::UnknownKid { .. }), "{e}");
    }
    // at most one refresh per refresh interval
    assert!(
        server.hits("/openid/v1/jwks") <= 2,
        "{}",
        server.hits("/openid/v1/jwks")
    );
}

#[tokio::test]
async fn outage_serves_stale_keys_then_reports_idp_communication_error() {
    let (pki, server) = https().await;
    let key = rsa();
    server.publish(&[key.public_key().clone()], Some("max-age=0"));
    let v = verifier(
        &server.base,
        &pki,
        CachePolicy {
            max_stale: Duration::from_millis(1500),
            ..fast_policy()
        },
    );
    let t = token(&key, &server.base);
    v.verify(&t).await.unwrap();

    server.set_down(true);
    // keys expired (300 ms) but within max_stale (1.5 s more): served stale
    tokio::time::sleep(Duration::from_millis(400)).await;
    v.verify(&t).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    v.verify(&t).await.unwrap();

    // past fresh + max_stale: the outage becomes visible
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let e = v.verify(&t).await.unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError, "{e}");
    assert!(!e.to_string().contains(&t), "message leaks the token");

    // recovery after the failure backoff
    server.set_down(false);
    tokio::time::sleep(Duration::from_millis(150)).await;
    v.verify(&t).await.unwrap();
}

#[tokio::test]
async fn cold_failures_map_to_sts_codes() {
    let (pki, server) = https().await;
    let key = rsa();
    let t = token(&key, &server.base);

    server.set("/.well-known/openid-configuration", Reply::Status(503));
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&t)
        .await
        .unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError, "{e}");

    server.set("/.well-known/openid-configuration", Reply::Status(404));
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&t)
        .await
        .unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::InvalidIdentityToken, "{e}");
    assert!(e.to_string().contains("404"), "{e}");

    server.set(
        "/.well-known/openid-configuration",
        Reply::Body {
            body: b"<html>not json</html>".to_vec(),
            cache_control: None,
        },
    );
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&t)
        .await
        .unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::InvalidIdentityToken, "{e}");

    server.set("/.well-known/openid-configuration", Reply::Close);
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&t)
        .await
        .unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError, "{e}");
}

#[tokio::test]
async fn failed_fetches_back_off() {
    let (pki, server) = https().await;
    let key = rsa();
    server.set("/.well-known/openid-configuration", Reply::Status(500));
    let v = verifier(
        &server.base,
        &pki,
        CachePolicy {
            failure_backoff: Duration::from_secs(10),
            ..fast_policy()
        },
    );
    let t = token(&key, &server.base);
    for _ in 0..10 {
        let e = v.verify(&t).await.unwrap_err();
        assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError);
    }
    assert_eq!(server.hits("/.well-known/openid-configuration"), 1);
}

#[tokio::test]
async fn slow_issuer_times_out() {
    let (pki, server) = https().await;
    let key = rsa();
    server.publish_discovery(&server.base);
    server.set(
        "/openid/v1/jwks",
        Reply::Slow {
            delay: Duration::from_secs(3),
            body: irsa_oidc::JwkSet::from_keys([key.public_key()]).to_json().into_bytes(),
        },
    );
    let v = verifier(&server.base, &pki, fast_policy());
    let start = Instant::now();
    let e = v.verify(&token(&key, &server.base)).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError, "{e}");
}

#[tokio::test]
async fn drip_fed_body_times_out() {
    let (pki, server) = https().await;
    let key = rsa();
    server.publish_discovery(&server.base);
    server.set(
        "/openid/v1/jwks",
        Reply::Drip {
            chunk: b" ".to_vec(),
            interval: Duration::from_millis(100),
            count: 100,
        },
    );
    let v = verifier(&server.base, &pki, fast_policy());
    let start = Instant::now();
    let e = v.verify(&token(&key, &server.base)).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError, "{e}");
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let (pki, server) = https().await;
    let key = rsa();
    server.publish_discovery(&server.base);
    // a declared huge length is refused before reading
    server.set("/openid/v1/jwks", Reply::HugeLength);
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&token(&key, &server.base))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, VerifyError::KeyFetch(irsa_oidc::FetchError::TooLarge { .. })),
        "{e}"
    );
    assert_eq!(e.sts_error_code(), StsErrorCode::InvalidIdentityToken);

    // an undeclared length is cut off while streaming
    server.set(
        "/openid/v1/jwks",
        Reply::Drip {
            chunk: vec![b' '; 64 * 1024],
            interval: Duration::from_millis(1),
            count: 10,
        },
    );
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&token(&key, &server.base))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, VerifyError::KeyFetch(irsa_oidc::FetchError::TooLarge { .. })),
        "{e}"
    );
}

#[tokio::test]
async fn redirects_are_limited() {
    let (pki, server) = https().await;
    let key = rsa();
    let jwks = irsa_oidc::JwkSet::from_keys([key.public_key()]).to_json();
    server.publish_discovery(&server.base);
    server.set("/openid/v1/jwks", Reply::Redirect(format!("{}/r1", server.base)));
    server.set(
        "/r1",
        Reply::Body {
            body: jwks.into_bytes(),
            cache_control: None,
        },
    );
    verifier(&server.base, &pki, fast_policy())
        .verify(&token(&key, &server.base))
        .await
        .unwrap();

    for i in 0..6 {
        server.set(
            &format!("/loop{i}"),
            Reply::Redirect(format!("{}/loop{}", server.base, i + 1)),
        );
    }
    server.set("/openid/v1/jwks", Reply::Redirect(format!("{}/loop0", server.base)));
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&token(&key, &server.base))
        .await
        .unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::InvalidIdentityToken, "{e}");
    assert!(server.hits("/loop3") <= 1 && server.hits("/loop4") == 0);
}

#[tokio::test]
async fn http_issuers_need_the_dev_switch() {
    let plain = TestServer::start(None).await;
    let key = rsa();
    plain.publish(&[key.public_key().clone()], None);
    let pki = Pki::new();
    let strict = irsa_oidc::Verifier::new(irsa_oidc::VerifierConfig {
        issuers: vec![irsa_oidc::TrustedIssuer::new(plain.base.clone(), [AUD])],
        ..Default::default()
    });
    assert!(strict.is_err());

    let mut opts = fetch_options(&pki);
    opts.allow_http = true;
    verifier_with(&plain.base, opts, fast_policy())
        .verify(&token(&key, &plain.base))
        .await
        .unwrap();
}

#[tokio::test]
async fn https_issuer_cannot_downgrade_jwks_to_http() {
    let (pki, server) = https().await;
    let plain = TestServer::start(None).await;
    let key = rsa();
    plain.publish(&[key.public_key().clone()], None);
    let doc = irsa_oidc::discovery_document(&server.base, Some(&format!("{}/openid/v1/jwks", plain.base)), &[]);
    server.set(
        "/.well-known/openid-configuration",
        Reply::Body {
            body: doc.to_json().into_bytes(),
            cache_control: None,
        },
    );
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&token(&key, &server.base))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("https is required"), "{e}");
    assert_eq!(plain.hits("/openid/v1/jwks"), 0);
}

#[tokio::test]
async fn untrusted_certificate_is_rejected() {
    let (_, server) = https().await;
    let other_ca = Pki::new();
    let key = rsa();
    server.publish(&[key.public_key().clone()], None);
    let e = verifier(&server.base, &other_ca, fast_policy())
        .verify(&token(&key, &server.base))
        .await
        .unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::InvalidIdentityToken, "{e}");
    assert!(e.to_string().contains("TLS"), "{e}");
}

#[tokio::test]
async fn discovery_issuer_must_match() {
    let (pki, server) = https().await;
    let key = rsa();
    server.publish(&[key.public_key().clone()], None);
    server.publish_discovery(&format!("{}/", server.base));
    let e = verifier(&server.base, &pki, fast_policy())
        .verify(&token(&key, &server.base))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("`issuer`"), "{e}");
}

#[tokio::test]
async fn cold_cache_fetch_is_single_flight() {
    let (pki, server) = https().await;
    let key = rsa();
    server.publish(&[key.public_key().clone()], None);
    let doc = irsa_oidc::discovery_document(&server.base, Some(&format!("{}/openid/v1/jwks", server.base)), &[]);
    server.set(
        "/.well-known/openid-configuration",
        Reply::Slow {
            delay: Duration::from_millis(200),
            body: doc.to_json().into_bytes(),
        },
    );
    let v = Arc::new(verifier(&server.base, &pki, fast_policy()));
    let t = token(&key, &server.base);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let v = Arc::clone(&v);
            let t = t.clone();
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/openid/v1/jwks"), 1);
}

#[tokio::test]
async fn serve_router_end_to_end_over_tls() {
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("https://{}/id/CLUSTER", listener.local_addr().unwrap());
    let signing = rsa();
    let previous = SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap();
    let docs = IssuerDocuments::new(
        &issuer,
        None,
        &[signing.public_key().clone(), previous.public_key().clone()],
        Duration::from_secs(3600),
    )
    .unwrap();
    let tls = irsa_oidc::serve::tls_config(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(irsa_oidc::serve::serve(
        listener,
        irsa_oidc::router(docs),
        Some(Arc::new(tls)),
        async move {
            let _ = stopped.await;
        },
    ));

    let v = verifier(&issuer, &pki, fast_policy());
    v.verify(&token(&signing, &issuer)).await.unwrap();
    v.verify(&token(&previous, &issuer)).await.unwrap();

    // headers, as kube-apiserver sends them, plus ETag / 304
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(pki.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(format!("{issuer}/openid/v1/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["cache-control"], "public, max-age=3600");
    assert_eq!(h["content-type"], "application/jwk-set+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["keys"][0]["kid"], signing.kid());
    assert_eq!(body["keys"][0]["use"], "sig");
    let r = client
        .get(format!("{issuer}/openid/v1/jwks"))
        .header("If-None-Match", h["etag"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = client
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn kid_of_another_trusted_issuer_is_not_accepted() {
    let pki = Pki::new();
    let a = TestServer::start(Some(pki.server_config())).await;
    let b = TestServer::start(Some(pki.server_config())).await;
    let key_a = rsa();
    let key_b = rsa();
    a.publish(&[key_a.public_key().clone()], None);
    b.publish(&[key_b.public_key().clone()], None);
    let v = irsa_oidc::Verifier::new(irsa_oidc::VerifierConfig {
        issuers: vec![
            irsa_oidc::TrustedIssuer::new(a.base.clone(), [AUD]),
            irsa_oidc::TrustedIssuer::new(b.base.clone(), [AUD]),
        ],
        cache: fast_policy(),
        fetch: fetch_options(&pki),
        ..Default::default()
    })
    .unwrap();
    v.verify(&token(&key_a, &a.base)).await.unwrap();
    v.verify(&token(&key_b, &b.base)).await.unwrap();
    // B's key signs a token claiming to come from A: A's JWKS does not have that kid
    let e = v.verify(&token(&key_b, &a.base)).await.unwrap_err();
    assert!(matches!(e, VerifyError::UnknownKid { .. }), "{e}");
    assert_eq!(e.sts_error_code(), StsErrorCode::InvalidIdentityToken);
}

#[tokio::test]
async fn serve_run_publishes_key_files_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let signing = rsa();
    let old = SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap();
    let signing_file = dir.path().join("signing.key");
    let old_file = dir.path().join("old.pub");
    std::fs::write(&signing_file, signing.to_pkcs8_pem().unwrap()).unwrap();
    std::fs::write(&old_file, old.public_key().to_spki_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let issuer = format!("http://{listen}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(irsa_oidc::serve::run(
        irsa_oidc::serve::ServeOptions {
            issuer: issuer.clone(),
            jwks_uri: None,
            // the signing key twice: de-duplicated by kid
            key_files: vec![signing_file.clone(), old_file, signing_file],
            listen,
            tls: None,
            max_age: Duration::from_secs(60),
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let mut opts = fetch_options(&Pki::new());
    opts.allow_http = true;
    let v = verifier_with(&issuer, opts, fast_policy());
    let mut ok = false;
    for _ in 0..50 {
        match v.verify(&token(&signing, &issuer)).await {
            Ok(_) => {
                ok = true;
                break;
            }
            // the server may not be listening yet; wait out the failure backoff
            Err(_) => tokio::time::sleep(Duration::from_millis(120)).await,
        }
    }
    assert!(ok, "server never answered");
    v.verify(&token(&old, &issuer)).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let jwks: serde_json::Value = client
        .get(format!("{issuer}/openid/v1/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn unknown_kid_during_an_outage_is_an_idp_communication_error() {
    let (pki, server) = https().await;
    let known = rsa();
    let rotated = rsa();
    server.publish(&[known.public_key().clone()], Some("max-age=3600"));
    let v = verifier(&server.base, &pki, fast_policy());
    v.verify(&token(&known, &server.base)).await.unwrap();
    server.set_down(true);
    tokio::time::sleep(Duration::from_millis(350)).await;
    // the forced refresh fails: the kid may exist at the issuer, so this is an outage
    let e = v.verify(&token(&rotated, &server.base)).await.unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError, "{e}");
    // ... also while the refresh is rate-limited
    let e = v.verify(&token(&rotated, &server.base)).await.unwrap_err();
    assert_eq!(e.sts_error_code(), StsErrorCode::IdpCommunicationError, "{e}");
    // fresh cached keys keep working
    v.verify(&token(&known, &server.base)).await.unwrap();
    // once the issuer is back, the rotated key is picked up
    server.publish(
        &[rotated.public_key().clone(), known.public_key().clone()],
        Some("max-age=3600"),
    );
    server.set_down(false);
    tokio::time::sleep(Duration::from_millis(350)).await;
    v.verify(&token(&rotated, &server.base)).await.unwrap();
}

/// kube-apiserver serves `/openid/v1/jwks` only as `application/jwk-set+json` and answers 406
/// to `Accept: application/json`; S3-hosted issuers label their files `binary/octet-stream`.
/// The verifier must fetch both (it once asked for `application/json` alone).
#[tokio::test]
async fn jwks_served_as_jwk_set_json_or_octet_stream_is_fetched() {
    for content_type in ["application/jwk-set+json", "binary/octet-stream"] {
        let (pki, server) = https().await;
        let key = rsa();
        server.publish(&[key.public_key().clone()], None);
        let body = irsa_oidc::JwkSet::from_keys(&[key.public_key().clone()])
            .to_json()
            .into_bytes();
        server.set(
            "/openid/v1/jwks",
            common::Reply::Negotiated {
                content_type: content_type.to_owned(),
                body,
            },
        );
        let v = verifier(&server.base, &pki, fast_policy());
        let ok = v
            .verify(&token(&key, &server.base))
            .await
            .unwrap_or_else(|e| panic!("JWKS served as {content_type}: {e}"));
        assert_eq!(ok.kid, key.kid());
    }
}
