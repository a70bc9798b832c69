//! `irsa server`: the STS + IAM service.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Every flag is also an `IRSA_*` environment variable and a key of the
/// `--config` file (YAML or JSON, keys as the flags without dashes:
/// `listen`, `data-dir`, ...); a flag beats the environment, which beats the file.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Configuration file (YAML or JSON).
    #[arg(long, env = "IRSA_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4566].
    #[arg(long, env = "IRSA_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where state lives (the embedded store and the root credentials file).
    #[arg(long, env = "IRSA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The account id (12 digits) [default: 000000000000].
    #[arg(long, env = "IRSA_ACCOUNT_ID")]
    account_id: Option<String>,
    /// The region [default: us-east-1].
    #[arg(long, env = "IRSA_REGION")]
    region: Option<String>,
    /// The partition [default: aws].
    #[arg(long, env = "IRSA_PARTITION")]
    partition: Option<String>,
    /// Root access key id (generated at first start when not given).
    #[arg(long, env = "IRSA_ROOT_ACCESS_KEY_ID", requires = "root_secret_access_key")]
    root_access_key_id: Option<String>,
    /// Root secret access key.
    #[arg(
        long,
        env = "IRSA_ROOT_SECRET_ACCESS_KEY",
        requires = "root_access_key_id",
        hide_env_values = true
    )]
    root_secret_access_key: Option<String>,
    /// Extra CA bundle (PEM) for OIDC issuers' HTTPS (on-prem issuers).
    #[arg(long, env = "IRSA_OIDC_CA_FILE")]
    oidc_ca_file: Option<PathBuf>,
    /// Accept http:// issuers (development only; AWS never does).
    #[arg(long, env = "IRSA_ALLOW_HTTP_ISSUERS")]
    allow_http_issuers: bool,
    /// Trust-policy size limit (ACLSizePerRole) [default: 2048].
    #[arg(long, env = "IRSA_TRUST_POLICY_LIMIT")]
    trust_limit: Option<usize>,
}

fn file_value(file: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match file.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

const KEYS: &[&str] = &[
    "listen",
    "data-dir",
    "account-id",
    "region",
    "partition",
    "root-access-key-id",
    "root-secret-access-key",
    "oidc-ca-file",
    "allow-http-issuers",
    "trust-limit",
];

fn load_file(path: &PathBuf) -> Result<serde_json::Map<String, Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let v: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("`{}` is not YAML or JSON: {e}", path.display()))?,
    };
    let Value::Object(m) = v else {
        bail!("`{}` must be a mapping of settings", path.display());
    };
    if let Some(k) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
        bail!(
            "`{}`: unknown setting `{k}` (known: {})",
            path.display(),
            KEYS.join(", ")
        );
    }
    Ok(m)
}

pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("irsa")
}

impl ServerArgs {
    pub fn into_config(self) -> Result<irsa_server::ServerConfig> {
        let file = match &self.config {
            Some(p) => load_file(p)?,
            None => serde_json::Map::new(),
        };
        let get = |key: &str| file_value(&file, key);
        let parse_listen = |s: String| s.parse::<SocketAddr>().with_context(|| format!("listen address `{s}`"));
        let listen = match self.listen {
            Some(l) => l,
            None => parse_listen(get("listen").unwrap_or_else(|| "127.0.0.1:4566".to_owned()))?,
        };
        let account = self
            .account_id
            .or_else(|| get("account-id"))
            .unwrap_or_else(|| "000000000000".to_owned());
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            bail!("--account-id `{account}` must be 12 digits");
        }
        let root = match (
            self.root_access_key_id.or_else(|| get("root-access-key-id")),
            self.root_secret_access_key.or_else(|| get("root-secret-access-key")),
        ) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (None, None) => None,
            _ => bail!("give both the root access key id and its secret, or neither"),
        };
        let ca = self.oidc_ca_file.or_else(|| get("oidc-ca-file").map(PathBuf::from));
        let oidc_ca_pem = match ca {
            Some(p) => Some(std::fs::read(&p).with_context(|| format!("cannot read `{}`", p.display()))?),
            None => None,
        };
        let trust_limit = match self.trust_limit {
            Some(n) => n,
            None => match get("trust-limit") {
                Some(s) => s.parse().with_context(|| format!("trust-limit `{s}`"))?,
                None => 2048,
            },
        };
        Ok(irsa_server::ServerConfig {
            listen,
            data_dir: self
                .data_dir
                .or_else(|| get("data-dir").map(PathBuf::from))
                .unwrap_or_else(default_data_dir),
            store: irsa_server::StoreChoice::Embedded,
            account,
            region: self
                .region
                .or_else(|| get("region"))
                .unwrap_or_else(|| "us-east-1".to_owned()),
            partition: self
                .partition
                .or_else(|| get("partition"))
                .unwrap_or_else(|| "aws".to_owned()),
            root_access_key: root,
            oidc_ca_pem,
            allow_http_issuers: self.allow_http_issuers || get("allow-http-issuers").as_deref() == Some("true"),
            trust_limit,
        })
    }
}

pub fn run(args: ServerArgs) -> Result<ExitCode> {
    let config = args.into_config()?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(irsa_server::serve(
        config,
        |s| {
            tracing::info!(
                listen = %s.addr,
                root_access_key_id = %s.root_access_key_id,
                root_credentials = %s.root_credentials_file.display(),
                "irsa STS + IAM service ready"
            );
            eprintln!(
                "irsa server: STS + IAM on http://{} (root credentials in {})",
                s.addr,
                s.root_credentials_file.display()
            );
        },
        crate::shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}
