//! The `AwsIamForServiceAccount` plugin as pure functions: parse the plugin spec, validate the role
//! ARN, check the operator's allow-list, and plan annotations and trust changes against what the
//! status records as applied (so a changed `awsIamRole` or a removed plugin revokes old trust).

use std::collections::BTreeMap;

use irsa_policy::trust::{OidcProvider, service_account_subject};

use crate::config::AwsConfig;
use crate::crd::{AwsMode, AwsStatus, Plugin, Profile};
use crate::desired::{DEFAULT_EDITOR, DEFAULT_VIEWER, ROLE_ARN_ANNOTATION};

/// The plugin kind.
pub const KIND_AWS: &str = "AwsIamForServiceAccount";
/// GCP's plugin kind (recognised, not implemented here: reported as unsupported, never dropped).
pub const KIND_GCP: &str = "WorkloadIdentity";

/// The plugin's spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsPluginSpec {
    /// `awsIamRole`: the full role ARN.
    pub aws_iam_role: String,
    /// `annotateOnly` (also `AnnotateOnly`, the spelling of kubeflow#6887).
    pub annotate_only: bool,
}

/// Why the plugin cannot be applied (each maps to a status condition).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The spec is not an object or a field has the wrong type.
    #[error("invalid AwsIamForServiceAccount spec: {0}")]
    InvalidSpec(String),
    /// `awsIamRole` is empty.
    #[error("awsIamRole is empty")]
    EmptyRole,
    /// `awsIamRole` is not an IAM role ARN.
    #[error("awsIamRole `{0}` is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME)")]
    InvalidArn(String),
    /// The role is not in the operator's allow-list.
    #[error("role `{arn}` is not allowed: {reason}")]
    NotAllowed {
        /// The role.
        arn: String,
        /// Why.
        reason: String,
    },
}

/// Parses a plugin's spec. Unknown fields are ignored (as upstream); `annotateOnly` accepts
/// booleans and the strings `"true"`/`"false"`.
pub fn parse_spec(spec: Option<&serde_json::Value>) -> Result<AwsPluginSpec, PluginError> {
    let empty = serde_json::Map::new();
    let obj = match spec {
        None | Some(serde_json::Value::Null) => &empty,
        Some(serde_json::Value::Object(m)) => m,
        Some(other) => return Err(PluginError::InvalidSpec(format!("spec must be an object, got {other}"))),
    };
    let role = match obj.get("awsIamRole").or_else(|| obj.get("AwsIamRole")) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.trim().to_owned(),
        Some(other) => {
            return Err(PluginError::InvalidSpec(format!(
                "awsIamRole must be a string, got {other}"
            )));
        }
    };
    let annotate_only = match obj.get("annotateOnly").or_else(|| obj.get("AnnotateOnly")) {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(other) => {
            return Err(PluginError::InvalidSpec(format!(
                "annotateOnly must be a boolean, got {other}"
            )));
        }
    };
    if role.is_empty() {
        return Err(PluginError::EmptyRole);
    }
    Ok(AwsPluginSpec {
        aws_iam_role: role,
        annotate_only,
    })
}

/// An IAM role ARN, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    /// The ARN as given.
    pub arn: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The 12-digit account.
    pub account: String,
    /// The role name (after the last `/`), what the IAM API takes.
    pub name: String,
}

impl RoleArn {
    /// Parses `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
    pub fn parse(arn: &str) -> Result<Self, PluginError> {
        let bad = || PluginError::InvalidArn(arn.to_owned());
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [a, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(bad());
        };
        if *a != "arn" || *service != "iam" || !region.is_empty() {
            return Err(bad());
        }
        if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return Err(bad());
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let path_name = resource.strip_prefix("role/").ok_or_else(bad)?;
        let name = path_name.rsplit('/').next().unwrap_or_default();
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(name_ok) {
            return Err(bad());
        }
        Ok(RoleArn {
            arn: arn.to_owned(),
            partition: (*partition).to_owned(),
            account: (*account).to_owned(),
            name: name.to_owned(),
        })
    }

    /// The OIDC provider for `issuer_url` in this role's partition and account.
    pub fn provider(&self, issuer_url: &str) -> Result<OidcProvider, irsa_policy::trust::TrustEditError> {
        OidcProvider::from_issuer(&self.partition, &self.account, issuer_url)
    }
}

