//! Configuration: every upstream flag with its upstream default.
//!
//! Two layers:
//!
//! * plain structs ([`MutationConfig`], [`ServerConfig`]) used by the rest of the crate, with
//!   `Default` implementations equal to upstream's flag defaults;
//! * `clap::Args` derive structs ([`MutationArgs`], [`WebhookArgs`], [`KlogArgs`]) carrying the
//!   upstream flag names, for the binary to `#[command(flatten)]`. Go's `pflag` syntax is accepted:
//!   `--flag=value`, `--flag value`, bare boolean `--flag`, and Go boolean spellings
//!   (`1`, `t`, `T`, `TRUE`, `true`, `True`, and the `false` equivalents). Single-dash long flags
//!   (`-port=443`, `-v=4`) can be rewritten beforehand with [`normalize_go_flags`].

use std::ffi::OsString;
use std::time::Duration;

use clap::{ArgAction, Args};

/// Web-identity (IRSA) projected-volume name; hard-coded upstream.
pub const WEB_IDENTITY_VOLUME_NAME: &str = "aws-iam-token";
/// Token file name inside the web-identity volume; hard-coded upstream.
pub const WEB_IDENTITY_TOKEN_FILE_NAME: &str = "token";
/// Lower bound applied to every token expiration (flag, annotations, ConfigMap).
pub const MIN_TOKEN_EXPIRATION: i64 = 600;
/// Default (and jitter-triggering) token expiration.
pub const DEFAULT_TOKEN_EXPIRATION: i64 = 86400;
/// Lower end of the Pod Identity jitter window.
pub const JITTER_MIN_EXPIRATION: i64 = 79200;
/// Label written on pods mutated in Pod Identity mode (independent of the annotation prefix).
pub const POD_IDENTITY_LABEL: &str = "eks.amazonaws.com/pod-identity";
/// Label (used in the webhook configuration's objectSelector) that keeps pods away from the webhook.
pub const SKIP_LABEL: &str = "eks.amazonaws.com/skip-pod-identity-webhook";
/// Name of the watched ConfigMap (`--watch-config-map`).
pub const CONFIG_MAP_NAME: &str = "pod-identity-webhook";

/// Errors found while validating configuration values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `--tls-min-version` is not one of the accepted spellings.
    #[error("invalid tls-min-version: {0:?} (expected 1.2, 1.3, VersionTLS12 or VersionTLS13)")]
    TlsMinVersion(String),
    /// TLS 1.0 / 1.1 were requested; rustls does not implement them.
    #[error("tls-min-version {0} is not supported by this implementation (TLS 1.2 is the minimum)")]
    TlsVersionUnsupported(String),
    /// A cipher-suite name is unknown.
    #[error("invalid tls-cipher-suites: unsupported cipher suite: {0}")]
    CipherSuite(String),
    /// A Go duration could not be parsed.
    #[error("invalid duration {0:?}")]
    Duration(String),
    /// A Go boolean could not be parsed.
    #[error("invalid boolean {0:?}")]
    Bool(String),
    /// Account id / partition for `--compose-role-arn` are malformed.
    #[error("invalid compose-role-arn context: {0}")]
    Compose(String),
}

/// Everything the pod mutation depends on (the "mutation flags", shared by the server and the
/// offline mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationConfig {
    /// `--annotation-prefix` (default `eks.amazonaws.com`).
    pub annotation_prefix: String,
    /// `--token-audience` (default `sts.amazonaws.com`).
    pub token_audience: String,
    /// `--token-mount-path`.
    pub token_mount_path: String,
    /// `--token-expiration`, already clamped to ≥ 600 by [`MutationConfig::normalized`].
    pub token_expiration: i64,
    /// `--aws-default-region` (empty ⇒ no region variables).
    pub aws_default_region: String,
    /// `--sts-regional-endpoint`.
    pub sts_regional_endpoint: bool,
    /// `--container-credentials-audience`.
    pub container_credentials_audience: String,
    /// `--container-credentials-token-mount-path`.
    pub container_credentials_token_mount_path: String,
    /// `--container-credentials-token-volume-name`.
    pub container_credentials_token_volume_name: String,
    /// `--container-credentials-token-path`.
    pub container_credentials_token_path: String,
    /// `--container-credentials-full-uri`.
    pub container_credentials_full_uri: String,
    /// Result of `--compose-role-arn` (the IMDS look-up is IO and done by the caller): when set,
    /// role names / paths are expanded to full ARNs.
    pub compose_role_arn: Option<ComposeRoleArn>,
}

