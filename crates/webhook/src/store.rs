//! The in-memory identity store shared by the HTTP handlers and the watchers that feed it
//! (a kube-rs reflector on ServiceAccounts, the ConfigMap watch, the Pod Identity file watch).
//!
//! Memory is proportional to *annotated* accounts: accounts carrying a relevant
//! `<prefix>/…` annotation keep their parsed [`ServiceAccountInfo`]; accounts without one are
//! only remembered as a 64-bit hash of `namespace/name` (to tell "exists, no role" from "not yet
//! seen", which decides whether an API look-up is worth it on a miss).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::annotations::ServiceAccountInfo;
use crate::sources::{ConfigMapMapping, ContainerCredentials};

/// Result of a ServiceAccount look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Known, with relevant annotations.
    Annotated(Arc<ServiceAccountInfo>),
    /// Known to exist, without relevant annotations.
    Plain,
    /// Not in the store.
    Unknown,
}

/// Boxed future returned by [`ServiceAccountFetcher::fetch`].
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<ServiceAccountInfo>, String>> + Send + 'a>>;

/// Fetches one ServiceAccount from the API server on a cache miss (the account created just
/// before its pod). `Ok(None)` means "does not exist".
pub trait ServiceAccountFetcher: Send + Sync {
    /// GET the account and parse its annotations.
    fn fetch<'a>(&'a self, namespace: &'a str, name: &'a str) -> FetchFuture<'a>;
}

/// Maximum number of concurrent API look-ups on cache misses.
pub const MAX_CONCURRENT_FETCHES: usize = 20;

/// The store.
pub struct IdentityStore {
    annotated: RwLock<HashMap<String, Arc<ServiceAccountInfo>>>,
    plain: RwLock<HashSet<u64>>,
    hasher: std::collections::hash_map::RandomState,
    config_map: RwLock<Option<Arc<ConfigMapMapping>>>,
    container_credentials: RwLock<Option<Arc<ContainerCredentials>>>,
    synced: AtomicBool,
    fetcher: Option<Arc<dyn ServiceAccountFetcher>>,
    fetch_permits: tokio::sync::Semaphore,
    inflight: std::sync::Mutex<HashMap<String, tokio::sync::watch::Receiver<bool>>>,
}

/// Removes an in-flight marker and wakes the waiters, also when the look-up is cancelled.
struct Inflight<'a> {
    map: &'a std::sync::Mutex<HashMap<String, tokio::sync::watch::Receiver<bool>>>,
    key: String,
    done: tokio::sync::watch::Sender<bool>,
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        lock(self.map).remove(&self.key);
        let _ = self.done.send(true);
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl std::fmt::Debug for IdentityStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityStore")
            .field("annotated", &self.annotated_len())
            .field("plain", &self.plain_len())
            .field("synced", &self.is_synced())
            .finish_non_exhaustive()
    }
}

impl Default for IdentityStore {
    fn default() -> Self {
        Self::new()
    }
}

fn key(namespace: &str, name: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + name.len() + 1);
    k.push_str(namespace);
    k.push('/');
    k.push_str(name);
    k
}

impl IdentityStore {
    /// An empty, not-yet-synced store without API fallback.
    #[must_use]
    pub fn new() -> Self {
        Self {
            annotated: RwLock::default(),
            plain: RwLock::default(),
            hasher: std::collections::hash_map::RandomState::new(),
            config_map: RwLock::default(),
            container_credentials: RwLock::default(),
            synced: AtomicBool::new(false),
            fetcher: None,
            fetch_permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
            inflight: std::sync::Mutex::default(),
        }
    }

