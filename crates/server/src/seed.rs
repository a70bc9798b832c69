//! `irsa server --seed FILE`: OIDC providers, managed policies and roles (trust, inline and
//! attached policies) that exist when the service starts, as a CI job wants them, applied
//! through IAM's own actions (the same validation and messages as the API), idempotently: an
//! entity that already is as the seed says is left alone, one that differs is brought to the
//! seed's state, nothing the seed does not name is touched.
//!
//! ```yaml
//! oidc-providers:
//!   - url: https://oidc.example.com/clusters/ci
//!     client-ids: [sts.amazonaws.com]      # the default
//! policies:
//!   - name: read-artifacts
//!     document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
//! roles:
//!   - name: team-a
//!     trust-policy: '{"Version":"2012-10-17","Statement":[...]}'   # a mapping or JSON text
//!     inline-policies: {logs: {...}}
//!     managed-policies: [read-artifacts]   # a seed policy's name, or an ARN
//! ```
//!
//! JSON and YAML are read by one parser (serde-saphyr), which refuses a key given twice at any
//! depth: in a policy document that would otherwise silently drop a condition value.

use irsa_aws_query::{AwsError, ErrorCode, QueryParams};
use irsa_iam::{Iam, MAX_VERSIONS, layout, names};
use irsa_policy::Policy;
use irsa_store::Store;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a seed could not be read or applied. Every error about an entry names it
/// (`roles[1] (team-a)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// Not YAML or JSON, or not the seed's shape (unknown keys included).
    #[error("{0}")]
    Syntax(String),
    /// An entry that is wrong in itself or that IAM refused.
    #[error("{entry}: {message}")]
    Entry {
        /// `oidc-providers[0] (URL)`, `policies[1] (NAME)`, `roles[2] (NAME)`, with the
        /// inline or managed policy when it is the one at fault.
        entry: String,
        /// What is wrong: IAM's error code and message, or the seed's rule.
        message: String,
    },
}

/// The seed's document (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Seed {
    /// OIDC providers to register.
    #[serde(default)]
    pub oidc_providers: Vec<SeedProvider>,
    /// Customer managed policies to create.
    #[serde(default)]
    pub policies: Vec<SeedPolicy>,
    /// Roles to create.
    #[serde(default)]
    pub roles: Vec<SeedRole>,
}

/// An OIDC provider.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SeedProvider {
    /// The issuer URL (`https://`; `http://` with `--allow-http-issuers`).
    pub url: String,
    /// Audiences; `[sts.amazonaws.com]` when not given, as IRSA's tokens carry.
    #[serde(default = "default_client_ids")]
    pub client_ids: Vec<String>,
    /// Thumbprints (40 hex characters each); none when not given.
    #[serde(default)]
    pub thumbprints: Vec<String>,
}

fn default_client_ids() -> Vec<String> {
    vec!["sts.amazonaws.com".to_owned()]
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SeedPolicy {
    /// The policy's name.
    pub name: String,
    /// Its path (`/` when not given).
    pub path: Option<String>,
    /// Its description (IAM cannot change it later).
    pub description: Option<String>,
    /// The document: a mapping, or JSON text.
    pub document: Value,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SeedRole {
    /// The role's name.
    pub name: String,
    /// Its path (`/` when not given; IAM cannot change it later).
    pub path: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its maximum session duration in seconds (3,600 to 43,200).
    pub max_session_duration: Option<i64>,
    /// The trust policy: a mapping, or JSON text.
    pub trust_policy: Value,
    /// Inline policies by name.
    #[serde(default)]
    pub inline_policies: BTreeMap<String, Value>,
    /// Managed policies to attach: a seed policy's name, or an ARN.
    #[serde(default)]
    pub managed_policies: Vec<String>,
}

/// What applying a seed did, for the start-up line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Entities created.
    pub created: usize,
    /// Entities changed to match the seed.
    pub updated: usize,
    /// Entities that already matched.
    pub unchanged: usize,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged",
            self.created, self.updated, self.unchanged
        )
    }
}

fn entry_err(entry: &str, message: impl Into<String>) -> SeedError {
    SeedError::Entry {
        entry: entry.to_owned(),
        message: message.into(),
    }
}

