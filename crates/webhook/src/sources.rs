//! The two file/ConfigMap-borne identity sources besides ServiceAccount annotations:
//!
//! * the `--watch-config-map` mapping (ConfigMap `pod-identity-webhook`, key `config`): a JSON
//!   object `"<namespace>/<serviceaccount>" → {"RoleARN", "Audience", "UseRegionalSTS",
//!   "TokenExpiration"}`, field names matched case-insensitively as Go's `encoding/json` does,
//!   namespace `*` matching any namespace;
//! * the EKS Pod Identity ("container credentials") file given by
//!   `--watch-container-credentials-config`: `{"identities":[{"namespace","serviceAccount"}]}`.
//!
//! Differences from upstream (its §6.1 defects): a key without `/` is skipped with an error
//! entry instead of crashing the process; an empty `Audience` falls back to `--token-audience`
//! and an absent `UseRegionalSTS` to `--sts-regional-endpoint`; `TokenExpiration` is clamped to
//! ≥ 600 like every other source.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::config::{MutationConfig, clamp_expiration};

/// Errors parsing a mapping or identities document.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Not JSON, or the wrong JSON shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The document parsed but has the wrong structure.
    #[error("{0}")]
    Shape(String),
}

/// One entry of the ConfigMap mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingEntry {
    /// `RoleARN`.
    pub role_arn: String,
    /// `Audience` (empty ⇒ `--token-audience`).
    pub audience: String,
    /// `UseRegionalSTS` (absent ⇒ `--sts-regional-endpoint`).
    pub use_regional_sts: Option<bool>,
    /// `TokenExpiration` (0 or absent ⇒ `--token-expiration`; clamped ≥ 600).
    pub token_expiration: i64,
}

impl MappingEntry {
    /// Audience with the flag default applied.
    #[must_use]
    pub fn audience<'a>(&'a self, config: &'a MutationConfig) -> &'a str {
        if self.audience.is_empty() {
            &config.token_audience
        } else {
            &self.audience
        }
    }

    /// Regional STS with the flag default applied.
    #[must_use]
    pub fn regional_sts(&self, config: &MutationConfig) -> bool {
        self.use_regional_sts.unwrap_or(config.sts_regional_endpoint)
    }

    /// Expiration with the flag default applied, clamped.
    #[must_use]
    pub fn expiration(&self, config: &MutationConfig) -> i64 {
        if self.token_expiration == 0 {
            config.token_expiration
        } else {
            clamp_expiration(self.token_expiration)
        }
    }
}

/// The parsed `--watch-config-map` mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigMapMapping {
    exact: HashMap<(String, String), MappingEntry>,
    wildcard: HashMap<String, MappingEntry>,
    /// Keys that were skipped (no `/`), for logging.
    pub rejected_keys: Vec<String>,
}

impl ConfigMapMapping {
    /// Parses the `data.config` string. A document that is not a JSON object of entries is an
    /// error (callers keep the previous mapping, as upstream does).
    pub fn parse(config: &str) -> Result<Self, SourceError> {
        let value: Value = serde_json::from_str(config)?;
        let Value::Object(map) = value else {
            return Err(SourceError::Shape("config is not a JSON object".into()));
        };
        let mut out = Self::default();
        for (key, entry) in map {
            let entry = parse_entry(&key, &entry)?;
            match key.split_once('/') {
                Some(("*", name)) => {
                    out.wildcard.insert(name.to_owned(), entry);
                }
                Some((namespace, name)) => {
                    out.exact.insert((namespace.to_owned(), name.to_owned()), entry);
                }
                None => out.rejected_keys.push(key),
            }
        }
        Ok(out)
    }

    /// Reads a whole ConfigMap object (`data.config`); a ConfigMap without that key yields an
    /// empty mapping.
    pub fn from_config_map(object: &Value) -> Result<Self, SourceError> {
        match object.pointer("/data/config") {
            None | Some(Value::Null) => Ok(Self::default()),
            Some(Value::String(s)) => Self::parse(s),
            Some(_) => Err(SourceError::Shape("data.config is not a string".into())),
        }
    }

    /// Exact `namespace/name` entry, else `*/name`.
    #[must_use]
    pub fn get(&self, namespace: &str, name: &str) -> Option<&MappingEntry> {
        self.get_exact(namespace, name).or_else(|| self.wildcard.get(name))
    }

