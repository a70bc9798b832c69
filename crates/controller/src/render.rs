//! `irsa profile render PROFILE_FILE`: every object the controller would apply for a Profile, and
//! the trust change, without a cluster or IAM.

use std::fmt::Write as _;

use crate::aws::{AwsPlan, TrustOp, plan};
use crate::config::ControllerConfig;
use crate::crd::Profile;
use crate::desired::{DesiredError, desired_state};

/// Errors rendering a Profile.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Not a Profile document.
    #[error("not a Profile: {0}")]
    Parse(String),
    /// The Profile cannot be reconciled.
    #[error(transparent)]
    Desired(#[from] DesiredError),
    /// Encoding the output failed.
    #[error("cannot encode the output: {0}")]
    Encode(String),
}

/// What `render` produces.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The objects, in apply order (JSON with apiVersion/kind).
    pub objects: Vec<serde_json::Value>,
    /// The AWS plugin's plan (annotations, grants, revokes, conditions).
    pub plan: AwsPlan,
}

fn describe(op: &TrustOp) -> String {
    let provider = op
        .provider
        .as_ref()
        .map_or_else(|| "the role's existing OIDC provider".to_owned(), |p| p.arn.clone());
    format!("{} on role {} (provider {provider})", op.subject, op.role.arn)
}

impl Rendered {
    /// Multi-document YAML of the objects.
    pub fn objects_yaml(&self) -> Result<String, RenderError> {
        let mut out = String::new();
        for o in &self.objects {
            out.push_str("---\n");
            out.push_str(&serde_saphyr::to_string(o).map_err(|e| RenderError::Encode(e.to_string()))?);
        }
        Ok(out)
    }

    /// `{"objects": [...], "revoke": [...], "grant": [...], "requiredTag": ..., "conditions": [...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let ops = |ops: &[TrustOp]| -> Vec<serde_json::Value> {
            ops.iter()
                .map(|o| {
                    serde_json::json!({
                        "roleArn": o.role.arn,
                        "providerArn": o.provider.as_ref().map(|p| p.arn.clone()),
                        "subject": o.subject,
                    })
                })
                .collect()
        };
        serde_json::json!({
            "objects": self.objects,
            "revoke": ops(&self.plan.revoke),
            "grant": ops(&self.plan.grant),
            "requiredTag": self.plan.required_tag.as_ref().map(|(k, v)| serde_json::json!({"key": k, "value": v})),
            "conditions": self.plan.conditions.iter().map(|c| serde_json::json!({
                "type": c.type_, "status": if c.status { "True" } else { "False" }, "reason": c.reason, "message": c.message,
            })).collect::<Vec<_>>(),
        })
    }

    /// The trust change and conditions, one line each (`+` grant, `-` revoke, `!` condition).
    pub fn trust_summary(&self) -> String {
        let mut out = String::new();
        for op in &self.plan.revoke {
            let _ = writeln!(out, "- revoke {}", describe(op));
        }
        for op in &self.plan.grant {
            let _ = writeln!(out, "+ trust {}", describe(op));
        }
        if let Some((k, v)) = &self.plan.required_tag {
            let _ = writeln!(
                out,
                "  (the role must carry tag {k}{})",
                v.as_ref().map(|v| format!("={v}")).unwrap_or_default()
            );
        }
        for c in &self.plan.conditions {
            let _ = writeln!(out, "! {}: {}", c.type_, c.message);
        }
        if out.is_empty() {
            out.push_str("no trust change\n");
        }
        out
    }
}

/// Renders `profile_yaml` (YAML or JSON; a missing `uid` is shown as a placeholder). A `status.aws`
/// in the file is taken as what was applied before, so role changes show their revocations.
pub fn render(profile_yaml: &str, config: &ControllerConfig) -> Result<Rendered, RenderError> {
    let mut profile: Profile = serde_saphyr::from_str(profile_yaml).map_err(|e| RenderError::Parse(e.to_string()))?;
    if profile.metadata.uid.is_none() {
        profile.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
    }
    let applied = profile.status.as_ref().and_then(|s| s.aws.clone());
    let plan = plan(&profile, &config.aws, applied.as_ref());
    let desired = desired_state(&profile, config, None, &plan.annotations)?;
    Ok(Rendered {
        objects: desired.objects(),
        plan,
    })
}
