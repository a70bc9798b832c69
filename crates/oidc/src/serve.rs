//! Serving the discovery document and the JWKS (`irsa oidc serve`), with the headers
//! kube-apiserver uses (`Cache-Control: public, max-age=3600`) plus an `ETag`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::jwk::{DISCOVERY_PATH, JwkSet, discovery_document};
use crate::keys::VerifyingKey;

/// Errors of the serving side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The issuer or JWKS URL is not a valid absolute URL.
    #[error("invalid URL `{0}`")]
    Url(String),
    /// No keys to publish.
    #[error("no keys to publish")]
    NoKeys,
    /// TLS certificate or key problem.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// Socket error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A bad `IRSA_HTTP_*` connection limit.
    #[error("connection limits: {0}")]
    Limits(#[from] irsa_serve::LimitsError),
    /// A key file could not be loaded.
    #[error(transparent)]
    Key(#[from] crate::error::KeyError),
}

/// The two documents an issuer publishes, pre-rendered, with their paths.
#[derive(Clone, Debug)]
pub struct IssuerDocuments {
    discovery_path: String,
    jwks_path: String,
    discovery: Document,
    jwks: Document,
}

#[derive(Clone, Debug)]
struct Document {
    body: Arc<str>,
    etag: HeaderValue,
    content_type: &'static str,
    cache_control: HeaderValue,
}

impl Document {
    fn new(body: String, content_type: &'static str, max_age: Duration) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]));
        Self {
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            cache_control: HeaderValue::from_str(&format!("public, max-age={}", max_age.as_secs()))
                .unwrap_or(HeaderValue::from_static("public, max-age=3600")),
            body: body.into(),
            content_type,
        }
    }

    fn respond(&self, req_headers: &HeaderMap) -> Response {
        let not_modified = req_headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == self.etag || t.trim() == "*"));
        let headers = [
            (header::CACHE_CONTROL, self.cache_control.clone()),
            (header::ETAG, self.etag.clone()),
            (header::CONTENT_TYPE, HeaderValue::from_static(self.content_type)),
        ];
        if not_modified {
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            (StatusCode::OK, headers, self.body.to_string()).into_response()
        }
    }
}

impl IssuerDocuments {
    /// Render the documents of `issuer` for `keys` (all published; the first is usually the
    /// signing key). The discovery document is served at
    /// `<issuer path>/.well-known/openid-configuration`, the JWKS at the path of `jwks_uri`
    /// (default `<issuer>/openid/v1/jwks`). `max_age` is the `Cache-Control` lifetime.
    ///
    /// # Errors
    /// Invalid URLs, or no keys.
    pub fn new(
        issuer: &str,
        jwks_uri: Option<&str>,
        keys: &[VerifyingKey],
        max_age: Duration,
    ) -> Result<Self, ServeError> {
        if keys.is_empty() {
            return Err(ServeError::NoKeys);
        }
        let issuer_url = Url::parse(issuer).map_err(|_| ServeError::Url(issuer.into()))?;
        let doc = discovery_document(issuer, jwks_uri, keys);
        let jwks_url = Url::parse(&doc.jwks_uri).map_err(|_| ServeError::Url(doc.jwks_uri.clone()))?;
        let discovery_path = format!("{}{DISCOVERY_PATH}", issuer_url.path().trim_end_matches('/'));
        Ok(Self {
            discovery_path,
            jwks_path: jwks_url.path().to_owned(),
            discovery: Document::new(doc.to_json(), "application/json", max_age),
            jwks: Document::new(JwkSet::from_keys(keys).to_json(), "application/jwk-set+json", max_age),
        })
    }

    /// Path of the discovery document.
    #[must_use]
    pub fn discovery_path(&self) -> &str {
        &self.discovery_path
    }

    /// Path of the JWKS.
    #[must_use]
    pub fn jwks_path(&self) -> &str {
        &self.jwks_path
    }
}

/// An axum router serving the two documents (GET and HEAD, `If-None-Match` → 304) plus
/// `/healthz`; anything else is 404 (405 for other methods).
///
/// Paths are compared exactly rather than registered as axum routes, so an issuer path with
/// characters that axum's route syntax treats specially (`{`, `*`) is served literally.
pub fn router(docs: IssuerDocuments) -> Router {
    let docs = Arc::new(docs);
    Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let docs = Arc::clone(&docs);
        async move {
            let path = uri.path();
            let doc = if path == docs.discovery_path {
                Some(&docs.discovery)
            } else if path == docs.jwks_path {
                Some(&docs.jwks)
            } else {
                None
            };
            let known = doc.is_some() || path == "/healthz";
            if known && method != Method::GET && method != Method::HEAD {
                return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
            }
            match doc {
                Some(doc) => doc.respond(&headers),
                None if path == "/healthz" => "ok".into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    })
}

