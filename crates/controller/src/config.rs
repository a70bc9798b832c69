//! The controller's configuration: flags ([`ControllerArgs`], flattened by `irsa profile-controller`)
//! and the pure [`ControllerConfig`] the sans-IO core reads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The default namespace labels (upstream's `namespace-labels.yaml`).
pub const DEFAULT_NAMESPACE_LABELS: &[(&str, &str)] = &[
    ("istio-injection", "enabled"),
    ("app.kubernetes.io/part-of", "kubeflow-profile"),
    ("katib.kubeflow.org/metrics-collector-injection", "enabled"),
    ("pipelines.kubeflow.org/enabled", "true"),
    ("serving.kubeflow.org/inferenceservice", "enabled"),
];

/// What the sans-IO core needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    /// Header carrying the user id through Istio (`-userid-header`).
    pub userid_header: String,
    /// Prefix of the user id value (`-userid-prefix`).
    pub userid_prefix: String,
    /// Labels every Profile namespace gets (file semantics: an empty value removes the key; an
    /// existing key with another value is left alone).
    pub namespace_labels: BTreeMap<String, String>,
    /// `ISTIO_INGRESS_GATEWAY_PRINCIPAL`.
    pub istio_ingress_gateway_principal: String,
    /// `KFP_UI_PRINCIPAL`.
    pub kfp_ui_principal: String,
    /// `NOTEBOOK_CONTROLLER_PRINCIPAL`.
    pub notebook_controller_principal: String,
    /// The AWS plugin's settings.
    pub aws: AwsConfig,
}

/// The AWS plugin's settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AwsConfig {
    /// The cluster's OIDC issuer URL; `None`: taken from the role's existing web-identity statement.
    pub oidc_issuer: Option<String>,
    /// The audience new statements require.
    pub audience: String,
    /// Also annotate (and trust) `default-viewer`.
    pub annotate_viewer: bool,
    /// Role ARN glob patterns (`*`, `?`) a Profile may use; empty: any (unless a tag is required).
    pub allowed_role_patterns: Vec<String>,
    /// A tag the role must carry (`key` or `key=value`; `{profile}` in the value is the Profile name).
    pub required_role_tag: Option<(String, Option<String>)>,
    /// The controller's own account: roles of other accounts are refused unless allowed.
    pub account_id: Option<String>,
    /// Allow roles of other accounts than `account_id`.
    pub allow_cross_account: bool,
    /// The trust-policy size limit (`ACLSizePerRole`).
    pub trust_limit: usize,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            userid_header: "kubeflow-userid".into(),
            userid_prefix: String::new(),
            namespace_labels: DEFAULT_NAMESPACE_LABELS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            istio_ingress_gateway_principal: "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
                .into(),
            kfp_ui_principal: "cluster.local/ns/kubeflow/sa/ml-pipeline-ui".into(),
            notebook_controller_principal: "cluster.local/ns/kubeflow/sa/notebook-controller-service-account".into(),
            aws: AwsConfig {
                audience: irsa_policy::trust::DEFAULT_AUDIENCE.into(),
                trust_limit: 2048,
                ..AwsConfig::default()
            },
        }
    }
}

/// Errors turning flags into a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The namespace-labels file could not be read.
    #[error("cannot read namespace labels file {path}: {source}")]
    LabelsRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The namespace-labels file is not a YAML map of strings.
    #[error("namespace labels file {path} is not a YAML map of label to value: {reason}")]
    LabelsParse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A flag value is invalid.
    #[error("invalid --{flag}: {reason}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Why.
        reason: String,
    },
}

