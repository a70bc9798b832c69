//! The kfctl-style configuration: a KfDef, or just its `plugins` list, whose
//! `KfAwsPlugin` entry says what to set up.

use serde_json::{Map, Value};

/// A service account as `namespace:name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceAccountRef {
    /// The namespace.
    pub namespace: String,
    /// The service account.
    pub name: String,
}

impl ServiceAccountRef {
    fn parse(s: &str, default_namespace: &str) -> Option<ServiceAccountRef> {
        let (ns, name) = match s.split_once(':') {
            Some((ns, name)) => (ns, name),
            None => (default_namespace, s),
        };
        (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then(|| ServiceAccountRef {
            namespace: ns.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for ServiceAccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// What `irsa setup` reads from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupConfig {
    /// The KfDef's `metadata.name`: kfctl's cluster name.
    pub cluster_name: Option<String>,
    /// `spec.region`.
    pub region: Option<String>,
    /// `spec.enablePodIamPolicy`: without it there is nothing to set up.
    pub enable_pod_iam_policy: bool,
    /// The namespace of the control plane (`kubeflow`).
    pub namespace: String,
    /// `spec.adminRoleName` (irsa): default `kf-admin-<cluster>`.
    pub admin_role_name: Option<String>,
    /// `spec.userRoleName` (irsa): default `kf-user-<cluster>`.
    pub user_role_name: Option<String>,
    /// Control-plane service accounts kf-admin trusts (`spec.adminServiceAccounts`).
    pub admin_service_accounts: Vec<ServiceAccountRef>,
    /// Service accounts kf-user trusts from the start (`spec.userServiceAccounts`).
    pub user_service_accounts: Vec<ServiceAccountRef>,
    /// Role ARN patterns (besides kf-user) whose trust the profile controller may edit
    /// (`spec.profileRoleArnPatterns`).
    pub profile_role_arn_patterns: Vec<String>,
    /// Extra inline policies for kf-admin: name → document (`spec.adminPolicies`).
    pub admin_policies: Vec<(String, String)>,
    /// Extra inline policies for kf-user: name → document (`spec.userPolicies`).
    pub user_policies: Vec<(String, String)>,
}

/// The configuration with what was noticed while reading it.
#[derive(Debug, Clone)]
pub struct ParsedConfig {
    /// The settings.
    pub config: SetupConfig,
    /// Fields read but not used, each in one sentence.
    pub warnings: Vec<String>,
}

/// Why a configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML or JSON.
    #[error("the configuration is not valid YAML: {0}")]
    Syntax(String),
    /// No `KfAwsPlugin` in it.
    #[error("no plugin of kind KfAwsPlugin found (expected a KfDef with spec.plugins, or a plugins list)")]
    NoAwsPlugin,
    /// A field of the wrong type or value.
    #[error("`{field}`: {message}")]
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The control-plane service accounts kfctl gave kf-admin.
pub const DEFAULT_ADMIN_SERVICE_ACCOUNTS: &[&str] = &[
    "kf-admin",
    "alb-ingress-controller",
    "profiles-controller-service-account",
    "fluentd",
];
/// The service account kfctl gave kf-user.
pub const DEFAULT_USER_SERVICE_ACCOUNTS: &[&str] = &["kf-user"];

/// kfctl's fields that irsa setup does not act on, and why.
const KFCTL_IGNORED: &[(&str, &str)] = &[
    ("auth", "ALB, Cognito and Dex authentication are not part of IAM set-up"),
    (
        "roles",
        "node-instance roles are the pre-IRSA mode; irsa trusts service accounts, not nodes",
    ),
    (
        "enableNodeGroupLog",
        "CloudWatch logging policies are not set up by irsa",
    ),
    ("managedCluster", "irsa does not create EKS clusters"),
    ("managedRelationDatabase", "databases are not part of IAM set-up"),
    ("managedObjectStorage", "object storage is not part of IAM set-up"),
];

const IRSA_FIELDS: &[&str] = &[
    "region",
    "enablePodIamPolicy",
    "namespace",
    "adminRoleName",
    "userRoleName",
    "adminServiceAccounts",
    "userServiceAccounts",
    "profileRoleArnPatterns",
    "adminPolicies",
    "userPolicies",
];

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn string(spec: &Map<String, Value>, key: &str) -> Result<Option<String>, ConfigError> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(&format!("spec.{key}"), "must be a string")),
    }
}

fn strings(spec: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(&format!("spec.{key}"), "must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(&format!("spec.{key}"), "must be a list of strings")),
    }
}

fn policies(spec: &Map<String, Value>, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(name, doc)| {
                let text = match doc {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Ok((name.clone(), text))
            })
            .collect(),
        Some(_) => Err(invalid(&format!("spec.{key}"), "must map policy names to documents")),
    }
}

