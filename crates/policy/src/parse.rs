//! From JSON to the policy model, with every problem reported at its JSON pointer.
//!
//! Checks here hold for every kind of policy; what depends on the kind (trust
//! vs identity, size limits) lives in `validate`.

use crate::json::{self, Json, escape_token};
use crate::model::*;
use crate::value::{parse_cidr, parse_date, parse_number};
use base64::Engine as _;
use serde::Serialize;
use std::collections::HashSet;

/// A problem (error or warning) found in a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// RFC 6901 pointer to the offending element (`""` = the whole document).
    pub pointer: String,
    /// What is wrong, and where it helps, what to do.
    pub message: String,
}

impl Diagnostic {
    fn new(pointer: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// The outcome of reading a document: the model when it could be built, and
/// every error and warning found on the way.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub policy: Option<Policy>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Where in the document a value sits, built on the stack as the reader
/// descends and rendered as an RFC 6901 pointer only when something is reported.
#[derive(Clone, Copy)]
enum Ptr<'a> {
    Root,
    Key(&'a Ptr<'a>, &'a str),
    Index(&'a Ptr<'a>, usize),
}

impl<'a> Ptr<'a> {
    fn key(&'a self, k: &'a str) -> Ptr<'a> {
        Ptr::Key(self, k)
    }

    fn index(&'a self, i: usize) -> Ptr<'a> {
        Ptr::Index(self, i)
    }

    fn render(&self) -> String {
        match self {
            Ptr::Root => String::new(),
            Ptr::Key(parent, k) => format!("{}/{}", parent.render(), escape_token(k)),
            Ptr::Index(parent, i) => format!("{}/{i}", parent.render()),
        }
    }
}

struct Ctx {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    uses_variables: Vec<String>,
}

impl Ctx {
    fn error(&mut self, ptr: &Ptr<'_>, msg: impl Into<String>) {
        self.errors.push(Diagnostic::new(&ptr.render(), msg));
    }

    fn warn(&mut self, ptr: &Ptr<'_>, msg: impl Into<String>) {
        self.warnings.push(Diagnostic::new(&ptr.render(), msg));
    }

    /// Checks IAM's character set: TAB, LF, CR and U+0020..=U+00FF.
    fn check_chars(&mut self, ptr: &Ptr<'_>, s: &str) {
        if let Some(c) = s
            .chars()
            .find(|&c| !(c == '\t' || c == '\n' || c == '\r' || ('\u{20}'..='\u{ff}').contains(&c)))
        {
            self.error(
                ptr,
                format!(
                    "character U+{:04X} is outside what IAM accepts in policy documents (tab, newline and U+0020 to U+00FF)",
                    c as u32
                ),
            );
        }
    }

    fn string(&mut self, v: &Json, ptr: &Ptr<'_>, what: &str) -> Option<String> {
        match v {
            Json::String(s) => {
                self.check_chars(ptr, s);
                Some(s.clone())
            }
            other => {
                self.error(ptr, format!("{what} must be a string, not {}", other.type_name()));
                None
            }
        }
    }

    /// A string or a non-empty array of strings.
    fn values(&mut self, v: &Json, ptr: &Ptr<'_>, what: &str) -> Option<Values> {
        match v {
            Json::String(_) => self.string(v, ptr, what).map(Values::one),
            Json::Array(items) => {
                if items.is_empty() {
                    self.error(ptr, format!("{what} must not be an empty list"));
                    return None;
                }
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.string(item, &ptr.index(i), what) {
                        Some(s) => out.push(s),
                        None => ok = false,
                    }
                }
                ok.then(|| Values::list(out))
            }
            other => {
                self.error(
                    ptr,
                    format!(
                        "{what} must be a string or a list of strings, not {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }
}

/// Reads a policy document, collecting every problem that does not depend on
/// the kind of policy.
pub(crate) fn parse_document(text: &str) -> Parsed {
    let doc = match json::parse(text) {
        Ok(d) => d,
        Err(errs) => {
            return Parsed {
                policy: None,
                errors: errs
                    .iter()
                    .map(|e| Diagnostic::new(&e.pointer, format!("invalid JSON: {e}")))
                    .collect(),
                warnings: vec![],
            };
        }
    };
    let mut cx = Ctx {
        errors: vec![],
        warnings: vec![],
        uses_variables: vec![],
    };
    let policy = policy(&mut cx, &doc);
    if let Some(p) = &policy {
        if p.version.is_none() {
            cx.warn(
                &Ptr::Root,
                "no `Version` element: AWS applies 2008-10-17, where `${...}` policy variables are literal text; add \"Version\": \"2012-10-17\"",
            );
        }
        if !p.variables_enabled() {
            for ptr in std::mem::take(&mut cx.uses_variables) {
                cx.warnings.push(Diagnostic::new(
                    &ptr,
                    "`${...}` is literal text here because policy variables need Version 2012-10-17",
                ));
            }
        }
    }
    let failed = !cx.errors.is_empty();
    Parsed {
        policy: if failed { None } else { policy },
        errors: cx.errors,
        warnings: cx.warnings,
    }
}

fn policy(cx: &mut Ctx, doc: &Json) -> Option<Policy> {
    let Json::Object(members) = doc else {
        cx.error(
            &Ptr::Root,
            format!("a policy document must be a JSON object, not {}", doc.type_name()),
        );
        return None;
    };
    let mut version = None;
    let mut id = None;
    let mut statements = None;
    let mut statement_is_list = false;
    for (k, v) in members {
        let ptr = Ptr::Root.key(k);
        match k.as_str() {
            "Version" => {
                if let Some(s) = cx.string(v, &ptr, "`Version`") {
                    match s.as_str() {
                        "2012-10-17" => version = Some(Version::V2012_10_17),
                        "2008-10-17" => version = Some(Version::V2008_10_17),
                        other => cx.error(
                            &ptr,
                            format!("invalid `Version` `{other}`: use 2012-10-17 (or the legacy 2008-10-17)"),
                        ),
                    }
                }
            }
            "Id" => id = cx.string(v, &ptr, "`Id`"),
            "Statement" => match v {
                Json::Object(_) => statements = statement(cx, v, &ptr).map(|s| vec![s]),
                Json::Array(items) => {
                    statement_is_list = true;
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        if let Some(s) = statement(cx, item, &ptr.index(i)) {
                            out.push(s);
                        }
                    }
                    if items.is_empty() {
                        cx.error(&ptr, "`Statement` must contain at least one statement");
                    }
                    statements = Some(out);
                }
                other => cx.error(
                    &ptr,
                    format!(
                        "`Statement` must be an object or a list of objects, not {}",
                        other.type_name()
                    ),
                ),
            },
            other => cx.error(
                &ptr,
                format!("unknown element `{other}`: a policy has only Version, Id and Statement"),
            ),
        }
    }
    let Some(statements) = statements else {
        if !members.iter().any(|(k, _)| k == "Statement") {
            cx.error(&Ptr::Root, "missing required element `Statement`");
        }
        return None;
    };
    // Sids must be unique within a policy.
    let mut sids = HashSet::new();
    for (i, s) in statements.iter().enumerate() {
        if let Some(sid) = &s.sid
            && !sids.insert(sid.as_str())
        {
            let list = Ptr::Root.key("Statement");
            let st = if statement_is_list { list.index(i) } else { list };
            cx.error(
                &st.key("Sid"),
                format!("duplicate Sid `{sid}`: statement IDs (SID) in a single policy must be unique"),
            );
        }
    }
    Some(Policy {
        version,
        id,
        statements,
        statement_is_list,
    })
}

fn statement(cx: &mut Ctx, v: &Json, ptr: &Ptr<'_>) -> Option<Statement> {
    let Json::Object(members) = v else {
        cx.error(ptr, format!("a statement must be an object, not {}", v.type_name()));
        return None;
    };
    let errors_before = cx.errors.len();
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<PrincipalElement> = None;
    let mut action: Option<Targets> = None;
    let mut resource: Option<Targets> = None;
    let mut condition = None;
    let mut seen_principal = None::<&str>;
    let mut seen_action = None::<&str>;
    let mut seen_resource = None::<&str>;
    for (k, val) in members {
        let p = ptr.key(k);
        match k.as_str() {
            "Sid" => sid = cx.string(val, &p, "`Sid`"),
            "Effect" => {
                if let Some(s) = cx.string(val, &p, "`Effect`") {
                    match s.as_str() {
                        "Allow" => effect = Some(Effect::Allow),
                        "Deny" => effect = Some(Effect::Deny),
                        other => cx.error(
                            &p,
                            format!("invalid `Effect` `{other}`: must be `Allow` or `Deny` (case-sensitive)"),
                        ),
                    }
                }
            }
            "Principal" | "NotPrincipal" => {
                if let Some(prev) = seen_principal {
                    cx.error(&p, format!("a statement cannot have both `{prev}` and `{k}`"));
                    continue;
                }
                seen_principal = Some(k.as_str());
                principal = principal_element(cx, val, &p).map(|principal| PrincipalElement {
                    negated: k == "NotPrincipal",
                    principal,
                });
            }
            "Action" | "NotAction" => {
                if let Some(prev) = seen_action.replace(k.as_str()) {
                    cx.error(&p, format!("a statement cannot have both `{prev}` and `{k}`"));
                    continue;
                }
                action = targets(cx, k, val, &p, check_action);
            }
            "Resource" | "NotResource" => {
                if let Some(prev) = seen_resource.replace(k.as_str()) {
                    cx.error(&p, format!("a statement cannot have both `{prev}` and `{k}`"));
                    continue;
                }
                resource = targets(cx, k, val, &p, check_resource);
            }
            "Condition" => condition = conditions(cx, val, &p),
            other => cx.error(
                &p,
                format!(
                    "unknown element `{other}` in a statement (allowed: Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition)"
                ),
            ),
        }
    }
    if effect.is_none() && !members.iter().any(|(k, _)| k == "Effect") {
        cx.error(ptr, "missing required element `Effect`");
    }
    if seen_action.is_none() {
        cx.error(ptr, "policy statement must contain actions (`Action` or `NotAction`)");
    }
    if let (Some(Effect::Allow), Some(p)) = (effect, &principal)
        && p.negated
    {
        {
            cx.warn(
                ptr,
                "`NotPrincipal` with `Allow` grants access to everyone not listed, including anonymous callers",
            );
        }
    }
    if effect == Some(Effect::Allow) {
        for block in condition.iter().flatten() {
            if block.operator.qualifier == Some(SetQualifier::ForAllValues) {
                let cond = ptr.key("Condition");
                let name = block.operator.to_string();
                cx.warn(
                    &cond.key(&name),
                    "`ForAllValues` with `Allow` is true when the key is missing or its set is empty; add a `Null` check for the key",
                );
            }
        }
    }
    if cx.errors.len() > errors_before {
        return None;
    }
    Some(Statement {
        sid,
        effect: effect?,
        principal,
        action: action?,
        resource,
        condition,
    })
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: values checked one by one.
fn targets(
    cx: &mut Ctx,
    element: &str,
    val: &Json,
    ptr: &Ptr<'_>,
    check: fn(&mut Ctx, &str, &Ptr<'_>),
) -> Option<Targets> {
    let values = cx.values(val, ptr, &format!("`{element}`"))?;
    for (i, v) in values.items.iter().enumerate() {
        let ip = if values.is_list { ptr.index(i) } else { *ptr };
        check(cx, v, &ip);
    }
    Some(Targets {
        negated: element.starts_with("Not"),
        values,
    })
}

fn check_action(cx: &mut Ctx, a: &str, ptr: &Ptr<'_>) {
    if a == "*" {
        return;
    }
    let Some((vendor, name)) = a.split_once(':') else {
        cx.error(
            ptr,
            format!("action `{a}`: actions/conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        );
        return;
    };
    if name.contains(':') {
        cx.error(
            ptr,
            format!("action `{a}`: actions/condition can contain only one colon"),
        );
    } else if vendor.is_empty()
        || !vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '?')
    {
        cx.error(ptr, format!("action `{a}`: vendor `{vendor}` is not valid"));
    } else if name.is_empty() {
        cx.error(ptr, format!("action `{a}` has no action name after the colon"));
    }
}

fn check_resource(cx: &mut Ctx, r: &str, ptr: &Ptr<'_>) {
    if r == "*" {
        return;
    }
    if r.contains("${") {
        cx.uses_variables.push(ptr.render());
    }
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[1].is_empty() || parts[2].is_empty() {
        cx.error(ptr, format!("resource `{r}` must be in ARN format or \"*\""));
    }
}

fn principal_element(cx: &mut Ctx, v: &Json, ptr: &Ptr<'_>) -> Option<PrincipalSpec> {
    match v {
        Json::String(s) if s == "*" => Some(PrincipalSpec::Any),
        Json::String(s) => {
            cx.error(
                ptr,
                format!("invalid principal `{s}`: use \"*\" or an object such as {{\"AWS\": \"arn:...\"}}"),
            );
            None
        }
        Json::Object(m) => {
            if m.is_empty() {
                cx.error(ptr, "the principal must name at least one principal");
                return None;
            }
            let mut out = Vec::with_capacity(m.len());
            for (k, val) in m {
                let p = ptr.key(k);
                let Some(t) = PrincipalType::parse(k) else {
                    cx.error(
                        &p,
                        format!("unknown principal type `{k}` (allowed: AWS, Federated, Service, CanonicalUser)"),
                    );
                    continue;
                };
                let Some(values) = cx.values(val, &p, &format!("`{k}` principal")) else {
                    continue;
                };
                for (i, s) in values.items.iter().enumerate() {
                    let ip = if values.is_list { p.index(i) } else { p };
                    check_principal_value(cx, t, s, &ip);
                }
                out.push((t, values));
            }
            Some(PrincipalSpec::Map(out))
        }
        other => {
            cx.error(
                ptr,
                format!("the principal must be \"*\" or an object, not {}", other.type_name()),
            );
            None
        }
    }
}

fn check_principal_value(cx: &mut Ctx, t: PrincipalType, s: &str, ptr: &Ptr<'_>) {
    if s == "*" {
        return;
    }
    if s.contains('*') || s.contains('?') {
        cx.error(
            ptr,
            format!("invalid principal `{s}`: wildcards are not allowed in principals except \"*\" alone"),
        );
        return;
    }
    match t {
        PrincipalType::Aws => {
            let is_account = s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
            let is_arn = s.starts_with("arn:") && s.splitn(6, ':').count() == 6;
            if !is_account && !is_arn {
                cx.error(
                    ptr,
                    format!("invalid AWS principal `{s}`: use a 12-digit account id, an ARN or \"*\""),
                );
            }
        }
        PrincipalType::Service => {
            if !s.contains('.') {
                cx.error(
                    ptr,
                    format!("invalid service principal `{s}`: expected a name such as `ec2.amazonaws.com`"),
                );
            }
        }
        PrincipalType::Federated | PrincipalType::CanonicalUser => {
            if s.is_empty() {
                cx.error(ptr, "a principal must not be empty");
            }
        }
    }
}

fn conditions(cx: &mut Ctx, v: &Json, ptr: &Ptr<'_>) -> Option<Vec<ConditionBlock>> {
    let Json::Object(ops) = v else {
        cx.error(ptr, format!("`Condition` must be an object, not {}", v.type_name()));
        return None;
    };
    let mut blocks = Vec::with_capacity(ops.len());
    for (name, body) in ops {
        let p = ptr.key(name);
        let Some(operator) = Operator::parse(name) else {
            let hint = if name.starts_with("Null") {
                " (`Null` takes neither `IfExists` nor a set qualifier)"
            } else {
                ""
            };
            cx.error(&p, format!("unknown condition operator `{name}`{hint}"));
            continue;
        };
        let Json::Object(keys) = body else {
            cx.error(
                &p,
                format!("a condition operator must map keys to values, not {}", body.type_name()),
            );
            continue;
        };
        if keys.is_empty() {
            cx.error(&p, format!("condition operator `{name}` has no keys"));
            continue;
        }
        let mut seen: Vec<(String, &str)> = Vec::with_capacity(keys.len());
        let mut entries = Vec::with_capacity(keys.len());
        for (key, vals) in keys {
            let kp = p.key(key);
            cx.check_chars(&kp, key);
            let lower = key.to_ascii_lowercase();
            if let Some((_, first)) = seen.iter().find(|(l, _)| *l == lower) {
                cx.error(
                    &kp,
                    format!("duplicate condition key `{key}` (same as `{first}`: condition keys are case-insensitive)"),
                );
                continue;
            }
            seen.push((lower, key));
            if key.is_empty() {
                cx.error(&kp, "a condition key must not be empty");
                continue;
            }
            if !key.contains(':') {
                cx.warn(
                    &kp,
                    format!("condition key `{key}` has no service prefix (such as `aws:`); no request carries it, so it never matches"),
                );
            }
            if let Some(entry) = condition_entry(cx, operator, key, vals, &kp) {
                entries.push(entry);
            }
        }
        blocks.push(ConditionBlock { operator, entries });
    }
    Some(blocks)
}

fn condition_entry(cx: &mut Ctx, op: Operator, key: &str, v: &Json, ptr: &Ptr<'_>) -> Option<ConditionEntry> {
    let (items, is_list): (Vec<(&Json, Ptr<'_>)>, bool) = match v {
        Json::Array(a) => {
            if a.is_empty() {
                cx.error(ptr, format!("condition key `{key}` has an empty list of values"));
                return None;
            }
            (a.iter().enumerate().map(|(i, j)| (j, ptr.index(i))).collect(), true)
        }
        other => (vec![(other, *ptr)], false),
    };
    let mut values = Vec::with_capacity(items.len());
    let mut ok = true;
    for (item, ip) in items {
        let s = match item {
            Json::String(s) => {
                cx.check_chars(&ip, s);
                Scalar::String(s.clone())
            }
            Json::Number(n) => Scalar::Number(n.clone()),
            Json::Bool(b) => Scalar::Bool(*b),
            other => {
                cx.error(
                    &ip,
                    format!(
                        "a condition value must be a string, number or boolean, not {}",
                        other.type_name()
                    ),
                );
                ok = false;
                continue;
            }
        };
        check_condition_value(cx, op, s.as_text(), &ip);
        values.push(s);
    }
    ok.then(|| ConditionEntry {
        key: key.to_owned(),
        values,
        is_list,
    })
}

fn check_condition_value(cx: &mut Ctx, op: Operator, text: &str, ptr: &Ptr<'_>) {
    use BaseOperator::*;
    if text.contains("${") && op.base.allows_variables() {
        cx.uses_variables.push(ptr.render());
    }
    if text.contains("${") && !op.base.allows_variables() {
        cx.warn(
            ptr,
            format!(
                "policy variables are not substituted in `{}` values, so `{text}` never matches",
                op.base.as_str()
            ),
        );
        return;
    }
    let problem = match op.base {
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => parse_number(text).is_none().then_some("number"),
        DateEquals | DateNotEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals => {
            parse_date(text).is_none().then_some("date (ISO 8601 or epoch seconds)")
        }
        Bool | Null => (!text.eq_ignore_ascii_case("true") && !text.eq_ignore_ascii_case("false"))
            .then_some("boolean (\"true\" or \"false\")"),
        IpAddress | NotIpAddress => parse_cidr(text).is_none().then_some("IP address or CIDR block"),
        BinaryEquals => base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_err()
            .then_some("base64 value"),
        _ => None,
    };
    if let Some(what) = problem {
        cx.error(
            ptr,
            format!("`{text}` is not a valid {what} for `{}`", op.base.as_str()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(doc: &str) -> Vec<String> {
        parse_document(doc).errors.into_iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn seed_trust_policy_duplicate_sub_is_an_error_with_pointer() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
          "Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/X"},
          "Action":"sts:AssumeRoleWithWebIdentity",
          "Condition":{"StringEquals":{
            "oidc.eks.us-west-2.amazonaws.com/id/X:aud":"sts.amazonaws.com",
            "oidc.eks.us-west-2.amazonaws.com/id/X:sub":"system:serviceaccount:a:default-editor",
            "oidc.eks.us-west-2.amazonaws.com/id/X:sub":"system:serviceaccount:b:default-editor"}}}]}"#;
        let p = parse_document(doc);
        assert_eq!(p.errors.len(), 1);
        assert_eq!(
            p.errors[0].pointer,
            "/Statement/0/Condition/StringEquals/oidc.eks.us-west-2.amazonaws.com~1id~1X:sub"
        );
        assert!(p.errors[0].message.contains("duplicate key"));
    }

    #[test]
    fn case_insensitive_duplicate_condition_keys() {
        let e = errors(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*",
            "Condition":{"StringEquals":{"aws:username":"a","AWS:UserName":"b"}}}}"#,
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("/Statement/Condition/StringEquals/AWS:UserName: duplicate condition key"));
    }

    #[test]
    fn statement_level_errors_are_all_reported() {
        let e = errors(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"s3","NotAction":"x:y","Foo":1},
            {"Sid":"A","Effect":"Allow","Action":"a:b:c","Resource":"bucket"},
            {"Sid":"A","Effect":"Deny","Action":"*","Resource":"*","Condition":{"NullIfExists":{"aws:x":"true"}}}]}"#,
        );
        let joined = e.join("\n");
        for needle in [
            "/Statement/0/Effect: invalid `Effect` `allow`",
            "/Statement/0/Action: action `s3`: actions/conditions must be prefaced by a vendor",
            "/Statement/0/NotAction: a statement cannot have both `Action` and `NotAction`",
            "/Statement/0/Foo: unknown element `Foo`",
            "/Statement/1/Action: action `a:b:c`: actions/condition can contain only one colon",
            "/Statement/1/Resource: resource `bucket` must be in ARN format",
            "/Statement/2/Condition/NullIfExists: unknown condition operator",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in\n{joined}");
        }
    }

    #[test]
    fn duplicate_sids_are_reported_even_when_statements_are_valid() {
        let e = errors(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},
            {"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]}"#,
        );
        assert_eq!(
            e,
            vec!["/Statement/1/Sid: duplicate Sid `A`: statement IDs (SID) in a single policy must be unique"]
        );
    }

    #[test]
    fn value_types_per_operator() {
        let e = errors(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
            "NumericLessThan":{"s3:max-keys":"ten"},"DateGreaterThan":{"aws:CurrentTime":"yesterday"},
            "IpAddress":{"aws:SourceIp":"10.0.0.0/33"},"Bool":{"aws:SecureTransport":"yes"},
            "BinaryEquals":{"k:b":"!!"},"StringEquals":{"k:o":{"a":1}}}}}"#,
        );
        assert_eq!(e.len(), 6, "{e:#?}");
    }

    #[test]
    fn non_latin1_characters_are_rejected() {
        let e = errors(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"x","Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/€"}}"#,
        );
        assert!(e[0].contains("U+20AC"), "{e:?}");
    }

    #[test]
    fn warnings_for_missing_version_and_literal_variables() {
        let p = parse_document(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/${aws:username}"}}"#,
        );
        assert!(p.errors.is_empty());
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    }
}
