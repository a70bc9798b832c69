//! The sans-IO verifier core: decode, pick the issuer, check the audience, select the key,
//! verify the signature, check the times. Keys are handed in; fetching them is the job of
//! [`crate::Verifier`].

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{VerifyError, sanitize, sanitize_url};
use crate::jwk::KeySet;
use crate::keys::{Algorithm, VerifyingKey};
use crate::token::{self, Claims, Header, MAX_TOKEN_LEN, UnverifiedToken};

/// An issuer the verifier trusts, with the audiences (client ids) it accepts for it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct TrustedIssuer {
    /// Issuer URL, compared byte for byte with `iss` (trailing slash significant).
    pub issuer: String,
    /// Accepted `aud` values; a token is accepted when any of its audiences is listed.
    pub audiences: Vec<String>,
}

impl TrustedIssuer {
    /// A trusted issuer.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audiences: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
        }
    }
}

/// Claim-check settings.
#[derive(Clone, Debug)]
pub struct ValidationOptions {
    /// Allowed clock skew for `exp`, `nbf` and `iat` (default 60 s).
    pub leeway: Duration,
    /// Longest token accepted, in characters (default 20,000 like STS).
    pub max_token_len: usize,
    /// Maximum age measured from `iat` (`ExpiredTokenException` "Token too old"); `None`
    /// disables the check (default).
    pub max_age: Option<Duration>,
    /// Whether `sub` is required (default true).
    pub require_sub: bool,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(60),
            max_token_len: MAX_TOKEN_LEN,
            max_age: None,
            require_sub: true,
        }
    }
}

/// A token whose signature and claims checked out.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: Claims,
    /// The `kid` of the key that verified the signature.
    pub kid: String,
    /// The audience that matched the issuer's allowed list (what STS returns as `Audience`).
    pub audience: String,
}

/// The pure verification logic.
#[derive(Clone, Debug)]
pub struct Validator {
    issuers: HashMap<String, TrustedIssuer>,
    options: ValidationOptions,
}

/// A token that passed decoding, issuer and audience checks; the next step needs the
/// issuer's keys.
#[derive(Debug)]
pub struct Prechecked<'t> {
    /// The decoded token.
    pub token: UnverifiedToken<'t>,
    /// The matched audience.
    pub audience: String,
}

impl Prechecked<'_> {
    /// The issuer whose keys are needed.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.token.claims.iss
    }

    /// The `kid` of the header, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.token.header.kid.as_deref()
    }
}

impl Validator {
    /// A validator trusting `issuers`.
    #[must_use]
    pub fn new(issuers: impl IntoIterator<Item = TrustedIssuer>, options: ValidationOptions) -> Self {
        Self {
            issuers: issuers.into_iter().map(|i| (i.issuer.clone(), i)).collect(),
            options,
        }
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &ValidationOptions {
        &self.options
    }

    /// The trusted issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &TrustedIssuer> {
        self.issuers.values()
    }

    /// Decode the token, find its issuer among the trusted ones, check the audience and the
    /// presence of `sub`. Needs no keys; nothing is trusted yet.
    ///
    /// # Errors
    /// Malformed token, unknown issuer, wrong audience, missing `sub`.
    pub fn precheck<'t>(&self, token: &'t str) -> Result<Prechecked<'t>, VerifyError> {
        let token = token::decode(token, self.options.max_token_len)?;
        let issuer = self
            .issuers
            .get(&token.claims.iss)
            .ok_or_else(|| VerifyError::UnknownIssuer(sanitize_url(&token.claims.iss)))?;
        let audience = token
            .claims
            .aud
            .iter()
            .find(|a| issuer.audiences.iter().any(|ok| ok == *a))
            .cloned()
            .ok_or(VerifyError::AudienceMismatch)?;
        if self.options.require_sub && token.claims.sub.as_deref().is_none_or(str::is_empty) {
            return Err(VerifyError::MissingClaim("sub"));
        }
        Ok(Prechecked { token, audience })
    }

    /// Finish verification with the issuer's keys at time `now` (seconds since the epoch):
    /// select the key, verify the signature, then check `exp`, `nbf`, `iat`.
    ///
    /// Key selection: with a `kid`, the entries with that exact `kid`; without one, the entries
    /// whose `kid` is empty (AWS's behaviour for pre-1.16 kube tokens) or, failing that, the
    /// only key of a single-key set. The algorithm must be one the key allows; the key type is
    /// the key's, never the header's.
    ///
    /// # Errors
    /// [`VerifyError::UnknownKid`] when no entry has the `kid` (the caller may refresh the keys
    /// and retry), and every signature and time failure.
    pub fn finish(&self, pre: Prechecked<'_>, keys: &KeySet, now: i64) -> Result<VerifiedToken, VerifyError> {
        let token = pre.token;
        let issuer = token.claims.iss.as_str();
        let alg = token.header.alg;
        let key = select_key(keys, token.header.kid.as_deref(), alg, issuer)?;
        if !key.verify(alg, token.signing_input.as_bytes(), &token.signature) {
            return Err(VerifyError::BadSignature {
                kid: sanitize(key.kid()),
            });
        }
        check_times(&token.claims, now, &self.options)?;
        Ok(VerifiedToken {
            kid: key.kid().to_owned(),
            header: token.header,
            claims: token.claims,
            audience: pre.audience,
        })
    }

    /// [`Validator::precheck`] then [`Validator::finish`] with keys in hand.
    ///
    /// # Errors
    /// As both steps.
    pub fn verify_with_keys(&self, token: &str, keys: &KeySet, now: i64) -> Result<VerifiedToken, VerifyError> {
        let pre = self.precheck(token)?;
        self.finish(pre, keys, now)
    }
}

