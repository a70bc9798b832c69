//! The IAM side of trust edits: a [`RoleTrust`] trait (read and write a role's trust policy) and
//! the edit loop over it, [`TrustEditLoop`].
//!
//! IAM has no etag, so a write can silently replace someone else's. The loop serialises edits of
//! one role in this process (a per-role async mutex), and after writing waits a settle delay and
//! re-reads: if the subject is not (or, for a removal, still) there, another writer won and the
//! edit is redone, a bounded number of times. Any writer that read before our write has written by
//! the time the settle delay is over (the delay is at least twice our own read-to-write window, and
//! another writer's is about as long), and any writer that read after it kept our change, so no
//! update is lost. The guarantee is only as good as that timing assumption: the settle delay
//! (default 1 s) is the knob.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use irsa_policy::trust::{OidcProvider, TrustEditError, TrustEditor, web_identity_trust};

/// A role as the loop needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// The trust policy, URL-decoded.
    pub trust_policy: String,
    /// The role's tags.
    pub tags: Vec<(String, String)>,
}

/// Errors of the IAM API, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    /// `NoSuchEntity`.
    #[error("role `{0}` does not exist")]
    NoSuchEntity(String),
    /// `LimitExceeded` (IAM's own size check, e.g. ACLSizePerRole).
    #[error("IAM limit exceeded: {0}")]
    LimitExceeded(String),
    /// `MalformedPolicyDocument`.
    #[error("IAM rejected the policy: {0}")]
    Malformed(String),
    /// Throttling after retries.
    #[error("IAM throttled the request: {0}")]
    Throttled(String),
    /// Access denied.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// Anything else (network, service error).
    #[error("IAM error: {0}")]
    Other(String),
}

/// Reads and writes a role's trust policy. Implemented with aws-sdk-iam by
/// [`crate::iam::SdkRoleTrust`], and by fakes in tests.
pub trait RoleTrust: Send + Sync {
    /// `GetRole`: the trust policy (decoded) and tags, or `None` when the role does not exist.
    fn get_role(&self, role_name: &str) -> impl Future<Output = Result<Option<RoleInfo>, IamError>> + Send;
    /// `UpdateAssumeRolePolicy`.
    fn put_trust(&self, role_name: &str, document: &str) -> impl Future<Output = Result<(), IamError>> + Send;
}

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Trust the subject.
    Add,
    /// Stop trusting the subject.
    Remove,
}

/// Why an edit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustLoopError {
    /// The policy would exceed the limit: not retried hot (a `TrustPolicyFull` condition + Event).
    #[error("trust policy of role `{role}` is full: {source}")]
    PolicyFull {
        /// The role name.
        role: String,
        /// The editor's size error.
        source: TrustEditError,
    },
    /// The editor refused (invalid current policy, invalid subject or provider).
    #[error("cannot edit the trust policy of role `{role}`: {source}")]
    Edit {
        /// The role name.
        role: String,
        /// Why.
        source: TrustEditError,
    },
    /// Adding to a role that does not exist.
    #[error("role `{0}` does not exist")]
    NoSuchRole(String),
    /// The role lacks the required tag.
    #[error("role `{role}` is not allowed: it does not carry the required tag `{tag}`")]
    TagMissing {
        /// The role name.
        role: String,
        /// `key` or `key=value`.
        tag: String,
    },
    /// No issuer configured and the role's policy names no single OIDC provider.
    #[error(
        "role `{role}`: no --oidc-issuer configured and its trust policy names {found} OIDC providers (need exactly one)"
    )]
    IssuerUnknown {
        /// The role name.
        role: String,
        /// How many it names.
        found: usize,
    },
    /// Others kept writing in between: gave up after the bounded retries.
    #[error("role `{role}`: the edit was overwritten by another writer {attempts} times; giving up for now")]
    Contended {
        /// The role name.
        role: String,
        /// Attempts made.
        attempts: u32,
    },
    /// IAM failed.
    #[error(transparent)]
    Iam(#[from] IamError),
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditOutcome {
    /// Whether a write happened.
    pub written: bool,
    /// Attempts (1 without contention).
    pub attempts: u32,
    /// The provider the subject was edited for.
    pub provider: Option<OidcProvider>,
}

/// One edit request.
#[derive(Debug, Clone)]
pub struct EditRequest<'a> {
    /// The role name (as the IAM API takes it).
    pub role_name: &'a str,
    /// The provider; `None`: the single OIDC provider the role already trusts.
    pub provider: Option<&'a OidcProvider>,
    /// The subject.
    pub subject: &'a str,
    /// Add or remove.
    pub change: Change,
    /// A tag the role must carry before anything is added.
    pub required_tag: Option<&'a (String, Option<String>)>,
}

