//! Any bytes as a key file (PEM) or a DER key: parsing returns a typed error or a key, never
//! panics, and a parsed key survives re-encoding (its SPKI parses back to the same parameters
//! and `kid`, a private key's PKCS#8 encoding loads back to the same public key).
#![no_main]

use irsa_oidc::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;

fn check_public(key: &VerifyingKey) {
    let _ = (key.to_jwk(), key.describe(), key.default_algorithm());
    match VerifyingKey::from_spki_der(key.spki_der()) {
        Ok(again) => {
            assert_eq!(again.params(), key.params(), "SPKI re-encoding changed the key");
            assert_eq!(again.kid(), key.kid(), "SPKI re-encoding changed the kid");
        }
        Err(e) => panic!("the SPKI of a parsed key does not parse: {e}"),
    }
    match VerifyingKey::from_pem(key.to_spki_pem().as_bytes()) {
        Ok(again) => assert_eq!(again.len(), 1, "one PUBLIC KEY block, one key"),
        Err(e) => panic!("the PEM of a parsed key does not parse: {e}"),
    }
}

fn check_private(key: &SigningKey) {
    check_public(key.public_key());
    let Ok(pkcs8) = key.to_pkcs8_der() else { return };
    match SigningKey::from_pkcs8_der(&pkcs8) {
        Ok(again) => assert_eq!(again.kid(), key.kid(), "PKCS#8 re-encoding changed the key"),
        Err(e) => panic!("the PKCS#8 of a parsed key does not load: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // PEM: what `--service-account-key-file` / `--service-account-signing-key-file` read.
    if let Ok(keys) = VerifyingKey::from_pem(data) {
        keys.iter().for_each(check_public);
    }
    if let Ok(key) = SigningKey::from_pem(data) {
        check_private(&key);
    }
    // DER: the same structures without the PEM armour, so mutations reach the DER reader
    // directly instead of mostly breaking base64.
    if let Ok(key) = VerifyingKey::from_spki_der(data) {
        check_public(&key);
    }
    if let Ok(key) = SigningKey::from_pkcs8_der(data) {
        check_private(&key);
    }
});