    /// Sets the API fallback used on misses.
    #[must_use]
    pub fn with_fetcher(mut self, fetcher: Arc<dyn ServiceAccountFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    fn hash(&self, namespace: &str, name: &str) -> u64 {
        self.hasher.hash_one((namespace, name))
    }

    /// Inserts or replaces an account.
    pub fn upsert(&self, namespace: &str, name: &str, info: ServiceAccountInfo) {
        let h = self.hash(namespace, name);
        if info.is_relevant() {
            write(&self.plain).remove(&h);
            write(&self.annotated).insert(key(namespace, name), Arc::new(info));
        } else {
            write(&self.annotated).remove(&key(namespace, name));
            write(&self.plain).insert(h);
        }
    }

    /// Removes an account.
    pub fn remove(&self, namespace: &str, name: &str) {
        let h = self.hash(namespace, name);
        write(&self.plain).remove(&h);
        write(&self.annotated).remove(&key(namespace, name));
    }

    /// Replaces every account (after a re-list).
    pub fn replace_all<I>(&self, accounts: I)
    where
        I: IntoIterator<Item = (String, String, ServiceAccountInfo)>,
    {
        let mut annotated = HashMap::new();
        let mut plain = HashSet::new();
        for (namespace, name, info) in accounts {
            if info.is_relevant() {
                annotated.insert(key(&namespace, &name), Arc::new(info));
            } else {
                plain.insert(self.hash(&namespace, &name));
            }
        }
        *write(&self.annotated) = annotated;
        *write(&self.plain) = plain;
    }

    /// Looks an account up in memory.
    #[must_use]
    pub fn lookup(&self, namespace: &str, name: &str) -> Lookup {
        if let Some(info) = read(&self.annotated).get(&key(namespace, name)) {
            return Lookup::Annotated(Arc::clone(info));
        }
        if read(&self.plain).contains(&self.hash(namespace, name)) {
            Lookup::Plain
        } else {
            Lookup::Unknown
        }
    }

    /// Looks an account up; on a miss, if a fetcher is set and `grace` > 0, asks the API server
    /// (bounded: at most [`MAX_CONCURRENT_FETCHES`] in flight, each limited to `grace`).
    /// Returns the look-up and whether it ended as a miss.
    pub async fn lookup_with_fallback(&self, namespace: &str, name: &str, grace: Duration) -> Lookup {
        let found = self.lookup(namespace, name);
        if found != Lookup::Unknown || grace.is_zero() {
            return found;
        }
        let Some(fetcher) = &self.fetcher else {
            return found;
        };
        let k = key(namespace, name);
        // Concurrent misses for the same account (a Deployment scaling up right after its
        // ServiceAccount was created) share one API request.
        let (leader, wait) = {
            let mut map = lock(&self.inflight);
            match map.get(&k) {
                Some(rx) => (None, Some(rx.clone())),
                None => {
                    let (tx, rx) = tokio::sync::watch::channel(false);
                    map.insert(k.clone(), rx);
                    (Some(tx), None)
                }
            }
        };
        if let Some(mut rx) = wait {
            let _ = tokio::time::timeout(grace, rx.wait_for(|done| *done)).await;
            return self.lookup(namespace, name);
        }
        let Some(done) = leader else {
            return found;
        };
        let _inflight = Inflight {
            map: &self.inflight,
            key: k,
            done,
        };
        let Ok(_permit) = self.fetch_permits.try_acquire() else {
            tracing::warn!(namespace, name, "service account look-up skipped: too many in flight");
            return found;
        };
        match tokio::time::timeout(grace, fetcher.fetch(namespace, name)).await {
            Ok(Ok(Some(info))) => {
                self.upsert(namespace, name, info);
                self.lookup(namespace, name)
            }
            Ok(Ok(None)) => Lookup::Unknown,
            Ok(Err(error)) => {
                tracing::warn!(namespace, name, %error, "service account look-up failed");
                Lookup::Unknown
            }
            Err(_) => {
                tracing::warn!(namespace, name, ?grace, "service account look-up timed out");
                Lookup::Unknown
            }
        }
    }

    /// A copy of the annotated entries (`namespace/name` → info), sorted by key (debug endpoint).
    #[must_use]
    pub fn annotated_entries(&self) -> Vec<(String, Arc<ServiceAccountInfo>)> {
        let mut v: Vec<_> = read(&self.annotated)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Sets (or clears, with `None`) the ConfigMap mapping.
    pub fn set_config_map(&self, mapping: Option<ConfigMapMapping>) {
        *write(&self.config_map) = mapping.map(Arc::new);
    }

    /// Current ConfigMap mapping.
    #[must_use]
    pub fn config_map(&self) -> Option<Arc<ConfigMapMapping>> {
        read(&self.config_map).clone()
    }

    /// Sets (or clears) the Pod Identity associations.
    pub fn set_container_credentials(&self, creds: Option<ContainerCredentials>) {
        *write(&self.container_credentials) = creds.map(Arc::new);
    }

    /// Current Pod Identity associations.
    #[must_use]
    pub fn container_credentials(&self) -> Option<Arc<ContainerCredentials>> {
        read(&self.container_credentials).clone()
    }

    /// Marks the ServiceAccount cache as synced (readiness).
    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Release);
    }

