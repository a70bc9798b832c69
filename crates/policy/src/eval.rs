//! Evaluation across policy types in AWS's order, with explanations.
//!
//! One code path serves both the fast decision and the explained one: the
//! evaluator reports to a [`Tracer`], and the no-op tracer compiles away.

use crate::compile::{
    CompiledCondition, CompiledPolicy, CompiledStatement, CondValues, PrincipalMatch, condition_holds, value_holds,
};
use crate::model::{Effect, Policy, SetQualifier};
use crate::request::{Context, PrincipalKind, Request};
use crate::value::{parse_cidr, parse_date, parse_number};
use serde::Serialize;
use std::fmt;

/// The outcome of an authorization question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// A matching `Deny` statement refused it.
    ExplicitDeny,
    /// Nothing allowed it (or a boundary or session policy did not).
    ImplicitDeny,
}

impl Decision {
    /// The decision's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "Allow",
            Decision::ExplicitDeny => "ExplicitDeny",
            Decision::ImplicitDeny => "ImplicitDeny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part a policy plays in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyRole {
    /// Identity-based (inline or managed) policies of the caller.
    Identity,
    /// The resource's policy; a role's trust policy is one.
    Resource,
    /// The caller's permissions boundary.
    Boundary,
    /// Session policies passed when the session was created.
    Session,
}

impl PolicyRole {
    fn noun(self) -> &'static str {
        match self {
            PolicyRole::Identity => "identity policy",
            PolicyRole::Resource => "resource policy",
            PolicyRole::Boundary => "permissions boundary",
            PolicyRole::Session => "session policy",
        }
    }
}

struct Entry {
    role: PolicyRole,
    label: String,
    policy: CompiledPolicy,
}

/// The policies that bear on a request, compiled once and evaluated many times.
#[derive(Default)]
pub struct PolicySet {
    entries: Vec<Entry>,
}

/// Why a statement did or did not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum StatementOutcome {
    /// Every element matched.
    Matched,
    /// The action is not in `Action` (or is in `NotAction`).
    ActionNotMatched {
        /// In words.
        reason: String,
    },
    /// The resource is not in `Resource` (or is in `NotResource`).
    ResourceNotMatched {
        /// In words.
        reason: String,
    },
    /// The caller is not in `Principal` (or is in `NotPrincipal`).
    PrincipalNotMatched {
        /// In words.
        reason: String,
    },
    /// A condition did not hold.
    ConditionFailed {
        /// The operator, as written.
        operator: String,
        /// The condition key, as written.
        key: String,
        /// The policy's values.
        policy_values: Vec<String>,
        /// The request's values (`None` when the key is absent).
        request_values: Option<Vec<String>>,
        /// In words.
        reason: String,
    },
}

/// One statement's part in a decision.
#[derive(Debug, Clone, Serialize)]
pub struct StatementTrace {
    /// Position in the policy's statement list.
    pub index: usize,
    /// The statement's Sid.
    pub sid: Option<String>,
    /// The statement's effect.
    pub effect: Effect,
    /// What happened.
    #[serde(flatten)]
    pub outcome: StatementOutcome,
}

impl StatementTrace {
    fn name(&self) -> String {
        match &self.sid {
            Some(sid) => format!("statement {} (Sid \"{sid}\")", self.index),
            None => format!("statement {}", self.index),
        }
    }
}

/// One policy's part in a decision.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyTrace {
    /// The name the policy was added under.
    pub label: String,
    /// The part it plays.
    pub role: PolicyRole,
    /// Each statement's outcome.
    pub statements: Vec<StatementTrace>,
}

/// A decision with the reasons for it.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The decision.
    pub decision: Decision,
    /// One sentence on why.
    pub summary: String,
    /// Further reasons, such as the statements that nearly allowed the request.
    pub details: Vec<String>,
    /// Every policy and statement considered.
    pub policies: Vec<PolicyTrace>,
}

