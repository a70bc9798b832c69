//! The IO shell of the verifier: fetching discovery documents and JWKS over HTTPS, and the
//! async [`Verifier`] that combines [`Validator`], the per-issuer [`IssuerCache`] and a
//! [`KeySource`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;

use crate::cache::{CacheControl, CachePolicy, IssuerCache, Lookup};
use crate::error::{FetchError, VerifyError, sanitize_url, truncate};
use crate::jwk::{KeySet, discovery_url};
use crate::token::unix_now;
use crate::verify::{TrustedIssuer, ValidationOptions, Validator, VerifiedToken};

/// Network settings for key retrieval.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Allow `http://` issuers and JWKS URIs (development only; STS requires https).
    pub allow_http: bool,
    /// Extra trusted CA certificates (PEM bundle), e.g. for on-prem issuers.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Trust only [`FetchOptions::extra_ca_pem`], not the system roots.
    pub only_extra_ca: bool,
    /// Limit for the whole retrieval (discovery and JWKS, bodies included; default 5 s, the
    /// time STS gives an issuer).
    pub timeout: Duration,
    /// Limit for establishing the connection (default 3 s).
    pub connect_timeout: Duration,
    /// Largest accepted response body (default 256 KiB).
    pub max_body_bytes: usize,
    /// Most redirects followed (default 3).
    pub max_redirects: usize,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment (default false:
    /// issuers are contacted directly, like STS does).
    pub use_env_proxy: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            allow_http: false,
            extra_ca_pem: None,
            only_extra_ca: false,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            max_body_bytes: 256 * 1024,
            max_redirects: 3,
            use_env_proxy: false,
        }
    }
}

/// Errors building a [`Verifier`] or [`HttpKeySource`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The CA bundle could not be parsed.
    #[error("invalid CA bundle: {0}")]
    CaBundle(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A trusted issuer URL is unacceptable.
    #[error(transparent)]
    Issuer(#[from] FetchError),
}

/// Keys fetched for an issuer, with the caching directives of the response.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The parsed JWKS.
    pub keys: KeySet,
    /// `Cache-Control` of the JWKS response.
    pub cache_control: Option<CacheControl>,
}

/// Where the verifier gets an issuer's keys from. [`HttpKeySource`] is the real one; tests
/// and embedders may provide others.
pub trait KeySource: Send + Sync {
    /// Fetch the current keys of `issuer`.
    fn fetch(&self, issuer: &str) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}

/// OIDC discovery then JWKS over HTTP(S).
#[derive(Clone, Debug)]
pub struct HttpKeySource {
    client: reqwest::Client,
    options: FetchOptions,
}

#[derive(Deserialize)]
struct DiscoveryMinimal {
    issuer: String,
    jwks_uri: String,
}

/// Check that `url` may be fetched: parsable, https (or http when allowed), no credentials,
/// no query or fragment.
///
/// # Errors
/// [`FetchError::InsecureUrl`] saying what is wrong.
pub fn check_url(url: &str, allow_http: bool) -> Result<Url, FetchError> {
    let bad = |reason| FetchError::InsecureUrl {
        url: sanitize_url(url),
        reason,
    };
    let parsed = Url::parse(url).map_err(|_| bad("not a valid URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(bad("https is required (http is allowed only in development mode)"));
        }
        _ => return Err(bad("scheme must be https")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials in URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("query or fragment in URL"));
    }
    Ok(parsed)
}

impl HttpKeySource {
    /// Build the HTTP client (aws-lc-rs rustls, redirect/time limits, extra CAs).
    ///
    /// # Errors
    /// Unparsable CA bundle or client construction failure.
    pub fn new(options: FetchOptions) -> Result<Self, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .https_only(!options.allow_http)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(options.max_redirects))
            .user_agent(concat!("irsa-oidc/", env!("CARGO_PKG_VERSION")));
        if !options.use_env_proxy {
            builder = builder.no_proxy();
        }
        if let Some(pem) = &options.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| ConfigError::CaBundle(e.to_string()))?;
            if certs.is_empty() {
                return Err(ConfigError::CaBundle("no certificate in bundle".into()));
            }
            builder = if options.only_extra_ca {
                builder.tls_certs_only(certs)
            } else {
                builder.tls_certs_merge(certs)
            };
        }
        let client = builder.build().map_err(|e| ConfigError::Client(error_chain(&e)))?;
        Ok(Self { client, options })
    }

    async fn get(
        &self,
        url: &Url,
        deadline: tokio::time::Instant,
    ) -> Result<(Vec<u8>, Option<CacheControl>), FetchError> {
        let shown = sanitize_url(url.as_str());
        let work = async {
            let resp = self
                .client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, ACCEPT)
                .send()
                .await
                .map_err(|e| map_reqwest(&shown, &e))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: shown.clone(),
                    status: status.as_u16(),
                });
            }
            let limit = self.options.max_body_bytes;
            let too_large = || FetchError::TooLarge {
                url: shown.clone(),
                limit,
            };
            if resp
                .content_length()
                .is_some_and(|l| usize::try_from(l).map_or(true, |l| l > limit))
            {
                return Err(too_large());
            }
            let cc = resp
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .map(CacheControl::parse);
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| map_reqwest(&shown, &e))? {
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok((body, cc))
        };
        // one deadline for discovery and JWKS together; reqwest's own per-request timeout is a
        // second line of defence against a server that drips bytes
        tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| Err(FetchError::Timeout { url: shown.clone() }))
    }
}