fn service_accounts(
    list: Option<Vec<String>>,
    default: &[&str],
    ns: &str,
    key: &str,
) -> Result<Vec<ServiceAccountRef>, ConfigError> {
    let list = list.unwrap_or_else(|| default.iter().map(|s| (*s).to_owned()).collect());
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        out.push(ServiceAccountRef::parse(&s, ns).ok_or_else(|| {
            invalid(
                &format!("spec.{key}"),
                format!("`{s}` is not `name` or `namespace:name`"),
            )
        })?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Reads a KfDef (YAML or JSON), a `plugins:` document, or a bare list of plugins.
pub fn parse_config(text: &str) -> Result<ParsedConfig, ConfigError> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?,
    };
    let mut warnings = Vec::new();
    let (name, plugins) = match &doc {
        Value::Array(list) => (None, list.as_slice()),
        Value::Object(m) => {
            if let Some(kind) = m.get("kind").and_then(Value::as_str)
                && kind != "KfDef"
            {
                warnings.push(format!(
                    "the document's kind is `{kind}`, not KfDef; reading its plugins anyway"
                ));
            }
            let name = m
                .get("metadata")
                .and_then(|md| md.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let plugins = m
                .get("spec")
                .and_then(|s| s.get("plugins"))
                .or_else(|| m.get("plugins"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            (name, plugins)
        }
        _ => return Err(ConfigError::NoAwsPlugin),
    };
    let aws: Vec<&Value> = plugins
        .iter()
        .filter(|p| p.get("kind").and_then(Value::as_str) == Some("KfAwsPlugin"))
        .collect();
    let plugin = match aws.as_slice() {
        [] => return Err(ConfigError::NoAwsPlugin),
        [one] => *one,
        [first, ..] => {
            warnings.push(format!("{} KfAwsPlugin entries; using the first", aws.len()));
            *first
        }
    };
    let empty = Map::new();
    let spec = match plugin.get("spec") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(invalid("spec", "must be an object")),
    };
    for key in spec.keys() {
        if let Some((_, why)) = KFCTL_IGNORED.iter().find(|(k, _)| k == key) {
            warnings.push(format!("`spec.{key}` is ignored: {why}"));
        } else if !IRSA_FIELDS.contains(&key.as_str()) {
            warnings.push(format!("unknown field `spec.{key}` of KfAwsPlugin is ignored"));
        }
    }
    let enable_pod_iam_policy = match spec.get("enablePodIamPolicy") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(_) => return Err(invalid("spec.enablePodIamPolicy", "must be true or false")),
    };
    if !enable_pod_iam_policy {
        warnings.push("`spec.enablePodIamPolicy` is not true: there is nothing to set up".to_owned());
    }
    let namespace = string(spec, "namespace")?.unwrap_or_else(|| "kubeflow".to_owned());
    let config = SetupConfig {
        cluster_name: name,
        region: string(spec, "region")?,
        enable_pod_iam_policy,
        admin_role_name: string(spec, "adminRoleName")?,
        user_role_name: string(spec, "userRoleName")?,
        admin_service_accounts: service_accounts(
            strings(spec, "adminServiceAccounts")?,
            DEFAULT_ADMIN_SERVICE_ACCOUNTS,
            &namespace,
            "adminServiceAccounts",
        )?,
        user_service_accounts: service_accounts(
            strings(spec, "userServiceAccounts")?,
            DEFAULT_USER_SERVICE_ACCOUNTS,
            &namespace,
            "userServiceAccounts",
        )?,
        profile_role_arn_patterns: strings(spec, "profileRoleArnPatterns")?.unwrap_or_default(),
        admin_policies: policies(spec, "adminPolicies")?,
        user_policies: policies(spec, "userPolicies")?,
        namespace,
    };
    Ok(ParsedConfig { config, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_plugin_list_reads() {
        let p = parse_config(
            "plugins:\n  - kind: KfAwsPlugin\n    metadata:\n      name: aws\n    spec:\n      region: us-west-2\n      enablePodIamPolicy: true\n",
        )
        .unwrap();
        assert!(p.config.enable_pod_iam_policy);
        assert_eq!(p.config.region.as_deref(), Some("us-west-2"));
        assert_eq!(p.config.admin_service_accounts.len(), 4);
        assert_eq!(p.config.user_service_accounts[0].to_string(), "kubeflow:kf-user");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn a_kfdef_with_kfctl_fields_warns_about_each() {
        let p = parse_config(
            r#"apiVersion: kfdef.apps.kubeflow.org/v1
kind: KfDef
metadata:
  name: prod
spec:
  plugins:
  - kind: KfAwsPlugin
    spec:
      region: eu-west-1
      enablePodIamPolicy: true
      auth: {basicAuth: {username: a}}
      roles: [eksctl-node]
      enablePodIAMPolicy: true
      userServiceAccounts: ["team:runner"]
"#,
        )
        .unwrap();
        assert_eq!(p.config.cluster_name.as_deref(), Some("prod"));
        assert_eq!(p.config.user_service_accounts[0].to_string(), "team:runner");
        let w = p.warnings.join("\n");
        assert!(w.contains("`spec.auth` is ignored"), "{w}");
        assert!(w.contains("`spec.roles` is ignored"), "{w}");
        assert!(w.contains("unknown field `spec.enablePodIAMPolicy`"), "{w}");
    }

    #[test]
    fn bad_configurations_are_clear_errors() {
        assert_eq!(parse_config("plugins: []").unwrap_err(), ConfigError::NoAwsPlugin);
        assert!(matches!(
            parse_config("a: [unclosed").unwrap_err(),
            ConfigError::Syntax(_)
        ));
        let e = parse_config("- kind: KfAwsPlugin\n  spec: {enablePodIamPolicy: maybe}").unwrap_err();
        assert_eq!(e.to_string(), "`spec.enablePodIamPolicy`: must be true or false");
        let e = parse_config("- kind: KfAwsPlugin\n  spec: {adminServiceAccounts: [\"a:b:c\"]}").unwrap_err();
        assert!(e.to_string().contains("is not `name` or `namespace:name`"));
        let off = parse_config("- kind: KfAwsPlugin\n  spec: {region: us-east-1}").unwrap();
        assert!(off.warnings[0].contains("nothing to set up"));
    }
}