impl Default for MutationConfig {
    fn default() -> Self {
        Self {
            annotation_prefix: "eks.amazonaws.com".into(),
            token_audience: "sts.amazonaws.com".into(),
            token_mount_path: "/var/run/secrets/eks.amazonaws.com/serviceaccount".into(),
            token_expiration: DEFAULT_TOKEN_EXPIRATION,
            aws_default_region: String::new(),
            sts_regional_endpoint: false,
            container_credentials_audience: "pods.eks.amazonaws.com".into(),
            container_credentials_token_mount_path: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount".into(),
            container_credentials_token_volume_name: "eks-pod-identity-token".into(),
            container_credentials_token_path: "eks-pod-identity-token".into(),
            container_credentials_full_uri: "http://169.254.170.23/v1/credentials".into(),
            compose_role_arn: None,
        }
    }
}

impl MutationConfig {
    /// Applies upstream's start-up validation: the token expiration is clamped to ≥ 600 s.
    #[must_use]
    pub fn normalized(mut self) -> Self {
        self.token_expiration = clamp_expiration(self.token_expiration);
        self
    }

    /// `<prefix>/<name>`.
    #[must_use]
    pub fn annotation(&self, name: &str) -> String {
        format!("{}/{}", self.annotation_prefix, name)
    }
}

/// Context for `--compose-role-arn`: account id and partition (from the EC2 instance identity
/// document, fetched by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeRoleArn {
    /// 12-digit AWS account id.
    pub account_id: String,
    /// Partition (`aws`, `aws-cn`, …).
    pub partition: String,
}

impl ComposeRoleArn {
    /// Builds the context from an account id and the instance's region (partition derived as
    /// upstream, plus the newer ISO partitions upstream misses).
    pub fn from_region(account_id: &str, region: &str) -> Result<Self, ConfigError> {
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Compose(format!(
                "account id {account_id:?} is not 12 digits"
            )));
        }
        Ok(Self {
            account_id: account_id.to_owned(),
            partition: partition_for_region(region).to_owned(),
        })
    }

    /// Expands a role-arn annotation value: values containing `arn:` are kept, anything else
    /// (a role name or `path/name`) becomes `arn:<partition>:iam::<account>:role/<value>`.
    #[must_use]
    pub fn compose(&self, value: &str) -> String {
        if value.contains("arn:") {
            value.to_owned()
        } else {
            format!("arn:{}:iam::{}:role/{}", self.partition, self.account_id, value)
        }
    }
}

/// Partition of a region, by prefix (upstream's table plus `us-isof-` / `eu-isoe-`).
#[must_use]
pub fn partition_for_region(region: &str) -> &'static str {
    const TABLE: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
        ("eusc-", "aws-eusc"),
    ];
    TABLE
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// Clamps a token expiration to the 600 s floor (no upper bound, as upstream).
#[must_use]
pub fn clamp_expiration(seconds: i64) -> i64 {
    seconds.max(MIN_TOKEN_EXPIRATION)
}

/// Server-side settings (listening, TLS, Kubernetes access, watches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `--port` (HTTPS, default 443).
    pub port: u16,
    /// `--metrics-port` (plain HTTP, default 9999).
    pub metrics_port: u16,
    /// `--kubeconfig`.
    pub kubeconfig: String,
    /// `--kube-api`.
    pub kube_api: String,
    /// `--tls-key`.
    pub tls_key: String,
    /// `--tls-cert`.
    pub tls_cert: String,
    /// `--tls-cipher-suites` (raw, comma separated).
    pub tls_cipher_suites: String,
    /// `--tls-min-version` (raw).
    pub tls_min_version: String,
    /// `--in-cluster` (upstream default `true` selects the deprecated CSR certificate flow; this
    /// implementation always loads `--tls-cert`/`--tls-key` and logs a warning when `true`).
    pub in_cluster: bool,
    /// `--service-name`.
    pub service_name: String,
    /// `--namespace` (default `eks`).
    pub namespace: String,
    /// `--tls-secret`.
    pub tls_secret: String,
    /// `--watch-config-map`.
    pub watch_config_map: bool,
    /// `--compose-role-arn`.
    pub compose_role_arn: bool,
    /// `--watch-container-credentials-config` (empty ⇒ Pod Identity mode off).
    pub watch_container_credentials_config: String,
    /// `--enable-debugging-handlers`.
    pub enable_debugging_handlers: bool,
    /// `--service-account-lookup-grace-period` (default 0 = no API fallback).
    pub service_account_lookup_grace_period: Duration,
    /// `--resync-period` (default 60 s).
    pub resync_period: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 443,
            metrics_port: 9999,
            kubeconfig: String::new(),
            kube_api: String::new(),
            tls_key: "/etc/webhook/certs/tls.key".into(),
            tls_cert: "/etc/webhook/certs/tls.crt".into(),
            tls_cipher_suites: String::new(),
            tls_min_version: String::new(),
            in_cluster: true,
            service_name: "pod-identity-webhook".into(),
            namespace: "eks".into(),
            tls_secret: "pod-identity-webhook".into(),
            watch_config_map: false,
            compose_role_arn: false,
            watch_container_credentials_config: String::new(),
            enable_debugging_handlers: false,
            service_account_lookup_grace_period: Duration::ZERO,
            resync_period: Duration::from_secs(60),
        }
    }
}

