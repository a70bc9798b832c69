//! A Profile's desired Kubernetes objects, as pure functions (what upstream reconciles, per
//! `kubeflow-iam.md` §1.5): the namespace, `default-editor`/`default-viewer` and their
//! RoleBindings, the owner's `namespaceAdmin` RoleBinding, the Istio AuthorizationPolicy
//! `ns-owner-access-istio` and the ResourceQuota `kf-resource-quota`, all owned by the Profile.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use serde_json::json;

use crate::config::ControllerConfig;
use crate::crd::Profile;

/// `default-editor`: the service account notebooks and pipelines run as.
pub const DEFAULT_EDITOR: &str = "default-editor";
/// `default-viewer`.
pub const DEFAULT_VIEWER: &str = "default-viewer";
/// The owner's RoleBinding.
pub const NAMESPACE_ADMIN: &str = "namespaceAdmin";
/// The Istio AuthorizationPolicy.
pub const AUTHORIZATION_POLICY: &str = "ns-owner-access-istio";
/// The ResourceQuota.
pub const RESOURCE_QUOTA: &str = "kf-resource-quota";
/// The namespace annotation naming the owner.
pub const OWNER_ANNOTATION: &str = "owner";
/// The ServiceAccount annotation the pod identity webhook reads.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// Why a Profile cannot be reconciled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    /// The Profile has no name or uid (not from the API server).
    #[error("the Profile has no {0}")]
    MissingMeta(&'static str),
    /// `spec.owner` is missing or has no name.
    #[error("spec.owner.name is required (the owner is bound to kubeflow-admin)")]
    NoOwner,
    /// The namespace exists and belongs to someone else.
    #[error("namespace `{namespace}` already exists with owner `{current}`, not `{wanted}`; refusing to adopt it")]
    NamespaceOwnedByOther {
        /// The namespace.
        namespace: String,
        /// Its current owner annotation.
        current: String,
        /// The Profile's owner.
        wanted: String,
    },
}

/// Everything the controller applies for one Profile.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredState {
    /// The namespace (same name as the Profile).
    pub namespace: Namespace,
    /// `default-editor` and `default-viewer` (with the AWS annotation when the plugin applies).
    pub service_accounts: Vec<ServiceAccount>,
    /// `default-editor`, `default-viewer`, `namespaceAdmin`.
    pub role_bindings: Vec<RoleBinding>,
    /// `security.istio.io/v1beta1` AuthorizationPolicy `ns-owner-access-istio`, as JSON.
    pub authorization_policy: serde_json::Value,
    /// `kf-resource-quota`, or `None`: delete it if present.
    pub resource_quota: Option<ResourceQuota>,
}

impl DesiredState {
    /// Every object as JSON with apiVersion/kind, in apply order.
    pub fn objects(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        out.push(serde_json::to_value(&self.namespace).unwrap_or_default());
        out.push(self.authorization_policy.clone());
        for sa in &self.service_accounts {
            out.push(serde_json::to_value(sa).unwrap_or_default());
        }
        for rb in &self.role_bindings {
            out.push(serde_json::to_value(rb).unwrap_or_default());
        }
        if let Some(q) = &self.resource_quota {
            out.push(serde_json::to_value(q).unwrap_or_default());
        }
        out
    }
}