/// Everything `irsa oidc serve` needs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Issuer URL (the tokens' `iss`).
    pub issuer: String,
    /// `jwks_uri` to advertise; default `<issuer>/openid/v1/jwks`.
    pub jwks_uri: Option<String>,
    /// PEM files with the keys to publish (public or private keys, certificates).
    pub key_files: Vec<std::path::PathBuf>,
    /// Address to listen on.
    pub listen: std::net::SocketAddr,
    /// TLS certificate chain and private key files; plain HTTP when `None`.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// `Cache-Control: max-age` of both documents (kube-apiserver: 3600 s).
    pub max_age: Duration,
}

/// Load the keys, bind the socket and serve both documents until `shutdown` completes:
/// the whole of `irsa oidc serve`. Returns once the server has stopped.
///
/// # Errors
/// Key, TLS, URL or socket errors.
pub async fn run(options: ServeOptions, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
    let keys = crate::jwk::keys_from_pem_files(&options.key_files)?;
    let docs = IssuerDocuments::new(&options.issuer, options.jwks_uri.as_deref(), &keys, options.max_age)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(Arc::new(tls_config_from_files(cert, key)?)),
        None => None,
    };
    let listener = TcpListener::bind(options.listen).await?;
    tracing::info!(
        addr = %options.listen,
        discovery = docs.discovery_path(),
        jwks = docs.jwks_path(),
        keys = keys.len(),
        tls = tls.is_some(),
        "serving OIDC documents"
    );
    serve(listener, router(docs), tls, shutdown).await
}

/// A rustls server configuration (aws-lc-rs provider) from PEM certificate chain and key.
///
/// # Errors
/// Unparsable PEM, no certificate, key not matching.
pub fn tls_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig, ServeError> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServeError::Tls(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ServeError::Tls("no certificate in PEM".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| ServeError::Tls(format!("key PEM: {e}")))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// [`tls_config`] from a certificate chain file and a private key file.
///
/// # Errors
/// IO errors and everything [`tls_config`] rejects.
pub fn tls_config_from_files(
    cert_chain: impl AsRef<std::path::Path>,
    key: impl AsRef<std::path::Path>,
) -> Result<rustls::ServerConfig, ServeError> {
    let read =
        |p: &std::path::Path| std::fs::read(p).map_err(|e| ServeError::Tls(format!("reading {}: {e}", p.display())));
    tls_config(&read(cert_chain.as_ref())?, &read(key.as_ref())?)
}

/// Serve `router` on `listener` until `shutdown` completes; HTTPS when `tls` is given. The
/// connection limits are irsa's listener defaults ([`irsa_serve::Limits::from_env`]).
///
/// # Errors
/// Socket errors of the listener, or a bad `IRSA_HTTP_*` variable.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let limits = irsa_serve::Limits::from_env()?;
    let tls = tls.map_or(irsa_serve::Tls::None, irsa_serve::Tls::Fixed);
    irsa_serve::serve(listener, router, tls, limits, Arc::default(), shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Curve, KeySpec, SigningKey};

    #[test]
    fn paths_follow_issuer_and_jwks_uri() -> Result<(), Box<dyn std::error::Error>> {
        let key = SigningKey::generate(KeySpec::Rsa(2048))?;
        let keys = [key.public_key().clone()];
        let d = IssuerDocuments::new("https://h.example/id/ABC", None, &keys, Duration::from_secs(60))?;
        assert_eq!(d.discovery_path(), "/id/ABC/.well-known/openid-configuration");
        assert_eq!(d.jwks_path(), "/id/ABC/openid/v1/jwks");
        let d = IssuerDocuments::new(
            "https://h.example",
            Some("https://cdn.example/keys.json"),
            &keys,
            Duration::from_secs(60),
        )?;
        assert_eq!(d.discovery_path(), "/.well-known/openid-configuration");
        assert_eq!(d.jwks_path(), "/keys.json");
        assert!(IssuerDocuments::new("https://h.example", None, &[], Duration::from_secs(1)).is_err());
        Ok(())
    }

    #[tokio::test]
    async fn router_serves_exact_paths_only() -> Result<(), Box<dyn std::error::Error>> {
        use tower::ServiceExt as _;
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256))?;
        let docs = IssuerDocuments::new(
            "https://h.example/id/{weird}*",
            None,
            &[key.public_key().clone()],
            Duration::from_secs(60),
        )?;
        let app = router(docs.clone());
        let call = |method: &str, path: &str| {
            axum::http::Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
        };
        let r = app.clone().oneshot(call("GET", docs.jwks_path())?).await?;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/jwk-set+json");
        let r = app.clone().oneshot(call("HEAD", docs.discovery_path())?).await?;
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.clone().oneshot(call("POST", docs.discovery_path())?).await?;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let r = app.clone().oneshot(call("GET", "/id/x/openid/v1/jwks")?).await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app.oneshot(call("GET", "/healthz")?).await?;
        assert_eq!(r.status(), StatusCode::OK);
        Ok(())
    }
}
