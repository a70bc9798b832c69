//! The failure cases, each with its AWS code, HTTP status and message: clock skew both ways,
//! presigned expiry, credential scope, malformed and duplicated parts, missing pieces, payload
//! hash lies, and hostile sizes (which must give typed errors, never panics).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use irsa_sigv4::{AmzDate, Error, Mismatch, Regions, Request, Scope, SigningKey, Verifier};

const AKID: &str = "AKIAIRSAERRORS000001";
const SECRET: &str = "errors/Secret+Key/0123456789abcdefghijklm";
const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";

fn at(s: &str) -> SystemTime {
    AmzDate::parse_iso8601_basic(s).unwrap().to_system_time()
}

struct Signed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Signed {
    fn request(&self) -> Request<'_> {
        let mut r = Request::from_parts(&self.method, &self.path, &self.query).body(&self.body);
        for (n, v) in &self.headers {
            r.push_header(n, v.as_bytes());
        }
        r
    }
    fn header_mut(&mut self, name: &str) -> &mut String {
        &mut self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap()
            .1
    }
}

/// Signs a typical STS POST (or, with `presign`, a GET) with aws-sigv4.
fn signed(time: &str, region: &str, service: &str, presign: Option<u64>, extra: &[(&str, &str)]) -> Signed {
    let identity: Identity = Credentials::new(AKID, SECRET, Some("session-token".into()), None, "t").into();
    let mut settings = SigningSettings::default();
    if let Some(secs) = presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(secs));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at(time))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let (method, body, query) = if presign.is_some() {
        ("GET", &b""[..], "Action=GetCallerIdentity&Version=2011-06-15")
    } else {
        ("POST", BODY, "")
    };
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), "sts.irsa.test".into()),
        (
            "Content-Type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        ),
    ];
    headers.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    let uri = format!("https://sts.irsa.test/?{query}");
    let signable = SignableRequest::new(
        method,
        uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (h, p) = instructions.into_parts();
    for header in h {
        headers.push((header.name().to_owned(), header.value().to_owned()));
    }
    let mut query = query.to_owned();
    for (k, v) in p {
        let v: String = v
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        query.push_str(&format!("&{k}={v}"));
    }
    Signed {
        method: method.into(),
        path: "/".into(),
        query,
        headers,
        body: body.to_vec(),
    }
}

fn sts() -> Verifier {
    Verifier::new(["sts"])
}

fn check(s: &Signed, verifier: &Verifier, now: SystemTime) -> Result<irsa_sigv4::Verified, Error> {
    let req = s.request();
    let auth = verifier.parse(&req, now)?;
    if auth.access_key_id() != AKID {
        return Err(Error::invalid_client_token_id());
    }
    auth.verify(SECRET)
}

fn expect(result: Result<irsa_sigv4::Verified, Error>, code: &str, status: u16, message: &str) {
    let e = result.unwrap_err();
    assert_eq!((e.aws_code(), e.http_status()), (code, status), "{e:?}");
    assert!(
        e.message().starts_with(message),
        "message {:?} does not start with {message:?}",
        e.message()
    );
}

#[test]
fn a_typical_sts_post_verifies_and_reports_its_identity() {
    let s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    let ok = check(&s, &sts(), at("20260101T000000Z")).unwrap();
    assert_eq!(ok.access_key_id, AKID);
    assert_eq!(ok.session_token.as_deref(), Some("session-token"));
    assert_eq!(ok.scope.to_string(), "20260101/us-east-1/sts/aws4_request");
    assert_eq!(ok.signed_at.to_string(), "20260101T000000Z");
}

#[test]
fn clock_skew_is_fifteen_minutes_both_ways() {
    let s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    assert!(check(&s, &sts(), at("20260101T001500Z")).is_ok());
    assert!(check(&s, &sts(), at("20251231T234500Z")).is_ok());
    expect(
        check(&s, &sts(), at("20260101T001501Z")),
        "SignatureDoesNotMatch",
        403,
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000001Z (20260101T001501Z - 15 min.)",
    );
    expect(
        check(&s, &sts(), at("20251231T234459Z")),
        "SignatureDoesNotMatch",
        403,
        "Signature not yet current: 20260101T000000Z is still later than 20251231T235959Z (20251231T234459Z + 15 min.)",
    );
    // A tighter policy.
    let strict = sts().clock_skew(Duration::from_secs(300));
    expect(
        check(&s, &strict, at("20260101T000501Z")),
        "SignatureDoesNotMatch",
        403,
        "Signature expired: ",
    );
    assert!(check(&s, &strict, at("20260101T000500Z")).is_ok());
}

