//! `irsa oidc` and `irsa token`: the cluster side of the trust chain.

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use irsa_oidc::{Algorithm, SigningKey, TokenParams, discovery_document, jwks_from_pem_files, keys_from_pem_files};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Generate a service-account signing key (PKCS#8 PEM, mode 0600).
    #[command(after_help = "Examples:
  irsa oidc keygen --alg RS256 --out sa-signer.key
  irsa oidc keygen --alg ES256 --out sa-signer-ec.key --force")]
    Keygen(KeygenArgs),
    /// Print the JWKS (`keys.json`) a cluster publishes for its public keys.
    #[command(after_help = "Examples:
  irsa oidc jwks --public-key sa-signer.key > site/clusters/prod/openid/v1/jwks
  # During a rotation: both keys
  irsa oidc jwks --public-key old.key --public-key new.key")]
    Jwks(JwksArgs),
    /// Print the OpenID discovery document.
    #[command(after_help = "Examples:
  irsa oidc discovery --issuer https://oidc.example.com/clusters/prod --public-key sa-signer.key
  irsa oidc discovery --issuer https://oidc.example.com/clusters/prod \\
    --jwks-uri https://oidc.example.com/clusters/prod/keys.json")]
    Discovery(DiscoveryArgs),
    /// Serve the discovery document and the JWKS, as kube-apiserver does.
    #[command(after_help = "Examples:
  irsa oidc serve --issuer https://oidc.example.com/clusters/prod --key sa-signer.key \\
    --listen 0.0.0.0:443 --tls-cert tls.crt --tls-key tls.key
  # Plain HTTP on a laptop (irsa server --allow-http-issuers accepts it)
  irsa oidc serve --issuer http://127.0.0.1:8443 --key sa-signer.key")]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// RS256 (RSA 2048) or ES256 (P-256); RS384/RS512/ES384/ES512 work too.
    #[arg(long, default_value = "RS256", value_parser = parse_alg)]
    alg: Algorithm,
    /// Where to write the key.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct JwksArgs {
    /// Public or private key files, or certificates (PEM); repeat for rotation.
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    public_keys: Vec<PathBuf>,
    /// Also publish each key under an empty `kid`, for tokens of clusters older than 1.16.
    #[arg(long)]
    legacy_empty_kid: bool,
}

#[derive(Debug, Args)]
pub struct DiscoveryArgs {
    /// The issuer URL (the tokens' `iss`).
    #[arg(long)]
    issuer: String,
    /// The JWKS URL to advertise (default: `<issuer>/openid/v1/jwks`, as kube-apiserver).
    #[arg(long)]
    jwks_uri: Option<String>,
    /// Key files, to list their algorithms in `id_token_signing_alg_values_supported`.
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The issuer URL (the tokens' `iss`).
    #[arg(long, env = "IRSA_OIDC_ISSUER")]
    issuer: String,
    /// Key files to publish (public or private); repeat for rotation.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443", env = "IRSA_OIDC_LISTEN")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM); without it, plain HTTP.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The JWKS URL to advertise (default: `<issuer>/openid/v1/jwks`).
    #[arg(long)]
    jwks_uri: Option<String>,
    /// `Cache-Control: max-age` of both documents, in seconds.
    #[arg(long, default_value_t = 3600)]
    max_age: u64,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The cluster's service-account signing key (PEM).
    #[arg(long)]
    signing_key: PathBuf,
    /// The issuer URL (`iss`).
    #[arg(long)]
    issuer: String,
    /// The service account's namespace.
    #[arg(long)]
    namespace: String,
    /// The service account.
    #[arg(long)]
    service_account: String,
    /// Audiences (`aud`); default `sts.amazonaws.com`.
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// Lifetime; the kubelet asks for at least 600 seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(600..=4_294_967_295))]
    expiration_seconds: i64,
    /// Bind the token to a pod (name).
    #[arg(long, requires = "pod_uid")]
    pod_name: Option<String>,
    /// Bind the token to a pod (uid).
    #[arg(long, requires = "pod_name")]
    pod_uid: Option<String>,
    /// The service account's uid (default: derived from namespace and name).
    #[arg(long)]
    service_account_uid: Option<String>,
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(s)
        .ok_or_else(|| format!("unsupported algorithm `{s}` (use RS256, RS384, RS512, ES256, ES384 or ES512)"))
}

pub fn run(cmd: OidcCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        OidcCommand::Keygen(a) => {
            if a.out.exists() && !a.force {
                bail!("`{}` exists; pass --force to replace it", a.out.display());
            }
            let pem = irsa_oidc::keygen(a.alg)?;
            irsa_oidc::keys::write_private_key_pem(&a.out, &pem, a.force)?;
            let key = SigningKey::from_pem(pem.as_bytes())?;
            eprintln!("wrote {} key {} to {}", a.alg.as_str(), key.kid(), a.out.display());
        }
        OidcCommand::Jwks(a) => {
            let mut set = jwks_from_pem_files(&a.public_keys)?;
            if a.legacy_empty_kid {
                set = set.with_legacy_empty_kid();
            }
            writeln!(out, "{}", set.to_json_pretty())?;
        }
        OidcCommand::Discovery(a) => {
            check_issuer(&a.issuer)?;
            let keys = keys_from_pem_files(&a.public_keys)?;
            writeln!(
                out,
                "{}",
                discovery_document(&a.issuer, a.jwks_uri.as_deref(), &keys).to_json_pretty()
            )?;
        }
        OidcCommand::Serve(a) => {
            check_issuer(&a.issuer)?;
            let options = irsa_oidc::serve::ServeOptions {
                issuer: a.issuer,
                jwks_uri: a.jwks_uri,
                key_files: a.keys,
                listen: a.listen,
                tls: a.tls_cert.zip(a.tls_key),
                max_age: Duration::from_secs(a.max_age),
            };
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(async move {
                eprintln!("serving the issuer documents on {}", options.listen);
                irsa_oidc::serve::run(options, crate::shutdown_signal()).await
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_issuer(issuer: &str) -> Result<()> {
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        bail!("--issuer `{issuer}` must be an https:// URL (AWS accepts only https issuers)");
    }
    Ok(())
}

pub fn token(a: TokenArgs) -> Result<ExitCode> {
    check_issuer(&a.issuer)?;
    let key = SigningKey::from_pem_file(&a.signing_key)?;
    let mut params = TokenParams::new(a.issuer, a.namespace, a.service_account);
    params.audiences = a.audiences;
    params.expiration_seconds = a.expiration_seconds;
    params.pod = a.pod_name.zip(a.pod_uid);
    params.service_account_uid = a.service_account_uid;
    let token = irsa_oidc::mint_token(&key, &params)?;
    writeln!(std::io::stdout().lock(), "{token}")?;
    Ok(ExitCode::SUCCESS)
}