/// Glob match with `*` (any run) and `?` (one character), case-sensitive like ARNs.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The checks that need no IAM call: account (cross-account refused unless allowed) and the
/// ARN patterns. The required tag is checked by the IAM side ([`required_tag`]).
pub fn check_allowed(role: &RoleArn, config: &AwsConfig) -> Result<(), PluginError> {
    if let Some(own) = &config.account_id
        && *own != role.account
        && !config.allow_cross_account
    {
        return Err(PluginError::NotAllowed {
            arn: role.arn.clone(),
            reason: format!(
                "the role is in account {}, not the controller's account {own} (cross-account roles are refused unless --allow-cross-account)",
                role.account
            ),
        });
    }
    if !config.allowed_role_patterns.is_empty()
        && !config.allowed_role_patterns.iter().any(|p| glob_match(p, &role.arn))
    {
        return Err(PluginError::NotAllowed {
            arn: role.arn.clone(),
            reason: format!(
                "it matches none of the allowed role patterns ({})",
                config.allowed_role_patterns.join(", ")
            ),
        });
    }
    Ok(())
}

/// The tag (key, value) a role must carry for `profile`, if configured (`{profile}` substituted).
pub fn required_tag(config: &AwsConfig, profile: &str) -> Option<(String, Option<String>)> {
    config
        .required_role_tag
        .as_ref()
        .map(|(k, v)| (k.clone(), v.as_ref().map(|v| v.replace("{profile}", profile))))
}

/// Whether `tags` satisfy the required tag.
pub fn tag_satisfied(required: &(String, Option<String>), tags: &[(String, String)]) -> bool {
    tags.iter()
        .any(|(k, v)| *k == required.0 && required.1.as_ref().is_none_or(|want| want == v))
}

/// One trust change on one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustOp {
    /// The role.
    pub role: RoleArn,
    /// The provider (`None`: the one the role's policy already trusts).
    pub provider: Option<OidcProvider>,
    /// `system:serviceaccount:NS:SA`.
    pub subject: String,
}

/// A condition the plan wants reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCondition {
    /// Type.
    pub type_: &'static str,
    /// `True`/`False`.
    pub status: bool,
    /// Reason.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

/// What the AWS plugin wants for one Profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsPlan {
    /// Annotations per service account (`eks.amazonaws.com/role-arn`); absent: none.
    pub annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// Trust to revoke first (old role, removed plugin, switch to annotate-only).
    pub revoke: Vec<TrustOp>,
    /// Trust to add (empty when the status already records it: no IAM call on resync).
    pub grant: Vec<TrustOp>,
    /// The required tag to check before granting.
    pub required_tag: Option<(String, Option<String>)>,
    /// What the status should record once the plan is carried out (`None`: nothing applied).
    pub applied: Option<AwsStatus>,
    /// Conditions (plugin errors, refusals, unknown plugins).
    pub conditions: Vec<PlanCondition>,
}

/// Condition types.
pub mod condition {
    /// Everything reconciled.
    pub const READY: &str = "Ready";
    /// The role trusts the Profile's service accounts.
    pub const AWS_IAM_TRUSTED: &str = "AwsIamTrusted";
    /// The role's trust policy is full.
    pub const TRUST_POLICY_FULL: &str = "TrustPolicyFull";
    /// The role is outside the allow-list.
    pub const ROLE_NOT_ALLOWED: &str = "RoleNotAllowed";
    /// A plugin kind is unknown.
    pub const PLUGIN_UNKNOWN: &str = "PluginUnknown";
    /// A plugin's spec is invalid.
    pub const PLUGIN_INVALID: &str = "PluginInvalid";
}

fn subjects_for(ns: &str, config: &AwsConfig) -> Vec<String> {
    let mut sas = vec![DEFAULT_EDITOR];
    if config.annotate_viewer {
        sas.push(DEFAULT_VIEWER);
    }
    sas.into_iter()
        .filter_map(|sa| service_account_subject(ns, sa).ok())
        .collect()
}

fn revoke_applied(applied: &AwsStatus) -> Vec<TrustOp> {
    if applied.mode != AwsMode::Trust {
        return Vec::new();
    }
    let Ok(role) = RoleArn::parse(&applied.applied_role_arn) else {
        return Vec::new();
    };
    let provider = applied
        .provider_arn
        .as_deref()
        .and_then(|p| OidcProvider::from_arn(p).ok());
    applied
        .subjects
        .iter()
        .map(|s| TrustOp {
            role: role.clone(),
            provider: provider.clone(),
            subject: s.clone(),
        })
        .collect()
}

/// Plugin kinds the controller does not implement, for the `PluginUnknown` condition.
pub fn unknown_plugins(plugins: &[Plugin]) -> Vec<String> {
    plugins
        .iter()
        .map(|p| p.kind.clone().unwrap_or_default())
        .filter(|k| k != KIND_AWS)
        .collect()
}

