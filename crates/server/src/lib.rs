//! `irsa-server` is irsa's STS + IAM service over HTTP, the thin IO shell
//! around the sans-IO crates: one endpoint speaks the AWS Query protocol for
//! STS `2011-06-15` and IAM `2010-05-08` (`irsa-aws-query`), authenticates
//! signed requests with SigV4 (`irsa-sigv4`, credentials resolved by
//! `irsa-sts`), authorizes them with the policy engine, and runs the action
//! (`irsa-iam`, `irsa-sts`) over a transactional store (`irsa-store`): embedded
//! redb in the data directory, or etcd ([`StoreChoice`]), where any number of
//! replicas on the same endpoints and prefix act as one service, or memory only
//! for CI. A [`Seed`] creates providers, policies and roles at start. It
//! serves `GET /healthz` (JSON) and Prometheus `GET /metrics`, and logs one line per
//! request that names the action, the caller and the outcome but never a
//! parameter, token or secret. `irsa server` runs it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod metrics;
mod seed;
mod serve;
mod service;

pub use irsa_store::{EtcdConfig, EtcdTls};
pub use metrics::Metrics;
pub use seed::{Seed, SeedError, SeedPolicy, SeedProvider, SeedReport, SeedRole};
pub use serve::{
    ROOT_CREDENTIALS_FILE, RunningServer, Secret, ServerConfig, Started, StoreChoice, serve, serve_with, spawn,
    spawn_with,
};
pub use service::{App, ServerError, ServiceKind, router};
