//! `irsa-iam` is the IAM domain of irsa's STS + IAM service, with no IO: the
//! entities the service stores ([`Role`], [`OidcProvider`], [`ManagedPolicy`])
//! and how IAM writes them in XML, the names, paths and ARNs IAM accepts, tag
//! rules, and unique ids and access keys in AWS's formats (access key ids carry
//! their account, as AWS's do). Policy documents are checked with
//! `irsa-policy`; the wire format comes from `irsa-aws-query`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod entities;
pub mod ids;
pub mod layout;
pub mod names;

pub use entities::{DEFAULT_MAX_SESSION_DURATION, ManagedPolicy, OidcProvider, PolicyVersion, Role, write_tags};
pub use names::{Arn, Tag};
