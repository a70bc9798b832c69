//! Any bytes as the Authorization header, the query string, X-Amz-Date, other headers and the
//! body: parsing and verification return typed errors or succeed, never panic, and a success
//! verifies only with the secret it was signed with.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use irsa_sigv4::{Request, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Fields separated by 0xFF: authorization, query, x-amz-date, then header name/value pairs;
    // the last field is the body.
    let mut fields = data.split(|&b| b == 0xff);
    let authorization = fields.next().unwrap_or_default();
    let query = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let date = fields.next().unwrap_or_default();
    let rest: Vec<&[u8]> = fields.collect();
    let (body, pairs) = rest.split_last().map_or((&b""[..], &[][..]), |(b, p)| (*b, p));
    let names: Vec<String> = pairs
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c[0]).into_owned())
        .collect();
    let target = format!("/{query}");
    let mut req = Request::new("POST", &target).header("host", "sts.irsa.test").body(body);
    if !authorization.is_empty() {
        req.push_header("authorization", authorization);
    }
    if !date.is_empty() {
        req.push_header("x-amz-date", date);
    }
    for (name, pair) in names.iter().zip(pairs.chunks(2)) {
        req.push_header(name, pair.get(1).copied().unwrap_or_default());
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
    for verifier in [Verifier::new(["sts"]), Verifier::new(["sts", "iam"]).limits(256, 4)] {
        match verifier.parse(&req, now) {
            Ok(auth) => {
                let _ = auth.canonical_request_and_string_to_sign();
                let _ = auth.verify("fuzz-secret");
            }
            Err(e) => {
                let _ = (e.aws_code(), e.http_status(), e.message(), e.detailed_message());
            }
        }
    }
});