/// Minimum TLS protocol version accepted by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMinVersion {
    /// TLS 1.2 (also the default).
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Parses `--tls-min-version` with upstream's accepted spellings. Empty ⇒ `None` (library
/// default: 1.2 and 1.3). `1.0`/`1.1` are rejected explicitly: rustls has no TLS < 1.2.
pub fn parse_tls_min_version(value: &str) -> Result<Option<TlsMinVersion>, ConfigError> {
    match value {
        "" => Ok(None),
        "1.2" | "VersionTLS12" => Ok(Some(TlsMinVersion::Tls12)),
        "1.3" | "VersionTLS13" => Ok(Some(TlsMinVersion::Tls13)),
        "1.0" | "1.1" | "VersionTLS10" | "VersionTLS11" => Err(ConfigError::TlsVersionUnsupported(value.to_owned())),
        other => Err(ConfigError::TlsMinVersion(other.to_owned())),
    }
}

/// Splits `--tls-cipher-suites` into trimmed, non-empty names (validation against the TLS
/// provider happens in [`crate::tls`]).
#[must_use]
pub fn split_cipher_suites(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a Go boolean (`strconv.ParseBool`).
pub fn parse_go_bool(value: &str) -> Result<bool, ConfigError> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(ConfigError::Bool(other.to_owned())),
    }
}

/// Parses a Go `time.Duration` string (`"0"`, `"100ms"`, `"1m30s"`, `"1.5h"`, units
/// `ns us µs ms s m h`). Negative durations are treated as zero.
pub fn parse_go_duration(value: &str) -> Result<Duration, ConfigError> {
    let err = || ConfigError::Duration(value.to_owned());
    let mut rest = value;
    let mut negative = false;
    if let Some(r) = rest.strip_prefix('-') {
        negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total_nanos += number * factor;
    }
    if negative || !total_nanos.is_finite() {
        return Ok(Duration::ZERO);
    }
    Duration::try_from_secs_f64(total_nanos / 1e9).map_err(|_| err())
}

fn go_bool(value: &str) -> Result<bool, String> {
    parse_go_bool(value).map_err(|e| e.to_string())
}

fn go_duration(value: &str) -> Result<Duration, String> {
    parse_go_duration(value).map_err(|e| e.to_string())
}

fn port(value: &str) -> Result<u16, String> {
    value.parse::<u16>().map_err(|e| format!("invalid port {value:?}: {e}"))
}

/// The mutation flags (shared by `irsa webhook` and `irsa webhook mutate`), upstream names and
/// defaults.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct MutationArgs {
    /// The Service Account annotation to look for
    #[arg(long, default_value = "eks.amazonaws.com")]
    pub annotation_prefix: String,
    /// The default audience for tokens. Can be overridden by annotation
    #[arg(long, default_value = "sts.amazonaws.com")]
    pub token_audience: String,
    /// The path to mount tokens
    #[arg(long, default_value = "/var/run/secrets/eks.amazonaws.com/serviceaccount")]
    pub token_mount_path: String,
    /// The token expiration (seconds, clamped to >= 600)
    #[arg(long, default_value_t = DEFAULT_TOKEN_EXPIRATION, allow_negative_numbers = true)]
    pub token_expiration: i64,
    /// If set, AWS_DEFAULT_REGION and AWS_REGION will be set to this value in mutated containers
    #[arg(long, default_value = "")]
    pub aws_default_region: String,
    /// Whether to inject the AWS_STS_REGIONAL_ENDPOINTS=regional env var in mutated pods
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true",
          require_equals = false, action = ArgAction::Set, value_parser = go_bool)]
    pub sts_regional_endpoint: bool,
    /// Audience for the Pod Identity (container credentials) token
    #[arg(long, default_value = "pods.eks.amazonaws.com")]
    pub container_credentials_audience: String,
    /// Mount path of the Pod Identity token volume
    #[arg(long, default_value = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount")]
    pub container_credentials_token_mount_path: String,
    /// Name of the Pod Identity token volume
    #[arg(long, default_value = "eks-pod-identity-token")]
    pub container_credentials_token_volume_name: String,
    /// Token file name inside the Pod Identity volume
    #[arg(long, default_value = "eks-pod-identity-token")]
    pub container_credentials_token_path: String,
    /// Value of AWS_CONTAINER_CREDENTIALS_FULL_URI
    #[arg(long, default_value = "http://169.254.170.23/v1/credentials")]
    pub container_credentials_full_uri: String,
}

