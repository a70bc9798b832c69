//! Warm-cache RS256 verification vs the bare RSA signature check it contains.
//!
//! * `bare_rsa_signature_check`: aws-lc-rs PKCS#1 v1.5 SHA-256 verification of the token's
//!   signing input with a pre-parsed key; the floor no verifier can go below.
//! * `validator_with_keys`: the sans-IO [`Validator`] with the key set in hand (decode, issuer,
//!   audience, key selection, signature, time checks).
//! * `verifier_warm_cache`: the full async [`Verifier`] with a warm per-issuer cache (the
//!   number the "at most 20% above the bare check" budget is about).
//! * `decode_only`: strict decoding alone, to see where the overhead goes.
//!
//! Run: `cargo bench -p irsa-oidc --bench verify -- --sample-count 500 --sample-size 10`.

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine as _;
use irsa_oidc::fetch::Fetched;
use irsa_oidc::{
    CachePolicy, FetchError, KeySet, KeySource, KeySpec, SigningKey, TokenParams, TrustedIssuer, ValidationOptions,
    Validator, Verifier, mint_token,
};

const ISS: &str = "https://oidc.example.com/id/BENCH";

struct Static(Arc<KeySet>);

impl KeySource for Static {
    async fn fetch(&self, _issuer: &str) -> Result<Fetched, FetchError> {
        Ok(Fetched {
            keys: (*self.0).clone(),
            cache_control: None,
        })
    }
}

struct Fixture {
    token: String,
    keys: KeySet,
    validator: Validator,
    spki: Vec<u8>,
}

fn fixture() -> Fixture {
    let key = SigningKey::generate(KeySpec::Rsa(2048)).unwrap_or_else(|e| panic!("{e}"));
    let mut p = TokenParams::new(ISS, "default", "bench");
    p.pod = Some(("pod".into(), "3c6f1c55-0c8e-4ef8-a1f6-3f2bb0b3d3a1".into()));
    let token = mint_token(&key, &p).unwrap_or_else(|e| panic!("{e}"));
    Fixture {
        token,
        keys: KeySet::from_keys([key.public_key().clone()]),
        validator: Validator::new(
            [TrustedIssuer::new(ISS, ["sts.amazonaws.com"])],
            ValidationOptions::default(),
        ),
        spki: key.public_key().spki_der().to_vec(),
    }
}

fn main() {
    divan::main();
}

#[divan::bench]
fn bare_rsa_signature_check(bencher: divan::Bencher<'_, '_>) {
    let f = fixture();
    let key = aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, &f.spki)
        .unwrap_or_else(|e| panic!("{e}"));
    let (input, sig) = f.token.rsplit_once('.').unwrap_or_default();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap_or_default();
    bencher.bench_local(|| key.verify_sig(black_box(input.as_bytes()), black_box(&sig)).is_ok());
}

#[divan::bench]
fn validator_with_keys(bencher: divan::Bencher<'_, '_>) {
    let f = fixture();
    let now = irsa_oidc::token::unix_now();
    bencher.bench_local(|| f.validator.verify_with_keys(black_box(&f.token), &f.keys, now).is_ok());
}

#[divan::bench]
fn verifier_warm_cache(bencher: divan::Bencher<'_, '_>) {
    let f = fixture();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let verifier = Verifier::with_source(
        f.validator.clone(),
        CachePolicy::default(),
        Static(Arc::new(f.keys.clone())),
    );
    assert!(rt.block_on(verifier.verify(&f.token)).is_ok());
    bencher.bench_local(|| rt.block_on(verifier.verify(black_box(&f.token))).is_ok());
}

/// Strict decoding (base64url, JSON, claim types) without signature or cache.
#[divan::bench]
fn decode_only(bencher: divan::Bencher<'_, '_>) {
    let f = fixture();
    bencher.bench_local(|| irsa_oidc::token::decode(black_box(&f.token), 20_000).is_ok());
}
