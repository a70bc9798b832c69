//! `irsa-sts` is the STS side of irsa's STS + IAM service: `AssumeRoleWithWebIdentity`,
//! `AssumeRole` and `GetCallerIdentity` over the store ([`Sts`]), the SigV4 credential lookup
//! ([`Sts::resolve`], [`Sts::authenticate`]) and the authorization of signed calls with the
//! policy engine ([`Sts::authorize`]). No HTTP: the server wires it to axum.
//!
//! Session tokens ([`token`]) carry their session ([`SessionClaims`]) sealed with AES-256-GCM
//! under a rotating key ring kept in the store (`sts/session-key-ring`), so that any replica
//! holding the ring can validate a request signed with temporary credentials (and recover the
//! secret to check its SigV4 signature) without shared session state.
//!
//! # Wiring (for the server)
//!
//! ```text
//! let sts = Sts::open(store, StsConfig { fetch: FetchOptions { extra_ca_pem, allow_http, .. }, .. }).await?;
//! let (akid, secret) = sts.root_credentials();            // tell the operator at first start
//!
//! per request (form body merged with the query string into QueryParams):
//!   let action = params.action()?;
//!   let info = RequestInfo { source_ip, secure_transport, user_agent, region };
//!   let caller = if action == "AssumeRoleWithWebIdentity" {
//!       None                                              // unsigned by design (a signature is ignored)
//!   } else {
//!       Some(sts.authenticate(&sigv4_verifier, &sigv4_request, SystemTime::now()).await?.0)
//!   };
//!   STS actions:  sts.handle(action, &params, caller.as_ref(), &info, now).await
//!                 → Ok(inner XML) → irsa_aws_query::response_xml(action, STS_NAMESPACE, request_id, Some(&xml))
//!                 (AssumeRole / GetCallerIdentity authorize themselves: no authorize() call)
//!   IAM actions:  sts.authorize(&caller, "iam:CreateRole", resource_arn, &info, now).await? first
//!   Err(AwsError) → irsa_aws_query::error_response(&err, namespace, request_id), status err.status()
//! ```
//!
//! [`Sts::resolve`] is the lookup to use when the server drives `irsa_sigv4` itself
//! (`verifier.parse(..)`, then `resolve(auth.access_key_id(), auth.session_token(), now)`, then
//! `auth.verify(secret)`); [`errors::sigv4_lookup_error`] maps its error for
//! `Verifier::authenticate`'s synchronous closure if that is preferred (the lookup is async
//! because it reads the role for revocation).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod context;
pub mod errors;
mod service;
mod session;
pub mod token;

pub use context::RequestInfo;
pub use service::{
    CHAINED_MAX_DURATION, DEFAULT_DURATION, MAX_SESSION_DURATION, PACKED_BUDGET, Sts, StsConfig, StsError,
    packed_policy_size, sigv4_error,
};
pub use session::{Caller, SessionClaims};