impl Default for MutationArgs {
    fn default() -> Self {
        let c = MutationConfig::default();
        Self {
            annotation_prefix: c.annotation_prefix,
            token_audience: c.token_audience,
            token_mount_path: c.token_mount_path,
            token_expiration: c.token_expiration,
            aws_default_region: c.aws_default_region,
            sts_regional_endpoint: c.sts_regional_endpoint,
            container_credentials_audience: c.container_credentials_audience,
            container_credentials_token_mount_path: c.container_credentials_token_mount_path,
            container_credentials_token_volume_name: c.container_credentials_token_volume_name,
            container_credentials_token_path: c.container_credentials_token_path,
            container_credentials_full_uri: c.container_credentials_full_uri,
        }
    }
}

impl MutationArgs {
    /// Converts to the plain, normalised configuration (expiration clamped). `compose_role_arn`
    /// is left `None`: the caller fills it after its IMDS look-up.
    #[must_use]
    pub fn to_config(&self) -> MutationConfig {
        MutationConfig {
            annotation_prefix: self.annotation_prefix.clone(),
            token_audience: self.token_audience.clone(),
            token_mount_path: self.token_mount_path.clone(),
            token_expiration: self.token_expiration,
            aws_default_region: self.aws_default_region.clone(),
            sts_regional_endpoint: self.sts_regional_endpoint,
            container_credentials_audience: self.container_credentials_audience.clone(),
            container_credentials_token_mount_path: self.container_credentials_token_mount_path.clone(),
            container_credentials_token_volume_name: self.container_credentials_token_volume_name.clone(),
            container_credentials_token_path: self.container_credentials_token_path.clone(),
            container_credentials_full_uri: self.container_credentials_full_uri.clone(),
            compose_role_arn: None,
        }
        .normalized()
    }
}

/// klog flags upstream inherits. Accepted for drop-in compatibility; only `-v` is mapped (to a
/// tracing level, see [`KlogArgs::tracing_directive`]), the rest are ignored. `-v` is declared as
/// the long flag `--v` (no short flag, so it cannot clash with a binary's own `-v`);
/// [`normalize_go_flags`] rewrites klog's `-v=4` / `-v 4` into it.
#[derive(Debug, Clone, Default, Args, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct KlogArgs {
    /// klog verbosity (0-2 info, 3-4 debug, >= 5 trace)
    #[arg(long = "v", default_value_t = 0)]
    pub verbosity: u8,
    /// accepted, ignored (klog)
    #[arg(long, default_value = "")]
    pub vmodule: String,
    /// accepted, ignored (klog; logs always go to stderr)
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub logtostderr: bool,
    /// accepted, ignored (klog)
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub alsologtostderr: bool,
    /// accepted, ignored (klog)
    #[arg(long = "log_dir", default_value = "")]
    pub log_dir: String,
    /// accepted, ignored (klog)
    #[arg(long = "log_file", default_value = "")]
    pub log_file: String,
    /// accepted, ignored (klog)
    #[arg(long = "log_file_max_size", default_value_t = 1800)]
    pub log_file_max_size: u64,
    /// accepted, ignored (klog)
    #[arg(long = "skip_headers", default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub skip_headers: bool,
    /// accepted, ignored (klog)
    #[arg(long = "skip_log_headers", default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub skip_log_headers: bool,
    /// accepted, ignored (klog)
    #[arg(long = "stderrthreshold", default_value = "2")]
    pub stderrthreshold: String,
    /// accepted, ignored (klog)
    #[arg(long = "add_dir_header", default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub add_dir_header: bool,
    /// accepted, ignored (klog)
    #[arg(long = "log_backtrace_at", default_value = "")]
    pub log_backtrace_at: String,
    /// accepted, ignored (klog)
    #[arg(long = "one_output", default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub one_output: bool,
}

