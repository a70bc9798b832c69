//! An adversarial corpus of bad tokens, run as data: every case names the token, the STS error
//! code it must map to, and a fragment the message must contain. Tokens that are otherwise
//! well-formed are really signed, so each case fails for its own defect only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use irsa_oidc::jwk::KeySet;
use irsa_oidc::token::unix_now;
use irsa_oidc::{
    Curve, KeySpec, SigningKey, StsErrorCode, TokenParams, TrustedIssuer, ValidationOptions, Validator, mint_token,
};
use serde_json::json;

const ISS: &str = "https://issuer.test";
const OTHER_ISS: &str = "https://other-issuer.test";
const AUD: &str = "sts.amazonaws.com";

struct Keys {
    rsa: SigningKey,
    ec: SigningKey,
    other_issuer: SigningKey,
    attacker: SigningKey,
    set: KeySet,
}

fn keys() -> Keys {
    let rsa = SigningKey::generate(KeySpec::Rsa(2048)).unwrap();
    let ec = SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap();
    let other_issuer = SigningKey::generate(KeySpec::Rsa(2048)).unwrap();
    let attacker = SigningKey::generate(KeySpec::Rsa(2048)).unwrap();
    let weak: serde_json::Value = serde_json::from_str(include_str!("data/rsa1024.jwk.json")).unwrap();
    let jwks = json!({ "keys": [
        rsa.public_key().to_jwk(),
        ec.public_key().to_jwk(),
        weak,
    ]});
    let set = KeySet::from_jwks_json(jwks.to_string().as_bytes()).unwrap();
    Keys {
        rsa,
        ec,
        other_issuer,
        attacker,
        set,
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn good_claims(now: i64) -> serde_json::Value {
    json!({
        "aud": [AUD],
        "exp": now + 3600,
        "iat": now,
        "iss": ISS,
        "nbf": now,
        "sub": "system:serviceaccount:default:app",
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "app", "uid": "u"}},
    })
}

/// Sign raw header and payload JSON text with `key` (whatever the header says).
fn sign_raw(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&sig))
}

fn header(alg: &str, kid: &str) -> String {
    json!({"alg": alg, "kid": kid}).to_string()
}

fn with_claims(key: &SigningKey, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut c = good_claims(unix_now());
    f(&mut c);
    sign_raw(key, &header(key.algorithm().as_str(), key.kid()), &c.to_string())
}