/// The edit loop. Cheap to share (`Arc` it); one per process, so the per-role mutexes serialise.
#[derive(Debug)]
pub struct TrustEditLoop<T> {
    iam: T,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Attempts before [`TrustLoopError::Contended`].
    pub max_attempts: u32,
    /// Wait between writing and the verifying re-read.
    pub settle: Duration,
    /// Trust-policy size limit.
    pub limit: usize,
    /// Audience of new statements.
    pub audience: Option<String>,
}

impl<T: RoleTrust> TrustEditLoop<T> {
    /// A loop over `iam` with 8 attempts, a 1 s settle delay and the 2,048 limit.
    pub fn new(iam: T) -> Self {
        TrustEditLoop {
            iam,
            locks: Mutex::new(HashMap::new()),
            max_attempts: 8,
            settle: Duration::from_secs(1),
            limit: 2048,
            audience: Some(irsa_policy::trust::DEFAULT_AUDIENCE.to_owned()),
        }
    }

    /// The IAM client.
    pub fn iam(&self) -> &T {
        &self.iam
    }

    fn lock_for(&self, role: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = match self.locks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(role.to_owned()).or_default().clone()
    }

    fn editor(&self, provider: OidcProvider) -> TrustEditor {
        TrustEditor::new(provider)
            .audience(self.audience.clone())
            .limit(self.limit)
    }

    fn resolve_provider(
        role: &str,
        given: Option<&OidcProvider>,
        policy: &str,
    ) -> Result<OidcProvider, TrustLoopError> {
        if let Some(p) = given {
            return Ok(p.clone());
        }
        let parsed = irsa_policy::validate(
            policy,
            irsa_policy::PolicyKind::Trust,
            &irsa_policy::Limits {
                trust: usize::MAX,
                ..irsa_policy::Limits::default()
            },
        );
        let found = parsed.policy.as_ref().map(web_identity_trust).unwrap_or_default();
        match found.as_slice() {
            [one] => OidcProvider::from_arn(&one.provider).map_err(|source| TrustLoopError::Edit {
                role: role.to_owned(),
                source,
            }),
            _ => Err(TrustLoopError::IssuerUnknown {
                role: role.to_owned(),
                found: found.len(),
            }),
        }
    }

    fn present(editor: &TrustEditor, policy: &str, subject: &str) -> bool {
        editor
            .show(policy)
            .map(|t| t.subjects.iter().any(|s| s == subject))
            .unwrap_or(false)
    }

