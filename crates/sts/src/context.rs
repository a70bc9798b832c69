//! Request contexts for the policy engine: the keys AWS sets for a web identity call, for a
//! role session's requests, and the global keys of every request.

use crate::session::SessionClaims;
use irsa_aws_query::iso8601;
use irsa_iam::Tag;
use irsa_oidc::Claims;
use irsa_policy::Context;
use serde_json::Value;
use std::net::IpAddr;

/// Facts about the HTTP request that policies can test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `aws:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`: whether the request came over TLS.
    pub secure_transport: bool,
    /// `aws:UserAgent`.
    pub user_agent: Option<String>,
    /// `aws:RequestedRegion`: the region the request was sent to (signed for).
    pub region: String,
}

/// The condition-key prefix of an issuer: its URL without `https://` (trailing slash kept).
pub fn issuer_prefix(issuer: &str) -> &str {
    issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer)
}

/// The global keys: `aws:CurrentTime`, `aws:EpochTime`, `aws:SourceIp`, `aws:SecureTransport`,
/// `aws:UserAgent`, `aws:RequestedRegion`.
pub fn add_global_keys(ctx: &mut Context, info: &RequestInfo, now: i64) {
    ctx.insert("aws:CurrentTime", iso8601(now));
    ctx.insert("aws:EpochTime", now.to_string());
    if let Some(ip) = info.source_ip {
        ctx.insert("aws:SourceIp", ip.to_string());
    }
    ctx.insert(
        "aws:SecureTransport",
        if info.secure_transport { "true" } else { "false" },
    );
    if let Some(ua) = &info.user_agent {
        ctx.insert("aws:UserAgent", ua.clone());
    }
    if !info.region.is_empty() {
        ctx.insert("aws:RequestedRegion", info.region.clone());
    }
}

/// Session tags and source identity a web identity token asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSessionData {
    /// From `https://aws.amazon.com/tags` → `principal_tags`.
    pub tags: Vec<Tag>,
    /// From `https://aws.amazon.com/tags` → `transitive_tag_keys`.
    pub transitive_tag_keys: Vec<String>,
    /// Whether the token carried the tags claim at all (then `sts:TagSession` is evaluated).
    pub has_tags_claim: bool,
    /// From `https://aws.amazon.com/source_identity`.
    pub source_identity: Option<String>,
}

/// The claim holding session tags.
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// The claim holding the source identity.
pub const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

fn tag_key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.chars().count() <= 128
        && k.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
        && !k.to_ascii_lowercase().starts_with("aws:")
}

