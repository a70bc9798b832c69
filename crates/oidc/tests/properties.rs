//! Property tests: decoding and verification never panic, and no mutation of a valid token
//! verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::LazyLock;

use irsa_oidc::jwk::KeySet;
use irsa_oidc::token::{decode, unix_now};
use irsa_oidc::{KeySpec, SigningKey, TokenParams, TrustedIssuer, ValidationOptions, Validator, mint_token};
use proptest::prelude::*;

const ISS: &str = "https://issuer.test";

struct Fixture {
    token: String,
    keys: KeySet,
    validator: Validator,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SigningKey::generate(KeySpec::Rsa(2048)).unwrap();
    Fixture {
        token: mint_token(&key, &TokenParams::new(ISS, "ns", "sa")).unwrap(),
        keys: KeySet::from_keys([key.public_key().clone()]),
        validator: Validator::new(
            [TrustedIssuer::new(ISS, ["sts.amazonaws.com"])],
            ValidationOptions::default(),
        ),
    }
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,400}") {
        let _ = decode(&s, 20_000);
        let _ = FIXTURE.validator.verify_with_keys(&s, &FIXTURE.keys, unix_now());
    }

    #[test]
    fn arbitrary_base64url_segments_never_panic(
        h in "[A-Za-z0-9_-]{0,80}", p in "[A-Za-z0-9_-]{0,200}", s in "[A-Za-z0-9_-]{0,80}",
    ) {
        let t = format!("{h}.{p}.{s}");
        let _ = FIXTURE.validator.verify_with_keys(&t, &FIXTURE.keys, unix_now());
    }

    #[test]
    fn single_character_mutations_never_verify(pos in any::<prop::sample::Index>(), c in "[A-Za-z0-9_.=+/-]") {
        let t = &FIXTURE.token;
        let i = pos.index(t.len());
        let mut m = t.clone();
        m.replace_range(i..=i, &c);
        let r = FIXTURE.validator.verify_with_keys(&m, &FIXTURE.keys, unix_now());
        if m == *t {
            prop_assert!(r.is_ok());
        } else {
            // a changed last character may only flip unused trailing bits, which strict
            // base64url decoding rejects; every other change breaks the signature or the format
            prop_assert!(r.is_err(), "mutation at {} verified", i);
        }
    }
}
