//! Compact JWS decoding (strict), projected service-account token claims, and minting.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{KeyError, VerifyError, sanitize};
use crate::keys::{Algorithm, SigningKey};

/// STS's limit on `WebIdentityToken`, in characters.
pub const MAX_TOKEN_LEN: usize = 20_000;

/// A JSON value parsed with duplicate object members rejected at every depth.
struct StrictJson(Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictJson(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member `{}`", sanitize(&key))));
            }
            let StrictJson(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn strict_object(bytes: &[u8], part: &str) -> Result<Map<String, Value>, VerifyError> {
    let StrictJson(v) = serde_json::from_slice(bytes)
        .map_err(|e| VerifyError::Malformed(format!("{part} is not valid JSON: {}", json_error(&e))))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(VerifyError::Malformed(format!("{part} is not a JSON object"))),
    }
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed(format!("{what} is not unpadded base64url")))
}

/// The JOSE header, as far as the verifier cares.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Header {
    /// Signature algorithm (already checked against the allow-list).
    pub alg: Algorithm,
    /// Key id, if present.
    pub kid: Option<String>,
    /// `typ`, if present.
    pub typ: Option<String>,
}

/// The `kubernetes.io` claim of a projected service-account token.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct KubernetesClaims {
    /// Namespace of the service account.
    pub namespace: String,
    /// Node the pod runs on (Kubernetes 1.30+).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<ObjectRef>,
    /// Pod the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pod: Option<ObjectRef>,
    /// The service account.
    pub serviceaccount: ObjectRef,
    /// Time after which kube-apiserver warns about use of the token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warnafter: Option<i64>,
}

/// Name and uid of an object.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ObjectRef {
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

