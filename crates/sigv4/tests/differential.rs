//! Differential test against the `aws-sigv4` crate (the signer of the AWS SDK for Rust): random
//! requests (methods, paths with dot and empty segments and escapes, query parameters, repeated
//! headers with odd whitespace, bodies, session tokens, both signature locations) signed by
//! `aws-sigv4` must verify, and a single-byte change to any part the signature covers must not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use irsa_sigv4::{Error, Request, Verifier};
use proptest::prelude::*;
use proptest::sample::Index;

const AKID: &str = "ASIAIRSATESTKEY00001";
const SECRET: &str = "irsa/Secret+Key/0123456789abcdefghijklmnop";
const HOST: &str = "sts.irsa.test:8443";

/// The request as it would travel on the wire after signing.
#[derive(Debug, Clone)]
struct Wire {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Wire {
    fn request(&self) -> Request<'_> {
        let mut req = Request::from_parts(&self.method, &self.path, &self.query).body(&self.body);
        for (n, v) in &self.headers {
            req.push_header(n, v);
        }
        req
    }
}

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    token: Option<String>,
    presigned: Option<u64>,
    time: u64,
    skew: i64,
}

fn encode_query_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9_~-]{1,8}",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
        1 => "[a-z]{0,3}(%20|%2F|%41|%25|%C3%A9|:|@|!|\\$|&|'|\\(|\\)|\\*|\\+|,|;|=)[a-z]{0,3}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..6), any::<bool>()).prop_map(|(segs, trailing)| {
        let mut p = String::from("/");
        p.push_str(&segs.join("/"));
        if trailing && !p.ends_with('/') {
            p.push('/');
        }
        p
    })
}

fn query_text() -> impl Strategy<Value = String> {
    // Printable ASCII and some non-ASCII, so that escaping and sorting are exercised.
    "[ -~éሴ]{0,10}"
}

fn header_value() -> impl Strategy<Value = String> {
    // Visible ASCII, spaces and tabs in runs, leading and trailing.
    prop_oneof![3 => "[!-~]{0,12}", 2 => "[ \t]{0,2}[!-~]{1,5}( {1,3}[!-~]{1,5}){0,3}[ ]{0,2}"]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        path(),
        prop::collection::vec((query_text(), query_text()), 0..5),
        prop::collection::vec(("[a-z][a-z0-9-]{0,6}", header_value()), 0..5),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::option::of("[A-Za-z0-9+/=]{16,64}"),
        prop::option::of(1u64..=604_800),
        // 2001..2099
        978_307_200u64..4_102_444_800,
        -14 * 60i64..=14 * 60,
    )
        .prop_map(
            |(method, path, query, headers, body, token, presigned, time, skew)| Case {
                method,
                path,
                query,
                // Random case on the wire; a few names repeat so that values are joined.
                headers: headers
                    .into_iter()
                    .enumerate()
                    .map(|(i, (n, v))| {
                        (
                            if i % 2 == 0 {
                                format!("X-H-{n}")
                            } else {
                                format!("x-h-{n}")
                            },
                            v,
                        )
                    })
                    .collect(),
                body,
                token,
                presigned,
                time,
                skew,
            },
        )
}

/// Signs `case` with aws-sigv4 and returns the request as sent.
fn sign_case(case: &Case) -> Wire {
    let query: String = case
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_query_component(k), encode_query_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let uri = if query.is_empty() {
        format!("https://{HOST}{}", case.path)
    } else {
        format!("https://{HOST}{}?{query}", case.path)
    };
    let identity: Identity = Credentials::new(AKID, SECRET, case.token.clone(), None, "test").into();
    let mut settings = SigningSettings::default();
    if let Some(expires) = case.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(UNIX_EPOCH + Duration::from_secs(case.time))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut headers: Vec<(String, String)> = vec![("Host".to_owned(), HOST.to_owned())];
    headers.extend(case.headers.iter().cloned());
    let signable = SignableRequest::new(
        case.method,
        uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&case.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (extra_headers, extra_params) = instructions.into_parts();
    let mut query = query;
    for (k, v) in extra_params {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("{}={}", encode_query_component(k), encode_query_component(&v)));
    }
    let mut wire_headers: Vec<(String, Vec<u8>)> = headers.into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
    for h in extra_headers {
        wire_headers.push((h.name().to_owned(), h.value().as_bytes().to_vec()));
    }
    Wire {
        method: case.method.to_owned(),
        path: case.path.clone(),
        query,
        headers: wire_headers,
        body: case.body.clone(),
    }
}

/// Verifies like a server: parse, look the key up (one known key), verify.
fn verify(wire: &Wire, now: SystemTime) -> Result<irsa_sigv4::Verified, Error> {
    let req = wire.request();
    let keys = BTreeMap::from([(AKID, SECRET)]);
    Verifier::new(["sts"]).authenticate(&req, now, |auth| {
        keys.get(auth.access_key_id())
            .copied()
            .ok_or_else(Error::invalid_client_token_id)
    })
}

