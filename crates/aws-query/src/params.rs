//! Query parameters: decoding, lists and maps, and AWS's validation messages.

use crate::error::{AwsError, ErrorCode};
use std::collections::BTreeMap;

/// The largest form body or query string accepted (IAM policy documents are
/// at most 131,072 characters, URL-encoded up to three times as long).
pub const MAX_QUERY_BYTES: usize = 1024 * 1024;

/// Decoded request parameters, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    params: Vec<(String, String)>,
}

impl QueryParams {
    /// Decodes `application/x-www-form-urlencoded` text (a POST body or a GET
    /// query string). The same name twice is an error: AWS's parsers would
    /// pick one, and a signed request must mean one thing.
    pub fn parse(input: &[u8]) -> Result<QueryParams, AwsError> {
        if input.len() > MAX_QUERY_BYTES {
            return Err(AwsError::new(
                ErrorCode::InvalidRequest,
                format!("request parameters exceed {MAX_QUERY_BYTES} bytes"),
            ));
        }
        let mut params: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in form_urlencoded::parse(input) {
            if k.is_empty() {
                continue;
            }
            if !seen.insert(k.clone()) {
                return Err(AwsError::new(
                    ErrorCode::MalformedQueryString,
                    format!("parameter `{k}` is given more than once"),
                ));
            }
            params.push((k.into_owned(), v.into_owned()));
        }
        Ok(QueryParams { params })
    }

    /// Merges query-string parameters with form-body parameters (AWS accepts
    /// either; a name in both is an error).
    pub fn merge(mut self, other: QueryParams) -> Result<QueryParams, AwsError> {
        let mine: std::collections::HashSet<String> = self.params.iter().map(|(k, _)| k.clone()).collect();
        for (k, v) in other.params {
            if mine.contains(&k) {
                return Err(AwsError::new(
                    ErrorCode::MalformedQueryString,
                    format!("parameter `{k}` is given more than once"),
                ));
            }
            self.params.push((k, v));
        }
        Ok(self)
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every parameter.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// `Action`, or `MissingAction`.
    pub fn action(&self) -> Result<&str, AwsError> {
        match self.get("Action") {
            Some(a) if !a.is_empty() => Ok(a),
            _ => Err(AwsError::new(
                ErrorCode::MissingAction,
                "Missing Action: the request must include an Action parameter",
            )),
        }
    }

    /// A list member `Name.member.N` (with `field`: `Name.member.N.field`),
    /// ordered by N. Indices must start at 1 and be contiguous.
    pub fn list(&self, name: &str, field: Option<&str>) -> Result<Vec<&str>, AwsError> {
        let prefix = format!("{name}.member.");
        let mut items: BTreeMap<usize, &str> = BTreeMap::new();
        for (k, v) in &self.params {
            let Some(rest) = k.strip_prefix(&prefix) else { continue };
            let (idx, rest_field) = match rest.split_once('.') {
                Some((i, f)) => (i, Some(f)),
                None => (rest, None),
            };
            if rest_field != field {
                continue;
            }
            let n: usize = idx.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                AwsError::new(ErrorCode::MalformedQueryString, format!("invalid list index in `{k}`"))
            })?;
            items.insert(n, v.as_str());
        }
        if items.keys().enumerate().any(|(i, n)| *n != i + 1) {
            return Err(AwsError::new(
                ErrorCode::MalformedQueryString,
                format!("`{name}.member.N` indices must run 1, 2, 3, ..."),
            ));
        }
        Ok(items.into_values().collect())
    }

    /// A list of key/value structures: `Name.member.N.Key` / `Name.member.N.Value`.
    pub fn pairs(&self, name: &str, key: &str, value: &str) -> Result<Vec<(&str, &str)>, AwsError> {
        let keys = self.list(name, Some(key))?;
        let values = self.list(name, Some(value))?;
        if keys.len() != values.len() {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                format!("every `{name}` entry needs both a {key} and a {value}"),
            ));
        }
        Ok(keys.into_iter().zip(values).collect())
    }
}

/// A constraint on a string parameter, as the service model states it.
#[derive(Clone, Copy)]
pub struct Pattern {
    /// The pattern as AWS prints it in messages.
    pub text: &'static str,
    /// Whether a value satisfies it.
    pub check: fn(&str) -> bool,
}

/// `[\w+=,.@-]*`: role session names, role names and the like.
pub const NAME_PATTERN: Pattern = Pattern {
    text: r"[\w+=,.@-]*",
    check: |s| s.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)),
};

/// `[\u0009\u000A\u000D\u0020-\u00FF]+`: policy documents.
pub const POLICY_PATTERN: Pattern = Pattern {
    text: r"[\u0009\u000A\u000D\u0020-\u00FF]+",
    check: |s| s.chars().all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}')),
};

/// Characters the model allows in ARNs and most free text.
pub const TEXT_PATTERN: Pattern = Pattern {
    text: r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+",
    check: |s| {
        s.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
        })
    },
};

/// Collects Coral-style validation failures:
/// `2 validation errors detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: ...; ...`.
pub struct Validator<'a> {
    params: &'a QueryParams,
    failures: Vec<String>,
}

