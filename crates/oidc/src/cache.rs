//! The sans-IO JWKS cache state machine of one issuer, and `Cache-Control` parsing.
//!
//! Time is passed in as [`Instant`]s, so every rule is unit-testable without sleeping:
//!
//! * keys are fresh for the `max-age` the issuer sent, clamped to
//!   [`CachePolicy::min_ttl`]..=[`CachePolicy::max_ttl`] ([`CachePolicy::default_ttl`] without
//!   one, `min_ttl` for `no-cache`/`no-store`);
//! * an unknown `kid` may force a refresh at most once per [`CachePolicy::refresh_interval`];
//! * after a failed fetch nobody retries for [`CachePolicy::failure_backoff`];
//! * when a refresh fails, the previous keys keep being served until
//!   [`CachePolicy::max_stale`] past their freshness, then the failure is reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::FetchError;
use crate::jwk::KeySet;

/// Cache timing rules.
#[derive(Clone, Debug)]
pub struct CachePolicy {
    /// Shortest freshness, whatever the issuer says (default 5 min).
    pub min_ttl: Duration,
    /// Longest freshness, whatever the issuer says (default 24 h).
    pub max_ttl: Duration,
    /// Freshness when the issuer sends no `max-age` (default 1 h).
    pub default_ttl: Duration,
    /// How long past freshness keys are still served while the issuer is unreachable
    /// (default 6 h).
    pub max_stale: Duration,
    /// Minimum time between two fetches triggered by an unknown `kid` (default 10 s).
    pub refresh_interval: Duration,
    /// Minimum time between a failed fetch and the next attempt (default 5 s).
    pub failure_backoff: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(86_400),
            default_ttl: Duration::from_secs(3600),
            max_stale: Duration::from_secs(6 * 3600),
            refresh_interval: Duration::from_secs(10),
            failure_backoff: Duration::from_secs(5),
        }
    }
}

/// The caching-relevant directives of a `Cache-Control` header.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct CacheControl {
    /// `max-age` (or `s-maxage`, which wins) in seconds.
    pub max_age: Option<u64>,
    /// `no-cache` or `no-store` was present.
    pub no_cache: bool,
}

impl CacheControl {
    /// Parse a header value. Unknown directives and malformed values are ignored.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        let mut cc = Self::default();
        let mut s_maxage = None;
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive, None),
            };
            let seconds = arg.and_then(|a| a.parse::<u64>().ok());
            match name.to_ascii_lowercase().as_str() {
                "max-age" => cc.max_age = cc.max_age.or(seconds),
                "s-maxage" => s_maxage = s_maxage.or(seconds),
                "no-cache" | "no-store" => cc.no_cache = true,
                _ => {}
            }
        }
        if s_maxage.is_some() {
            cc.max_age = s_maxage;
        }
        cc
    }
}

impl CachePolicy {
    /// The freshness lifetime for a response with these directives.
    #[must_use]
    pub fn ttl(&self, cc: Option<CacheControl>) -> Duration {
        let ttl = match cc {
            Some(CacheControl { no_cache: true, .. }) => self.min_ttl,
            Some(CacheControl { max_age: Some(s), .. }) => Duration::from_secs(s),
            _ => self.default_ttl,
        };
        ttl.clamp(self.min_ttl, self.max_ttl.max(self.min_ttl))
    }
}

#[derive(Clone, Debug)]
struct Cached {
    keys: Arc<KeySet>,
    fresh_until: Instant,
}

/// What the cache says about a lookup.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// Use these keys (fresh, or stale within bounds while the issuer is failing).
    Keys(Arc<KeySet>),
    /// Fetch now.
    Fetch,
    /// A recent fetch failed and no usable keys exist; report this error.
    Fail(FetchError),
}

/// Cache state of one issuer.
#[derive(Clone, Debug, Default)]
pub struct IssuerCache {
    cached: Option<Cached>,
    last_attempt: Option<Instant>,
    last_failure: Option<(Instant, FetchError)>,
    generation: u64,
}

