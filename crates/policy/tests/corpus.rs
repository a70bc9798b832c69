//! Runs the data-driven corpus in `tests/corpus/` (format: its README.md).
//! Every failing case is listed before the test fails, so one run shows all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_policy::{
    Context, Decision, Limits, Policy, PolicyKind, PolicyRole, PolicySet, Request, RequestPrincipal, validate,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn corpus_files(sub: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

fn cases(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    v["cases"].as_array().cloned().unwrap_or_default()
}

fn policy_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_policy(v: &Value) -> Result<Policy, String> {
    Policy::parse(&policy_text(v)).map_err(|e| e.to_string())
}

fn build_set(policies: &Value) -> Result<PolicySet, String> {
    let mut set = PolicySet::new();
    let roles = [
        ("identity", PolicyRole::Identity),
        ("resource", PolicyRole::Resource),
        ("boundary", PolicyRole::Boundary),
        ("session", PolicyRole::Session),
    ];
    for (name, role) in roles {
        match &policies[name] {
            Value::Null => {}
            Value::Array(list) if matches!(role, PolicyRole::Identity | PolicyRole::Session) => {
                for (i, p) in list.iter().enumerate() {
                    set.add(role, format!("{name}[{i}]"), &parse_policy(p)?);
                }
            }
            p => {
                set.add(role, name, &parse_policy(p)?);
            }
        }
    }
    Ok(set)
}

fn build_request(r: &Value) -> Request {
    let mut req = Request::new(r["action"].as_str().unwrap_or_default());
    if let Some(res) = r["resource"].as_str() {
        req = req.with_resource(res);
    }
    if let Some(p) = r["principal"].as_str() {
        req = req.with_principal(RequestPrincipal::parse(p));
    }
    let mut ctx = Context::new();
    if let Some(obj) = r["context"].as_object() {
        for (k, v) in obj {
            match v {
                Value::Array(items) => {
                    ctx.insert_multi(
                        k,
                        items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)),
                    );
                }
                Value::String(s) => {
                    ctx.insert(k, s.as_str());
                }
                other => {
                    ctx.insert(k, other.to_string());
                }
            }
        }
    }
    req.with_context(ctx)
}

#[test]
fn evaluation_corpus() {
    let mut failures = Vec::new();
    let mut total = 0;
    for file in corpus_files("eval") {
        let fname = file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in cases(&file) {
            total += 1;
            let name = format!("{fname}: {}", case["name"].as_str().unwrap_or("?"));
            let set = match build_set(&case["policies"]) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{name}: policy does not parse: {e}"));
                    continue;
                }
            };
            let req = build_request(&case["request"]);
            let expect = case["expect"].as_str().unwrap_or("?");
            let fast = set.evaluate(&req);
            let explained = set.explain(&req);
            if fast != explained.decision {
                failures.push(format!(
                    "{name}: evaluate() says {fast} but explain() says {}",
                    explained.decision
                ));
            }
            if fast.as_str() != expect {
                failures.push(format!("{name}: expected {expect}, got {fast}\n{explained}"));
            }
            let text = explained.to_string();
            for needle in case["explain_contains"].as_array().into_iter().flatten() {
                let needle = needle.as_str().unwrap_or_default();
                if !text.contains(needle) {
                    failures.push(format!("{name}: explanation lacks {needle:?}:\n{text}"));
                }
            }
        }
    }
    assert!(total >= 300, "only {total} evaluation cases");
    assert!(
        failures.is_empty(),
        "{} of {total} evaluation cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // Every decision kind is exercised.
    let _ = Decision::Allow;
}

#[test]
fn validation_corpus() {
    let mut failures = Vec::new();
    let mut total = 0;
    for file in corpus_files("validate") {
        let fname = file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in cases(&file) {
            total += 1;
            let name = format!("{fname}: {}", case["name"].as_str().unwrap_or("?"));
            let kind: PolicyKind = match case["kind"].as_str().unwrap_or("identity").parse() {
                Ok(k) => k,
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let text = policy_text(&case["policy"]);
            let report = validate(&text, kind, &Limits::default());
            let want_valid = case["valid"].as_bool().unwrap_or(true);
            let errs: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
            if report.valid != want_valid {
                failures.push(format!(
                    "{name}: expected valid={want_valid}, got valid={} errors={errs:#?} warnings={:#?}",
                    report.valid, report.warnings
                ));
                continue;
            }
            if let Some(ptr) = case["error_pointer"].as_str()
                && !report.errors.iter().any(|e| e.pointer == ptr)
            {
                failures.push(format!("{name}: no error at pointer {ptr:?}; errors: {errs:#?}"));
            }
            if let Some(needle) = case["error_contains"].as_str() {
                let n = needle.to_lowercase();
                if !report.errors.iter().any(|e| e.message.to_lowercase().contains(&n)) {
                    failures.push(format!("{name}: no error containing {needle:?}; errors: {errs:#?}"));
                }
            }
            if let Some(needle) = case["warning_contains"].as_str() {
                let n = needle.to_lowercase();
                if !report.warnings.iter().any(|e| e.message.to_lowercase().contains(&n)) {
                    failures.push(format!(
                        "{name}: no warning containing {needle:?}; warnings: {:#?}",
                        report.warnings
                    ));
                }
            }
        }
    }
    assert!(total >= 60, "only {total} validation cases");
    assert!(
        failures.is_empty(),
        "{} of {total} validation cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
