//! Where IAM state lives in the store, and how it is read.
//!
//! The server holds one account. Every entity is a JSON value under a key of
//! its own; names that IAM compares case-insensitively (roles, managed
//! policies) are keyed by their lowercase form, ids get an index entry so an
//! `AROA…`/`ANPA…` id leads back to its entity. Writers keep entity and index
//! in one transaction.

use crate::entities::{ManagedPolicy, OidcProvider, Role};
use crate::names::{Arn, parse_role_arn};
use irsa_aws_query::{AwsError, ErrorCode};
use irsa_store::{Entry, Store};
use serde::de::DeserializeOwned;

/// Roles: `iam/roles/<lowercase name>` → [`Role`].
pub const ROLES: &str = "iam/roles/";
/// Role ids: `iam/role-ids/<AROA…>` → lowercase role name.
pub const ROLE_IDS: &str = "iam/role-ids/";
/// OIDC providers: `iam/oidc-providers/<url without https://>` → [`OidcProvider`].
pub const OIDC_PROVIDERS: &str = "iam/oidc-providers/";
/// Managed policies: `iam/policies/<lowercase name>` → [`ManagedPolicy`].
pub const POLICIES: &str = "iam/policies/";
/// Managed policy ids: `iam/policy-ids/<ANPA…>` → lowercase policy name.
pub const POLICY_IDS: &str = "iam/policy-ids/";
/// Long-term access keys: `iam/access-keys/<AKIA…>` → the key's record (JSON, owned by the server).
pub const ACCESS_KEYS: &str = "iam/access-keys/";
/// The session-token key ring: one JSON array of ring keys (owned by the STS).
pub const SESSION_KEY_RING: &str = "sts/session-key-ring";

/// The key of a role by name.
pub fn role_key(name: &str) -> String {
    format!("{ROLES}{}", name.to_ascii_lowercase())
}

/// The index key of a role id.
pub fn role_id_key(id: &str) -> String {
    format!("{ROLE_IDS}{id}")
}

/// The key of an OIDC provider by its URL without `https://`.
pub fn oidc_provider_key(url_without_scheme: &str) -> String {
    format!("{OIDC_PROVIDERS}{url_without_scheme}")
}

/// The key of a managed policy by name.
pub fn policy_key(name: &str) -> String {
    format!("{POLICIES}{}", name.to_ascii_lowercase())
}

/// The index key of a managed policy id.
pub fn policy_id_key(id: &str) -> String {
    format!("{POLICY_IDS}{id}")
}

/// A store failure as the client sees it: IAM's `ServiceFailure`, without internals; the
/// store's error (backend, endpoint, cause) travels as the cause the server logs.
pub fn store_failure(e: &irsa_store::Error) -> AwsError {
    AwsError::new(
        ErrorCode::ServiceFailure,
        "The request processing has failed because of an unknown error, exception or failure.",
    )
    .with_cause(format!("store: {}", AwsError::cause_of(e)))
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, e: Entry) -> Result<(T, u64), AwsError> {
    serde_json::from_slice(&e.value).map(|v| (v, e.revision)).map_err(|_| {
        AwsError::new(
            ErrorCode::ServiceFailure,
            format!("stored entity `{key}` is unreadable; restore it from a backup or delete it"),
        )
    })
}

pub(crate) async fn get<S: Store, T: DeserializeOwned>(store: &S, key: &str) -> Result<Option<(T, u64)>, AwsError> {
    match store.get(key).await.map_err(|e| store_failure(&e))? {
        Some(e) => decode(key, e).map(Some),
        None => Ok(None),
    }
}

/// A role by name, with the revision it was read at.
pub async fn get_role<S: Store>(store: &S, name: &str) -> Result<Option<(Role, u64)>, AwsError> {
    get(store, &role_key(name)).await
}

/// A role by ARN, in `account`.
pub async fn get_role_by_arn<S: Store>(store: &S, account: &str, arn: &str) -> Result<Option<Role>, AwsError> {
    let Some((acct, _path, name)) = parse_role_arn(arn) else {
        return Ok(None);
    };
    if acct != account {
        return Ok(None);
    }
    // The whole ARN must match: path, partition and account included.
    Ok(get_role(store, &name).await?.map(|(r, _)| r).filter(|r| r.arn == arn))
}

