//! Service-account and pod annotations (`<prefix>/role-arn`, `audience`,
//! `sts-regional-endpoints`, `token-expiration`, `skip-containers`) and their upstream parsing
//! rules (Go `strconv.ParseBool` / `ParseInt`, Go `encoding/csv`).

use std::collections::BTreeMap;

use crate::config::{MutationConfig, clamp_expiration, parse_go_bool};

/// Annotation name suffixes (after `<prefix>/`).
pub mod keys {
    /// Role ARN (the trigger).
    pub const ROLE_ARN: &str = "role-arn";
    /// Token audience.
    pub const AUDIENCE: &str = "audience";
    /// Regional STS endpoints.
    pub const STS_REGIONAL_ENDPOINTS: &str = "sts-regional-endpoints";
    /// Token expiration (seconds).
    pub const TOKEN_EXPIRATION: &str = "token-expiration";
    /// Pod annotation: containers to leave alone.
    pub const SKIP_CONTAINERS: &str = "skip-containers";
}

/// What the webhook keeps of a ServiceAccount: only its `<prefix>/…` annotations, parsed. Raw
/// values are kept as options so that flag defaults are applied at mutation time (a flag change
/// needs no cache rebuild).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccountInfo {
    /// `<prefix>/role-arn` as written (may be empty).
    pub role_arn: Option<String>,
    /// `<prefix>/audience` as written (an empty string is taken literally, as upstream).
    pub audience: Option<String>,
    /// `<prefix>/sts-regional-endpoints`, if it parsed as a Go boolean.
    pub sts_regional_endpoints: Option<bool>,
    /// `<prefix>/token-expiration`, if it parsed as an integer (not yet clamped).
    pub token_expiration: Option<i64>,
}

impl ServiceAccountInfo {
    /// Parses the annotations of a ServiceAccount; keys outside `<prefix>/` are ignored.
    pub fn from_annotations<'a, I>(prefix: &str, annotations: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut info = Self::default();
        for (key, value) in annotations {
            let Some(name) = strip_prefix(prefix, key) else {
                continue;
            };
            match name {
                keys::ROLE_ARN => info.role_arn = Some(value.to_owned()),
                keys::AUDIENCE => info.audience = Some(value.to_owned()),
                keys::STS_REGIONAL_ENDPOINTS => {
                    info.sts_regional_endpoints = parse_go_bool(value).ok();
                }
                keys::TOKEN_EXPIRATION => info.token_expiration = parse_go_int(value),
                _ => {}
            }
        }
        info
    }

    /// Parses the annotations of a ServiceAccount given as JSON (`metadata.annotations`).
    #[must_use]
    pub fn from_json_annotations(
        prefix: &str,
        annotations: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Self {
        annotations.map_or_else(Self::default, |map| {
            Self::from_annotations(
                prefix,
                map.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v))),
            )
        })
    }

    /// Whether the webhook needs to remember this account (it carries any `<prefix>/` annotation
    /// the mutation reads).
    #[must_use]
    pub fn is_relevant(&self) -> bool {
        self.role_arn.is_some()
            || self.audience.is_some()
            || self.sts_regional_endpoints.is_some()
            || self.token_expiration.is_some()
    }

    /// Role ARN after `--compose-role-arn` expansion, or `None` if the account triggers no
    /// web-identity mutation (absent, or empty without composition).
    #[must_use]
    pub fn effective_role_arn(&self, config: &MutationConfig) -> Option<String> {
        let raw = self.role_arn.as_deref()?;
        match &config.compose_role_arn {
            Some(compose) => Some(compose.compose(raw)),
            None if raw.is_empty() => None,
            None => Some(raw.to_owned()),
        }
    }

    /// Regional STS for this account: annotation, else the flag.
    #[must_use]
    pub fn regional_sts(&self, config: &MutationConfig) -> bool {
        self.sts_regional_endpoints.unwrap_or(config.sts_regional_endpoint)
    }

    /// Token expiration for this account: annotation (clamped), else the flag.
    #[must_use]
    pub fn expiration(&self, config: &MutationConfig) -> i64 {
        self.token_expiration.map_or(config.token_expiration, clamp_expiration)
    }
}

fn strip_prefix<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(prefix)?.strip_prefix('/')
}

/// Go `strconv.ParseInt(s, 10, 64)`: optional sign, ASCII digits, no spaces.
#[must_use]
pub fn parse_go_int(value: &str) -> Option<i64> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Loosely validates a role ARN the way upstream does (only a warning on mismatch):
/// `^arn:aws[a-z0-9-]*:iam::\d{12}:role/[\w-/.@+=,]+$`.
#[must_use]
pub fn is_valid_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_suffix, rest)) = rest.split_once(':') else {
        return false;
    };
    if !partition_suffix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return false;
    }
    let Some(rest) = rest.strip_prefix("iam::") else {
        return false;
    };
    let Some((account, rest)) = rest.split_once(':') else {
        return false;
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(name) = rest.strip_prefix("role/") else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '@' | '+' | '=' | ','))
}

/// What the mutation reads from the pod's own annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodAnnotations {
    /// `<prefix>/token-expiration`, parsed and clamped; invalid ⇒ `None`.
    pub token_expiration: Option<i64>,
    /// `<prefix>/skip-containers`, parsed as one CSV record.
    pub skip_containers: Vec<String>,
}

