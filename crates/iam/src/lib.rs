//! `irsa-iam` is the IAM domain of irsa's STS + IAM service: the entities the
//! service stores ([`Role`], [`OidcProvider`], [`ManagedPolicy`]) and how IAM
//! writes them in XML, the names, paths and ARNs IAM accepts, tag rules, unique
//! ids and access keys in AWS's formats (access key ids carry their account,
//! as AWS's do), and [`Iam`]: every IAM action the service answers, over an
//! `irsa-store` [`Store`](irsa_store::Store), with no HTTP. Policy documents
//! are checked with `irsa-policy`; the wire format comes from `irsa-aws-query`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod entities;
pub mod ids;
pub mod layout;
pub mod names;
mod oidc;
mod policies;
mod roles;
mod service;
mod simulate;

pub use entities::{DEFAULT_MAX_SESSION_DURATION, ManagedPolicy, OidcProvider, PolicyVersion, Role, write_tags};
pub use names::{Arn, Tag};
pub use oidc::{MAX_CLIENT_IDS, MAX_PROVIDERS, MAX_THUMBPRINTS, check_local_provider_url, check_provider_url};
pub use policies::MAX_VERSIONS;
pub use roles::MAX_ATTACHED_POLICIES;
pub use service::{ACTIONS, Iam, SystemRandom};
