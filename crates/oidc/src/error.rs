//! Error types.
//!
//! Three families:
//!
//! * [`KeyError`]: loading, parsing or generating key material (issuer side, CLI input).
//! * [`FetchError`]: retrieving an issuer's discovery document or JWKS (verifier IO shell).
//! * [`VerifyError`]: everything that can make a web identity token unacceptable. Every
//!   variant maps onto one of the three STS error codes via [`VerifyError::sts_error_code`].
//!
//! Messages never contain the token, signatures or key material. Attacker-controlled strings
//! that are worth reporting (a `kid`, an `iss`, an `alg`) go through [`sanitize`] first: they
//! are truncated and stripped of control characters.

use std::fmt;

/// Errors raised while loading, parsing or generating keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input contained no PEM block we could use.
    #[error("no PEM block found{0}")]
    NoPem(String),
    /// A PEM block is malformed (bad armour or base64).
    #[error("malformed PEM: {0}")]
    Pem(&'static str),
    /// A PEM block of a kind we do not accept.
    #[error("unsupported PEM block type `{0}`")]
    UnsupportedPemLabel(String),
    /// Encrypted private keys are not supported.
    #[error("encrypted PEM private keys are not supported; decrypt the key first")]
    Encrypted,
    /// DER structure could not be parsed.
    #[error("malformed DER: {0}")]
    Der(&'static str),
    /// A key algorithm or curve we do not support.
    #[error("unsupported key type: {0}")]
    UnsupportedKeyType(&'static str),
    /// An RSA key outside the accepted size range.
    #[error("RSA key of {bits} bits rejected: must be between 2048 and 8192 bits")]
    RsaKeySize {
        /// Modulus size in bits.
        bits: usize,
    },
    /// The cryptographic library rejected the key.
    #[error("key rejected by the crypto library: {0}")]
    Rejected(String),
    /// The requested operation needs a private key but only a public key was given.
    #[error("a private key is required, found a public key")]
    NotPrivate,
    /// An algorithm that does not fit the key.
    #[error("algorithm {alg} cannot be used with a {key} key")]
    AlgorithmMismatch {
        /// Requested JWS algorithm.
        alg: &'static str,
        /// Key description.
        key: &'static str,
    },
    /// A JWK could not be turned into a key.
    #[error("invalid JWK: {0}")]
    Jwk(String),
    /// Signing failed inside the crypto library.
    #[error("signing failed")]
    Signing,
    /// Key generation failed.
    #[error("key generation failed")]
    Generation,
    /// Reading a key file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Underlying IO error.
        source: std::io::Error,
    },
}

/// The three STS error codes a web identity token failure maps onto.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum StsErrorCode {
    /// `InvalidIdentityToken` (HTTP 400): the token could not be validated.
    InvalidIdentityToken,
    /// `ExpiredTokenException` (HTTP 400): the token is expired or too old.
    ExpiredTokenException,
    /// `IDPCommunicationError` (HTTP 400): the issuer could not be reached; transient, retry.
    IdpCommunicationError,
}

impl StsErrorCode {
    /// The wire `Code` string of the STS error.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidIdentityToken => "InvalidIdentityToken",
            Self::ExpiredTokenException => "ExpiredTokenException",
            Self::IdpCommunicationError => "IDPCommunicationError",
        }
    }
}

impl fmt::Display for StsErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an issuer's keys could not be retrieved.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not acceptable (not https while http is not allowed, unparsable, has a query...).
    #[error("refusing to fetch {url}: {reason}")]
    InsecureUrl {
        /// The offending URL (sanitized).
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Connect/TLS/IO failure, or timeout. Transient.
    #[error("could not reach {url}: {reason}")]
    Unreachable {
        /// The URL (sanitized).
        url: String,
        /// Short description of the failure.
        reason: String,
    },
    /// The server's certificate is not trusted (unknown CA, wrong name, expired). Not
    /// transient: configure the CA bundle.
    #[error("TLS failure with {url}: {reason}")]
    Tls {
        /// The URL (sanitized).
        url: String,
        /// Description.
        reason: String,
    },
    /// Timeout while waiting for a response or reading its body. Transient.
    #[error("timed out fetching {url}")]
    Timeout {
        /// The URL (sanitized).
        url: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL (sanitized).
        url: String,
        /// HTTP status code.
        status: u16,
    },
    /// Body larger than the configured limit.
    #[error("response from {url} exceeds {limit} bytes")]
    TooLarge {
        /// The URL (sanitized).
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The document could not be parsed or is inconsistent.
    #[error("invalid document from {url}: {reason}")]
    InvalidDocument {
        /// The URL (sanitized).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A fetch for this issuer failed recently; the verifier does not retry yet.
    #[error("issuer key fetch failed recently, backing off: {0}")]
    BackingOff(Box<FetchError>),
}

impl FetchError {
    /// Whether this failure is transient (network, timeout, 5xx, 429), as opposed to a
    /// configuration or document problem that a retry will not fix.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::BackingOff(inner) => inner.is_transient(),
            Self::InsecureUrl { .. } | Self::Tls { .. } | Self::TooLarge { .. } | Self::InvalidDocument { .. } => false,
        }
    }
}