/// Receives the evaluator's findings statement by statement.
pub(crate) trait Tracer {
    /// Whether evaluation must visit every statement (or may stop at a deny).
    const EXHAUSTIVE: bool;
    fn statement(&mut self, st: &CompiledStatement, outcome: Outcome<'_>);
}

pub(crate) enum Outcome<'a> {
    Matched,
    Action,
    Resource,
    Principal,
    Condition(&'a CompiledCondition),
}

struct NoTrace;

impl Tracer for NoTrace {
    const EXHAUSTIVE: bool = false;
    #[inline(always)]
    fn statement(&mut self, _: &CompiledStatement, _: Outcome<'_>) {}
}

struct Recorder<'r> {
    req: &'r Request,
    ctx: &'r Context,
    statements: Vec<StatementTrace>,
}

impl Tracer for Recorder<'_> {
    const EXHAUSTIVE: bool = true;
    fn statement(&mut self, st: &CompiledStatement, outcome: Outcome<'_>) {
        let outcome = match outcome {
            Outcome::Matched => StatementOutcome::Matched,
            Outcome::Action => StatementOutcome::ActionNotMatched {
                reason: format!(
                    "`{}` is {} {}",
                    self.req.action,
                    if st.actions_negated {
                        "excluded by NotAction"
                    } else {
                        "not in Action"
                    },
                    quote_list(&st.raw_actions)
                ),
            },
            Outcome::Resource => StatementOutcome::ResourceNotMatched {
                reason: match &self.req.resource {
                    None => format!(
                        "the request names no resource, and Resource {} is not \"*\"",
                        quote_list(&st.raw_resources)
                    ),
                    Some(r) => {
                        let resolved = st.resolved_resources(self.ctx);
                        let subst = if resolved != st.raw_resources {
                            format!(" (with policy variables substituted: {})", quote_list(&resolved))
                        } else {
                            String::new()
                        };
                        format!(
                            "`{r}` is {} {}{subst}",
                            if st.resources.as_ref().is_some_and(|(n, _)| *n) {
                                "excluded by NotResource"
                            } else {
                                "not matched by Resource"
                            },
                            quote_list(&st.raw_resources)
                        )
                    }
                },
            },
            Outcome::Principal => StatementOutcome::PrincipalNotMatched {
                reason: format!(
                    "caller `{}` is {} {}",
                    self.req.principal.as_ref().map_or("anonymous", |p| p.id.as_str()),
                    if st.principal.as_ref().is_some_and(|p| p.negated) {
                        "excluded by NotPrincipal"
                    } else {
                        "not named by Principal"
                    },
                    st.raw_principal
                ),
            },
            Outcome::Condition(c) => {
                let entry = self.ctx.get_lower(&c.key_lower);
                StatementOutcome::ConditionFailed {
                    operator: c.operator.to_string(),
                    key: c.key.clone(),
                    policy_values: c.raw_values.clone(),
                    request_values: entry.map(|e| e.values.clone()),
                    reason: describe_failure(c, self.ctx),
                }
            }
        };
        self.statements.push(StatementTrace {
            index: st.index,
            sid: st.sid.clone(),
            effect: st.effect,
            outcome,
        });
    }
}

#[derive(Default, Clone, Copy)]
struct PolicyResult {
    denied: bool,
    allowed: Option<PrincipalMatch>,
}

fn rank(m: PrincipalMatch) -> u8 {
    match m {
        PrincipalMatch::Direct => 3,
        PrincipalMatch::ViaRole => 2,
        PrincipalMatch::ViaAccount => 1,
    }
}

fn eval_policy<T: Tracer>(
    policy: &CompiledPolicy,
    role: PolicyRole,
    req: &Request,
    has_boundary: bool,
    t: &mut T,
) -> PolicyResult {
    let mut r = PolicyResult::default();
    for st in &policy.statements {
        if !st.action_matches(req) {
            t.statement(st, Outcome::Action);
            continue;
        }
        if st.resource_matches(req) == Some(false) {
            t.statement(st, Outcome::Resource);
            continue;
        }
        let how = match (&st.principal, role) {
            (Some(p), _) => match p.matches(req.principal.as_ref(), has_boundary) {
                Some(m) => m,
                None => {
                    t.statement(st, Outcome::Principal);
                    continue;
                }
            },
            // A resource policy statement without a principal applies to no one.
            (None, PolicyRole::Resource) => {
                t.statement(st, Outcome::Principal);
                continue;
            }
            (None, _) => PrincipalMatch::Direct,
        };
        if let Some(c) = st.conditions.iter().find(|c| !condition_holds(c, &req.context)) {
            t.statement(st, Outcome::Condition(c));
            continue;
        }
        t.statement(st, Outcome::Matched);
        match st.effect {
            Effect::Deny => {
                r.denied = true;
                if !T::EXHAUSTIVE {
                    return r;
                }
            }
            Effect::Allow => {
                if r.allowed.is_none_or(|a| rank(how) > rank(a)) {
                    r.allowed = Some(how);
                }
            }
        }
    }
    r
}

fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    if parts.next() != Some("arn") {
        return None;
    }
    parts.nth(3).filter(|a| !a.is_empty())
}

impl PolicySet {
    /// An empty set (which allows nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy in the given role under a label used in explanations.
    pub fn add(&mut self, role: PolicyRole, label: impl Into<String>, policy: &Policy) -> &mut Self {
        self.add_compiled(role, label, CompiledPolicy::new(policy))
    }

    /// Adds an already compiled policy.
    pub fn add_compiled(&mut self, role: PolicyRole, label: impl Into<String>, policy: CompiledPolicy) -> &mut Self {
        self.entries.push(Entry {
            role,
            label: label.into(),
            policy,
        });
        self
    }

    /// Builder form of [`PolicySet::add`].
    pub fn with(mut self, role: PolicyRole, label: impl Into<String>, policy: &Policy) -> Self {
        self.add(role, label, policy);
        self
    }

    /// The decision alone, as fast as it can be had.
    pub fn evaluate(&self, req: &Request) -> Decision {
        self.run(req, |_, _| NoTrace).0
    }

    /// The decision and why.
    pub fn explain(&self, req: &Request) -> Explanation {
        let (decision, traces) = self.run(req, |_, _| Recorder {
            req,
            ctx: &req.context,
            statements: Vec::new(),
        });
        let policies: Vec<PolicyTrace> = self
            .entries
            .iter()
            .zip(traces)
            .map(|(e, r)| PolicyTrace {
                label: e.label.clone(),
                role: e.role,
                statements: r.statements,
            })
            .collect();
        let (summary, details) = summarize(decision, req, &policies, self);
        Explanation {
            decision,
            summary,
            details,
            policies,
        }
    }

    fn run<T: Tracer>(&self, req: &Request, mut tracer: impl FnMut(usize, &Entry) -> T) -> (Decision, Vec<T>) {
        let mut traces = Vec::new();
        let mut denied = false;
        let mut identity = false;
        let mut resource: Option<PrincipalMatch> = None;
        let mut boundary: Option<bool> = None;
        let mut session: Option<bool> = None;
        let has_boundary = self.entries.iter().any(|e| e.role == PolicyRole::Boundary);
        for (i, e) in self.entries.iter().enumerate() {
            let mut t = tracer(i, e);
            let r = eval_policy(&e.policy, e.role, req, has_boundary, &mut t);
            if T::EXHAUSTIVE {
                traces.push(t);
            }
            denied |= r.denied;
            if denied && !T::EXHAUSTIVE {
                return (Decision::ExplicitDeny, traces);
            }
            let allowed = r.allowed.is_some();
            match e.role {
                PolicyRole::Identity => identity |= allowed,
                PolicyRole::Resource => {
                    if let Some(m) = r.allowed
                        && resource.is_none_or(|p| rank(m) > rank(p))
                    {
                        resource = Some(m);
                    }
                }
                PolicyRole::Boundary => boundary = Some(boundary.unwrap_or(true) && allowed),
                PolicyRole::Session => session = Some(session.unwrap_or(false) || allowed),
            }
        }
        if denied {
            return (Decision::ExplicitDeny, traces);
        }
        let limits_ok = boundary.unwrap_or(true) && session.unwrap_or(true);
        let identity_path = identity && limits_ok;
        let kind = req.principal.as_ref().map_or(PrincipalKind::Anonymous, |p| p.kind);
        // Across accounts both sides must allow: the caller's identity
        // policies and the resource's policy (none = no access).
        let cross_account = match (
            req.principal.as_ref().and_then(|p| p.account.as_deref()),
            req.resource.as_deref().and_then(arn_account),
        ) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        let allow = if cross_account {
            resource.is_some() && identity_path
        } else {
            match resource {
                Some(PrincipalMatch::Direct) if kind != PrincipalKind::Role => true,
                Some(PrincipalMatch::Direct | PrincipalMatch::ViaRole) => limits_ok,
                Some(PrincipalMatch::ViaAccount) | None => identity_path,
            }
        };
        (if allow { Decision::Allow } else { Decision::ImplicitDeny }, traces)
    }
}

