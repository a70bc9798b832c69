//! Applying a plan through the IAM API (and undoing it): the IO shell.
//!
//! Idempotent by construction: every step reads first and writes only what
//! differs. A role that exists without irsa's tag is never changed; on a role
//! irsa created, planned subjects are added with the trust editor (so profile
//! trust added later by the controller is kept). Teardown deletes only what
//! carries [`MANAGED_BY_TAG`] for this cluster.

use crate::plan::{CLUSTER_TAG, MANAGED_BY_TAG, Plan, RolePlan};
use aws_sdk_iam::Client;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Tag;
use irsa_policy::Policy;
use irsa_policy::trust::{OidcProvider, TrustEditor};

/// What one step did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Created.
    Created(String),
    /// Changed in place.
    Updated(String),
    /// Already as planned.
    Unchanged(String),
    /// Left alone, with the reason.
    Skipped(String),
    /// Deleted (teardown).
    Deleted(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Created(s) => write!(f, "create    {s}"),
            Change::Updated(s) => write!(f, "update    {s}"),
            Change::Unchanged(s) => write!(f, "unchanged {s}"),
            Change::Skipped(s) => write!(f, "skip      {s}"),
            Change::Deleted(s) => write!(f, "delete    {s}"),
        }
    }
}

/// An IAM call that failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct ApplyError {
    /// The IAM operation.
    pub operation: &'static str,
    /// The AWS error code (or a transport error's kind).
    pub code: String,
    /// The message.
    pub message: String,
}

pub(crate) fn fail<E: ProvideErrorMetadata + std::fmt::Display>(operation: &'static str, e: &E) -> ApplyError {
    ApplyError {
        operation,
        code: e.code().unwrap_or("RequestFailed").to_owned(),
        message: e.message().map_or_else(|| e.to_string(), str::to_owned),
    }
}

fn is_no_such_entity<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("NoSuchEntity")
}

fn tags(list: &[(String, String)]) -> Vec<Tag> {
    list.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

fn ours(tags: &[Tag], cluster: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == MANAGED_BY_TAG.0 && t.value() == MANAGED_BY_TAG.1)
        && tags.iter().any(|t| t.key() == CLUSTER_TAG && t.value() == cluster)
}

/// IAM returns policy documents percent-encoded (not form-encoded: `+` stays `+`).
fn decode(doc: &str) -> String {
    percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned()
}