/// An OIDC provider by issuer (with or without `https://`).
pub async fn get_oidc_provider<S: Store>(store: &S, issuer: &str) -> Result<Option<OidcProvider>, AwsError> {
    let url = issuer.strip_prefix("https://").unwrap_or(issuer);
    Ok(get(store, &oidc_provider_key(url)).await?.map(|(p, _)| p))
}

/// A managed policy by ARN, in `account`.
pub async fn get_policy_by_arn<S: Store>(
    store: &S,
    account: &str,
    arn: &str,
) -> Result<Option<ManagedPolicy>, AwsError> {
    let Some(a) = Arn::parse(arn) else { return Ok(None) };
    if a.service != "iam" || a.account != account {
        return Ok(None);
    }
    let Some(rest) = a.resource.strip_prefix("policy/") else {
        return Ok(None);
    };
    let name = rest.rsplit('/').next().unwrap_or(rest);
    Ok(get::<S, ManagedPolicy>(store, &policy_key(name))
        .await?
        .map(|(p, _)| p)
        .filter(|p| p.arn == arn))
}

/// The identity policies in force for a role, as `(label, document)`: its
/// inline policies, then the default versions of its attached managed policies.
pub async fn role_identity_policies<S: Store>(
    store: &S,
    account: &str,
    role: &Role,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut out: Vec<(String, String)> = role
        .inline_policies
        .iter()
        .map(|(name, doc)| (format!("inline policy {name} of role {}", role.name), doc.clone()))
        .collect();
    for arn in &role.attached_policies {
        if let Some(p) = get_policy_by_arn(store, account, arn).await?
            && let Some(doc) = p.default_document()
        {
            out.push((format!("managed policy {arn}"), doc.to_owned()));
        }
    }
    Ok(out)
}

/// The document of a role's permissions boundary, if it has one.
pub async fn role_boundary<S: Store>(
    store: &S,
    account: &str,
    role: &Role,
) -> Result<Option<(String, String)>, AwsError> {
    let Some(arn) = &role.permissions_boundary else {
        return Ok(None);
    };
    Ok(get_policy_by_arn(store, account, arn).await?.and_then(|p| {
        p.default_document()
            .map(|d| (format!("permissions boundary {arn}"), d.to_owned()))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use irsa_store::{RedbStore, Txn};

    #[tokio::test]
    async fn reads_what_the_layout_says() {
        let store = RedbStore::in_memory().unwrap();
        let role = Role {
            name: "KF-User".into(),
            path: "/kf/".into(),
            id: "AROAEXAMPLEEXAMPLE123".into(),
            arn: "arn:aws:iam::111122223333:role/kf/KF-User".into(),
            create_date: 0,
            assume_role_policy: "{}".into(),
            description: None,
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: vec![],
            inline_policies: [("p".to_owned(), "{\"Version\":\"2012-10-17\"}".to_owned())].into(),
            attached_policies: vec![],
            sessions_revoked_before: None,
        };
        let json = serde_json::to_vec(&role).unwrap();
        let outcome = store
            .txn(
                Txn::new()
                    .put(role_key(&role.name), json)
                    .put(role_id_key(&role.id), "kf-user"),
            )
            .await
            .unwrap();
        assert!(outcome.is_committed());
        assert_eq!(get_role(&store, "kf-user").await.unwrap().unwrap().0, role);
        let by_arn = get_role_by_arn(&store, "111122223333", "arn:aws:iam::111122223333:role/kf/KF-User").await;
        assert_eq!(by_arn.unwrap().as_ref(), Some(&role));
        // The path is part of the ARN; another account is not this one.
        assert!(
            get_role_by_arn(&store, "111122223333", "arn:aws:iam::111122223333:role/KF-User")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            get_role_by_arn(&store, "444455556666", "arn:aws:iam::444455556666:role/kf/KF-User")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            role_identity_policies(&store, "111122223333", &role)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .txn(Txn::new().put(role_key("broken"), "not json"))
                .await
                .unwrap()
                .is_committed()
        );
        assert_eq!(
            get_role(&store, "broken").await.unwrap_err().code,
            ErrorCode::ServiceFailure
        );
    }
}