#[test]
fn presigned_requests_expire() {
    let s = signed("20260101T000000Z", "us-east-1", "sts", Some(60), &[]);
    assert!(check(&s, &sts(), at("20260101T000100Z")).is_ok());
    expect(
        check(&s, &sts(), at("20260101T000101Z")),
        "RequestExpired",
        400,
        "Request has expired",
    );
    // Signed in the future beyond the skew.
    expect(
        check(&s, &sts(), at("20251231T234459Z")),
        "SignatureDoesNotMatch",
        403,
        "Signature not yet current",
    );
    // A server that caps presigned validity refuses longer ones.
    let s = signed("20260101T000000Z", "us-east-1", "sts", Some(3600), &[]);
    expect(
        check(&s, &sts().max_presign_expires(900), at("20260101T000000Z")),
        "IncompleteSignature",
        400,
        "X-Amz-Expires must be",
    );
    for bad in ["0", "604801", "-5", "1e3", ""] {
        let mut s = signed("20260101T000000Z", "us-east-1", "sts", Some(60), &[]);
        s.query = s.query.replace("X-Amz-Expires=60", &format!("X-Amz-Expires={bad}"));
        expect(
            check(&s, &sts(), at("20260101T000000Z")),
            "IncompleteSignature",
            400,
            "X-Amz-Expires must be",
        );
    }
}

#[test]
fn credential_scope_problems_are_all_reported() {
    let s = signed("20260101T000000Z", "aws-global", "sts", None, &[]);
    let iam = Verifier::new(["iam"]).regions(Regions::Only(vec!["us-east-1".into()]));
    expect(
        check(&s, &iam, at("20260101T000000Z")),
        "SignatureDoesNotMatch",
        403,
        "Credential should be scoped to a valid region, not 'aws-global'. Credential should be scoped to correct \
         service: 'iam'.",
    );
    let mut s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    let auth = s.header_mut("authorization");
    *auth = auth.replace(
        "/20260101/us-east-1/sts/aws4_request",
        "/20251231/us-east-1/sts/aws4_requestx",
    );
    expect(
        check(&s, &sts(), at("20260101T000000Z")),
        "SignatureDoesNotMatch",
        403,
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_requestx'. Date in \
         Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', \
         from '20260101T000000Z'.",
    );
    let mut s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    let auth = s.header_mut("authorization");
    *auth = auth.replace("/us-east-1/sts/aws4_request", "/us-east-1/sts");
    expect(
        check(&s, &sts(), at("20260101T000000Z")),
        "IncompleteSignature",
        400,
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got",
    );
    let mut s = signed("20260101T000000Z", "Us-East-1", "sts", None, &[]);
    expect(
        check(&s, &sts(), at("20260101T000000Z")),
        "SignatureDoesNotMatch",
        403,
        "Credential should be scoped to a valid region, not 'Us-East-1'.",
    );
    // An unknown key is the caller's InvalidClientTokenId.
    let auth = s.header_mut("authorization");
    *auth = auth.replace("Us-East-1", "us-east-1").replace(AKID, "AKIAUNKNOWN");
    expect(
        check(&s, &sts(), at("20260101T000000Z")),
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid.",
    );
}

