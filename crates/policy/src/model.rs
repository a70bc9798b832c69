//! The policy document model and its canonical JSON form.
//!
//! The model keeps everything a document says (member order inside condition
//! blocks, single value vs list) so that printing a parsed policy and parsing
//! it again yields the same model, and so that the trust-policy editor can
//! leave foreign statements exactly as they were.

use crate::json::write_string;
use serde::Serialize;
use std::fmt;

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    #[serde(rename = "2012-10-17")]
    V2012_10_17,
    /// `2008-10-17`: legacy; `${...}` is literal text.
    #[serde(rename = "2008-10-17")]
    V2008_10_17,
}

impl Version {
    /// The version string as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

/// A policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `Version`; `None` when absent (which AWS treats as `2008-10-17`).
    pub version: Option<Version>,
    /// `Id`.
    pub id: Option<String>,
    /// The statements, in document order.
    pub statements: Vec<Statement>,
    /// Whether `Statement` was written as an array (a single object otherwise).
    pub statement_is_list: bool,
}

impl Policy {
    /// Whether `${...}` is a policy variable in this document.
    pub fn variables_enabled(&self) -> bool {
        self.version == Some(Version::V2012_10_17)
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

impl Effect {
    /// The effect as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One or more strings, remembering whether the document used a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    /// The values, in document order.
    pub items: Vec<String>,
    /// `true` when written as a JSON array.
    pub is_list: bool,
}

impl Values {
    /// A single string value.
    pub fn one(v: impl Into<String>) -> Self {
        Values {
            items: vec![v.into()],
            is_list: false,
        }
    }

    /// A list value.
    pub fn list(items: Vec<String>) -> Self {
        Values { items, is_list: true }
    }
}

/// A statement's `Action`/`NotAction` or `Resource`/`NotResource` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// `true` for `NotAction` / `NotResource`.
    pub negated: bool,
    /// The patterns.
    pub values: Values,
}

/// The kinds of principal a policy can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PrincipalType {
    /// `AWS`: accounts, users, roles, sessions.
    #[serde(rename = "AWS")]
    Aws,
    /// `Federated`: OIDC/SAML providers and web identity providers.
    Federated,
    /// `Service`: AWS service principals.
    Service,
    /// `CanonicalUser`: S3 canonical user ids.
    CanonicalUser,
}

impl PrincipalType {
    /// The element name as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Federated => "Federated",
            PrincipalType::Service => "Service",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "AWS" => Some(PrincipalType::Aws),
            "Federated" => Some(PrincipalType::Federated),
            "Service" => Some(PrincipalType::Service),
            "CanonicalUser" => Some(PrincipalType::CanonicalUser),
            _ => None,
        }
    }
}

/// A statement's `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalElement {
    /// `true` for `NotPrincipal`.
    pub negated: bool,
    /// What it names.
    pub principal: PrincipalSpec,
}

/// What a `Principal` element names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSpec {
    /// The bare string `"*"`: everyone, including anonymous callers.
    Any,
    /// `{"AWS": ..., "Federated": ...}` in document order.
    Map(Vec<(PrincipalType, Values)>),
}

/// A scalar condition value as written (AWS accepts strings, numbers and booleans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// A JSON string.
    String(String),
    /// A JSON number, as its source text.
    Number(String),
    /// A JSON boolean.
    Bool(bool),
}

impl Scalar {
    /// The value as the text conditions compare.
    pub fn as_text(&self) -> &str {
        match self {
            Scalar::String(s) | Scalar::Number(s) => s,
            Scalar::Bool(true) => "true",
            Scalar::Bool(false) => "false",
        }
    }
}

/// One key of a condition operator block with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionEntry {
    /// The condition key as written (compared case-insensitively).
    pub key: String,
    /// The values (several = OR).
    pub values: Vec<Scalar>,
    /// `true` when written as a JSON array.
    pub is_list: bool,
}

/// One operator block: `"StringEquals": { key: values, ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionBlock {
    /// The parsed operator.
    pub operator: Operator,
    /// Keys in document order (several = AND).
    pub entries: Vec<ConditionEntry>,
}