    /// Whether the ServiceAccount cache has synced.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Number of annotated accounts held.
    #[must_use]
    pub fn annotated_len(&self) -> usize {
        read(&self.annotated).len()
    }

    /// Number of accounts known without relevant annotations.
    #[must_use]
    pub fn plain_len(&self) -> usize {
        read(&self.plain).len()
    }
}

// A poisoned lock only means another thread panicked mid-update of a plain map; the data is
// still structurally valid, so keep serving.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotated(role: &str) -> ServiceAccountInfo {
        ServiceAccountInfo {
            role_arn: Some(role.into()),
            ..ServiceAccountInfo::default()
        }
    }

    #[test]
    fn upsert_lookup_remove() {
        let s = IdentityStore::new();
        assert_eq!(s.lookup("ns", "a"), Lookup::Unknown);
        s.upsert("ns", "a", annotated("r"));
        s.upsert("ns", "b", ServiceAccountInfo::default());
        assert!(matches!(s.lookup("ns", "a"), Lookup::Annotated(_)));
        assert_eq!(s.lookup("ns", "b"), Lookup::Plain);
        // annotation removed ⇒ moves to plain
        s.upsert("ns", "a", ServiceAccountInfo::default());
        assert_eq!(s.lookup("ns", "a"), Lookup::Plain);
        assert_eq!(s.annotated_len(), 0);
        s.remove("ns", "a");
        assert_eq!(s.lookup("ns", "a"), Lookup::Unknown);
        s.replace_all([("x".into(), "y".into(), annotated("r"))]);
        assert_eq!(s.lookup("ns", "b"), Lookup::Unknown);
        assert!(matches!(s.lookup("x", "y"), Lookup::Annotated(_)));
    }

    struct Fake(Option<ServiceAccountInfo>, Duration, std::sync::atomic::AtomicUsize);
    impl Fake {
        fn new(info: Option<ServiceAccountInfo>, delay: Duration) -> Self {
            Self(info, delay, std::sync::atomic::AtomicUsize::new(0))
        }
    }
    impl ServiceAccountFetcher for Fake {
        fn fetch<'a>(&'a self, _: &'a str, _: &'a str) -> FetchFuture<'a> {
            self.2.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(self.1).await;
                Ok(self.0.clone())
            })
        }
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch() {
        let fake = Arc::new(Fake::new(Some(annotated("r")), Duration::from_millis(50)));
        let s = Arc::new(IdentityStore::new().with_fetcher(fake.clone()));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.lookup_with_fallback("ns", "new", Duration::from_secs(2)).await
            }));
        }
        for t in tasks {
            assert!(matches!(t.await.unwrap(), Lookup::Annotated(_)));
        }
        assert_eq!(fake.2.load(Ordering::SeqCst), 1);
        assert!(lock(&s.inflight).is_empty());
    }

    #[tokio::test]
    async fn fallback_on_miss() {
        let s = IdentityStore::new().with_fetcher(Arc::new(Fake::new(Some(annotated("r")), Duration::ZERO)));
        assert_eq!(s.lookup_with_fallback("ns", "a", Duration::ZERO).await, Lookup::Unknown);
        assert!(matches!(
            s.lookup_with_fallback("ns", "a", Duration::from_millis(500)).await,
            Lookup::Annotated(_)
        ));
        // now cached
        assert!(matches!(s.lookup("ns", "a"), Lookup::Annotated(_)));

        let slow = IdentityStore::new().with_fetcher(Arc::new(Fake::new(Some(annotated("r")), Duration::from_secs(5))));
        assert_eq!(
            slow.lookup_with_fallback("ns", "a", Duration::from_millis(20)).await,
            Lookup::Unknown
        );
    }
}
