//! `irsa-store` is the storage layer under irsa's STS + IAM service: a narrow, domain-agnostic,
//! transactional key-value [`Store`] with two backends. [`RedbStore`] is the default: an embedded
//! [redb](https://www.redb.org) database, one file in the server's data directory, where every
//! acknowledged write survives `kill -9` and a second start serves the same state.
//! [`EtcdStore`] is for when one machine is not enough: the same trait over an etcd cluster, so
//! several STS + IAM replicas share state and see each other's changes through [`Store::watch`].
//! The IAM layer above keeps JSON-serialised roles, policies, OIDC providers, access keys and
//! signing-key rings under key prefixes (`roles/<name>`, `idx/role-id/<AROA...>`); this crate knows
//! nothing of them.
//!
//! # The model
//!
//! etcd's, reduced: keys are UTF-8 strings ordered bytewise; every value carries the store
//! *revision* of the transaction that last wrote it ([`Entry::revision`]); the store revision
//! grows by one with each transaction that changes something. Reads are [`Store::get`] and
//! [`Store::list`] (a prefix in key order from a marker, `limit` at a time, for IAM's
//! `Marker`/`MaxItems` paging). The only write is [`Store::txn`]: compares (key absent, key
//! exists, key at revision R) then puts and deletes, applied atomically iff every compare holds;
//! a compare that fails is the outcome [`TxnOutcome::Conflict`], not an error.
//! [`Store::watch`] streams the changes under a prefix for cache invalidation across replicas.
//! Neither backend has TTLs: expiring data (STS sessions) carries its own expiry.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), irsa_store::Error> {
//! use irsa_store::{Compare, RedbStore, Store, Txn, TxnOutcome};
//!
//! # let tmp = tempfile::tempdir().unwrap();
//! # let data_dir = tmp.path();
//! let store = RedbStore::open(data_dir).await?;
//! let create = |json: &str| {
//!     Txn::new()
//!         .when(Compare::absent("roles/r"))
//!         .put("roles/r", json)
//!         .put("idx/role-id/AROAEXAMPLE", "r")
//! };
//! let created = store.txn(create(r#"{"RoleName":"r"}"#)).await?;
//! assert!(created.is_committed());
//! // The name is taken: IAM's EntityAlreadyExists.
//! let again = store.txn(create(r#"{"RoleName":"r"}"#)).await?;
//! assert!(matches!(again, TxnOutcome::Conflict { .. }));
//!
//! // Optimistic concurrency: update only what was read.
//! let role = store.get("roles/r").await?.expect("created above");
//! let updated = Txn::new().when(Compare::revision("roles/r", role.revision)).put("roles/r", "{}");
//! assert!(store.txn(updated).await?.is_committed());
//!
//! // MaxItems / Marker / IsTruncated.
//! let page = store.list("roles/", None, 100).await?;
//! assert_eq!(page.entries.len(), 1);
//! assert!(!page.more);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees and limits
//!
//! - **Durability.** `Committed` means fsynced (redb, `Durability::Immediate`) or committed by an
//!   etcd quorum. The redb file is verified on open (redb's integrity check, which reads the
//!   whole file once): a damaged file is [`Error::Corrupt`], never a panic or silently wrong
//!   data; a file another process holds is [`Error::Locked`].
//! - **Isolation.** Transactions are serializable; each `get` and each `list` page reads one
//!   consistent snapshot (successive pages may see later writes, as IAM's do).
//! - **Throughput.** redb writes are serialized with one fsync each (0.2 to 3 ms on the shared
//!   development VM's disk, so hundreds to thousands of transactions a second); reads run in
//!   parallel.
//! - **Limits.** etcd refuses more than 128 writes in one transaction and requests over
//!   1.5 MiB (its defaults); keep transactions IAM-sized (an entity and its index entries).
//!
//! # Benchmarks
//!
//! `cargo bench -p irsa-store` (divan, release, 2-core VM shared with other builds; median, a
//! store of 10,000 roles of 1 KiB; every figure includes the `spawn_blocking` hand-off):
//!
//! | operation | in memory | on disk |
//! |---|---|---|
//! | `get` | 10 µs | 8 µs |
//! | `list`, a page of 100 | 25 µs | 24 µs |
//! | `txn` that conflicts (no commit) | 11 µs | 12 µs |
//! | `txn` creating a role and its index entry (durable commit) | 42 µs | 0.23 to 3 ms (fsync) |
//! | `RedbStore::open` with the integrity check | | 40 ms |
//!
//! # Why `async fn` in the trait, not `async-trait` or `dyn`
//!
//! [`Store`]'s methods return `impl Future + Send` (return-position `impl Trait` in traits): no
//! boxing per call, no macro, and the futures are `Send` so a generic service can hold them across
//! `tokio::spawn`. Such a trait is not object-safe; irsa does not need it to be, because the set
//! of backends is closed and chosen once at startup: code above is generic over `S: Store`, and
//! [`AnyStore`] (an enum of both backends that implements [`Store`]) is the one concrete type a
//! binary picks from its configuration.
//!
//! # Blocking work
//!
//! redb is synchronous and a commit waits for `fsync`, so [`RedbStore`] runs every call on
//! tokio's blocking pool (`spawn_blocking`), reads too (a read can fault pages in from disk). The
//! cost is a thread hand-off per call, a few microseconds (see the crate's benchmark), small next
//! to an HTTP request. Its methods need a tokio runtime.
//!
//! # TLS to etcd
//!
//! [`EtcdTls`]: a CA to verify etcd and optionally a client certificate, through rustls with
//! aws-lc-rs (tonic's `tls-aws-lc` feature; `tls-ring` would pull `ring`, which irsa keeps out of
//! the tree: `cargo tree -p irsa-store -e normal -i ring` prints nothing).
//!
//! # The etcd client is irsa's own
//!
//! [`EtcdStore`] talks to etcd through a thin gRPC client in this crate: the etcd v3 messages it
//! needs, written with prost's derive from etcd's API definition, sent with tonic. The
//! `etcd-client` crate generates them in a build script that needs `protoc`; without it, irsa
//! builds with nothing but cargo.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod embedded;
mod error;
mod etcd;
mod txn;
mod watch;