    /// Adds or removes one subject, serialised per role, verified by a re-read, retried when
    /// another writer overwrote the edit.
    pub async fn edit(&self, req: EditRequest<'_>) -> Result<EditOutcome, TrustLoopError> {
        let lock = self.lock_for(req.role_name);
        let _guard = lock.lock().await;
        let role = req.role_name;
        let mut attempts = 0;
        while attempts < self.max_attempts {
            attempts += 1;
            let read_at = std::time::Instant::now();
            let Some(info) = self.iam.get_role(role).await? else {
                return match req.change {
                    Change::Remove => Ok(EditOutcome {
                        written: false,
                        attempts,
                        provider: req.provider.cloned(),
                    }),
                    Change::Add => Err(TrustLoopError::NoSuchRole(role.to_owned())),
                };
            };
            if req.change == Change::Add
                && let Some(tag) = req.required_tag
                && !crate::aws::tag_satisfied(tag, &info.tags)
            {
                return Err(TrustLoopError::TagMissing {
                    role: role.to_owned(),
                    tag: match &tag.1 {
                        Some(v) => format!("{}={v}", tag.0),
                        None => tag.0.clone(),
                    },
                });
            }
            let provider = match Self::resolve_provider(role, req.provider, &info.trust_policy) {
                Ok(p) => p,
                // Nothing to remove from a policy that trusts no provider of ours.
                Err(TrustLoopError::IssuerUnknown { found: 0, .. }) if req.change == Change::Remove => {
                    return Ok(EditOutcome {
                        written: false,
                        attempts,
                        provider: None,
                    });
                }
                Err(e) => return Err(e),
            };
            let editor = self.editor(provider.clone());
            let edit = match req.change {
                Change::Add => editor.add_subject(Some(&info.trust_policy), req.subject),
                Change::Remove => editor.remove_subject(&info.trust_policy, req.subject),
            };
            let edit = edit.map_err(|source| match source {
                TrustEditError::TooLarge { .. } => TrustLoopError::PolicyFull {
                    role: role.to_owned(),
                    source,
                },
                source => TrustLoopError::Edit {
                    role: role.to_owned(),
                    source,
                },
            })?;
            if !edit.changed {
                return Ok(EditOutcome {
                    written: false,
                    attempts,
                    provider: Some(provider),
                });
            }
            match self.iam.put_trust(role, &edit.document).await {
                Ok(()) => {}
                Err(IamError::NoSuchEntity(_)) if req.change == Change::Remove => {
                    return Ok(EditOutcome {
                        written: false,
                        attempts,
                        provider: Some(provider),
                    });
                }
                Err(IamError::NoSuchEntity(_)) => return Err(TrustLoopError::NoSuchRole(role.to_owned())),
                Err(IamError::LimitExceeded(m)) => {
                    return Err(TrustLoopError::PolicyFull {
                        role: role.to_owned(),
                        source: TrustEditError::TooLarge {
                            subject: format!("{} (IAM: {m})", req.subject),
                            size: edit.size,
                            limit: self.limit,
                            over: edit.size.saturating_sub(self.limit),
                        },
                    });
                }
                Err(e) => return Err(e.into()),
            }
            if !self.settle.is_zero() {
                // Another writer's read-to-write window is about as long as ours under the same
                // load: wait for at least twice ours, so whoever read before our write has written.
                tokio::time::sleep(self.settle.max(read_at.elapsed() * 2)).await;
            }
            let after = self.iam.get_role(role).await?;
            let verified = match (&after, req.change) {
                (None, Change::Remove) => true,
                (None, Change::Add) => return Err(TrustLoopError::NoSuchRole(role.to_owned())),
                (Some(info), Change::Add) => Self::present(&editor, &info.trust_policy, req.subject),
                (Some(info), Change::Remove) => !Self::present(&editor, &info.trust_policy, req.subject),
            };
            if verified {
                return Ok(EditOutcome {
                    written: true,
                    attempts,
                    provider: Some(provider),
                });
            }
            tracing::info!(
                role,
                subject = req.subject,
                attempts,
                "trust edit overwritten by another writer; redoing"
            );
            // Spread competing writers apart.
            let jitter = u64::from(attempts) * 7 + (req.subject.len() as u64 % 13);
            tokio::time::sleep(self.settle / 2 + Duration::from_millis(jitter)).await;
        }
        Err(TrustLoopError::Contended {
            role: role.to_owned(),
            attempts,
        })
    }

    /// What the role trusts (for `irsa trust show`): every OIDC provider with its subjects.
    pub async fn show(
        &self,
        role_name: &str,
    ) -> Result<Option<(String, Vec<irsa_policy::trust::ProviderTrust>)>, TrustLoopError> {
        let Some(info) = self.iam.get_role(role_name).await? else {
            return Ok(None);
        };
        let report = irsa_policy::validate(
            &info.trust_policy,
            irsa_policy::PolicyKind::Trust,
            &irsa_policy::Limits {
                trust: usize::MAX,
                ..irsa_policy::Limits::default()
            },
        );
        let trust = report.policy.as_ref().map(web_identity_trust).unwrap_or_default();
        Ok(Some((info.trust_policy, trust)))
    }
}
