//! The one error type of the store.
//!
//! A transaction whose compares do not hold is *not* an error: it is
//! [`TxnOutcome::Conflict`](crate::TxnOutcome::Conflict). Errors are what the caller cannot fix by
//! re-reading: the disk, the database file, the etcd cluster, or a malformed request.

use std::path::PathBuf;

/// An error from a [`Store`](crate::Store) backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory or database file could not be created, opened, read or written.
    #[error("store at {}: {source}", path.display())]
    Io {
        /// The data directory or database file.
        path: PathBuf,
        /// The underlying IO error.
        source: std::io::Error,
    },

    /// Another process (or another handle in this process) has the database open.
    #[error(
        "store at {} is locked: another process has it open (is another irsa server running on the same \
         data directory?)",
        path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },

    /// The database file (or a record in it) is damaged or not an irsa store.
    #[error("store at {} is corrupt or not an irsa store: {detail}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },

    /// The backend cannot be reached (etcd down, no leader, timeout). Retrying may help.
    #[error("store backend unavailable: {0}")]
    Unavailable(String),

    /// Any other backend failure (an unexpected response, a redb internal error, a request that
    /// etcd refused such as one over its size or operation limits).
    #[error("store backend error: {0}")]
    Backend(String),

    /// A key that no backend accepts (empty).
    #[error("invalid store key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A transaction that is malformed regardless of the data (the same key written twice).
    #[error("invalid store transaction: {0}")]
    InvalidTxn(String),

    /// A watch fell behind and events were dropped; the watcher must reload what it caches.
    /// The watch goes on delivering events after this.
    #[error("store watch fell behind and missed {missed} change batches; reload cached state")]
    WatchLagged {
        /// How many change batches (transactions) were missed; 0 when the backend cannot tell.
        missed: u64,
    },
}

impl Error {
    /// Whether retrying the same call later may succeed (the backend was unavailable).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}