/// A policy document as IAM receives it: JSON text as written, or a mapping printed as JSON.
fn document_text(entry: &str, what: &str, v: &Value) -> Result<String, SeedError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(_) => {
            serde_json::to_string(v).map_err(|e| entry_err(entry, format!("{what}: cannot print it as JSON: {e}")))
        }
        other => Err(entry_err(
            entry,
            format!(
                "{what} must be a mapping or a string of JSON, not {}",
                match other {
                    Value::Array(_) => "a list",
                    Value::Null => "empty",
                    _ => "a scalar",
                }
            ),
        )),
    }
}

/// Whether two documents say the same (the same model), so that a re-applied seed writes
/// nothing; documents that do not parse are compared as text.
fn same_document(a: &str, b: &str) -> bool {
    match (Policy::parse(a), Policy::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The store key part and ARN resource of a provider URL (`https://` dropped; `http://` too).
fn provider_host_path(url: &str) -> &str {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
}

fn params(pairs: &[(&str, &str)]) -> Result<QueryParams, AwsError> {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        body.append_pair(k, v);
    }
    QueryParams::parse(body.finish().as_bytes())
}

fn members<'a>(list: &str, items: &'a [String]) -> Vec<(String, &'a str)> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{list}.member.{}", i + 1), v.as_str()))
        .collect()
}

impl Seed {
    /// Reads a seed (YAML or JSON) and checks what can be checked without IAM: documents are
    /// mappings or text, names are unique, a managed policy named without an ARN is in the seed.
    pub fn parse(text: &str) -> Result<Seed, SeedError> {
        let seed: Seed = if text.trim().is_empty() {
            Seed::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| SeedError::Syntax(e.to_string()))?
        };
        let mut providers = std::collections::HashSet::new();
        for (i, p) in seed.oidc_providers.iter().enumerate() {
            let entry = format!("oidc-providers[{i}] ({})", p.url);
            // As IAM tells providers apart: by the URL without its scheme, case and all.
            if !providers.insert(provider_host_path(&p.url)) {
                return Err(entry_err(&entry, "this provider is in the seed twice"));
            }
        }
        let mut policies = std::collections::HashSet::new();
        for (i, p) in seed.policies.iter().enumerate() {
            let entry = format!("policies[{i}] ({})", p.name);
            document_text(&entry, "document", &p.document)?;
            // IAM's names are unique case-insensitively.
            if !policies.insert(p.name.to_ascii_lowercase()) {
                return Err(entry_err(&entry, "a policy of this name is in the seed twice"));
            }
        }
        let mut roles = std::collections::HashSet::new();
        for (i, r) in seed.roles.iter().enumerate() {
            let entry = format!("roles[{i}] ({})", r.name);
            document_text(&entry, "trust-policy", &r.trust_policy)?;
            for (name, doc) in &r.inline_policies {
                document_text(&entry, &format!("inline policy `{name}`"), doc)?;
            }
            for m in &r.managed_policies {
                if !m.starts_with("arn:") && !seed.policies.iter().any(|p| p.name == *m) {
                    return Err(entry_err(
                        &entry,
                        format!("managed policy `{m}` is not one of the seed's policies; give its ARN"),
                    ));
                }
            }
            if !roles.insert(r.name.to_ascii_lowercase()) {
                return Err(entry_err(&entry, "a role of this name is in the seed twice"));
            }
        }
        Ok(seed)
    }

    /// Brings the account to the seed's state through `iam`'s actions (providers, then
    /// policies, then roles, which may attach them). `partition` forms the ARNs; `now` is the
    /// creation time in seconds since the epoch. Replicas on one etcd may apply the same seed at
    /// once: an entity another one created first is then updated like any existing one.
    pub async fn apply<S: Store>(&self, iam: &Iam<S>, partition: &str, now: i64) -> Result<SeedReport, SeedError> {
        let mut report = SeedReport::default();
        let ctx = Ctx {
            iam,
            partition,
            account: iam.account().to_owned(),
            now,
        };
        for (i, p) in self.oidc_providers.iter().enumerate() {
            let entry = format!("oidc-providers[{i}] ({})", p.url);
            report.add(retry_once(&entry, || ctx.provider(p, &entry)).await?);
        }
        for (i, p) in self.policies.iter().enumerate() {
            let entry = format!("policies[{i}] ({})", p.name);
            report.add(retry_once(&entry, || ctx.policy(p, &entry)).await?);
        }
        for (i, r) in self.roles.iter().enumerate() {
            let entry = format!("roles[{i}] ({})", r.name);
            report.add(retry_once(&entry, || ctx.role(self, r, &entry)).await?);
        }
        Ok(report)
    }
}

