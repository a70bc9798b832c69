//! Any text as a web identity token: decoding and validation never panic, and
//! nothing but a token signed by the trusted key verifies.
#![no_main]

use irsa_oidc::jwk::KeySet;
use irsa_oidc::{TrustedIssuer, ValidationOptions, Validator};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const JWKS: &str = r#"{"keys":[{"use":"sig","kty":"EC","kid":"k1","crv":"P-256","alg":"ES256",
"x":"Iwv0_ElC8aK7KFeQ1TvakbUf-Rwxo0w4YZ-yIjRIbxA","y":"5YqTA26TibDW2JMxMy1Xo0D6gzwy0B6au4WbLmUBxy0"}]}"#;

fn setup() -> &'static (Validator, KeySet) {
    static S: OnceLock<(Validator, KeySet)> = OnceLock::new();
    S.get_or_init(|| {
        let v = Validator::new(
            [TrustedIssuer::new("https://issuer.example.com", ["sts.amazonaws.com"])],
            ValidationOptions::default(),
        );
        match KeySet::from_jwks_json(JWKS.as_bytes()) {
            Ok(k) => (v, k),
            Err(e) => panic!("fixture JWKS: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = irsa_oidc::token::decode(text, 20_000);
    let (validator, keys) = setup();
    // A fuzzer cannot forge an ES256 signature for k1: nothing may verify.
    assert!(validator.verify_with_keys(text, keys, 1_700_000_000).is_err());
});
