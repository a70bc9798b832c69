//! `SimulateCustomPolicy` and `SimulatePrincipalPolicy` over the policy engine.

use crate::layout;
use crate::names::parse_role_arn;
use crate::roles::no_role;
use crate::service::{Iam, no_such, xml};
use irsa_aws_query::{AwsError, ErrorCode, POLICY_PATTERN, QueryParams, TEXT_PATTERN, Validator, XmlWriter};
use irsa_policy::{
    Context, Decision, Effect, Limits, Policy, PolicyKind, PolicyRole, PolicySet, Request, RequestPrincipal,
    StatementOutcome, validate,
};
use irsa_store::Store;

/// One policy taking part in a simulation.
struct Source {
    /// `SourcePolicyId`.
    id: String,
    /// `SourcePolicyType`.
    kind: &'static str,
    role: PolicyRole,
    policy: Policy,
    text: String,
}

/// A statement's place in its document: 1-based line and column of its
/// opening and closing brace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: (usize, usize),
    end: (usize, usize),
}

/// Finds the spans of the statements of a (valid) policy document, in order:
/// the object of `Statement`, or each object of its list.
fn statement_spans(text: &str) -> Vec<Span> {
    let chars: Vec<char> = text.chars().collect();
    let mut line = 1;
    let mut col = 0;
    let mut pos: Vec<(usize, usize)> = Vec::with_capacity(chars.len());
    for c in &chars {
        col += 1;
        pos.push((line, col));
        if *c == '\n' {
            line += 1;
            col = 0;
        }
    }
    // Walk the top-level object looking for the "Statement" key.
    let mut depth = 0usize;
    let mut i = 0;
    let mut in_string = false;
    let mut string_start = 0;
    let mut last_key: Option<String> = None;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == '"' {
                in_string = false;
                let s: String = chars[string_start + 1..i].iter().collect();
                last_key = Some(s);
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                string_start = i;
            }
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            ':' if depth == 1 && last_key.as_deref() == Some("Statement") => {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let is_list = chars.get(j) == Some(&'[');
                let mut k = if is_list { j + 1 } else { j };
                loop {
                    while k < chars.len() && (chars[k].is_whitespace() || chars[k] == ',') {
                        k += 1;
                    }
                    if chars.get(k) != Some(&'{') {
                        break;
                    }
                    let start = k;
                    let Some(end) = matching_brace(&chars, k) else { break };
                    if let (Some(s), Some(e)) = (pos.get(start), pos.get(end)) {
                        out.push(Span { start: *s, end: *e });
                    }
                    k = end + 1;
                    if !is_list {
                        break;
                    }
                }
                return out;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == '"' {
                in_string = false;
            }
        } else {
            match c {
                '"' => in_string = true,
                '{' | '[' => depth += 1,
                '}' | ']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn unbounded() -> Limits {
    Limits {
        trust: usize::MAX,
        managed: usize::MAX,
        inline: usize::MAX,
        session: usize::MAX,
        resource: usize::MAX,
    }
}

fn parse_input(text: &str, kind: PolicyKind, what: &str) -> Result<Policy, AwsError> {
    let report = validate(text, kind, &unbounded());
    match (report.policy, report.errors.first()) {
        (Some(p), None) => Ok(p),
        (_, first) => Err(AwsError::new(
            ErrorCode::InvalidInput,
            format!(
                "{what} is not a valid policy: {}",
                first.map_or_else(|| "invalid policy".to_owned(), ToString::to_string)
            ),
        )),
    }
}

/// The most `ContextEntries` one simulation takes (each entry's values are
/// looked up among all parameters, so this bounds the work).
const MAX_CONTEXT_ENTRIES: usize = 1000;

const CONTEXT_TYPES: &[&str] = &[
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];

/// `ContextEntries.member.N.{ContextKeyName, ContextKeyValues.member.M, ContextKeyType}`.
fn context_entries(params: &QueryParams) -> Result<Context, AwsError> {
    let names = params.list("ContextEntries", Some("ContextKeyName"))?;
    let types = params.list("ContextEntries", Some("ContextKeyType"))?;
    if names.len() > MAX_CONTEXT_ENTRIES {
        return Err(AwsError::new(
            ErrorCode::InvalidInput,
            format!("At most {MAX_CONTEXT_ENTRIES} context entries can be simulated at once."),
        ));
    }
    let mut ctx = Context::new();
    for (i, name) in names.iter().enumerate() {
        let n = i + 1;
        if !(5..=256).contains(&name.chars().count()) {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                format!(
                    "1 validation error detected: Value '{name}' at 'contextEntries.{n}.member.contextKeyName' failed to satisfy constraint: Member must have length between 5 and 256"
                ),
            ));
        }
        let ty = types.get(i).copied().unwrap_or("string");
        if !CONTEXT_TYPES.contains(&ty) {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                format!(
                    "1 validation error detected: Value '{ty}' at 'contextEntries.{n}.member.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    CONTEXT_TYPES.join(", ")
                ),
            ));
        }
        let values = params.list(&format!("ContextEntries.member.{n}.ContextKeyValues"), None)?;
        if ty.ends_with("List") {
            ctx.insert_multi(name, values);
        } else {
            match values.as_slice() {
                [one] => {
                    ctx.insert(name, *one);
                }
                [] => {}
                _ => {
                    return Err(AwsError::new(
                        ErrorCode::InvalidInput,
                        format!("Context key {name} of type {ty} takes one value; use {ty}List for several."),
                    ));
                }
            }
        }
    }
    if types.len() > names.len() {
        return Err(AwsError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value null at 'contextEntries.member.contextKeyName' failed to satisfy constraint: Member must not be null",
        ));
    }
    Ok(ctx)
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allowed",
        Decision::ExplicitDeny => "explicitDeny",
        Decision::ImplicitDeny => "implicitDeny",
    }
}