fn member_name(param: &str) -> String {
    let mut c = param.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn shown(v: &str) -> String {
    // Long values (tokens, documents) are not echoed whole.
    let v: String = v.chars().take(128).collect();
    format!("'{v}'")
}

impl<'a> Validator<'a> {
    /// A validator over `params`.
    pub fn new(params: &'a QueryParams) -> Self {
        Validator {
            params,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, value: Option<&str>, param: &str, constraint: impl AsRef<str>) {
        let shown = value.map_or_else(|| "null".to_owned(), shown);
        self.failures.push(format!(
            "Value {shown} at '{}' failed to satisfy constraint: {}",
            member_name(param),
            constraint.as_ref()
        ));
    }

    /// Records a failure found by the caller, in the same format.
    pub fn failure(&mut self, value: Option<&str>, param: &str, constraint: &str) {
        self.fail(value, param, constraint);
    }

    /// A string parameter with length bounds (in characters) and a pattern.
    pub fn string(
        &mut self,
        param: &str,
        required: bool,
        min: usize,
        max: usize,
        pattern: Option<Pattern>,
    ) -> Option<&'a str> {
        let Some(v) = self.params.get(param) else {
            if required {
                self.fail(None, param, "Member must not be null");
            }
            return None;
        };
        let n = v.chars().count();
        let mut ok = true;
        if n < min {
            self.fail(
                Some(v),
                param,
                format!("Member must have length greater than or equal to {min}"),
            );
            ok = false;
        }
        if n > max {
            self.fail(
                Some(v),
                param,
                format!("Member must have length less than or equal to {max}"),
            );
            ok = false;
        }
        if let Some(p) = pattern
            && !(p.check)(v)
        {
            self.fail(
                Some(v),
                param,
                format!("Member must satisfy regular expression pattern: {}", p.text),
            );
            ok = false;
        }
        ok.then_some(v)
    }

    /// An integer parameter with bounds.
    pub fn int(&mut self, param: &str, required: bool, min: i64, max: i64) -> Option<i64> {
        let Some(v) = self.params.get(param) else {
            if required {
                self.fail(None, param, "Member must not be null");
            }
            return None;
        };
        let Ok(n) = v.trim().parse::<i64>() else {
            self.fail(Some(v), param, "Member must be an integer");
            return None;
        };
        if n < min {
            self.fail(
                Some(v),
                param,
                format!("Member must have value greater than or equal to {min}"),
            );
            return None;
        }
        if n > max {
            self.fail(
                Some(v),
                param,
                format!("Member must have value less than or equal to {max}"),
            );
            return None;
        }
        Some(n)
    }

    /// A boolean parameter (`true`/`false`).
    pub fn boolean(&mut self, param: &str) -> Option<bool> {
        let v = self.params.get(param)?;
        match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.fail(Some(v), param, "Member must be a boolean (true or false)");
                None
            }
        }
    }

    /// Whether anything failed so far.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// `Ok` when every check passed, else one `ValidationError` naming all failures.
    pub fn finish(self) -> Result<(), AwsError> {
        match self.failures.len() {
            0 => Ok(()),
            1 => Err(AwsError::new(
                ErrorCode::ValidationError,
                format!("1 validation error detected: {}", self.failures[0]),
            )),
            n => Err(AwsError::new(
                ErrorCode::ValidationError,
                format!("{n} validation errors detected: {}", self.failures.join("; ")),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_bodies() {
        let p = QueryParams::parse(b"Action=AssumeRole&Version=2011-06-15&Policy=%7B%22a%22%3A1%7D&Name=a+b").unwrap();
        assert_eq!(p.action().unwrap(), "AssumeRole");
        assert_eq!(p.get("Policy"), Some("{\"a\":1}"));
        assert_eq!(p.get("Name"), Some("a b"));
        assert!(QueryParams::parse(b"Action=A&Action=B").is_err());
        assert_eq!(
            QueryParams::parse(b"Version=1").unwrap().action().unwrap_err().code,
            ErrorCode::MissingAction
        );
    }

    #[test]
    fn lists_and_pairs() {
        let p = QueryParams::parse(
            b"PolicyArns.member.2.arn=b&PolicyArns.member.1.arn=a&Tags.member.1.Key=k&Tags.member.1.Value=v&ClientIDList.member.1=x",
        )
        .unwrap();
        assert_eq!(p.list("PolicyArns", Some("arn")).unwrap(), vec!["a", "b"]);
        assert_eq!(p.pairs("Tags", "Key", "Value").unwrap(), vec![("k", "v")]);
        assert_eq!(p.list("ClientIDList", None).unwrap(), vec!["x"]);
        assert!(p.list("Missing", None).unwrap().is_empty());
        let gap = QueryParams::parse(b"L.member.1=a&L.member.3=c").unwrap();
        assert!(gap.list("L", None).is_err());
        let zero = QueryParams::parse(b"L.member.0=a").unwrap();
        assert!(zero.list("L", None).is_err());
    }

    #[test]
    fn validation_messages_are_coral_style() {
        let p = QueryParams::parse(b"RoleSessionName=Session1%3A2&DurationSeconds=600").unwrap();
        let mut v = Validator::new(&p);
        v.string("RoleArn", true, 20, 2048, Some(TEXT_PATTERN));
        v.string("RoleSessionName", true, 2, 64, Some(NAME_PATTERN));
        v.int("DurationSeconds", false, 900, 43200);
        let e = v.finish().unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationError);
        assert_eq!(
            e.message,
            "3 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; \
             Value 'Session1:2' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*; \
             Value '600' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        );
    }
}