impl KlogArgs {
    /// A `tracing_subscriber::EnvFilter` directive equivalent to klog's `-v` level.
    #[must_use]
    pub fn tracing_directive(&self) -> &'static str {
        match self.verbosity {
            0..=2 => "info",
            3..=4 => "debug",
            _ => "trace",
        }
    }
}

/// Every flag of `amazon-eks-pod-identity-webhook`, for `irsa webhook`.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct WebhookArgs {
    /// Port to listen on (HTTPS)
    #[arg(long, default_value = "443", value_parser = port)]
    pub port: u16,
    /// Port to listen on for metrics (HTTP)
    #[arg(long, default_value = "9999", value_parser = port)]
    pub metrics_port: u16,
    /// (out-of-cluster) Absolute path to the API server kubeconfig file
    #[arg(long, default_value = "")]
    pub kubeconfig: String,
    /// (out-of-cluster) The url to the API server
    #[arg(long, default_value = "")]
    pub kube_api: String,
    /// (out-of-cluster) TLS key file path
    #[arg(long, default_value = "/etc/webhook/certs/tls.key")]
    pub tls_key: String,
    /// (out-of-cluster) TLS certificate file path
    #[arg(long, default_value = "/etc/webhook/certs/tls.crt")]
    pub tls_cert: String,
    /// Comma-separated list of cipher suites (IANA / Go names); empty = library defaults
    #[arg(long, default_value = "")]
    pub tls_cipher_suites: String,
    /// Minimum TLS version (1.2, 1.3, VersionTLS12, VersionTLS13)
    #[arg(long, default_value = "")]
    pub tls_min_version: String,
    /// Use in-cluster (CSR) certificates; this implementation always reads --tls-cert/--tls-key
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub in_cluster: bool,
    /// (in-cluster) The service name fronting this webhook
    #[arg(long, default_value = "pod-identity-webhook")]
    pub service_name: String,
    /// (in-cluster) The namespace name this webhook, the TLS secret, and configmap resides in
    #[arg(long, default_value = "eks")]
    pub namespace: String,
    /// (in-cluster) The secret name for storing the TLS serving cert
    #[arg(long, default_value = "pod-identity-webhook")]
    pub tls_secret: String,
    /// Enables watching serviceaccounts that are configured through the pod-identity-webhook configmap
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub watch_config_map: bool,
    /// If true, then the role name and path can be used instead of the full ARN
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub compose_role_arn: bool,
    /// Absolute path to the container credentials (EKS Pod Identity) config file to watch
    #[arg(long, default_value = "")]
    pub watch_container_credentials_config: String,
    /// Display the version and exit
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub version: bool,
    /// Enable debugging handlers on the metrics port
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_parser = go_bool)]
    pub enable_debugging_handlers: bool,
    /// Grace period for service account look-ups against the API server on a cache miss (Go duration)
    #[arg(long, default_value = "0", value_parser = go_duration)]
    pub service_account_lookup_grace_period: Duration,
    /// Informer resync period (Go duration)
    #[arg(long, default_value = "60s", value_parser = go_duration)]
    pub resync_period: Duration,
    /// Mutation flags.
    #[command(flatten)]
    pub mutation: MutationArgs,
    /// Inherited klog flags.
    #[command(flatten)]
    pub klog: KlogArgs,
}

impl WebhookArgs {
    /// Plain server configuration.
    #[must_use]
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            port: self.port,
            metrics_port: self.metrics_port,
            kubeconfig: self.kubeconfig.clone(),
            kube_api: self.kube_api.clone(),
            tls_key: self.tls_key.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_cipher_suites: self.tls_cipher_suites.clone(),
            tls_min_version: self.tls_min_version.clone(),
            in_cluster: self.in_cluster,
            service_name: self.service_name.clone(),
            namespace: self.namespace.clone(),
            tls_secret: self.tls_secret.clone(),
            watch_config_map: self.watch_config_map,
            compose_role_arn: self.compose_role_arn,
            watch_container_credentials_config: self.watch_container_credentials_config.clone(),
            enable_debugging_handlers: self.enable_debugging_handlers,
            service_account_lookup_grace_period: self.service_account_lookup_grace_period,
            resync_period: self.resync_period,
        }
    }

    /// Plain mutation configuration (normalised).
    #[must_use]
    pub fn mutation_config(&self) -> MutationConfig {
        self.mutation.to_config()
    }
}

