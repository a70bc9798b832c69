//! Cross-check with botocore (boto3, the AWS CLI): `tests/botocore_sign.py` signs real SDK
//! calls (STS and IAM, with and without a session token, presigned and in the header) and
//! edge cases; every request must verify here, and fail with a wrong secret.
//!
//! Python comes from `IRSA_TEST_PYTHON`, else the repository's virtualenv (`.venv`, made by
//! `scripts/test`). Without either the test fails and says how to make one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use base64::Engine as _;
use irsa_sigv4::{Request, SignatureLocation, Verifier};

fn python() -> PathBuf {
    irsa_testkit::venv_tool("python")
}

struct Case {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    service: String,
    region: String,
    secret: String,
    token: Option<String>,
}

fn signed_by_botocore() -> Vec<Case> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/botocore_sign.py");
    let python = python();
    let out = Command::new(&python)
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap().to_owned();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: s(c, "name"),
            method: s(c, "method"),
            path: s(c, "path"),
            query: s(c, "query"),
            headers: c["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().to_owned(), h[1].as_str().unwrap().to_owned()))
                .collect(),
            body: base64::engine::general_purpose::STANDARD.decode(s(c, "body")).unwrap(),
            service: s(c, "service"),
            region: s(c, "region"),
            secret: s(c, "secret"),
            token: c["token"].as_str().map(str::to_owned),
        })
        .collect()
}

#[test]
fn botocore_signed_requests_verify() {
    let cases = signed_by_botocore();
    assert!(cases.len() >= 11, "expected the script's 11 cases, got {}", cases.len());
    let mut presigned = 0;
    for case in &cases {
        let mut req = Request::from_parts(&case.method, &case.path, &case.query).body(&case.body);
        for (n, v) in &case.headers {
            req.push_header(n, v.as_bytes());
        }
        let verifier = Verifier::new([case.service.as_str()]);
        let auth = verifier
            .parse(&req, SystemTime::now())
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        assert_eq!(auth.scope().region(), case.region, "{}", case.name);
        assert_eq!(auth.session_token(), case.token.as_deref(), "{}", case.name);
        let ok = auth
            .verify(&case.secret)
            .unwrap_or_else(|e| panic!("{}: {}", case.name, e.detailed_message()));
        if matches!(ok.location, SignatureLocation::Presigned { .. }) {
            presigned += 1;
        }
        let e = auth.verify("not the secret").unwrap_err();
        assert_eq!(e.aws_code(), "SignatureDoesNotMatch", "{}", case.name);
        // Another service's verifier refuses the scope before any secret is involved.
        let other = if case.service == "sts" { "iam" } else { "sts" };
        let e = Verifier::new([other]).parse(&req, SystemTime::now()).unwrap_err();
        assert_eq!(
            e.message(),
            format!("Credential should be scoped to correct service: '{other}'.")
        );
    }
    assert_eq!(presigned, 3);
}
