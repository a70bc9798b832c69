//! The kube-rs shell: one reconcile of a Profile (server-side apply of the desired objects, the
//! AWS plugin's trust edits, status through the status subresource) and its cleanup behind the
//! `profile-finalizer` finalizer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::aws::{self, condition};
use crate::config::ControllerConfig;
use crate::crd::{AwsMode, FINALIZER, Profile, ProfileCondition, ProfileStatus};
use crate::desired::{DesiredError, DesiredState, RESOURCE_QUOTA, desired_state};
use crate::plugin;
use crate::trust::{RoleTrust, TrustEditLoop, TrustLoopError};

/// The server-side-apply field manager.
pub const FIELD_MANAGER: &str = "irsa-profile-controller";

/// Errors of one reconcile (retried with backoff by [`error_policy`]).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The API server failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A trust edit failed in a way worth retrying.
    #[error(transparent)]
    Trust(#[from] TrustLoopError),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Encoding failed.
    #[error("encoding: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Reconciles run.
    pub reconciles: AtomicU64,
    /// Reconciles that failed.
    pub reconcile_errors: AtomicU64,
    /// Trust-policy writes.
    pub trust_writes: AtomicU64,
    /// Trust edits refused because the policy is full.
    pub trust_full: AtomicU64,
    /// Cleanups run.
    pub cleanups: AtomicU64,
}

impl Metrics {
    /// Prometheus text exposition.
    pub fn render(&self, iam_calls: Option<u64>) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total {v}\n"
            ));
        };
        counter(
            "profile_reconciles",
            "Profile reconciles run.",
            self.reconciles.load(Ordering::Relaxed),
        );
        counter(
            "profile_reconcile_errors",
            "Profile reconciles that failed.",
            self.reconcile_errors.load(Ordering::Relaxed),
        );
        counter(
            "profile_cleanups",
            "Profile deletions cleaned up.",
            self.cleanups.load(Ordering::Relaxed),
        );
        counter(
            "trust_policy_writes",
            "Trust-policy writes.",
            self.trust_writes.load(Ordering::Relaxed),
        );
        counter(
            "trust_policy_full",
            "Trust edits refused because the policy is full.",
            self.trust_full.load(Ordering::Relaxed),
        );
        if let Some(calls) = iam_calls {
            counter("iam_calls", "IAM API calls.", calls);
        }
        out
    }
}

/// What a reconcile needs.
pub struct Context<T> {
    /// The Kubernetes client.
    pub client: Client,
    /// The configuration.
    pub config: ControllerConfig,
    /// The trust edit loop (one per process).
    pub edits: Arc<TrustEditLoop<T>>,
    /// Publishes Events (none in tests).
    pub recorder: Option<crate::events::Publisher>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Requeue period when all is well (no IAM call when the status matches).
    pub resync: Duration,
    /// Requeue period after a full trust policy (not retried hot).
    pub full_retry: Duration,
}

impl<T> std::fmt::Debug for Context<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The Istio AuthorizationPolicy resource.
pub fn authorization_policy_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("security.istio.io", "v1beta1", "AuthorizationPolicy"),
        "authorizationpolicies",
    )
}

fn now() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}

/// Builds the new condition list, keeping `lastTransitionTime` where the status did not change.
#[derive(Debug)]
pub struct Conditions<'a> {
    previous: &'a [ProfileCondition],
    now: String,
    /// The conditions set so far.
    pub list: Vec<ProfileCondition>,
}

impl<'a> Conditions<'a> {
    /// Starts from the previous conditions.
    pub fn new(previous: &'a [ProfileCondition], now: String) -> Self {
        Conditions {
            previous,
            now,
            list: Vec::new(),
        }
    }

    /// Sets (or replaces) a condition.
    pub fn set(&mut self, type_: &str, status: bool, reason: &str, message: impl Into<String>) {
        let status = if status { "True" } else { "False" }.to_owned();
        let time = self
            .previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| self.now.clone());
        self.list.retain(|c| c.type_ != type_);
        self.list.push(ProfileCondition {
            type_: type_.to_owned(),
            status,
            reason: Some(reason.to_owned()),
            message: Some(message.into()),
            last_transition_time: Some(time),
        });
    }

    /// Whether a condition is set to `True`.
    pub fn is_true(&self, type_: &str) -> bool {
        self.list.iter().any(|c| c.type_ == type_ && c.status == "True")
    }
}

