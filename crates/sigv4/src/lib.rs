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