/// Plans the AWS plugin for `profile` against `applied` (the status record).
pub fn plan(profile: &Profile, config: &AwsConfig, applied: Option<&AwsStatus>) -> AwsPlan {
    let ns = profile.metadata.name.clone().unwrap_or_default();
    let mut out = AwsPlan::default();
    let unknown = unknown_plugins(&profile.spec.plugins);
    if !unknown.is_empty() {
        out.conditions.push(PlanCondition {
            type_: condition::PLUGIN_UNKNOWN,
            status: true,
            reason: "UnsupportedPluginKind",
            message: format!(
                "plugin kinds not handled by this controller (left as they are): {}",
                unknown
                    .iter()
                    .map(|k| if k.is_empty() {
                        "(no kind)".to_owned()
                    } else {
                        format!("`{k}`")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let aws: Vec<&Plugin> = profile
        .spec
        .plugins
        .iter()
        .filter(|p| p.kind.as_deref() == Some(KIND_AWS))
        .collect();
    if aws.len() > 1 {
        out.conditions.push(PlanCondition {
            type_: condition::PLUGIN_INVALID,
            status: true,
            reason: "DuplicatePlugin",
            message: format!("{} AwsIamForServiceAccount plugins; only the first is used", aws.len()),
        });
    }
    let wanted = aws.first().map(|p| {
        parse_spec(p.spec.as_ref()).and_then(|spec| {
            let role = RoleArn::parse(&spec.aws_iam_role)?;
            check_allowed(&role, config)?;
            Ok((spec, role))
        })
    });
    let revoke_all = |out: &mut AwsPlan| {
        if let Some(a) = applied {
            out.revoke = revoke_applied(a);
        }
    };
    match wanted {
        None => revoke_all(&mut out),
        Some(Err(e)) => {
            let (type_, reason) = match &e {
                PluginError::NotAllowed { .. } => (condition::ROLE_NOT_ALLOWED, "RoleNotAllowed"),
                _ => (condition::PLUGIN_INVALID, "InvalidSpec"),
            };
            out.conditions.push(PlanCondition {
                type_,
                status: true,
                reason,
                message: e.to_string(),
            });
            revoke_all(&mut out);
        }
        Some(Ok((spec, role))) => {
            let mut sas = vec![DEFAULT_EDITOR];
            if config.annotate_viewer {
                sas.push(DEFAULT_VIEWER);
            }
            for sa in sas {
                out.annotations.insert(
                    sa.to_owned(),
                    BTreeMap::from([(ROLE_ARN_ANNOTATION.to_owned(), role.arn.clone())]),
                );
            }
            let provider = config.oidc_issuer.as_deref().and_then(|i| role.provider(i).ok());
            if spec.annotate_only {
                // Switching the same role to annotate-only hands its trust over to whoever manages
                // it now (Terraform): what was added is left in place and forgotten. Another role's
                // trust is revoked as on any role change.
                if applied.is_some_and(|a| a.applied_role_arn != role.arn) {
                    revoke_all(&mut out);
                }
                out.applied = Some(AwsStatus {
                    applied_role_arn: role.arn.clone(),
                    provider_arn: None,
                    subjects: Vec::new(),
                    mode: AwsMode::AnnotateOnly,
                });
            } else {
                let subjects = subjects_for(&ns, config);
                let same_role = applied.is_some_and(|a| {
                    a.mode == AwsMode::Trust
                        && a.applied_role_arn == role.arn
                        && (provider.is_none()
                            || a.provider_arn.as_deref() == provider.as_ref().map(|p| p.arn.as_str()))
                });
                if let Some(a) = applied {
                    out.revoke = revoke_applied(a)
                        .into_iter()
                        .filter(|op| !(same_role && subjects.contains(&op.subject)))
                        .collect();
                }
                let already: &[String] = match applied {
                    Some(a) if same_role => &a.subjects,
                    _ => &[],
                };
                // With no configured issuer the provider recorded for this role is reused.
                let provider = provider.or_else(|| {
                    applied
                        .filter(|_| same_role)
                        .and_then(|a| a.provider_arn.as_deref())
                        .and_then(|p| OidcProvider::from_arn(p).ok())
                });
                out.grant = subjects
                    .iter()
                    .filter(|s| !already.contains(s))
                    .map(|s| TrustOp {
                        role: role.clone(),
                        provider: provider.clone(),
                        subject: s.clone(),
                    })
                    .collect();
                out.required_tag = required_tag(config, &ns);
                out.applied = Some(AwsStatus {
                    applied_role_arn: role.arn.clone(),
                    provider_arn: provider.map(|p| p.arn),
                    subjects,
                    mode: AwsMode::Trust,
                });
            }
        }
    }
    out
}

/// What to revoke when the Profile is deleted: everything recorded, plus what the spec asks for
/// (a status write may have been lost after a grant). Removing an absent subject is a no-op.
pub fn deletion_plan(profile: &Profile, config: &AwsConfig, applied: Option<&AwsStatus>) -> Vec<TrustOp> {
    let mut ops = applied.map(revoke_applied).unwrap_or_default();
    let p = plan(profile, config, None);
    if p.applied.as_ref().is_some_and(|a| a.mode == AwsMode::Trust) {
        for op in p.grant {
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
    }
    ops
}
