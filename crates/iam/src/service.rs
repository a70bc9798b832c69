//! The IAM service: every IAM action irsa implements, over a [`Store`].
//!
//! Each action validates its parameters as IAM does (Coral-style
//! `ValidationError` messages from [`Validator`]), reads what it needs, and
//! writes with one store transaction that compares the revisions it read;
//! on a conflict it reads again, a bounded number of times, then answers
//! `ConcurrentModification`. Entities and their index entries are written in
//! the same transaction, and so are attachment counts.
//!
//! Actions: OIDC providers (`Create`/`Get`/`List`/`Delete`OpenIDConnectProvider,
//! `Add`/`RemoveClientID…`, `UpdateOpenIDConnectProviderThumbprint`,
//! `Tag`/`Untag`/`ListOpenIDConnectProvider(Tags)`); roles (`CreateRole`,
//! `GetRole`, `DeleteRole`, `ListRoles`, `UpdateRole`, `UpdateRoleDescription`,
//! `UpdateAssumeRolePolicy`, `Tag`/`Untag`/`ListRoleTags`,
//! `Put`/`DeleteRolePermissionsBoundary`, `ListInstanceProfilesForRole` (always
//! empty)); inline role policies (`Put`/`Get`/`Delete`/`ListRolePolicies`);
//! managed policies (`Create`/`Get`/`Delete`/`ListPolicies`, versions,
//! `Attach`/`Detach`/`ListAttachedRolePolicies`, `ListEntitiesForPolicy`,
//! `Tag`/`Untag`/`ListPolicyTags`); simulation (`SimulateCustomPolicy`,
//! `SimulatePrincipalPolicy`, `GetContextKeysFor{Custom,Principal}Policy`).
//! Users, groups and instance profiles do not exist.

use crate::ids::Random;
use crate::layout;
use crate::names::{Arn, merge_tags, valid_path};
use irsa_aws_query::{AwsError, ErrorCode, Pattern, QueryParams, Validator, XmlWriter};
use irsa_policy::{Limits, PolicyKind, policy_size, validate};
use irsa_store::{Compare, Store, Txn, TxnOutcome};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Mutex;

/// How often a read-modify-write is retried after a conflicting write.
pub(crate) const ATTEMPTS: usize = 8;

/// `[\w+=,.@-]+`: role and policy names.
pub(crate) const ENTITY_NAME: Pattern = Pattern {
    text: r"[\w+=,.@-]+",
    check: |s| s.chars().all(crate::names::is_name_char),
};

/// `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`: paths.
pub(crate) const PATH: Pattern = Pattern {
    text: r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
    check: valid_path,
};

/// `\u002F[\u0021-\u007F]*`: path prefixes.
pub(crate) const PATH_PREFIX: Pattern = Pattern {
    text: r"\u002F[\u0021-\u007F]*",
    check: |s| s.starts_with('/') && s.chars().all(|c| ('\u{21}'..='\u{7f}').contains(&c)),
};

/// Role and policy descriptions.
pub(crate) const DESCRIPTION: Pattern = Pattern {
    text: r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*",
    check: |s| {
        s.chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}'))
    },
};

/// `Marker`.
pub(crate) const MARKER: Pattern = Pattern {
    text: r"[\u0020-\u00FF]+",
    check: |s| s.chars().all(|c| ('\u{20}'..='\u{ff}').contains(&c)),
};

