//! The web-identity trust-policy editor.
//!
//! Upstream's profile controller rewrote a role's whole trust policy from its
//! first statement, overflowed the 2,048-character quota after about 30
//! profiles and left `aud`-only statements behind. This editor changes only
//! the one statement it manages per OIDC provider: `sub` is kept as a sorted,
//! de-duplicated list under `StringEquals`, `aud` is kept, every other
//! statement, key and operator is left as it was, a statement whose subjects
//! are all removed is removed, and the size is checked before anything is
//! returned.

use crate::model::*;
use crate::parse::Diagnostic;
use crate::validate::{Limits, PolicyKind, policy_size, size_message, validate};
use serde::Serialize;

/// The prefix of the Sid of the statement the editor manages for a provider, and the whole
/// Sid that earlier versions wrote for every provider (adopted when found for the same
/// provider; see [`provider_sid`]).
pub const DEFAULT_SID: &str = "IrsaWebIdentity";

/// The Sid of the statement the editor manages for `provider_arn`: [`DEFAULT_SID`] and eight
/// hex digits of the ARN's FNV-1a hash. One Sid for every provider made two providers on one
/// role (a cluster migration: the old cluster's and the new one's service accounts) write the
/// same Sid, which IAM refuses; a Sid derived from the provider is unique in the policy and the
/// same on every run, in every process, for that provider.
pub fn provider_sid(provider_arn: &str) -> String {
    // FNV-1a, 32 bits: stable across Rust versions and platforms, unlike std's hashers.
    let hash = provider_arn
        .bytes()
        .fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("{DEFAULT_SID}{hash:08X}")
}

/// The audience STS expects in projected service-account tokens.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

const WEB_IDENTITY_ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// Why a trust policy could not be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustEditError {
    /// The current trust policy is not a valid policy; editing it could lose meaning.
    #[error("the current trust policy is invalid, refusing to edit it: {}", first(.0))]
    InvalidPolicy(Vec<Diagnostic>),
    /// The provider ARN is not an IAM OIDC provider ARN.
    #[error("`{0}` is not an IAM OIDC provider ARN (arn:PARTITION:iam::ACCOUNT:oidc-provider/ISSUER)")]
    InvalidProvider(String),
    /// The subject cannot be trusted as written.
    #[error("invalid subject `{subject}`: {reason}")]
    InvalidSubject {
        /// The subject as given.
        subject: String,
        /// Why.
        reason: String,
    },
    /// Another statement already uses the Sid of the statement the editor manages.
    #[error(
        "the trust policy already has a statement with Sid `{sid}` that is not this provider's web-identity statement; rename or remove it (Sids must be unique in a policy)"
    )]
    SidTaken {
        /// The Sid.
        sid: String,
    },
    /// The edited policy would exceed the trust-policy size limit.
    #[error(
        "adding `{subject}` would make the trust policy {size} characters, {over} over the {limit}-character limit; use a role per profile (or per team), or ask AWS to raise the ACLSizePerRole quota and pass the new limit"
    )]
    TooLarge {
        /// The subject being added.
        subject: String,
        /// The size the policy would have.
        size: usize,
        /// The limit.
        limit: usize,
        /// By how much.
        over: usize,
    },
}

fn first(d: &[Diagnostic]) -> String {
    match d {
        [] => "no details".to_owned(),
        [one] => one.to_string(),
        [one, rest @ ..] => format!("{one} (and {} more)", rest.len()),
    }
}

/// An IAM OIDC identity provider as trust policies name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OidcProvider {
    /// `arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/X`.
    pub arn: String,
    /// The issuer without its scheme, the prefix of the condition keys:
    /// `oidc.example.com/id/X`.
    pub issuer: String,
}

impl OidcProvider {
    /// From a provider ARN.
    pub fn from_arn(arn: &str) -> Result<Self, TrustEditError> {
        let bad = || TrustEditError::InvalidProvider(arn.to_owned());
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[1].is_empty() || parts[2] != "iam" {
            return Err(bad());
        }
        if parts[4].len() != 12 || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let issuer = parts[5].strip_prefix("oidc-provider/").ok_or_else(bad)?;
        if issuer.is_empty() || issuer.contains("://") || issuer.contains('*') {
            return Err(bad());
        }
        Ok(OidcProvider {
            arn: arn.to_owned(),
            issuer: issuer.to_owned(),
        })
    }

