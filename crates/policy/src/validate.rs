//! Validation by kind of policy, and size accounting as IAM counts it.

use crate::model::{Policy, PrincipalSpec};
use crate::parse::{Diagnostic, parse_document};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What a policy document is for; decides which elements are required or
/// prohibited and which size limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// A role's trust policy (`AssumeRolePolicyDocument`).
    Trust,
    /// An inline identity policy of a role (`PutRolePolicy`).
    Identity,
    /// A resource-based policy (bucket, key, queue...).
    Resource,
    /// A session policy passed to `AssumeRole*`.
    Session,
    /// A customer managed policy (`CreatePolicy`).
    Managed,
}

impl PolicyKind {
    /// The kind's name as the CLI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Trust => "trust",
            PolicyKind::Identity => "identity",
            PolicyKind::Resource => "resource",
            PolicyKind::Session => "session",
            PolicyKind::Managed => "managed",
        }
    }

    fn is_identity_like(self) -> bool {
        matches!(self, PolicyKind::Identity | PolicyKind::Session | PolicyKind::Managed)
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trust" => Ok(PolicyKind::Trust),
            "identity" | "inline" => Ok(PolicyKind::Identity),
            "resource" => Ok(PolicyKind::Resource),
            "session" => Ok(PolicyKind::Session),
            "managed" => Ok(PolicyKind::Managed),
            other => Err(format!(
                "unknown policy kind `{other}` (expected trust, identity, resource, session or managed)"
            )),
        }
    }
}

/// Size limits in characters, whitespace outside strings not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Role trust policy (`ACLSizePerRole`), 2,048 by default; AWS raises it on request.
    pub trust: usize,
    /// Customer managed policy (`PolicySize`), 6,144.
    pub managed: usize,
    /// Inline policies of a role, 10,240 (an aggregate per role in IAM).
    pub inline: usize,
    /// Session policy plaintext, 2,048.
    pub session: usize,
    /// Resource policies: no IAM quota; the wire limit of 131,072.
    pub resource: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            trust: 2048,
            managed: 6144,
            inline: 10240,
            session: 2048,
            resource: 131_072,
        }
    }
}

impl Limits {
    /// The limit for a kind of policy.
    pub fn for_kind(&self, kind: PolicyKind) -> usize {
        match kind {
            PolicyKind::Trust => self.trust,
            PolicyKind::Identity => self.inline,
            PolicyKind::Resource => self.resource,
            PolicyKind::Session => self.session,
            PolicyKind::Managed => self.managed,
        }
    }
}

/// The size IAM charges a document: every character except whitespace
/// outside strings.
pub fn policy_size(text: &str) -> usize {
    let mut n = 0;
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            n += 1;
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            n += 1;
            if c == '"' {
                in_string = true;
            }
        }
    }
    n
}

/// The result of validating a document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether the document is acceptable (errors is empty).
    pub valid: bool,
    /// Problems AWS would reject the document for.
    pub errors: Vec<Diagnostic>,
    /// Legal but likely mistaken constructs.
    pub warnings: Vec<Diagnostic>,
    /// The size IAM counts.
    pub size: usize,
    /// The limit that applied.
    pub limit: usize,
    /// The parsed policy, when valid.
    #[serde(skip)]
    pub policy: Option<Policy>,
}

const SID_HINT: &str = "IAM accepts only A-Z, a-z and 0-9 in a Sid";

/// Validates a document as a policy of `kind`.
pub fn validate(text: &str, kind: PolicyKind, limits: &Limits) -> Report {
    let parsed = parse_document(text);
    let mut errors = parsed.errors;
    let mut warnings = parsed.warnings;
    let size = policy_size(text);
    let limit = limits.for_kind(kind);
    if let Some(p) = &parsed.policy {
        kind_checks(p, kind, &mut errors, &mut warnings);
    }
    if size > limit {
        errors.push(Diagnostic {
            pointer: String::new(),
            message: size_message(kind, size, limit),
        });
    }
    Report {
        valid: errors.is_empty(),
        policy: if errors.is_empty() { parsed.policy } else { None },
        errors,
        warnings,
        size,
        limit,
    }
}

pub(crate) fn size_message(kind: PolicyKind, size: usize, limit: usize) -> String {
    let quota = match kind {
        PolicyKind::Trust => "ACLSizePerRole",
        PolicyKind::Managed => "PolicySize",
        PolicyKind::Identity => "RolePolicySize",
        PolicyKind::Session => "session policy size",
        PolicyKind::Resource => "policy document size",
    };
    format!(
        "policy size {size} exceeds the {limit}-character limit for {kind} policies by {} (quota {quota}; whitespace outside strings is not counted)",
        size - limit
    )
}

fn statement_ptr(p: &Policy, i: usize) -> String {
    if p.statement_is_list {
        format!("/Statement/{i}")
    } else {
        "/Statement".to_owned()
    }
}