/// Rewrites Go-style single-dash long flags (`-port=443`, `-v=4`, `-logtostderr`) into clap's
/// `--` form. Arguments after a bare `--` and values that are not flags are left untouched; a
/// single-dash argument is rewritten only when its name (before `=`) is longer than one
/// character, or is `v`.
#[must_use]
pub fn normalize_go_flags<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        let arg: OsString = arg.into();
        if passthrough {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        if let Some(rest) = s.strip_prefix('-')
            && !rest.starts_with('-')
        {
            let name = rest.split('=').next().unwrap_or_default();
            let looks_like_name = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if looks_like_name && (name.len() > 1 || name == "v") {
                out.push(OsString::from(format!("-{s}")));
                continue;
            }
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: WebhookArgs,
    }

    #[test]
    fn defaults_match_upstream() {
        let cli = Cli::try_parse_from(["webhook"]).unwrap();
        assert_eq!(cli.args.server_config(), ServerConfig::default());
        assert_eq!(cli.args.mutation_config(), MutationConfig::default());
        assert!(cli.args.klog.logtostderr);
        assert_eq!(cli.args.klog.log_file_max_size, 1800);
    }

    #[test]
    fn upstream_invocation_parses() {
        let argv = normalize_go_flags([
            "webhook",
            "--in-cluster=false",
            "--namespace=default",
            "--service-name=pod-identity-webhook",
            "--annotation-prefix=eks.amazonaws.com",
            "--token-audience=sts.amazonaws.com",
            "--logtostderr",
            "-v=4",
            "--sts-regional-endpoint",
            "--token-expiration=10",
            "--service-account-lookup-grace-period=150ms",
            "-port=9443",
        ]);
        let cli = Cli::try_parse_from(argv).unwrap();
        assert!(!cli.args.in_cluster);
        assert_eq!(cli.args.namespace, "default");
        assert_eq!(cli.args.port, 9443);
        assert_eq!(cli.args.klog.verbosity, 4);
        assert!(cli.args.mutation.sts_regional_endpoint);
        assert_eq!(cli.args.mutation_config().token_expiration, 600);
        assert_eq!(cli.args.service_account_lookup_grace_period, Duration::from_millis(150));
    }

    #[test]
    fn go_flag_normalisation() {
        let out = normalize_go_flags(["webhook", "-v", "4", "-x", "--port=1", "-", "--", "-v=9"]);
        let out: Vec<String> = out.into_iter().map(|s| s.into_string().unwrap()).collect();
        assert_eq!(out, ["webhook", "--v", "4", "-x", "--port=1", "-", "--", "-v=9"]);
        let cli = Cli::try_parse_from(normalize_go_flags(["webhook", "-v", "5"])).unwrap();
        assert_eq!(cli.args.klog.tracing_directive(), "trace");
        let cli = Cli::try_parse_from(["webhook", "--watch-config-map=f", "--in-cluster", "0"]).unwrap();
        assert!(!cli.args.watch_config_map);
        assert!(!cli.args.in_cluster);
        assert!(Cli::try_parse_from(["webhook", "--sts-regional-endpoint=yes"]).is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_go_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_go_duration("100ms").unwrap(), Duration::from_millis(100));
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("5d").is_err());
    }

    #[test]
    fn tls_versions() {
        assert_eq!(parse_tls_min_version("").unwrap(), None);
        assert_eq!(
            parse_tls_min_version("VersionTLS13").unwrap(),
            Some(TlsMinVersion::Tls13)
        );
        assert!(parse_tls_min_version("1.1").is_err());
        assert!(parse_tls_min_version("tls1.2").is_err());
    }

    #[test]
    fn partitions_and_compose() {
        assert_eq!(partition_for_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_for_region("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_for_region("us-iso-east-1"), "aws-iso");
        assert_eq!(partition_for_region("eu-west-1"), "aws");
        let c = ComposeRoleArn::from_region("111122223333", "us-gov-west-1").unwrap();
        assert_eq!(
            c.compose("path/role"),
            "arn:aws-us-gov:iam::111122223333:role/path/role"
        );
        assert_eq!(c.compose("arn:aws:iam::1:role/x"), "arn:aws:iam::1:role/x");
        assert!(ComposeRoleArn::from_region("12", "x").is_err());
    }
}