fn same_policy(a: &str, b: &str) -> bool {
    match (Policy::parse(a), Policy::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The thumbprint list to set on an existing provider, if it should change:
/// none planned leaves it as it is (IAM may have filled it in itself); on a
/// provider of irsa's the planned list replaces it; on someone else's the
/// planned ones are only added, since its other users may rely on the rest.
fn wanted_thumbprints(current: &[String], planned: &[String], ours: bool) -> Option<Vec<String>> {
    if planned.is_empty() {
        return None;
    }
    let mut wanted: Vec<String> = if ours { Vec::new() } else { current.to_vec() };
    for t in planned {
        let t = t.to_ascii_lowercase();
        if !wanted.contains(&t) {
            wanted.push(t);
        }
    }
    let same = wanted.len() == current.len() && wanted.iter().all(|t| current.contains(t));
    (!same).then_some(wanted)
}

/// Applies `plan`. With `dry_run` nothing is written and the changes say what would be.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    cluster: &str,
    dry_run: bool,
    mut progress: impl FnMut(&Change),
) -> Result<Vec<Change>, ApplyError> {
    let mut changes = Vec::new();
    let mut record = |c: Change, changes: &mut Vec<Change>| {
        progress(&c);
        changes.push(c);
    };
    // The OIDC provider.
    let p = &plan.provider;
    match client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&p.arn)
        .send()
        .await
    {
        Ok(existing) => {
            let mut changed = false;
            for c in p.client_ids.iter().filter(|c| !existing.client_id_list().contains(c)) {
                if !dry_run {
                    client
                        .add_client_id_to_open_id_connect_provider()
                        .open_id_connect_provider_arn(&p.arn)
                        .client_id(c)
                        .send()
                        .await
                        .map_err(|e| fail("AddClientIDToOpenIDConnectProvider", &e))?;
                }
                changed = true;
                record(
                    Change::Updated(format!("OIDC provider {}: add audience {c}", p.arn)),
                    &mut changes,
                );
            }
            let current: Vec<String> = existing
                .thumbprint_list()
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .collect();
            if let Some(wanted) = wanted_thumbprints(&current, &p.thumbprints, ours(existing.tags(), cluster)) {
                if !dry_run {
                    client
                        .update_open_id_connect_provider_thumbprint()
                        .open_id_connect_provider_arn(&p.arn)
                        .set_thumbprint_list(Some(wanted.clone()))
                        .send()
                        .await
                        .map_err(|e| fail("UpdateOpenIDConnectProviderThumbprint", &e))?;
                }
                changed = true;
                record(
                    Change::Updated(format!(
                        "OIDC provider {}: thumbprints {} (were {})",
                        p.arn,
                        wanted.join(", "),
                        if current.is_empty() {
                            "none".to_owned()
                        } else {
                            current.join(", ")
                        }
                    )),
                    &mut changes,
                );
            }
            if !changed {
                record(Change::Unchanged(format!("OIDC provider {}", p.arn)), &mut changes);
            }
        }
        Err(e) if is_no_such_entity(&e) => {
            if !dry_run {
                client
                    .create_open_id_connect_provider()
                    .url(&p.url)
                    .set_client_id_list(Some(p.client_ids.clone()))
                    // None rather than an empty list: IAM then uses its own trusted CAs.
                    .set_thumbprint_list((!p.thumbprints.is_empty()).then(|| p.thumbprints.clone()))
                    .set_tags(Some(tags(&p.tags)))
                    .send()
                    .await
                    .map_err(|e| fail("CreateOpenIDConnectProvider", &e))?;
            }
            let thumbprints = if p.thumbprints.is_empty() {
                String::new()
            } else {
                format!(", thumbprint {}", p.thumbprints.join(", "))
            };
            record(
                Change::Created(format!(
                    "OIDC provider {} (audience {}{thumbprints})",
                    p.arn,
                    p.client_ids.join(", ")
                )),
                &mut changes,
            );
        }
        Err(e) => return Err(fail("GetOpenIDConnectProvider", &e)),
    }
    let provider = OidcProvider::from_arn(&p.arn).map_err(|e| ApplyError {
        operation: "plan",
        code: "InvalidProvider".to_owned(),
        message: e.to_string(),
    })?;
    for role in &plan.roles {
        apply_role(client, role, &provider, cluster, dry_run, &mut changes, &mut record).await?;
    }
    Ok(changes)
}