/// What discovery and JWKS requests accept. Issuers label the same JSON differently:
/// kube-apiserver serves its JWKS only as `application/jwk-set+json` and answers 406 to a
/// bare `application/json`; S3 buckets often say `binary/octet-stream`. The body is parsed
/// as JSON whatever its label, so every type is acceptable, the JSON ones preferred.
pub const ACCEPT: &str = "application/json, application/jwk-set+json, */*;q=0.1";

impl KeySource for HttpKeySource {
    async fn fetch(&self, issuer: &str) -> Result<Fetched, FetchError> {
        let allow_http = self.options.allow_http;
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        check_url(issuer, allow_http)?;
        let disc_url = check_url(&discovery_url(issuer), allow_http)?;
        let (body, _) = self.get(&disc_url, deadline).await?;
        let invalid = |url: &Url, reason: String| FetchError::InvalidDocument {
            url: sanitize_url(url.as_str()),
            reason,
        };
        let doc: DiscoveryMinimal = serde_json::from_slice(&body).map_err(|e| {
            invalid(
                &disc_url,
                format!("not a discovery document: {}", truncate(&e.to_string(), 120)),
            )
        })?;
        if doc.issuer != issuer {
            return Err(invalid(
                &disc_url,
                format!(
                    "`issuer` is `{}`, expected `{}`",
                    sanitize_url(&doc.issuer),
                    sanitize_url(issuer)
                ),
            ));
        }
        let jwks_url = check_url(&doc.jwks_uri, allow_http)?;
        let (body, cache_control) = self.get(&jwks_url, deadline).await?;
        let keys = KeySet::from_jwks_json(&body).map_err(|e| invalid(&jwks_url, e))?;
        tracing::debug!(issuer, keys = keys.usable_len(), "fetched issuer keys");
        Ok(Fetched { keys, cache_control })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

fn map_reqwest(url: &str, e: &reqwest::Error) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout { url: url.into() };
    }
    let mut reason = e.without_url_ref();
    if let Some(src) = std::error::Error::source(e) {
        reason.push_str(": ");
        reason.push_str(&error_chain(src));
    }
    if e.is_redirect() {
        return FetchError::InvalidDocument {
            url: url.into(),
            reason: format!("redirects: {reason}"),
        };
    }
    // a certificate the configured roots do not trust is a configuration problem, not an outage
    // (the rustls error usually sits inside an io::Error inside boxed connector errors, which
    // downcasting does not always reach, so the message is checked as well)
    if reason.contains("invalid peer certificate") {
        return FetchError::Tls {
            url: url.into(),
            reason,
        };
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        let tls = s.downcast_ref::<rustls::Error>().is_some()
            || s.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        if tls {
            return FetchError::Tls {
                url: url.into(),
                reason,
            };
        }
        src = s.source();
    }
    FetchError::Unreachable {
        url: url.into(),
        reason,
    }
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut s = self.to_string();
        if let Some(u) = self.url() {
            s = s.replace(&format!(" ({u})"), "");
        }
        s
    }
}

/// Everything a [`Verifier`] needs.
#[derive(Clone, Debug, Default)]
pub struct VerifierConfig {
    /// Trusted issuers and their audiences.
    pub issuers: Vec<TrustedIssuer>,
    /// Claim checks.
    pub validation: ValidationOptions,
    /// Cache timing.
    pub cache: CachePolicy,
    /// Network settings.
    pub fetch: FetchOptions,
}

struct Slot {
    state: Mutex<IssuerCache>,
    fetch: tokio::sync::Mutex<()>,
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, IssuerCache> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The web identity token verifier with per-issuer JWKS caching.
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Verifier<S = HttpKeySource> {
    validator: Validator,
    policy: CachePolicy,
    source: S,
    slots: HashMap<String, Slot>,
}

impl<S> std::fmt::Debug for Verifier<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("validator", &self.validator)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Verifier<HttpKeySource> {
    /// A verifier fetching keys over HTTPS.
    ///
    /// # Errors
    /// Bad CA bundle, or a trusted issuer URL that is not https (unless http is allowed).
    pub fn new(config: VerifierConfig) -> Result<Self, ConfigError> {
        for i in &config.issuers {
            check_url(&i.issuer, config.fetch.allow_http)?;
        }
        let source = HttpKeySource::new(config.fetch)?;
        Ok(Self::with_source(
            Validator::new(config.issuers, config.validation),
            config.cache,
            source,
        ))
    }
}

impl<S: KeySource> Verifier<S> {
    /// A verifier with a custom key source.
    #[must_use]
    pub fn with_source(validator: Validator, policy: CachePolicy, source: S) -> Self {
        let slots = validator
            .issuers()
            .map(|i| {
                (
                    i.issuer.clone(),
                    Slot {
                        state: Mutex::new(IssuerCache::default()),
                        fetch: tokio::sync::Mutex::new(()),
                    },
                )
            })
            .collect();
        Self {
            validator,
            policy,
            source,
            slots,
        }
    }

