//! `irsa-setup` is `irsa setup`, the installer step kfctl's AWS plugin did
//! with `enablePodIamPolicy: true`: it reads a kfctl-style configuration
//! ([`parse_config`]) and plans the cluster's IAM OIDC provider and the
//! `kf-admin` and `kf-user` roles, their web-identity trust (written by the
//! policy engine's trust editor) and the profile controller's least-privilege
//! policy ([`plan`]). The plan is a pure function of the configuration and the
//! target account; applying it is a thin shell over the IAM API.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod apply;
mod config;
mod plan;

pub use apply::{ApplyError, Change, apply, connect, connect_with, teardown};
pub use config::{ConfigError, ParsedConfig, ServiceAccountRef, SetupConfig, parse_config};
pub use plan::{
    CLUSTER_TAG, CONTROLLER_POLICY_NAME, MANAGED_BY_TAG, Plan, PlanError, ProviderPlan, RolePlan, STS_AUDIENCE, Target,
    plan, profile_controller_policy,
};
