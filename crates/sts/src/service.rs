//! The STS service over the store: `AssumeRoleWithWebIdentity`, `AssumeRole`,
//! `GetCallerIdentity`, the SigV4 credential lookup and the authorization of signed calls.

use crate::context::{
    RequestInfo, WebIdentityRequest, add_global_keys, add_request_tags, amr_values, check_tags, session_context,
    token_session_data, web_identity_context,
};
use crate::errors::{
    caller_denied, expired_token, internal_failure, invalid_client_token_id, invalid_identity_token,
    no_provider_message, web_identity_denied, web_identity_error,
};
use crate::session::{Caller, SessionClaims};
use crate::token::{KeyRing, RingKey};
use irsa_aws_query::{
    AwsError, ErrorCode, NAME_PATTERN, POLICY_PATTERN, QueryParams, TEXT_PATTERN, Validator, XmlWriter, iso8601,
};
use irsa_iam::ids::{KeyKind, Random, access_key_id, secret_access_key};
use irsa_iam::layout::{self, ACCESS_KEYS, SESSION_KEY_RING};
use irsa_iam::names::{assumed_role_arn, parse_role_arn};
use irsa_iam::{OidcProvider, Role, Tag};
use irsa_oidc::{CachePolicy, FetchOptions, TrustedIssuer, ValidationOptions, Verifier, VerifierConfig};
use irsa_policy::{Context, Decision, Limits, Policy, PolicyKind, PolicyRole, PolicySet, Request, RequestPrincipal};
use irsa_store::{Compare, Store, Txn};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The default session length, seconds.
pub const DEFAULT_DURATION: i64 = 3600;
/// The longest any session lasts (IAM's `MaxSessionDuration` ceiling), seconds.
pub const MAX_SESSION_DURATION: i64 = 43200;
/// The longest a chained session (a role session calling `AssumeRole`) may last, seconds.
pub const CHAINED_MAX_DURATION: i64 = 3600;
/// The budget `PackedPolicySize` is a percentage of (irsa's approximation, see
/// [`packed_policy_size`]).
pub const PACKED_BUDGET: usize = 2048;

/// How the service is set up.
#[derive(Clone, Debug)]
pub struct StsConfig {
    /// The account (12 digits).
    pub account: String,
    /// `aws` unless told otherwise.
    pub partition: String,
    /// The region the service answers for.
    pub region: String,
    /// The root access key id and secret to use (and store); generated at first start when
    /// `None` and reused afterwards.
    pub root_access_key: Option<(String, String)>,
    /// How issuer keys are fetched (extra CA, allow http for development).
    pub fetch: FetchOptions,
    /// Clock leeway for the web identity token's `exp`, `nbf`, `iat`.
    pub leeway: Duration,
    /// Longest a web identity token may have lived since `iat` (`ExpiredTokenException`
    /// "Token too old"); `None` (the default) does not check.
    pub max_token_age: Option<Duration>,
    /// Whether `AccessDenied` messages carry irsa's explanation after AWS's words (the
    /// default). The explanation tells a caller why, which for a trust policy also tells that
    /// the role exists and what it trusts; turn it off for AWS's bare messages.
    pub explain_denials: bool,
}

impl StsConfig {
    /// Defaults for `account`: partition `aws`, region `us-east-1`, generated root key, https
    /// issuers only, 60 s leeway.
    pub fn new(account: impl Into<String>) -> Self {
        StsConfig {
            account: account.into(),
            partition: "aws".to_owned(),
            region: "us-east-1".to_owned(),
            root_access_key: None,
            fetch: FetchOptions::default(),
            leeway: Duration::from_secs(60),
            max_token_age: None,
            explain_denials: true,
        }
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    /// A setting is not valid.
    #[error("invalid STS configuration: {0}")]
    Config(String),
    /// The store failed or holds something unreadable.
    #[error("STS store: {0}")]
    Store(String),
}

/// The record of the root access key under `iam/access-keys/<AKIA…>`.
#[derive(Serialize, Deserialize)]
struct RootKeyRecord {
    kind: String,
    access_key_id: String,
    secret_access_key: String,
    account: String,
    created: i64,
}

const ROOT_KIND: &str = "root";

/// The system random generator, remembering whether it ever failed.
struct SysRandom {
    failed: bool,
}

impl Random for SysRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        use aws_lc_rs::rand::SecureRandom as _;
        if aws_lc_rs::rand::SystemRandom::new().fill(buf).is_err() {
            self.failed = true;
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

struct IssuerVerifier {
    audiences: Vec<String>,
    verifier: Arc<Verifier>,
}

/// The STS service. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Sts<S: Store> {
    store: S,
    account: String,
    account_number: u64,
    partition: String,
    region: String,
    ring: std::sync::RwLock<Arc<KeyRing>>,
    root_key_id: String,
    root_secret: String,
    fetch: FetchOptions,
    validation: ValidationOptions,
    /// One verifier (with its JWKS cache) per registered issuer, rebuilt when the provider's
    /// client ids change.
    verifiers: Mutex<HashMap<String, IssuerVerifier>>,
    explain_denials: bool,
}

impl<S: Store> std::fmt::Debug for Sts<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sts")
            .field("account", &self.account)
            .field("partition", &self.partition)
            .field("region", &self.region)
            .field("ring", &self.current_ring())
            .field("root_key_id", &self.root_key_id)
            .finish_non_exhaustive()
    }
}

fn store_err(e: impl std::fmt::Display) -> StsError {
    StsError::Store(e.to_string())
}

