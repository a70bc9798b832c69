//! `irsa-policy` is irsa's IAM policy engine: it parses, validates, sizes,
//! evaluates and edits IAM policy documents with AWS's semantics, and does no
//! IO. The STS + IAM service uses it to validate documents and to decide every
//! request (trust policies for `AssumeRoleWithWebIdentity`, role policies,
//! boundaries and session policies for signed calls); the profile controller
//! and `irsa trust` use its [`trust`] editor; `irsa policy` exposes it on the
//! command line.
//!
//! The pipeline, cedar-style:
//! - [`validate`] / [`Policy::parse`]: a strict JSON reader (duplicate keys at
//!   any depth, trailing commas and non-Latin-1 characters are errors, each
//!   reported at its RFC 6901 pointer), then the policy model ([`Policy`]),
//!   then kind-specific rules and IAM's size accounting ([`policy_size`]);
//!   [`infer_kind`] guesses the kind from the document when nobody says.
//! - [`CompiledPolicy`]: patterns and values prepared once.
//! - [`PolicySet::evaluate`] / [`PolicySet::explain`]: a request against
//!   identity, resource, boundary and session policies in AWS's order, with an
//!   explanation of which statement matched and which condition failed on
//!   which key and value.
//!
//! Semantics chosen where AWS documents none: a bare (non-set) condition
//! operator applied to a key with several values in the request does not
//! match for positive operators and matches for negated ones; a policy
//! variable naming a multivalued or absent key is unresolved, so the value
//! holding it matches nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compile;
mod eval;
mod infer;
mod json;
mod model;
mod parse;
mod request;
pub mod trust;
mod validate;
mod value;

pub use compile::CompiledPolicy;
pub use eval::{Decision, Explanation, PolicyRole, PolicySet, PolicyTrace, StatementOutcome, StatementTrace};
pub use infer::{KindGuess, KindReason, infer_kind};
pub use json::JsonError;
pub use model::{
    BaseOperator, ConditionBlock, ConditionEntry, Effect, Operator, Policy, PrincipalElement, PrincipalSpec,
    PrincipalType, Scalar, SetQualifier, Statement, Targets, Values, Version,
};
pub use parse::Diagnostic;
pub use request::{Context, ContextEntry, PrincipalKind, Request, RequestPrincipal};
pub use validate::{Limits, PolicyKind, Report, policy_size, validate};

/// A document that is not a valid policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.errors))]
pub struct PolicyError {
    /// Every problem found, each at its JSON pointer.
    pub errors: Vec<Diagnostic>,
}

fn summary(errors: &[Diagnostic]) -> String {
    match errors {
        [] => "invalid policy".to_owned(),
        [one] => one.to_string(),
        [one, rest @ ..] => format!("{one} (and {} more problems)", rest.len()),
    }
}

impl Policy {
    /// Parses a document, checking everything that holds for every kind of
    /// policy (use [`validate`] for kind rules and size limits).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let parsed = parse::parse_document(text);
        match parsed.policy {
            Some(p) if parsed.errors.is_empty() => Ok(p),
            _ => Err(PolicyError { errors: parsed.errors }),
        }
    }

    /// Compiles the policy for evaluation.
    pub fn compile(&self) -> CompiledPolicy {
        CompiledPolicy::new(self)
    }
}
