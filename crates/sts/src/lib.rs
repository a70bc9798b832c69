//! `irsa-sts` is the STS side of irsa's STS + IAM service: `AssumeRoleWithWebIdentity`,
//! `AssumeRole` and `GetCallerIdentity` over the store ([`Sts`]), the SigV4 credential lookup
//! ([`Sts::resolve`]) and the authorization of signed calls with the policy engine
//! ([`Sts::authorize`]). No HTTP: the server wires it to axum.
//!
//! Session tokens ([`token`]) carry their session ([`SessionClaims`]) sealed with AES-256-GCM
//! under a rotating key ring kept in the store, so that any replica holding the ring can
//! validate a request signed with temporary credentials (and recover the secret to check its
//! SigV4 signature) without shared session state.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod context;
pub mod errors;
mod service;
mod session;
pub mod token;

pub use context::RequestInfo;
pub use service::{
    CHAINED_MAX_DURATION, DEFAULT_DURATION, PACKED_BUDGET, Sts, StsConfig, StsError, packed_policy_size, sigv4_error,
};
pub use session::{Caller, SessionClaims};