fn select_key<'k>(
    keys: &'k KeySet,
    kid: Option<&str>,
    alg: Algorithm,
    issuer: &str,
) -> Result<&'k VerifyingKey, VerifyError> {
    let wanted = kid.unwrap_or("");
    let entries = keys.entries();
    // without a kid, a single-key set is used whatever its kid
    let single = kid.is_none() && entries.len() == 1 && entries.iter().all(|e| e.kid != wanted);
    let mut candidates = entries.iter().filter(|e| single || e.kid == wanted).peekable();
    if candidates.peek().is_none() {
        return Err(match kid {
            Some(k) => VerifyError::UnknownKid {
                kid: sanitize(k),
                issuer: sanitize_url(issuer),
            },
            None => VerifyError::NoKidNoDefaultKey {
                issuer: sanitize_url(issuer),
            },
        });
    }
    let mut mismatch = None;
    let mut unusable = None;
    for entry in candidates {
        match &entry.key {
            Ok(k) if k.supports(alg) => return Ok(k),
            Ok(k) => mismatch = Some(k),
            Err(reason) => unusable = Some(reason),
        }
    }
    if let Some(k) = mismatch {
        return Err(VerifyError::AlgorithmMismatch {
            alg: alg.as_str(),
            kid: sanitize(k.kid()),
            key: k.describe(),
        });
    }
    Err(VerifyError::UnusableKey {
        kid: sanitize(wanted),
        issuer: sanitize_url(issuer),
        reason: unusable.cloned().unwrap_or_default(),
    })
}

fn check_times(claims: &Claims, now: i64, options: &ValidationOptions) -> Result<(), VerifyError> {
    let leeway = i64::try_from(options.leeway.as_secs()).unwrap_or(i64::MAX);
    if now >= claims.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired { now, exp: claims.exp });
    }
    if let Some(nbf) = claims.nbf
        && now.saturating_add(leeway) < nbf
    {
        return Err(VerifyError::NotYetValid { nbf, now });
    }
    if let Some(iat) = claims.iat {
        if iat > now.saturating_add(leeway) {
            return Err(VerifyError::IssuedInFuture { iat, now });
        }
        if let Some(max_age) = options.max_age {
            let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            let age = now.saturating_sub(iat);
            if age > max_age.saturating_add(leeway) {
                return Err(VerifyError::TooOld { age });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeySpec, SigningKey};
    use crate::token::{TokenParams, mint_token};

    const ISS: &str = "https://issuer.example/id/1";

    fn setup() -> Option<(SigningKey, Validator, KeySet)> {
        let key = SigningKey::generate(KeySpec::Rsa(2048)).ok()?;
        let v = Validator::new(
            [TrustedIssuer::new(ISS, ["sts.amazonaws.com"])],
            ValidationOptions::default(),
        );
        let keys = KeySet::from_keys([key.public_key().clone()]);
        Some((key, v, keys))
    }

    #[test]
    fn accepts_valid_and_checks_time() {
        let Some((key, v, keys)) = setup() else {
            panic!("setup failed")
        };
        let mut p = TokenParams::new(ISS, "ns", "sa");
        p.issued_at = Some(1_000_000);
        p.expiration_seconds = 600;
        let t = mint_token(&key, &p).unwrap_or_default();
        let ok = v.verify_with_keys(&t, &keys, 1_000_100);
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!(ok.map(|t| t.audience).unwrap_or_default(), "sts.amazonaws.com");
        // within leeway after exp
        assert!(v.verify_with_keys(&t, &keys, 1_000_600 + 59).is_ok());
        assert!(matches!(
            v.verify_with_keys(&t, &keys, 1_000_600 + 60),
            Err(VerifyError::Expired { .. })
        ));
        assert!(matches!(
            v.verify_with_keys(&t, &keys, 1_000_000 - 61),
            Err(VerifyError::NotYetValid { .. })
        ));
    }

    #[test]
    fn max_age() {
        let Some((key, _, keys)) = setup() else {
            panic!("setup failed")
        };
        let v = Validator::new(
            [TrustedIssuer::new(ISS, ["sts.amazonaws.com"])],
            ValidationOptions {
                max_age: Some(Duration::from_secs(100)),
                leeway: Duration::ZERO,
                ..ValidationOptions::default()
            },
        );
        let mut p = TokenParams::new(ISS, "ns", "sa");
        p.issued_at = Some(1000);
        p.expiration_seconds = 100_000;
        let t = mint_token(&key, &p).unwrap_or_default();
        assert!(v.verify_with_keys(&t, &keys, 1100).is_ok());
        let e = v.verify_with_keys(&t, &keys, 1101);
        assert!(matches!(e, Err(VerifyError::TooOld { age: 101 })), "{e:?}");
    }

    #[test]
    fn unknown_kid_and_issuer() {
        let Some((key, v, _)) = setup() else {
            panic!("setup failed")
        };
        let other = SigningKey::generate(KeySpec::Rsa(2048)).ok();
        let keys = KeySet::from_keys(other.map(|k| k.public_key().clone()));
        let t = mint_token(&key, &TokenParams::new(ISS, "ns", "sa")).unwrap_or_default();
        assert!(matches!(
            v.verify_with_keys(&t, &keys, token::unix_now()),
            Err(VerifyError::UnknownKid { .. })
        ));
        let t = mint_token(&key, &TokenParams::new(format!("{ISS}/"), "ns", "sa")).unwrap_or_default();
        assert!(matches!(
            v.verify_with_keys(&t, &keys, token::unix_now()),
            Err(VerifyError::UnknownIssuer(_))
        ));
    }
}