impl PodAnnotations {
    /// Reads the pod annotations relevant to the mutation.
    #[must_use]
    pub fn from_json(prefix: &str, annotations: Option<&serde_json::Map<String, serde_json::Value>>) -> Self {
        let mut out = Self::default();
        let Some(map) = annotations else {
            return out;
        };
        let get = |name: &str| map.get(&format!("{prefix}/{name}")).and_then(serde_json::Value::as_str);
        out.token_expiration = get(keys::TOKEN_EXPIRATION).and_then(parse_go_int).map(clamp_expiration);
        if let Some(csv) = get(keys::SKIP_CONTAINERS) {
            out.skip_containers = parse_csv_record(csv).unwrap_or_default();
        }
        out
    }
}

/// Error from [`parse_csv_record`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// Empty input (Go's reader returns `EOF`).
    #[error("empty record")]
    Empty,
    /// A quote inside an unquoted field, or text after a closing quote.
    #[error("bare or extraneous quote in field")]
    Quote,
    /// A quoted field is never closed.
    #[error("unterminated quoted field")]
    Unterminated,
}

/// Reads the first record of `input` with Go `encoding/csv` defaults: comma separator, no
/// whitespace trimming, RFC 4180 quoting (`""` escapes a quote), strict quotes, `\r\n` treated as
/// `\n`, leading empty lines skipped.
pub fn parse_csv_record(input: &str) -> Result<Vec<String>, CsvError> {
    let normalized = input.replace("\r\n", "\n");
    let mut rest = normalized.trim_start_matches('\n');
    if rest.is_empty() {
        return Err(CsvError::Empty);
    }
    let mut fields = Vec::new();
    loop {
        if let Some(after_quote) = rest.strip_prefix('"') {
            // quoted field (may contain commas, newlines and doubled quotes)
            let mut field = String::new();
            let mut chars = after_quote.char_indices();
            let end;
            loop {
                match chars.next() {
                    Some((i, '"')) => {
                        if after_quote[i + 1..].starts_with('"') {
                            field.push('"');
                            chars.next();
                        } else {
                            end = i + 1;
                            break;
                        }
                    }
                    Some((_, c)) => field.push(c),
                    None => return Err(CsvError::Unterminated),
                }
            }
            fields.push(field);
            rest = &after_quote[end..];
            match rest.chars().next() {
                Some(',') => rest = &rest[1..],
                None | Some('\n') => return Ok(fields),
                Some(_) => return Err(CsvError::Quote),
            }
        } else {
            let end = rest.find([',', '\n']).unwrap_or(rest.len());
            let field = &rest[..end];
            if field.contains('"') {
                return Err(CsvError::Quote);
            }
            fields.push(field.to_owned());
            match rest[end..].chars().next() {
                Some(',') => rest = &rest[end + 1..],
                _ => return Ok(fields),
            }
        }
    }
}

/// Collects a JSON `metadata.annotations` object as string pairs (non-string values dropped).
#[must_use]
pub fn string_map(value: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    value
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sa_annotations() {
        let info = ServiceAccountInfo::from_annotations(
            "eks.amazonaws.com",
            [
                ("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/x"),
                ("eks.amazonaws.com/sts-regional-endpoints", "T"),
                ("eks.amazonaws.com/token-expiration", "100"),
                ("other.io/role-arn", "nope"),
                ("eks.amazonaws.comX/audience", "nope"),
            ],
        );
        assert_eq!(info.role_arn.as_deref(), Some("arn:aws:iam::111122223333:role/x"));
        assert_eq!(info.audience, None);
        assert_eq!(info.sts_regional_endpoints, Some(true));
        let cfg = MutationConfig::default();
        assert_eq!(info.expiration(&cfg), 600);
        assert!(info.regional_sts(&cfg));
    }

    #[test]
    fn unparseable_values_fall_back_to_flags() {
        let info = ServiceAccountInfo::from_annotations(
            "eks.amazonaws.com",
            [
                ("eks.amazonaws.com/sts-regional-endpoints", "yes"),
                ("eks.amazonaws.com/token-expiration", "1h"),
            ],
        );
        let cfg = MutationConfig {
            sts_regional_endpoint: true,
            ..MutationConfig::default()
        };
        assert!(info.regional_sts(&cfg));
        assert_eq!(info.expiration(&cfg), 86400);
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("+5"), Some(5));
        assert_eq!(parse_go_int("-5"), Some(-5));
        assert_eq!(parse_go_int(" 5"), None);
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_int("99999999999999999999"), None);
    }

    #[test]
    fn csv_like_go() {
        assert_eq!(parse_csv_record("a, b").unwrap(), vec!["a", " b"]);
        assert_eq!(parse_csv_record("sidecar").unwrap(), vec!["sidecar"]);
        assert_eq!(
            parse_csv_record("\"a,b\",c").unwrap(),
            vec!["a,b".to_owned(), "c".to_owned()]
        );
        assert_eq!(parse_csv_record("a,\"x\"\"y\"").unwrap(), vec!["a", "x\"y"]);
        assert_eq!(parse_csv_record("a,b\nc").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_csv_record("a,").unwrap(), vec!["a", ""]);
        assert_eq!(parse_csv_record(""), Err(CsvError::Empty));
        assert_eq!(parse_csv_record("a\"b"), Err(CsvError::Quote));
        assert_eq!(parse_csv_record("\"ab"), Err(CsvError::Unterminated));
        assert_eq!(parse_csv_record("\"a\"b"), Err(CsvError::Quote));
    }

    #[test]
    fn arn_validation() {
        assert!(is_valid_role_arn("arn:aws:iam::111122223333:role/s3-reader"));
        assert!(is_valid_role_arn("arn:aws-cn:iam::111122223333:role/path/a.b@c+d=e,f"));
        assert!(!is_valid_role_arn("arn:aws:iam::1111:role/x"));
        assert!(!is_valid_role_arn("arn:aws:iam::111122223333:user/x"));
        assert!(!is_valid_role_arn("already-defined"));
    }
}