fn tag_value_ok(v: &str) -> bool {
    v.chars().count() <= 256
        && v.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

/// Checks session tags as STS does: at most 50, key and value patterns, no `aws:` prefix, keys
/// unique case-insensitively; transitive keys must name tags. Returns the message on failure.
pub fn check_tags(tags: &[Tag], transitive: &[String]) -> Result<(), String> {
    if tags.len() > 50 {
        return Err(format!(
            "{} session tags were given; at most 50 are allowed",
            tags.len()
        ));
    }
    for (i, t) in tags.iter().enumerate() {
        if !tag_key_ok(&t.key) {
            return Err(format!("session tag key '{}' is not valid", t.key));
        }
        if !tag_value_ok(&t.value) {
            return Err(format!("the value of session tag '{}' is not valid", t.key));
        }
        if tags[..i].iter().any(|o| o.key.eq_ignore_ascii_case(&t.key)) {
            return Err("Duplicate tag keys found. Please note that Tag keys are case insensitive.".to_owned());
        }
    }
    for k in transitive {
        if !tags.iter().any(|t| t.key.eq_ignore_ascii_case(k)) {
            return Err("The specified transitive tag key must be included in the requested tags.".to_owned());
        }
    }
    Ok(())
}

/// Reads the session tags and source identity claims of a verified token.
pub fn token_session_data(claims: &Claims) -> Result<TokenSessionData, String> {
    let mut out = TokenSessionData::default();
    if let Some(v) = claims.get(TAGS_CLAIM) {
        out.has_tags_claim = true;
        let Value::Object(obj) = v else {
            return Err(format!("the `{TAGS_CLAIM}` claim must be an object"));
        };
        if let Some(pt) = obj.get("principal_tags") {
            let Value::Object(pt) = pt else {
                return Err("`principal_tags` must be an object".to_owned());
            };
            for (k, v) in pt {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) if a.len() == 1 => match &a[0] {
                        Value::String(s) => s.clone(),
                        _ => return Err(format!("the value of session tag '{k}' must be a string")),
                    },
                    _ => {
                        return Err(format!(
                            "session tag '{k}' must have exactly one value: STS does not support multi-valued session tags"
                        ));
                    }
                };
                out.tags.push(Tag { key: k.clone(), value });
            }
        }
        if let Some(tk) = obj.get("transitive_tag_keys") {
            let Value::Array(a) = tk else {
                return Err("`transitive_tag_keys` must be an array of strings".to_owned());
            };
            for k in a {
                let Value::String(s) = k else {
                    return Err("`transitive_tag_keys` must be an array of strings".to_owned());
                };
                out.transitive_tag_keys.push(s.clone());
            }
        }
        check_tags(&out.tags, &out.transitive_tag_keys)?;
    }
    if let Some(v) = claims.get(SOURCE_IDENTITY_CLAIM) {
        let Value::String(s) = v else {
            return Err(format!("the `{SOURCE_IDENTITY_CLAIM}` claim must be a string"));
        };
        if !source_identity_ok(&s) {
            return Err(format!(
                "the source identity must be 2 to 64 characters matching [\\w+=,.@-]*, not '{}'",
                irsa_oidc::error::sanitize(&s)
            ));
        }
        out.source_identity = Some(s);
    }
    Ok(out)
}

/// `SourceIdentity`: 2–64 characters of `[\w+=,.@-]`.
pub fn source_identity_ok(s: &str) -> bool {
    (2..=64).contains(&s.chars().count()) && s.chars().all(irsa_iam::names::is_name_char)
}

fn strings(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a
            .into_iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What `AssumeRoleWithWebIdentity` asks of a role's trust policy, besides the globals.
pub struct WebIdentityRequest<'a> {
    /// The verified token's claims.
    pub claims: &'a Claims,
    /// The audience that matched the provider's client ids.
    pub audience: &'a str,
    /// The IAM OIDC provider ARN.
    pub provider_arn: &'a str,
    /// `RoleSessionName`.
    pub session_name: &'a str,
    /// Tags and source identity from the token.
    pub session: &'a TokenSessionData,
}

/// The trust-policy context of `AssumeRoleWithWebIdentity`: `<issuer>:sub`, `<issuer>:aud`
/// (the matched audience), `<issuer>:amr` (multivalued), `<issuer>:azp`,
/// `aws:FederatedProvider` (the provider ARN), `sts:RoleSessionName`, the session tags as
/// `aws:RequestTag/…`, `aws:TagKeys` and `sts:TransitiveTagKeys`, `sts:SourceIdentity`, and
/// the global keys.
pub fn web_identity_context(req: &WebIdentityRequest<'_>, info: &RequestInfo, now: i64) -> Context {
    let mut ctx = Context::new();
    let prefix = issuer_prefix(&req.claims.iss);
    if let Some(sub) = &req.claims.sub {
        ctx.insert(&format!("{prefix}:sub"), sub.clone());
    }
    ctx.insert(&format!("{prefix}:aud"), req.audience);
    let amr = strings(req.claims.get("amr"));
    if !amr.is_empty() {
        ctx.insert_multi(&format!("{prefix}:amr"), amr);
    }
    if let Some(Value::String(azp)) = req.claims.get("azp") {
        ctx.insert(&format!("{prefix}:azp"), azp);
    }
    ctx.insert("aws:FederatedProvider", req.provider_arn);
    ctx.insert("sts:RoleSessionName", req.session_name);
    add_request_tags(&mut ctx, &req.session.tags, &req.session.transitive_tag_keys);
    if let Some(si) = &req.session.source_identity {
        ctx.insert("sts:SourceIdentity", si.clone());
    }
    add_global_keys(&mut ctx, info, now);
    ctx
}