/// Runs `f` again when it lost a race to create its entity (`Ok(None)`): the second run finds
/// the entity and brings it to the seed's state.
async fn retry_once<F, Fut>(entry: &str, f: F) -> Result<Outcome, SeedError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Outcome>, SeedError>>,
{
    match f().await? {
        Some(outcome) => Ok(outcome),
        None => f()
            .await?
            .ok_or_else(|| entry_err(entry, "created and deleted by someone else while the seed was applied")),
    }
}

/// What every entity's application needs.
struct Ctx<'a, S: Store> {
    iam: &'a Iam<S>,
    partition: &'a str,
    account: String,
    now: i64,
}

impl<S: Store> Ctx<'_, S> {
    fn run<'e>(&'e self, entry: &'e str) -> Runner<'e, S> {
        Runner {
            iam: self.iam,
            entry,
            now: self.now,
        }
    }

    /// One OIDC provider; `None` when another writer created it first.
    async fn provider(&self, p: &SeedProvider, entry: &str) -> Result<Option<Outcome>, SeedError> {
        let run = self.run(entry);
        let host_path = provider_host_path(&p.url);
        let arn = names::oidc_provider_arn(self.partition, &self.account, host_path);
        let existing = layout::get_oidc_provider(self.iam.store(), host_path)
            .await
            .map_err(|e| run.failed(&e))?;
        let Some(existing) = existing else {
            let mut pairs = vec![("Url", p.url.as_str())];
            let client_ids = members("ClientIDList", &p.client_ids);
            let thumbprints = members("ThumbprintList", &p.thumbprints);
            pairs.extend(client_ids.iter().chain(&thumbprints).map(|(k, v)| (k.as_str(), *v)));
            return Ok(run
                .create("CreateOpenIDConnectProvider", &pairs)
                .await?
                .then_some(Outcome::Created));
        };
        let mut changed = false;
        for c in &p.client_ids {
            if !existing.client_ids.contains(c) {
                run.call(
                    "AddClientIDToOpenIDConnectProvider",
                    &[("OpenIDConnectProviderArn", &arn), ("ClientID", c)],
                )
                .await?;
                changed = true;
            }
        }
        let mut wanted: Vec<String> = p.thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect();
        let mut have = existing.thumbprints.clone();
        wanted.sort();
        wanted.dedup();
        have.sort();
        if !p.thumbprints.is_empty() && wanted != have {
            let thumbprints = members("ThumbprintList", &p.thumbprints);
            let mut pairs = vec![("OpenIDConnectProviderArn", arn.as_str())];
            pairs.extend(thumbprints.iter().map(|(k, v)| (k.as_str(), *v)));
            run.call("UpdateOpenIDConnectProviderThumbprint", &pairs).await?;
            changed = true;
        }
        Ok(Some(Outcome::of(changed)))
    }

    /// One customer managed policy; `None` when another writer created it first.
    async fn policy(&self, p: &SeedPolicy, entry: &str) -> Result<Option<Outcome>, SeedError> {
        let run = self.run(entry);
        let document = document_text(entry, "document", &p.document)?;
        let path = p.path.as_deref().unwrap_or("/");
        let arn = names::policy_arn(self.partition, &self.account, path, &p.name);
        let existing = layout::get_policy_by_arn(self.iam.store(), &self.account, &arn)
            .await
            .map_err(|e| run.failed(&e))?;
        let Some(existing) = existing else {
            let mut pairs = vec![
                ("PolicyName", p.name.as_str()),
                ("Path", path),
                ("PolicyDocument", &document),
            ];
            if let Some(d) = &p.description {
                pairs.push(("Description", d));
            }
            return Ok(run.create("CreatePolicy", &pairs).await?.then_some(Outcome::Created));
        };
        if existing.default_document().is_some_and(|d| same_document(d, &document)) {
            return Ok(Some(Outcome::Unchanged));
        }
        // A new default version; at IAM's limit of versions the oldest other one makes room.
        if existing.versions.len() >= MAX_VERSIONS
            && let Some(oldest) = existing.versions.iter().find(|v| v.id != existing.default_version)
        {
            run.call("DeletePolicyVersion", &[("PolicyArn", &arn), ("VersionId", &oldest.id)])
                .await?;
        }
        run.call(
            "CreatePolicyVersion",
            &[
                ("PolicyArn", &arn),
                ("PolicyDocument", &document),
                ("SetAsDefault", "true"),
            ],
        )
        .await?;
        Ok(Some(Outcome::Updated))
    }

    /// One role, its inline policies and its attachments (managed policies named by the
    /// `seed`'s policies' names); `None` when another writer created it first.
    async fn role(&self, seed: &Seed, r: &SeedRole, entry: &str) -> Result<Option<Outcome>, SeedError> {
        let (iam, partition, account, now) = (self.iam, self.partition, self.account.as_str(), self.now);
        let run = self.run(entry);
        let trust = document_text(entry, "trust-policy", &r.trust_policy)?;
        let path = r.path.as_deref().unwrap_or("/");
        let max = r.max_session_duration.map(|m| m.to_string());
        let existing = layout::get_role(iam.store(), &r.name)
            .await
            .map_err(|e| run.failed(&e))?
            .map(|(role, _)| role);
        let mut changed = false;
        let role = match existing {
            None => {
                let mut pairs = vec![
                    ("RoleName", r.name.as_str()),
                    ("Path", path),
                    ("AssumeRolePolicyDocument", &trust),
                ];
                if let Some(d) = &r.description {
                    pairs.push(("Description", d));
                }
                if let Some(m) = &max {
                    pairs.push(("MaxSessionDuration", m));
                }
                if !run.create("CreateRole", &pairs).await? {
                    return Ok(None);
                }
                None
            }
            Some(role) => {
                if role.path != path {
                    return Err(entry_err(
                        entry,
                        format!(
                            "the role exists with path `{}`, and IAM cannot move a role to `{path}`; delete it or change the seed",
                            role.path
                        ),
                    ));
                }
                if !same_document(&role.assume_role_policy, &trust) {
                    run.call(
                        "UpdateAssumeRolePolicy",
                        &[("RoleName", &r.name), ("PolicyDocument", &trust)],
                    )
                    .await?;
                    changed = true;
                }
                let description = r.description.as_ref().filter(|d| role.description.as_ref() != Some(*d));
                let max = max
                    .as_ref()
                    .filter(|_| r.max_session_duration != Some(role.max_session_duration));
                if description.is_some() || max.is_some() {
                    let mut pairs = vec![("RoleName", r.name.as_str())];
                    if let Some(d) = description {
                        pairs.push(("Description", d));
                    }
                    if let Some(m) = max {
                        pairs.push(("MaxSessionDuration", m));
                    }
                    run.call("UpdateRole", &pairs).await?;
                    changed = true;
                }
                Some(role)
            }
        };
        for (name, doc) in &r.inline_policies {
            let run = Runner {
                iam,
                entry: &format!("{entry} inline policy `{name}`"),
                now,
            };
            let doc = document_text(entry, &format!("inline policy `{name}`"), doc)?;
            let current = role.as_ref().and_then(|role| role.inline_policies.get(name));
            if current.is_some_and(|c| same_document(c, &doc)) {
                continue;
            }
            run.call(
                "PutRolePolicy",
                &[("RoleName", &r.name), ("PolicyName", name), ("PolicyDocument", &doc)],
            )
            .await?;
            changed |= role.is_some();
        }
        for m in &r.managed_policies {
            let arn = match seed.policies.iter().find(|p| p.name == *m) {
                Some(p) if !m.starts_with("arn:") => {
                    names::policy_arn(partition, account, p.path.as_deref().unwrap_or("/"), &p.name)
                }
                _ => m.clone(),
            };
            if role.as_ref().is_some_and(|role| role.attached_policies.contains(&arn)) {
                continue;
            }
            let run = Runner {
                iam,
                entry: &format!("{entry} managed policy `{m}`"),
                now,
            };
            run.call("AttachRolePolicy", &[("RoleName", &r.name), ("PolicyArn", &arn)])
                .await?;
            changed |= role.is_some();
        }
        Ok(Some(match role {
            None => Outcome::Created,
            Some(_) => Outcome::of(changed),
        }))
    }
}

