//! `irsa-setup` is `irsa setup`, the installer step kfctl's AWS plugin did
//! with `enablePodIamPolicy: true`: it reads a kfctl-style configuration
//! ([`parse_config`]) and plans the cluster's IAM OIDC provider and the
//! `kf-admin` and `kf-user` roles, their web-identity trust (written by the
//! policy engine's trust editor) and the profile controller's least-privilege
//! policy ([`plan`]). The plan is a pure function of the configuration and the
//! target account; applying it is a thin shell over the IAM API. The issuer
//! URL can come from EKS ([`issuer_from_eks`]), and an issuer behind a
//! private CA gets its thumbprint from a verified TLS handshake
//! ([`issuer_thumbprints`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod apply;
mod config;
mod issuer;
mod plan;

pub use apply::{ApplyError, Change, apply, connect, connect_with, sdk_config, teardown};
pub use config::{ConfigError, ParsedConfig, ServiceAccountRef, SetupConfig, parse_config};
pub use issuer::{IssuerError, fetch_chain, issuer_from_eks, issuer_thumbprints, parse_ca_pem, sha1_hex, thumbprint};
pub use plan::{
    CLUSTER_TAG, CONTROLLER_POLICY_NAME, MANAGED_BY_TAG, Plan, PlanError, ProviderPlan, RolePlan, STS_AUDIENCE, Target,
    plan, profile_controller_policy,
};