fn kind_checks(p: &Policy, kind: PolicyKind, errors: &mut Vec<Diagnostic>, warnings: &mut Vec<Diagnostic>) {
    let mut err = |ptr: String, msg: String| {
        errors.push(Diagnostic {
            pointer: ptr,
            message: msg,
        })
    };
    if kind.is_identity_like() && p.id.is_some() {
        warnings.push(Diagnostic {
            pointer: "/Id".to_owned(),
            message: "`Id` is not expected in identity-based policies".to_owned(),
        });
    }
    for (i, s) in p.statements.iter().enumerate() {
        let ptr = statement_ptr(p, i);
        if kind != PolicyKind::Resource
            && let Some(sid) = &s.sid
            && !sid.chars().all(|c| c.is_ascii_alphanumeric())
        {
            err(format!("{ptr}/Sid"), format!("invalid Sid `{sid}`: {SID_HINT}"));
        }
        match kind {
            PolicyKind::Identity | PolicyKind::Session | PolicyKind::Managed => {
                if let Some(pr) = &s.principal {
                    let el = if pr.negated { "NotPrincipal" } else { "Principal" };
                    err(
                        format!("{ptr}/{el}"),
                        format!("has prohibited field {el}: identity-based policies never name a principal"),
                    );
                }
                if s.resource.is_none() {
                    err(
                        ptr.clone(),
                        "policy statement must contain resources (`Resource` or `NotResource`)".to_owned(),
                    );
                }
            }
            PolicyKind::Trust => {
                if let Some(r) = &s.resource {
                    let el = if r.negated { "NotResource" } else { "Resource" };
                    err(
                        format!("{ptr}/{el}"),
                        format!("has prohibited field {el}: a trust policy's resource is the role itself"),
                    );
                }
                match &s.principal {
                    None => err(
                        ptr.clone(),
                        "a trust policy statement must contain a `Principal`".to_owned(),
                    ),
                    Some(pr) if pr.negated => err(
                        format!("{ptr}/NotPrincipal"),
                        "`NotPrincipal` is not supported in role trust policies: name the principals in `Principal`"
                            .to_owned(),
                    ),
                    Some(_) => {}
                }
                for (j, a) in s.action.values.items.iter().enumerate() {
                    let lower = a.to_ascii_lowercase();
                    if lower != "*" && !lower.starts_with("sts:") {
                        let ap = if s.action.values.is_list {
                            format!("{ptr}/Action/{j}")
                        } else {
                            format!("{ptr}/Action")
                        };
                        err(ap, format!("trust policies may only name sts: actions, not `{a}`"));
                    }
                }
                if let Some(pr) = &s.principal
                    && !pr.negated
                    && matches!(pr.principal, PrincipalSpec::Any)
                    && s.condition.is_none()
                    && s.effect == crate::model::Effect::Allow
                {
                    warnings.push(Diagnostic {
                        pointer: format!("{ptr}/Principal"),
                        message: "this statement lets anyone assume the role: add conditions or name a principal"
                            .to_owned(),
                    });
                }
            }
            PolicyKind::Resource => {
                if s.principal.is_none() {
                    err(
                        ptr.clone(),
                        "a resource policy statement must contain a `Principal` or `NotPrincipal`".to_owned(),
                    );
                }
            }
        }
    }
    if kind == PolicyKind::Trust {
        web_identity_warnings(p, warnings);
    }
}

/// Web-identity statements that check `sub` but not `aud` (or neither) trust
/// tokens minted for any audience or any workload of the issuer.
fn web_identity_warnings(p: &Policy, warnings: &mut Vec<Diagnostic>) {
    for (i, s) in p.statements.iter().enumerate() {
        if s.effect != crate::model::Effect::Allow {
            continue;
        }
        let Some(pr) = &s.principal else { continue };
        let PrincipalSpec::Map(m) = &pr.principal else {
            continue;
        };
        let oidc = m.iter().any(|(t, v)| {
            *t == crate::model::PrincipalType::Federated && v.items.iter().any(|x| x.contains(":oidc-provider/"))
        });
        if !oidc || pr.negated {
            continue;
        }
        let keys: Vec<String> = s
            .condition
            .iter()
            .flatten()
            .flat_map(|b| b.entries.iter().map(|e| e.key.to_ascii_lowercase()))
            .collect();
        if !keys.iter().any(|k| k.ends_with(":sub")) {
            warnings.push(Diagnostic {
                pointer: statement_ptr(p, i),
                message:
                    "this web-identity statement does not check `sub`: every workload of the issuer can assume the role"
                        .to_owned(),
            });
        }
        if !keys.iter().any(|k| k.ends_with(":aud")) {
            warnings.push(Diagnostic {
                pointer: statement_ptr(p, i),
                message: "this web-identity statement does not check `aud`".to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_skips_whitespace_outside_strings_only() {
        assert_eq!(policy_size("{ \"a b\" : [ 1 , 2 ] }"), "{\"a b\":[1,2]}".len());
        assert_eq!(policy_size(r#"{"a":"x\" y"}"#), 13);
    }

    #[test]
    fn kinds_enforce_their_elements() {
        let l = Limits::default();
        let identity_with_principal =
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
        let r = validate(identity_with_principal, PolicyKind::Identity, &l);
        assert!(!r.valid);
        assert!(r.errors[0].message.contains("prohibited field Principal"));
        assert!(validate(identity_with_principal, PolicyKind::Resource, &l).valid);
        let trust_with_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}"#;
        let r = validate(trust_with_resource, PolicyKind::Trust, &l);
        assert_eq!(r.errors[0].pointer, "/Statement/Resource");
    }

    #[test]
    fn size_limit_by_kind() {
        let filler = "a".repeat(2100);
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Sid":"{filler}","Effect":"Allow","Principal":{{"Service":"ec2.amazonaws.com"}},"Action":"sts:AssumeRole"}}}}"#
        );
        let r = validate(&doc, PolicyKind::Trust, &Limits::default());
        assert!(
            r.errors
                .iter()
                .any(|e| e.message.contains("exceeds the 2048-character limit"))
        );
        let raised = Limits {
            trust: 4096,
            ..Limits::default()
        };
        assert!(validate(&doc, PolicyKind::Trust, &raised).valid);
    }
}