fn hmac_token(secret: &[u8], kid: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(header("HS256", kid).as_bytes()),
        b64(good_claims(unix_now()).to_string().as_bytes())
    );
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn ecdsa_der_signature_token(k: &Keys) -> String {
    // ES256 signature in ASN.1 DER form instead of JWS's fixed r||s form
    let input = format!(
        "{}.{}",
        b64(header("ES256", k.ec.kid()).as_bytes()),
        b64(good_claims(unix_now()).to_string().as_bytes())
    );
    let fixed = k.ec.sign(input.as_bytes()).unwrap();
    let (r, s) = fixed.split_at(32);
    let int = |v: &[u8]| {
        let mut v = v.to_vec();
        while v.len() > 1 && v[0] == 0 && v[1] < 0x80 {
            v.remove(0);
        }
        if v[0] >= 0x80 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let mut body = int(r);
    body.extend(int(s));
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    format!("{input}.{}", b64(&der))
}

enum Expect {
    Invalid(&'static str),
    Expired(&'static str),
}

struct Case {
    name: &'static str,
    token: String,
    expect: Expect,
}

fn corpus(k: &Keys) -> Vec<Case> {
    let now = unix_now();
    let good = mint_token(&k.rsa, &TokenParams::new(ISS, "default", "app")).unwrap();
    let (good_input, good_sig) = good.rsplit_once('.').unwrap();
    let (good_h, good_p) = good_input.split_once('.').unwrap();
    let rsa_pub_pem = k.rsa.public_key().to_spki_pem();
    let payload = good_claims(now).to_string();
    let inv = Expect::Invalid;
    let cases = vec![
        Case {
            name: "empty",
            token: String::new(),
            expect: inv("three dot-separated"),
        },
        Case {
            name: "one segment",
            token: "abc".into(),
            expect: inv("three dot-separated"),
        },
        Case {
            name: "two segments",
            token: format!("{good_h}.{good_p}"),
            expect: inv("three dot-separated"),
        },
        Case {
            name: "four segments",
            token: format!("{good}.x"),
            expect: inv("three dot-separated"),
        },
        Case {
            name: "empty signature (alg none style)",
            token: format!("{good_h}.{good_p}."),
            expect: inv("empty signature"),
        },
        Case {
            name: "alg none",
            token: format!("{}.{}.{}", b64(br#"{"alg":"none"}"#), good_p, good_sig),
            expect: inv("`none` is not accepted"),
        },
        Case {
            name: "alg None (case variant)",
            token: format!("{}.{}.{}", b64(br#"{"alg":"None"}"#), good_p, good_sig),
            expect: inv("`None` is not accepted"),
        },
        Case {
            name: "alg none without signature",
            token: format!("{}.{}.", b64(br#"{"alg":"none"}"#), good_p),
            expect: inv("empty signature"),
        },
        Case {
            name: "HS256 keyed with the RSA public key PEM",
            token: hmac_token(rsa_pub_pem.as_bytes(), k.rsa.kid()),
            expect: inv("`HS256` is not accepted"),
        },
        Case {
            name: "HS256 keyed with the RSA SPKI DER",
            token: hmac_token(k.rsa.public_key().spki_der(), k.rsa.kid()),
            expect: inv("`HS256` is not accepted"),
        },
        Case {
            name: "HS512",
            token: sign_raw(&k.rsa, &header("HS512", k.rsa.kid()), &payload),
            expect: inv("`HS512` is not accepted"),
        },
        Case {
            name: "PS256",
            token: sign_raw(&k.rsa, &header("PS256", k.rsa.kid()), &payload),
            expect: inv("`PS256` is not accepted"),
        },
        Case {
            name: "EdDSA",
            token: sign_raw(&k.rsa, &header("EdDSA", k.rsa.kid()), &payload),
            expect: inv("`EdDSA` is not accepted"),
        },
        Case {
            name: "lower-case rs256",
            token: sign_raw(&k.rsa, &header("rs256", k.rsa.kid()), &payload),
            expect: inv("`rs256` is not accepted"),
        },
        Case {
            name: "alg missing",
            token: sign_raw(&k.rsa, &json!({"kid": k.rsa.kid()}).to_string(), &payload),
            expect: inv("no `alg`"),
        },
        Case {
            name: "alg not a string",
            token: sign_raw(&k.rsa, &json!({"alg": 256, "kid": k.rsa.kid()}).to_string(), &payload),
            expect: inv("`alg` is not a string"),
        },
        Case {
            name: "kid not a string",
            token: sign_raw(&k.rsa, &json!({"alg": "RS256", "kid": 7}).to_string(), &payload),
            expect: inv("`kid` is not a string"),
        },
        Case {
            name: "header not JSON",
            token: format!("{}.{good_p}.{good_sig}", b64(b"{alg:RS256}")),
            expect: inv("header is not valid JSON"),
        },
        Case {
            name: "header is an array",
            token: format!("{}.{good_p}.{good_sig}", b64(b"[\"RS256\"]")),
            expect: inv("expected a JSON object"),
        },
        Case {
            name: "payload not JSON",
            token: sign_raw(&k.rsa, &header("RS256", k.rsa.kid()), "not json"),
            expect: inv("payload is not valid JSON"),
        },
        Case {
            name: "payload is null",
            token: sign_raw(&k.rsa, &header("RS256", k.rsa.kid()), "null"),
            expect: inv("expected a JSON object"),
        },
        Case {
            name: "payload has trailing garbage",
            token: sign_raw(&k.rsa, &header("RS256", k.rsa.kid()), &format!("{payload}x")),
            expect: inv("payload is not valid JSON"),
        },
        Case {
            name: "padded base64",
            token: {
                let h = STANDARD.encode(header("RS256", k.rsa.kid()));
                format!("{h}.{good_p}.{good_sig}")
            },
            expect: inv("base64url"),
        },
        Case {
            name: "standard-alphabet base64 signature",
            token: format!("{good_input}.{}", good_sig.replace('-', "+").replace('_', "/") + "+/"),
            expect: inv("signature is not unpadded base64url"),
        },
        Case {
            name: "whitespace inside",
            token: format!("{good_h}.{good_p} .{good_sig}"),
            expect: inv("payload is not unpadded base64url"),
        },
        Case {
            name: "non-canonical base64 trailing bits",
            token: format!("{good_h}.{good_p}.{}", {
                // "AB" decodes to one byte but leaves non-zero trailing bits
                let mut s = good_sig.to_owned();
                s.truncate(s.len() - (s.len() % 4));
                s.push_str("AB");
                s
            }),
            expect: inv("signature is not unpadded base64url"),
        },
        Case {
            name: "duplicate alg in header",
            token: sign_raw(
                &k.rsa,
                &format!(r#"{{"alg":"HS256","alg":"RS256","kid":"{}"}}"#, k.rsa.kid()),
                &payload,
            ),
            expect: inv("duplicate member `alg`"),
        },
        Case {
            name: "duplicate iss in payload",
            token: sign_raw(
                &k.rsa,
                &header("RS256", k.rsa.kid()),
                &format!(r#"{{"iss":"{OTHER_ISS}",{}"#, &payload[1..]),
            ),
            expect: inv("duplicate member `iss`"),
        },
        Case {
            name: "duplicate member nested in kubernetes.io",
            token: sign_raw(
                &k.rsa,
                &header("RS256", k.rsa.kid()),
                &payload.replace(
                    r#""namespace":"default""#,
                    r#""namespace":"default","namespace":"kube-system""#,
                ),
            ),
            expect: inv("duplicate field `namespace`"),
        },
        Case {
            name: "crit header",
            token: sign_raw(
                &k.rsa,
                &json!({"alg":"RS256","kid":k.rsa.kid(),"crit":["exp"]}).to_string(),
                &payload,
            ),
            expect: inv("`crit`"),
        },
        Case {
            name: "b64=false header",
            token: sign_raw(
                &k.rsa,
                &json!({"alg":"RS256","kid":k.rsa.kid(),"b64":false}).to_string(),
                &payload,
            ),
            expect: inv("`b64`"),
        },
        Case {
            name: "expired",
            token: with_claims(&k.rsa, |c| c["exp"] = json!(now - 3600)),
            expect: Expect::Expired("Token expired"),
        },
        Case {
            name: "expired just beyond the 60 s leeway",
            token: with_claims(&k.rsa, |c| c["exp"] = json!(now - 61)),
            expect: Expect::Expired("Token expired"),
        },
        Case {
            name: "expired in 1970",
            token: with_claims(&k.rsa, |c| {
                c["exp"] = json!(1);
                c["iat"] = json!(0);
                c["nbf"] = json!(0);
            }),
            expect: Expect::Expired("Token expired"),
        },
        Case {
            name: "nbf in the future",
            token: with_claims(&k.rsa, |c| c["nbf"] = json!(now + 600)),
            expect: inv("not valid before"),
        },
        Case {
            name: "iat in the future",
            token: with_claims(&k.rsa, |c| c["iat"] = json!(now + 600)),
            expect: inv("issued in the future"),
        },
        Case {
            name: "exp missing",
            token: with_claims(&k.rsa, |c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            expect: inv("Missing a required claim: exp"),
        },
        Case {
            name: "exp as float",
            token: with_claims(&k.rsa, |c| c["exp"] = json!((now + 3600) as f64 + 0.5)),
            expect: inv("invalid claim `exp`"),
        },
        Case {
            name: "exp as exponent number",
            token: sign_raw(
                &k.rsa,
                &header("RS256", k.rsa.kid()),
                &payload.replace(&format!("\"exp\":{}", now + 3600), "\"exp\":1e10"),
            ),
            expect: inv("invalid claim `exp`"),
        },
        Case {
            name: "exp as string",
            token: with_claims(&k.rsa, |c| c["exp"] = json!((now + 3600).to_string())),
            expect: inv("invalid claim `exp`"),
        },
        Case {
            name: "nbf as string",
            token: with_claims(&k.rsa, |c| c["nbf"] = json!("0")),
            expect: inv("invalid claim `nbf`"),
        },
        Case {
            name: "iat as float",
            token: with_claims(&k.rsa, |c| c["iat"] = json!(1.5)),
            expect: inv("invalid claim `iat`"),
        },
        Case {
            name: "exp beyond i64",
            token: sign_raw(
                &k.rsa,
                &header("RS256", k.rsa.kid()),
                &payload.replace(&format!("\"exp\":{}", now + 3600), "\"exp\":18446744073709551615"),
            ),
            expect: inv("invalid claim `exp`"),
        },
        Case {
            name: "iss missing",
            token: with_claims(&k.rsa, |c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
            expect: inv("Missing a required claim: iss"),
        },
        Case {
            name: "iss not a string",
            token: with_claims(&k.rsa, |c| c["iss"] = json!([ISS])),
            expect: inv("invalid claim `iss`"),
        },
        Case {
            name: "iss of an untrusted issuer",
            token: with_claims(&k.rsa, |c| c["iss"] = json!("https://evil.test")),
            expect: inv("No OpenIDConnect provider found for https://evil.test"),
        },
        Case {
            name: "iss with trailing slash",
            token: with_claims(&k.rsa, |c| c["iss"] = json!(format!("{ISS}/"))),
            expect: inv("No OpenIDConnect provider found"),
        },
        Case {
            name: "iss with http scheme",
            token: with_claims(&k.rsa, |c| c["iss"] = json!("http://issuer.test")),
            expect: inv("No OpenIDConnect provider found"),
        },
        Case {
            name: "iss differing in case",
            token: with_claims(&k.rsa, |c| c["iss"] = json!("https://Issuer.test")),
            expect: inv("No OpenIDConnect provider found"),
        },
        Case {
            name: "aud missing",
            token: with_claims(&k.rsa, |c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            expect: inv("Missing a required claim: aud"),
        },
        Case {
            name: "aud wrong",
            token: with_claims(&k.rsa, |c| c["aud"] = json!(["sts.amazonaws.com.evil"])),
            expect: inv("Incorrect token audience"),
        },
        Case {
            name: "aud wrong (string)",
            token: with_claims(&k.rsa, |c| c["aud"] = json!("kubernetes.default.svc")),
            expect: inv("Incorrect token audience"),
        },
        Case {
            name: "aud empty list",
            token: with_claims(&k.rsa, |c| c["aud"] = json!([])),
            expect: inv("Missing a required claim: aud"),
        },
        Case {
            name: "aud with a non-string member",
            token: with_claims(&k.rsa, |c| c["aud"] = json!([AUD, 1])),
            expect: inv("invalid claim `aud`"),
        },
        Case {
            name: "aud as object",
            token: with_claims(&k.rsa, |c| c["aud"] = json!({"aud": AUD})),
            expect: inv("invalid claim `aud`"),
        },
        Case {
            name: "sub missing",
            token: with_claims(&k.rsa, |c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            expect: inv("Missing a required claim: sub"),
        },
        Case {
            name: "sub empty",
            token: with_claims(&k.rsa, |c| c["sub"] = json!("")),
            expect: inv("Missing a required claim: sub"),
        },
        Case {
            name: "sub not a string",
            token: with_claims(&k.rsa, |c| c["sub"] = json!(42)),
            expect: inv("invalid claim `sub`"),
        },
        Case {
            name: "kubernetes.io malformed",
            token: with_claims(&k.rsa, |c| c["kubernetes.io"] = json!({"namespace": 1})),
            expect: inv("invalid claim `kubernetes.io`"),
        },
        Case {
            name: "attacker key with the issuer's kid",
            token: sign_raw(&k.attacker, &header("RS256", k.rsa.kid()), &payload),
            expect: inv("invalid signature"),
        },
        Case {
            name: "kid of another issuer's key",
            token: sign_raw(&k.other_issuer, &header("RS256", k.other_issuer.kid()), &payload),
            expect: inv("no key with kid"),
        },
        Case {
            name: "unknown kid",
            token: sign_raw(&k.attacker, &header("RS256", "forged-kid"), &payload),
            expect: inv("no key with kid `forged-kid`"),
        },
        Case {
            name: "kid with control characters is sanitized",
            token: sign_raw(&k.attacker, &header("RS256", "bad\nkid\u{7}"), &payload),
            expect: inv("no key with kid `bad?kid?`"),
        },
        Case {
            name: "no kid, several keys",
            token: sign_raw(&k.rsa, &json!({"alg":"RS256"}).to_string(), &payload),
            expect: inv("has no kid"),
        },
        Case {
            name: "ES256 header on the RSA key",
            token: sign_raw(&k.rsa, &header("ES256", k.rsa.kid()), &payload),
            expect: inv("does not match key"),
        },
        Case {
            name: "RS256 header on the EC key",
            token: sign_raw(&k.ec, &header("RS256", k.ec.kid()), &payload),
            expect: inv("does not match key"),
        },
        Case {
            name: "ES384 header on the P-256 key",
            token: sign_raw(&k.ec, &header("ES384", k.ec.kid()), &payload),
            expect: inv("does not match key"),
        },
        Case {
            name: "ES512 header on the P-256 key",
            token: sign_raw(&k.ec, &header("ES512", k.ec.kid()), &payload),
            expect: inv("does not match key"),
        },
        Case {
            name: "RSA key under 2048 bits",
            token: include_str!("data/rsa1024.token").trim().to_owned(),
            expect: inv("2048"),
        },
        Case {
            name: "tampered payload",
            token: format!(
                "{good_h}.{}.{good_sig}",
                b64(good_claims(now)
                    .to_string()
                    .replace("default:app", "kube-system:admin")
                    .as_bytes())
            ),
            expect: inv("invalid signature"),
        },
        Case {
            name: "truncated signature",
            token: format!("{good_input}.{}", &good_sig[..good_sig.len() - 2]),
            expect: inv("invalid signature"),
        },
        Case {
            name: "signature of another token",
            token: format!(
                "{good_input}.{}",
                mint_token(&k.rsa, &TokenParams::new(ISS, "x", "y"))
                    .unwrap()
                    .rsplit_once('.')
                    .unwrap()
                    .1
            ),
            expect: inv("invalid signature"),
        },
        Case {
            name: "ES256 signature in DER form",
            token: ecdsa_der_signature_token(k),
            expect: inv("invalid signature"),
        },
        Case {
            name: "embedded jwk header with attacker key",
            token: sign_raw(
                &k.attacker,
                &json!({"alg":"RS256","kid":k.rsa.kid(),"jwk":k.attacker.public_key().to_jwk()}).to_string(),
                &payload,
            ),
            expect: inv("invalid signature"),
        },
        Case {
            name: "jku header pointing at the attacker",
            token: sign_raw(
                &k.attacker,
                &json!({"alg":"RS256","kid":k.attacker.kid(),"jku":"https://evil.test/jwks"}).to_string(),
                &payload,
            ),
            expect: inv("no key with kid"),
        },
        Case {
            name: "token over 20,000 characters",
            token: format!("{good_h}.{}.{good_sig}", b64(&vec![b' '; 16_000])),
            expect: inv("more than the 20000 allowed"),
        },
        Case {
            name: "huge token (1 MB)",
            token: "a".repeat(1 << 20),
            expect: inv("more than the 20000 allowed"),
        },
        Case {
            name: "non-ASCII junk",
            token: "ñ.ü.ß".into(),
            expect: inv("base64url"),
        },
        Case {
            name: "deeply nested JSON",
            token: sign_raw(
                &k.rsa,
                &header("RS256", k.rsa.kid()),
                &format!(r#"{{"iss":"{ISS}","aud":{}{}}}"#, "[".repeat(5000), "]".repeat(5000)),
            ),
            expect: inv("invalid claim `aud`"),
        },
    ];
    cases
}

#[test]
fn adversarial_corpus_is_rejected_with_the_right_sts_code() {
    let k = keys();
    let v = Validator::new(
        [TrustedIssuer::new(ISS, [AUD]), TrustedIssuer::new(OTHER_ISS, [AUD])],
        ValidationOptions::default(),
    );
    // positives first, so the corpus fails for the right reasons
    for key in [&k.rsa, &k.ec] {
        let t = mint_token(key, &TokenParams::new(ISS, "default", "app")).unwrap();
        v.verify_with_keys(&t, &k.set, unix_now()).unwrap();
    }
    let cases = corpus(&k);
    assert!(cases.len() >= 40, "corpus has only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let result = v.verify_with_keys(&case.token, &k.set, unix_now());
        let Err(err) = result else {
            failures.push(format!("{}: accepted", case.name));
            continue;
        };
        let msg = err.to_string();
        let (code, fragment) = match case.expect {
            Expect::Invalid(f) => (StsErrorCode::InvalidIdentityToken, f),
            Expect::Expired(f) => (StsErrorCode::ExpiredTokenException, f),
        };
        if err.sts_error_code() != code {
            failures.push(format!(
                "{}: {} instead of {code}: {msg}",
                case.name,
                err.sts_error_code()
            ));
        }
        if !msg.contains(fragment) {
            failures.push(format!("{}: message {msg:?} lacks {fragment:?}", case.name));
        }
        // never echo the token or its signature
        for part in case.token.split('.').filter(|p| p.len() >= 16) {
            if msg.contains(part) {
                failures.push(format!("{}: message leaks a token segment", case.name));
            }
        }
        if msg.len() > 400 {
            failures.push(format!("{}: message is {} bytes long", case.name, msg.len()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn tokens_without_kid_use_the_empty_kid_or_single_key() {
    let key = SigningKey::generate(KeySpec::Rsa(2048)).unwrap();
    let v = Validator::new([TrustedIssuer::new(ISS, [AUD])], ValidationOptions::default());
    let payload = good_claims(unix_now()).to_string();
    let t = sign_raw(&key, r#"{"alg":"RS256"}"#, &payload);
    // single key: used
    let single = KeySet::from_keys([key.public_key().clone()]);
    v.verify_with_keys(&t, &single, unix_now()).unwrap();
    // pre-1.16 trick: the key duplicated with `kid: ""`
    let other = SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap();
    let two = KeySet::from_keys([other.public_key().clone(), key.public_key().clone().with_kid("")]);
    v.verify_with_keys(&t, &two, unix_now()).unwrap();
}

#[test]
fn every_accepted_algorithm_verifies() {
    let v = Validator::new([TrustedIssuer::new(ISS, [AUD])], ValidationOptions::default());
    let specs = [
        (KeySpec::Rsa(2048), Some(irsa_oidc::Algorithm::RS256)),
        (KeySpec::Rsa(3072), Some(irsa_oidc::Algorithm::RS384)),
        (KeySpec::Rsa(2048), Some(irsa_oidc::Algorithm::RS512)),
        (KeySpec::Ec(Curve::P256), None),
        (KeySpec::Ec(Curve::P384), None),
        (KeySpec::Ec(Curve::P521), None),
    ];
    for (spec, alg) in specs {
        let mut key = SigningKey::generate(spec).unwrap();
        if let Some(a) = alg {
            key = key.with_algorithm(a).unwrap();
        }
        // through a JWKS document, as fetched
        let jwks = irsa_oidc::JwkSet {
            keys: vec![key.to_jwk()],
        }
        .to_json();
        let set = KeySet::from_jwks_json(jwks.as_bytes()).unwrap();
        let t = mint_token(&key, &TokenParams::new(ISS, "ns", "sa")).unwrap();
        let ok = v.verify_with_keys(&t, &set, unix_now());
        assert!(ok.is_ok(), "{}: {ok:?}", key.algorithm());
    }
}