async fn load_ring<S: Store>(store: &S, now: i64) -> Result<KeyRing, StsError> {
    for _ in 0..3 {
        if let Some(e) = store.get(SESSION_KEY_RING).await.map_err(store_err)? {
            let keys: Vec<RingKey> = serde_json::from_slice(&e.value)
                .map_err(|_| StsError::Store(format!("`{SESSION_KEY_RING}` is unreadable")))?;
            return KeyRing::new(&keys).map_err(store_err);
        }
        let key = RingKey::generate(1, now).map_err(store_err)?;
        let json = serde_json::to_vec(&vec![key]).map_err(store_err)?;
        // Another replica may create the ring at the same time: only one write wins, and
        // everyone then reads the winner's ring.
        let _outcome = store
            .txn(
                Txn::new()
                    .when(Compare::absent(SESSION_KEY_RING))
                    .put(SESSION_KEY_RING, json),
            )
            .await
            .map_err(store_err)?;
    }
    Err(StsError::Store("the session key ring could not be created".to_owned()))
}

fn valid_key_id(id: &str) -> bool {
    id.starts_with("AKIA") && (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn stored_root_keys<S: Store>(store: &S) -> Result<Vec<(String, RootKeyRecord)>, StsError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(ACCESS_KEYS, after.as_deref(), 1000)
            .await
            .map_err(store_err)?;
        for (k, e) in &page.entries {
            if let Ok(r) = serde_json::from_slice::<RootKeyRecord>(&e.value)
                && r.kind == ROOT_KIND
            {
                out.push((k.clone(), r));
            }
        }
        if !page.more {
            break;
        }
        after = page.last_key().map(str::to_owned);
    }
    Ok(out)
}

async fn load_root_key<S: Store>(
    store: &S,
    account: &str,
    configured: Option<&(String, String)>,
    now: i64,
) -> Result<(String, String), StsError> {
    let account_number: u64 = account.parse().map_err(|_| StsError::Config("bad account".into()))?;
    for _ in 0..3 {
        let existing = stored_root_keys(store).await?;
        if let Some((id, secret)) = configured {
            if existing
                .iter()
                .any(|(_, r)| &r.access_key_id == id && &r.secret_access_key == secret)
                && existing.len() == 1
            {
                return Ok((id.clone(), secret.clone()));
            }
            // The configured key replaces whatever root key was stored.
            let record = RootKeyRecord {
                kind: ROOT_KIND.to_owned(),
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                account: account.to_owned(),
                created: now,
            };
            let mut txn = Txn::new();
            for (k, _) in &existing {
                txn = txn.delete(k.clone());
            }
            txn = txn.put(
                format!("{ACCESS_KEYS}{id}"),
                serde_json::to_vec(&record).map_err(store_err)?,
            );
            let _outcome = store.txn(txn).await.map_err(store_err)?;
            return Ok((id.clone(), secret.clone()));
        }
        if let Some((_, r)) = existing.into_iter().min_by_key(|(_, r)| r.created) {
            return Ok((r.access_key_id, r.secret_access_key));
        }
        let mut rng = SysRandom { failed: false };
        let id = access_key_id(KeyKind::LongTerm, account_number, &mut rng);
        let secret = secret_access_key(&mut rng);
        if rng.failed {
            return Err(StsError::Store("the system random generator failed".into()));
        }
        let key = format!("{ACCESS_KEYS}{id}");
        let record = RootKeyRecord {
            kind: ROOT_KIND.to_owned(),
            access_key_id: id,
            secret_access_key: secret,
            account: account.to_owned(),
            created: now,
        };
        // Lost a race with another replica: the next round reads its key.
        let _outcome = store
            .txn(
                Txn::new()
                    .when(Compare::absent(key.clone()))
                    .put(key, serde_json::to_vec(&record).map_err(store_err)?),
            )
            .await
            .map_err(store_err)?;
    }
    Err(StsError::Store("the root access key could not be created".to_owned()))
}

/// irsa's documented approximation of `PackedPolicySize`: the size of the session policy as
/// IAM counts it (whitespace outside strings not counted), plus the policy ARNs and session
/// tag keys and values, as a percentage (rounded up) of [`PACKED_BUDGET`] characters. AWS packs
/// with compression, so its figure differs; the limit (over 100 fails) is the same.
pub fn packed_policy_size(policy: Option<&str>, policy_arns: &[String], tags: &[Tag]) -> usize {
    let chars = policy.map_or(0, irsa_policy::policy_size)
        + policy_arns.iter().map(String::len).sum::<usize>()
        + tags.iter().map(|t| t.key.len() + t.value.len()).sum::<usize>();
    (chars * 100).div_ceil(PACKED_BUDGET)
}

/// Parameters common to both assume calls, as the validator left them.
struct RawAssume<'a> {
    role_arn: Option<&'a str>,
    session: Option<&'a str>,
    duration: Option<i64>,
    policy: Option<&'a str>,
    policy_arns: Vec<String>,
}

/// Parameters common to both assume calls, validated.
struct AssumeParams<'a> {
    role_arn: &'a str,
    session_name: &'a str,
    duration: Option<i64>,
    policy: Option<&'a str>,
    policy_arns: Vec<String>,
}

fn validate_assume_params<'a>(params: &'a QueryParams, v: &mut Validator<'a>) -> Result<RawAssume<'a>, AwsError> {
    let role_arn = v.string("RoleArn", true, 20, 2048, Some(TEXT_PATTERN));
    let session = v.string("RoleSessionName", true, 2, 64, Some(NAME_PATTERN));
    let duration = v.int("DurationSeconds", false, 900, 43200);
    let policy = v.string("Policy", false, 1, 2048, Some(POLICY_PATTERN));
    let arns = params.list("PolicyArns", Some("arn"))?;
    for a in &arns {
        let n = a.chars().count();
        if !(20..=2048).contains(&n) || !(TEXT_PATTERN.check)(a) {
            v.failure(
                Some(a),
                "PolicyArns.member.arn",
                "Member must have length between 20 and 2048",
            );
        }
    }
    if arns.len() > 10 {
        v.failure(
            Some(&arns.join(",")),
            "PolicyArns",
            "Member must have length less than or equal to 10",
        );
    }
    Ok(RawAssume {
        role_arn,
        session,
        duration,
        policy,
        policy_arns: arns.into_iter().map(str::to_owned).collect(),
    })
}