/// `irsa profile-controller` flags (upstream's names where they exist).
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// Path to a kubeconfig (default: in-cluster, then `KUBECONFIG`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Header carrying the user id.
    #[arg(long = "userid-header", env = "USERID_HEADER", default_value = "kubeflow-userid")]
    pub userid_header: String,
    /// Prefix of the user id.
    #[arg(long = "userid-prefix", env = "USERID_PREFIX", default_value = "")]
    pub userid_prefix: String,
    /// YAML map of namespace labels (missing file: the defaults).
    #[arg(
        long = "namespace-labels-path",
        default_value = "/etc/profile-controller/namespace-labels.yaml"
    )]
    pub namespace_labels_path: PathBuf,
    /// Istio principal of the ingress gateway.
    #[arg(
        long,
        env = "ISTIO_INGRESS_GATEWAY_PRINCIPAL",
        default_value = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    )]
    pub istio_ingress_gateway_principal: String,
    /// Istio principal of the KFP UI.
    #[arg(
        long,
        env = "KFP_UI_PRINCIPAL",
        default_value = "cluster.local/ns/kubeflow/sa/ml-pipeline-ui"
    )]
    pub kfp_ui_principal: String,
    /// Istio principal of the notebook controller.
    #[arg(
        long,
        env = "NOTEBOOK_CONTROLLER_PRINCIPAL",
        default_value = "cluster.local/ns/kubeflow/sa/notebook-controller-service-account"
    )]
    pub notebook_controller_principal: String,
    /// The cluster's OIDC issuer URL (default: from the role's existing web-identity statement).
    #[arg(long = "oidc-issuer", env = "IRSA_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Audience of the web-identity statements the controller creates.
    #[arg(long, default_value = irsa_policy::trust::DEFAULT_AUDIENCE)]
    pub audience: String,
    /// Also annotate and trust `default-viewer`.
    #[arg(long)]
    pub annotate_viewer: bool,
    /// Role ARN pattern a Profile may use (`*` and `?` wildcards; repeatable).
    #[arg(long = "allowed-role", value_name = "ARN_GLOB")]
    pub allowed_roles: Vec<String>,
    /// A tag a role must carry (`key` or `key=value`; `{profile}` stands for the Profile name).
    #[arg(long = "required-role-tag", value_name = "KEY[=VALUE]")]
    pub required_role_tag: Option<String>,
    /// The controller's AWS account; roles of other accounts are refused unless --allow-cross-account.
    #[arg(long = "aws-account-id")]
    pub account_id: Option<String>,
    /// Allow roles in other accounts.
    #[arg(long)]
    pub allow_cross_account: bool,
    /// Trust-policy size limit (raise it with the ACLSizePerRole quota).
    #[arg(long, default_value_t = 2048)]
    pub trust_limit: usize,
    /// IAM endpoint (default: the AWS chain, `AWS_ENDPOINT_URL_IAM`/`AWS_ENDPOINT_URL`).
    #[arg(long = "endpoint-url")]
    pub endpoint_url: Option<String>,
    /// IAM calls per second at most.
    #[arg(long, default_value_t = 5.0)]
    pub iam_qps: f64,
    /// Metrics and health endpoints address.
    #[arg(long = "metrics-bind-address", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Use a Lease so only one replica reconciles.
    #[arg(long = "leader-elect")]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "kubeflow")]
    pub leader_election_namespace: String,
    /// Resync period in seconds (no IAM call when the recorded state matches).
    #[arg(long, default_value_t = 600)]
    pub resync_seconds: u64,
}

impl ControllerArgs {
    /// The resync period.
    pub fn resync(&self) -> Duration {
        Duration::from_secs(self.resync_seconds.max(1))
    }

    /// The pure configuration (reads the namespace-labels file).
    pub fn config(&self) -> Result<ControllerConfig, ConfigError> {
        let namespace_labels = match std::fs::read_to_string(&self.namespace_labels_path) {
            Ok(text) => parse_namespace_labels(&text).map_err(|reason| ConfigError::LabelsParse {
                path: self.namespace_labels_path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ControllerConfig::default().namespace_labels,
            Err(source) => {
                return Err(ConfigError::LabelsRead {
                    path: self.namespace_labels_path.clone(),
                    source,
                });
            }
        };
        let required_role_tag = match &self.required_role_tag {
            None => None,
            Some(t) if t.trim().is_empty() => {
                return Err(ConfigError::Flag {
                    flag: "required-role-tag",
                    reason: "empty".into(),
                });
            }
            Some(t) => Some(match t.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (t.clone(), None),
            }),
        };
        if let Some(a) = &self.account_id
            && (a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError::Flag {
                flag: "aws-account-id",
                reason: format!("`{a}` is not a 12-digit account id"),
            });
        }
        if self.trust_limit < 64 {
            return Err(ConfigError::Flag {
                flag: "trust-limit",
                reason: "too small".into(),
            });
        }
        Ok(ControllerConfig {
            userid_header: self.userid_header.clone(),
            userid_prefix: self.userid_prefix.clone(),
            namespace_labels,
            istio_ingress_gateway_principal: self.istio_ingress_gateway_principal.clone(),
            kfp_ui_principal: self.kfp_ui_principal.clone(),
            notebook_controller_principal: self.notebook_controller_principal.clone(),
            aws: AwsConfig {
                oidc_issuer: self.oidc_issuer.clone().filter(|s| !s.is_empty()),
                audience: self.audience.clone(),
                annotate_viewer: self.annotate_viewer,
                allowed_role_patterns: self.allowed_roles.clone(),
                required_role_tag,
                account_id: self.account_id.clone(),
                allow_cross_account: self.allow_cross_account,
                trust_limit: self.trust_limit,
            },
        })
    }
}

/// Parses a namespace-labels file: a YAML map of label to value (empty or null: remove the key).
pub fn parse_namespace_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let map: BTreeMap<String, Option<serde_json::Value>> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    map.into_iter()
        .map(|(k, v)| {
            let v = match v {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s,
                Some(serde_json::Value::Bool(b)) => b.to_string(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(other) => return Err(format!("label `{k}` has a non-scalar value {other}")),
            };
            Ok((k, v))
        })
        .collect()
}
