//! The request side of an authorization question: who asks, for what action,
//! on which resource, with which context keys.

use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// What kind of caller a request comes from, as far as policy evaluation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrincipalKind {
    /// No credentials at all.
    Anonymous,
    /// An account (its root user): `123456789012` or `arn:aws:iam::123456789012:root`.
    Account,
    /// An IAM user: `arn:aws:iam::123456789012:user/name`.
    User,
    /// An IAM role itself: `arn:aws:iam::123456789012:role/name`.
    Role,
    /// A role session: `arn:aws:sts::123456789012:assumed-role/role/session`.
    AssumedRole,
    /// A federated user session: `arn:aws:sts::123456789012:federated-user/name`.
    FederatedUser,
    /// A web identity or SAML provider: an `oidc-provider`/`saml-provider` ARN or a
    /// well-known provider name such as `accounts.google.com`.
    Federated,
    /// An AWS service: `ec2.amazonaws.com`.
    Service,
    /// An S3 canonical user id.
    CanonicalUser,
    /// Any other AWS ARN.
    OtherAws,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestPrincipal {
    /// The identifier as given (an ARN, account id, provider or service name).
    pub id: String,
    /// The kind of caller.
    pub kind: PrincipalKind,
    /// The caller's account, when the identifier names one.
    pub account: Option<String>,
    /// For a role session, the role's name.
    pub role_name: Option<String>,
}

const WEB_IDENTITY_PROVIDERS: &[&str] = &[
    "accounts.google.com",
    "cognito-identity.amazonaws.com",
    "graph.facebook.com",
    "www.amazon.com",
];

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl RequestPrincipal {
    /// Reads a caller identifier. A `Federated:`, `AWS:`, `Service:` or
    /// `CanonicalUser:` prefix forces the type; `*` is an anonymous caller.
    pub fn parse(s: &str) -> RequestPrincipal {
        let forced = |kind, id: &str| RequestPrincipal {
            id: id.to_owned(),
            kind,
            account: None,
            role_name: None,
        };
        if let Some(rest) = s.strip_prefix("Federated:") {
            return forced(PrincipalKind::Federated, rest);
        }
        if let Some(rest) = s.strip_prefix("Service:") {
            return forced(PrincipalKind::Service, rest);
        }
        if let Some(rest) = s.strip_prefix("CanonicalUser:") {
            return forced(PrincipalKind::CanonicalUser, rest);
        }
        let s = s.strip_prefix("AWS:").unwrap_or(s);
        if s == "*" || s.is_empty() {
            return forced(PrincipalKind::Anonymous, s);
        }
        if is_account_id(s) {
            return RequestPrincipal {
                account: Some(s.to_owned()),
                ..forced(PrincipalKind::Account, s)
            };
        }
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() == 6 && parts[0] == "arn" {
            let (service, account, res) = (parts[2], parts[4], parts[5]);
            let mut p = RequestPrincipal {
                account: (!account.is_empty()).then(|| account.to_owned()),
                ..forced(PrincipalKind::OtherAws, s)
            };
            p.kind = match (service, res.split_once('/').map_or(res, |(t, _)| t)) {
                ("iam", "root") => PrincipalKind::Account,
                ("iam", "user") => PrincipalKind::User,
                ("iam", "role") => PrincipalKind::Role,
                ("iam", "oidc-provider" | "saml-provider") => PrincipalKind::Federated,
                ("sts", "assumed-role") => {
                    p.role_name = res.split('/').nth(1).map(str::to_owned);
                    PrincipalKind::AssumedRole
                }
                ("sts", "federated-user") => PrincipalKind::FederatedUser,
                _ => PrincipalKind::OtherAws,
            };
            return p;
        }
        if WEB_IDENTITY_PROVIDERS.contains(&s) {
            return forced(PrincipalKind::Federated, s);
        }
        if s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn") {
            return forced(PrincipalKind::Service, s);
        }
        forced(PrincipalKind::Federated, s)
    }

    /// Whether the caller is an AWS identity (account, user, role, session).
    pub(crate) fn is_aws(&self) -> bool {
        matches!(
            self.kind,
            PrincipalKind::Account
                | PrincipalKind::User
                | PrincipalKind::Role
                | PrincipalKind::AssumedRole
                | PrincipalKind::FederatedUser
                | PrincipalKind::OtherAws
        )
    }
}

impl fmt::Display for RequestPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// One key of the request context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextEntry {
    /// The key as the caller spelled it.
    pub name: String,
    /// Its values.
    pub values: Vec<String>,
    /// Whether the key is multivalued (a set), even with one or no values.
    pub multivalued: bool,
}