fn quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().take(5).map(|s| format!("`{s}`")).collect();
    let more = if v.len() > 5 {
        format!(" and {} more", v.len() - 5)
    } else {
        String::new()
    };
    format!("{}{more}", items.join(", "))
}

/// Says in words why a condition did not hold for this request.
pub(crate) fn describe_failure(c: &CompiledCondition, ctx: &Context) -> String {
    let op = c.operator;
    let key = &c.key;
    let entry = ctx.get_lower(&c.key_lower);
    if let CondValues::Null(wants) = &c.values {
        return if wants.first() == Some(&true) {
            format!("`{key}` is present in the request, but `Null` requires it to be absent")
        } else {
            format!("`{key}` is absent from the request, but `Null: false` requires it")
        };
    }
    let values = match entry {
        None => {
            return format!(
                "`{key}` is not in the request context; `{op}` does not match a missing key (an `IfExists` operator would)"
            );
        }
        Some(e) if e.values.is_empty() => {
            return format!("`{key}` has no values in the request, and `{op}` needs at least one");
        }
        Some(e) => &e.values,
    };
    let negated = op.base.is_negated();
    let policy = quote_list(&c.raw_values);
    let one = |v: &str| -> String {
        let kind = match &c.values {
            CondValues::Numeric(_) if parse_number(v).is_none() => Some("a number"),
            CondValues::Date(_) if parse_date(v).is_none() => Some("a date"),
            CondValues::Ip(_) if parse_cidr(v).is_none() => Some("an IP address"),
            CondValues::Bool(_) if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") => {
                Some("a boolean")
            }
            _ => None,
        };
        if let Some(kind) = kind {
            return format!("request value `{v}` of `{key}` is not {kind}");
        }
        let vars = if c.raw_values.iter().any(|p| p.contains("${")) {
            " (after substituting policy variables; an unresolved variable matches nothing)"
        } else {
            ""
        };
        if negated {
            format!("request value `{v}` of `{key}` matches {policy}, which `{op}` excludes{vars}")
        } else {
            format!("request value `{v}` of `{key}` does not satisfy `{op}` with {policy}{vars}")
        }
    };
    match op.qualifier {
        Some(SetQualifier::ForAllValues) => match values.iter().find(|v| !value_holds(c, ctx, v)) {
            Some(v) => format!("`ForAllValues` needs every request value to match: {}", one(v)),
            None => format!("`{key}` did not satisfy `{op}`"),
        },
        Some(SetQualifier::ForAnyValue) => format!(
            "no request value of `{key}` ({}) satisfies `{op}` with {policy}",
            quote_list(values)
        ),
        None if values.len() > 1 => format!(
            "`{key}` has {} values in the request; a bare `{op}` does not match a multivalued key (use `ForAnyValue:` or `ForAllValues:`)",
            values.len()
        ),
        None => one(&values[0]),
    }
}

