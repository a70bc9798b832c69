//! IAM entities as stored and as IAM writes them in XML.

use crate::names::Tag;
use irsa_aws_query::{XmlWriter, iso8601, url_encode_policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default and bounds of a role's `MaxSessionDuration`.
pub const DEFAULT_MAX_SESSION_DURATION: i64 = 3600;

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// 1-64 characters; unique per account, case-insensitively.
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// `AROA…`, 21 characters.
    pub id: String,
    /// The role's ARN.
    pub arn: String,
    /// Seconds since the epoch.
    pub create_date: i64,
    /// The trust policy as given (IAM returns documents as submitted, URL-encoded).
    pub assume_role_policy: String,
    /// Free text, at most 1,000 characters.
    pub description: Option<String>,
    /// 3,600 to 43,200 seconds.
    pub max_session_duration: i64,
    /// The permissions boundary's managed policy ARN.
    pub permissions_boundary: Option<String>,
    /// Tags, in the order they were added.
    pub tags: Vec<Tag>,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, String>,
    /// Attached managed policy ARNs, in attachment order.
    pub attached_policies: Vec<String>,
    /// Trust granted before this time no longer counts: sessions issued
    /// earlier are refused (the revoke-older-sessions pattern).
    #[serde(default)]
    pub sessions_revoked_before: Option<i64>,
}

impl Role {
    /// Writes the `<Role>` content (without the enclosing element).
    pub fn write_xml(&self, w: &mut XmlWriter) {
        w.element("Path", &self.path)
            .element("RoleName", &self.name)
            .element("RoleId", &self.id)
            .element("Arn", &self.arn)
            .element("CreateDate", &iso8601(self.create_date))
            .element("AssumeRolePolicyDocument", &url_encode_policy(&self.assume_role_policy))
            .opt("Description", self.description.as_deref())
            .element("MaxSessionDuration", &self.max_session_duration.to_string());
        if let Some(b) = &self.permissions_boundary {
            w.start("PermissionsBoundary")
                .element("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
                .element("PermissionsBoundaryArn", b)
                .end();
        }
        if !self.tags.is_empty() {
            write_tags(w, &self.tags);
        }
        w.start("RoleLastUsed").end();
    }

    /// The `<Role>` content for `ListRoles`, which leaves out tags, boundary
    /// and last use, as IAM does.
    pub fn write_list_xml(&self, w: &mut XmlWriter) {
        w.element("Path", &self.path)
            .element("RoleName", &self.name)
            .element("RoleId", &self.id)
            .element("Arn", &self.arn)
            .element("CreateDate", &iso8601(self.create_date))
            .element("AssumeRolePolicyDocument", &url_encode_policy(&self.assume_role_policy))
            .opt("Description", self.description.as_deref())
            .element("MaxSessionDuration", &self.max_session_duration.to_string());
    }
}

/// Writes `<Tags><member><Key/><Value/></member>...</Tags>`.
pub fn write_tags(w: &mut XmlWriter, tags: &[Tag]) {
    w.list("Tags", tags, |w, t| {
        w.element("Key", &t.key).element("Value", &t.value);
    });
}

/// An IAM OIDC identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The issuer URL without `https://` (the ARN's resource after `oidc-provider/`).
    pub url: String,
    /// The provider's ARN.
    pub arn: String,
    /// Audiences accepted in tokens (at most 100).
    pub client_ids: Vec<String>,
    /// SHA-1 thumbprints of the issuer's top intermediate CA (at most 5).
    pub thumbprints: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Seconds since the epoch.
    pub create_date: i64,
}