/// Every IAM action [`Iam::handle`] answers (others are `InvalidAction`).
pub const ACTIONS: &[&str] = &[
    "CreateOpenIDConnectProvider",
    "GetOpenIDConnectProvider",
    "ListOpenIDConnectProviders",
    "DeleteOpenIDConnectProvider",
    "AddClientIDToOpenIDConnectProvider",
    "RemoveClientIDFromOpenIDConnectProvider",
    "UpdateOpenIDConnectProviderThumbprint",
    "TagOpenIDConnectProvider",
    "UntagOpenIDConnectProvider",
    "ListOpenIDConnectProviderTags",
    "CreateRole",
    "GetRole",
    "DeleteRole",
    "ListRoles",
    "UpdateRole",
    "UpdateRoleDescription",
    "UpdateAssumeRolePolicy",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "ListRolePolicies",
    "CreatePolicy",
    "GetPolicy",
    "DeletePolicy",
    "ListPolicies",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "ListEntitiesForPolicy",
    "ListInstanceProfilesForRole",
    "TagPolicy",
    "UntagPolicy",
    "ListPolicyTags",
    "SimulateCustomPolicy",
    "SimulatePrincipalPolicy",
    "GetContextKeysForCustomPolicy",
    "GetContextKeysForPrincipalPolicy",
];

/// A random source behind a lock, so that the service is `Sync`.
type SharedRandom = Mutex<Box<dyn Random + Send + Sync>>;

/// IAM's actions over a store, for one account.
pub struct Iam<S: Store> {
    pub(crate) store: S,
    pub(crate) account: String,
    pub(crate) partition: String,
    pub(crate) limits: Limits,
    rng: SharedRandom,
    /// Development mode: OIDC providers may be `http://` and have ports.
    pub(crate) local_issuers: bool,
}

/// aws-lc-rs's system random generator as an [`Random`] source.
#[derive(Debug, Default)]
pub struct SystemRandom(aws_lc_rs::rand::SystemRandom);

impl SystemRandom {
    /// The operating system's generator.
    pub fn new() -> Self {
        Self(aws_lc_rs::rand::SystemRandom::new())
    }
}

impl Random for SystemRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        use aws_lc_rs::rand::SecureRandom;
        for _ in 0..3 {
            if self.0.fill(buf).is_ok() {
                return;
            }
        }
        // The system generator failed three times (it does not in practice):
        // fall back to a digest of the time, so ids stay distinct.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut seed = nanos.to_le_bytes().to_vec();
        for chunk in buf.chunks_mut(32) {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &seed);
            chunk.copy_from_slice(&d.as_ref()[..chunk.len()]);
            seed = d.as_ref().to_vec();
        }
    }
}

/// The `ConcurrentModification` answer once retries are spent.
pub(crate) fn conflict() -> AwsError {
    AwsError::new(
        ErrorCode::ConcurrentModification,
        "The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again.",
    )
}

pub(crate) fn service_failure(what: &str) -> AwsError {
    AwsError::new(ErrorCode::ServiceFailure, format!("internal error: {what}"))
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, AwsError> {
    serde_json::to_vec(v).map_err(|_| service_failure("an entity could not be serialized"))
}

pub(crate) fn no_such(message: String) -> AwsError {
    AwsError::new(ErrorCode::NoSuchEntity, message)
}

/// `Some(xml)` written by `f`.
pub(crate) fn xml(f: impl FnOnce(&mut XmlWriter)) -> Option<String> {
    let mut w = XmlWriter::new();
    f(&mut w);
    Some(w.finish())
}

/// Writes `<IsTruncated>` and, when truncated, `<Marker>`.
pub(crate) fn write_paging(w: &mut XmlWriter, marker: Option<&str>) {
    w.element("IsTruncated", if marker.is_some() { "true" } else { "false" });
    w.opt("Marker", marker);
}

/// `Marker` and `MaxItems`, validated.
pub(crate) fn paging<'a>(v: &mut Validator<'a>) -> (Option<&'a str>, usize) {
    let marker = v.string("Marker", false, 1, 320, Some(MARKER));
    let max = v.int("MaxItems", false, 1, 1000).unwrap_or(100);
    (marker, usize::try_from(max).unwrap_or(100))
}

/// Every `Tags.member.N.{Key,Value}`.
pub(crate) fn tag_params(params: &QueryParams) -> Result<Vec<(&str, &str)>, AwsError> {
    let keys = params.list("Tags", Some("Key"))?;
    let values = params.list("Tags", Some("Value"))?;
    if keys.len() != values.len() {
        return Err(AwsError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null",
        ));
    }
    if keys.len() > crate::names::MAX_TAGS {
        return Err(AwsError::new(
            ErrorCode::ValidationError,
            format!(
                "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {}",
                crate::names::MAX_TAGS
            ),
        ));
    }
    Ok(keys.into_iter().zip(values).collect())
}

