//! What a session token carries, and who is calling.

use irsa_iam::Tag;
use irsa_iam::names::assumed_role_arn;
use serde::{Deserialize, Serialize};

/// Everything about a role session, sealed into its session token (so any replica holding the
/// key ring can authenticate and authorize the session without shared state).
///
/// It holds the session's secret access key: never log it (its `Debug` leaves the secret out).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The role's ARN (with its path).
    pub role_arn: String,
    /// The role's unique id (`AROA…`).
    pub role_id: String,
    /// The role's name.
    pub role_name: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// The account (12 digits).
    pub account: String,
    /// `aws`, `aws-cn`, ...
    pub partition: String,
    /// When the session was issued (`aws:TokenIssueTime`), seconds since the epoch.
    pub issued: i64,
    /// When its credentials expire, seconds since the epoch.
    pub expires: i64,
    /// The secret access key that signs the session's requests.
    pub secret_access_key: String,
    /// The IAM OIDC provider ARN of a web identity session (`aws:FederatedProvider`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The token's `iss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The token's `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The token's audience that matched the provider's client ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The token's `amr` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The inline session policy, as passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    /// Managed session policies, by ARN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    /// Session tags (`aws:PrincipalTag/…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// The keys of the tags that carry over to chained sessions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// `aws:SourceIdentity`, immutable across chained sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Whether the session was made by a role session calling `AssumeRole` (role chaining).
    #[serde(default)]
    pub chained: bool,
}

impl std::fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionClaims")
            .field("role_arn", &self.role_arn)
            .field("role_id", &self.role_id)
            .field("session_name", &self.session_name)
            .field("account", &self.account)
            .field("issued", &self.issued)
            .field("expires", &self.expires)
            .field("provider", &self.provider)
            .field("subject", &self.subject)
            .field("audience", &self.audience)
            .field("session_policy", &self.session_policy.is_some())
            .field("policy_arns", &self.policy_arns)
            .field("tags", &self.tags)
            .field("transitive_tag_keys", &self.transitive_tag_keys)
            .field("source_identity", &self.source_identity)
            .field("chained", &self.chained)
            .finish_non_exhaustive()
    }
}

impl SessionClaims {
    /// `arn:P:sts::A:assumed-role/<role name>/<session name>` (the role's path dropped).
    pub fn assumed_role_arn(&self) -> String {
        assumed_role_arn(&self.partition, &self.account, &self.role_name, &self.session_name)
    }

    /// `<RoleId>:<RoleSessionName>`: `AssumedRoleId`, `aws:userid`, `GetCallerIdentity`'s `UserId`.
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.role_id, self.session_name)
    }

    /// The session's tags with `key` (compared case-insensitively), if any.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key.eq_ignore_ascii_case(key))
            .map(|t| t.value.as_str())
    }
}

/// The authenticated caller of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The account's root access key.
    Root {
        /// The account.
        account: String,
        /// The `AKIA…` key that signed.
        access_key_id: String,
    },
    /// A role session (temporary `ASIA…` credentials).
    Session(Box<SessionClaims>),
}

impl Caller {
    /// The caller's ARN: `arn:P:iam::A:root` or the assumed-role ARN.
    pub fn arn(&self, partition: &str) -> String {
        match self {
            Caller::Root { account, .. } => format!("arn:{partition}:iam::{account}:root"),
            Caller::Session(s) => s.assumed_role_arn(),
        }
    }

    /// `GetCallerIdentity`'s `UserId`: the account for root, `RoleId:session` for a session.
    pub fn user_id(&self) -> String {
        match self {
            Caller::Root { account, .. } => account.clone(),
            Caller::Session(s) => s.user_id(),
        }
    }

    /// The caller's account.
    pub fn account(&self) -> &str {
        match self {
            Caller::Root { account, .. } => account,
            Caller::Session(s) => &s.account,
        }
    }
}