/// `aws:RequestTag/<key>`, `aws:TagKeys` and `sts:TransitiveTagKeys` for tags being set.
pub fn add_request_tags(ctx: &mut Context, tags: &[Tag], transitive: &[String]) {
    if tags.is_empty() {
        return;
    }
    for t in tags {
        ctx.insert(&format!("aws:RequestTag/{}", t.key), t.value.clone());
    }
    ctx.insert_multi("aws:TagKeys", tags.iter().map(|t| t.key.clone()));
    if !transitive.is_empty() {
        ctx.insert_multi("sts:TransitiveTagKeys", transitive.iter().cloned());
    }
}

/// The keys of a role session's requests: `aws:PrincipalArn` (the role ARN), `aws:userid`,
/// `aws:PrincipalType` (`AssumedRole`), `aws:PrincipalAccount`, `aws:PrincipalTag/…` (role
/// tags overridden by session tags, case-insensitively), `aws:TokenIssueTime`,
/// `aws:FederatedProvider`, `aws:SourceIdentity`, the web identity keys that survive into the
/// session (`<issuer>:sub`, `:aud`, `:amr`), and the global keys.
pub fn session_context(s: &SessionClaims, role_tags: &[Tag], info: &RequestInfo, now: i64) -> Context {
    let mut ctx = Context::new();
    ctx.insert("aws:PrincipalArn", s.role_arn.clone());
    ctx.insert("aws:userid", s.user_id());
    ctx.insert("aws:PrincipalType", "AssumedRole");
    ctx.insert("aws:PrincipalAccount", s.account.clone());
    for t in role_tags {
        if s.tag(&t.key).is_none() {
            ctx.insert(&format!("aws:PrincipalTag/{}", t.key), t.value.clone());
        }
    }
    for t in &s.tags {
        ctx.insert(&format!("aws:PrincipalTag/{}", t.key), t.value.clone());
    }
    ctx.insert("aws:TokenIssueTime", iso8601(s.issued));
    if let Some(p) = &s.provider {
        ctx.insert("aws:FederatedProvider", p.clone());
    }
    if let Some(si) = &s.source_identity {
        ctx.insert("aws:SourceIdentity", si.clone());
    }
    if let Some(iss) = &s.issuer {
        let prefix = issuer_prefix(iss);
        if let Some(sub) = &s.subject {
            ctx.insert(&format!("{prefix}:sub"), sub.clone());
        }
        if let Some(aud) = &s.audience {
            ctx.insert(&format!("{prefix}:aud"), aud.clone());
        }
        if !s.amr.is_empty() {
            ctx.insert_multi(&format!("{prefix}:amr"), s.amr.iter().cloned());
        }
    }
    add_global_keys(&mut ctx, info, now);
    ctx
}

