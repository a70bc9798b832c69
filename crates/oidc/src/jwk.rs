//! JWK, JWKS and the OIDC discovery document, as kube-apiserver serves them; and the parsed,
//! verification-ready [`KeySet`] the verifier builds from a fetched JWKS.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{KeyError, sanitize};
use crate::keys::{Algorithm, Curve, PublicParams, VerifyingKey};

/// Path kube-apiserver serves its JWKS on.
pub const JWKS_PATH: &str = "/openid/v1/jwks";
/// Path of the discovery document, relative to the issuer.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Most keys a JWKS may hold before the verifier ignores the rest (AWS considers 100).
pub const MAX_JWKS_KEYS: usize = 100;

/// One public JWK. Field order is go-jose's, so the JSON matches kube-apiserver byte for byte.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Jwk {
    /// `use` (always `sig` when generated here).
    #[serde(rename = "use", skip_serializing_if = "Option::is_none", default)]
    pub use_: Option<String>,
    /// Key type: `RSA` or `EC`.
    pub kty: String,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kid: Option<String>,
    /// EC curve.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// Algorithm.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alg: Option<String>,
    /// EC x coordinate (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    /// RSA modulus (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA exponent (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// Permitted operations (read only; never generated).
    #[serde(skip_serializing, default)]
    pub key_ops: Option<Vec<String>>,
    /// Private RSA/EC component; its presence in a published JWKS is an error.
    #[serde(skip_serializing, default)]
    pub d: Option<serde_json::Value>,
}

impl Jwk {
    /// The public JWK of `key`, with `use: sig`, its `kid` and its default `alg`.
    #[must_use]
    pub fn from_key(key: &VerifyingKey) -> Self {
        let mut jwk = Self {
            use_: Some("sig".into()),
            kty: String::new(),
            kid: Some(key.kid().to_owned()).filter(|k| !k.is_empty()),
            crv: None,
            alg: Some(key.default_algorithm().as_str().into()),
            x: None,
            y: None,
            n: None,
            e: None,
            key_ops: None,
            d: None,
        };
        match key.params() {
            PublicParams::Rsa { n, e } => {
                jwk.kty = "RSA".into();
                jwk.n = Some(URL_SAFE_NO_PAD.encode(n));
                jwk.e = Some(URL_SAFE_NO_PAD.encode(e));
            }
            PublicParams::Ec { curve, x, y } => {
                jwk.kty = "EC".into();
                jwk.crv = Some(curve.jwk_name().into());
                jwk.x = Some(URL_SAFE_NO_PAD.encode(x));
                jwk.y = Some(URL_SAFE_NO_PAD.encode(y));
            }
        }
        jwk
    }

    /// Turn a JWK into a verification key. The key type comes from `kty`/`crv`; `alg`, if
    /// present, must fit it and restricts the key to that algorithm.
    ///
    /// # Errors
    /// Anything that makes the key unusable: `use` other than `sig`, `key_ops` without
    /// `verify`, private parts, unknown `kty`/`crv`/`alg`, bad base64url, RSA under 2048 bits,
    /// point not on the curve.
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyError::Jwk("`use` is not `sig`".into()));
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|o| o == "verify")
        {
            return Err(KeyError::Jwk("`key_ops` does not include `verify`".into()));
        }
        if self.d.is_some() {
            return Err(KeyError::Jwk("contains a private key".into()));
        }
        let alg = match self.alg.as_deref() {
            None => None,
            Some(a) => Some(
                Algorithm::from_name(a).ok_or_else(|| KeyError::Jwk(format!("unsupported alg `{}`", sanitize(a))))?,
            ),
        };
        let field = |name: &'static str, v: &Option<String>| -> Result<Vec<u8>, KeyError> {
            let v = v.as_deref().ok_or_else(|| KeyError::Jwk(format!("missing `{name}`")))?;
            URL_SAFE_NO_PAD
                .decode(v)
                .map_err(|_| KeyError::Jwk(format!("`{name}` is not base64url")))
        };
        let params = match self.kty.as_str() {
            "RSA" => {
                let n = field("n", &self.n)?;
                let e = field("e", &self.e)?;
                if n.first() == Some(&0) || e.first() == Some(&0) || e.is_empty() {
                    return Err(KeyError::Jwk("`n`/`e` have leading zeros or are empty".into()));
                }
                PublicParams::Rsa { n, e }
            }
            "EC" => {
                let crv = self.crv.as_deref().unwrap_or_default();
                let curve = Curve::from_jwk_name(crv)
                    .ok_or_else(|| KeyError::Jwk(format!("unsupported crv `{}`", sanitize(crv))))?;
                let x = field("x", &self.x)?;
                let y = field("y", &self.y)?;
                if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                    return Err(KeyError::Jwk("EC coordinates have the wrong length".into()));
                }
                PublicParams::Ec { curve, x, y }
            }
            other => {
                return Err(KeyError::Jwk(format!("unsupported kty `{}`", sanitize(other))));
            }
        };
        VerifyingKey::from_params(Some(self.kid.clone().unwrap_or_default()), params, alg)
    }
}

