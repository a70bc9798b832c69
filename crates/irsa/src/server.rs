//! `irsa server`: the STS + IAM service.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// Where the root credentials file lives, and the embedded store unless --etcd-endpoints.
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
    /// Keep state in etcd at these client URLs (comma-separated) instead of the embedded
    /// store; replicas on the same etcd and prefix are one service.
    #[arg(
        long,
        env = "IRSA_ETCD_ENDPOINTS",
        value_delimiter = ',',
        value_name = "URL[,URL...]"
    )]
    etcd_endpoints: Vec<String>,
    /// Prefix of irsa's keys in etcd [default: irsa/].
    #[arg(long, env = "IRSA_ETCD_PREFIX")]
    etcd_prefix: Option<String>,
    /// CA certificate(s) (PEM) that etcd's server certificate chains to; needed for https://.
    #[arg(long, env = "IRSA_ETCD_CA_FILE", value_name = "PEM")]
    etcd_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's --client-cert-auth; with --etcd-key-file.
    #[arg(long, env = "IRSA_ETCD_CERT_FILE", value_name = "PEM")]
    etcd_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "IRSA_ETCD_KEY_FILE", value_name = "PEM")]
    etcd_key_file: Option<PathBuf>,
    /// Keep the state in memory: nothing is written to disk (no store, no root credentials
    /// file) and it ends with the process; for CI. Generated root keys are printed on stderr.
    #[arg(long, env = "IRSA_EPHEMERAL")]
    ephemeral: bool,
    /// Create OIDC providers, managed policies and roles from this YAML or JSON file before
    /// listening; what already matches is left alone. A bad seed stops the server (exit 2).
    #[arg(long, env = "IRSA_SEED", value_name = "FILE")]
    seed: Option<PathBuf>,
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
    "etcd-endpoints",
    "etcd-prefix",
    "etcd-ca-file",
    "etcd-cert-file",
    "etcd-key-file",
    "ephemeral",
    "seed",
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

/// The config file's `etcd-endpoints`: a list, or one comma-separated string like the flag.
fn file_endpoints(file: &serde_json::Map<String, Value>) -> Result<Vec<String>> {
    match file.get("etcd-endpoints") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split(',').map(str::to_owned).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => bail!("etcd-endpoints: every endpoint must be a string (a URL)"),
            })
            .collect(),
        Some(_) => bail!("etcd-endpoints must be a URL, comma-separated URLs or a list of URLs"),
    }
}

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what}: cannot read `{}`", path.display()))
}

/// A PEM file that must hold a block of this kind (`CERTIFICATE`, `PRIVATE KEY`): a wrong or
/// empty file is named now rather than surfacing as a TLS failure at connect time.
fn read_pem(what: &str, path: &Path, kind: &str) -> Result<Vec<u8>> {
    let pem = read_file(what, path)?;
    let text = String::from_utf8_lossy(&pem);
    let found = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{kind}-----")));
    if !found {
        bail!("{what}: `{}` holds no PEM {}", path.display(), kind.to_lowercase());
    }
    Ok(pem)
}

