//! Policies compiled for evaluation: patterns pre-split, values pre-parsed,
//! large literal value lists turned into hash sets, so that a request costs
//! lookups rather than re-reading the document.

use crate::model::*;
use crate::request::{Context, PrincipalKind, Request, RequestPrincipal};
use crate::value::{
    Cidr, Glob, glob_match, literal_of, parse_cidr, parse_date, parse_number, pattern, push_literal, push_pattern,
};
use base64::Engine as _;
use std::collections::HashSet;

/// Value lists at least this long get a hash set (1,000 trusted subjects must
/// not cost 1,000 comparisons).
const SET_THRESHOLD: usize = 8;

/// A string that may hold `${...}` policy variables.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    Plain(String),
    Vars(Vec<Part>),
}

#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// Text from the policy (wildcards in it keep their meaning).
    Text(String),
    /// `${key}` or `${key, 'default'}`; the substituted value is literal.
    Var { key_lower: String, default: Option<String> },
    /// `${*}`, `${?}`, `${$}`: a literal character.
    Char(char),
}

impl Template {
    pub(crate) fn new(s: &str, variables: bool) -> Template {
        if !variables || !s.contains("${") {
            return Template::Plain(s.to_owned());
        }
        let mut parts = Vec::new();
        let mut rest = s;
        let mut text = String::new();
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            text.push_str(&rest[..start]);
            let inner = &rest[start + 2..start + 2 + len];
            rest = &rest[start + 3 + len..];
            let part = match inner.trim() {
                "*" => Part::Char('*'),
                "?" => Part::Char('?'),
                "$" => Part::Char('$'),
                other => match other.split_once(',') {
                    Some((k, d)) => {
                        let d = d.trim();
                        let default = d
                            .strip_prefix('\'')
                            .and_then(|d| d.strip_suffix('\''))
                            .map(str::to_owned);
                        Part::Var {
                            key_lower: k.trim().to_ascii_lowercase(),
                            default,
                        }
                    }
                    None => Part::Var {
                        key_lower: other.to_ascii_lowercase(),
                        default: None,
                    },
                },
            };
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(part);
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Template::Vars(parts)
    }

    /// The string after substitution; `None` when a variable cannot be resolved.
    pub(crate) fn resolve(&self, ctx: &Context) -> Option<String> {
        match self {
            Template::Plain(s) => Some(s.clone()),
            Template::Vars(parts) => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Text(t) => out.push_str(t),
                        Part::Char(c) => out.push(*c),
                        Part::Var { key_lower, default } => {
                            out.push_str(ctx.variable(key_lower).or(default.as_deref())?);
                        }
                    }
                }
                Some(out)
            }
        }
    }

    /// The wildcard pattern after substitution: only the policy's own text
    /// carries wildcards; substituted values and `${*}` are literal.
    pub(crate) fn resolve_pattern(&self, ctx: &Context) -> Option<Vec<Glob>> {
        match self {
            Template::Plain(s) => Some(pattern(s)),
            Template::Vars(parts) => {
                let mut out = Vec::new();
                for p in parts {
                    match p {
                        Part::Text(t) => push_pattern(&mut out, t),
                        Part::Char(c) => push_literal(&mut out, c.encode_utf8(&mut [0; 4])),
                        Part::Var { key_lower, default } => {
                            push_literal(&mut out, ctx.variable(key_lower).or(default.as_deref())?);
                        }
                    }
                }
                Some(out)
            }
        }
    }
}

/// An ARN pattern matched segment by segment: wildcards in the first five
/// segments never cross a colon; the resource segment takes the rest.
#[derive(Debug, Clone)]
pub(crate) enum ArnPattern {
    /// `*` alone.
    Any,
    Segments(Box<[Vec<Glob>; 6]>),
    /// Not an ARN shape: matches nothing.
    Never,
}