/// What the simulation needs from the request besides the policies.
struct Inputs<'a> {
    actions: Vec<&'a str>,
    resources: Vec<&'a str>,
    context: Context,
    principal: Option<RequestPrincipal>,
    /// Whether `ResourceArns` was given (else the simulation is over `*`).
    explicit_resources: bool,
    /// The first (action, resource) pair of this page.
    start: usize,
    /// Pairs per page.
    max: usize,
}

fn common_inputs(params: &QueryParams) -> Result<Inputs<'_>, AwsError> {
    let actions = params.list("ActionNames", None)?;
    let mut v = Validator::new(params);
    if actions.is_empty() {
        v.failure(None, "ActionNames", "Member must not be null");
    }
    for (i, a) in actions.iter().enumerate() {
        let n = a.chars().count();
        if !(3..=128).contains(&n) {
            v.failure(
                Some(a),
                &format!("ActionNames.member.{}", i + 1),
                "Member must have length between 3 and 128",
            );
        }
    }
    let resources = params.list("ResourceArns", None)?;
    for (i, r) in resources.iter().enumerate() {
        let n = r.chars().count();
        if !(1..=2048).contains(&n) {
            v.failure(
                Some(r),
                &format!("ResourceArns.member.{}", i + 1),
                "Member must have length between 1 and 2048",
            );
        }
    }
    let caller = v.string("CallerArn", false, 1, 2048, Some(TEXT_PATTERN));
    v.string("ResourcePolicy", false, 1, 131_072, Some(POLICY_PATTERN));
    v.string("ResourceOwner", false, 1, 2048, Some(TEXT_PATTERN));
    v.string("ResourceHandlingOption", false, 1, 64, None);
    let marker = v.string("Marker", false, 1, 320, None);
    let max = v.int("MaxItems", false, 1, 1000).unwrap_or(100);
    v.finish()?;
    // Results are paged (action-major order): at most MaxItems evaluations per request.
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| AwsError::new(ErrorCode::InvalidInput, "Invalid Marker."))?,
    };
    let explicit_resources = !resources.is_empty();
    let resources = if resources.is_empty() { vec!["*"] } else { resources };
    Ok(Inputs {
        start,
        max: usize::try_from(max).unwrap_or(100),
        explicit_resources,
        actions,
        resources,
        context: context_entries(params)?,
        principal: caller.map(RequestPrincipal::parse),
    })
}

