//! OIDC for IRSA: the issuer side and the verifier side of the token that starts the trust chain.
//!
//! In IRSA a Kubernetes cluster signs a projected service-account token (an OIDC JWT) into
//! each pod; the pod hands it to STS `AssumeRoleWithWebIdentity`, and STS verifies it against
//! the keys the cluster's issuer publishes. This crate implements both ends:
//!
//! * **Issuer side** ([`keys`], [`jwk`], [`token`], [`serve`]): load or generate RSA (2048+)
//!   and ECDSA keys in PKCS#1, PKCS#8, SEC1 and SPKI PEM; compute `kid` exactly like
//!   kube-apiserver (base64url SHA-256 of the DER SubjectPublicKeyInfo); produce the JWKS and
//!   discovery documents kube-apiserver serves; mint projected service-account tokens; serve
//!   both documents over HTTP(S) with caching headers. The `irsa oidc …` and `irsa token`
//!   commands are thin wrappers around [`keygen`], [`jwks_from_pem_files`],
//!   [`discovery_document`], [`mint_token`] and [`serve::router`]/[`serve::serve`].
//! * **Verifier side** ([`verify`], [`cache`], [`fetch`]): the STS emulator's token check. A
//!   sans-IO [`Validator`] does strict decoding, the RS/ES algorithm allow-list (the key type
//!   comes from the JWK, never from the header), issuer/audience/time checks; an IO shell,
//!   [`Verifier`], fetches `<iss>/.well-known/openid-configuration` and its `jwks_uri` over
//!   HTTPS with size, time and redirect limits, and caches keys per issuer (Cache-Control
//!   bounds, rate-limited unknown-`kid` refresh, bounded stale serving, single-flight).
//!   Every failure is a [`VerifyError`] whose [`VerifyError::sts_error_code`] says which STS
//!   error (`InvalidIdentityToken`, `ExpiredTokenException`, `IDPCommunicationError`) to return.
//!
//! Crypto is aws-lc-rs only (no `ring`), for signing, verification and TLS alike.
//!
//! # Example
//!
//! ```
//! use irsa_oidc::{
//!     Curve, JwkSet, KeySet, KeySpec, SigningKey, TokenParams, TrustedIssuer, ValidationOptions,
//!     Validator, discovery_document, mint_token,
//! };
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
//! let issuer = "https://oidc.example.com/id/CLUSTER";
//! // what `irsa oidc jwks` and `irsa oidc discovery` print
//! let jwks = JwkSet::from_keys([key.public_key()]).to_json();
//! let discovery = discovery_document(issuer, None, &[key.public_key().clone()]);
//! assert_eq!(discovery.jwks_uri, "https://oidc.example.com/id/CLUSTER/openid/v1/jwks");
//! // what `irsa token` prints
//! let token = mint_token(&key, &TokenParams::new(issuer, "default", "app"))?;
//! // what STS does, with the keys in hand (`Verifier` fetches and caches them)
//! let validator = Validator::new(
//!     [TrustedIssuer::new(issuer, ["sts.amazonaws.com"])],
//!     ValidationOptions::default(),
//! );
//! let keys = KeySet::from_jwks_json(jwks.as_bytes())?;
//! let verified = validator.verify_with_keys(&token, &keys, irsa_oidc::token::unix_now())?;
//! assert_eq!(verified.claims.sub.as_deref(), Some("system:serviceaccount:default:app"));
//! assert_eq!(verified.kid, key.kid());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cache;
mod der;
pub mod error;
pub mod fetch;
pub mod jwk;
pub mod keys;
pub mod serve;
pub mod stats;
pub mod token;
pub mod verify;

pub use cache::CachePolicy;
pub use error::{FetchError, KeyError, StsErrorCode, VerifyError};
pub use fetch::{FetchOptions, HttpKeySource, KeySource, Verifier, VerifierConfig};
pub use jwk::{
    DiscoveryDocument, Jwk, JwkSet, KeySet, discovery_document, discovery_url, jwks_from_pem_files, keys_from_pem_files,
};
pub use keys::{Algorithm, Curve, KeySpec, SigningKey, VerifyingKey, key_id, keygen, write_private_key_pem};
pub use serve::{IssuerDocuments, router};
pub use token::{Claims, KubernetesClaims, MintError, TokenParams, mint_token};
pub use verify::{TrustedIssuer, ValidationOptions, Validator, VerifiedToken};