fn role_arn_shape(arn: &str) -> Result<(), AwsError> {
    if parse_role_arn(arn).is_none() {
        return Err(AwsError::new(ErrorCode::ValidationError, format!("{arn} is invalid")));
    }
    Ok(())
}

fn parse_stored_policy(label: &str, doc: &str) -> Result<Policy, String> {
    Policy::parse(doc).map_err(|e| format!("{label} is not a readable policy ({e})"))
}

/// What validation messages show instead of a sensitive value.
const REDACTED: &str = "*** Sensitive Data Redacted ***";

const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

impl<S: Store> Sts<S> {
    /// Opens the service over `store`: loads the session key ring (creating it in a
    /// transaction at first start) and the root access key (the configured one, else the
    /// stored one, else a new one).
    ///
    /// # Errors
    /// A bad account, partition or root key; a store failure or unreadable stored state.
    pub async fn open(store: S, config: StsConfig) -> Result<Self, StsError> {
        if !irsa_iam::names::is_account(&config.account) {
            return Err(StsError::Config(format!(
                "the account must be 12 digits, not `{}`",
                config.account
            )));
        }
        if config.partition.is_empty() || !config.partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return Err(StsError::Config(format!("`{}` is not a partition", config.partition)));
        }
        if let Some((id, secret)) = &config.root_access_key {
            if !valid_key_id(id) {
                return Err(StsError::Config(
                    "the root access key id must be AKIA followed by 12 to 124 letters or digits".into(),
                ));
            }
            if secret.len() < 16 || secret.chars().any(char::is_whitespace) {
                return Err(StsError::Config(
                    "the root secret access key must be at least 16 characters without spaces".into(),
                ));
            }
        }
        let account_number: u64 = config
            .account
            .parse()
            .map_err(|_| StsError::Config("bad account".into()))?;
        let now = unix_now();
        let ring = load_ring(&store, now).await?;
        let (root_key_id, root_secret) =
            load_root_key(&store, &config.account, config.root_access_key.as_ref(), now).await?;
        let validation = ValidationOptions {
            leeway: config.leeway,
            max_age: config.max_token_age,
            ..ValidationOptions::default()
        };
        Ok(Sts {
            store,
            account: config.account,
            account_number,
            partition: config.partition,
            region: config.region,
            ring: std::sync::RwLock::new(Arc::new(ring)),
            root_key_id,
            root_secret,
            fetch: config.fetch,
            validation,
            verifiers: Mutex::new(HashMap::new()),
            explain_denials: config.explain_denials,
        })
    }

    fn wi_denied(&self, action: &str, reason: &str) -> AwsError {
        web_identity_denied(action, self.explain_denials.then_some(reason))
    }

    fn caller_denied(&self, caller_arn: &str, action: &str, resource: &str, reason: &str) -> AwsError {
        caller_denied(caller_arn, action, resource, self.explain_denials.then_some(reason))
    }

    fn current_ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the session key ring from the store (after another replica rotated it).
    ///
    /// # Errors
    /// A store failure or an unreadable ring.
    pub async fn reload_key_ring(&self) -> Result<(), StsError> {
        let ring = load_ring(&self.store, unix_now()).await?;
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        Ok(())
    }

    /// Rotates the session key ring: a new key (the next id) seals from now on; older keys keep
    /// opening the tokens they sealed, and are dropped once every token they can have sealed
    /// has expired (their successor is older than the longest session, 12 hours). The change
    /// is one compare-and-set transaction, so concurrent rotations cannot lose a key; other
    /// replicas pick it up with [`Sts::reload_key_ring`]. Returns the new sealing key's id.
    ///
    /// # Errors
    /// A store failure, an unreadable ring, or a concurrent change (retry).
    pub async fn rotate_session_key(&self, now: i64) -> Result<u32, StsError> {
        let entry = self
            .store
            .get(SESSION_KEY_RING)
            .await
            .map_err(store_err)?
            .ok_or_else(|| StsError::Store(format!("`{SESSION_KEY_RING}` is missing")))?;
        let mut keys: Vec<RingKey> = serde_json::from_slice(&entry.value)
            .map_err(|_| StsError::Store(format!("`{SESSION_KEY_RING}` is unreadable")))?;
        keys.sort_by_key(|k| k.id);
        let next_id = keys.last().map_or(1, |k| k.id.saturating_add(1));
        keys.push(RingKey::generate(next_id, now).map_err(store_err)?);
        // A key stopped sealing when its successor was created; the tokens it sealed last
        // expire at most MAX_DURATION (+ a margin for clock skew) later.
        let horizon = now - MAX_SESSION_DURATION - 3600;
        let successors: Vec<i64> = keys.iter().skip(1).map(|k| k.created).collect();
        let mut kept = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let retired_at = successors.get(i).copied();
            if retired_at.is_none_or(|t| t >= horizon) {
                kept.push(k.clone());
            }
        }
        let ring = KeyRing::new(&kept).map_err(store_err)?;
        let outcome = self
            .store
            .txn(
                Txn::new()
                    .when(Compare::revision(SESSION_KEY_RING, entry.revision))
                    .put(SESSION_KEY_RING, serde_json::to_vec(&kept).map_err(store_err)?),
            )
            .await
            .map_err(store_err)?;
        if !outcome.is_committed() {
            return Err(StsError::Store(
                "the session key ring changed concurrently; reload and retry".to_owned(),
            ));
        }
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        Ok(next_id)
    }

    /// The root access key id and secret (what the operator is told at first start).
    pub fn root_credentials(&self) -> (String, String) {
        (self.root_key_id.clone(), self.root_secret.clone())
    }

    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The SigV4 secret lookup. `AKIA…`: the root key (no session token allowed). `ASIA…`: the
    /// session token must open with the key ring bound to that key id, belong to this account,
    /// not be expired (`ExpiredToken`) and not predate the role's `sessions_revoked_before`
    /// (`ExpiredToken` too, so SDKs fetch new credentials). Anything else is
    /// `InvalidClientTokenId`. Returns the caller and the secret to verify the signature with.
    /// Map the error with [`crate::errors::sigv4_lookup_error`] for `irsa_sigv4`.
    ///
    /// # Errors
    /// `InvalidClientTokenId`, `ExpiredToken`, or `InternalFailure` when the store fails.
    pub async fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        now: i64,
    ) -> Result<(Caller, String), AwsError> {
        if access_key_id.starts_with("AKIA") {
            if session_token.is_some() || access_key_id != self.root_key_id {
                return Err(invalid_client_token_id());
            }
            return Ok((
                Caller::Root {
                    account: self.account.clone(),
                    access_key_id: access_key_id.to_owned(),
                },
                self.root_secret.clone(),
            ));
        }
        if !access_key_id.starts_with("ASIA") {
            return Err(invalid_client_token_id());
        }
        let Some(token) = session_token else {
            return Err(invalid_client_token_id());
        };
        let claims: SessionClaims = match self.current_ring().open(access_key_id, token) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "session token refused");
                return Err(invalid_client_token_id());
            }
        };
        if claims.account != self.account || claims.partition != self.partition {
            return Err(invalid_client_token_id());
        }
        if now >= claims.expires {
            return Err(expired_token());
        }
        let role = layout::get_role_by_arn(&self.store, &self.account, &claims.role_arn)
            .await
            .map_err(|e| internal_failure().with_cause(e.cause.unwrap_or(e.message)))?;
        if let Some(role) = role {
            if role.id != claims.role_id {
                // The role was deleted and re-created: its old sessions are not its new ones'.
                return Err(invalid_client_token_id());
            }
            if role.sessions_revoked_before.is_some_and(|t| claims.issued < t) {
                return Err(expired_token());
            }
        }
        let secret = claims.secret_access_key.clone();
        Ok((Caller::Session(Box::new(claims)), secret))
    }

    /// A signed request authenticated end to end: the SigV4 authorization is parsed (scope,
    /// clock skew), the credentials resolved with [`Sts::resolve`] (the session token taken
    /// from `X-Amz-Security-Token`), and the signature verified with the secret found. Every
    /// failure is the AWS error to return (`MissingAuthenticationToken`, `IncompleteSignature`,
    /// `SignatureDoesNotMatch`, `RequestExpired`, `InvalidClientTokenId`, `ExpiredToken`).
    ///
    /// # Errors
    /// As above.
    pub async fn authenticate(
        &self,
        verifier: &irsa_sigv4::Verifier,
        req: &irsa_sigv4::Request<'_>,
        now: SystemTime,
    ) -> Result<(Caller, irsa_sigv4::Verified), AwsError> {
        let auth = verifier.parse(req, now).map_err(|e| sigv4_error(&e))?;
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let (caller, secret) = self.resolve(auth.access_key_id(), auth.session_token(), secs).await?;
        let verified = auth.verify(secret).map_err(|e| sigv4_error(&e))?;
        Ok((caller, verified))
    }

    /// Runs an STS action and returns the inner XML of `<{Action}Result>` (wrap it with
    /// `irsa_aws_query::response_xml`). `AssumeRoleWithWebIdentity` is unsigned (`caller` is
    /// ignored); `AssumeRole` and `GetCallerIdentity` need a caller and authorize themselves
    /// (the server need not call [`Sts::authorize`] for them).
    ///
    /// # Errors
    /// The AWS error to return.
    pub async fn handle(
        &self,
        action: &str,
        params: &QueryParams,
        caller: Option<&Caller>,
        ctx: &RequestInfo,
        now: i64,
    ) -> Result<String, AwsError> {
        match action {
            "AssumeRoleWithWebIdentity" => self.assume_role_with_web_identity(params, ctx, now).await,
            "AssumeRole" => {
                let caller = caller.ok_or_else(missing_auth)?;
                self.assume_role(params, caller, ctx, now).await
            }
            "GetCallerIdentity" => {
                let caller = caller.ok_or_else(missing_auth)?;
                let mut w = XmlWriter::new();
                w.element("UserId", &caller.user_id())
                    .element("Account", caller.account())
                    .element("Arn", &caller.arn(&self.partition));
                Ok(w.finish())
            }
            other => Err(AwsError::new(
                ErrorCode::InvalidAction,
                format!("Could not find operation {other} for version 2011-06-15"),
            )),
        }
    }

    async fn verifier_for(&self, provider: &OidcProvider, issuer: &str) -> Result<Arc<Verifier>, AwsError> {
        let mut audiences = provider.client_ids.clone();
        audiences.sort();
        let mut map = self.verifiers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = map.get(issuer)
            && v.audiences == audiences
        {
            return Ok(Arc::clone(&v.verifier));
        }
        let verifier = Verifier::new(VerifierConfig {
            issuers: vec![TrustedIssuer::new(issuer, audiences.iter().cloned())],
            validation: self.validation.clone(),
            cache: CachePolicy::default(),
            fetch: self.fetch.clone(),
        })
        .map_err(|e| invalid_identity_token(format!("{} (irsa: {e})", no_provider_message(issuer))))?;
        let verifier = Arc::new(verifier);
        map.insert(
            issuer.to_owned(),
            IssuerVerifier {
                audiences,
                verifier: Arc::clone(&verifier),
            },
        );
        Ok(verifier)
    }

    async fn load_session_policies(
        &self,
        policy: Option<&str>,
        policy_arns: &[String],
    ) -> Result<Vec<(String, Policy)>, AwsError> {
        let mut out = Vec::new();
        if let Some(text) = policy {
            let report = irsa_policy::validate(text, PolicyKind::Session, &Limits::default());
            match report.policy {
                Some(p) if report.valid => out.push(("inline session policy".to_owned(), p)),
                _ => {
                    let detail = report
                        .errors
                        .first()
                        .map_or_else(|| "invalid policy".to_owned(), ToString::to_string);
                    return Err(AwsError::new(
                        ErrorCode::MalformedPolicyDocument,
                        format!("The session policy is not valid: {detail}"),
                    ));
                }
            }
        }
        for arn in policy_arns {
            let p = layout::get_policy_by_arn(&self.store, &self.account, arn).await?;
            let doc = p.as_ref().and_then(|p| p.default_document()).ok_or_else(|| {
                AwsError::new(
                    ErrorCode::InvalidParameterValue,
                    format!("Policy {arn} does not exist or is not attachable."),
                )
            })?;
            let parsed = Policy::parse(doc).map_err(|e| {
                AwsError::new(
                    ErrorCode::MalformedPolicyDocument,
                    format!("The managed session policy {arn} is not valid: {e}"),
                )
            })?;
            out.push((format!("managed session policy {arn}"), parsed));
        }
        Ok(out)
    }

    fn mint(&self, mut claims: SessionClaims) -> Result<(String, String, String, SessionClaims), AwsError> {
        let mut rng = SysRandom { failed: false };
        let akid = access_key_id(KeyKind::Temporary, self.account_number, &mut rng);
        let secret = secret_access_key(&mut rng);
        if rng.failed {
            return Err(internal_failure().with_cause("the system random generator failed"));
        }
        claims.secret_access_key = secret.clone();
        let token = self
            .current_ring()
            .seal(&akid, &claims)
            .map_err(|e| internal_failure().with_cause(format!("cannot seal a session token: {e}")))?;
        if token.len() > crate::token::MAX_TOKEN_LEN {
            // Cannot happen within the packed-size limit; refuse rather than mint credentials
            // that would never open.
            return Err(AwsError::new(
                ErrorCode::PackedPolicyTooLarge,
                "Packed policy consumes more than 100% of allotted space",
            ));
        }
        Ok((akid, secret, token, claims))
    }

    fn write_credentials(w: &mut XmlWriter, akid: &str, secret: &str, token: &str, expires: i64) {
        w.start("Credentials")
            .element("AccessKeyId", akid)
            .element("SecretAccessKey", secret)
            .element("SessionToken", token)
            .element("Expiration", &iso8601(expires))
            .end();
    }

    async fn assume_role_with_web_identity(
        &self,
        params: &QueryParams,
        info: &RequestInfo,
        now: i64,
    ) -> Result<String, AwsError> {
        const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
        // 1. Parameters.
        let mut v = Validator::new(params);
        let RawAssume {
            role_arn,
            session,
            duration,
            policy,
            policy_arns,
        } = validate_assume_params(params, &mut v)?;
        // The token is sensitive: its length is checked here so that no part of it is echoed.
        let token = match params.get("WebIdentityToken") {
            None => {
                v.failure(None, "WebIdentityToken", "Member must not be null");
                None
            }
            Some(t) => {
                let n = t.chars().count();
                if n < 4 {
                    v.failure(
                        Some(REDACTED),
                        "WebIdentityToken",
                        "Member must have length greater than or equal to 4",
                    );
                    None
                } else if n > 20000 {
                    v.failure(
                        Some(REDACTED),
                        "WebIdentityToken",
                        "Member must have length less than or equal to 20000",
                    );
                    None
                } else {
                    Some(t)
                }
            }
        };
        let provider_id = v.string("ProviderId", false, 4, 2048, None);
        v.finish()?;
        let (Some(role_arn), Some(session_name), Some(token)) = (role_arn, session, token) else {
            return Err(AwsError::new(ErrorCode::ValidationError, "missing parameters"));
        };
        role_arn_shape(role_arn)?;
        if provider_id.is_some() {
            return Err(AwsError::new(
                ErrorCode::InvalidParameterValue,
                "ProviderId is not supported: irsa accepts OpenID Connect ID tokens only; leave ProviderId out",
            ));
        }
        let p = AssumeParams {
            role_arn,
            session_name,
            duration,
            policy,
            policy_arns,
        };
        // 2. Decode.
        let decoded =
            irsa_oidc::token::decode(token, self.validation.max_token_len).map_err(|e| web_identity_error(&e))?;
        let iss = decoded.claims.iss.clone();
        drop(decoded);
        // 3. The issuer must be a provider registered in the role's account.
        let secure = iss.starts_with("https://") || (self.fetch.allow_http && iss.starts_with("http://"));
        let role_account = parse_role_arn(p.role_arn).map(|(a, _, _)| a);
        let provider = if secure && role_account.as_deref() == Some(self.account.as_str()) {
            // Providers are keyed by their URL without the scheme; an `http://` issuer (allowed
            // for development only) must have been registered with that scheme.
            let prefix = crate::context::issuer_prefix(&iss);
            layout::get_oidc_provider(&self.store, prefix)
                .await?
                .filter(|p| p.url == iss || (iss.starts_with("https://") && p.url == prefix))
        } else {
            None
        };
        let Some(provider) = provider else {
            return Err(invalid_identity_token(no_provider_message(&iss)));
        };
        // 4-7. Audience, keys, signature, times: the verifier of this issuer.
        let verifier = self.verifier_for(&provider, &iss).await?;
        let verified = verifier
            .verify_at(token, now)
            .await
            .map_err(|e| web_identity_error(&e))?;
        let session_data = token_session_data(&verified.claims).map_err(invalid_identity_token)?;
        // 8. The role and its trust policy.
        let role = layout::get_role_by_arn(&self.store, &self.account, p.role_arn).await?;
        let Some(role) = role else {
            return Err(self.wi_denied(
                ACTION,
                "no role with this ARN exists in the account, or its trust policy does not allow the caller",
            ));
        };
        let trust = Policy::parse(&role.assume_role_policy)
            .map_err(|e| self.wi_denied(ACTION, &format!("the role's trust policy is not readable ({e})")))?;
        let set = PolicySet::new().with(
            PolicyRole::Resource,
            format!("trust policy of role {}", role.name),
            &trust,
        );
        let wreq = WebIdentityRequest {
            claims: &verified.claims,
            audience: &verified.audience,
            provider_arn: &provider.arn,
            session_name: p.session_name,
            session: &session_data,
        };
        let ctx = web_identity_context(&wreq, info, now);
        let principal = RequestPrincipal::parse(&provider.arn);
        let mut actions = vec![ACTION];
        if session_data.has_tags_claim {
            actions.push("sts:TagSession");
        }
        if session_data.source_identity.is_some() {
            actions.push("sts:SetSourceIdentity");
        }
        for action in actions {
            let req = Request::new(action)
                .with_resource(role.arn.clone())
                .with_principal(principal.clone())
                .with_context(ctx.clone());
            let exp = set.explain(&req);
            if exp.decision != Decision::Allow {
                return Err(self.wi_denied(action, &exp.brief()));
            }
        }
        // 9. Duration.
        let duration = self.duration(&role, p.duration, false)?;
        // 10. Session policies and the packed size.
        self.load_session_policies(p.policy, &p.policy_arns).await?;
        let packed = self.packed(p.policy, &p.policy_arns, &session_data.tags)?;
        // 11. Credentials.
        let claims = SessionClaims {
            role_arn: role.arn.clone(),
            role_id: role.id.clone(),
            role_name: role.name.clone(),
            session_name: p.session_name.to_owned(),
            account: self.account.clone(),
            partition: self.partition.clone(),
            issued: now,
            expires: now.saturating_add(duration),
            secret_access_key: String::new(),
            provider: Some(provider.arn.clone()),
            issuer: Some(iss.clone()),
            subject: verified.claims.sub.clone(),
            audience: Some(verified.audience.clone()),
            amr: amr_values(&verified.claims),
            session_policy: p.policy.map(str::to_owned),
            policy_arns: p.policy_arns.clone(),
            tags: session_data.tags.clone(),
            transitive_tag_keys: session_data.transitive_tag_keys.clone(),
            source_identity: session_data.source_identity.clone(),
            chained: false,
        };
        let (akid, secret, token, claims) = self.mint(claims)?;
        let mut w = XmlWriter::new();
        Self::write_credentials(&mut w, &akid, &secret, &token, claims.expires);
        w.opt("SubjectFromWebIdentityToken", claims.subject.as_deref());
        w.start("AssumedRoleUser")
            .element("AssumedRoleId", &claims.user_id())
            .element("Arn", &claims.assumed_role_arn())
            .end();
        if let Some(n) = packed {
            w.element("PackedPolicySize", &n.to_string());
        }
        w.element("Provider", &iss).element("Audience", &verified.audience);
        w.opt("SourceIdentity", claims.source_identity.as_deref());
        Ok(w.finish())
    }

    fn duration(&self, role: &Role, requested: Option<i64>, chained: bool) -> Result<i64, AwsError> {
        let d = requested.unwrap_or(DEFAULT_DURATION);
        if chained && d > CHAINED_MAX_DURATION {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        if d > role.max_session_duration {
            return Err(AwsError::new(
                ErrorCode::ValidationError,
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        Ok(d)
    }

    fn packed(&self, policy: Option<&str>, arns: &[String], tags: &[Tag]) -> Result<Option<usize>, AwsError> {
        if policy.is_none() && arns.is_empty() && tags.is_empty() {
            return Ok(None);
        }
        let n = packed_policy_size(policy, arns, tags);
        if n > 100 {
            return Err(AwsError::new(
                ErrorCode::PackedPolicyTooLarge,
                format!("Packed policy consumes {n}% of allotted space, please use smaller policy for your request."),
            ));
        }
        Ok(Some(n))
    }

    /// The policies that bear on a session's own requests: its role's identity policies and
    /// boundary, and its session policies. `Err` carries the reason to deny with.
    async fn session_policy_set(&self, s: &SessionClaims) -> Result<(PolicySet, Role), String> {
        let role = layout::get_role_by_arn(&self.store, &self.account, &s.role_arn)
            .await
            .map_err(|e| e.message)?
            .filter(|r| r.id == s.role_id)
            .ok_or_else(|| format!("the session's role {} no longer exists", s.role_arn))?;
        let mut set = PolicySet::new();
        for (label, doc) in layout::role_identity_policies(&self.store, &self.account, &role)
            .await
            .map_err(|e| e.message)?
        {
            set.add(PolicyRole::Identity, label.clone(), &parse_stored_policy(&label, &doc)?);
        }
        if let Some((label, doc)) = layout::role_boundary(&self.store, &self.account, &role)
            .await
            .map_err(|e| e.message)?
        {
            set.add(PolicyRole::Boundary, label.clone(), &parse_stored_policy(&label, &doc)?);
        } else if role.permissions_boundary.is_some() {
            return Err("the role's permissions boundary policy no longer exists".to_owned());
        }
        if let Some(text) = &s.session_policy {
            set.add(
                PolicyRole::Session,
                "inline session policy",
                &parse_stored_policy("the inline session policy", text)?,
            );
        }
        for arn in &s.policy_arns {
            let doc = layout::get_policy_by_arn(&self.store, &self.account, arn)
                .await
                .map_err(|e| e.message)?
                .and_then(|p| p.default_document().map(str::to_owned))
                .ok_or_else(|| format!("the managed session policy {arn} no longer exists"))?;
            let label = format!("managed session policy {arn}");
            set.add(PolicyRole::Session, label.clone(), &parse_stored_policy(&label, &doc)?);
        }
        Ok((set, role))
    }

    /// Authorizes a signed call. Root may do everything. A session is decided by the policy
    /// engine over its role's identity policies, boundary and session policies;
    /// `sts:GetCallerIdentity` is always allowed. A denial is `AccessDenied` with AWS's message
    /// followed by irsa's explanation.
    ///
    /// # Errors
    /// `AccessDenied`.
    pub async fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        ctx: &RequestInfo,
        now: i64,
    ) -> Result<(), AwsError> {
        let Caller::Session(s) = caller else {
            return Ok(());
        };
        if action.eq_ignore_ascii_case("sts:GetCallerIdentity") {
            return Ok(());
        }
        let arn = s.assumed_role_arn();
        let (set, role) = self
            .session_policy_set(s)
            .await
            .map_err(|reason| self.caller_denied(&arn, action, resource, &reason))?;
        let context = session_context(s, &role.tags, ctx, now);
        let req = Request::new(action)
            .with_resource(resource)
            .with_principal(RequestPrincipal::parse(&arn))
            .with_context(context);
        let exp = set.explain(&req);
        if exp.decision == Decision::Allow {
            Ok(())
        } else {
            Err(self.caller_denied(&arn, action, resource, &exp.brief()))
        }
    }

    async fn assume_role(
        &self,
        params: &QueryParams,
        caller: &Caller,
        info: &RequestInfo,
        now: i64,
    ) -> Result<String, AwsError> {
        const ACTION: &str = "sts:AssumeRole";
        let mut v = Validator::new(params);
        let RawAssume {
            role_arn,
            session,
            duration,
            policy,
            policy_arns,
        } = validate_assume_params(params, &mut v)?;
        let source_identity = v.string("SourceIdentity", false, 2, 64, Some(NAME_PATTERN));
        let external_id = v.string("ExternalId", false, 2, 1224, None);
        let tag_pairs = params.pairs("Tags", "Key", "Value")?;
        let transitive = params.list("TransitiveTagKeys", None)?;
        v.finish()?;
        let (Some(role_arn), Some(session_name)) = (role_arn, session) else {
            return Err(AwsError::new(ErrorCode::ValidationError, "missing parameters"));
        };
        role_arn_shape(role_arn)?;
        let requested_tags: Vec<Tag> = tag_pairs
            .iter()
            .map(|(k, v)| Tag {
                key: (*k).to_owned(),
                value: (*v).to_owned(),
            })
            .collect();
        let requested_transitive: Vec<String> = transitive.iter().map(|s| (*s).to_owned()).collect();
        check_tags(&requested_tags, &requested_transitive)
            .map_err(|m| AwsError::new(ErrorCode::InvalidParameterValue, m))?;
        // What a chained session inherits.
        let (chained, mut tags, mut transitive_keys, inherited_source) = match caller {
            Caller::Root { .. } => (false, Vec::new(), Vec::new(), None),
            Caller::Session(s) => {
                let inherited: Vec<Tag> = s
                    .tags
                    .iter()
                    .filter(|t| s.transitive_tag_keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)))
                    .cloned()
                    .collect();
                (
                    true,
                    inherited,
                    s.transitive_tag_keys.clone(),
                    s.source_identity.clone(),
                )
            }
        };
        for t in &requested_tags {
            if transitive_keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)) {
                return Err(AwsError::new(
                    ErrorCode::InvalidParameterValue,
                    "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session.",
                ));
            }
        }
        tags.extend(requested_tags.iter().cloned());
        transitive_keys.extend(requested_transitive.iter().cloned());
        let source_identity = match (inherited_source, source_identity) {
            (Some(old), Some(new)) if old != new => {
                return Err(AwsError::new(
                    ErrorCode::InvalidParameterValue,
                    "the source identity of a session cannot be changed by role chaining",
                ));
            }
            (Some(old), _) => Some(old),
            (None, new) => new.map(str::to_owned),
        };
        let caller_arn = caller.arn(&self.partition);
        let denied = |reason: &str| self.caller_denied(&caller_arn, ACTION, role_arn, reason);
        let role = layout::get_role_by_arn(&self.store, &self.account, role_arn)
            .await?
            .ok_or_else(|| {
                denied("no role with this ARN exists in the account, or its trust policy does not allow the caller")
            })?;
        let trust = Policy::parse(&role.assume_role_policy)
            .map_err(|e| denied(&format!("the role's trust policy is not readable ({e})")))?;
        // The caller's own policies, then the role's trust policy.
        let (mut set, mut ctx) = match caller {
            Caller::Root { .. } => {
                let all = Policy::parse(ALLOW_ALL).map_err(|_| internal_failure())?;
                let mut ctx = Context::new();
                ctx.insert("aws:PrincipalArn", caller_arn.clone());
                ctx.insert("aws:PrincipalType", "Account");
                ctx.insert("aws:PrincipalAccount", self.account.clone());
                ctx.insert("aws:userid", self.account.clone());
                add_global_keys(&mut ctx, info, now);
                (
                    PolicySet::new().with(PolicyRole::Identity, "the account root", &all),
                    ctx,
                )
            }
            Caller::Session(s) => {
                let (set, caller_role) = self.session_policy_set(s).await.map_err(|r| denied(&r))?;
                (set, session_context(s, &caller_role.tags, info, now))
            }
        };
        set.add(
            PolicyRole::Resource,
            format!("trust policy of role {}", role.name),
            &trust,
        );
        ctx.insert("sts:RoleSessionName", session_name);
        if let Some(e) = external_id {
            ctx.insert("sts:ExternalId", e);
        }
        add_request_tags(&mut ctx, &requested_tags, &requested_transitive);
        if let Some(si) = &source_identity {
            ctx.insert("sts:SourceIdentity", si.clone());
        }
        let principal = RequestPrincipal::parse(&caller_arn);
        let mut actions = vec![ACTION];
        if !requested_tags.is_empty() {
            actions.push("sts:TagSession");
        }
        let sets_source_identity = match caller {
            Caller::Session(s) => s.source_identity.is_none(),
            Caller::Root { .. } => true,
        };
        if source_identity.is_some() && sets_source_identity {
            actions.push("sts:SetSourceIdentity");
        }
        let trust_only = PolicySet::new().with(
            PolicyRole::Resource,
            format!("trust policy of role {}", role.name),
            &trust,
        );
        for action in actions {
            let req = Request::new(action)
                .with_resource(role.arn.clone())
                .with_principal(principal.clone())
                .with_context(ctx.clone());
            let exp = set.explain(&req);
            if exp.decision != Decision::Allow {
                return Err(self.caller_denied(&caller_arn, action, &role.arn, &exp.brief()));
            }
            // A role's trust policy must itself allow the caller: the caller's own policies
            // never stand in for it.
            let trust_exp = trust_only.explain(&req);
            if !trust_allows(&trust_exp) {
                let reason = format!(
                    "the trust policy of role {} does not allow {caller_arn}: {}",
                    role.name,
                    trust_exp.brief()
                );
                return Err(self.caller_denied(&caller_arn, action, &role.arn, &reason));
            }
        }
        let duration = self.duration(&role, duration, chained)?;
        self.load_session_policies(policy, &policy_arns).await?;
        let packed = self.packed(policy, &policy_arns, &requested_tags)?;
        let (provider, issuer, subject, audience, amr) = match caller {
            Caller::Session(s) => (
                s.provider.clone(),
                s.issuer.clone(),
                s.subject.clone(),
                s.audience.clone(),
                s.amr.clone(),
            ),
            Caller::Root { .. } => (None, None, None, None, Vec::new()),
        };
        let claims = SessionClaims {
            role_arn: role.arn.clone(),
            role_id: role.id.clone(),
            role_name: role.name.clone(),
            session_name: session_name.to_owned(),
            account: self.account.clone(),
            partition: self.partition.clone(),
            issued: now,
            expires: now.saturating_add(duration),
            secret_access_key: String::new(),
            provider,
            issuer,
            subject,
            audience,
            amr,
            session_policy: policy.map(str::to_owned),
            policy_arns,
            tags,
            transitive_tag_keys: transitive_keys,
            source_identity,
            chained,
        };
        let (akid, secret, token, claims) = self.mint(claims)?;
        let mut w = XmlWriter::new();
        Self::write_credentials(&mut w, &akid, &secret, &token, claims.expires);
        w.start("AssumedRoleUser")
            .element("AssumedRoleId", &claims.user_id())
            .element(
                "Arn",
                &assumed_role_arn(&self.partition, &self.account, &role.name, session_name),
            )
            .end();
        if let Some(n) = packed {
            w.element("PackedPolicySize", &n.to_string());
        }
        w.opt("SourceIdentity", claims.source_identity.as_deref());
        Ok(w.finish())
    }
}