/// A statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` / `NotPrincipal`.
    pub principal: Option<PrincipalElement>,
    /// `Action` / `NotAction`.
    pub action: Targets,
    /// `Resource` / `NotResource`.
    pub resource: Option<Targets>,
    /// `Condition`, operator blocks in document order (several = AND).
    pub condition: Option<Vec<ConditionBlock>>,
}

/// Condition operator families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPERATORS: &[(&str, BaseOperator)] = {
    use BaseOperator::*;
    &[
        ("StringEquals", StringEquals),
        ("StringNotEquals", StringNotEquals),
        ("StringEqualsIgnoreCase", StringEqualsIgnoreCase),
        ("StringNotEqualsIgnoreCase", StringNotEqualsIgnoreCase),
        ("StringLike", StringLike),
        ("StringNotLike", StringNotLike),
        ("NumericEquals", NumericEquals),
        ("NumericNotEquals", NumericNotEquals),
        ("NumericLessThan", NumericLessThan),
        ("NumericLessThanEquals", NumericLessThanEquals),
        ("NumericGreaterThan", NumericGreaterThan),
        ("NumericGreaterThanEquals", NumericGreaterThanEquals),
        ("DateEquals", DateEquals),
        ("DateNotEquals", DateNotEquals),
        ("DateLessThan", DateLessThan),
        ("DateLessThanEquals", DateLessThanEquals),
        ("DateGreaterThan", DateGreaterThan),
        ("DateGreaterThanEquals", DateGreaterThanEquals),
        ("Bool", Bool),
        ("BinaryEquals", BinaryEquals),
        ("IpAddress", IpAddress),
        ("NotIpAddress", NotIpAddress),
        ("ArnEquals", ArnEquals),
        ("ArnLike", ArnLike),
        ("ArnNotEquals", ArnNotEquals),
        ("ArnNotLike", ArnNotLike),
        ("Null", Null),
    ]
};

impl BaseOperator {
    /// The operator name as written in documents.
    pub fn as_str(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(name, _)| name)
    }

    /// Whether the operator is a negation (true when the key is absent).
    pub fn is_negated(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Whether policy variables are substituted in this operator's values.
    pub fn allows_variables(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringEquals
                | StringNotEquals
                | StringEqualsIgnoreCase
                | StringNotEqualsIgnoreCase
                | StringLike
                | StringNotLike
                | ArnEquals
                | ArnLike
                | ArnNotEquals
                | ArnNotLike
        )
    }
}

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SetQualifier {
    /// `ForAllValues:`: every request value must match.
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must match.
    ForAnyValue,
}

/// A full condition operator: optional set qualifier, family, optional `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// `ForAllValues:` or `ForAnyValue:`.
    pub qualifier: Option<SetQualifier>,
    /// The operator family.
    pub base: BaseOperator,
    /// The `IfExists` suffix.
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name; `None` if AWS would reject it.
    pub fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else {
            (None, name)
        };
        let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let base = OPERATORS.iter().find(|(n, _)| *n == base_name)?.1;
        if base == BaseOperator::Null && (if_exists || qualifier.is_some()) {
            return None;
        }
        Some(Operator {
            qualifier,
            base,
            if_exists,
        })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            None => {}
        }
        f.write_str(self.base.as_str())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Canonical printing
// ---------------------------------------------------------------------------

struct Printer {
    out: String,
    pretty: bool,
    depth: usize,
}