use std::future::Future;

pub use embedded::RedbStore;
pub use error::Error;
pub use etcd::{EtcdConfig, EtcdStore, EtcdTls};
pub use txn::{Compare, Op, Txn, TxnOutcome};
pub use watch::{Watch, WatchEvent};

/// A stored value and the store revision of the transaction that last wrote it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Entry {
    /// The value, as written.
    pub value: Vec<u8>,
    /// The store revision of the transaction that last put this key (etcd's `mod_revision`);
    /// at least 1.
    pub revision: u64,
}

/// One page of a [`Store::list`].
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Page {
    /// Keys and entries, in key order.
    pub entries: Vec<(String, Entry)>,
    /// Whether more keys follow under the prefix: list again with `start_after` set to the last
    /// key of this page (IAM's `IsTruncated` and `Marker`).
    pub more: bool,
}

impl Page {
    /// The last key of the page, to pass as the next `start_after` (IAM's `Marker`).
    pub fn last_key(&self) -> Option<&str> {
        self.entries.last().map(|(k, _)| k.as_str())
    }
}

/// A transactional key-value store with revisions; see the [crate docs](crate).
///
/// Every backend passes the same conformance suite (`tests/conformance`).
pub trait Store: Send + Sync + 'static {
    /// The value and revision of `key`, or `None` if it does not exist.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Entry>, Error>> + Send;

    /// Up to `limit` keys starting with `prefix` (`""` for all), in key order, strictly after
    /// `start_after` when given. [`Page::more`] tells whether more keys follow. A `limit` of 0
    /// returns no entries (and `more` says whether any exist).
    fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Page, Error>> + Send;

    /// Applies the transaction atomically iff all its compares hold; see [`Txn`].
    ///
    /// Returns `Ok(Committed)` only once the writes are durable for the backend (redb: fsynced;
    /// etcd: committed by a quorum). After an `Err`, the transaction may or may not have been
    /// applied (as after any lost acknowledgement): re-read before retrying.
    fn txn(&self, txn: Txn) -> impl Future<Output = Result<TxnOutcome, Error>> + Send;

    /// The changes to keys starting with `prefix` (`""` for all), from now on; see [`Watch`].
    fn watch(&self, prefix: &str) -> impl Future<Output = Result<Watch, Error>> + Send;

    /// The current store revision: that of the last transaction that changed something, 0 for an
    /// empty, never-written store (etcd starts at 1).
    fn revision(&self) -> impl Future<Output = Result<u64, Error>> + Send;
}

/// Either backend, chosen at runtime; implements [`Store`] by delegation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// The embedded redb backend.
    Redb(RedbStore),
    /// The etcd backend.
    Etcd(EtcdStore),
}

impl From<RedbStore> for AnyStore {
    fn from(store: RedbStore) -> Self {
        AnyStore::Redb(store)
    }
}

impl From<EtcdStore> for AnyStore {
    fn from(store: EtcdStore) -> Self {
        AnyStore::Etcd(store)
    }
}

impl Store for AnyStore {
    async fn get(&self, key: &str) -> Result<Option<Entry>, Error> {
        match self {
            AnyStore::Redb(s) => s.get(key).await,
            AnyStore::Etcd(s) => s.get(key).await,
        }
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Page, Error> {
        match self {
            AnyStore::Redb(s) => s.list(prefix, start_after, limit).await,
            AnyStore::Etcd(s) => s.list(prefix, start_after, limit).await,
        }
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, Error> {
        match self {
            AnyStore::Redb(s) => s.txn(txn).await,
            AnyStore::Etcd(s) => s.txn(txn).await,
        }
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, Error> {
        match self {
            AnyStore::Redb(s) => s.watch(prefix).await,
            AnyStore::Etcd(s) => s.watch(prefix).await,
        }
    }

    async fn revision(&self) -> Result<u64, Error> {
        match self {
            AnyStore::Redb(s) => s.revision().await,
            AnyStore::Etcd(s) => s.revision().await,
        }
    }
}

/// Refuses keys no backend accepts.
pub(crate) fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::InvalidKey {
            key: String::new(),
            reason: "keys must not be empty",
        });
    }
    Ok(())
}