/// An object member name, borrowed from the input unless it contains escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object, values left unparsed; duplicate names are rejected.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::with_capacity(12);
                while let Some(Key(k)) = map.next_key()? {
                    if out.iter().any(|(have, _)| *have == k) {
                        return Err(de::Error::custom(format_args!("duplicate member `{}`", sanitize(&k))));
                    }
                    out.push((k, map.next_value()?));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Members<'a> {
    fn parse(text: &'a str, part: &str) -> Result<Self, VerifyError> {
        serde_json::from_str(text)
            .map_err(|e| VerifyError::Malformed(format!("{part} is not valid JSON: {}", json_error(&e))))
    }

    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

/// A serde_json error, shortened: data errors may quote (parts of) claim values.
fn json_error(e: &serde_json::Error) -> String {
    crate::error::truncate(&e.to_string(), 120)
}

fn raw_string(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok()
}

/// The claims of a validated token.
///
/// The registered claims are parsed and typed during decoding; all members, including
/// non-registered ones (`amr`, `azp`...) used as trust-policy condition keys, are available
/// through [`Claims::all`] and [`Claims::get`].
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`, normalised to a list.
    pub aud: Vec<String>,
    /// `exp`.
    pub exp: i64,
    /// `nbf`.
    pub nbf: Option<i64>,
    /// `iat`.
    pub iat: Option<i64>,
    /// `jti`.
    pub jti: Option<String>,
    /// `kubernetes.io`, when present.
    pub kubernetes: Option<KubernetesClaims>,
    raw: Arc<str>,
}

impl Claims {
    fn from_members(m: &Members<'_>, raw: &str) -> Result<Self, VerifyError> {
        let string = |name: &'static str| -> Result<Option<String>, VerifyError> {
            m.get(name)
                .map(|v| {
                    raw_string(v).ok_or(VerifyError::InvalidClaim {
                        claim: name,
                        reason: "must be a string".into(),
                    })
                })
                .transpose()
        };
        let int = |name: &'static str| -> Result<Option<i64>, VerifyError> {
            m.get(name)
                .map(|v| {
                    serde_json::from_str::<i64>(v.get()).map_err(|_| VerifyError::InvalidClaim {
                        claim: name,
                        reason: "must be an integer number of seconds".into(),
                    })
                })
                .transpose()
        };
        let iss = string("iss")?.ok_or(VerifyError::MissingClaim("iss"))?;
        let sub = string("sub")?;
        let aud = match m.get("aud") {
            None => return Err(VerifyError::MissingClaim("aud")),
            Some(v) if v.get().starts_with('[') => {
                serde_json::from_str::<Vec<String>>(v.get()).map_err(|_| VerifyError::InvalidClaim {
                    claim: "aud",
                    reason: "array members must be strings".into(),
                })?
            }
            Some(v) => vec![raw_string(v).ok_or(VerifyError::InvalidClaim {
                claim: "aud",
                reason: "must be a string or an array of strings".into(),
            })?],
        };
        if aud.is_empty() {
            return Err(VerifyError::MissingClaim("aud"));
        }
        let exp = int("exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
        let nbf = int("nbf")?;
        let iat = int("iat")?;
        let jti = string("jti")?;
        let kubernetes = m
            .get("kubernetes.io")
            .map(|v| {
                serde_json::from_str::<KubernetesClaims>(v.get()).map_err(|e| VerifyError::InvalidClaim {
                    claim: "kubernetes.io",
                    reason: json_error(&e),
                })
            })
            .transpose()?;
        Ok(Self {
            iss,
            sub,
            aud,
            exp,
            nbf,
            iat,
            jti,
            kubernetes,
            raw: raw.into(),
        })
    }

    /// All claims, parsed from the payload with duplicate members rejected at every depth.
    ///
    /// # Errors
    /// A nested duplicate member (top-level duplicates were already rejected when decoding).
    pub fn all(&self) -> Result<Map<String, Value>, VerifyError> {
        strict_object(self.raw.as_bytes(), "payload")
    }

    /// One claim by name, as JSON.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Value> {
        let m: Members<'_> = serde_json::from_str(&self.raw).ok()?;
        m.get(name)
            .and_then(|v| serde_json::from_str::<StrictJson>(v.get()).ok())
            .map(|StrictJson(v)| v)
    }

    /// The payload JSON text as received.
    #[must_use]
    pub fn raw_json(&self) -> &str {
        &self.raw
    }
}

/// A decoded but not yet verified token. Produced by [`decode`]; nothing in it is trustworthy
/// before [`crate::Validator`] has checked the signature.
#[derive(Clone, Debug)]
pub struct UnverifiedToken<'a> {
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: Claims,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: Vec<u8>,
}

fn utf8(bytes: Vec<u8>, part: &str) -> Result<String, VerifyError> {
    String::from_utf8(bytes).map_err(|_| VerifyError::Malformed(format!("{part} is not UTF-8")))
}

/// Decode a compact JWS strictly: at most `max_len` characters, exactly three unpadded
/// base64url segments, header and payload JSON objects without duplicate members, an `alg`
/// from the allow-list, no `crit`, `b64`, `zip` or `enc` header, well-typed registered claims
/// (`iss` string, `aud` string or list of strings, `exp` present, `exp`/`nbf`/`iat` integers).
///
/// # Errors
/// The first problem found.
pub fn decode(token: &str, max_len: usize) -> Result<UnverifiedToken<'_>, VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::Malformed(
            "not a compact JWS (three dot-separated segments)".into(),
        ));
    };
    if h.is_empty() || p.is_empty() {
        return Err(VerifyError::Malformed("empty header or payload segment".into()));
    }
    if s.is_empty() {
        return Err(VerifyError::Malformed("unsigned token (empty signature)".into()));
    }
    let header_text = utf8(b64(h, "header")?, "header")?;
    let header = Members::parse(&header_text, "header")?;
    let alg = match header.get("alg") {
        Some(v) => match raw_string(v) {
            Some(a) => Algorithm::from_name(&a).ok_or_else(|| VerifyError::UnsupportedAlgorithm(sanitize(&a)))?,
            None => return Err(VerifyError::Malformed("header `alg` is not a string".into())),
        },
        None => return Err(VerifyError::Malformed("header has no `alg`".into())),
    };
    for refused in ["crit", "b64", "zip", "enc"] {
        if header.get(refused).is_some() {
            return Err(VerifyError::UnsupportedHeader(refused.into()));
        }
    }
    let opt_str = |name: &str| -> Result<Option<String>, VerifyError> {
        header
            .get(name)
            .map(|v| raw_string(v).ok_or_else(|| VerifyError::Malformed(format!("header `{name}` is not a string"))))
            .transpose()
    };
    let kid = opt_str("kid")?;
    let typ = opt_str("typ")?;
    let payload_text = utf8(b64(p, "payload")?, "payload")?;
    let payload = Members::parse(&payload_text, "payload")?;
    let claims = Claims::from_members(&payload, &payload_text)?;
    let signature = b64(s, "signature")?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(UnverifiedToken {
        header: Header { alg, kid, typ },
        claims,
        signing_input,
        signature,
    })
}

/// Seconds since the Unix epoch.
#[must_use]
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What to put into a projected service-account token.
#[derive(Clone, Debug)]
pub struct TokenParams {
    /// `iss`.
    pub issuer: String,
    /// Namespace of the service account.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// Service account UID; when `None`, a stable UUID derived from namespace and name.
    pub service_account_uid: Option<String>,
    /// `aud` values (kube always emits a list). Empty means `["sts.amazonaws.com"]`.
    pub audiences: Vec<String>,
    /// Lifetime in seconds (kube: at least 600, default 3600 for projected volumes).
    pub expiration_seconds: i64,
    /// Pod the token is bound to: `(name, uid)`.
    pub pod: Option<(String, String)>,
    /// Node the pod runs on: `(name, uid)`.
    pub node: Option<(String, String)>,
    /// Issue time (seconds since the epoch); `None` means now. Lets tests mint expired tokens.
    pub issued_at: Option<i64>,
}

impl TokenParams {
    /// Parameters with kube's defaults: audience `sts.amazonaws.com`, one hour lifetime.
    #[must_use]
    pub fn new(issuer: impl Into<String>, namespace: impl Into<String>, service_account: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            namespace: namespace.into(),
            service_account: service_account.into(),
            service_account_uid: None,
            audiences: Vec::new(),
            expiration_seconds: 3600,
            pod: None,
            node: None,
            issued_at: None,
        }
    }
}

#[derive(Serialize)]
struct MintHeader<'a> {
    alg: &'a str,
    kid: &'a str,
}

/// Payload in kube-apiserver's member order (alphabetical, as Go marshals its claim map).
#[derive(Serialize)]
struct MintClaims<'a> {
    aud: &'a [String],
    exp: i64,
    iat: i64,
    iss: &'a str,
    jti: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesClaims,
    nbf: i64,
    sub: String,
}

/// Errors of [`mint_token`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// A parameter is empty or out of range.
    #[error("invalid token parameter: {0}")]
    InvalidParam(&'static str),
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Mint a projected service-account token as kube-apiserver would for the kubelet: header
/// `{"alg","kid"}`; claims `aud` (list), `exp`, `iat`, `iss`, `jti` (random UUID),
/// `kubernetes.io` (namespace, serviceaccount name/uid, optional pod and node), `nbf` (= `iat`),
/// `sub` = `system:serviceaccount:NS:SA`.
///
/// # Errors
/// Empty issuer/namespace/service account, non-positive lifetime, signing failure.
pub fn mint_token(key: &SigningKey, params: &TokenParams) -> Result<String, MintError> {
    if params.issuer.is_empty() {
        return Err(MintError::InvalidParam("issuer is empty"));
    }
    if params.namespace.is_empty() || params.service_account.is_empty() {
        return Err(MintError::InvalidParam("namespace and service account are required"));
    }
    if params.namespace.contains(':') || params.service_account.contains(':') {
        return Err(MintError::InvalidParam(
            "namespace and service account cannot contain `:`",
        ));
    }
    if params.expiration_seconds <= 0 {
        return Err(MintError::InvalidParam("expiration must be positive"));
    }
    let default_aud = ["sts.amazonaws.com".to_owned()];
    let aud: &[String] = if params.audiences.is_empty() {
        &default_aud
    } else {
        &params.audiences
    };
    let iat = params.issued_at.unwrap_or_else(unix_now);
    let exp = iat
        .checked_add(params.expiration_seconds)
        .ok_or(MintError::InvalidParam("expiration overflows"))?;
    let sa_uid = params.service_account_uid.clone().unwrap_or_else(|| {
        stable_uuid(&format!(
            "serviceaccount/{}/{}",
            params.namespace, params.service_account
        ))
    });
    let claims = MintClaims {
        aud,
        exp,
        iat,
        iss: &params.issuer,
        jti: random_uuid(),
        kubernetes: KubernetesClaims {
            namespace: params.namespace.clone(),
            node: params.node.clone().map(|(name, uid)| ObjectRef { name, uid }),
            pod: params.pod.clone().map(|(name, uid)| ObjectRef { name, uid }),
            serviceaccount: ObjectRef {
                name: params.service_account.clone(),
                uid: sa_uid,
            },
            warnafter: None,
        },
        nbf: iat,
        sub: format!("system:serviceaccount:{}:{}", params.namespace, params.service_account),
    };
    sign_claims(key, &claims)
}

/// Sign arbitrary claims with `key` (header `{"alg","kid"}`). Useful for tests and for
/// issuers with claims of their own.
///
/// # Errors
/// Serialization or signing failure.
pub fn sign_claims<C: Serialize>(key: &SigningKey, claims: &C) -> Result<String, MintError> {
    let header = MintHeader {
        alg: key.algorithm().as_str(),
        kid: key.kid(),
    };
    let header = serde_json::to_vec(&header).map_err(|_| MintError::InvalidParam("header"))?;
    let payload = serde_json::to_vec(claims).map_err(|_| MintError::InvalidParam("claims"))?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let sig = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(token)
}

fn format_uuid(mut b: [u8; 16], version: u8) -> String {
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn random_uuid() -> String {
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        // fall back on the clock so jti stays unique enough; never observed in practice
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        b = nanos.to_be_bytes();
    }
    format_uuid(b, 4)
}

/// A name-based UUID (SHA-256 truncated, version 8 layout) so the same namespace/name always
/// gets the same uid.
fn stable_uuid(name: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    format_uuid(b, 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Curve, KeySpec};

    #[test]
    fn strict_json_rejects_duplicates_at_depth() {
        assert!(strict_object(br#"{"a":1,"a":2}"#, "x").is_err());
        assert!(strict_object(br#"{"a":{"b":1,"b":1}}"#, "x").is_err());
        assert!(strict_object(br#"{"a":[{"b":1,"b":1}]}"#, "x").is_err());
        assert!(strict_object(br#"[1]"#, "x").is_err());
        assert!(strict_object(br#"{"a":1} x"#, "x").is_err());
        assert!(strict_object(br#"{"a":1}"#, "x").is_ok());
    }

    #[test]
    fn claims_all_and_get() -> Result<(), MintError> {
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
        let claims = serde_json::json!({
            "iss": "https://i", "aud": "a", "exp": 10, "sub": "s",
            "amr": ["x"], "nested": {"k": 1},
        });
        let t = sign_claims(&key, &claims)?;
        let d = decode(&t, MAX_TOKEN_LEN).map_err(|_| MintError::InvalidParam("decode"))?;
        assert_eq!(d.claims.get("amr"), Some(serde_json::json!(["x"])));
        assert_eq!(d.claims.get("none"), None);
        assert_eq!(d.claims.all().ok().map(|m| m.len()), Some(6));
        // nested duplicates are caught by all()
        let raw = r#"{"iss":"https://i","aud":"a","exp":10,"x":{"k":1,"k":2}}"#;
        let t = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(raw)
        );
        let d = decode(&t, MAX_TOKEN_LEN).map_err(|_| MintError::InvalidParam("decode"))?;
        assert!(d.claims.all().is_err());
        Ok(())
    }

    #[test]
    fn mint_and_decode() -> Result<(), MintError> {
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
        let mut p = TokenParams::new("https://issuer.example", "ns", "sa");
        p.pod = Some(("pod-1".into(), "uid-1".into()));
        let t = mint_token(&key, &p)?;
        let d = decode(&t, MAX_TOKEN_LEN).map_err(|_| MintError::InvalidParam("decode"))?;
        assert_eq!(d.header.alg, Algorithm::ES256);
        assert_eq!(d.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(d.claims.sub.as_deref(), Some("system:serviceaccount:ns:sa"));
        assert_eq!(d.claims.aud, vec!["sts.amazonaws.com".to_owned()]);
        assert_eq!(d.claims.exp - d.claims.iat.unwrap_or_default(), 3600);
        let k8s = d.claims.kubernetes.unwrap_or_default();
        assert_eq!(k8s.namespace, "ns");
        assert_eq!(k8s.pod.map(|p| p.name), Some("pod-1".into()));
        assert_eq!(k8s.serviceaccount.uid.len(), 36);
        assert!(
            key.public_key()
                .verify(key.algorithm(), d.signing_input.as_bytes(), &d.signature)
        );
        Ok(())
    }

    #[test]
    fn mint_rejects_bad_params() -> Result<(), MintError> {
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
        let mut p = TokenParams::new("", "ns", "sa");
        assert!(mint_token(&key, &p).is_err());
        p.issuer = "https://i".into();
        p.expiration_seconds = 0;
        assert!(mint_token(&key, &p).is_err());
        p.expiration_seconds = 10;
        p.namespace = "a:b".into();
        assert!(mint_token(&key, &p).is_err());
        Ok(())
    }

    #[test]
    fn uuids_are_well_formed() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(stable_uuid("x"), stable_uuid("x"));
        assert_ne!(stable_uuid("x"), stable_uuid("y"));
    }
}