async fn publish<T>(ctx: &Context<T>, profile: &Profile, warning: bool, reason: &str, note: String) {
    let Some(recorder) = &ctx.recorder else { return };
    let note = crate::events::Note {
        warning,
        reason: reason.to_owned(),
        action: "Reconcile".into(),
        note,
    };
    if let Err(error) = recorder.publish(&profile.object_ref(&()), note).await {
        tracing::warn!(profile = %profile.name_any(), %error, "cannot publish event");
    }
}

async fn write_status<T>(ctx: &Context<T>, profile: &Profile, status: ProfileStatus) -> Result<(), ReconcileError> {
    let previous = profile.status.clone().unwrap_or_default();
    if previous == status {
        return Ok(());
    }
    let api: Api<Profile> = Api::all(ctx.client.clone());
    let patch = json!({"apiVersion": "kubeflow.org/v1", "kind": "Profile", "status": status});
    api.patch_status(
        &profile.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// A kind the cluster does not serve (its CRD is not installed): the rest of the Profile is
/// applied all the same, and this is reported in a condition and an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotServed {
    /// `AuthorizationPolicy`.
    pub kind: String,
    /// `security.istio.io/v1beta1`.
    pub api_version: String,
    /// What to do about it.
    pub hint: String,
}

impl std::fmt::Display for NotServed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} is not served by this cluster; {}",
            self.kind, self.api_version, self.hint
        )
    }
}

/// Whether an API error says the resource type itself is missing (the API server's plain
/// `404 page not found`), rather than an object (a JSON `Status` with reason `NotFound`).
pub fn is_not_served(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404 && s.reason != "NotFound")
}

/// Server-side applies every desired object; deletes `kf-resource-quota` when none is wanted.
/// The Istio AuthorizationPolicy goes last, and a cluster without Istio's CRDs gets everything
/// else: what it does not serve is returned, not an error.
pub async fn apply_objects(client: &Client, desired: &DesiredState) -> Result<Vec<NotServed>, kube::Error> {
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let ns = desired.namespace.name_any();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    ns_api.patch(&ns, &pp, &Patch::Apply(&desired.namespace)).await?;
    let sa_api: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    for sa in &desired.service_accounts {
        sa_api.patch(&sa.name_any(), &pp, &Patch::Apply(sa)).await?;
    }
    let rb_api: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    for rb in &desired.role_bindings {
        match rb_api.patch(&rb.name_any(), &pp, &Patch::Apply(rb)).await {
            Ok(_) => {}
            // `roleRef` is immutable: a binding of the same name to another role is replaced.
            Err(kube::Error::Api(s)) if s.code == 422 => {
                tracing::info!(namespace = %ns, name = %rb.name_any(), "replacing a RoleBinding whose roleRef differs");
                match rb_api.delete(&rb.name_any(), &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e),
                }
                rb_api.patch(&rb.name_any(), &pp, &Patch::Apply(rb)).await?;
            }
            Err(e) => return Err(e),
        }
    }
    let q_api: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    match &desired.resource_quota {
        Some(q) => {
            q_api.patch(RESOURCE_QUOTA, &pp, &Patch::Apply(q)).await?;
        }
        None => match q_api.delete(RESOURCE_QUOTA, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        },
    }
    let mut not_served = Vec::new();
    let resource = authorization_policy_resource();
    let ap: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    match ap
        .patch(
            crate::desired::AUTHORIZATION_POLICY,
            &pp,
            &Patch::Apply(&desired.authorization_policy),
        )
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_served(&e) => not_served.push(NotServed {
            kind: resource.kind.clone(),
            api_version: resource.api_version.clone(),
            hint: "install Istio's CRDs".into(),
        }),
        Err(e) => return Err(e),
    }
    Ok(not_served)
}