fn custom_sources(params: &QueryParams, sources: &mut Vec<Source>) -> Result<(), AwsError> {
    for (i, text) in params.list("PolicyInputList", None)?.into_iter().enumerate() {
        let id = format!("PolicyInputList.{}", i + 1);
        let policy = parse_input(text, PolicyKind::Identity, &id)?;
        sources.push(Source {
            id,
            kind: "IAM Policy",
            role: PolicyRole::Identity,
            policy,
            text: text.to_owned(),
        });
    }
    Ok(())
}

fn boundary_sources(params: &QueryParams, sources: &mut Vec<Source>) -> Result<bool, AwsError> {
    let list = params.list("PermissionsBoundaryPolicyInputList", None)?;
    for (i, text) in list.iter().enumerate() {
        let id = format!("PermissionsBoundaryPolicyInputList.{}", i + 1);
        let policy = parse_input(text, PolicyKind::Identity, &id)?;
        sources.push(Source {
            id,
            kind: "IAM Policy",
            role: PolicyRole::Boundary,
            policy,
            text: (*text).to_owned(),
        });
    }
    Ok(!list.is_empty())
}

fn resource_source(params: &QueryParams, inputs: &Inputs<'_>, sources: &mut Vec<Source>) -> Result<(), AwsError> {
    if let Some(text) = params.get("ResourcePolicy") {
        if inputs.principal.is_none() {
            return Err(AwsError::new(
                ErrorCode::InvalidInput,
                "CallerArn is required when a ResourcePolicy is given, so that its Principal element can be evaluated.",
            ));
        }
        let policy = parse_input(text, PolicyKind::Resource, "ResourcePolicy")?;
        sources.push(Source {
            id: "ResourcePolicy".to_owned(),
            kind: "resource",
            role: PolicyRole::Resource,
            policy,
            text: text.to_owned(),
        });
    }
    Ok(())
}

