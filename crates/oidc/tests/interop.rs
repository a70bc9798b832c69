//! Interoperability with independent implementations: PyJWT and jwcrypto (Python, from the
//! test virtualenv) and the `openssl` command line.
//!
//! Python is found through `IRSA_TEST_PYTHON` (set by `scripts/test`), falling back to the
//! workspace's `.venv/bin/python`. When neither exists these tests fail: interop is part of
//! the contract and must not pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use irsa_oidc::jwk::KeySet;
use irsa_oidc::token::unix_now;
use irsa_oidc::{
    Algorithm, Curve, KeySpec, SigningKey, TokenParams, TrustedIssuer, ValidationOptions, Validator, VerifyingKey,
    jwks_from_pem_files, mint_token,
};

const ISS: &str = "https://oidc.interop.test/id/ABCDEF";
const AUD: &str = "sts.amazonaws.com";

fn python() -> PathBuf {
    irsa_testkit::venv_tool("python")
}

fn run_python(script: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.py");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "python failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PYJWT_VERIFY: &str = r#"
import json, sys, jwt
jwks = json.load(open(sys.argv[1]))
tokens = open(sys.argv[2]).read().split()
keys = jwt.PyJWKSet.from_dict(jwks)
by_kid = {k.key_id: k for k in keys.keys}
for t in tokens:
    h = jwt.get_unverified_header(t)
    key = by_kid[h["kid"]]
    claims = jwt.decode(t, key.key, algorithms=[h["alg"]], audience=sys.argv[4],
                        issuer=sys.argv[3],
                        options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud"]})
    k8s = claims["kubernetes.io"]
    print(h["alg"], claims["sub"], k8s["namespace"], k8s["serviceaccount"]["name"],
          k8s.get("pod", {}).get("name", "-"))
"#;

#[test]
fn tokens_minted_by_irsa_verify_with_pyjwt() {
    let keys = [
        SigningKey::generate(KeySpec::Rsa(2048)).unwrap(),
        SigningKey::generate(KeySpec::Rsa(3072))
            .unwrap()
            .with_algorithm(Algorithm::RS384)
            .unwrap(),
        SigningKey::generate(KeySpec::Rsa(2048))
            .unwrap()
            .with_algorithm(Algorithm::RS512)
            .unwrap(),
        SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap(),
        SigningKey::generate(KeySpec::Ec(Curve::P384)).unwrap(),
        SigningKey::generate(KeySpec::Ec(Curve::P521)).unwrap(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let jwks = irsa_oidc::JwkSet {
        keys: keys.iter().map(SigningKey::to_jwk).collect(),
    };
    std::fs::write(dir.path().join("jwks.json"), jwks.to_json()).unwrap();
    let mut tokens = String::new();
    for key in &keys {
        let mut p = TokenParams::new(ISS, "team-a", "reader");
        p.audiences = vec!["other".into(), AUD.into()];
        p.pod = Some(("web-0".into(), "9f1c2b1e-0000-4000-8000-000000000000".into()));
        tokens.push_str(&mint_token(key, &p).unwrap());
        tokens.push('\n');
    }
    std::fs::write(dir.path().join("tokens"), tokens).unwrap();
    let out = run_python(
        PYJWT_VERIFY,
        &[
            dir.path().join("jwks.json").to_str().unwrap(),
            dir.path().join("tokens").to_str().unwrap(),
            ISS,
            AUD,
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), keys.len(), "{out}");
    for (line, key) in lines.iter().zip(&keys) {
        assert_eq!(
            *line,
            format!(
                "{} system:serviceaccount:team-a:reader team-a reader web-0",
                key.algorithm()
            )
        );
    }
}

const PY_MINT: &str = r#"
import base64, hashlib, json, sys, time
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto import jwk as jjwk, jwt as jjwt

iss, aud = sys.argv[1], sys.argv[2]
now = int(time.time())
claims = {"iss": iss, "sub": "system:serviceaccount:ns:sa", "aud": aud,
          "iat": now, "nbf": now, "exp": now + 600}

def kid_of(pub):
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()

def pem_pub(pub):
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

out = []
for alg, key in [("RS256", rsa.generate_private_key(65537, 2048)),
                 ("RS384", rsa.generate_private_key(65537, 3072)),
                 ("RS512", rsa.generate_private_key(65537, 4096)),
                 ("ES256", ec.generate_private_key(ec.SECP256R1())),
                 ("ES384", ec.generate_private_key(ec.SECP384R1())),
                 ("ES512", ec.generate_private_key(ec.SECP521R1()))]:
    pub = key.public_key()
    kid = kid_of(pub)
    out.append({"lib": "pyjwt", "alg": alg, "kid": kid, "pem": pem_pub(pub),
                "token": jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})})
    priv_pem = key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    jk = jjwk.JWK.from_pem(priv_pem)
    t = jjwt.JWT(header={"alg": alg, "kid": kid}, claims=claims)
    t.make_signed_token(jk)
    public_jwk = json.loads(jk.export_public())
    public_jwk["kid"] = kid
    out.append({"lib": "jwcrypto", "alg": alg, "kid": kid, "pem": pem_pub(pub),
                "token": t.serialize(), "jwk": public_jwk})
print(json.dumps(out))
"#;

#[test]
fn tokens_minted_by_pyjwt_and_jwcrypto_verify_with_irsa() {
    let out = run_python(PY_MINT, &[ISS, AUD]);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(entries.len(), 12);
    let v = Validator::new([TrustedIssuer::new(ISS, [AUD])], ValidationOptions::default());
    for e in &entries {
        let what = format!("{} {}", e["lib"], e["alg"]);
        // the kid rule agrees with Python's computation from the SPKI
        let keys = VerifyingKey::from_pem(e["pem"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(keys[0].kid(), e["kid"].as_str().unwrap(), "{what}");
        let set = KeySet::from_keys(keys);
        let ok = v.verify_with_keys(e["token"].as_str().unwrap(), &set, unix_now());
        let ok = ok.unwrap_or_else(|err| panic!("{what}: {err}"));
        assert_eq!(ok.header.alg.as_str(), e["alg"].as_str().unwrap());
        assert_eq!(ok.claims.sub.as_deref(), Some("system:serviceaccount:ns:sa"));
        // jwcrypto's own JWK export parses into the same key
        if let Some(jwk) = e.get("jwk") {
            let jwks = serde_json::json!({ "keys": [jwk] }).to_string();
            let set = KeySet::from_jwks_json(jwks.as_bytes()).unwrap();
            v.verify_with_keys(e["token"].as_str().unwrap(), &set, unix_now())
                .unwrap_or_else(|err| panic!("{what} via jwcrypto JWK: {err}"));
        }
    }
}

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "`{script}` failed (is openssl installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn openssl_keys_match_the_kid_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh(
        d,
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-pkcs8.pem 2>/dev/null
         openssl rsa -in rsa-pkcs8.pem -traditional -out rsa-pkcs1.pem 2>/dev/null
         openssl pkey -in rsa-pkcs8.pem -pubout -out rsa-spki.pem
         openssl rsa -in rsa-pkcs8.pem -RSAPublicKey_out -out rsa-pkcs1-pub.pem 2>/dev/null
         openssl req -x509 -new -key rsa-pkcs8.pem -subj /CN=sa-signer -days 1 -out rsa-cert.pem
         openssl ecparam -name prime256v1 -genkey -noout -out ec-sec1.pem
         openssl pkcs8 -topk8 -nocrypt -in ec-sec1.pem -out ec-pkcs8.pem
         openssl ec -in ec-sec1.pem -pubout -out ec-spki.pem 2>/dev/null",
    );
    let kid_cmd = |key: &str| {
        format!(
            "openssl pkey -in {key} -pubout -outform DER | openssl dgst -sha256 -binary | \
             openssl base64 -A | tr '+/' '-_' | tr -d '='"
        )
    };
    let rsa_kid = sh(d, &kid_cmd("rsa-pkcs8.pem"));
    let ec_kid = sh(d, &kid_cmd("ec-sec1.pem"));
    assert_eq!(rsa_kid.len(), 43);
    for (file, kid) in [
        ("rsa-pkcs8.pem", &rsa_kid),
        ("rsa-pkcs1.pem", &rsa_kid),
        ("rsa-spki.pem", &rsa_kid),
        ("rsa-pkcs1-pub.pem", &rsa_kid),
        ("rsa-cert.pem", &rsa_kid),
        ("ec-sec1.pem", &ec_kid),
        ("ec-pkcs8.pem", &ec_kid),
        ("ec-spki.pem", &ec_kid),
    ] {
        let keys = VerifyingKey::from_pem_file(d.join(file)).unwrap();
        assert_eq!(keys.len(), 1, "{file}");
        assert_eq!(keys[0].kid(), kid.as_str(), "{file}");
    }
    // signing keys load from every private form and sign tokens with that kid
    for file in ["rsa-pkcs8.pem", "rsa-pkcs1.pem", "ec-sec1.pem", "ec-pkcs8.pem"] {
        let key = SigningKey::from_pem_file(d.join(file)).unwrap();
        let t = mint_token(&key, &TokenParams::new(ISS, "ns", "sa")).unwrap();
        let header = t.split('.').next().unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"], key.kid(), "{file}");
    }
    // the JWKS of all the files: two keys, de-duplicated by kid, kube-apiserver shape
    let files: Vec<PathBuf> = ["rsa-spki.pem", "rsa-pkcs8.pem", "rsa-cert.pem", "ec-spki.pem"]
        .iter()
        .map(|f| d.join(f))
        .collect();
    let jwks = jwks_from_pem_files(&files).unwrap();
    assert_eq!(jwks.keys.len(), 2);
    assert_eq!(jwks.keys[0].kid.as_deref(), Some(rsa_kid.as_str()));
    assert_eq!(jwks.keys[0].alg.as_deref(), Some("RS256"));
    assert_eq!(jwks.keys[0].use_.as_deref(), Some("sig"));
    assert_eq!(jwks.keys[1].kid.as_deref(), Some(ec_kid.as_str()));
    assert_eq!(jwks.keys[1].crv.as_deref(), Some("P-256"));
    // and openssl's modulus is the JWK's n
    let modulus = sh(d, "openssl rsa -in rsa-spki.pem -pubin -noout -modulus | cut -d= -f2");
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        jwks.keys[0].n.as_deref().unwrap(),
    )
    .unwrap();
    let hex: String = n.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hex, modulus);
}