/// A JWK Set document.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The JWKS of some public keys, in the given order.
    #[must_use]
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a VerifyingKey>) -> Self {
        Self {
            keys: keys.into_iter().map(Jwk::from_key).collect(),
        }
    }

    /// Append a copy of the first key without `kid` (serialized as `"kid": ""`), the
    /// SELF_HOSTED_SETUP trick that lets tokens of pre-1.16 API servers (no `kid` header)
    /// verify at STS next to newer ones.
    #[must_use]
    pub fn with_legacy_empty_kid(mut self) -> Self {
        if let Some(first) = self.keys.first() {
            let mut copy = first.clone();
            copy.kid = Some(String::new());
            self.keys.push(copy);
        }
        self
    }

    /// Compact JSON, as kube-apiserver serves it.
    #[must_use]
    pub fn to_json(&self) -> String {
        // serializing plain strings into a String cannot fail
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Indented JSON, for files meant to be read by people.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Every public key found in the given PEM files (public keys, private keys or certificates),
/// de-duplicated by `kid`, in file order. What `irsa oidc serve --key FILE...` publishes.
///
/// # Errors
/// IO and key errors, naming the file.
pub fn keys_from_pem_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<VerifyingKey>, KeyError> {
    let mut keys: Vec<VerifyingKey> = Vec::new();
    for p in paths {
        for k in VerifyingKey::from_pem_file(p)? {
            if !keys.iter().any(|have| have.kid() == k.kid()) {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

/// Build the JWKS (`keys.json`) of every key found in the given PEM files (public keys,
/// private keys or certificates), de-duplicated by `kid`, in file order: what
/// `irsa oidc jwks --public-key FILE...` prints.
///
/// # Errors
/// IO and key errors, naming the file.
pub fn jwks_from_pem_files<P: AsRef<Path>>(paths: &[P]) -> Result<JwkSet, KeyError> {
    Ok(JwkSet::from_keys(&keys_from_pem_files(paths)?))
}

/// The OIDC discovery document, with the members kube-apiserver serves.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct DiscoveryDocument {
    /// Issuer URL, byte-identical to the tokens' `iss`.
    pub issuer: String,
    /// Where the JWKS is.
    pub jwks_uri: String,
    /// Always `["id_token"]`.
    pub response_types_supported: Vec<String>,
    /// Always `["public"]`.
    pub subject_types_supported: Vec<String>,
    /// Signing algorithms of the published keys.
    pub id_token_signing_alg_values_supported: Vec<String>,
}

impl DiscoveryDocument {
    /// Compact JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Indented JSON.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The default `jwks_uri` of an issuer: `<issuer>/openid/v1/jwks` (kube-apiserver's choice).
#[must_use]
pub fn default_jwks_uri(issuer: &str) -> String {
    format!("{}{JWKS_PATH}", issuer.trim_end_matches('/'))
}

/// The discovery URL of an issuer: `<issuer>/.well-known/openid-configuration`.
#[must_use]
pub fn discovery_url(issuer: &str) -> String {
    format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'))
}

/// The discovery document kube-apiserver would serve: `jwks_uri` defaults to
/// `<issuer>/openid/v1/jwks`; the algorithm list is that of `keys` (sorted, de-duplicated),
/// `RS256` when no keys are given.
#[must_use]
pub fn discovery_document(issuer: &str, jwks_uri: Option<&str>, keys: &[VerifyingKey]) -> DiscoveryDocument {
    let mut algs: BTreeSet<Algorithm> = keys.iter().map(VerifyingKey::default_algorithm).collect();
    if algs.is_empty() {
        algs.insert(Algorithm::RS256);
    }
    DiscoveryDocument {
        issuer: issuer.to_owned(),
        jwks_uri: jwks_uri.map_or_else(|| default_jwks_uri(issuer), str::to_owned),
        response_types_supported: vec!["id_token".into()],
        subject_types_supported: vec!["public".into()],
        id_token_signing_alg_values_supported: algs.iter().map(|a| a.as_str().into()).collect(),
    }
}

/// One JWKS entry as the verifier sees it: usable, or rejected with a reason (kept so that a
/// token naming that `kid` gets a precise error).
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// `kid` of the entry (`""` when absent).
    pub kid: String,
    /// The key, or why it is not usable.
    pub key: Result<VerifyingKey, String>,
}

/// The verification keys of one issuer, parsed from its JWKS.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    entries: Vec<KeyEntry>,
}

impl KeySet {
    /// Parse a JWKS document. Individual unusable keys do not fail the set; they are kept
    /// as rejected entries. Only the first [`MAX_JWKS_KEYS`] keys are considered.
    ///
    /// # Errors
    /// The document is not JSON, has no `keys` array, or contains no usable key.
    pub fn from_jwks_json(json: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw: Raw = serde_json::from_slice(json)
            .map_err(|e| format!("not a JWKS: {}", crate::error::truncate(&e.to_string(), 120)))?;
        let entries: Vec<KeyEntry> = raw
            .keys
            .into_iter()
            .take(MAX_JWKS_KEYS)
            .map(|v| {
                let kid = v
                    .get("kid")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let key = serde_json::from_value::<Jwk>(v)
                    .map_err(|e| format!("invalid JWK: {e}"))
                    .and_then(|jwk| jwk.to_verifying_key().map_err(|e| e.to_string()));
                KeyEntry { kid, key }
            })
            .collect();
        if !entries.iter().any(|e| e.key.is_ok()) {
            return Err("JWKS contains no usable signing key".into());
        }
        Ok(Self { entries })
    }

    /// A key set from keys already in hand.
    #[must_use]
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self {
            entries: keys
                .into_iter()
                .map(|k| KeyEntry {
                    kid: k.kid().to_owned(),
                    key: Ok(k),
                })
                .collect(),
        }
    }

    /// All entries, usable or not.
    #[must_use]
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// Entries whose `kid` is exactly `kid`.
    pub fn by_kid<'a>(&'a self, kid: &'a str) -> impl Iterator<Item = &'a KeyEntry> + 'a {
        self.entries.iter().filter(move |e| e.kid == kid)
    }

    /// Whether some entry has this `kid`.
    #[must_use]
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.entries.iter().any(|e| e.kid == kid)
    }

    /// Number of usable keys.
    #[must_use]
    pub fn usable_len(&self) -> usize {
        self.entries.iter().filter(|e| e.key.is_ok()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeySpec, SigningKey};

    #[test]
    fn jwk_field_order_matches_go_jose() -> Result<(), KeyError> {
        let key = SigningKey::generate(KeySpec::Rsa(2048))?;
        let json = serde_json::to_string(&key.public_key().to_jwk()).unwrap_or_default();
        let prefix = format!(r#"{{"use":"sig","kty":"RSA","kid":"{}","alg":"RS256","n":""#, key.kid());
        assert!(json.starts_with(&prefix), "{json}");
        assert!(json.ends_with(r#","e":"AQAB"}"#), "{json}");
        let ec = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
        let json = serde_json::to_string(&ec.public_key().to_jwk()).unwrap_or_default();
        let prefix = format!(
            r#"{{"use":"sig","kty":"EC","kid":"{}","crv":"P-256","alg":"ES256","x":""#,
            ec.kid()
        );
        assert!(json.starts_with(&prefix), "{json}");
        Ok(())
    }

    #[test]
    fn jwk_roundtrip_keeps_kid_and_params() -> Result<(), KeyError> {
        for spec in [KeySpec::Rsa(2048), KeySpec::Ec(Curve::P256), KeySpec::Ec(Curve::P521)] {
            let key = SigningKey::generate(spec)?;
            let back = key.public_key().to_jwk().to_verifying_key()?;
            assert_eq!(back.kid(), key.kid());
            assert_eq!(back.spki_der(), key.public_key().spki_der());
        }
        Ok(())
    }

    #[test]
    fn jwk_alg_must_fit_key_type() -> Result<(), KeyError> {
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
        let mut jwk = key.public_key().to_jwk();
        jwk.alg = Some("RS256".into());
        assert!(jwk.to_verifying_key().is_err());
        jwk.alg = Some("ES384".into());
        assert!(jwk.to_verifying_key().is_err());
        jwk.alg = Some("HS256".into());
        assert!(jwk.to_verifying_key().is_err());
        jwk.alg = None;
        jwk.use_ = Some("enc".into());
        assert!(jwk.to_verifying_key().is_err());
        Ok(())
    }

    #[test]
    fn legacy_empty_kid_copy() -> Result<(), KeyError> {
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
        let jwks = JwkSet::from_keys([key.public_key()]).with_legacy_empty_kid();
        let json = jwks.to_json();
        assert!(json.contains(r#""kid":"""#), "{json}");
        let set = KeySet::from_jwks_json(json.as_bytes()).map_err(KeyError::Jwk)?;
        assert!(set.contains_kid(""));
        assert!(set.contains_kid(key.kid()));
        Ok(())
    }

    #[test]
    fn discovery_defaults() {
        let d = discovery_document("https://example.com/id/X", None, &[]);
        assert_eq!(d.jwks_uri, "https://example.com/id/X/openid/v1/jwks");
        assert_eq!(
            d.to_json(),
            r#"{"issuer":"https://example.com/id/X","jwks_uri":"https://example.com/id/X/openid/v1/jwks","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#
        );
        assert_eq!(
            discovery_url("https://a/"),
            "https://a/.well-known/openid-configuration"
        );
    }

    #[test]
    fn keyset_keeps_rejected_entries() {
        let json =
            br#"{"keys":[{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"},{"kty":"oct","kid":"h","k":"AAAA"}]}"#;
        assert!(KeySet::from_jwks_json(json).is_err());
        assert!(KeySet::from_jwks_json(b"[]").is_err());
        assert!(KeySet::from_jwks_json(b"{}").is_err());
    }
}