/// Reconciles a Profile that is not being deleted.
pub async fn apply<T: RoleTrust>(profile: &Profile, ctx: &Context<T>) -> Result<Action, ReconcileError> {
    let name = profile.name_any();
    let previous = profile.status.clone().unwrap_or_default();
    let mut conds = Conditions::new(&previous.conditions, now());
    let mut status = ProfileStatus {
        conditions: Vec::new(),
        observed_generation: profile.metadata.generation,
        aws: previous.aws.clone(),
    };
    let ns_api: Api<Namespace> = Api::all(ctx.client.clone());
    let current_ns = ns_api.get_opt(&name).await?;
    let mut plan = aws::plan(profile, &ctx.config.aws, previous.aws.as_ref());
    for c in &plan.conditions {
        conds.set(c.type_, c.status, c.reason, c.message.clone());
    }
    // The required tag is checked before the annotation is applied (annotate-only too).
    let tag_refusal =
        plugin::check_required_tag(&ctx.edits, &ctx.config.aws, &name, previous.aws.as_ref(), &mut plan).await?;
    if let Some(msg) = tag_refusal {
        conds.set(condition::ROLE_NOT_ALLOWED, true, "RequiredTagMissing", msg.clone());
        publish(ctx, profile, true, "RoleNotAllowed", msg).await;
    }
    let desired = match desired_state(profile, &ctx.config, current_ns.as_ref(), &plan.annotations) {
        Ok(d) => d,
        Err(e) => {
            let reason = match e {
                DesiredError::NamespaceOwnedByOther { .. } => "NamespaceOwnedByOther",
                DesiredError::NoOwner => "NoOwner",
                DesiredError::MissingMeta(_) => "Invalid",
            };
            conds.set(condition::READY, false, reason, e.to_string());
            publish(ctx, profile, true, reason, e.to_string()).await;
            status.conditions = conds.list;
            write_status(ctx, profile, status).await?;
            return Ok(Action::requeue(ctx.resync));
        }
    };

    // Revoke first (old role, removed plugin); until that succeeds nothing new is granted.
    let mut writes = 0;
    let revoked = plugin::revoke(&ctx.edits, &plan, &mut status.aws, &mut writes).await;
    ctx.metrics.trust_writes.fetch_add(writes, Ordering::Relaxed);
    if let Err(e) = revoked {
        conds.set(condition::AWS_IAM_TRUSTED, false, "RevokeFailed", e.to_string());
        conds.set(condition::READY, false, "RevokeFailed", e.to_string());
        status.conditions = conds.list;
        write_status(ctx, profile, status).await?;
        return Err(e.into());
    }

    let not_served = apply_objects(&ctx.client, &desired).await?;
    for missing in &not_served {
        tracing::warn!(profile = %name, "{missing}");
        publish(ctx, profile, true, "APINotServed", missing.to_string()).await;
    }
    if let Some(patch) = crate::desired::labels_removal_patch(&ctx.config.namespace_labels, current_ns.as_ref()) {
        ns_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    let old_role = previous.aws.as_ref().map(|a| a.applied_role_arn.as_str());
    let new_role = plan.applied.as_ref().map(|a| a.applied_role_arn.as_str());
    if old_role.is_some() && old_role != new_role {
        let note = format!(
            "role changed from {} to {}; running pods of namespace {name} keep their old credentials until restarted",
            old_role.unwrap_or("none"),
            new_role.unwrap_or("none")
        );
        publish(ctx, profile, false, "RoleChanged", note).await;
    }

    let mut action = Action::requeue(ctx.resync);
    let mut retry_error = None;
    let granted = plugin::grant(&ctx.edits, &plan).await;
    ctx.metrics.trust_writes.fetch_add(granted.writes, Ordering::Relaxed);
    status.aws = granted.applied;
    match plan.applied.as_ref() {
        None => {}
        Some(target) if target.mode == AwsMode::AnnotateOnly => {
            conds.set(
                condition::AWS_IAM_TRUSTED,
                false,
                "AnnotateOnly",
                format!(
                    "{} annotated; its trust policy is managed elsewhere",
                    target.applied_role_arn
                ),
            );
        }
        Some(target) => match granted.failure {
            None => {
                let msg = format!("{} trusts {}", target.applied_role_arn, target.subjects.join(", "));
                if !plan.grant.is_empty() {
                    publish(ctx, profile, false, "Trusted", msg.clone()).await;
                }
                conds.set(condition::AWS_IAM_TRUSTED, true, "Trusted", msg);
            }
            Some(e) => {
                let msg = e.to_string();
                match &e {
                    TrustLoopError::PolicyFull { .. } => {
                        ctx.metrics.trust_full.fetch_add(1, Ordering::Relaxed);
                        conds.set(condition::TRUST_POLICY_FULL, true, "TrustPolicyFull", msg.clone());
                        publish(ctx, profile, true, "TrustPolicyFull", msg.clone()).await;
                        action = Action::requeue(ctx.full_retry);
                    }
                    TrustLoopError::TagMissing { .. } => {
                        conds.set(condition::ROLE_NOT_ALLOWED, true, "RequiredTagMissing", msg.clone());
                        publish(ctx, profile, true, "RoleNotAllowed", msg.clone()).await;
                    }
                    TrustLoopError::NoSuchRole(_)
                    | TrustLoopError::IssuerUnknown { .. }
                    | TrustLoopError::Edit { .. } => {
                        publish(ctx, profile, true, "TrustEditFailed", msg.clone()).await;
                    }
                    TrustLoopError::Contended { .. } | TrustLoopError::Iam(_) => retry_error = Some(e.clone()),
                }
                conds.set(condition::AWS_IAM_TRUSTED, false, "TrustEditFailed", msg);
            }
        },
    }
    let problems = [
        condition::TRUST_POLICY_FULL,
        condition::ROLE_NOT_ALLOWED,
        condition::PLUGIN_INVALID,
    ]
    .iter()
    .any(|t| conds.is_true(t))
        || retry_error.is_some()
        || conds
            .list
            .iter()
            .any(|c| c.type_ == condition::AWS_IAM_TRUSTED && c.reason.as_deref() == Some("TrustEditFailed"));
    if !not_served.is_empty() {
        let message = not_served
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        conds.set(condition::READY, false, "APINotServed", message);
    } else if problems {
        conds.set(condition::READY, false, "PluginFailed", "see the other conditions");
    } else {
        conds.set(
            condition::READY,
            true,
            "Reconciled",
            "namespace, service accounts, bindings and plugins applied",
        );
    }
    status.conditions = conds.list;
    write_status(ctx, profile, status).await?;
    match retry_error {
        Some(e) => Err(e.into()),
        None => Ok(action),
    }
}

/// Revokes everything the Profile was granted (a missing namespace or service account needs
/// nothing: they go with the namespace; a missing role counts as revoked).
pub async fn cleanup<T: RoleTrust>(profile: &Profile, ctx: &Context<T>) -> Result<Action, ReconcileError> {
    ctx.metrics.cleanups.fetch_add(1, Ordering::Relaxed);
    let previous = profile.status.clone().unwrap_or_default();
    let ops = aws::deletion_plan(profile, &ctx.config.aws, previous.aws.as_ref());
    let mut writes = 0;
    let revoked = plugin::revoke_all(&ctx.edits, &ops, &mut writes).await;
    ctx.metrics.trust_writes.fetch_add(writes, Ordering::Relaxed);
    if let Err(e) = revoked {
        publish(ctx, profile, true, "RevokeFailed", e.to_string()).await;
        return Err(e.into());
    }
    Ok(Action::await_change())
}

/// One reconcile: the finalizer helper, then [`apply`] or [`cleanup`].
pub async fn reconcile<T: RoleTrust + 'static>(
    profile: Arc<Profile>,
    ctx: Arc<Context<T>>,
) -> Result<Action, ReconcileError> {
    ctx.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
    let api: Api<Profile> = Api::all(ctx.client.clone());
    let result = finalizer(&api, FINALIZER, profile, |event| async {
        match event {
            FinalizerEvent::Apply(p) => apply(&p, &ctx).await,
            FinalizerEvent::Cleanup(p) => cleanup(&p, &ctx).await,
        }
    })
    .await;
    result.map_err(|e| {
        ctx.metrics.reconcile_errors.fetch_add(1, Ordering::Relaxed);
        match e {
            kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
            other => ReconcileError::Finalizer(other.to_string()),
        }
    })
}

/// Retries failed reconciles after a while (the controller's own queue adds no hot loop).
pub fn error_policy<T>(profile: Arc<Profile>, error: &ReconcileError, _ctx: Arc<Context<T>>) -> Action {
    tracing::warn!(profile = %profile.name_any(), %error, "reconcile failed");
    Action::requeue(Duration::from_secs(15))
}
