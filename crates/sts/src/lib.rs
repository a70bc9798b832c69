//! `irsa-sts` is the STS side of irsa's STS + IAM service, with no IO. Its
//! first part is [`token`]: session tokens that carry their session sealed
//! with AES-256-GCM under a rotating key ring, so that any replica holding the
//! ring can validate a request signed with temporary credentials (and recover
//! the secret to check its SigV4 signature) without shared session state.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod token;