/// Runs every action against every resource and writes `EvaluationResults`.
fn run(sources: &[Source], inputs: Inputs<'_>) -> Option<String> {
    let mut set = PolicySet::new();
    for s in sources {
        set.add(s.role, s.id.clone(), &s.policy);
    }
    let spans: Vec<Vec<Span>> = sources.iter().map(|s| statement_spans(&s.text)).collect();
    let has_boundary = sources.iter().any(|s| s.role == PolicyRole::Boundary);
    let mut results = Vec::new();
    // Pair i is (actions[i / resources], resources[i % resources]); only this
    // page's pairs are evaluated (nothing proportional to the product is built).
    let per_action = inputs.resources.len().max(1);
    let total = inputs.actions.len().saturating_mul(per_action);
    let end = inputs.start.saturating_add(inputs.max).min(total);
    let next = (end < total).then(|| end.to_string());
    for i in inputs.start..end {
        let (Some(action), Some(resource)) = (inputs.actions.get(i / per_action), inputs.resources.get(i % per_action))
        else {
            continue;
        };
        {
            let mut req = Request::new(action)
                .with_resource(*resource)
                .with_context(inputs.context.clone());
            if let Some(p) = &inputs.principal {
                req = req.with_principal(p.clone());
            }
            let ex = set.explain(&req);
            let decisive = match ex.decision {
                Decision::Allow => Some(Effect::Allow),
                Decision::ExplicitDeny => Some(Effect::Deny),
                Decision::ImplicitDeny => None,
            };
            let mut matched: Vec<(usize, usize)> = Vec::new();
            let mut missing: Vec<String> = Vec::new();
            let mut boundary_allows = false;
            for (pi, trace) in ex.policies.iter().enumerate() {
                let Some(source) = sources.get(pi) else { continue };
                for st in &trace.statements {
                    let is_match = st.outcome == StatementOutcome::Matched;
                    // A boundary's allow only permits; the statements that
                    // grant are the identity and resource policies'.
                    let grants_or_denies = st.effect == Effect::Deny || trace.role != PolicyRole::Boundary;
                    if is_match && Some(st.effect) == decisive && grants_or_denies {
                        matched.push((pi, st.index));
                    }
                    if is_match && trace.role == PolicyRole::Boundary && st.effect == Effect::Allow {
                        boundary_allows = true;
                    }
                    // Over `*`, a statement whose action matches may apply to
                    // some resource: its keys count as needed.
                    let applies = match &st.outcome {
                        StatementOutcome::Matched | StatementOutcome::ConditionFailed { .. } => true,
                        StatementOutcome::ResourceNotMatched { .. } => *resource == "*",
                        _ => false,
                    };
                    if applies && let Some(stmt) = source.policy.statements.get(st.index) {
                        for block in stmt.condition.iter().flatten() {
                            for entry in &block.entries {
                                if req.context().get(&entry.key).is_none()
                                    && !missing.iter().any(|m| m.eq_ignore_ascii_case(&entry.key))
                                {
                                    missing.push(entry.key.clone());
                                }
                            }
                        }
                    }
                }
            }
            results.push((
                (*action).to_owned(),
                (*resource).to_owned(),
                ex.decision,
                matched,
                missing,
                boundary_allows,
            ));
        }
    }
    let explicit = inputs.explicit_resources;
    xml(|w: &mut XmlWriter| {
        let write_matched = |w: &mut XmlWriter, matched: &[(usize, usize)]| {
            w.list("MatchedStatements", matched, |w, (pi, si)| {
                if let Some(s) = sources.get(*pi) {
                    w.element("SourcePolicyId", &s.id).element("SourcePolicyType", s.kind);
                    if let Some(span) = spans.get(*pi).and_then(|v| v.get(*si)) {
                        w.start("StartPosition")
                            .element("Line", &span.start.0.to_string())
                            .element("Column", &span.start.1.to_string())
                            .end();
                        w.start("EndPosition")
                            .element("Line", &span.end.0.to_string())
                            .element("Column", &span.end.1.to_string())
                            .end();
                    }
                }
            });
        };
        let no_keys: Vec<String> = Vec::new();
        w.list(
            "EvaluationResults",
            &results,
            |w, (action, resource, decision, matched, missing, boundary_allows)| {
                w.element("EvalActionName", action)
                    .element("EvalResourceName", resource)
                    .element("EvalDecision", decision_name(*decision));
                write_matched(w, matched);
                // With explicit resources, IAM reports missing keys per resource.
                let top_missing = if explicit { &no_keys } else { missing };
                w.list("MissingContextValues", top_missing, |w, k| {
                    w.text(k);
                });
                if has_boundary {
                    w.start("PermissionsBoundaryDecisionDetail")
                        .element(
                            "AllowedByPermissionsBoundary",
                            if *boundary_allows { "true" } else { "false" },
                        )
                        .end();
                }
                if explicit {
                    w.start("EvalDecisionDetails").end();
                    w.start("ResourceSpecificResults").start("member");
                    w.element("EvalResourceName", resource)
                        .element("EvalResourceDecision", decision_name(*decision));
                    write_matched(w, matched);
                    w.list("MissingContextValues", missing, |w, k| {
                        w.text(k);
                    });
                    w.end().end();
                }
            },
        );
        crate::service::write_paging(w, next.as_deref());
    })
}

/// Every condition key the policies use, once each (case-insensitively), in order.
fn context_keys(sources: &[Source]) -> Option<String> {
    let mut keys: Vec<String> = Vec::new();
    for s in sources {
        for st in &s.policy.statements {
            for block in st.condition.iter().flatten() {
                for e in &block.entries {
                    if !keys.iter().any(|k| k.eq_ignore_ascii_case(&e.key)) {
                        keys.push(e.key.clone());
                    }
                }
            }
        }
    }
    xml(|w| {
        w.list("ContextKeyNames", &keys, |w, k| {
            w.text(k);
        });
    })
}