/// `Tags` for the `Tag*` actions, where at least one is required.
pub(crate) fn required_tags(params: &QueryParams) -> Result<Vec<(&str, &str)>, AwsError> {
    let tags = tag_params(params)?;
    if tags.is_empty() {
        return Err(AwsError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        ));
    }
    Ok(tags)
}

/// Checks new tags against IAM's rules (and the 50-tag limit).
pub(crate) fn check_new_tags(tags: &[(&str, &str)]) -> Result<Vec<crate::names::Tag>, AwsError> {
    merge_tags(&[], tags)
}

/// Every `TagKeys.member.N`, validated.
pub(crate) fn tag_keys(params: &QueryParams) -> Result<Vec<String>, AwsError> {
    let keys = params.list("TagKeys", None)?;
    if keys.is_empty() {
        return Err(AwsError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        ));
    }
    if keys.len() > 50 {
        return Err(AwsError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50",
        ));
    }
    for k in &keys {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                format!(
                    "1 validation error detected: Value '{k}' at 'tagKeys.member' failed to satisfy constraint: Member must have length between 1 and 128"
                ),
            ));
        }
    }
    Ok(keys.into_iter().map(str::to_owned).collect())
}

/// Writes a page of tags (`ListXTags`).
pub(crate) fn tags_page(
    tags: &[crate::names::Tag],
    marker: Option<&str>,
    max: usize,
) -> Result<Option<String>, AwsError> {
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= tags.len())
            .ok_or_else(|| AwsError::new(ErrorCode::InvalidInput, "Invalid Marker."))?,
    };
    let end = start.saturating_add(max).min(tags.len());
    let next = (end < tags.len()).then(|| end.to_string());
    Ok(xml(|w| {
        crate::entities::write_tags(w, &tags[start..end]);
        write_paging(w, next.as_deref());
    }))
}

/// Checks a policy document's content (for `kind`) and, separately, its size
/// against `limit`, the way IAM reports each.
pub(crate) fn check_document(doc: &str, kind: PolicyKind, limit: usize, quota: &str) -> Result<(), AwsError> {
    let unbounded = Limits {
        trust: usize::MAX,
        managed: usize::MAX,
        inline: usize::MAX,
        session: usize::MAX,
        resource: usize::MAX,
    };
    let report = validate(doc, kind, &unbounded);
    if let Some(first) = report.errors.first() {
        let more = match report.errors.len() {
            1 => String::new(),
            n => format!(" (and {} more problems)", n - 1),
        };
        return Err(AwsError::new(
            ErrorCode::MalformedPolicyDocument,
            format!("{first}{more}"),
        ));
    }
    if policy_size(doc) > limit {
        return Err(AwsError::new(
            ErrorCode::LimitExceeded,
            format!("Cannot exceed quota for {quota}: {limit}"),
        ));
    }
    Ok(())
}

fn unknown_action(action: &str) -> AwsError {
    AwsError::new(
        ErrorCode::InvalidAction,
        format!("Could not find operation {action} for version 2010-05-08"),
    )
}

/// Names and paths of the right length but with characters IAM refuses get
/// IAM's own words rather than a pattern (length and presence problems are
/// left to each action's Coral-style validation).
fn check_charsets(params: &QueryParams) -> Result<(), AwsError> {
    for (param, field, max) in [("RoleName", "roleName", 64), ("PolicyName", "policyName", 128)] {
        if let Some(v) = params.get(param)
            && (1..=max).contains(&v.chars().count())
            && !v.chars().all(crate::names::is_name_char)
        {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                format!(
                    "The specified value for {field} is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-"
                ),
            ));
        }
    }
    if let Some(p) = params.get("Path")
        && (1..=512).contains(&p.chars().count())
        && !valid_path(p)
    {
        return Err(AwsError::new(
            ErrorCode::ValidationError,
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
        ));
    }
    Ok(())
}