impl ArnPattern {
    pub(crate) fn from_globs(globs: Vec<Glob>) -> ArnPattern {
        if globs == [Glob::Star] {
            return ArnPattern::Any;
        }
        // `segs` is never empty, so the last segment always exists.
        let mut segs: Vec<Vec<Glob>> = vec![Vec::new()];
        for g in globs {
            let Glob::Lit(l) = &g else {
                segs.last_mut().into_iter().for_each(|s| s.push(g.clone()));
                continue;
            };
            for (i, piece) in l.split(':').enumerate() {
                if i > 0 {
                    if segs.len() < 6 {
                        segs.push(Vec::new());
                    } else {
                        segs.last_mut().into_iter().for_each(|s| push_literal(s, ":"));
                    }
                }
                segs.last_mut().into_iter().for_each(|s| push_literal(s, piece));
            }
        }
        match <[Vec<Glob>; 6]>::try_from(segs) {
            Ok(a) => ArnPattern::Segments(Box::new(a)),
            Err(_) => ArnPattern::Never,
        }
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Never => false,
            ArnPattern::Segments(segs) => {
                let mut parts = value.splitn(6, ':');
                segs.iter().all(|seg| match parts.next() {
                    Some(p) => glob_match(seg, p),
                    None => false,
                })
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum ArnValue {
    Fixed(ArnPattern),
    Template(Template),
}

impl ArnValue {
    fn new(s: &str, variables: bool) -> ArnValue {
        match Template::new(s, variables) {
            Template::Plain(p) => ArnValue::Fixed(ArnPattern::from_globs(pattern(&p))),
            t => ArnValue::Template(t),
        }
    }

    /// Whether `value` matches; `None` when a variable is unresolved.
    fn matches(&self, ctx: &Context, value: &str) -> Option<bool> {
        match self {
            ArnValue::Fixed(p) => Some(p.matches(value)),
            ArnValue::Template(t) => Some(ArnPattern::from_globs(t.resolve_pattern(ctx)?).matches(value)),
        }
    }
}

/// Action patterns are case-insensitive; stored lowercase.
#[derive(Debug, Clone)]
pub(crate) enum ActionPattern {
    Any,
    Exact(String),
    Glob(Vec<Glob>),
}

impl ActionPattern {
    fn new(s: &str) -> ActionPattern {
        let lower = s.to_ascii_lowercase();
        if lower == "*" {
            return ActionPattern::Any;
        }
        let g = pattern(&lower);
        match literal_of(&g) {
            Some(l) => ActionPattern::Exact(l.to_owned()),
            None => ActionPattern::Glob(g),
        }
    }

    fn matches(&self, action_lower: &str) -> bool {
        match self {
            ActionPattern::Any => true,
            ActionPattern::Exact(a) => a == action_lower,
            ActionPattern::Glob(g) => glob_match(g, action_lower),
        }
    }
}

/// Compiled values of one condition key, by operator family.
#[derive(Debug, Clone)]
pub(crate) enum CondValues {
    /// StringEquals / StringNotEquals (and IgnoreCase, stored lowercase).
    Equals {
        literals: Vec<String>,
        set: Option<HashSet<String>>,
        templates: Vec<Template>,
        ignore_case: bool,
    },
    Like(Vec<LikeValue>),
    Numeric(Vec<f64>),
    Date(Vec<i64>),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<Cidr>),
    Arn(Vec<ArnValue>),
    Null(Vec<bool>),
}

#[derive(Debug, Clone)]
pub(crate) enum LikeValue {
    Fixed(Vec<Glob>),
    Template(Template),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledCondition {
    pub operator: Operator,
    pub key: String,
    pub key_lower: String,
    pub raw_values: Vec<String>,
    pub values: CondValues,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledPrincipal {
    pub negated: bool,
    pub any: bool,
    pub aws: Vec<String>,
    pub federated: Vec<String>,
    pub service: Vec<String>,
    pub canonical: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledStatement {
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<CompiledPrincipal>,
    pub actions_negated: bool,
    pub actions: Vec<ActionPattern>,
    pub resources: Option<(bool, Vec<ArnValue>)>,
    /// As written, for explanations.
    pub raw_actions: Vec<String>,
    pub raw_resources: Vec<String>,
    pub raw_principal: String,
    pub resource_templates: Vec<Template>,
    pub conditions: Vec<CompiledCondition>,
}

/// A policy ready for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub(crate) statements: Vec<CompiledStatement>,
}

fn compile_values(op: Operator, entry: &ConditionEntry, variables: bool) -> CondValues {
    use BaseOperator::*;
    let texts = entry.values.iter().map(Scalar::as_text);
    let vars = variables && op.base.allows_variables();
    match op.base {
        StringEquals | StringNotEquals | StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
            let ignore_case = matches!(op.base, StringEqualsIgnoreCase | StringNotEqualsIgnoreCase);
            let mut literals = Vec::new();
            let mut templates = Vec::new();
            for t in texts {
                match Template::new(t, vars) {
                    Template::Plain(s) => literals.push(if ignore_case { s.to_lowercase() } else { s }),
                    tpl => templates.push(tpl),
                }
            }
            let set = (literals.len() >= SET_THRESHOLD).then(|| literals.iter().cloned().collect());
            CondValues::Equals {
                literals,
                set,
                templates,
                ignore_case,
            }
        }
        StringLike | StringNotLike => CondValues::Like(
            texts
                .map(|t| match Template::new(t, vars) {
                    Template::Plain(s) => LikeValue::Fixed(pattern(&s)),
                    tpl => LikeValue::Template(tpl),
                })
                .collect(),
        ),
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => CondValues::Numeric(texts.filter_map(parse_number).collect()),
        DateEquals | DateNotEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals => {
            CondValues::Date(texts.filter_map(parse_date).collect())
        }
        Bool => CondValues::Bool(texts.map(|t| t.eq_ignore_ascii_case("true")).collect()),
        BinaryEquals => CondValues::Binary(
            texts
                .filter_map(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                .collect(),
        ),
        IpAddress | NotIpAddress => CondValues::Ip(texts.filter_map(parse_cidr).collect()),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => {
            CondValues::Arn(texts.map(|t| ArnValue::new(t, vars)).collect())
        }
        Null => CondValues::Null(texts.map(|t| t.eq_ignore_ascii_case("true")).collect()),
    }
}

impl CompiledPolicy {
    /// Compiles a parsed policy.
    pub fn new(policy: &Policy) -> CompiledPolicy {
        let variables = policy.variables_enabled();
        let statements = policy
            .statements
            .iter()
            .enumerate()
            .map(|(index, s)| CompiledStatement {
                index,
                sid: s.sid.clone(),
                effect: s.effect,
                principal: s.principal.as_ref().map(|p| {
                    let mut c = CompiledPrincipal {
                        negated: p.negated,
                        any: false,
                        aws: vec![],
                        federated: vec![],
                        service: vec![],
                        canonical: vec![],
                    };
                    match &p.principal {
                        PrincipalSpec::Any => c.any = true,
                        PrincipalSpec::Map(m) => {
                            for (t, v) in m {
                                let list = match t {
                                    PrincipalType::Aws => &mut c.aws,
                                    PrincipalType::Federated => &mut c.federated,
                                    PrincipalType::Service => &mut c.service,
                                    PrincipalType::CanonicalUser => &mut c.canonical,
                                };
                                list.extend(v.items.iter().cloned());
                            }
                        }
                    }
                    c
                }),
                raw_actions: s.action.values.items.clone(),
                raw_resources: s.resource.as_ref().map(|r| r.values.items.clone()).unwrap_or_default(),
                raw_principal: s.principal.as_ref().map(principal_text).unwrap_or_default(),
                resource_templates: s
                    .resource
                    .iter()
                    .flat_map(|r| r.values.items.iter().map(|v| Template::new(v, variables)))
                    .collect(),
                actions_negated: s.action.negated,
                actions: s.action.values.items.iter().map(|a| ActionPattern::new(a)).collect(),
                resources: s.resource.as_ref().map(|r| {
                    (
                        r.negated,
                        r.values.items.iter().map(|v| ArnValue::new(v, variables)).collect(),
                    )
                }),
                conditions: s
                    .condition
                    .iter()
                    .flatten()
                    .flat_map(|b| {
                        b.entries.iter().map(move |e| CompiledCondition {
                            operator: b.operator,
                            key: e.key.clone(),
                            key_lower: e.key.to_ascii_lowercase(),
                            raw_values: e.values.iter().map(|v| v.as_text().to_owned()).collect(),
                            values: compile_values(b.operator, e, variables),
                        })
                    })
                    .collect(),
            })
            .collect();
        CompiledPolicy { statements }
    }
}

fn principal_text(p: &PrincipalElement) -> String {
    match &p.principal {
        PrincipalSpec::Any => "\"*\"".to_owned(),
        PrincipalSpec::Map(m) => m
            .iter()
            .map(|(t, v)| format!("{}: {}", t.as_str(), v.items.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// How a statement's principal element matched the caller; it decides whether
/// a resource policy grants directly or needs the caller's own policies too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalMatch {
    /// Named specifically (its ARN, `*`, a provider or service).
    Direct,
    /// Named through the role of a role session: boundaries and session policies still apply.
    ViaRole,
    /// Named through its account: the account's own policies must also allow.
    ViaAccount,
}

impl CompiledPrincipal {
    /// `has_boundary`: the caller has a permissions boundary; AWS then never
    /// exempts it through `NotPrincipal`.
    pub(crate) fn matches(&self, p: Option<&RequestPrincipal>, has_boundary: bool) -> Option<PrincipalMatch> {
        let found = self.find(p);
        if !self.negated {
            return found;
        }
        // `NotPrincipal` exempts only principals it names exactly: an account
        // entry exempts the account's root, a role ARN not its sessions.
        match found {
            Some(PrincipalMatch::Direct) if !has_boundary => None,
            _ => Some(PrincipalMatch::Direct),
        }
    }

    fn find(&self, p: Option<&RequestPrincipal>) -> Option<PrincipalMatch> {
        if self.any {
            return Some(PrincipalMatch::Direct);
        }
        let anonymous = RequestPrincipal::parse("*");
        let p = p.unwrap_or(&anonymous);
        let mut best = None;
        for v in &self.aws {
            let m = aws_principal_matches(v, p);
            if m == Some(PrincipalMatch::Direct) {
                return m;
            }
            best = best.or(m);
        }
        let eq = |list: &[String], kind: PrincipalKind| p.kind == kind && list.contains(&p.id);
        if eq(&self.federated, PrincipalKind::Federated)
            || eq(&self.service, PrincipalKind::Service)
            || eq(&self.canonical, PrincipalKind::CanonicalUser)
        {
            return Some(PrincipalMatch::Direct);
        }
        best
    }
}

fn aws_principal_matches(v: &str, p: &RequestPrincipal) -> Option<PrincipalMatch> {
    if v == "*" {
        return Some(PrincipalMatch::Direct);
    }
    if !p.is_aws() {
        return None;
    }
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let named_account = if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        Some(v)
    } else if parts.len() == 6 && parts[2] == "iam" && parts[5] == "root" {
        Some(parts[4])
    } else {
        None
    };
    if let Some(acct) = named_account {
        if p.account.as_deref() != Some(acct) {
            return None;
        }
        return Some(if p.kind == PrincipalKind::Account {
            PrincipalMatch::Direct
        } else {
            PrincipalMatch::ViaAccount
        });
    }
    if v == p.id {
        return Some(PrincipalMatch::Direct);
    }
    // A role ARN names every session of that role (the path is not part of a session ARN).
    if p.kind == PrincipalKind::AssumedRole
        && parts.len() == 6
        && parts[2] == "iam"
        && parts[4] == p.account.as_deref().unwrap_or_default()
        && parts[5].starts_with("role/")
        && parts[5].rsplit('/').next() == p.role_name.as_deref()
    {
        let p_partition = p.id.split(':').nth(1);
        if p_partition == Some(parts[1]) {
            return Some(PrincipalMatch::ViaRole);
        }
    }
    None
}

impl CompiledStatement {
    /// The Resource values with policy variables substituted (unresolved ones as written).
    pub(crate) fn resolved_resources(&self, ctx: &Context) -> Vec<String> {
        self.resource_templates
            .iter()
            .zip(&self.raw_resources)
            .map(|(t, raw)| t.resolve(ctx).unwrap_or_else(|| format!("{raw} (unresolved variable)")))
            .collect()
    }

    pub(crate) fn action_matches(&self, req: &Request) -> bool {
        let any = self.actions.iter().any(|a| a.matches(&req.action_lower));
        any != self.actions_negated
    }

    /// `None` when the statement has no Resource element (trust policies).
    pub(crate) fn resource_matches(&self, req: &Request) -> Option<bool> {
        let (negated, pats) = self.resources.as_ref()?;
        let Some(res) = req.resource.as_deref() else {
            // A request naming no resource matches only `*` (or any NotResource).
            let any_star = pats.iter().any(|p| matches!(p, ArnValue::Fixed(ArnPattern::Any)));
            return Some(*negated || any_star);
        };
        let any = pats.iter().any(|p| p.matches(&req.context, res).unwrap_or(false));
        Some(any != *negated)
    }
}

/// How a condition came out; carries enough for an explanation.
pub(crate) fn condition_holds(c: &CompiledCondition, ctx: &Context) -> bool {
    let entry = ctx.get_lower(&c.key_lower);
    if let CondValues::Null(wants) = &c.values {
        let absent = entry.is_none_or(|e| e.values.is_empty());
        return wants.contains(&absent);
    }
    let negated = c.operator.base.is_negated();
    let values = match entry {
        Some(e) if !e.values.is_empty() => &e.values,
        _ => {
            return match c.operator.qualifier {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => c.operator.if_exists,
                None => c.operator.if_exists || negated,
            };
        }
    };
    match c.operator.qualifier {
        Some(SetQualifier::ForAllValues) => values.iter().all(|v| value_holds(c, ctx, v)),
        Some(SetQualifier::ForAnyValue) => values.iter().any(|v| value_holds(c, ctx, v)),
        None if values.len() == 1 => value_holds(c, ctx, &values[0]),
        // A bare operator on a key with several values: positive operators do
        // not match, negated ones do (see the crate docs).
        None => negated,
    }
}

/// One request value against the operator: positive operators hold when any
/// policy value matches; negated ones when none does.
pub(crate) fn value_holds(c: &CompiledCondition, ctx: &Context, v: &str) -> bool {
    positive_match(&c.values, c.operator.base, ctx, v) != c.operator.base.is_negated()
}

fn positive_match(values: &CondValues, base: BaseOperator, ctx: &Context, v: &str) -> bool {
    use BaseOperator::*;
    match values {
        CondValues::Equals {
            literals,
            set,
            templates,
            ignore_case,
        } => {
            let lowered;
            let v = if *ignore_case {
                lowered = v.to_lowercase();
                lowered.as_str()
            } else {
                v
            };
            let lit = match set {
                Some(s) => s.contains(v),
                None => literals.iter().any(|l| l == v),
            };
            lit || templates.iter().any(|t| {
                t.resolve(ctx)
                    .is_some_and(|r| if *ignore_case { r.to_lowercase() == v } else { r == v })
            })
        }
        CondValues::Like(pats) => pats.iter().any(|p| match p {
            LikeValue::Fixed(g) => glob_match(g, v),
            LikeValue::Template(t) => t.resolve_pattern(ctx).is_some_and(|g| glob_match(&g, v)),
        }),
        CondValues::Numeric(nums) => {
            let Some(x) = parse_number(v) else {
                return false;
            };
            nums.iter().any(|&n| match base {
                NumericEquals | NumericNotEquals => x == n,
                NumericLessThan => x < n,
                NumericLessThanEquals => x <= n,
                NumericGreaterThan => x > n,
                NumericGreaterThanEquals => x >= n,
                _ => false,
            })
        }
        CondValues::Date(dates) => {
            let Some(x) = parse_date(v) else { return false };
            dates.iter().any(|&d| match base {
                DateEquals | DateNotEquals => x == d,
                DateLessThan => x < d,
                DateLessThanEquals => x <= d,
                DateGreaterThan => x > d,
                DateGreaterThanEquals => x >= d,
                _ => false,
            })
        }
        CondValues::Bool(bs) => {
            let x = if v.eq_ignore_ascii_case("true") {
                true
            } else if v.eq_ignore_ascii_case("false") {
                false
            } else {
                return false;
            };
            bs.contains(&x)
        }
        CondValues::Binary(bins) => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(v);
            match decoded {
                Ok(bytes) => bins.contains(&bytes),
                Err(_) => false,
            }
        }
        CondValues::Ip(cidrs) => match v.trim().parse() {
            Ok(ip) => cidrs.iter().any(|c| c.contains(ip)),
            Err(_) => false,
        },
        CondValues::Arn(arns) => arns.iter().any(|a| a.matches(ctx, v).unwrap_or(false)),
        CondValues::Null(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_patterns_match_per_segment() {
        let p = |s: &str| ArnPattern::from_globs(pattern(s));
        assert!(p("arn:aws:s3:::bucket/*").matches("arn:aws:s3:::bucket/a/b"));
        assert!(!p("arn:aws:s3:::bucket/*").matches("arn:aws:s3:::bucket2/a"));
        assert!(p("*").matches("anything"));
        // The documented example: a wildcard in the account segment does not cross colons.
        let doc = p("arn:aws:someservice:*:111122223333:finance/*");
        assert!(doc.matches("arn:aws:someservice:us-east-1:111122223333:finance/x"));
        assert!(!doc.matches("arn:aws:someservice:us-east-1:extra:111122223333:finance/x"));
        assert!(p("arn:aws:logs:*:*:log-group:app:*").matches("arn:aws:logs:us-east-1:1:log-group:app:log-stream:x"));
        assert!(!p("arn:aws:s3:::b").matches("arn:aws:s3::b"));
        assert!(matches!(p("bucket"), ArnPattern::Never));
    }

    #[test]
    fn templates_resolve_and_escape() {
        let mut ctx = Context::new();
        ctx.insert("aws:username", "a*b");
        let t = Template::new("home/${aws:username}/${*}", true);
        assert_eq!(t.resolve(&ctx).as_deref(), Some("home/a*b/*"));
        let g = t.resolve_pattern(&ctx).unwrap();
        assert!(glob_match(&g, "home/a*b/*"));
        assert!(!glob_match(&g, "home/axb/*"));
        assert!(!glob_match(&g, "home/a*b/x"));
        let d = Template::new("${aws:PrincipalTag/team, 'company-wide'}", true);
        assert_eq!(d.resolve(&ctx).as_deref(), Some("company-wide"));
        assert!(Template::new("${aws:missing}", true).resolve(&ctx).is_none());
        assert_eq!(
            Template::new("${aws:username}", false).resolve(&ctx).as_deref(),
            Some("${aws:username}")
        );
    }
}