fn now_for(case: &Case) -> SystemTime {
    let secs = match case.presigned {
        // Anywhere inside the presigned window.
        Some(expires) => case.time + (case.skew.unsigned_abs() % (expires + 1)),
        None => case.time.checked_add_signed(case.skew).unwrap(),
    };
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The parts of the wire request the signature covers, and the bytes in them whose change must
/// change the canonical request (so that the signature must fail).
#[derive(Debug, Clone, Copy)]
enum Part {
    Method,
    Path,
    Query,
    Header(usize),
    Body,
}

fn mutable_positions(wire: &Wire) -> Vec<(Part, usize)> {
    let mut out = Vec::new();
    let alnum = |s: &[u8], part: Part, out: &mut Vec<(Part, usize)>| {
        for (i, b) in s.iter().enumerate() {
            // Not inside a %XX escape (changing the case of a hex digit keeps the meaning).
            let in_escape = (i >= 1 && s[i - 1] == b'%') || (i >= 2 && s[i - 2] == b'%');
            if b.is_ascii_alphanumeric() && !in_escape {
                out.push((part, i));
            }
        }
    };
    for i in 0..wire.method.len() {
        out.push((Part::Method, i));
    }
    // A segment removed by ".." is not signed, so a path with ".." has no byte that must matter.
    if !wire.path.split('/').any(|s| s == "..") {
        alnum(wire.path.as_bytes(), Part::Path, &mut out);
    }
    alnum(wire.query.as_bytes(), Part::Query, &mut out);
    for (h, (name, value)) in wire.headers.iter().enumerate() {
        // Every header aws-sigv4 sent is signed (or carries the signature or the key id).
        let _ = name;
        alnum(value, Part::Header(h), &mut out);
    }
    for i in 0..wire.body.len() {
        out.push((Part::Body, i));
    }
    out
}

fn mutate(wire: &Wire, part: Part, i: usize, pick: Index) -> Wire {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let change = |b: u8, set: &[u8]| {
        let mut c = set[pick.index(set.len())];
        if c == b {
            c = set[(pick.index(set.len()) + 1) % set.len()];
        }
        c
    };
    let mut w = wire.clone();
    match part {
        Part::Method => {
            let mut m = w.method.into_bytes();
            m[i] = change(m[i], b"ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            w.method = String::from_utf8(m).unwrap();
        }
        Part::Path => {
            let mut p = w.path.into_bytes();
            p[i] = change(p[i], ALNUM);
            w.path = String::from_utf8(p).unwrap();
        }
        Part::Query => {
            let mut q = w.query.into_bytes();
            q[i] = change(q[i], ALNUM);
            w.query = String::from_utf8(q).unwrap();
        }
        Part::Header(h) => {
            let v = &mut w.headers[h].1;
            v[i] = change(v[i], ALNUM);
        }
        Part::Body => {
            let all: Vec<u8> = (0..=255).collect();
            w.body[i] = change(w.body[i], &all);
        }
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn aws_sigv4_signed_requests_verify(case in case()) {
        let wire = sign_case(&case);
        let ok = verify(&wire, now_for(&case)).map_err(|e| TestCaseError::fail(format!("{}\n{wire:#?}", e.detailed_message())))?;
        prop_assert_eq!(ok.access_key_id, AKID);
        prop_assert_eq!(ok.session_token, case.token.clone());
        prop_assert_eq!(ok.scope.service(), "sts");
        prop_assert_eq!(ok.signed_at.unix_seconds(), case.time as i64);
    }

    #[test]
    fn any_single_byte_change_to_a_signed_part_fails(case in case(), at in any::<Index>(), pick in any::<Index>()) {
        let wire = sign_case(&case);
        let now = now_for(&case);
        prop_assert!(verify(&wire, now).is_ok());
        let positions = mutable_positions(&wire);
        let (part, i) = positions[at.index(positions.len())];
        let mutated = mutate(&wire, part, i, pick);
        let result = verify(&mutated, now);
        prop_assert!(result.is_err(), "mutation of {:?}[{}] verified:\n{:#?}", part, i, mutated);
    }

    #[test]
    fn outside_the_time_window_fails(case in case(), beyond in 1u64..1_000_000) {
        let wire = sign_case(&case);
        let (late, code) = match case.presigned {
            Some(expires) => (case.time + expires + beyond, "RequestExpired"),
            None => (case.time + 15 * 60 + beyond, "SignatureDoesNotMatch"),
        };
        let e = verify(&wire, UNIX_EPOCH + Duration::from_secs(late)).unwrap_err();
        prop_assert_eq!(e.aws_code(), code);
        let early = UNIX_EPOCH + Duration::from_secs(case.time - 15 * 60 - beyond.min(1_000));
        let e = verify(&wire, early).unwrap_err();
        prop_assert_eq!(e.aws_code(), "SignatureDoesNotMatch");
        prop_assert!(e.message().starts_with("Signature not yet current: "));
    }
}