impl<S: Store> Iam<S> {
    /// A service for `account` (12 digits) in `partition` (`aws`), with the
    /// policy size limits to enforce and the random source for unique ids.
    pub fn new(
        store: S,
        account: String,
        partition: String,
        limits: Limits,
        rng: Box<dyn Random + Send + Sync>,
    ) -> Self {
        Iam {
            store,
            account,
            partition,
            limits,
            rng: Mutex::new(rng),
            local_issuers: false,
        }
    }

    /// Accepts `http://` OIDC provider URLs and ports (issuers on a laptop or in CI);
    /// AWS accepts neither, so this is for development only.
    pub fn allow_local_issuers(mut self, yes: bool) -> Self {
        self.local_issuers = yes;
        self
    }

    /// The store the service works on.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The account the service holds.
    pub fn account(&self) -> &str {
        &self.account
    }

    pub(crate) fn new_id(&self, kind: crate::ids::IdKind) -> String {
        let mut rng = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::ids::entity_id(kind, rng.as_mut())
    }

    /// Runs one IAM action. `Ok(Some(inner))` is the content of
    /// `<{Action}Result>`, `Ok(None)` is for actions whose response has no
    /// result element; wrap either with
    /// `irsa_aws_query::response_xml(action, IAM_NAMESPACE, request_id, ..)`.
    /// `now` is seconds since the epoch (creation and update dates).
    pub async fn handle(&self, action: &str, params: &QueryParams, now: i64) -> Result<Option<String>, AwsError> {
        if !ACTIONS.contains(&action) {
            return Err(unknown_action(action));
        }
        check_charsets(params)?;
        match action {
            // OIDC providers.
            "CreateOpenIDConnectProvider" => self.create_oidc_provider(params, now).await,
            "GetOpenIDConnectProvider" => self.get_oidc_provider(params).await,
            "ListOpenIDConnectProviders" => self.list_oidc_providers().await,
            "DeleteOpenIDConnectProvider" => self.delete_oidc_provider(params).await,
            "AddClientIDToOpenIDConnectProvider" => self.add_client_id(params).await,
            "RemoveClientIDFromOpenIDConnectProvider" => self.remove_client_id(params).await,
            "UpdateOpenIDConnectProviderThumbprint" => self.update_thumbprints(params).await,
            "TagOpenIDConnectProvider" => self.tag_oidc_provider(params).await,
            "UntagOpenIDConnectProvider" => self.untag_oidc_provider(params).await,
            "ListOpenIDConnectProviderTags" => self.list_oidc_provider_tags(params).await,
            // Roles.
            "CreateRole" => self.create_role(params, now).await,
            "GetRole" => self.get_role(params).await,
            "DeleteRole" => self.delete_role(params).await,
            "ListRoles" => self.list_roles(params).await,
            "UpdateRole" => self.update_role(params).await,
            "UpdateRoleDescription" => self.update_role_description(params).await,
            "UpdateAssumeRolePolicy" => self.update_assume_role_policy(params).await,
            "TagRole" => self.tag_role(params).await,
            "UntagRole" => self.untag_role(params).await,
            "ListRoleTags" => self.list_role_tags(params).await,
            "PutRolePermissionsBoundary" => self.put_role_boundary(params).await,
            "DeleteRolePermissionsBoundary" => self.delete_role_boundary(params).await,
            // Inline role policies.
            "PutRolePolicy" => self.put_role_policy(params).await,
            "GetRolePolicy" => self.get_role_policy(params).await,
            "DeleteRolePolicy" => self.delete_role_policy(params).await,
            "ListRolePolicies" => self.list_role_policies(params).await,
            // Managed policies.
            "CreatePolicy" => self.create_policy(params, now).await,
            "GetPolicy" => self.get_policy(params).await,
            "DeletePolicy" => self.delete_policy(params).await,
            "ListPolicies" => self.list_policies(params).await,
            "CreatePolicyVersion" => self.create_policy_version(params, now).await,
            "GetPolicyVersion" => self.get_policy_version(params).await,
            "ListPolicyVersions" => self.list_policy_versions(params).await,
            "DeletePolicyVersion" => self.delete_policy_version(params, now).await,
            "SetDefaultPolicyVersion" => self.set_default_policy_version(params, now).await,
            "AttachRolePolicy" => self.attach_role_policy(params).await,
            "DetachRolePolicy" => self.detach_role_policy(params).await,
            "ListAttachedRolePolicies" => self.list_attached_role_policies(params).await,
            "ListEntitiesForPolicy" => self.list_entities_for_policy(params).await,
            "ListInstanceProfilesForRole" => self.list_instance_profiles_for_role(params).await,
            "TagPolicy" => self.tag_policy(params).await,
            "UntagPolicy" => self.untag_policy(params).await,
            "ListPolicyTags" => self.list_policy_tags(params).await,
            // Simulation.
            "SimulateCustomPolicy" => self.simulate_custom_policy(params).await,
            "SimulatePrincipalPolicy" => self.simulate_principal_policy(params).await,
            "GetContextKeysForCustomPolicy" => self.context_keys_for_custom_policy(params).await,
            "GetContextKeysForPrincipalPolicy" => self.context_keys_for_principal_policy(params).await,
            other => Err(unknown_action(other)),
        }
    }