    /// Exact entry only (what upstream's Pod Identity path consults).
    #[must_use]
    pub fn get_exact(&self, namespace: &str, name: &str) -> Option<&MappingEntry> {
        self.exact.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_entry(key: &str, value: &Value) -> Result<MappingEntry, SourceError> {
    let shape = |what: &str| SourceError::Shape(format!("entry {key:?}: {what}"));
    let Value::Object(fields) = value else {
        if value.is_null() {
            return Ok(MappingEntry::default());
        }
        return Err(shape("not an object"));
    };
    let mut entry = MappingEntry::default();
    for (field, v) in fields {
        if v.is_null() {
            continue;
        }
        match field.to_ascii_lowercase().as_str() {
            "rolearn" => {
                v.as_str()
                    .ok_or_else(|| shape("RoleARN is not a string"))?
                    .clone_into(&mut entry.role_arn);
            }
            "audience" => {
                v.as_str()
                    .ok_or_else(|| shape("Audience is not a string"))?
                    .clone_into(&mut entry.audience);
            }
            "useregionalsts" => {
                entry.use_regional_sts = Some(v.as_bool().ok_or_else(|| shape("UseRegionalSTS is not a bool"))?);
            }
            "tokenexpiration" => {
                entry.token_expiration = v.as_i64().ok_or_else(|| shape("TokenExpiration is not an integer"))?;
            }
            _ => {}
        }
    }
    Ok(entry)
}

/// The EKS Pod Identity associations file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerCredentials {
    identities: HashSet<(String, String)>,
}

impl ContainerCredentials {
    /// Parses the file content; empty or whitespace-only ⇒ no identities (as upstream).
    pub fn parse(content: &str) -> Result<Self, SourceError> {
        if content.trim().is_empty() {
            return Ok(Self::default());
        }
        let value: Value = serde_json::from_str(content)?;
        let mut out = Self::default();
        let identities = match value.get("identities") {
            None | Some(Value::Null) => return Ok(out),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(SourceError::Shape("identities is not an array".into())),
        };
        for item in identities {
            let field = |name: &str| -> Result<String, SourceError> {
                match item.get(name) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(_) => Err(SourceError::Shape(format!("{name} is not a string"))),
                }
            };
            if !item.is_object() {
                return Err(SourceError::Shape("identity is not an object".into()));
            }
            out.identities.insert((field("namespace")?, field("serviceAccount")?));
        }
        Ok(out)
    }

    /// Builds from explicit pairs.
    pub fn from_pairs<I, S>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (S, S)>,
        S: Into<String>,
    {
        Self {
            identities: pairs.into_iter().map(|(ns, sa)| (ns.into(), sa.into())).collect(),
        }
    }

    /// Whether `(namespace, serviceAccount)` is associated (exact match, no wildcards).
    #[must_use]
    pub fn contains(&self, namespace: &str, service_account: &str) -> bool {
        self.identities
            .contains(&(namespace.to_owned(), service_account.to_owned()))
    }

    /// Number of associations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_example() {
        let m = ConfigMapMapping::parse(
            r#"{"default/myserviceaccount":{"RoleARN":"arn:aws-test:iam::123456789012:role/x","Audience":"amazonaws.com","UseRegionalSTS":true,"TokenExpiration":0}}"#,
        )
        .unwrap();
        let e = m.get("default", "myserviceaccount").unwrap();
        let cfg = MutationConfig::default();
        assert_eq!(e.role_arn, "arn:aws-test:iam::123456789012:role/x");
        assert_eq!(e.audience(&cfg), "amazonaws.com");
        assert!(e.regional_sts(&cfg));
        assert_eq!(e.expiration(&cfg), 86400);
        assert!(m.get("other", "myserviceaccount").is_none());
    }

    #[test]
    fn case_insensitive_wildcard_and_bad_keys() {
        let m = ConfigMapMapping::parse(
            r#"{"*/sa":{"roleArn":"r1","tokenexpiration":5},"ns/sa":{"ROLEARN":"r2"},"nokey":{"RoleARN":"x"}}"#,
        )
        .unwrap();
        let cfg = MutationConfig::default();
        assert_eq!(m.get("ns", "sa").unwrap().role_arn, "r2");
        assert_eq!(m.get("zz", "sa").unwrap().role_arn, "r1");
        assert_eq!(m.get("zz", "sa").unwrap().expiration(&cfg), 600);
        assert_eq!(m.get("zz", "sa").unwrap().audience(&cfg), "sts.amazonaws.com");
        assert!(m.get_exact("zz", "sa").is_none());
        assert_eq!(m.rejected_keys, vec!["nokey".to_owned()]);
        assert!(ConfigMapMapping::parse("[1]").is_err());
        assert!(ConfigMapMapping::parse(r#"{"a/b":{"RoleARN":1}}"#).is_err());
    }

    #[test]
    fn identities_file() {
        assert!(ContainerCredentials::parse("").unwrap().is_empty());
        let c = ContainerCredentials::parse(r#"{"identities":[{"namespace":"foo","serviceAccount":"bar"}]}"#).unwrap();
        assert!(c.contains("foo", "bar"));
        assert!(!c.contains("foo", "baz"));
        assert!(ContainerCredentials::parse("{").is_err());
    }
}
