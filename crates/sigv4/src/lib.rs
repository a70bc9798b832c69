//! A sans-IO verifier for AWS Signature Version 4, the authentication of irsa's STS and IAM
//! service.
//!
//! In irsa, workloads get temporary credentials from the STS emulator
//! (`AssumeRoleWithWebIdentity`, which is unsigned) and then call STS and IAM with requests
//! signed by their SDK, exactly as they would call AWS: AWS Query protocol requests, a form body
//! POSTed (or a query string sent with GET) to `/`, signed for service `sts` or `iam`. This crate
//! is the server side of that signature. It finds the signature in the `Authorization` header or
//! in a presigned query string, checks the clock, the credential scope and the presigned expiry,
//! hands the access key id and session token to the caller (which owns credential storage), and
//! then recomputes the signature with the secret the caller found and compares it in constant
//! time. It does no IO and writes no XML: every failure is an [`Error`] whose
//! [`Error::aws_code`], [`Error::http_status`] and [`Error::message`] the service puts on the
//! wire.
//!
//! ```
//! use std::time::SystemTime;
//! use irsa_sigv4::{Error, Request, Verifier};
//!
//! fn authenticate(verifier: &Verifier, req: &Request<'_>, now: SystemTime) -> Result<String, Error> {
//!     let auth = verifier.parse(req, now)?;
//!     // The caller's credential store: unknown key → InvalidClientTokenId, expired session →
//!     // ExpiredToken (and a session token must belong to its key).
//!     let secret = match auth.access_key_id() {
//!         "AKIDEXAMPLE" => "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
//!         _ => return Err(Error::invalid_client_token_id()),
//!     };
//!     let verified = auth.verify(secret)?;
//!     Ok(verified.access_key_id)
//! }
//!
//! let req = Request::new("POST", "/").header("host", "sts.example.test");
//! let err = authenticate(&Verifier::new(["sts"]), &req, SystemTime::now()).unwrap_err();
//! assert_eq!((err.aws_code(), err.http_status()), ("MissingAuthenticationToken", 403));
//! ```
//!
//! The canonical request follows AWS's rules for services other than S3 (the path normalised
//! and encoded twice, the query decoded, re-encoded and sorted, the signed headers trimmed and
//! joined). Where SDKs disagree (botocore collapses tabs in header values as well as spaces)
//! the verifier accepts either form. Crypto is aws-lc-rs (SHA-256, HMAC-SHA256 and its
//! constant-time comparison).

//! # What the caller must do
//!
//! * Route unsigned operations (`AssumeRoleWithWebIdentity`, `AssumeRoleWithSAML`) before
//!   calling [`Verifier::parse`], which answers `MissingAuthenticationToken` to anonymous
//!   requests.
//! * Look up [`Authorization::access_key_id`]; an unknown key, or a session token
//!   ([`Authorization::session_token`]) that is missing, unknown or not issued with that key, is
//!   [`Error::invalid_client_token_id`]; expired session credentials are
//!   [`Error::expired_token`]. The signature binds the token only when it is signed (header
//!   form) or presigned, so the binding to the key is the caller's check.
//! * Serve only what was verified: the path is normalised before signing (`/a/../` is `/`),
//!   so route on the normalised path, or accept only `/` as the Query protocol does.
//!
//! # Decisions where AWS does not document its behaviour
//!
//! * A session token header that is present but not signed is accepted (AWS's test suite has
//!   such a request); a presigned URL must sign its `X-Amz-Security-Token`.
//! * `x-amz-content-sha256`, when sent, must be the SHA-256 of the body (`UNSIGNED-PAYLOAD` is
//!   accepted only on presigned requests); a presigned request without it may have been signed
//!   with the body's hash or with `UNSIGNED-PAYLOAD`, and both are tried.
//! * Query parameters are decoded as `application/x-www-form-urlencoded` (`+` is a space, as
//!   the AWS SDK for Rust decodes them) and percent escapes that are not UTF-8 stay bytes.
//! * Header values are trimmed and their space runs collapsed (AWS's rule); when a signed value
//!   holds a tab or other ASCII whitespace, botocore's rule (all whitespace) is tried as well.
//! * `SignedHeaders` must list lower-case names, each once; they are used in the order given.
//! * The presigned expiry has no grace period; the clock skew (±15 minutes by default) applies
//!   to a presigned request's date only against signing in the future.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod canonical;
mod error;
mod parse;
mod request;
mod time;
mod verify;

pub use error::{Error, Mismatch};
pub use parse::ALGORITHM;
pub use request::Request;
pub use time::AmzDate;
pub use verify::{Authorization, Regions, Scope, SignatureLocation, SigningKey, UNSIGNED_PAYLOAD, Verified, Verifier};