    /// The sans-IO validator inside.
    #[must_use]
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Fetch the keys of every trusted issuer that has none cached yet (e.g. at start-up),
    /// so the first tokens do not pay for discovery. Returns the per-issuer outcome (number
    /// of usable keys, or the error); failures are cached like any other fetch failure.
    pub async fn prefetch(&self) -> Vec<(String, Result<usize, FetchError>)> {
        let mut out = Vec::with_capacity(self.slots.len());
        for (issuer, slot) in &self.slots {
            let result = self.keys(slot, issuer).await.map(|k| k.usable_len());
            out.push((issuer.clone(), result));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Verify a token now.
    ///
    /// # Errors
    /// See [`VerifyError`]; use [`VerifyError::sts_error_code`] for the STS error.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        self.verify_at(token, unix_now()).await
    }

    /// Verify a token with claim times checked against `now` (seconds since the epoch);
    /// cache timing still uses the real clock.
    ///
    /// # Errors
    /// See [`VerifyError`].
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<VerifiedToken, VerifyError> {
        let pre = self.validator.precheck(token)?;
        let Some((issuer, slot)) = self.slots.get_key_value(pre.issuer()) else {
            return Err(VerifyError::UnknownIssuer(sanitize_url(pre.issuer())));
        };
        let mut keys = self.keys(slot, issuer).await?;
        let needs_refresh = match pre.kid() {
            Some(kid) => !keys.contains_kid(kid),
            None => !keys.contains_kid("") && keys.entries().len() != 1,
        };
        if needs_refresh {
            keys = self.refresh(slot, issuer, keys).await?;
        }
        self.validator.finish(pre, &keys, now)
    }

    /// Current keys of `issuer`, fetching if needed (single-flight).
    async fn keys(&self, slot: &Slot, issuer: &str) -> Result<Arc<KeySet>, FetchError> {
        let generation = {
            let state = slot.state();
            match state.lookup(&self.policy, Instant::now()) {
                Lookup::Keys(k) => {
                    crate::stats::CACHE_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(k);
                }
                Lookup::Fail(e) => return Err(e),
                Lookup::Fetch => state.generation(),
            }
        };
        let _flight = slot.fetch.lock().await;
        {
            let state = slot.state();
            if state.generation() != generation {
                // someone fetched while we waited
                match state.lookup(&self.policy, Instant::now()) {
                    Lookup::Keys(k) => return Ok(k),
                    Lookup::Fail(e) => return Err(e),
                    Lookup::Fetch => {}
                }
            }
        }
        self.fetch_locked(slot, issuer, true).await
    }

    /// Refresh because of an unknown `kid`, at most once per refresh interval.
    async fn refresh(&self, slot: &Slot, issuer: &str, current: Arc<KeySet>) -> Result<Arc<KeySet>, FetchError> {
        let generation = slot.state().generation();
        let _flight = slot.fetch.lock().await;
        {
            let state = slot.state();
            if state.generation() != generation
                && let Some(keys) = state.keys()
            {
                return Ok(keys);
            }
            if !state.may_force_refresh(&self.policy, Instant::now()) {
                tracing::debug!(issuer, "unknown kid; refresh rate-limited");
                // while the issuer is failing, an unknown kid may well exist there: report the
                // outage rather than a bad token
                return match state.failing() {
                    Some(err) => Err(FetchError::BackingOff(Box::new(err.clone()))),
                    None => Ok(current),
                };
            }
        }
        self.fetch_locked(slot, issuer, false).await
    }

    /// Fetch with the slot's fetch lock held. On failure, `stale_ok` decides whether the
    /// cached keys (within bounds) are returned or the error.
    async fn fetch_locked(&self, slot: &Slot, issuer: &str, stale_ok: bool) -> Result<Arc<KeySet>, FetchError> {
        slot.state().record_attempt(Instant::now());
        crate::stats::FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = self.source.fetch(issuer).await;
        let mut state = slot.state();
        match result {
            Ok(f) => Ok(state.record_success(&self.policy, Instant::now(), f.keys, f.cache_control)),
            Err(e) => {
                crate::stats::FETCH_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(issuer, error = %e, "fetching issuer keys failed");
                let stale = state.record_failure(&self.policy, Instant::now(), e.clone());
                if stale_ok { stale } else { Err(e) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn verifier_is_shareable_and_its_future_is_send() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<Verifier>();
        if let Ok(v) = Verifier::new(VerifierConfig::default()) {
            let fut = v.verify("x");
            assert_send(&fut);
        }
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://a.example/x", false).is_ok());
        assert!(check_url("http://a.example/x", false).is_err());
        assert!(check_url("http://a.example/x", true).is_ok());
        assert!(check_url("ftp://a.example/x", true).is_err());
        assert!(check_url("https://u:p@a.example/x", false).is_err());
        assert!(check_url("https://a.example/x?q=1", false).is_err());
        assert!(check_url("not a url", false).is_err());
    }
}
