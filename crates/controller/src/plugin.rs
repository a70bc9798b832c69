//! The AWS plugin's IAM effects for one Profile, without Kubernetes: the required-tag check,
//! revoking what the status records as applied, and granting the planned subjects, all through
//! the serialised [`TrustEditLoop`]. The controller's reconcile and `irsa up` both run these, so
//! a Profile gets the same trust whichever applies it.

use crate::aws::{self, AwsPlan, TrustOp};
use crate::config::AwsConfig;
use crate::crd::{AwsMode, AwsStatus};
use crate::trust::{Change, EditOutcome, EditRequest, RoleTrust, TrustEditLoop, TrustLoopError};

async fn edit<T: RoleTrust>(
    edits: &TrustEditLoop<T>,
    op: &TrustOp,
    change: Change,
    required_tag: Option<&(String, Option<String>)>,
) -> Result<EditOutcome, TrustLoopError> {
    edits
        .edit(EditRequest {
            role_name: &op.role.name,
            provider: op.provider.as_ref(),
            subject: &op.subject,
            change,
            required_tag,
        })
        .await
}

/// Checks the operator's required role tag for `profile` before anything is annotated or
/// granted. Once per role change: a role the status already records as applied is not read
/// again on resync (an IAM call per Profile per resync is what upstream's cost was). When the tag
/// is missing, the plan is emptied (no annotation, no grant) and the message returned.
pub async fn check_required_tag<T: RoleTrust>(
    edits: &TrustEditLoop<T>,
    config: &AwsConfig,
    profile: &str,
    previous: Option<&AwsStatus>,
    plan: &mut AwsPlan,
) -> Result<Option<String>, TrustLoopError> {
    let (Some(tag), Some(target)) = (aws::required_tag(config, profile), plan.applied.as_ref()) else {
        return Ok(None);
    };
    if previous.is_some_and(|a| a.applied_role_arn == target.applied_role_arn) {
        return Ok(None);
    }
    let Ok(role) = aws::RoleArn::parse(&target.applied_role_arn) else {
        return Ok(None);
    };
    let allowed = match edits.iam().get_role(&role.name).await? {
        Some(info) => aws::tag_satisfied(&tag, &info.tags),
        // Reported by the trust edit (annotate-only: the role is managed elsewhere).
        None => true,
    };
    if allowed {
        return Ok(None);
    }
    plan.annotations.clear();
    plan.grant.clear();
    plan.applied = None;
    Ok(Some(format!(
        "role `{}` is not allowed: it does not carry the required tag `{}{}`",
        role.arn,
        tag.0,
        tag.1.as_ref().map(|v| format!("={v}")).unwrap_or_default()
    )))
}

/// Revokes the plan's `revoke` ops in order, removing each revoked subject from `applied` (which
/// becomes `None` once a trust-mode record has no subjects left). Stops at the first failure:
/// until old trust is gone, nothing new is granted. Counts trust-policy writes in `writes`.
pub async fn revoke<T: RoleTrust>(
    edits: &TrustEditLoop<T>,
    plan: &AwsPlan,
    applied: &mut Option<AwsStatus>,
    writes: &mut u64,
) -> Result<(), TrustLoopError> {
    for op in &plan.revoke {
        *writes += u64::from(edit(edits, op, Change::Remove, None).await?.written);
        if let Some(a) = applied.as_mut() {
            a.subjects.retain(|s| *s != op.subject);
        }
    }
    if applied
        .as_ref()
        .is_some_and(|a| a.mode == AwsMode::Trust && a.subjects.is_empty())
    {
        *applied = None;
    }
    Ok(())
}

/// What [`grant`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted {
    /// What is now applied: the plan's target minus the subjects that could not be granted.
    pub applied: Option<AwsStatus>,
    /// The first failure; the subjects from it on were not granted.
    pub failure: Option<TrustLoopError>,
    /// Trust-policy writes made.
    pub writes: u64,
}

/// Grants the plan's subjects (trust mode) with the required tag re-checked by the edit loop, and
/// records what was applied (annotate-only targets are recorded as they are).
pub async fn grant<T: RoleTrust>(edits: &TrustEditLoop<T>, plan: &AwsPlan) -> Granted {
    let Some(target) = plan.applied.clone() else {
        return Granted {
            applied: None,
            failure: None,
            writes: 0,
        };
    };
    if target.mode == AwsMode::AnnotateOnly {
        return Granted {
            applied: Some(target),
            failure: None,
            writes: 0,
        };
    }
    let mut provider = target.provider_arn.clone();
    let mut ungranted: Vec<String> = Vec::new();
    let mut failure = None;
    let mut writes = 0;
    for (i, op) in plan.grant.iter().enumerate() {
        match edit(edits, op, Change::Add, plan.required_tag.as_ref()).await {
            Ok(out) => {
                writes += u64::from(out.written);
                if let Some(p) = out.provider {
                    provider = Some(p.arn);
                }
            }
            Err(e) => {
                ungranted.extend(plan.grant[i..].iter().map(|o| o.subject.clone()));
                failure = Some(e);
                break;
            }
        }
    }
    let subjects: Vec<String> = target
        .subjects
        .iter()
        .filter(|s| !ungranted.contains(s))
        .cloned()
        .collect();
    Granted {
        applied: (!subjects.is_empty()).then_some(AwsStatus {
            provider_arn: provider,
            subjects,
            ..target
        }),
        failure,
        writes,
    }
}

/// Revokes everything `applied` records for a Profile that is going away (or whose plugin is);
/// a missing role counts as revoked. Counts trust-policy writes in `writes`.
pub async fn revoke_all<T: RoleTrust>(
    edits: &TrustEditLoop<T>,
    ops: &[TrustOp],
    writes: &mut u64,
) -> Result<(), TrustLoopError> {
    for op in ops {
        *writes += u64::from(edit(edits, op, Change::Remove, None).await?.written);
    }
    Ok(())
}
