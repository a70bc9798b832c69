//! The Kubeflow `Profile` custom resource (`profiles.kubeflow.org`), compatible with the objects
//! upstream's controller manages: cluster-scoped, `kubeflow.org/v1` stored and `v1beta1` served
//! with the same schema (`conversion: None`), a status subresource.
//!
//! `spec.plugins[].spec` is kept exactly as given (`x-kubernetes-preserve-unknown-fields`), so
//! plugins this controller does not know survive a round trip.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceQuotaSpec;
use k8s_openapi::api::rbac::v1::Subject;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group.
pub const GROUP: &str = "kubeflow.org";
/// The stored version.
pub const STORED_VERSION: &str = "v1";
/// The other served version (same schema).
pub const SERVED_VERSION_BETA: &str = "v1beta1";
/// The finalizer upstream's controller puts on Profiles (kept so existing Profiles are cleaned up).
pub const FINALIZER: &str = "profile-finalizer";

/// A Kubeflow Profile: a namespace with an owner, plugins and a resource quota.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kubeflow.org",
    version = "v1",
    kind = "Profile",
    plural = "profiles",
    status = "ProfileStatus",
    printcolumn = r#"{"name":"Owner","type":"string","jsonPath":".spec.owner.name"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSpec {
    /// The owner: an RBAC subject (`kind` and `name` required), bound to `kubeflow-admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "owner_schema")]
    pub owner: Option<Subject>,
    /// Plugins, selected by `kind`; each plugin's `spec` is kept as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
    /// The namespace's `kf-resource-quota` (none when `hard` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_quota_spec: Option<ResourceQuotaSpec>,
}

/// One plugin: `apiVersion`/`kind` (inline TypeMeta upstream) and a free-form `spec`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    /// The plugin's API version (unused; kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Selects the plugin: `AwsIamForServiceAccount`, `WorkloadIdentity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The plugin's settings, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub spec: Option<serde_json::Value>,
}

/// What the controller observed and applied.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileStatus {
    /// Conditions (`Ready`, `AwsIamTrusted`, `TrustPolicyFull`, `RoleNotAllowed`, `PluginUnknown`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ProfileCondition>,
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// What the AWS plugin applied (the base for revoking it later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsStatus>,
}

/// One condition (upstream had `type`, `status`, `message`; `reason` and the time are additions).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileCondition {
    /// The condition type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// How the AWS plugin's role was applied.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AwsMode {
    /// Annotation plus a trust-policy edit.
    Trust,
    /// Annotation only (`annotateOnly: true`); the trust policy is managed elsewhere.
    AnnotateOnly,
}

/// What the AWS plugin applied, recorded so a changed role or a removed plugin revokes it.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsStatus {
    /// The role whose ARN annotates the service accounts (and whose trust was edited).
    pub applied_role_arn: String,
    /// The OIDC provider ARN the subjects were added for (trust mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_arn: Option<String>,
    /// The subjects added to the role's trust policy (trust mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Trust or annotate-only.
    pub mode: AwsMode,
}

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

fn owner_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "The owner: an RBAC subject.",
        "type": "object",
        "x-kubernetes-map-type": "atomic",
        "required": ["kind", "name"],
        "properties": {
            "apiGroup": {"type": "string"},
            "kind": {"type": "string"},
            "name": {"type": "string"},
            "namespace": {"type": "string"}
        }
    })
}

/// The CRD with both versions: `v1` served and stored, `v1beta1` served with the same schema.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = Profile::crd();
    let beta = crd.spec.versions.first().cloned().map(|mut v| {
        v.name = SERVED_VERSION_BETA.to_owned();
        v.storage = false;
        v.served = true;
        v
    });
    if let Some(beta) = beta {
        crd.spec.versions.push(beta);
    }
    crd.spec.conversion = Some(
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceConversion {
            strategy: "None".to_owned(),
            webhook: None,
        },
    );
    let labels = crd.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert("app.kubernetes.io/part-of".into(), "kubeflow".into());
    crd
}

/// Errors printing the CRD.
#[derive(Debug, thiserror::Error)]
pub enum CrdPrintError {
    /// JSON encoding failed.
    #[error("cannot encode the CRD as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML encoding failed.
    #[error("cannot encode the CRD as YAML: {0}")]
    Yaml(String),
}

/// The CRD as YAML (for `deploy/profile-controller/crd.yaml`).
pub fn crd_yaml() -> Result<String, CrdPrintError> {
    let value = serde_json::to_value(crd())?;
    serde_saphyr::to_string(&value).map_err(|e| CrdPrintError::Yaml(e.to_string()))
}

/// The CRD as pretty JSON.
pub fn crd_json() -> Result<String, CrdPrintError> {
    Ok(serde_json::to_string_pretty(&crd())?)
}