/// The owner reference every object carries.
pub fn owner_reference(profile: &Profile) -> Result<OwnerReference, DesiredError> {
    let name = profile.metadata.name.clone().ok_or(DesiredError::MissingMeta("name"))?;
    let uid = profile.metadata.uid.clone().ok_or(DesiredError::MissingMeta("uid"))?;
    Ok(OwnerReference {
        api_version: "kubeflow.org/v1".into(),
        kind: "Profile".into(),
        name,
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// The owner subject (`spec.owner` with a non-empty name).
pub fn owner(profile: &Profile) -> Result<&Subject, DesiredError> {
    match &profile.spec.owner {
        Some(o) if !o.name.is_empty() => Ok(o),
        _ => Err(DesiredError::NoOwner),
    }
}

/// Refuses to adopt an existing namespace whose `owner` annotation names someone else.
pub fn check_adoption(profile: &Profile, current: Option<&Namespace>) -> Result<(), DesiredError> {
    let wanted = &owner(profile)?.name;
    let Some(ns) = current else { return Ok(()) };
    match ns.annotations().get(OWNER_ANNOTATION) {
        Some(current) if current != wanted => Err(DesiredError::NamespaceOwnedByOther {
            namespace: ns.name_any(),
            current: current.clone(),
            wanted: wanted.clone(),
        }),
        _ => Ok(()),
    }
}

/// The namespace labels to apply: the configured labels with a value, except those the current
/// namespace already has with another value (never overwritten). Empty values are left out.
pub fn namespace_labels(
    config: &BTreeMap<String, String>,
    current: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    config
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .filter(|(k, v)| current.and_then(|c| c.get(*k)).is_none_or(|cv| cv == *v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The labels the configuration asks to remove (empty values).
pub fn namespace_labels_to_remove(config: &BTreeMap<String, String>) -> Vec<String> {
    config
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(k, _)| k.clone())
        .collect()
}

fn meta(name: &str, namespace: &str, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// The desired state of `profile`. `current_namespace` is the namespace as it exists (for the
/// label rules and the adoption check); `sa_annotations` are the AWS plugin's annotations per
/// service account name (see [`crate::aws::AwsPlan`]).
pub fn desired_state(
    profile: &Profile,
    config: &ControllerConfig,
    current_namespace: Option<&Namespace>,
    sa_annotations: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<DesiredState, DesiredError> {
    let oref = owner_reference(profile)?;
    let owner = owner(profile)?.clone();
    check_adoption(profile, current_namespace)?;
    let ns = oref.name.clone();

    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            annotations: Some(BTreeMap::from([(OWNER_ANNOTATION.to_owned(), owner.name.clone())])),
            labels: Some(namespace_labels(
                &config.namespace_labels,
                current_namespace.and_then(|n| n.metadata.labels.as_ref()),
            )),
            owner_references: Some(vec![oref.clone()]),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };

    let service_accounts = [DEFAULT_EDITOR, DEFAULT_VIEWER]
        .iter()
        .map(|sa| {
            let mut m = meta(sa, &ns, &oref);
            if let Some(a) = sa_annotations.get(*sa).filter(|a| !a.is_empty()) {
                m.annotations = Some(a.clone());
            }
            ServiceAccount {
                metadata: m,
                ..ServiceAccount::default()
            }
        })
        .collect();

    let sa_binding = |sa: &str, role: &str| RoleBinding {
        metadata: meta(sa, &ns, &oref),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: sa.into(),
            namespace: Some(ns.clone()),
            api_group: None,
        }]),
    };
    let user_annotations = BTreeMap::from([
        ("user".to_owned(), owner.name.clone()),
        ("role".to_owned(), "admin".to_owned()),
    ]);
    let mut admin_meta = meta(NAMESPACE_ADMIN, &ns, &oref);
    admin_meta.annotations = Some(user_annotations.clone());
    let role_bindings = vec![
        sa_binding(DEFAULT_EDITOR, "kubeflow-edit"),
        sa_binding(DEFAULT_VIEWER, "kubeflow-view"),
        RoleBinding {
            metadata: admin_meta,
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "kubeflow-admin".into(),
            },
            subjects: Some(vec![owner.clone()]),
        },
    ];

    let authorization_policy = json!({
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "AuthorizationPolicy",
        "metadata": {
            "name": AUTHORIZATION_POLICY,
            "namespace": ns,
            "annotations": user_annotations,
            "ownerReferences": [oref],
        },
        "spec": {
            "action": "ALLOW",
            "rules": [
                {
                    "when": [{
                        "key": format!("request.headers[{}]", config.userid_header),
                        "values": [format!("{}{}", config.userid_prefix, owner.name)],
                    }],
                    "from": [{"source": {"principals": [
                        config.istio_ingress_gateway_principal,
                        config.kfp_ui_principal,
                    ]}}],
                },
                {"from": [{"source": {"namespaces": [ns]}}]},
                {"to": [{"operation": {"paths": ["/healthz", "/metrics", "/wait-for-drain"]}}]},
                {
                    "from": [{"source": {"principals": [config.notebook_controller_principal]}}],
                    "to": [{"operation": {"methods": ["GET"], "paths": ["*/api/kernels"]}}],
                },
            ],
        },
    });

    let resource_quota = profile
        .spec
        .resource_quota_spec
        .as_ref()
        .filter(|q| q.hard.as_ref().is_some_and(|h| !h.is_empty()))
        .map(|q| ResourceQuota {
            metadata: meta(RESOURCE_QUOTA, &ns, &oref),
            spec: Some(q.clone()),
            status: None,
        });

    Ok(DesiredState {
        namespace,
        service_accounts,
        role_bindings,
        authorization_policy,
        resource_quota,
    })
}

/// A JSON merge patch deleting the labels the configuration removes (empty values) that the
/// current namespace has (upstream deleted them), or `None` when there is nothing to delete.
pub fn labels_removal_patch(
    config: &BTreeMap<String, String>,
    current: Option<&Namespace>,
) -> Option<serde_json::Value> {
    let labels = current.and_then(|n| n.metadata.labels.as_ref())?;
    let remove: serde_json::Map<String, serde_json::Value> = namespace_labels_to_remove(config)
        .into_iter()
        .filter(|k| labels.contains_key(k))
        .map(|k| (k, serde_json::Value::Null))
        .collect();
    (!remove.is_empty()).then(|| json!({"metadata": {"labels": remove}}))
}