    /// From an issuer URL, as IAM names the provider it registers for it (an
    /// `http://` issuer, accepted by irsa's server in development mode, is
    /// named the same way).
    pub fn from_issuer(partition: &str, account: &str, issuer_url: &str) -> Result<Self, TrustEditError> {
        let host_path = issuer_url
            .strip_prefix("https://")
            .or_else(|| issuer_url.strip_prefix("http://"))
            .unwrap_or(issuer_url);
        Self::from_arn(&format!("arn:{partition}:iam::{account}:oidc-provider/{host_path}"))
    }

    fn sub_key(&self) -> String {
        format!("{}:sub", self.issuer)
    }

    fn aud_key(&self) -> String {
        format!("{}:aud", self.issuer)
    }
}

/// `system:serviceaccount:NS:SA`, with both names checked as Kubernetes does
/// (a namespace is a DNS-1123 label, a service account a DNS-1123 subdomain).
pub fn service_account_subject(namespace: &str, service_account: &str) -> Result<String, TrustEditError> {
    let subject = format!("system:serviceaccount:{namespace}:{service_account}");
    let err = |reason: String| TrustEditError::InvalidSubject {
        subject: subject.clone(),
        reason,
    };
    let label_ok = |s: &str, max: usize, dots: bool| {
        !s.is_empty()
            && s.len() <= max
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
            && (dots || !s.contains('.'))
    };
    if !label_ok(namespace, 63, false) {
        return Err(err(format!(
            "namespace `{namespace}` is not a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)"
        )));
    }
    if !label_ok(service_account, 253, true) {
        return Err(err(format!(
            "service account `{service_account}` is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"
        )));
    }
    Ok(subject)
}

/// What an edit produced.
#[derive(Debug, Clone)]
pub struct TrustEdit {
    /// The edited policy.
    pub policy: Policy,
    /// Its canonical compact JSON, ready for `UpdateAssumeRolePolicy`.
    pub document: String,
    /// Whether anything changed (`false`: no call to IAM is needed).
    pub changed: bool,
    /// The size IAM will count.
    pub size: usize,
}

impl TrustEdit {
    fn new(policy: Policy, changed: bool) -> Self {
        let document = policy.to_json();
        let size = policy_size(&document);
        TrustEdit {
            policy,
            document,
            changed,
            size,
        }
    }
}

/// What a trust policy grants one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderTrust {
    /// The provider ARN.
    pub provider: String,
    /// `aud` values required (empty: any audience).
    pub audiences: Vec<String>,
    /// Subjects trusted exactly (`StringEquals`).
    pub subjects: Vec<String>,
    /// Subject patterns (`StringLike`).
    pub subject_patterns: Vec<String>,
}

/// Edits web-identity trust for one provider.
#[derive(Debug, Clone)]
pub struct TrustEditor {
    provider: OidcProvider,
    audience: Option<String>,
    sid: String,
    limit: usize,
}

fn is_web_identity_statement(s: &Statement, provider_arn: &str) -> bool {
    let Some(p) = &s.principal else { return false };
    let PrincipalSpec::Map(m) = &p.principal else {
        return false;
    };
    s.effect == Effect::Allow
        && !p.negated
        && !s.action.negated
        && m.iter()
            .any(|(t, v)| *t == PrincipalType::Federated && v.items.iter().any(|x| x == provider_arn))
        && s.action
            .values
            .items
            .iter()
            .any(|a| a.eq_ignore_ascii_case(WEB_IDENTITY_ACTION))
}

fn is_plain(op: &Operator, base: BaseOperator) -> bool {
    op.base == base && op.qualifier.is_none() && !op.if_exists
}

impl TrustEditor {
    /// An editor for `provider` with its [`provider_sid`], the default audience and the
    /// 2,048 limit.
    pub fn new(provider: OidcProvider) -> Self {
        TrustEditor {
            sid: provider_sid(&provider.arn),
            provider,
            audience: Some(DEFAULT_AUDIENCE.to_owned()),
            limit: Limits::default().trust,
        }
    }

    /// The `aud` value new statements require (`None`: add no `aud` condition).
    pub fn audience(mut self, audience: Option<String>) -> Self {
        self.audience = audience;
        self
    }

