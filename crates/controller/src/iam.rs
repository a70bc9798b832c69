//! [`RoleTrust`] with aws-sdk-iam: `GetRole` and `UpdateAssumeRolePolicy`, the document
//! percent-decoded (not form-decoded: `+` stays `+`), calls rate-limited and retried with the
//! SDK's standard backoff on throttling. [`TrustClient`] is the public API `irsa trust` uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::error::ProvideErrorMetadata;
use irsa_policy::trust::{ProviderTrust, TrustEditError, service_account_subject};

use crate::aws::{PluginError, RoleArn};
use crate::trust::{Change, EditOutcome, EditRequest, IamError, RoleInfo, RoleTrust, TrustEditLoop, TrustLoopError};

/// Percent-decodes a policy document as IAM returns it (RFC 3986; `+` is kept).
pub fn decode_policy(document: &str) -> String {
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

/// A minimal rate limiter: calls are spaced at least `1/qps` apart.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl RateLimiter {
    /// At most `qps` calls per second (`<= 0`: unlimited).
    pub fn new(qps: f64) -> Self {
        let interval = if qps > 0.0 && qps.is_finite() {
            Duration::from_secs_f64(1.0 / qps)
        } else {
            Duration::ZERO
        };
        RateLimiter {
            interval,
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot.
    pub async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let wait = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(role: &str, e: &E, display: String) -> IamError {
    let message = e.message().map(str::to_owned).unwrap_or(display);
    match e.code() {
        Some("NoSuchEntity") => IamError::NoSuchEntity(role.to_owned()),
        Some("LimitExceeded") => IamError::LimitExceeded(message),
        Some("MalformedPolicyDocument") => IamError::Malformed(message),
        Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => IamError::Throttled(message),
        Some("AccessDenied" | "AccessDeniedException") => IamError::AccessDenied(message),
        Some(code) => IamError::Other(format!("{code}: {message}")),
        None => IamError::Other(message),
    }
}

/// [`RoleTrust`] over aws-sdk-iam.
#[derive(Debug, Clone)]
pub struct SdkRoleTrust {
    client: aws_sdk_iam::Client,
    limiter: Arc<RateLimiter>,
    calls: Arc<AtomicU64>,
}

impl SdkRoleTrust {
    /// Wraps a client, at most `qps` calls per second.
    pub fn new(client: aws_sdk_iam::Client, qps: f64) -> Self {
        SdkRoleTrust {
            client,
            limiter: Arc::new(RateLimiter::new(qps)),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// From the standard AWS chain (credentials, region, `AWS_ENDPOINT_URL_IAM`/`AWS_ENDPOINT_URL`),
    /// with an explicit endpoint if given; IAM is global, so the region defaults to `us-east-1`.
    pub async fn from_env(endpoint_url: Option<String>, qps: f64) -> Self {
        let region = RegionProviderChain::default_provider().or_else("us-east-1");
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(6)
                    .with_initial_backoff(Duration::from_millis(200)),
            );
        if let Some(url) = endpoint_url.filter(|u| !u.is_empty()) {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        Self::new(aws_sdk_iam::Client::new(&config), qps)
    }

    /// IAM calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn before_call(&self) {
        self.limiter.acquire().await;
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl RoleTrust for SdkRoleTrust {
    async fn get_role(&self, role_name: &str) -> Result<Option<RoleInfo>, IamError> {
        self.before_call().await;
        match self.client.get_role().role_name(role_name).send().await {
            Ok(out) => {
                let Some(role) = out.role() else {
                    return Ok(None);
                };
                Ok(Some(RoleInfo {
                    trust_policy: decode_policy(role.assume_role_policy_document().unwrap_or_default()),
                    tags: role
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().to_owned()))
                        .collect(),
                }))
            }
            Err(e) => match classify(role_name, &e, aws_sdk_iam::error::DisplayErrorContext(&e).to_string()) {
                IamError::NoSuchEntity(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn put_trust(&self, role_name: &str, document: &str) -> Result<(), IamError> {
        self.before_call().await;
        self.client
            .update_assume_role_policy()
            .role_name(role_name)
            .policy_document(document)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(role_name, &e, aws_sdk_iam::error::DisplayErrorContext(&e).to_string()))
    }
}

/// Errors of [`TrustClient`].
#[derive(Debug, thiserror::Error)]
pub enum TrustClientError {
    /// The role ARN is invalid.
    #[error(transparent)]
    Arn(#[from] PluginError),
    /// The subject or issuer is invalid.
    #[error(transparent)]
    Edit(#[from] TrustEditError),
    /// The edit failed.
    #[error(transparent)]
    Loop(#[from] TrustLoopError),
}

/// `irsa trust add|remove|show`: the controller's edit loop through the IAM API.
#[derive(Debug)]
pub struct TrustClient {
    edits: TrustEditLoop<SdkRoleTrust>,
}

impl TrustClient {
    /// From the standard AWS chain, with `--endpoint-url` if given (5 IAM calls per second).
    pub async fn from_env(endpoint_url: Option<String>) -> Self {
        Self::new(SdkRoleTrust::from_env(endpoint_url, 5.0).await)
    }

    /// Over an existing [`SdkRoleTrust`].
    pub fn new(iam: SdkRoleTrust) -> Self {
        TrustClient {
            edits: TrustEditLoop::new(iam),
        }
    }

    /// The edit loop (to tune `limit`, `settle`, `max_attempts`, `audience`).
    pub fn edit_loop_mut(&mut self) -> &mut TrustEditLoop<SdkRoleTrust> {
        &mut self.edits
    }

    /// IAM calls made so far.
    pub fn calls(&self) -> u64 {
        self.edits.iam().calls()
    }

    async fn change(
        &self,
        role_arn: &str,
        issuer: Option<&str>,
        namespace: &str,
        service_account: &str,
        change: Change,
    ) -> Result<EditOutcome, TrustClientError> {
        let role = RoleArn::parse(role_arn)?;
        let provider = issuer.map(|i| role.provider(i)).transpose()?;
        let subject = service_account_subject(namespace, service_account)?;
        Ok(self
            .edits
            .edit(EditRequest {
                role_name: &role.name,
                provider: provider.as_ref(),
                subject: &subject,
                change,
                required_tag: None,
            })
            .await?)
    }

    /// Trusts `system:serviceaccount:NS:SA` for the issuer (`None`: the role's only OIDC provider).
    pub async fn add(
        &self,
        role_arn: &str,
        issuer: Option<&str>,
        namespace: &str,
        service_account: &str,
    ) -> Result<EditOutcome, TrustClientError> {
        self.change(role_arn, issuer, namespace, service_account, Change::Add)
            .await
    }

    /// Stops trusting `system:serviceaccount:NS:SA` (a missing role counts as done).
    pub async fn remove(
        &self,
        role_arn: &str,
        issuer: Option<&str>,
        namespace: &str,
        service_account: &str,
    ) -> Result<EditOutcome, TrustClientError> {
        self.change(role_arn, issuer, namespace, service_account, Change::Remove)
            .await
    }

    /// The role's decoded trust policy and what it grants each OIDC provider (`None`: no role).
    pub async fn show(&self, role_arn: &str) -> Result<Option<(String, Vec<ProviderTrust>)>, TrustClientError> {
        let role = RoleArn::parse(role_arn)?;
        Ok(self.edits.show(&role.name).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_plus() {
        assert_eq!(decode_policy("%7B%22a%22%3A%22x+y%2Bz%20w%22%7D"), r#"{"a":"x+y+z w"}"#);
        assert_eq!(decode_policy(r#"{"a":"b+c"}"#), r#"{"a":"b+c"}"#);
    }

    #[tokio::test]
    async fn rate_limiter_spaces_calls() {
        let limiter = RateLimiter::new(50.0);
        let started = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // The first call is immediate, the next four 20 ms apart.
        assert!(
            started.elapsed() >= Duration::from_millis(75),
            "{:?}",
            started.elapsed()
        );
        let unlimited = RateLimiter::new(0.0);
        let started = Instant::now();
        for _ in 0..100 {
            unlimited.acquire().await;
        }
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
