//! Process-wide counters of the JWKS cache, for the STS's `/metrics`.
//!
//! Counters only grow and are shared by every [`crate::Verifier`] of the
//! process, which is what a metrics endpoint reports; they are relaxed atomics
//! so that counting costs nothing on the verification path.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) static CACHE_HITS: AtomicU64 = AtomicU64::new(0);
pub(crate) static FETCHES: AtomicU64 = AtomicU64::new(0);
pub(crate) static FETCH_FAILURES: AtomicU64 = AtomicU64::new(0);

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JwksStats {
    /// Verifications served from cached keys without a fetch.
    pub cache_hits: u64,
    /// Discovery + JWKS fetches started (first use, expiry, unknown `kid`).
    pub fetches: u64,
    /// Fetches that failed (stale keys may still have been served).
    pub fetch_failures: u64,
}

/// The counters now.
pub fn snapshot() -> JwksStats {
    JwksStats {
        cache_hits: CACHE_HITS.load(Ordering::Relaxed),
        fetches: FETCHES.load(Ordering::Relaxed),
        fetch_failures: FETCH_FAILURES.load(Ordering::Relaxed),
    }
}