/// A SigV4 failure as the AWS error of the same code and message.
pub fn sigv4_error(e: &irsa_sigv4::Error) -> AwsError {
    let code = ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.code() == e.aws_code())
        .unwrap_or(ErrorCode::IncompleteSignature);
    AwsError::new(code, e.message())
}

/// Whether an Allow statement of the (trust) policy applied to the request.
fn trust_allows(exp: &irsa_policy::Explanation) -> bool {
    exp.policies.iter().any(|p| {
        p.statements
            .iter()
            .any(|s| s.effect == irsa_policy::Effect::Allow && s.outcome == irsa_policy::StatementOutcome::Matched)
    })
}

fn missing_auth() -> AwsError {
    AwsError::new(
        ErrorCode::MissingAuthenticationToken,
        "Request is missing Authentication Token",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_size_is_a_rounded_up_percentage() {
        assert_eq!(packed_policy_size(None, &[], &[]), 0);
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:{}","Resource":"*"}}]}}"#,
            "x".repeat(1900)
        );
        let n = packed_policy_size(Some(&policy), &[], &[]);
        assert!(n > 90 && n <= 100, "{n}");
        let tags: Vec<Tag> = (0..50)
            .map(|i| Tag {
                key: format!("key-{i:03}"),
                value: "v".repeat(40),
            })
            .collect();
        assert!(packed_policy_size(Some(&policy), &[], &tags) > 100);
    }

    #[test]
    fn role_arns_are_checked_for_shape() {
        assert!(role_arn_shape("arn:aws:iam::111122223333:role/path/x").is_ok());
        assert_eq!(
            role_arn_shape("arn::b:::something/test-role").unwrap_err().message,
            "arn::b:::something/test-role is invalid"
        );
    }
}