/// Request context keys; names are case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: HashMap<String, ContextEntry>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.entries.insert(
            key.to_ascii_lowercase(),
            ContextEntry {
                name: key.to_owned(),
                values: vec![value.into()],
                multivalued: false,
            },
        );
        self
    }

    /// Sets a multivalued key (a set, possibly empty).
    pub fn insert_multi<I, S>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entries.insert(
            key.to_ascii_lowercase(),
            ContextEntry {
                name: key.to_owned(),
                values: values.into_iter().map(Into::into).collect(),
                multivalued: true,
            },
        );
        self
    }

    /// Adds a value to a key, making it multivalued when it already had one.
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        match self.entries.get_mut(&key.to_ascii_lowercase()) {
            Some(e) => {
                e.values.push(value.into());
                e.multivalued = true;
            }
            None => {
                self.insert(key, value);
            }
        }
        self
    }

    /// Looks a key up by its lowercase name.
    pub(crate) fn get_lower(&self, lower: &str) -> Option<&ContextEntry> {
        self.entries.get(lower)
    }

    /// Looks a key up, case-insensitively.
    pub fn get(&self, key: &str) -> Option<&ContextEntry> {
        self.entries.get(&key.to_ascii_lowercase())
    }

    /// Whether the context has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of a single-valued key, as policy variables read it.
    pub(crate) fn variable(&self, lower: &str) -> Option<&str> {
        match self.entries.get(lower) {
            Some(e) if !e.multivalued && e.values.len() == 1 => Some(&e.values[0]),
            _ => None,
        }
    }
}

/// An authorization question.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) principal: Option<RequestPrincipal>,
    pub(crate) action: String,
    pub(crate) action_lower: String,
    pub(crate) resource: Option<String>,
    pub(crate) context: Context,
}

impl Request {
    /// A request for `action` (`service:Name`), with no resource, principal or context.
    pub fn new(action: &str) -> Self {
        Request {
            principal: None,
            action: action.to_owned(),
            action_lower: action.to_ascii_lowercase(),
            resource: None,
            context: Context::new(),
        }
    }

    /// Sets the resource ARN.
    pub fn with_resource(mut self, arn: impl Into<String>) -> Self {
        self.resource = Some(arn.into());
        self
    }

    /// Sets the caller.
    pub fn with_principal(mut self, p: RequestPrincipal) -> Self {
        self.principal = Some(p);
        self
    }

    /// Sets the context.
    pub fn with_context(mut self, c: Context) -> Self {
        self.context = c;
        self
    }

    /// The context, for adding keys.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }

    /// The action as given.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The resource, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The caller, if any.
    pub fn principal(&self) -> Option<&RequestPrincipal> {
        self.principal.as_ref()
    }

    /// The context.
    pub fn context(&self) -> &Context {
        &self.context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_kinds() {
        let k = |s: &str| RequestPrincipal::parse(s).kind;
        assert_eq!(k("123456789012"), PrincipalKind::Account);
        assert_eq!(k("arn:aws:iam::123456789012:root"), PrincipalKind::Account);
        assert_eq!(k("arn:aws:iam::123456789012:user/a/b"), PrincipalKind::User);
        assert_eq!(k("arn:aws:iam::123456789012:role/r"), PrincipalKind::Role);
        assert_eq!(
            k("arn:aws:sts::123456789012:federated-user/u"),
            PrincipalKind::FederatedUser
        );
        assert_eq!(
            k("arn:aws:iam::123456789012:oidc-provider/oidc.example.com"),
            PrincipalKind::Federated
        );
        assert_eq!(k("accounts.google.com"), PrincipalKind::Federated);
        assert_eq!(k("cognito-identity.amazonaws.com"), PrincipalKind::Federated);
        assert_eq!(k("ec2.amazonaws.com"), PrincipalKind::Service);
        assert_eq!(k("*"), PrincipalKind::Anonymous);
        assert_eq!(k("CanonicalUser:abc"), PrincipalKind::CanonicalUser);
        let s = RequestPrincipal::parse("arn:aws:sts::123456789012:assumed-role/kf-user/sess");
        assert_eq!(s.kind, PrincipalKind::AssumedRole);
        assert_eq!(s.role_name.as_deref(), Some("kf-user"));
        assert_eq!(s.account.as_deref(), Some("123456789012"));
    }

    #[test]
    fn context_is_case_insensitive() {
        let mut c = Context::new();
        c.insert("aws:UserName", "alice");
        assert_eq!(
            c.get("AWS:username").map(|e| e.values.clone()),
            Some(vec!["alice".to_owned()])
        );
        c.push("aws:username", "bob");
        assert!(c.get("aws:username").is_some_and(|e| e.multivalued));
    }
}
