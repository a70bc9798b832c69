//! TLS for the webhook port: rustls with the aws-lc-rs provider, `--tls-min-version`,
//! `--tls-cipher-suites`, and a certificate resolver that reloads `--tls-cert`/`--tls-key` when
//! their content changes (cert-manager rotation, including Secret-volume symlink swaps: the files
//! are re-read by path, so a swapped `..data` link is seen).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ConfigError, TlsMinVersion, parse_tls_min_version, split_cipher_suites};

/// TLS errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The certificate PEM holds no certificate or is malformed.
    #[error("invalid certificate PEM: {0}")]
    Certificate(String),
    /// The key PEM holds no private key or is malformed.
    #[error("invalid private key PEM: {0}")]
    Key(String),
    /// rustls rejected the configuration (e.g. key does not match certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A flag value is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The process-wide crypto provider (aws-lc-rs).
#[must_use]
pub fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Parses a PEM certificate chain and private key into a [`CertifiedKey`].
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8], provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Certificate("no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
    Ok(CertifiedKey::from_der(certs, key, provider)?)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A [`ResolvesServerCert`] serving the current certificate and reloading it from disk.
#[derive(Debug)]
pub struct ReloadingCertResolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    last: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl ReloadingCertResolver {
    /// Loads the certificate and key (an error here is fatal for the caller).
    pub fn load(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let cert_path = cert_path.into();
        let key_path = key_path.into();
        let cert = read(&cert_path)?;
        let key = read(&key_path)?;
        let ck = certified_key(&cert, &key, &provider)?;
        Ok(Self {
            cert_path,
            key_path,
            provider,
            current: RwLock::new(Arc::new(ck)),
            last: Mutex::new((cert, key)),
        })
    }

    /// Re-reads both files; swaps the certificate if their content changed and parses. Returns
    /// whether a new certificate was installed. On error the previous certificate stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let cert = read(&self.cert_path)?;
        let key = read(&self.key_path)?;
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.0 == cert && last.1 == key {
            return Ok(false);
        }
        let ck = certified_key(&cert, &key, &self.provider)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ck);
        *last = (cert, key);
        Ok(true)
    }

    /// Polls the files every `interval` until the returned task is aborted.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match this.reload() {
                    Ok(true) => {
                        tracing::info!(cert = %this.cert_path.display(), "TLS certificate reloaded")
                    }
                    Ok(false) => {}
                    // During a rotation the cert may be new and the key still old: retry next tick.
                    Err(error) => {
                        tracing::warn!(%error, "TLS certificate reload failed; keeping the current one")
                    }
                }
            }
        })
    }
}

impl ResolvesServerCert for ReloadingCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// Name of a suite as rustls spells it (IANA: `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`,
/// `TLS13_AES_128_GCM_SHA256`).
fn suite_name(suite: &SupportedCipherSuite) -> String {
    format!("{:?}", suite.suite())
}

/// Restricts the provider's TLS 1.2 suites to `names` (Go / IANA names). As in Go, TLS 1.3
/// suites are not configurable and stay enabled; naming them is accepted. Unknown names (or
/// Go's insecure CBC/RC4 suites, which rustls does not implement) are an error.
pub fn select_cipher_suites(provider: &mut CryptoProvider, names: &[String]) -> Result<(), TlsError> {
    if names.is_empty() {
        return Ok(());
    }
    let available: Vec<(String, SupportedCipherSuite)> =
        provider.cipher_suites.iter().map(|s| (suite_name(s), *s)).collect();
    let mut chosen: Vec<SupportedCipherSuite> = available
        .iter()
        .filter(|(_, s)| matches!(s, SupportedCipherSuite::Tls13(_)))
        .map(|(_, s)| *s)
        .collect();
    for name in names {
        // Go spells TLS 1.3 suites `TLS_AES_…` (rustls: `TLS13_AES_…`) and has short aliases
        // for the ChaCha20 suites without `_SHA256`.
        let tls13_alias = name.strip_prefix("TLS_").map(|rest| format!("TLS13_{rest}"));
        let chacha_alias = name.ends_with("_CHACHA20_POLY1305").then(|| format!("{name}_SHA256"));
        let found = available
            .iter()
            .find(|(n, _)| n == name || Some(n) == tls13_alias.as_ref() || Some(n) == chacha_alias.as_ref());
        match found {
            Some((_, suite)) => {
                if !chosen.contains(suite) {
                    chosen.push(*suite);
                }
            }
            None => return Err(ConfigError::CipherSuite(name.clone()).into()),
        }
    }
    provider.cipher_suites = chosen;
    Ok(())
}

/// Builds the rustls server configuration from the flag values and a certificate resolver.
/// ALPN offers `h2` and `http/1.1`.
pub fn server_config(
    tls_min_version: &str,
    tls_cipher_suites: &str,
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<ServerConfig, TlsError> {
    let min = parse_tls_min_version(tls_min_version)?;
    let mut provider = provider();
    select_cipher_suites(&mut provider, &split_cipher_suites(tls_cipher_suites))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min {
        Some(TlsMinVersion::Tls13) => &[&rustls::version::TLS13],
        None | Some(TlsMinVersion::Tls12) => &[&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_suite_names() {
        let mut p = provider();
        select_cipher_suites(
            &mut p,
            &[
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_AES_128_GCM_SHA256".into(),
            ],
        )
        .unwrap();
        assert!(
            p.cipher_suites
                .iter()
                .any(|s| suite_name(s) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert!(
            !p.cipher_suites
                .iter()
                .any(|s| suite_name(s) == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
        );
        let mut p = provider();
        let err = select_cipher_suites(&mut p, &["TLS_RSA_WITH_RC4_128_SHA".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tls-cipher-suites: unsupported cipher suite: TLS_RSA_WITH_RC4_128_SHA"
        );
    }
}