async fn apply_role(
    client: &Client,
    role: &RolePlan,
    provider: &OidcProvider,
    cluster: &str,
    dry_run: bool,
    changes: &mut Vec<Change>,
    record: &mut impl FnMut(Change, &mut Vec<Change>),
) -> Result<(), ApplyError> {
    let existing = match client.get_role().role_name(&role.name).send().await {
        Ok(out) => out.role,
        Err(e) if is_no_such_entity(&e) => None,
        Err(e) => return Err(fail("GetRole", &e)),
    };
    match existing {
        None => {
            if !dry_run {
                client
                    .create_role()
                    .role_name(&role.name)
                    .assume_role_policy_document(&role.trust_policy)
                    .description(&role.description)
                    .set_tags(Some(tags(&role.tags)))
                    .send()
                    .await
                    .map_err(|e| fail("CreateRole", &e))?;
            }
            let who = if role.trusted.is_empty() {
                "nobody yet".to_owned()
            } else {
                role.trusted.join(", ")
            };
            record(Change::Created(format!("role {} trusting {who}", role.name)), changes);
        }
        Some(existing) if !ours(existing.tags(), cluster) => {
            record(
                Change::Skipped(format!(
                    "role {} exists and was not created by irsa setup for cluster {cluster}: left untouched",
                    role.name
                )),
                changes,
            );
            return Ok(());
        }
        Some(existing) => {
            let current = existing.assume_role_policy_document().map(decode).unwrap_or_default();
            let editor = TrustEditor::new(provider.clone()).limit(usize::MAX);
            let mut doc = current.clone();
            for subject in &role.trusted {
                match editor.add_subject(Some(&doc), subject) {
                    Ok(edit) => doc = edit.document,
                    Err(e) => {
                        return Err(ApplyError {
                            operation: "trust edit",
                            code: "InvalidTrustPolicy".to_owned(),
                            message: format!("role {}: {e}", role.name),
                        });
                    }
                }
            }
            if same_policy(&doc, &current) {
                record(Change::Unchanged(format!("role {} trust", role.name)), changes);
            } else {
                if !dry_run {
                    client
                        .update_assume_role_policy()
                        .role_name(&role.name)
                        .policy_document(&doc)
                        .send()
                        .await
                        .map_err(|e| fail("UpdateAssumeRolePolicy", &e))?;
                }
                record(
                    Change::Updated(format!("role {} trust: add planned subjects", role.name)),
                    changes,
                );
            }
        }
    }
    for (name, doc) in &role.inline_policies {
        let current = match client
            .get_role_policy()
            .role_name(&role.name)
            .policy_name(name)
            .send()
            .await
        {
            Ok(out) => Some(decode(out.policy_document())),
            Err(e) if is_no_such_entity(&e) => None,
            // A dry run of a role that does not exist yet has no policies to read.
            Err(_) if dry_run => None,
            Err(e) => return Err(fail("GetRolePolicy", &e)),
        };
        match current {
            Some(c) if same_policy(&c, doc) => {
                record(Change::Unchanged(format!("role {} policy {name}", role.name)), changes);
            }
            current => {
                if !dry_run {
                    client
                        .put_role_policy()
                        .role_name(&role.name)
                        .policy_name(name)
                        .policy_document(doc)
                        .send()
                        .await
                        .map_err(|e| fail("PutRolePolicy", &e))?;
                }
                let what = format!("role {} policy {name}", role.name);
                record(
                    if current.is_some() {
                        Change::Updated(what)
                    } else {
                        Change::Created(what)
                    },
                    changes,
                );
            }
        }
    }
    Ok(())
}