#[test]
fn irsa_keygen_output_is_readable_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let pem = irsa_oidc::keygen(alg).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let path = dir.path().join("k.pem");
        std::fs::write(&path, &pem).unwrap();
        let kid = sh(
            dir.path(),
            "openssl pkey -in k.pem -pubout -outform DER | openssl dgst -sha256 -binary | \
             openssl base64 -A | tr '+/' '-_' | tr -d '='",
        );
        assert_eq!(SigningKey::from_pem(pem.as_bytes()).unwrap().kid(), kid);
    }
}

#[test]
fn interop_with_the_jsonwebtoken_crate() {
    use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
    let v = Validator::new([TrustedIssuer::new(ISS, [AUD])], ValidationOptions::default());
    for (spec, alg) in [
        (KeySpec::Rsa(2048), jsonwebtoken::Algorithm::RS256),
        (KeySpec::Ec(Curve::P256), jsonwebtoken::Algorithm::ES256),
        (KeySpec::Ec(Curve::P384), jsonwebtoken::Algorithm::ES384),
    ] {
        let key = SigningKey::generate(spec).unwrap();
        // irsa mints, jsonwebtoken verifies with the published JWK
        let token = mint_token(&key, &TokenParams::new(ISS, "ns", "sa")).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&serde_json::to_string(&key.to_jwk()).unwrap()).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_audience(&[AUD]);
        validation.set_issuer(&[ISS]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
                .unwrap();
        assert_eq!(data.claims["sub"], "system:serviceaccount:ns:sa");
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));

        // jsonwebtoken mints, irsa verifies
        let pem = key.to_pkcs8_pem().unwrap();
        let enc = if matches!(spec, KeySpec::Rsa(_)) {
            EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
        } else {
            EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
        };
        let mut header = Header::new(alg);
        header.kid = Some(key.kid().to_owned());
        let now = unix_now();
        let claims = serde_json::json!({
            "iss": ISS, "aud": AUD, "sub": "system:serviceaccount:ns:sa",
            "iat": now, "exp": now + 600,
        });
        let token = jsonwebtoken::encode(&header, &claims, &enc).unwrap();
        let set = KeySet::from_keys([key.public_key().clone()]);
        v.verify_with_keys(&token, &set, now).unwrap();
    }
}
