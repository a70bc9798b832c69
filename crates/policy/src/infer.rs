//! What a policy document is for, guessed from the document itself, so that
//! `irsa policy validate` without `--kind` checks a trust policy as a trust
//! policy instead of reporting its `Principal` as prohibited.
//!
//! The rules, on the statements as written (before validation, so that a
//! document with mistakes is still checked against the rules its author meant):
//! - a statement names a principal (`Principal` or `NotPrincipal`) and an
//!   `sts:AssumeRole*` action: a **trust** policy, whatever the other
//!   statements say (validating it as one then reports them);
//! - some statement names a principal, none with `sts:AssumeRole*`: a
//!   **resource** policy;
//! - no statement names a principal: an **identity** policy;
//! - a document that cannot be read as JSON with a `Statement` is assumed to
//!   be an **identity** policy (IAM's most common kind), and the reason says so.

use crate::json::{Json, parse_keeping_first};
use crate::validate::PolicyKind;
use serde::Serialize;
use std::fmt;

/// The kind [`infer_kind`] chose, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindGuess {
    /// The kind to validate the document as.
    pub kind: PolicyKind,
    /// Why.
    pub reason: KindReason,
}

/// Why a document was taken for a kind. Statement numbers are 1-based, in
/// document order (`None` when `Statement` is a single object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum KindReason {
    /// A statement names a principal and an `sts:AssumeRole*` action.
    PrincipalAndAssumeRole {
        /// The statement.
        statement: Option<usize>,
        /// `Principal` or `NotPrincipal`.
        element: &'static str,
        /// The action as written.
        action: String,
    },
    /// A statement names a principal; none names an `sts:AssumeRole*` action.
    Principal {
        /// The first statement that names one.
        statement: Option<usize>,
        /// `Principal` or `NotPrincipal`.
        element: &'static str,
    },
    /// No statement names a principal.
    NoPrincipal,
    /// The document is not JSON, or has no `Statement` object or list.
    Unreadable,
}

impl fmt::Display for KindReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let which = |s: &Option<usize>| match s {
            Some(n) => format!("statement {n}"),
            None => "the statement".to_owned(),
        };
        match self {
            KindReason::PrincipalAndAssumeRole {
                statement,
                element,
                action,
            } => write!(f, "{} names a {element} and `{action}`", which(statement)),
            KindReason::Principal { statement, element } => write!(
                f,
                "{} names a {element}, and no statement an sts:AssumeRole* action",
                which(statement)
            ),
            KindReason::NoPrincipal => f.write_str("no statement names a Principal"),
            KindReason::Unreadable => {
                f.write_str("the document could not be read as a policy, so it is checked as the most common kind")
            }
        }
    }
}

/// Whether an action pattern is one of the role-assuming actions
/// (`sts:AssumeRole`, `…WithWebIdentity`, `…WithSAML`, or a wildcard of them).
fn is_assume_role(action: &str) -> bool {
    action
        .get(..14)
        .is_some_and(|p| p.eq_ignore_ascii_case("sts:AssumeRole"))
}

/// A statement's members with its 1-based number (`None` when `Statement` is one object).
type Numbered<'a> = (Option<usize>, &'a [(String, Json)]);