#[test]
fn malformed_and_duplicated_parts() {
    let base = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    let auth = base
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1
        .clone();
    let now = at("20260101T000000Z");
    let with_auth = |value: String| {
        let mut s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
        *s.header_mut("authorization") = value;
        check(&s, &sts(), now)
    };
    expect(
        with_auth(auth.replace(", Signature=", ", Signature=0")),
        "SignatureDoesNotMatch",
        403,
        "The request signature we calculated",
    );
    expect(
        with_auth(auth.replace("Credential=", "Credential")),
        "IncompleteSignature",
        400,
        "'Credential",
    );
    expect(
        with_auth(format!("{auth}, Signature=00")),
        "IncompleteSignature",
        400,
        "'Signature' appears more than once",
    );
    expect(
        with_auth(auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")),
        "IncompleteSignature",
        400,
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'",
    );
    expect(
        with_auth("AWS4-HMAC-SHA256".into()),
        "IncompleteSignature",
        400,
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.",
    );
    expect(
        with_auth("Bearer eyJhbGciOi".into()),
        "IncompleteSignature",
        400,
        "Authorization header requires 'Credential' parameter.",
    );
    expect(
        with_auth(auth.replace("SignedHeaders=", "SignedHeaders=;")),
        "IncompleteSignature",
        400,
        "SignedHeaders must be",
    );
    expect(
        with_auth(auth.replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")),
        "SignatureDoesNotMatch",
        403,
        "'Host' or ':authority' must be a 'SignedHeader'",
    );
    expect(
        with_auth(auth.replace("SignedHeaders=", "SignedHeaders=x-absent;")),
        "SignatureDoesNotMatch",
        403,
        "The header 'x-absent' is listed in SignedHeaders",
    );

    let mut twice = base.request();
    twice.push_header("Authorization", auth.as_bytes());
    expect(
        sts().parse(&twice, now).map(|_| unreachable!()),
        "IncompleteSignature",
        400,
        "The request has more than one 'Authorization' header.",
    );

    let mut s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    *s.header_mut("x-amz-date") = "2026-01-01T00:00:00Z".into();
    expect(
        check(&s, &sts(), now),
        "IncompleteSignature",
        400,
        "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:00:00Z'.",
    );
    s.headers.retain(|(n, _)| n != "x-amz-date");
    expect(
        check(&s, &sts(), now),
        "IncompleteSignature",
        400,
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );

    let no_auth = Request::new("POST", "/").header("host", "sts.irsa.test").body(BODY);
    expect(
        sts().parse(&no_auth, now).map(|_| unreachable!()),
        "MissingAuthenticationToken",
        403,
        "Request is missing Authentication Token",
    );

    let p = signed("20260101T000000Z", "us-east-1", "sts", Some(60), &[]);
    let mut both = p.request();
    both.push_header("Authorization", auth.as_bytes());
    expect(
        sts().parse(&both, now).map(|_| unreachable!()),
        "IncompleteSignature",
        400,
        "Only one auth mechanism allowed",
    );
    let mut p = signed("20260101T000000Z", "us-east-1", "sts", Some(60), &[]);
    p.query
        .push_str("&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fsts%2Faws4_request");
    expect(
        check(&p, &sts(), now),
        "IncompleteSignature",
        400,
        "The query-string parameter 'X-Amz-Credential' appears more than once.",
    );
    let mut p = signed("20260101T000000Z", "us-east-1", "sts", Some(60), &[]);
    p.query = p
        .query
        .split('&')
        .filter(|kv| !kv.starts_with("X-Amz-SignedHeaders"))
        .collect::<Vec<_>>()
        .join("&");
    expect(
        check(&p, &sts(), now),
        "IncompleteSignature",
        400,
        "AWS query-string parameters must include",
    );
}

#[test]
fn payload_hash_must_be_the_body_hash() {
    let now = at("20260101T000000Z");
    // aws-sigv4 can send x-amz-content-sha256; a correct one verifies.
    let s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    let mut with_hash = s.request();
    let hash = "6a1b0e2e8b5a9a5c0e0d1f9a2d1b0f84c0b4a6b6fe0c1d3f4d3b1c2a9f8e7d6c";
    with_hash.push_header("x-amz-content-sha256", hash.as_bytes());
    let auth = sts().parse(&with_hash, now).unwrap();
    let e = auth.verify(SECRET).unwrap_err();
    assert_eq!(
        e,
        Error::SignatureDoesNotMatch(Mismatch::ContentSha256 { provided: hash.into() })
    );
    let mut unsigned = s.request();
    unsigned.push_header("x-amz-content-sha256", b"UNSIGNED-PAYLOAD");
    let e = sts().parse(&unsigned, now).unwrap().verify(SECRET).unwrap_err();
    assert_eq!(e.aws_code(), "SignatureDoesNotMatch");
    // The body is signed: a different body fails.
    let other = s.request().body(b"Action=AssumeRole");
    let e = sts().parse(&other, now).unwrap().verify(SECRET).unwrap_err();
    assert!(matches!(e, Error::SignatureDoesNotMatch(Mismatch::Signature { .. })));
}

#[test]
fn date_header_in_imf_fixdate_and_self_signed_requests() {
    // No signer in the tests sends `Date` instead of `X-Amz-Date`; sign one with this crate's
    // own key: parse with a placeholder signature, sign the string to sign, put it in.
    let now = at("20260101T000000Z");
    let placeholder = "AWS4-HMAC-SHA256 Credential=AKIAIRSAERRORS000001/20260101/us-east-1/sts/aws4_request, \
                       SignedHeaders=date;host, Signature=00";
    let req = Request::new("POST", "/")
        .header("Host", "sts.irsa.test")
        .header("Date", "Thu, 01 Jan 2026 00:00:00 GMT")
        .header("Authorization", placeholder)
        .body(BODY);
    let auth = sts().parse(&req, now).unwrap();
    let (_, string_to_sign) = auth.canonical_request_and_string_to_sign().unwrap();
    assert!(string_to_sign.starts_with("AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/us-east-1/sts/aws4_request\n"));
    let key = SigningKey::derive(SECRET, &Scope::new("20260101", "us-east-1", "sts"));
    let real = placeholder.replace("Signature=00", &format!("Signature={}", key.sign(&string_to_sign)));
    let req = Request::new("POST", "/")
        .header("Host", "sts.irsa.test")
        .header("Date", "Thu, 01 Jan 2026 00:00:00 GMT")
        .header("Authorization", real.as_str())
        .body(BODY);
    let auth = sts().parse(&req, now).unwrap();
    assert!(auth.verify(SECRET).is_ok());
    // A cached key verifies the same; a key for another scope does not.
    assert!(auth.verify_with_key(&key).is_ok());
    let other = SigningKey::derive(SECRET, &Scope::new("20260102", "us-east-1", "sts"));
    assert_eq!(
        auth.verify_with_key(&other).unwrap_err().aws_code(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn hostile_sizes_give_typed_errors() {
    let now = at("20260101T000000Z");
    // A 1 MiB Authorization header.
    let huge = format!("AWS4-HMAC-SHA256 Credential={}", "A".repeat(1 << 20));
    let req = Request::new("POST", "/")
        .header("Host", "h")
        .header("X-Amz-Date", "20260101T000000Z")
        .header("Authorization", huge.as_str());
    expect(
        sts().parse(&req, now).map(|_| unreachable!()),
        "IncompleteSignature",
        400,
        "The Authorization header is 1048604 bytes long",
    );
    // Ten thousand signed headers.
    let names = (0..10_000).map(|i| format!("x-{i}")).collect::<Vec<_>>().join(";");
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;{names}, Signature=00"
    );
    let req = Request::new("POST", "/")
        .header("Host", "h")
        .header("X-Amz-Date", "20260101T000000Z")
        .header("Authorization", auth.as_str());
    let e = Verifier::new(["sts"])
        .limits(1 << 20, 128)
        .parse(&req, now)
        .unwrap_err();
    assert!(
        e.message()
            .starts_with("SignedHeaders lists 10001 headers; at most 128 are accepted."),
        "{e}"
    );
    // A 1 MiB signed header value and a 4 MiB body verify (and fail when changed), and
    // 50,000 unsigned headers cost nothing but a scan.
    let big_value = "v ".repeat(1 << 19);
    let mut s = signed(
        "20260101T000000Z",
        "us-east-1",
        "sts",
        None,
        &[("x-big", big_value.as_str())],
    );
    s.body = vec![b'a'; 4 << 20];
    let mut s2 = signed(
        "20260101T000000Z",
        "us-east-1",
        "sts",
        None,
        &[("x-big", big_value.as_str())],
    );
    s2.body = s.body.clone();
    let _ = s2;
    let mut req = s.request();
    let filler: Vec<String> = (0..50_000).map(|i| format!("x-filler-{i}")).collect();
    for name in &filler {
        req.push_header(name, b"1");
    }
    let e = sts().parse(&req, now).unwrap().verify(SECRET).unwrap_err();
    assert_eq!(
        e.aws_code(),
        "SignatureDoesNotMatch",
        "the body was changed after signing"
    );
    // Garbage bytes in every field: typed errors only.
    let junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let req = Request::from_parts("\u{0}", "\u{ff}", "%%%&&==X-Amz-Algorithm")
        .header("Authorization", junk.as_slice())
        .header("x-amz-date", junk.as_slice());
    let e = sts().parse(&req, now).unwrap_err();
    assert_eq!(e.aws_code(), "IncompleteSignature");
}

#[test]
fn far_past_and_far_future_clocks_do_not_overflow() {
    let s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    for now in [
        UNIX_EPOCH,
        UNIX_EPOCH - Duration::from_secs(1 << 40),
        UNIX_EPOCH + Duration::from_secs(1 << 40),
    ] {
        assert_eq!(check(&s, &sts(), now).unwrap_err().aws_code(), "SignatureDoesNotMatch");
    }
    let mut s = signed("20260101T000000Z", "us-east-1", "sts", Some(604_800), &[]);
    s.query = s
        .query
        .replace("X-Amz-Date=20260101T000000Z", "X-Amz-Date=99991231T235959Z");
    assert_eq!(
        check(&s, &sts(), UNIX_EPOCH).unwrap_err().aws_code(),
        "SignatureDoesNotMatch"
    );
    let late = UNIX_EPOCH + Duration::from_secs(1 << 40);
    assert_eq!(check(&s, &sts(), late).unwrap_err().aws_code(), "RequestExpired");
}

#[test]
fn diagnostics_never_show_the_session_token() {
    let s = signed("20260101T000000Z", "us-east-1", "sts", None, &[]);
    let req = s.request();
    let auth = sts().parse(&req, at("20260101T000000Z")).unwrap();
    assert!(!format!("{auth:?}").contains("session-token"));
    assert!(!format!("{:?}", auth.verify(SECRET).unwrap()).contains("session-token"));
    let e = auth.verify("wrong").unwrap_err();
    assert!(
        e.detailed_message().contains("x-amz-security-token:<redacted>"),
        "{}",
        e.detailed_message()
    );
    assert!(!format!("{e:?}").contains("session-token"));
    let p = signed("20260101T000000Z", "us-east-1", "sts", Some(60), &[]);
    let req = p.request();
    let e = sts()
        .parse(&req, at("20260101T000000Z"))
        .unwrap()
        .verify("wrong")
        .unwrap_err();
    assert!(
        e.detailed_message().contains("X-Amz-Security-Token=<redacted>"),
        "{}",
        e.detailed_message()
    );
}

/// The worked example of AWS's SigV4 documentation (IAM `ListUsers` over GET, "Create a
/// canonical request" / "Calculate the signature"): hashed canonical request
/// f536975d…1a59 and signature 5d672d79…b5d7.
#[test]
fn aws_documentation_iam_list_users_example() {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                SignedHeaders=content-type;host;x-amz-date, \
                Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    let req = Request::new("GET", "/?Action=ListUsers&Version=2010-05-08")
        .header("Host", "iam.amazonaws.com")
        .header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
        .header("X-Amz-Date", "20150830T123600Z")
        .header("Authorization", auth);
    let iam = Verifier::new(["iam"]).regions(Regions::Only(vec!["us-east-1".into()]));
    let parsed = iam.parse(&req, at("20150830T123600Z")).unwrap();
    let (_, string_to_sign) = parsed.canonical_request_and_string_to_sign().unwrap();
    assert_eq!(
        string_to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
         f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    let ok = parsed.verify("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap();
    assert_eq!(ok.scope.to_string(), "20150830/us-east-1/iam/aws4_request");
}
