//! The Kubeflow profile controller with the `AwsIamForServiceAccount` plugin.
//!
//! - [`crd`]: the `Profile` CRD (`kubeflow.org/v1` stored, `v1beta1` served).
//! - [`desired`]: a Profile's desired objects (pure).
//! - [`aws`]: the AWS plugin: spec, ARN, allow-list, annotation and trust plans (pure).
//! - [`trust`]: the [`trust::RoleTrust`] trait and the serialised, verified edit loop.
//! - [`plugin`]: the plugin's IAM effects (tag check, revoke, grant), shared with `irsa up`.
//! - [`iam`]: `RoleTrust` with aws-sdk-iam, and [`iam::TrustClient`] for `irsa trust`.
//! - [`events`]: Events about Profiles, in the namespace the API requires for cluster-scoped objects.
//! - [`config`]: flags ([`config::ControllerArgs`]) and the pure configuration.

pub mod aws;
pub mod config;
pub mod crd;
pub mod desired;
pub mod events;
pub mod iam;
pub mod plugin;
pub mod reconcile;
pub mod render;
pub mod run;
pub mod trust;

pub use config::{ControllerArgs, ControllerConfig};
pub use render::{Rendered, render};
pub use run::run;
