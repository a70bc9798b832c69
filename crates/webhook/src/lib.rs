//! # irsa-webhook
//!
//! The pod identity mutating admission webhook of irsa, a drop-in replacement for
//! `amazon-eks-pod-identity-webhook`: same flags, annotations, ConfigMap format and resulting
//! pods, so that an operator swaps the image and changes nothing else. For a pod whose
//! ServiceAccount carries `eks.amazonaws.com/role-arn` (or that is listed in the EKS Pod Identity
//! associations file, or mapped by the `pod-identity-webhook` ConfigMap) it adds the projected
//! service-account-token volume, its mount and the AWS SDK environment (`AWS_ROLE_ARN` /
//! `AWS_WEB_IDENTITY_TOKEN_FILE`, or `AWS_CONTAINER_CREDENTIALS_FULL_URI` /
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, plus region and regional-STS variables). In irsa the
//! other components (OIDC issuer, STS, controller) make those tokens exchangeable for AWS
//! credentials; this crate is the piece that puts the token into the pod. The `irsa` binary
//! calls it for `irsa webhook` (server) and `irsa webhook mutate` (offline mode).
//!
//! Layers, from the pure core outwards:
//!
//! * [`config`]: every upstream flag with its default ([`MutationConfig`], [`ServerConfig`]) and
//!   `clap` argument structs ([`WebhookArgs`], [`MutationArgs`]) to flatten into the binary;
//! * [`annotations`], [`sources`]: ServiceAccount/pod annotations, the ConfigMap mapping and the
//!   Pod Identity file;
//! * [`mutate`]: identity resolution and the mutation as a pure function producing a minimal
//!   RFC 6902 patch (only `add` operations at the narrowest path; unknown fields survive);
//! * [`store`]: the in-memory identity store shared by the server and the Kubernetes watchers;
//! * [`admission`]: AdmissionReview v1/v1beta1 decoding and answering, never panicking on input;
//! * [`offline`]: the `irsa webhook mutate` entry point (files in, patch or pod out);
//! * [`server`], [`tls`], [`metrics`]: the axum router (`/mutate`, `/healthz`, `/readyz`,
//!   `/metrics`), HTTPS with rustls and certificate hot reload, Prometheus metrics named as
//!   upstream's, served in the text format upstream serves ([`exposition`]);
//! * [`k8s`], [`watch`], [`imds`]: kube-rs ServiceAccount/ConfigMap watches and the cache-miss
//!   look-up, the Pod Identity file watcher, the IMDSv2 client for `--compose-role-arn`;
//! * [`run()`]: everything wired together, what `irsa webhook` runs.
//!
//! The crate does not pick a Kubernetes API version for `k8s-openapi`: the binary enables
//! exactly one (`features = ["v1_33"]`), as k8s-openapi requires of libraries.
//!
//! Deliberate differences from upstream (its documented bugs): granular patches instead of
//! replacing container lists; the token volume is mounted even when a container already defines
//! every variable; a mount whose `mountPath` is already used by another volume is skipped with a
//! warning instead of producing an invalid pod; ConfigMap keys without `/` are skipped instead of
//! crashing; ConfigMap entries default audience / regional STS from the flags and clamp their
//! expiration; v1 reviews are answered with `apiVersion`, `kind` and `uid`; `Content-Type`
//! parameters (`; charset=utf-8`) are accepted; readiness waits for the ServiceAccount cache.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admission;
pub mod annotations;
pub mod config;
pub mod exposition;
pub mod imds;
pub mod k8s;
pub mod metrics;
pub mod mutate;
pub mod offline;
pub mod run;
pub mod server;
pub mod sources;
pub mod store;
pub mod tls;
pub mod watch;

pub use config::{MutationArgs, MutationConfig, ServerConfig, WebhookArgs};
pub use mutate::{Identity, IdentitySources, Mode, build_patch, resolve_identity};
pub use offline::{MutateArgs, OfflineInput, OfflineOutcome, OutputKind, mutate_offline, run_mutate};
pub use run::{VERSION, run, shutdown_signal};