impl IssuerCache {
    /// Incremented on every recorded fetch result; lets waiters notice that someone else
    /// fetched while they waited (single-flight).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Keys currently cached, fresh or not.
    #[must_use]
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.cached.as_ref().map(|c| Arc::clone(&c.keys))
    }

    fn stale_ok(&self, policy: &CachePolicy, now: Instant) -> Option<Arc<KeySet>> {
        self.cached
            .as_ref()
            .filter(|c| now < c.fresh_until + policy.max_stale)
            .map(|c| Arc::clone(&c.keys))
    }

    /// Decide what to do for a normal lookup at `now`.
    #[must_use]
    pub fn lookup(&self, policy: &CachePolicy, now: Instant) -> Lookup {
        if let Some(c) = self.cached.as_ref().filter(|c| now < c.fresh_until) {
            return Lookup::Keys(Arc::clone(&c.keys));
        }
        if let Some((at, err)) = &self.last_failure
            && now < *at + policy.failure_backoff
        {
            return match self.stale_ok(policy, now) {
                Some(keys) => Lookup::Keys(keys),
                None => Lookup::Fail(FetchError::BackingOff(Box::new(err.clone()))),
            };
        }
        Lookup::Fetch
    }

    /// The last fetch failure, if no fetch has succeeded since.
    #[must_use]
    pub fn failing(&self) -> Option<&FetchError> {
        self.last_failure.as_ref().map(|(_, e)| e)
    }

    /// Whether an unknown `kid` may trigger a fetch at `now`.
    #[must_use]
    pub fn may_force_refresh(&self, policy: &CachePolicy, now: Instant) -> bool {
        let since_attempt = self
            .last_attempt
            .is_none_or(|t| now.saturating_duration_since(t) >= policy.refresh_interval);
        let since_failure = self
            .last_failure
            .as_ref()
            .is_none_or(|(t, _)| now.saturating_duration_since(*t) >= policy.failure_backoff);
        since_attempt && since_failure
    }

    /// Record that a fetch starts at `now`.
    pub fn record_attempt(&mut self, now: Instant) {
        self.last_attempt = Some(now);
    }

    /// Record fetched keys with the response's caching directives.
    pub fn record_success(
        &mut self,
        policy: &CachePolicy,
        now: Instant,
        keys: KeySet,
        cc: Option<CacheControl>,
    ) -> Arc<KeySet> {
        let keys = Arc::new(keys);
        self.cached = Some(Cached {
            keys: Arc::clone(&keys),
            fresh_until: now + policy.ttl(cc),
        });
        self.last_failure = None;
        self.generation += 1;
        keys
    }

    /// Record a failed fetch; returns the stale keys to keep using, if still allowed.
    ///
    /// # Errors
    /// The fetch error when no keys can be served.
    pub fn record_failure(
        &mut self,
        policy: &CachePolicy,
        now: Instant,
        err: FetchError,
    ) -> Result<Arc<KeySet>, FetchError> {
        self.last_failure = Some((now, err.clone()));
        self.generation += 1;
        self.stale_ok(policy, now).ok_or(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CachePolicy {
        CachePolicy {
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(100),
            default_ttl: Duration::from_secs(50),
            max_stale: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(5),
            failure_backoff: Duration::from_secs(2),
        }
    }

    #[test]
    fn cache_control_parsing_and_bounds() {
        let p = policy();
        assert_eq!(CacheControl::parse("public, max-age=3600").max_age, Some(3600));
        assert_eq!(CacheControl::parse("max-age=\"20\"").max_age, Some(20));
        assert_eq!(CacheControl::parse("max-age=20, s-maxage=40").max_age, Some(40));
        assert_eq!(CacheControl::parse("max-age=abc").max_age, None);
        assert!(CacheControl::parse("No-Store").no_cache);
        assert_eq!(
            p.ttl(Some(CacheControl::parse("max-age=3600"))),
            Duration::from_secs(100)
        );
        assert_eq!(p.ttl(Some(CacheControl::parse("max-age=0"))), Duration::from_secs(10));
        assert_eq!(p.ttl(Some(CacheControl::parse("max-age=30"))), Duration::from_secs(30));
        assert_eq!(p.ttl(Some(CacheControl::parse("no-cache"))), Duration::from_secs(10));
        assert_eq!(p.ttl(None), Duration::from_secs(50));
    }

    #[test]
    fn fresh_stale_fail_cycle() {
        let p = policy();
        let t0 = Instant::now();
        let mut c = IssuerCache::default();
        assert!(matches!(c.lookup(&p, t0), Lookup::Fetch));
        c.record_attempt(t0);
        c.record_success(&p, t0, KeySet::default(), Some(CacheControl::parse("max-age=20")));
        assert!(matches!(c.lookup(&p, t0 + Duration::from_secs(19)), Lookup::Keys(_)));
        let t1 = t0 + Duration::from_secs(21);
        assert!(matches!(c.lookup(&p, t1), Lookup::Fetch));
        // issuer down: stale keys served
        let err = FetchError::Timeout { url: "u".into() };
        assert!(c.record_failure(&p, t1, err.clone()).is_ok());
        // within backoff: no new fetch, stale served
        assert!(matches!(c.lookup(&p, t1 + Duration::from_secs(1)), Lookup::Keys(_)));
        // after backoff: fetch again
        assert!(matches!(c.lookup(&p, t1 + Duration::from_secs(3)), Lookup::Fetch));
        // past fresh_until + max_stale: error
        let t2 = t0 + Duration::from_secs(20 + 31);
        assert!(c.record_failure(&p, t2, err).is_err());
        assert!(matches!(c.lookup(&p, t2 + Duration::from_secs(1)), Lookup::Fail(_)));
    }

    #[test]
    fn forced_refresh_is_rate_limited() {
        let p = policy();
        let t0 = Instant::now();
        let mut c = IssuerCache::default();
        assert!(c.may_force_refresh(&p, t0));
        c.record_attempt(t0);
        assert!(!c.may_force_refresh(&p, t0 + Duration::from_secs(4)));
        assert!(c.may_force_refresh(&p, t0 + Duration::from_secs(5)));
    }
}