/// Why a web identity token was rejected.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Token longer than the limit (20,000 characters like STS, configurable).
    #[error("token is {len} characters long, more than the {max} allowed")]
    TooLarge {
        /// Token length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not a compact JWS, bad base64url, bad JSON, duplicate members...
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header's `alg` is not RS256/384/512 or ES256/384/512.
    #[error("signature algorithm `{0}` is not accepted (RS256, RS384, RS512, ES256, ES384, ES512 only)")]
    UnsupportedAlgorithm(String),
    /// A header parameter we refuse (`crit`, `b64`).
    #[error("unsupported JOSE header parameter `{0}`")]
    UnsupportedHeader(String),
    /// A required claim is absent.
    #[error("Missing a required claim: {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an unacceptable value.
    #[error("invalid claim `{claim}`: {reason}")]
    InvalidClaim {
        /// Claim name.
        claim: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `iss` is not one of the trusted issuers.
    #[error("No OpenIDConnect provider found for {0}")]
    UnknownIssuer(String),
    /// None of the token's audiences is allowed.
    #[error("Incorrect token audience")]
    AudienceMismatch,
    /// No key in the issuer's JWKS has the token's `kid`.
    #[error("no key with kid `{kid}` in the JWKS of {issuer}")]
    UnknownKid {
        /// The `kid` from the token header (sanitized).
        kid: String,
        /// Issuer.
        issuer: String,
    },
    /// The token has no `kid` and no key of the JWKS can be chosen without one.
    #[error("token has no kid and the JWKS of {issuer} has no key usable without one")]
    NoKidNoDefaultKey {
        /// Issuer.
        issuer: String,
    },
    /// The key named by `kid` exists but was rejected when the JWKS was loaded.
    #[error("key `{kid}` of {issuer} is not usable: {reason}")]
    UnusableKey {
        /// Key id (sanitized).
        kid: String,
        /// Issuer.
        issuer: String,
        /// Why the key was rejected.
        reason: String,
    },
    /// The header's algorithm does not fit the key selected by `kid`.
    #[error("algorithm {alg} does not match key `{kid}` ({key})")]
    AlgorithmMismatch {
        /// Algorithm from the header.
        alg: &'static str,
        /// Key id (sanitized).
        kid: String,
        /// What the key allows.
        key: String,
    },
    /// The signature does not verify.
    #[error("invalid signature (kid `{kid}`)")]
    BadSignature {
        /// Key id used (sanitized).
        kid: String,
    },
    /// `exp` is in the past (beyond leeway).
    #[error("Token expired: current date/time {now} must be before the expiration date/time {exp}")]
    Expired {
        /// Verification time (seconds since the epoch).
        now: i64,
        /// Token `exp`.
        exp: i64,
    },
    /// `iat` is older than the configured maximum age.
    #[error("Token too old: {age}")]
    TooOld {
        /// Age in seconds.
        age: i64,
    },
    /// `nbf` is in the future (beyond leeway).
    #[error("token not valid before {nbf} (now {now})")]
    NotYetValid {
        /// Token `nbf`.
        nbf: i64,
        /// Verification time.
        now: i64,
    },
    /// `iat` is in the future (beyond leeway).
    #[error("token issued in the future ({iat}, now {now})")]
    IssuedInFuture {
        /// Token `iat`.
        iat: i64,
        /// Verification time.
        now: i64,
    },
    /// Keys could not be retrieved and no usable cached keys exist.
    #[error("Couldn't retrieve verification key from your identity provider: {0}")]
    KeyFetch(#[from] FetchError),
}

impl VerifyError {
    /// The STS error code this failure is reported as.
    ///
    /// Expiry problems are `ExpiredTokenException`; transient issuer outages (network errors,
    /// timeouts, HTTP 5xx/429) are `IDPCommunicationError`; everything else, including a
    /// non-transient key retrieval problem (404, bad JSON, oversized JWKS), is
    /// `InvalidIdentityToken`.
    #[must_use]
    pub fn sts_error_code(&self) -> StsErrorCode {
        match self {
            Self::Expired { .. } | Self::TooOld { .. } => StsErrorCode::ExpiredTokenException,
            Self::KeyFetch(e) if e.is_transient() => StsErrorCode::IdpCommunicationError,
            _ => StsErrorCode::InvalidIdentityToken,
        }
    }
}

/// Make an attacker-controlled string safe to put into an error message or a log line:
/// at most 64 characters, control characters replaced by `?`.
#[must_use]
pub fn sanitize(s: &str) -> String {
    truncate(s, 64)
}

/// [`sanitize`] for URLs and issuers, which are longer (EKS issuers are ~90 characters):
/// at most 256 characters.
#[must_use]
pub fn sanitize_url(s: &str) -> String {
    truncate(s, 256)
}

/// Like [`sanitize`] with another length limit.
#[must_use]
pub fn truncate(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_truncates_and_strips_controls() {
        assert_eq!(sanitize("a\nb"), "a?b");
        let long = "x".repeat(100);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), 65);
        assert!(s.ends_with('…'));
        assert_eq!(sanitize(&"y".repeat(64)), "y".repeat(64));
    }

    #[test]
    fn sts_codes() {
        assert_eq!(
            VerifyError::Expired { now: 2, exp: 1 }.sts_error_code(),
            StsErrorCode::ExpiredTokenException
        );
        assert_eq!(
            VerifyError::KeyFetch(FetchError::Timeout { url: "u".into() }).sts_error_code(),
            StsErrorCode::IdpCommunicationError
        );
        assert_eq!(
            VerifyError::KeyFetch(FetchError::Status {
                url: "u".into(),
                status: 404
            })
            .sts_error_code(),
            StsErrorCode::InvalidIdentityToken
        );
        assert_eq!(
            VerifyError::AudienceMismatch.sts_error_code(),
            StsErrorCode::InvalidIdentityToken
        );
        assert_eq!(StsErrorCode::IdpCommunicationError.as_str(), "IDPCommunicationError");
    }
}