/// The etcd settings (flags over environment over file) as a store choice: embedded unless
/// endpoints are given. Endpoints are `http://` or `https://` URLs, all of one scheme; https
/// needs the CA (the store trusts no system roots), and TLS settings without https are refused
/// rather than ignored.
fn etcd_choice(
    endpoints: Vec<String>,
    prefix: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
) -> Result<irsa_server::StoreChoice> {
    let endpoints: Vec<String> = endpoints
        .into_iter()
        .map(|e| e.trim().trim_end_matches('/').to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    if endpoints.is_empty() {
        if let Some(setting) = [
            prefix.as_ref().map(|_| "--etcd-prefix"),
            ca_file.as_ref().map(|_| "--etcd-ca-file"),
            cert_file.as_ref().map(|_| "--etcd-cert-file"),
            key_file.as_ref().map(|_| "--etcd-key-file"),
        ]
        .into_iter()
        .flatten()
        .next()
        {
            bail!("{setting} needs --etcd-endpoints (without it the store is the embedded one)");
        }
        return Ok(irsa_server::StoreChoice::Embedded);
    }
    let mut https = None;
    for e in &endpoints {
        let (is_https, rest) = match (e.strip_prefix("https://"), e.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => bail!("etcd endpoint `{e}` must be an http:// or https:// URL (http://127.0.0.1:2379)"),
        };
        // Not echoed: the part before `@` would be a password.
        if rest.contains('@') {
            bail!(
                "an etcd endpoint carries a user name or password; irsa authenticates to etcd with \
                 client certificates (--etcd-cert-file, --etcd-key-file)"
            );
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            bail!("etcd endpoint `{e}` must be scheme://host:port, without a path");
        }
        if https.is_some_and(|h| h != is_https) {
            bail!("etcd endpoints mix http:// and https://; use one scheme");
        }
        https = Some(is_https);
    }
    let prefix = prefix.unwrap_or_else(|| "irsa/".to_owned());
    if prefix.is_empty() {
        bail!("--etcd-prefix must not be empty: it keeps irsa's keys apart from the cluster's other users");
    }
    let mut config = irsa_server::EtcdConfig::new(endpoints).with_namespace(prefix);
    let identity = match (cert_file, key_file) {
        (Some(cert), Some(key)) => Some((
            read_pem("--etcd-cert-file", &cert, "CERTIFICATE")?,
            read_pem("--etcd-key-file", &key, "PRIVATE KEY")?,
        )),
        (None, None) => None,
        _ => bail!("give both --etcd-cert-file and --etcd-key-file, or neither"),
    };
    match (https == Some(true), ca_file) {
        (true, Some(ca)) => {
            let mut tls = irsa_server::EtcdTls::new(read_pem("--etcd-ca-file", &ca, "CERTIFICATE")?);
            if let Some((cert, key)) = identity {
                tls = tls.with_client_identity(cert, key);
            }
            config = config.with_tls(tls);
        }
        (true, None) => bail!("https:// etcd endpoints need --etcd-ca-file (the CA that signed etcd's certificate)"),
        (false, Some(_)) => bail!("--etcd-ca-file is for https:// etcd endpoints; these are http://"),
        (false, None) if identity.is_some() => {
            bail!("--etcd-cert-file and --etcd-key-file are for https:// etcd endpoints; these are http://")
        }
        (false, None) => {}
    }
    Ok(irsa_server::StoreChoice::Etcd(config))
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
        let endpoints = if self.etcd_endpoints.is_empty() {
            file_endpoints(&file)?
        } else {
            self.etcd_endpoints
        };
        let path = |key: &str| get(key).map(PathBuf::from);
        let data_dir = self.data_dir.or_else(|| path("data-dir"));
        let ephemeral = self.ephemeral || get("ephemeral").as_deref() == Some("true");
        if ephemeral && !endpoints.is_empty() {
            bail!("--ephemeral keeps the state in memory and --etcd-endpoints in etcd; choose one");
        }
        if ephemeral && let Some(d) = &data_dir {
            bail!(
                "--ephemeral writes nothing to disk, so --data-dir `{}` has no use; drop one of them",
                d.display()
            );
        }
        let store = etcd_choice(
            endpoints,
            self.etcd_prefix.or_else(|| get("etcd-prefix")),
            self.etcd_ca_file.or_else(|| path("etcd-ca-file")),
            self.etcd_cert_file.or_else(|| path("etcd-cert-file")),
            self.etcd_key_file.or_else(|| path("etcd-key-file")),
        )?;
        let store = if ephemeral {
            irsa_server::StoreChoice::Memory
        } else {
            store
        };
        let seed = match self.seed.or_else(|| path("seed")) {
            Some(file) => {
                let text =
                    std::fs::read_to_string(&file).with_context(|| format!("cannot read seed `{}`", file.display()))?;
                let seed = irsa_server::Seed::parse(&text).with_context(|| format!("seed `{}`", file.display()))?;
                Some(seed)
            }
            None => None,
        };
        // Connection limits: `IRSA_HTTP_*` variables, else the config file's `http-*` keys
        // (`IRSA_HTTP_MAX_CONNECTIONS` or `http-max-connections`).
        let http = irsa_serve::Limits::from_lookup(|name| {
            std::env::var(name)
                .ok()
                .or_else(|| get(&name.trim_start_matches("IRSA_").to_ascii_lowercase().replace('_', "-")))
        })?;
        Ok(irsa_server::ServerConfig {
            http,
            listen,
            data_dir: data_dir.unwrap_or_else(default_data_dir),
            store,
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
            seed,
        })
    }
}

pub fn run(args: ServerArgs) -> Result<ExitCode> {
    let config = args.into_config()?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(irsa_server::serve(
        config,
        |s| {
            let credentials = match &s.root_credentials_file {
                Some(file) => format!("root credentials in {}", file.display()),
                None => format!("root access key id {}", s.root_access_key_id),
            };
            tracing::info!(
                listen = %s.addr,
                root_access_key_id = %s.root_access_key_id,
                credentials = %credentials,
                store = %s.store,
                seeded = %s.seeded.map(|r| r.to_string()).unwrap_or_else(|| "no seed".to_owned()),
                "irsa STS + IAM service ready"
            );
            if let Some(report) = s.seeded {
                eprintln!("irsa server: seed applied: {report}");
            }
            eprintln!(
                "irsa server: STS + IAM on http://{} (store: {}; {credentials})",
                s.addr, s.store
            );
            // In memory there is no file to hand generated keys over in; they die with the process.
            if let Some(secret) = &s.ephemeral_root_secret {
                eprintln!(
                    "irsa server: generated root credentials, valid until this process ends: \
                     AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
                    s.root_access_key_id,
                    secret.expose()
                );
            }
        },
        crate::shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}