/// What happened to one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    fn of(changed: bool) -> Self {
        if changed { Outcome::Updated } else { Outcome::Unchanged }
    }
}

impl SeedReport {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// Runs IAM actions for one seed entry, naming it in every error.
struct Runner<'a, S: Store> {
    iam: &'a Iam<S>,
    entry: &'a str,
    now: i64,
}

impl<S: Store> Runner<'_, S> {
    fn failed(&self, e: &AwsError) -> SeedError {
        entry_err(self.entry, e.to_string())
    }

    async fn call(&self, action: &str, pairs: &[(&str, &str)]) -> Result<(), SeedError> {
        let p = params(pairs).map_err(|e| self.failed(&e))?;
        self.iam
            .handle(action, &p, self.now)
            .await
            .map_err(|e| entry_err(self.entry, format!("{action}: {e}")))?;
        Ok(())
    }

    /// A `Create*` action: `Ok(false)` when the entity exists already (another writer made it
    /// since it was looked up).
    async fn create(&self, action: &str, pairs: &[(&str, &str)]) -> Result<bool, SeedError> {
        let p = params(pairs).map_err(|e| self.failed(&e))?;
        match self.iam.handle(action, &p, self.now).await {
            Ok(_) => Ok(true),
            Err(e) if e.code == ErrorCode::EntityAlreadyExists => Ok(false),
            Err(e) => Err(entry_err(self.entry, format!("{action}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn yaml_and_json_read_alike_and_defaults_apply() {
        let yaml = "oidc-providers:\n  - url: https://oidc.example.com\nroles:\n  - name: r\n    trust-policy: {Version: \"2012-10-17\", Statement: []}\n";
        let json = r#"{"oidc-providers":[{"url":"https://oidc.example.com"}],
            "roles":[{"name":"r","trust-policy":{"Version":"2012-10-17","Statement":[]}}]}"#;
        let (a, b) = (Seed::parse(yaml).unwrap(), Seed::parse(json).unwrap());
        assert_eq!(a, b);
        assert_eq!(a.oidc_providers[0].client_ids, ["sts.amazonaws.com"]);
        assert_eq!(
            document_text("e", "trust-policy", &a.roles[0].trust_policy).unwrap(),
            r#"{"Version":"2012-10-17","Statement":[]}"#
        );
        assert_eq!(Seed::parse("").unwrap(), Seed::default());
    }

    #[test]
    fn bad_seeds_name_the_entry() {
        let cases = [
            (
                "roles:\n  - name: a\n    trust-policy: [1]\n",
                "roles[0] (a): trust-policy must be a mapping or a string of JSON, not a list",
            ),
            (
                "roles:\n  - name: a\n    trust-policy: '{}'\n    managed-policies: [nope]\n",
                "roles[0] (a): managed policy `nope` is not one of the seed's policies; give its ARN",
            ),
            (
                "policies:\n  - {name: p, document: '{}'}\n  - {name: P, document: '{}'}\n",
                "policies[1] (P): a policy of this name is in the seed twice",
            ),
            (
                "oidc-providers:\n  - url: https://x.example\n  - url: https://x.example\n",
                "oidc-providers[1] (https://x.example): this provider is in the seed twice",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Seed::parse(text).unwrap_err().to_string(), want);
        }
        for text in [
            "roles: [{name: a}]",
            "rolez: []",
            "roles:\n  - name: a\n    trust-policy: {Statement: [], Statement: []}\n",
            "[1, 2]",
        ] {
            assert!(matches!(Seed::parse(text), Err(SeedError::Syntax(_))), "{text}");
        }
    }

    #[test]
    fn documents_compare_by_meaning() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(same_document(
            doc,
            "{ \"Version\": \"2012-10-17\",\n \"Statement\": [ {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"} ] }"
        ));
        assert!(!same_document(doc, &doc.replace("s3:*", "s3:Get*")));
        assert!(same_document("not json", "not json"));
    }
}