impl OidcProvider {
    /// Writes the `GetOpenIDConnectProvider` result content.
    pub fn write_xml(&self, w: &mut XmlWriter) {
        w.element("Url", &self.url);
        w.list("ClientIDList", &self.client_ids, |w, c| {
            w.text(c);
        });
        w.list("ThumbprintList", &self.thumbprints, |w, t| {
            w.text(t);
        });
        w.element("CreateDate", &iso8601(self.create_date));
        write_tags(w, &self.tags);
    }
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `v1`, `v2`, ...
    pub id: String,
    /// The document as given.
    pub document: String,
    /// Seconds since the epoch.
    pub create_date: i64,
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    /// 1-128 characters.
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// `ANPA…`.
    pub id: String,
    /// The policy's ARN.
    pub arn: String,
    /// Free text.
    pub description: Option<String>,
    /// The version in force.
    pub default_version: String,
    /// At most five versions, oldest first.
    pub versions: Vec<PolicyVersion>,
    /// The number the next version gets.
    pub next_version: u32,
    /// How many roles have it attached (or as a permissions boundary).
    pub attachment_count: u32,
    /// How many roles use it as their permissions boundary.
    pub boundary_usage_count: u32,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Seconds since the epoch.
    pub create_date: i64,
    /// Seconds since the epoch: last version change.
    pub update_date: i64,
}

impl ManagedPolicy {
    /// The document of the default version.
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
    }

    /// Writes the `<Policy>` content.
    pub fn write_xml(&self, w: &mut XmlWriter) {
        w.element("PolicyName", &self.name)
            .element("PolicyId", &self.id)
            .element("Arn", &self.arn)
            .element("Path", &self.path)
            .element("DefaultVersionId", &self.default_version)
            .element("AttachmentCount", &self.attachment_count.to_string())
            .element("PermissionsBoundaryUsageCount", &self.boundary_usage_count.to_string())
            .element("IsAttachable", "true")
            .opt("Description", self.description.as_deref())
            .element("CreateDate", &iso8601(self.create_date))
            .element("UpdateDate", &iso8601(self.update_date));
        if !self.tags.is_empty() {
            write_tags(w, &self.tags);
        }
    }
}

impl ManagedPolicy {
    /// The `<member>` content for `ListPolicies`, which leaves out the
    /// description and tags, as IAM does.
    pub fn write_list_xml(&self, w: &mut XmlWriter) {
        w.element("PolicyName", &self.name)
            .element("PolicyId", &self.id)
            .element("Arn", &self.arn)
            .element("Path", &self.path)
            .element("DefaultVersionId", &self.default_version)
            .element("AttachmentCount", &self.attachment_count.to_string())
            .element("PermissionsBoundaryUsageCount", &self.boundary_usage_count.to_string())
            .element("IsAttachable", "true")
            .element("CreateDate", &iso8601(self.create_date))
            .element("UpdateDate", &iso8601(self.update_date));
    }
}

impl PolicyVersion {
    /// Writes the `<PolicyVersion>` content.
    pub fn write_xml(&self, w: &mut XmlWriter, is_default: bool, with_document: bool) {
        if with_document {
            w.element("Document", &url_encode_policy(&self.document));
        }
        w.element("VersionId", &self.id)
            .element("IsDefaultVersion", if is_default { "true" } else { "false" })
            .element("CreateDate", &iso8601(self.create_date));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_xml_is_what_sdks_parse() {
        let role = Role {
            name: "kf-user".into(),
            path: "/".into(),
            id: "AROAEXAMPLEEXAMPLE123".into(),
            arn: "arn:aws:iam::111122223333:role/kf-user".into(),
            create_date: 1_700_000_000,
            assume_role_policy: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
            description: Some("users & <friends>".into()),
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: vec![Tag {
                key: "team".into(),
                value: "ml".into(),
            }],
            inline_policies: BTreeMap::new(),
            attached_policies: vec![],
            sessions_revoked_before: None,
        };
        let mut w = XmlWriter::new();
        w.start("Role");
        role.write_xml(&mut w);
        w.end();
        assert_eq!(
            w.finish(),
            "<Role><Path>/</Path><RoleName>kf-user</RoleName><RoleId>AROAEXAMPLEEXAMPLE123</RoleId>\
             <Arn>arn:aws:iam::111122223333:role/kf-user</Arn><CreateDate>2023-11-14T22:13:20Z</CreateDate>\
             <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D</AssumeRolePolicyDocument>\
             <Description>users &amp; &lt;friends&gt;</Description><MaxSessionDuration>3600</MaxSessionDuration>\
             <Tags><member><Key>team</Key><Value>ml</Value></member></Tags><RoleLastUsed></RoleLastUsed></Role>"
        );
    }
}