/// The `amr` values of a token (string or list).
pub fn amr_values(claims: &Claims) -> Vec<String> {
    strings(claims.get("amr"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use irsa_oidc::{Curve, KeySpec, SigningKey};

    fn claims(json: serde_json::Value) -> Claims {
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256)).unwrap();
        let token = irsa_oidc::token::sign_claims(&key, &json).unwrap();
        irsa_oidc::token::decode(&token, 20_000).unwrap().claims
    }

    fn info() -> RequestInfo {
        RequestInfo {
            source_ip: Some("192.0.2.1".parse().unwrap()),
            secure_transport: true,
            user_agent: Some("boto3".into()),
            region: "eu-west-1".into(),
        }
    }

    fn values(ctx: &Context, key: &str) -> Option<(Vec<String>, bool)> {
        ctx.get(key).map(|e| (e.values.clone(), e.multivalued))
    }

    fn one(v: &str) -> Option<(Vec<String>, bool)> {
        Some((vec![v.to_owned()], false))
    }

    #[test]
    fn web_identity_keys() {
        let c = claims(serde_json::json!({
            "iss": "https://oidc.example.com/id/ABC", "sub": "system:serviceaccount:team-a:default-editor",
            "aud": ["other", "sts.amazonaws.com"], "exp": 2_000_000_000, "amr": ["pwd", "mfa"], "azp": "client-1",
            "email": "a@example.com"
        }));
        let data = TokenSessionData {
            tags: vec![Tag {
                key: "team".into(),
                value: "a".into(),
            }],
            transitive_tag_keys: vec!["team".into()],
            has_tags_claim: true,
            source_identity: Some("alice".into()),
        };
        let req = WebIdentityRequest {
            claims: &c,
            audience: "sts.amazonaws.com",
            provider_arn: "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/id/ABC",
            session_name: "s1",
            session: &data,
        };
        let ctx = web_identity_context(&req, &info(), 1_700_000_000);
        let p = "oidc.example.com/id/ABC";
        assert_eq!(
            values(&ctx, &format!("{p}:sub")),
            one("system:serviceaccount:team-a:default-editor")
        );
        // The matched audience, single-valued.
        assert_eq!(values(&ctx, &format!("{p}:aud")), one("sts.amazonaws.com"));
        assert_eq!(
            values(&ctx, &format!("{p}:amr")),
            Some((vec!["pwd".into(), "mfa".into()], true))
        );
        assert_eq!(values(&ctx, &format!("{p}:azp")), one("client-1"));
        // Other claims are not condition keys; iss is not one either.
        assert!(ctx.get(&format!("{p}:email")).is_none());
        assert!(ctx.get(&format!("{p}:iss")).is_none());
        assert_eq!(
            values(&ctx, "aws:FederatedProvider"),
            one("arn:aws:iam::111122223333:oidc-provider/oidc.example.com/id/ABC")
        );
        assert_eq!(values(&ctx, "sts:RoleSessionName"), one("s1"));
        assert_eq!(values(&ctx, "aws:RequestTag/team"), one("a"));
        assert_eq!(values(&ctx, "aws:TagKeys"), Some((vec!["team".into()], true)));
        assert_eq!(values(&ctx, "sts:TransitiveTagKeys"), Some((vec!["team".into()], true)));
        assert_eq!(values(&ctx, "sts:SourceIdentity"), one("alice"));
        assert_eq!(values(&ctx, "aws:CurrentTime"), one("2023-11-14T22:13:20Z"));
        assert_eq!(values(&ctx, "aws:EpochTime"), one("1700000000"));
        assert_eq!(values(&ctx, "aws:SourceIp"), one("192.0.2.1"));
        assert_eq!(values(&ctx, "aws:SecureTransport"), one("true"));
        assert_eq!(values(&ctx, "aws:UserAgent"), one("boto3"));
        assert_eq!(values(&ctx, "aws:RequestedRegion"), one("eu-west-1"));
    }

    #[test]
    fn issuer_prefix_keeps_the_trailing_slash() {
        assert_eq!(issuer_prefix("https://tenant.auth0.com/"), "tenant.auth0.com/");
        assert_eq!(issuer_prefix("http://127.0.0.1:8080/x"), "127.0.0.1:8080/x");
    }

    #[test]
    fn session_keys_override_role_tags_case_insensitively() {
        let s = SessionClaims {
            role_arn: "arn:aws:iam::111122223333:role/kf/r".into(),
            role_id: "AROAEXAMPLEEXAMPLE123".into(),
            role_name: "r".into(),
            session_name: "s".into(),
            account: "111122223333".into(),
            partition: "aws".into(),
            issued: 1_700_000_000,
            expires: 1_700_003_600,
            secret_access_key: "x".into(),
            provider: Some("arn:aws:iam::111122223333:oidc-provider/o.example.com".into()),
            issuer: Some("https://o.example.com".into()),
            subject: Some("sub-1".into()),
            audience: Some("sts.amazonaws.com".into()),
            amr: vec![],
            session_policy: None,
            policy_arns: vec![],
            tags: vec![Tag {
                key: "Team".into(),
                value: "session".into(),
            }],
            transitive_tag_keys: vec![],
            source_identity: Some("alice".into()),
            chained: false,
        };
        let role_tags = vec![
            Tag {
                key: "team".into(),
                value: "role".into(),
            },
            Tag {
                key: "cost".into(),
                value: "ml".into(),
            },
        ];
        let ctx = session_context(&s, &role_tags, &RequestInfo::default(), 1_700_000_100);
        assert_eq!(values(&ctx, "aws:PrincipalTag/team"), one("session"));
        assert_eq!(values(&ctx, "aws:PrincipalTag/cost"), one("ml"));
        assert_eq!(
            values(&ctx, "aws:PrincipalArn"),
            one("arn:aws:iam::111122223333:role/kf/r")
        );
        assert_eq!(values(&ctx, "aws:userid"), one("AROAEXAMPLEEXAMPLE123:s"));
        assert_eq!(values(&ctx, "aws:PrincipalType"), one("AssumedRole"));
        assert_eq!(values(&ctx, "aws:TokenIssueTime"), one("2023-11-14T22:13:20Z"));
        assert_eq!(values(&ctx, "aws:SourceIdentity"), one("alice"));
        assert_eq!(values(&ctx, "o.example.com:sub"), one("sub-1"));
        assert_eq!(values(&ctx, "aws:SecureTransport"), one("false"));
        assert!(ctx.get("aws:SourceIp").is_none());
        assert!(ctx.get("aws:username").is_none());
    }

    #[test]
    fn token_tags_follow_aws_rules() {
        let base = |extra: serde_json::Value| {
            let mut v =
                serde_json::json!({"iss": "https://o.example.com", "sub": "s", "aud": "a", "exp": 2_000_000_000});
            if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            token_session_data(&claims(v))
        };
        let ok = base(serde_json::json!({TAGS_CLAIM: {"principal_tags": {"team": ["a"], "env": "dev"}, "transitive_tag_keys": ["team"]}, SOURCE_IDENTITY_CLAIM: "alice"})).unwrap();
        assert!(ok.has_tags_claim);
        assert_eq!(ok.tags.len(), 2);
        assert_eq!(ok.transitive_tag_keys, vec!["team".to_owned()]);
        assert_eq!(ok.source_identity.as_deref(), Some("alice"));
        let none = base(serde_json::json!({})).unwrap();
        assert_eq!(none, TokenSessionData::default());
        // Multi-valued tags, a transitive key without its tag, reserved prefix, bad source identity.
        assert!(base(serde_json::json!({TAGS_CLAIM: {"principal_tags": {"team": ["a", "b"]}}})).is_err());
        assert!(
            base(serde_json::json!({TAGS_CLAIM: {"principal_tags": {"team": ["a"]}, "transitive_tag_keys": ["env"]}}))
                .unwrap_err()
                .contains("must be included")
        );
        assert!(base(serde_json::json!({TAGS_CLAIM: {"principal_tags": {"aws:x": ["a"]}}})).is_err());
        assert!(base(serde_json::json!({TAGS_CLAIM: "team=a"})).is_err());
        assert!(base(serde_json::json!({SOURCE_IDENTITY_CLAIM: "a b"})).is_err());
        assert!(base(serde_json::json!({SOURCE_IDENTITY_CLAIM: 7})).is_err());
    }

    #[test]
    fn duplicate_tag_keys_differ_only_in_case() {
        let t = |k: &str| Tag {
            key: k.into(),
            value: "v".into(),
        };
        assert_eq!(
            check_tags(&[t("Team"), t("team")], &[]).unwrap_err(),
            "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        );
        assert!(check_tags(&[t("Team")], &["TEAM".into()]).is_ok());
        let many: Vec<Tag> = (0..51).map(|i| t(&format!("k{i}"))).collect();
        assert!(check_tags(&many, &[]).is_err());
    }
}