/// Deletes the roles and provider of `plan` that carry irsa's tag for `cluster`.
pub async fn teardown(
    client: &Client,
    plan: &Plan,
    cluster: &str,
    dry_run: bool,
    mut progress: impl FnMut(&Change),
) -> Result<Vec<Change>, ApplyError> {
    let mut changes = Vec::new();
    let mut record = |c: Change, changes: &mut Vec<Change>| {
        progress(&c);
        changes.push(c);
    };
    for role in &plan.roles {
        let existing = match client.get_role().role_name(&role.name).send().await {
            Ok(out) => out.role,
            Err(e) if is_no_such_entity(&e) => None,
            Err(e) => return Err(fail("GetRole", &e)),
        };
        let Some(existing) = existing else {
            record(
                Change::Skipped(format!("role {}: does not exist", role.name)),
                &mut changes,
            );
            continue;
        };
        if !ours(existing.tags(), cluster) {
            record(
                Change::Skipped(format!(
                    "role {}: not created by irsa setup for cluster {cluster}",
                    role.name
                )),
                &mut changes,
            );
            continue;
        }
        if !dry_run {
            let names = client
                .list_role_policies()
                .role_name(&role.name)
                .send()
                .await
                .map_err(|e| fail("ListRolePolicies", &e))?;
            for name in names.policy_names() {
                client
                    .delete_role_policy()
                    .role_name(&role.name)
                    .policy_name(name)
                    .send()
                    .await
                    .map_err(|e| fail("DeleteRolePolicy", &e))?;
            }
            let attached = client
                .list_attached_role_policies()
                .role_name(&role.name)
                .send()
                .await
                .map_err(|e| fail("ListAttachedRolePolicies", &e))?;
            for p in attached.attached_policies() {
                if let Some(arn) = p.policy_arn() {
                    client
                        .detach_role_policy()
                        .role_name(&role.name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(|e| fail("DetachRolePolicy", &e))?;
                }
            }
            client
                .delete_role()
                .role_name(&role.name)
                .send()
                .await
                .map_err(|e| fail("DeleteRole", &e))?;
        }
        record(Change::Deleted(format!("role {}", role.name)), &mut changes);
    }
    let p = &plan.provider;
    match client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&p.arn)
        .send()
        .await
    {
        Ok(existing) if ours(existing.tags(), cluster) => {
            if !dry_run {
                client
                    .delete_open_id_connect_provider()
                    .open_id_connect_provider_arn(&p.arn)
                    .send()
                    .await
                    .map_err(|e| fail("DeleteOpenIDConnectProvider", &e))?;
            }
            record(Change::Deleted(format!("OIDC provider {}", p.arn)), &mut changes);
        }
        Ok(_) => record(
            Change::Skipped(format!(
                "OIDC provider {}: not created by irsa setup for cluster {cluster} (others may rely on it)",
                p.arn
            )),
            &mut changes,
        ),
        Err(e) if is_no_such_entity(&e) => {
            record(
                Change::Skipped(format!("OIDC provider {}: does not exist", p.arn)),
                &mut changes,
            );
        }
        Err(e) => return Err(fail("GetOpenIDConnectProvider", &e)),
    }
    Ok(changes)
}

/// IAM and STS clients from the standard AWS chain (environment, profile,
/// `AWS_ENDPOINT_URL_IAM`/`AWS_ENDPOINT_URL`), with `endpoint_url` overriding
/// both, and the account the credentials belong to.
pub async fn connect(endpoint_url: Option<&str>) -> Result<(Client, String), ApplyError> {
    connect_with(&sdk_config(endpoint_url).await).await
}

/// The SDK configuration from the standard AWS chain (region defaulting to
/// `us-east-1`), with `endpoint_url` overriding every service's endpoint
/// (IAM, STS and EKS alike).
pub async fn sdk_config(endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let region = aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1");
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(region);
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// IAM client and account for an already loaded SDK configuration.
pub async fn connect_with(conf: &aws_config::SdkConfig) -> Result<(Client, String), ApplyError> {
    let who = aws_sdk_sts::Client::new(conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| fail("GetCallerIdentity", &e))?;
    let account = who.account().unwrap_or_default().to_owned();
    Ok((Client::new(conf), account))
}

#[cfg(test)]
mod tests {
    use super::wanted_thumbprints;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn thumbprints_change_only_when_planned_and_different() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        assert_eq!(wanted_thumbprints(&v(&[&a]), &[], true), None);
        assert_eq!(wanted_thumbprints(&v(&[&a]), &v(&[&a]), true), None);
        assert_eq!(wanted_thumbprints(&v(&[&a, &b]), &v(&[&b, &a]), true), None);
        assert_eq!(wanted_thumbprints(&v(&[&a]), &v(&[&b]), true), Some(v(&[&b])));
        assert_eq!(wanted_thumbprints(&[], &v(&[&b]), true), Some(v(&[&b])));
        // Someone else's provider keeps its thumbprints; ours is added.
        assert_eq!(wanted_thumbprints(&v(&[&a]), &v(&[&b]), false), Some(v(&[&a, &b])));
        assert_eq!(wanted_thumbprints(&v(&[&a, &b]), &v(&[&b]), false), None);
        assert_eq!(wanted_thumbprints(&[], &v(&[&b.to_uppercase()]), true), Some(v(&[&b])));
    }
}