fn member<'a>(members: &'a [(String, Json)], name: &str) -> Option<&'a Json> {
    members.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn strings(v: &Json) -> Vec<&str> {
    match v {
        Json::String(s) => vec![s.as_str()],
        Json::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Json::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Guesses what `text` is for (see the module documentation for the rules).
/// Pure and total: any input gives a guess.
pub fn infer_kind(text: &str) -> KindGuess {
    let unreadable = KindGuess {
        kind: PolicyKind::Identity,
        reason: KindReason::Unreadable,
    };
    let Some(Json::Object(doc)) = parse_keeping_first(text) else {
        return unreadable;
    };
    let statements: Vec<Numbered<'_>> = match member(&doc, "Statement") {
        Some(Json::Object(s)) => vec![(None, s.as_slice())],
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Json::Object(m) => Some((Some(i + 1), m.as_slice())),
                _ => None,
            })
            .collect(),
        _ => return unreadable,
    };
    let mut first_principal = None;
    for (n, s) in &statements {
        let element = if member(s, "Principal").is_some() {
            "Principal"
        } else if member(s, "NotPrincipal").is_some() {
            "NotPrincipal"
        } else {
            continue;
        };
        first_principal.get_or_insert((*n, element));
        if let Some(action) = member(s, "Action")
            .map(strings)
            .and_then(|a| a.into_iter().find(|a| is_assume_role(a)).map(str::to_owned))
        {
            return KindGuess {
                kind: PolicyKind::Trust,
                reason: KindReason::PrincipalAndAssumeRole {
                    statement: *n,
                    element,
                    action,
                },
            };
        }
    }
    match first_principal {
        Some((statement, element)) => KindGuess {
            kind: PolicyKind::Resource,
            reason: KindReason::Principal { statement, element },
        },
        None => KindGuess {
            kind: PolicyKind::Identity,
            reason: KindReason::NoPrincipal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, validate};

    const OIDC: &str = "arn:aws:iam::111122223333:oidc-provider/oidc.example.com";

    fn kind(text: &str) -> PolicyKind {
        infer_kind(text).kind
    }

    #[test]
    fn a_web_identity_trust_policy_is_a_trust_policy_and_then_valid() {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{OIDC}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"oidc.example.com:sub":"system:serviceaccount:a:b","oidc.example.com:aud":"sts.amazonaws.com"}}}}}}]}}"#
        );
        let g = infer_kind(&doc);
        assert_eq!(g.kind, PolicyKind::Trust);
        assert_eq!(
            g.reason.to_string(),
            "statement 1 names a Principal and `sts:AssumeRoleWithWebIdentity`"
        );
        assert!(validate(&doc, g.kind, &Limits::default()).valid);
    }

    #[test]
    fn every_assume_role_action_and_case_counts() {
        for action in [
            "sts:AssumeRole",
            "sts:AssumeRoleWithSAML",
            "STS:assumerolewithwebidentity",
            "sts:AssumeRole*",
        ] {
            let doc = format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":["sts:TagSession","{action}"]}}}}"#
            );
            let g = infer_kind(&doc);
            assert_eq!(g.kind, PolicyKind::Trust, "{action}");
            assert_eq!(
                g.reason.to_string(),
                format!("the statement names a Principal and `{action}`")
            );
        }
        // `sts:*` and `*` are what bucket policies write too: not enough to call it a trust policy.
        assert_eq!(
            kind(r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}"#),
            PolicyKind::Resource
        );
        assert_eq!(
            kind(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:*"}}"#),
            PolicyKind::Resource
        );
    }

    #[test]
    fn a_principal_without_assume_role_is_a_resource_policy() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let g = infer_kind(doc);
        assert_eq!(g.kind, PolicyKind::Resource);
        assert_eq!(
            g.reason,
            KindReason::Principal {
                statement: Some(1),
                element: "Principal"
            }
        );
        assert!(validate(doc, g.kind, &Limits::default()).valid);
    }

    #[test]
    fn not_principal_counts_as_naming_a_principal() {
        let resource = r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}]}"#;
        assert_eq!(
            infer_kind(resource).reason,
            KindReason::Principal {
                statement: Some(1),
                element: "NotPrincipal"
            }
        );
        // With sts:AssumeRole it is a trust policy, which then reports that trust policies
        // cannot use NotPrincipal: the message the author needs.
        let trust = r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
        let g = infer_kind(trust);
        assert_eq!(g.kind, PolicyKind::Trust);
        let r = validate(trust, g.kind, &Limits::default());
        assert!(
            r.errors
                .iter()
                .any(|e| e.message.contains("`NotPrincipal` is not supported"))
        );
    }

    #[test]
    fn mixed_statements_take_the_trust_statement() {
        // A trust statement among others: checked as a trust policy, which reports the
        // statement that does not belong (rather than every Principal as prohibited).
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject"},
            {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let g = infer_kind(doc);
        assert_eq!(g.kind, PolicyKind::Trust);
        assert_eq!(
            g.reason,
            KindReason::PrincipalAndAssumeRole {
                statement: Some(3),
                element: "Principal",
                action: "sts:AssumeRole".into()
            }
        );
        // One statement with a principal among identity statements: a resource policy,
        // named by the first statement that has one.
        let doc = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
        assert_eq!(
            infer_kind(doc).reason,
            KindReason::Principal {
                statement: Some(2),
                element: "Principal"
            }
        );
    }

    #[test]
    fn no_principal_is_an_identity_policy() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let g = infer_kind(doc);
        assert_eq!((g.kind, g.reason), (PolicyKind::Identity, KindReason::NoPrincipal));
        // An AssumeRole permission in an identity policy names no principal: still identity.
        assert_eq!(
            kind(r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::1:role/r"}}"#),
            PolicyKind::Identity
        );
    }

    #[test]
    fn unreadable_documents_fall_back_to_identity_and_say_so() {
        for doc in [
            "",
            "not json",
            r#"{"Statement":[{"Principal":"*","Action":"sts:AssumeRole",}]}"#,
            "[]",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Statement":"x"}"#,
        ] {
            let g = infer_kind(doc);
            assert_eq!(
                (g.kind, &g.reason),
                (PolicyKind::Identity, &KindReason::Unreadable),
                "{doc}"
            );
        }
        assert!(KindReason::Unreadable.to_string().contains("could not be read"));
    }

    #[test]
    fn duplicate_keys_do_not_hide_the_kind() {
        // The Kubeflow documentation's trust policy with its `sub` key twice is still a trust
        // policy; validation then reports the duplicate.
        let doc = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{OIDC}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"oidc.example.com:sub":"a","oidc.example.com:sub":"b"}}}}}}]}}"#
        );
        assert_eq!(kind(&doc), PolicyKind::Trust);
    }
}