    /// The Sid of the managed statement (IAM allows only A-Z, a-z, 0-9).
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = sid.into();
        self
    }

    /// The trust-policy size limit (`ACLSizePerRole`).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The provider being edited.
    pub fn provider(&self) -> &OidcProvider {
        &self.provider
    }

    fn read(&self, current: &str) -> Result<Policy, TrustEditError> {
        let unlimited = Limits {
            trust: usize::MAX,
            ..Limits::default()
        };
        let report = validate(current, PolicyKind::Trust, &unlimited);
        match report.policy {
            Some(p) if report.valid => Ok(p),
            _ => Err(TrustEditError::InvalidPolicy(report.errors)),
        }
    }

    fn check_subject(subject: &str) -> Result<(), TrustEditError> {
        let err = |reason: &str| TrustEditError::InvalidSubject {
            subject: subject.to_owned(),
            reason: reason.to_owned(),
        };
        if subject.is_empty() {
            return Err(err("it is empty"));
        }
        if subject.contains(['*', '?']) || subject.contains("${") {
            return Err(err(
                "wildcards and policy variables are not allowed in a trusted subject",
            ));
        }
        if subject.chars().any(|c| c.is_control() || c as u32 > 0xff) {
            return Err(err("it has characters IAM does not accept"));
        }
        Ok(())
    }

    /// Whether `sid` names a statement this editor wrote for its provider: its own Sid, or
    /// the one Sid earlier versions wrote for every provider.
    fn is_own_sid(&self, sid: Option<&str>) -> bool {
        sid.is_some_and(|sid| sid == self.sid || sid == DEFAULT_SID)
    }

    /// The statement the editor manages: ours by Sid (today's, then the one earlier versions
    /// wrote), else the first plain `StringEquals` web-identity statement for the provider.
    /// Only statements for this provider qualify: another provider's is never touched.
    fn managed_index(&self, p: &Policy) -> Option<usize> {
        let arn = &self.provider.arn;
        for sid in [self.sid.as_str(), DEFAULT_SID] {
            if let Some(i) = p
                .statements
                .iter()
                .position(|s| s.sid.as_deref() == Some(sid) && is_web_identity_statement(s, arn))
            {
                return Some(i);
            }
        }
        let (sub, aud) = (
            self.provider.sub_key().to_ascii_lowercase(),
            self.provider.aud_key().to_ascii_lowercase(),
        );
        p.statements.iter().position(|s| {
            let Some(blocks) = &s.condition else {
                return false;
            };
            is_web_identity_statement(s, arn)
                && blocks.len() == 1
                && is_plain(&blocks[0].operator, BaseOperator::StringEquals)
                && blocks[0].entries.iter().any(|e| e.key.eq_ignore_ascii_case(&sub))
                && blocks[0].entries.iter().all(|e| {
                    let k = e.key.to_ascii_lowercase();
                    k == sub || k == aud
                })
        })
    }

    /// What stands in for the managed statement when removing the last subject
    /// would leave the policy without statements (IAM rejects an empty
    /// `Statement`): a Deny of web identity from this provider, so the role
    /// trusts no subject of it.
    fn placeholder(&self) -> Statement {
        Statement {
            sid: Some(self.sid.clone()),
            effect: Effect::Deny,
            condition: None,
            ..self.new_statement()
        }
    }

    fn is_placeholder(&self, s: &Statement) -> bool {
        let p = self.placeholder();
        self.is_own_sid(s.sid.as_deref())
            && s.effect == p.effect
            && s.principal == p.principal
            && s.action == p.action
            && s.condition.is_none()
    }

    fn new_statement(&self) -> Statement {
        let mut entries = Vec::new();
        if let Some(aud) = &self.audience {
            entries.push(ConditionEntry {
                key: self.provider.aud_key(),
                values: vec![Scalar::String(aud.clone())],
                is_list: false,
            });
        }
        Statement {
            sid: Some(self.sid.clone()),
            effect: Effect::Allow,
            principal: Some(PrincipalElement {
                negated: false,
                principal: PrincipalSpec::Map(vec![(PrincipalType::Federated, Values::one(self.provider.arn.clone()))]),
            }),
            action: Targets {
                negated: false,
                values: Values::one(WEB_IDENTITY_ACTION),
            },
            resource: None,
            condition: Some(vec![ConditionBlock {
                operator: Operator {
                    qualifier: None,
                    base: BaseOperator::StringEquals,
                    if_exists: false,
                },
                entries,
            }]),
        }
    }

    /// A trust policy for a new role that trusts no subject of the provider yet
    /// (IAM refuses an empty `Statement`): what [`TrustEditor::remove_subject`]
    /// leaves when the last subject goes, and what the next add replaces.
    pub fn trusting_nobody(&self) -> TrustEdit {
        TrustEdit::new(
            Policy {
                version: Some(Version::V2012_10_17),
                id: None,
                statements: vec![self.placeholder()],
                statement_is_list: true,
            },
            true,
        )
    }

    /// Trusts `subject` (`system:serviceaccount:NS:SA`). `current` is the role's
    /// trust policy as IAM returns it (URL-decoded), or `None` for a new role.
    pub fn add_subject(&self, current: Option<&str>, subject: &str) -> Result<TrustEdit, TrustEditError> {
        Self::check_subject(subject)?;
        let mut policy = match current {
            Some(text) => self.read(text)?,
            None => Policy {
                version: Some(Version::V2012_10_17),
                id: None,
                statements: Vec::new(),
                statement_is_list: true,
            },
        };
        let before = policy_size(&policy.to_json());
        policy.statements.retain(|s| !self.is_placeholder(s));
        let sub_key = self.provider.sub_key();
        let idx = match self.managed_index(&policy) {
            Some(i) => i,
            None => {
                policy.statements.push(self.new_statement());
                policy.statement_is_list = true;
                policy.statements.len() - 1
            }
        };
        // The managed statement carries this provider's Sid: an adopted statement without one,
        // or with the Sid earlier versions gave every provider, is renamed, unless another
        // statement already uses the Sid (IAM refuses duplicates).
        let sid_free = |p: &Policy| {
            p.statements
                .iter()
                .enumerate()
                .all(|(i, s)| i == idx || s.sid.as_deref() != Some(self.sid.as_str()))
        };
        let sid = policy.statements[idx].sid.as_deref();
        if sid.is_none() || self.is_own_sid(sid) {
            if !sid_free(&policy) {
                return Err(TrustEditError::SidTaken { sid: self.sid.clone() });
            }
            policy.statements[idx].sid = Some(self.sid.clone());
        }
        let st = &mut policy.statements[idx];
        let blocks = st.condition.get_or_insert_with(Vec::new);
        let block_idx = match blocks
            .iter()
            .position(|b| is_plain(&b.operator, BaseOperator::StringEquals))
        {
            Some(i) => i,
            None => {
                blocks.push(ConditionBlock {
                    operator: Operator {
                        qualifier: None,
                        base: BaseOperator::StringEquals,
                        if_exists: false,
                    },
                    entries: Vec::new(),
                });
                blocks.len() - 1
            }
        };
        let block = &mut blocks[block_idx];
        let entry_idx = match block.entries.iter().position(|e| e.key.eq_ignore_ascii_case(&sub_key)) {
            Some(i) => i,
            None => {
                block.entries.push(ConditionEntry {
                    key: sub_key,
                    values: Vec::new(),
                    is_list: true,
                });
                block.entries.len() - 1
            }
        };
        let entry = &mut block.entries[entry_idx];
        if entry.values.iter().any(|v| v.as_text() == subject) {
            // Already trusted: leave the document exactly as it was.
            return match current {
                Some(text) => Ok(TrustEdit::new(self.read(text)?, false)),
                None => Ok(TrustEdit::new(policy, true)),
            };
        }
        let mut subjects: Vec<String> = entry.values.iter().map(|v| v.as_text().to_owned()).collect();
        subjects.push(subject.to_owned());
        subjects.sort();
        subjects.dedup();
        entry.values = subjects.into_iter().map(Scalar::String).collect();
        entry.is_list = true;
        let edit = TrustEdit::new(policy, true);
        if edit.size > self.limit && edit.size > before {
            return Err(TrustEditError::TooLarge {
                subject: subject.to_owned(),
                size: edit.size,
                limit: self.limit,
                over: edit.size - self.limit,
            });
        }
        Ok(edit)
    }

    /// Stops trusting `subject` anywhere in the provider's web-identity
    /// statements; a statement left without subjects is removed.
    pub fn remove_subject(&self, current: &str, subject: &str) -> Result<TrustEdit, TrustEditError> {
        let mut policy = self.read(current)?;
        let sub_key = self.provider.sub_key();
        let mut changed = false;
        let arn = self.provider.arn.clone();
        policy.statements.retain_mut(|s| {
            if !is_web_identity_statement(s, &arn) {
                return true;
            }
            let Some(blocks) = &mut s.condition else {
                return true;
            };
            let mut removed_here = false;
            for b in blocks.iter_mut() {
                if !(is_plain(&b.operator, BaseOperator::StringEquals)
                    || is_plain(&b.operator, BaseOperator::StringLike))
                {
                    continue;
                }
                for e in b.entries.iter_mut().filter(|e| e.key.eq_ignore_ascii_case(&sub_key)) {
                    let n = e.values.len();
                    e.values.retain(|v| v.as_text() != subject);
                    removed_here |= e.values.len() != n;
                }
                b.entries.retain(|e| !e.values.is_empty());
            }
            if !removed_here {
                return true;
            }
            changed = true;
            blocks.retain(|b| !b.entries.is_empty());
            // Never leave a statement that trusts every subject of the issuer.
            blocks
                .iter()
                .any(|b| b.entries.iter().any(|e| e.key.eq_ignore_ascii_case(&sub_key)))
        });
        if !changed {
            return Ok(TrustEdit::new(self.read(current)?, false));
        }
        if policy.statements.is_empty() {
            policy.statements.push(self.placeholder());
        }
        policy.statement_is_list = true;
        Ok(TrustEdit::new(policy, true))
    }

    /// What the policy grants this editor's provider.
    pub fn show(&self, current: &str) -> Result<ProviderTrust, TrustEditError> {
        let policy = self.read(current)?;
        Ok(provider_trust(&policy, &self.provider))
    }
}

