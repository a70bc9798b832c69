//! Hostile input never panics: arbitrary bytes in every field, and valid signatures with bytes
//! spliced in, give a typed error (or, rarely, a success that the signature really supports).
//! Also: requests held as `http::Request` (what an axum handler has) verify through
//! `Request::from_http`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use irsa_sigv4::{Request, Verifier};
use proptest::prelude::*;

const CODES: [&str; 6] = [
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "RequestExpired",
    "ExpiredToken",
];

const VALID_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                          SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

fn now() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160) // 20150830T123600Z
}

fn run(method: &str, target: &str, headers: &[(String, Vec<u8>)], body: &[u8]) {
    let mut req = Request::new(method, target).body(body);
    for (n, v) in headers {
        req.push_header(n, v);
    }
    for verifier in [Verifier::new(["service"]), Verifier::new(["sts"]).limits(64, 2)] {
        match verifier.parse(&req, now()) {
            Ok(auth) => {
                let _ = auth.canonical_request_and_string_to_sign();
                if let Err(e) = auth.verify("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY") {
                    assert!(CODES.contains(&e.aws_code()));
                    let _ = e.detailed_message();
                }
            }
            Err(e) => {
                assert!(CODES.contains(&e.aws_code()));
                assert!(matches!(e.http_status(), 400 | 403));
                assert!(!e.message().is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        method in "[A-Z]{0,7}|\\PC{0,4}",
        target in "\\PC{0,40}",
        headers in prop::collection::vec(("[a-zA-Z-]{0,12}", prop::collection::vec(any::<u8>(), 0..80)), 0..6),
        auth in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        body in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut headers = headers;
        if let Some(a) = auth {
            headers.push(("Authorization".into(), a));
        }
        run(&method, &target, &headers, &body);
    }

    #[test]
    fn a_valid_header_with_bytes_spliced_in_never_panics(at in 0usize..200, junk in prop::collection::vec(any::<u8>(), 0..8), cut in any::<bool>()) {
        let mut auth = VALID_AUTH.as_bytes().to_vec();
        let at = at.min(auth.len());
        if cut {
            auth.truncate(at);
        }
        auth.splice(at..at, junk);
        let headers = vec![
            ("Host".to_owned(), b"example.amazonaws.com".to_vec()),
            ("X-Amz-Date".to_owned(), b"20150830T123600Z".to_vec()),
            ("Authorization".to_owned(), auth),
        ];
        run("GET", "/", &headers, b"");
    }

    #[test]
    fn presigned_queries_with_junk_never_panic(params in prop::collection::vec(
        (prop::sample::select(vec!["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
            "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "Action"]),
         "[ -~]{0,30}"), 0..9)) {
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let target = format!("/?{}", query.join("&"));
        run("GET", &target, &[("host".to_owned(), b"h".to_vec())], b"");
    }
}

#[test]
fn http_requests_signed_by_aws_sigv4_verify_through_from_http() {
    let identity: Identity = Credentials::new("AKIDHTTP", "http-secret", Some("tok".into()), None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iam")
        .time(now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let body = b"Action=ListRoles&Version=2010-05-08".to_vec();
    let mut req = http::Request::builder()
        .method("POST")
        .uri("https://iam.irsa.test/")
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(body.clone())
        .unwrap();
    let signable = SignableRequest::new(
        req.method().as_str(),
        req.uri().to_string(),
        req.headers().iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        SignableBody::Bytes(&body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    // The server side: hyper gives an origin-form URI and a Host header.
    let (mut parts, body) = req.into_parts();
    parts.uri = "/".parse().unwrap();
    parts
        .headers
        .insert(http::header::HOST, "iam.irsa.test".parse().unwrap());
    let server_req = http::Request::from_parts(parts, ());
    let view = Request::from_http(&server_req, &body);
    let verified = Verifier::new(["iam"])
        .parse(&view, now())
        .unwrap()
        .verify("http-secret")
        .unwrap();
    assert_eq!(verified.session_token.as_deref(), Some("tok"));
}