    /// The ARN of the resource an action acts on, for the server's
    /// authorization (`iam:{action}` on this resource): the role for every
    /// action with a `RoleName` (`AttachRolePolicy` included, as in IAM's
    /// service authorization reference), else the policy, provider or
    /// simulated principal named in the request. Roles are looked up
    /// so that their path is part of the ARN; for an entity that does not
    /// exist (yet), the ARN it would have (`Path` from the request for
    /// `Create*`, `/` otherwise). Account-wide actions (`List*` without an
    /// entity, `Simulate*`) get `*`.
    pub async fn resource_arn(&self, action: &str, params: &QueryParams) -> String {
        let (p, a) = (self.partition.as_str(), self.account.as_str());
        let path = params.get("Path").filter(|p| valid_path(p)).unwrap_or("/");
        // Actions on a role (attaching a policy to it included) act on the role.
        if let Some(name) = params.get("RoleName") {
            if action != "CreateRole"
                && let Ok(Some((role, _))) = layout::get_role(&self.store, name).await
            {
                return role.arn;
            }
            return crate::names::role_arn(p, a, path, name);
        }
        if let Some(arn) = params
            .get("PolicyArn")
            .or_else(|| params.get("OpenIDConnectProviderArn"))
            .or_else(|| {
                (action == "SimulatePrincipalPolicy")
                    .then(|| params.get("PolicySourceArn"))
                    .flatten()
            })
        {
            return arn.to_owned();
        }
        match action {
            "CreatePolicy" => crate::names::policy_arn(p, a, path, params.get("PolicyName").unwrap_or_default()),
            "CreateOpenIDConnectProvider" => {
                let url = params.get("Url").unwrap_or_default();
                crate::names::oidc_provider_arn(p, a, url.strip_prefix("https://").unwrap_or(url))
            }
            _ => "*".to_owned(),
        }
    }

    /// Commits `txn`; `Ok(false)` on a conflict.
    pub(crate) async fn commit(&self, txn: Txn) -> Result<bool, AwsError> {
        match self.store.txn(txn).await {
            Ok(TxnOutcome::Committed { .. }) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(layout::store_failure(&e)),
        }
    }