impl Printer {
    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("  ");
            }
        }
    }

    fn colon(&mut self) {
        self.out.push_str(if self.pretty { ": " } else { ":" });
    }

    /// Writes `{ k: v, ... }` where each member is written by `f`.
    fn object<T>(&mut self, members: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.out.push('{');
        self.depth += 1;
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline();
            f(self, m);
        }
        self.depth -= 1;
        if !members.is_empty() {
            self.newline();
        }
        self.out.push('}');
    }

    fn key(&mut self, k: &str) {
        write_string(&mut self.out, k);
        self.colon();
    }

    /// `[a, b]`, each element written by `f`.
    fn array<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.out.push('[');
        self.depth += 1;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline();
            f(self, item);
        }
        self.depth -= 1;
        if !items.is_empty() {
            self.newline();
        }
        self.out.push(']');
    }

    /// A lone element as itself, unless the document wrote a list.
    fn one_or_array<T>(&mut self, items: &[T], is_list: bool, mut f: impl FnMut(&mut Self, &T)) {
        match items {
            [one] if !is_list => f(self, one),
            _ => self.array(items, f),
        }
    }

    fn strings(&mut self, items: &[String], is_list: bool) {
        self.one_or_array(items, is_list, |pr, s| write_string(&mut pr.out, s));
    }

    fn scalar(&mut self, s: &Scalar) {
        match s {
            Scalar::String(v) => write_string(&mut self.out, v),
            Scalar::Number(n) => self.out.push_str(n),
            Scalar::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
        }
    }

    fn policy(&mut self, p: &Policy) {
        enum Top<'a> {
            Version(Version),
            Id(&'a str),
            Statements,
        }
        let mut top = Vec::new();
        if let Some(v) = p.version {
            top.push(Top::Version(v));
        }
        if let Some(id) = &p.id {
            top.push(Top::Id(id));
        }
        top.push(Top::Statements);
        self.object(&top, |pr, t| match t {
            Top::Version(v) => {
                pr.key("Version");
                write_string(&mut pr.out, v.as_str());
            }
            Top::Id(id) => {
                pr.key("Id");
                write_string(&mut pr.out, id);
            }
            Top::Statements => {
                pr.key("Statement");
                pr.one_or_array(&p.statements, p.statement_is_list, Printer::statement);
            }
        });
    }

    fn statement(&mut self, s: &Statement) {
        #[derive(Clone, Copy)]
        enum El {
            Sid,
            Effect,
            Principal,
            Action,
            Resource,
            Condition,
        }
        let mut els = vec![];
        if s.sid.is_some() {
            els.push(El::Sid);
        }
        els.push(El::Effect);
        if s.principal.is_some() {
            els.push(El::Principal);
        }
        els.push(El::Action);
        if s.resource.is_some() {
            els.push(El::Resource);
        }
        if s.condition.is_some() {
            els.push(El::Condition);
        }
        self.object(&els, |pr, el| match el {
            El::Sid => {
                pr.key("Sid");
                write_string(&mut pr.out, s.sid.as_deref().unwrap_or_default());
            }
            El::Effect => {
                pr.key("Effect");
                write_string(&mut pr.out, s.effect.as_str());
            }
            El::Principal => {
                if let Some(p) = &s.principal {
                    pr.key(if p.negated { "NotPrincipal" } else { "Principal" });
                    match &p.principal {
                        PrincipalSpec::Any => write_string(&mut pr.out, "*"),
                        PrincipalSpec::Map(m) => pr.object(m, |pr, (t, v)| {
                            pr.key(t.as_str());
                            pr.strings(&v.items, v.is_list);
                        }),
                    }
                }
            }
            El::Action => {
                pr.key(if s.action.negated { "NotAction" } else { "Action" });
                pr.strings(&s.action.values.items, s.action.values.is_list);
            }
            El::Resource => {
                if let Some(r) = &s.resource {
                    pr.key(if r.negated { "NotResource" } else { "Resource" });
                    pr.strings(&r.values.items, r.values.is_list);
                }
            }
            El::Condition => {
                let blocks = s.condition.as_deref().unwrap_or_default();
                pr.key("Condition");
                pr.object(blocks, |pr, b| {
                    pr.key(&b.operator.to_string());
                    pr.object(&b.entries, |pr, e| {
                        pr.key(&e.key);
                        pr.one_or_array(&e.values, e.is_list, Printer::scalar);
                    });
                });
            }
        });
    }
}

impl Policy {
    /// The canonical compact JSON form (no insignificant whitespace).
    pub fn to_json(&self) -> String {
        let mut p = Printer {
            out: String::new(),
            pretty: false,
            depth: 0,
        };
        p.policy(self);
        p.out
    }

    /// The canonical JSON form, indented by two spaces.
    pub fn to_json_pretty(&self) -> String {
        let mut p = Printer {
            out: String::new(),
            pretty: true,
            depth: 0,
        };
        p.policy(self);
        p.out
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_pretty())
    }
}
