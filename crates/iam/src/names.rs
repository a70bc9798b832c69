//! Names, paths, ARNs and tags as IAM accepts them.

use irsa_aws_query::{AwsError, ErrorCode};

/// `[\w+=,.@-]`: the characters of role, policy and session names.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// A path: `/` or `/seg/.../` with characters U+0021..=U+007E, at most 512.
pub fn valid_path(p: &str) -> bool {
    p == "/"
        || (p.len() >= 2
            && p.len() <= 512
            && p.starts_with('/')
            && p.ends_with('/')
            && p.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)))
}

/// An ARN split into its six parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// `iam`, `sts`.
    pub service: &'a str,
    /// Region, empty for IAM.
    pub region: &'a str,
    /// 12-digit account, empty for AWS-managed policies (`aws`).
    pub account: &'a str,
    /// The resource part: `role/path/name`.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits an ARN; `None` when it is not `arn:P:S:R:A:resource`.
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        (!arn.partition.is_empty() && !arn.service.is_empty() && !arn.resource.is_empty()).then_some(arn)
    }
}

/// A role ARN's account, path and name: `arn:aws:iam::123456789012:role/path/name`.
pub fn parse_role_arn(arn: &str) -> Option<(String, String, String)> {
    let a = Arn::parse(arn)?;
    if a.service != "iam" || !a.region.is_empty() || !is_account(a.account) {
        return None;
    }
    let rest = a.resource.strip_prefix("role/")?;
    let (path, name) = match rest.rfind('/') {
        Some(i) => (format!("/{}", &rest[..=i]), &rest[i + 1..]),
        None => ("/".to_owned(), rest),
    };
    (!name.is_empty() && name.len() <= 64 && name.chars().all(is_name_char) && valid_path(&path))
        .then(|| (a.account.to_owned(), path, name.to_owned()))
}

/// Whether `s` is a 12-digit account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:P:iam::A:role/path/name`.
pub fn role_arn(partition: &str, account: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role{path}{name}")
}

/// `arn:P:iam::A:policy/path/name`.
pub fn policy_arn(partition: &str, account: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy{path}{name}")
}

/// `arn:P:iam::A:oidc-provider/host/path`.
pub fn oidc_provider_arn(partition: &str, account: &str, url_without_scheme: &str) -> String {
    format!("arn:{partition}:iam::{account}:oidc-provider/{url_without_scheme}")
}

/// `arn:P:sts::A:assumed-role/name/session`: the role's path is dropped, as AWS does.
pub fn assumed_role_arn(partition: &str, account: &str, role_name: &str, session: &str) -> String {
    format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}")
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    /// 1-128 characters.
    #[serde(rename = "Key")]
    pub key: String,
    /// 0-256 characters.
    #[serde(rename = "Value")]
    pub value: String,
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// Removes the tags with these keys (compared case-insensitively, as IAM
/// compares tag keys); whether any was removed.
pub fn remove_tags(tags: &mut Vec<Tag>, keys: &[String]) -> bool {
    let before = tags.len();
    tags.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
    tags.len() != before
}

/// The most tags an IAM entity may carry.
pub const MAX_TAGS: usize = 50;

/// Checks tags as IAM does and merges `new` into `existing` (a key already
/// present, compared case-insensitively, gets the new value).
pub fn merge_tags(existing: &[Tag], new: &[(&str, &str)]) -> Result<Vec<Tag>, AwsError> {
    let invalid = |m: String| AwsError::new(ErrorCode::InvalidInput, m);
    let mut seen = std::collections::HashSet::new();
    for (k, v) in new {
        if k.is_empty() || k.chars().count() > 128 || !k.chars().all(tag_char) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{k}' at 'tags.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]+"
            )));
        }
        if v.chars().count() > 256 || !v.chars().all(tag_char) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{v}' at 'tags.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*"
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!("the tag key `{k}` uses the reserved prefix `aws:`")));
        }
        if !seen.insert(k.to_lowercase()) {
            return Err(invalid(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".to_owned(),
            ));
        }
    }
    let mut out: Vec<Tag> = existing.to_vec();
    for (k, v) in new {
        match out.iter_mut().find(|t| t.key.eq_ignore_ascii_case(k)) {
            Some(t) => {
                t.key = (*k).to_owned();
                t.value = (*v).to_owned();
            }
            None => out.push(Tag {
                key: (*k).to_owned(),
                value: (*v).to_owned(),
            }),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(AwsError::new(
            ErrorCode::LimitExceeded,
            format!("The number of tags has reached the maximum limit of {MAX_TAGS}."),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::111122223333:role/kf/admin/kf-admin-c1"),
            Some(("111122223333".into(), "/kf/admin/".into(), "kf-admin-c1".into()))
        );
        assert_eq!(
            parse_role_arn("arn:aws-cn:iam::111122223333:role/r"),
            Some(("111122223333".into(), "/".into(), "r".into()))
        );
        for bad in [
            "arn:aws:iam::11112222333:role/r",
            "arn:aws:sts::111122223333:role/r",
            "arn:aws:iam::111122223333:user/r",
            "arn:aws:iam::111122223333:role/",
            "nothing-valid-in-here",
            "arn::b:::something/test-role",
            "arn:aws:iam::111122223333:role/a:b",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
        assert_eq!(
            role_arn("aws", "111122223333", "/kf/", "r"),
            "arn:aws:iam::111122223333:role/kf/r"
        );
    }

    #[test]
    fn paths() {
        assert!(valid_path("/"));
        assert!(valid_path("/a/b/"));
        assert!(!valid_path("a/"));
        assert!(!valid_path("/a"));
        assert!(!valid_path("/a b/"));
    }

    #[test]
    fn tags_merge_case_insensitively() {
        let t = merge_tags(&[], &[("Team", "ml")]).unwrap();
        let t = merge_tags(&t, &[("team", "data"), ("env", "")]).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].key.as_str(), t[0].value.as_str()), ("team", "data"));
        assert!(merge_tags(&[], &[("a", "1"), ("A", "2")]).is_err());
        assert!(merge_tags(&[], &[("aws:x", "1")]).is_err());
        assert!(merge_tags(&[], &[("bad#key", "1")]).is_err());
        let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(merge_tags(&[], &refs).unwrap_err().code, ErrorCode::LimitExceeded);
    }
}
