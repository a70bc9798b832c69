//! AWS's SigV4 test suite (the cases that apply to non-S3 services), data-driven: every signed
//! request must verify with the suite's secret at the suite's time, the verifier's canonical
//! request and string to sign must be the suite's byte for byte, and a wrong secret must fail.
//! Data and origin: `tests/data/aws-signing-test-suite/` (Apache-2.0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use irsa_sigv4::{AmzDate, Request, SignatureLocation, Verifier};

struct Parsed {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// Parses the suite's `*.txt` requests: request line, `Name:value` lines (continuation lines
/// unfolded into one space, as RFC 9112 §5.2 says a recipient does), blank line, body.
fn parse_request(text: &[u8]) -> Parsed {
    let text = String::from_utf8(text.to_vec()).unwrap();
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.split('\n');
    let request_line = lines.next().unwrap();
    let request_line = request_line.strip_suffix(" HTTP/1.1").unwrap_or(request_line);
    let (method, target) = request_line.split_once(' ').unwrap();
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push(b' ');
            last.1.extend_from_slice(line.as_bytes());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.as_bytes().to_vec()));
        }
    }
    Parsed {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

impl Parsed {
    fn request(&self) -> Request<'_> {
        let mut req = Request::new(&self.method, &self.target).body(&self.body);
        for (n, v) in &self.headers {
            req.push_header(n, v);
        }
        req
    }
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/aws-signing-test-suite/v4")
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

fn read_text(dir: &Path, name: &str) -> String {
    String::from_utf8(read(dir, name))
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

struct Context {
    secret: String,
    token: Option<String>,
    region: String,
    service: String,
    now: SystemTime,
    normalize: bool,
    omit_session_token: bool,
}

fn context(dir: &Path) -> Option<Context> {
    let text = fs::read_to_string(dir.join("context.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ts = v["timestamp"].as_str().unwrap().replace(['-', ':'], "");
    Some(Context {
        secret: v["credentials"]["secret_access_key"].as_str().unwrap().to_owned(),
        token: v["credentials"]["token"].as_str().map(str::to_owned),
        region: v["region"].as_str().unwrap().to_owned(),
        service: v["service"].as_str().unwrap().to_owned(),
        now: AmzDate::parse_iso8601_basic(&ts).unwrap().to_system_time(),
        normalize: v["normalize"].as_bool().unwrap(),
        omit_session_token: v["omit_session_token"].as_bool().unwrap_or(false),
    })
}

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(suite_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    assert!(dirs.len() >= 40, "test suite data missing: {}", dirs.len());
    dirs
}

#[test]
fn every_applicable_case_verifies_and_matches_the_canonical_request() {
    let mut verified = 0;
    let mut unnormalized = 0;
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(ctx) = context(&dir) else { continue };
        for form in ["header", "query"] {
            let parsed = parse_request(&read(&dir, &format!("{form}-signed-request.txt")));
            let req = parsed.request();
            let verifier =
                Verifier::new([ctx.service.as_str()]).regions(irsa_sigv4::Regions::Only(vec![ctx.region.clone()]));
            let auth = verifier
                .parse(&req, ctx.now)
                .unwrap_or_else(|e| panic!("{name} {form}: {e:?}"));
            assert_eq!(auth.access_key_id(), "AKIDEXAMPLE", "{name}");
            let result = auth.verify(&ctx.secret);
            if !ctx.normalize {
                // S3's rules (no path normalisation): this verifier is for the other services, so
                // the signature verifies only where normalising changes nothing.
                let (canonical, _) = auth.canonical_request_and_string_to_sign().unwrap();
                let same = canonical == read_text(&dir, &format!("{form}-canonical-request.txt"));
                assert_eq!(result.is_ok(), same, "{name} {form}");
                unnormalized += usize::from(!same);
                continue;
            }
            if form == "query" && ctx.omit_session_token {
                let e = result.unwrap_err();
                assert_eq!(
                    e.aws_code(),
                    "SignatureDoesNotMatch",
                    "{name}: an unsigned presigned token verified"
                );
                continue;
            }
            let (canonical, string_to_sign) = auth.canonical_request_and_string_to_sign().unwrap();
            assert_eq!(
                canonical,
                read_text(&dir, &format!("{form}-canonical-request.txt")),
                "{name} {form}"
            );
            assert_eq!(
                string_to_sign,
                read_text(&dir, &format!("{form}-string-to-sign.txt")),
                "{name} {form}"
            );
            let ok = result.unwrap_or_else(|e| panic!("{name} {form}: {}", e.detailed_message()));
            assert_eq!(ok.session_token, ctx.token, "{name} {form}");
            assert_eq!(
                matches!(ok.location, SignatureLocation::Presigned { expires_in: 3600 }),
                form == "query",
                "{name}"
            );
            let wrong = auth.verify("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ").unwrap_err();
            assert_eq!(
                (wrong.aws_code(), wrong.http_status()),
                ("SignatureDoesNotMatch", 403),
                "{name}"
            );
            verified += 1;
        }
    }
    // 31 normalised cases in two forms, less post-sts-header-after's query form.
    assert_eq!(verified, 61);
    assert_eq!(unnormalized, 12, "S3-style cases that must not verify");
}

/// The two cases that only give a canonical request: the double-encoded path must match.
#[test]
fn double_encoding_cases_match_the_canonical_uri() {
    for name in ["double-encode-path", "double-url-encode"] {
        let dir = suite_dir().join(name);
        let parsed = parse_request(&read(&dir, "header-signed-request.txt"));
        let req = parsed.request();
        let expected = read_text(&dir, "header-canonical-request.txt");
        let expected_uri = expected.split('\n').nth(1).unwrap();
        let date = req.header_values("x-amz-date").next().unwrap();
        let now = AmzDate::parse_iso8601_basic(std::str::from_utf8(date).unwrap())
            .unwrap()
            .to_system_time();
        let service = if name == "double-url-encode" {
            "lambda"
        } else {
            "service"
        };
        let auth = Verifier::new([service])
            .parse(&req, now)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let (canonical, _) = auth.canonical_request_and_string_to_sign().unwrap();
        assert_eq!(canonical.split('\n').nth(1).unwrap(), expected_uri, "{name}");
    }
}

/// Every suite request, signed, is rejected a day later and with the wrong service, with the
/// AWS codes for those cases.
#[test]
fn suite_requests_outside_their_time_or_scope_are_rejected() {
    for dir in cases() {
        let Some(ctx) = context(&dir) else { continue };
        for form in ["header", "query"] {
            let parsed = parse_request(&read(&dir, &format!("{form}-signed-request.txt")));
            let req = parsed.request();
            let later = ctx.now + std::time::Duration::from_secs(86_400);
            let e = Verifier::new([ctx.service.as_str()]).parse(&req, later).unwrap_err();
            let expected = if form == "query" {
                "RequestExpired"
            } else {
                "SignatureDoesNotMatch"
            };
            assert_eq!(e.aws_code(), expected, "{}", dir.display());
            let e = Verifier::new(["sts"]).parse(&req, ctx.now).unwrap_err();
            assert_eq!(e.message(), "Credential should be scoped to correct service: 'sts'.");
        }
    }
}