fn summarize(decision: Decision, req: &Request, policies: &[PolicyTrace], set: &PolicySet) -> (String, Vec<String>) {
    let what = match req.resource.as_deref() {
        Some(r) => format!("`{}` on `{r}`", req.action),
        None => format!("`{}`", req.action),
    };
    let who = req
        .principal
        .as_ref()
        .map_or(String::new(), |p| format!(" for `{}`", p.id));
    let matched = |effect: Effect| {
        policies.iter().flat_map(move |p| {
            p.statements
                .iter()
                .filter(move |s| s.effect == effect && s.outcome == StatementOutcome::Matched)
                .map(move |s| format!("{} of {} `{}`", s.name(), p.role.noun(), p.label))
        })
    };
    let mut details = Vec::new();
    match decision {
        Decision::ExplicitDeny => {
            let denies: Vec<String> = matched(Effect::Deny).collect();
            let summary = format!(
                "{what}{who} is explicitly denied by {}",
                denies.first().map_or("a Deny statement", String::as_str)
            );
            details.extend(denies.into_iter().skip(1).map(|d| format!("also denied by {d}")));
            (summary, details)
        }
        Decision::Allow => {
            let allows: Vec<String> = matched(Effect::Allow).collect();
            let summary = format!(
                "{what}{who} is allowed by {}",
                allows.first().map_or("the policies", String::as_str)
            );
            (summary, details)
        }
        Decision::ImplicitDeny => {
            let has = |role| set.entries.iter().any(|e| e.role == role);
            let allows_in = |role| {
                policies.iter().filter(|p| p.role == role).any(|p| {
                    p.statements
                        .iter()
                        .any(|s| s.effect == Effect::Allow && s.outcome == StatementOutcome::Matched)
                })
            };
            let mut reasons = Vec::new();
            if set.entries.is_empty() {
                reasons.push("no policy applies".to_owned());
            }
            if has(PolicyRole::Identity) && !allows_in(PolicyRole::Identity) && !allows_in(PolicyRole::Resource) {
                reasons.push("no identity policy statement allows it".to_owned());
            }
            if has(PolicyRole::Resource) && !allows_in(PolicyRole::Resource) && !allows_in(PolicyRole::Identity) {
                reasons.push("no resource policy statement allows it".to_owned());
            }
            if !has(PolicyRole::Identity) && !has(PolicyRole::Resource) && !set.entries.is_empty() {
                reasons.push(
                    "no identity or resource policy was given, and boundaries and session policies never grant"
                        .to_owned(),
                );
            }
            if has(PolicyRole::Boundary) && !allows_in(PolicyRole::Boundary) {
                reasons.push("the permissions boundary does not allow it".to_owned());
            }
            if has(PolicyRole::Session) && !allows_in(PolicyRole::Session) {
                reasons.push("no session policy allows it".to_owned());
            }
            if reasons.is_empty() && allows_in(PolicyRole::Resource) {
                reasons.push(
                    "the resource policy allows it only through the caller's account, so the caller's identity policies must allow it too"
                        .to_owned(),
                );
            }
            if reasons.is_empty() {
                reasons.push("it is not allowed on every path AWS requires".to_owned());
            }
            let summary = format!("{what}{who} is implicitly denied: {}", reasons.join("; "));
            // The statements that nearly allowed it: right action, resource and principal, failed condition.
            for p in policies {
                for s in &p.statements {
                    if let (Effect::Allow, StatementOutcome::ConditionFailed { reason, .. }) = (s.effect, &s.outcome) {
                        details.push(format!(
                            "{} of {} `{}` would allow it, but {reason}",
                            s.name(),
                            p.role.noun(),
                            p.label
                        ));
                    }
                    if let (
                        Effect::Allow,
                        StatementOutcome::PrincipalNotMatched { reason }
                        | StatementOutcome::ResourceNotMatched { reason },
                    ) = (s.effect, &s.outcome)
                    {
                        details.push(format!(
                            "{} of {} `{}` allows this action, but {reason}",
                            s.name(),
                            p.role.noun(),
                            p.label
                        ));
                    }
                }
            }
            (summary, details)
        }
    }
}

impl Explanation {
    /// One line for an error message: the summary and, for a denial, the
    /// statement that came closest to allowing the request.
    pub fn brief(&self) -> String {
        match (self.decision, self.details.first()) {
            (Decision::ImplicitDeny, Some(closest)) => format!("{}; {closest}", self.summary),
            _ => self.summary.clone(),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.decision, self.summary)?;
        for d in &self.details {
            writeln!(f, "  - {d}")?;
        }
        for p in &self.policies {
            writeln!(f, "{} `{}`:", p.role.noun(), p.label)?;
            for s in &p.statements {
                let what = match &s.outcome {
                    StatementOutcome::Matched => "matched".to_owned(),
                    StatementOutcome::ActionNotMatched { reason }
                    | StatementOutcome::ResourceNotMatched { reason }
                    | StatementOutcome::PrincipalNotMatched { reason }
                    | StatementOutcome::ConditionFailed { reason, .. } => {
                        format!("not applicable: {reason}")
                    }
                };
                writeln!(f, "  {} [{}]: {what}", s.name(), s.effect)?;
            }
        }
        Ok(())
    }
}