fn provider_trust(policy: &Policy, provider: &OidcProvider) -> ProviderTrust {
    let mut t = ProviderTrust {
        provider: provider.arn.clone(),
        audiences: vec![],
        subjects: vec![],
        subject_patterns: vec![],
    };
    let (sub, aud) = (provider.sub_key(), provider.aud_key());
    for s in policy
        .statements
        .iter()
        .filter(|s| is_web_identity_statement(s, &provider.arn))
    {
        for b in s.condition.iter().flatten() {
            for e in &b.entries {
                let vals = e.values.iter().map(|v| v.as_text().to_owned());
                if e.key.eq_ignore_ascii_case(&sub) {
                    if is_plain(&b.operator, BaseOperator::StringEquals) {
                        t.subjects.extend(vals);
                    } else if is_plain(&b.operator, BaseOperator::StringLike) {
                        t.subject_patterns.extend(vals);
                    }
                } else if e.key.eq_ignore_ascii_case(&aud) && b.operator.base == BaseOperator::StringEquals {
                    t.audiences.extend(vals);
                }
            }
        }
    }
    for v in [&mut t.audiences, &mut t.subjects, &mut t.subject_patterns] {
        v.sort();
        v.dedup();
    }
    t
}

/// Every OIDC provider a trust policy names, with what it grants each.
pub fn web_identity_trust(policy: &Policy) -> Vec<ProviderTrust> {
    let mut arns: Vec<String> = policy
        .statements
        .iter()
        .filter_map(|s| s.principal.as_ref())
        .filter_map(|p| match &p.principal {
            PrincipalSpec::Map(m) => Some(m),
            PrincipalSpec::Any => None,
        })
        .flatten()
        .filter(|(t, _)| *t == PrincipalType::Federated)
        .flat_map(|(_, v)| v.items.iter().cloned())
        .filter(|a| a.contains(":oidc-provider/"))
        .collect();
    arns.sort();
    arns.dedup();
    arns.iter()
        .filter_map(|a| OidcProvider::from_arn(a).ok())
        .map(|p| provider_trust(policy, &p))
        .collect()
}

/// The size message for a trust policy, shared with callers that check sizes themselves.
pub fn trust_size_message(size: usize, limit: usize) -> String {
    size_message(PolicyKind::Trust, size, limit)
}