impl<S: Store> Iam<S> {
    pub(crate) async fn context_keys_for_custom_policy(
        &self,
        params: &QueryParams,
    ) -> Result<Option<String>, AwsError> {
        let mut sources = Vec::new();
        custom_sources(params, &mut sources)?;
        if sources.is_empty() {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null",
            ));
        }
        Ok(context_keys(&sources))
    }

    pub(crate) async fn context_keys_for_principal_policy(
        &self,
        params: &QueryParams,
    ) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let source_arn = v.string("PolicySourceArn", true, 20, 2048, Some(TEXT_PATTERN));
        v.finish()?;
        let role = self.simulated_role(source_arn.unwrap_or_default()).await?;
        let mut sources = self.role_sources(&role).await?;
        custom_sources(params, &mut sources)?;
        Ok(context_keys(&sources))
    }

    async fn simulated_role(&self, source_arn: &str) -> Result<crate::Role, AwsError> {
        let Some((_, _, name)) = parse_role_arn(source_arn) else {
            return Err(AwsError::new(
                ErrorCode::InvalidInput,
                format!("PolicySourceArn {source_arn} is not the ARN of a role (users and groups do not exist here)."),
            ));
        };
        layout::get_role_by_arn(&self.store, &self.account, source_arn)
            .await?
            .ok_or_else(|| no_role(&name))
    }

    /// A role's inline policies, then its attached managed policies' default versions.
    async fn role_sources(&self, role: &crate::Role) -> Result<Vec<Source>, AwsError> {
        let mut sources = Vec::new();
        for (pname, text) in &role.inline_policies {
            let policy = parse_input(text, PolicyKind::Identity, pname)?;
            sources.push(Source {
                id: pname.clone(),
                kind: "role",
                role: PolicyRole::Identity,
                policy,
                text: text.clone(),
            });
        }
        for arn in &role.attached_policies {
            let Some((_, p, _)) = self.policy_rev(arn).await? else {
                continue;
            };
            let Some(text) = p.default_document() else { continue };
            let policy = parse_input(text, PolicyKind::Managed, &p.name)?;
            sources.push(Source {
                id: p.name.clone(),
                kind: "user-managed",
                role: PolicyRole::Identity,
                text: text.to_owned(),
                policy,
            });
        }
        Ok(sources)
    }

    pub(crate) async fn simulate_custom_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let inputs = common_inputs(params)?;
        let mut sources = Vec::new();
        custom_sources(params, &mut sources)?;
        if sources.is_empty() {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null",
            ));
        }
        boundary_sources(params, &mut sources)?;
        resource_source(params, &inputs, &mut sources)?;
        Ok(run(&sources, inputs))
    }

    pub(crate) async fn simulate_principal_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let source_arn = v.string("PolicySourceArn", true, 20, 2048, Some(TEXT_PATTERN));
        v.finish()?;
        let source_arn = source_arn.unwrap_or_default();
        let mut inputs = common_inputs(params)?;
        let role = self.simulated_role(source_arn).await?;
        let mut sources = self.role_sources(&role).await?;
        custom_sources(params, &mut sources)?;
        // A boundary given in the request replaces the role's own.
        if !boundary_sources(params, &mut sources)?
            && let Some(arn) = &role.permissions_boundary
        {
            let Some((_, p, _)) = self.policy_rev(arn).await? else {
                return Err(no_such(format!("Policy {arn} was not found.")));
            };
            if let Some(text) = p.default_document() {
                let policy = parse_input(text, PolicyKind::Managed, &p.name)?;
                sources.push(Source {
                    id: p.name.clone(),
                    kind: "user-managed",
                    role: PolicyRole::Boundary,
                    text: text.to_owned(),
                    policy,
                });
            }
        }
        if inputs.principal.is_none() {
            inputs.principal = Some(RequestPrincipal::parse(&role.arn));
        }
        resource_source(params, &inputs, &mut sources)?;
        Ok(run(&sources, inputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_spans_follow_the_document() {
        let doc = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\"},\n    {\"Effect\": \"Deny\", \"Sid\": \"a{\"}\n  ]\n}";
        let spans = statement_spans(doc);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].start, (4, 5));
        assert_eq!(spans[0].end, (4, 23));
        assert_eq!(spans[1].start, (5, 5));
        let single = statement_spans(r#"{"Statement":{"Effect":"Allow"}}"#);
        assert_eq!(
            single,
            vec![Span {
                start: (1, 14),
                end: (1, 31)
            }]
        );
        assert!(statement_spans("not json").is_empty());
    }
}