    /// Read-modify-write of one entity under `key`: `f` changes it (or
    /// refuses); written back only if unchanged since read, retried.
    pub(crate) async fn update<T, F>(&self, key: &str, missing: impl Fn() -> AwsError, mut f: F) -> Result<T, AwsError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T) -> Result<bool, AwsError>,
    {
        for _ in 0..ATTEMPTS {
            let Some((mut v, rev)) = layout::get::<S, T>(&self.store, key).await? else {
                return Err(missing());
            };
            if !f(&mut v)? {
                return Ok(v);
            }
            let txn = Txn::new().when(Compare::revision(key, rev)).put(key, to_json(&v)?);
            if self.commit(txn).await? {
                return Ok(v);
            }
        }
        Err(conflict())
    }

    /// A page of entities under `prefix`, from `marker` (a key suffix),
    /// keeping those `keep` accepts; the marker for the next page when more follow.
    pub(crate) async fn page<T: DeserializeOwned>(
        &self,
        prefix: &str,
        marker: Option<&str>,
        max: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<(Vec<T>, Option<String>), AwsError> {
        let mut out: Vec<(String, T)> = Vec::new();
        let mut start = marker.map(|m| format!("{prefix}{m}"));
        loop {
            let page = self
                .store
                .list(prefix, start.as_deref(), 100)
                .await
                .map_err(|e| layout::store_failure(&e))?;
            let last = page.last_key().map(str::to_owned);
            for (k, e) in page.entries {
                let (v, _) = layout::decode::<T>(&k, e)?;
                if keep(&v) {
                    out.push((k, v));
                    if out.len() > max {
                        break;
                    }
                }
            }
            if out.len() > max || !page.more || last.is_none() {
                break;
            }
            start = last;
        }
        let next = if out.len() > max {
            out.truncate(max);
            out.last().and_then(|(k, _)| k.strip_prefix(prefix)).map(str::to_owned)
        } else {
            None
        };
        Ok((out.into_iter().map(|(_, v)| v).collect(), next))
    }

    /// The key of an OIDC provider named by ARN in this account.
    pub(crate) fn oidc_key(&self, arn: &str) -> Option<String> {
        let a = Arn::parse(arn)?;
        if a.service != "iam" || a.account != self.account || a.partition != self.partition {
            return None;
        }
        let url = a.resource.strip_prefix("oidc-provider/")?;
        Some(layout::oidc_provider_key(url))
    }

    /// The key of a managed policy named by ARN in this account, if the ARN is one.
    pub(crate) fn policy_key_of(&self, arn: &str) -> Option<String> {
        let a = Arn::parse(arn)?;
        if a.service != "iam" || a.account != self.account || a.partition != self.partition {
            return None;
        }
        let rest = a.resource.strip_prefix("policy/")?;
        let name = rest.rsplit('/').next().unwrap_or(rest);
        Some(layout::policy_key(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use irsa_store::RedbStore;

    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn the_service_can_be_shared_across_tasks() {
        assert_sync::<Iam<RedbStore>>();
        let Ok(store) = RedbStore::in_memory() else { return };
        let iam = Iam::new(
            store,
            "111122223333".into(),
            "aws".into(),
            Limits::default(),
            Box::new(SystemRandom::new()),
        );
        let params = QueryParams::default();
        let fut = iam.handle("GetRole", &params, 0);
        assert_send(&fut);
        let arn = iam.resource_arn("ListRoles", &params);
        assert_send(&arn);
    }

    #[test]
    fn every_listed_action_is_dispatched() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let (Ok(rt), Ok(store)) = (rt, RedbStore::in_memory()) else {
            return;
        };
        let iam = Iam::new(
            store,
            "111122223333".into(),
            "aws".into(),
            Limits::default(),
            Box::new(SystemRandom::new()),
        );
        let params = QueryParams::default();
        for action in ACTIONS {
            let res = rt.block_on(iam.handle(action, &params, 0));
            assert!(
                res.as_ref().err().is_none_or(|e| e.code != ErrorCode::InvalidAction),
                "{action}"
            );
        }
        let bad = QueryParams::parse(b"RoleName=a%20b").unwrap_or_default();
        let e = rt.block_on(iam.handle("CreateUser", &bad, 0)).err().map(|e| e.code);
        assert_eq!(e, Some(ErrorCode::InvalidAction));
    }

    #[test]
    fn system_random_fills() {
        let mut r = SystemRandom::new();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        r.fill(&mut a);
        r.fill(&mut b);
        assert_ne!(a, b);
    }
}
