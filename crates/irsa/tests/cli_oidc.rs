//! `irsa oidc` and `irsa token`: a self-hosted issuer end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn irsa(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run irsa")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn keys_documents_and_tokens_fit_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&irsa(d, &["oidc", "keygen", "--alg", "RS256", "--out", "sa.key"]));
    ok(&irsa(d, &["oidc", "keygen", "--alg", "ES256", "--out", "next.key"]));
    // No silent overwrite of a signing key.
    let again = irsa(d, &["oidc", "keygen", "--out", "sa.key"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));

    let jwks: serde_json::Value = serde_json::from_str(&ok(&irsa(
        d,
        &["oidc", "jwks", "--public-key", "sa.key", "--public-key", "next.key"],
    )))
    .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[1]["crv"], "P-256");

    let issuer = "https://oidc.example.com/clusters/c1";
    let disco: serde_json::Value = serde_json::from_str(&ok(&irsa(
        d,
        &["oidc", "discovery", "--issuer", issuer, "--public-key", "sa.key"],
    )))
    .unwrap();
    assert_eq!(disco["issuer"], issuer);
    assert_eq!(disco["jwks_uri"], format!("{issuer}/openid/v1/jwks"));

    let token = ok(&irsa(
        d,
        &[
            "token",
            "--signing-key",
            "sa.key",
            "--issuer",
            issuer,
            "--namespace",
            "team-a",
            "--service-account",
            "default-editor",
            "--pod-name",
            "nb-0",
            "--pod-uid",
            "6f1c",
        ],
    ));
    let token = token.trim();
    // The token's kid is in the published JWKS, and the token verifies against it.
    let header: serde_json::Value = serde_json::from_slice(&b64(token.split('.').next().unwrap())).unwrap();
    assert!(keys.iter().any(|k| k["kid"] == header["kid"]));
    let set = irsa_oidc::jwks_from_pem_files(&[d.join("sa.key")]).unwrap();
    let keys = irsa_oidc::jwk::KeySet::from_jwks_json(set.to_json().as_bytes()).unwrap();
    let validator = irsa_oidc::Validator::new(
        [irsa_oidc::TrustedIssuer::new(issuer, ["sts.amazonaws.com"])],
        irsa_oidc::ValidationOptions::default(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let verified = validator.verify_with_keys(token, &keys, now).unwrap();
    assert_eq!(
        verified.claims.sub.as_deref(),
        Some("system:serviceaccount:team-a:default-editor")
    );
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn serve_publishes_both_documents_with_caching_headers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&irsa(d, &["oidc", "keygen", "--out", "sa.key"]));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let issuer = format!("http://{addr}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_irsa"))
            .args([
                "oidc", "serve", "--issuer", &issuer, "--key", "sa.key", "--listen", &addr,
            ])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let disco = loop {
        if let Some(r) = get(&addr, "/.well-known/openid-configuration") {
            break r;
        }
        assert!(Instant::now() < deadline, "irsa oidc serve did not answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(disco.starts_with("HTTP/1.1 200"), "{disco}");
    assert!(
        disco
            .to_ascii_lowercase()
            .contains("cache-control: public, max-age=3600"),
        "{disco}"
    );
    assert!(
        disco.contains(&format!("\"jwks_uri\":\"{issuer}/openid/v1/jwks\"")),
        "{disco}"
    );
    let jwks = get(&addr, "/openid/v1/jwks").unwrap();
    assert!(
        jwks.starts_with("HTTP/1.1 200") && jwks.contains("\"kty\":\"RSA\""),
        "{jwks}"
    );
}
