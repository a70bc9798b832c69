//! Watches: the changes under a prefix, as they commit, for cache invalidation.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Entry, Error};

/// One change seen by a [`Watch`].
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The key was created or replaced.
    Put {
        /// The key.
        key: String,
        /// The new value and its revision.
        entry: Entry,
    },
    /// The key was deleted.
    Delete {
        /// The key.
        key: String,
        /// The store revision of the transaction that deleted it.
        revision: u64,
    },
}

impl WatchEvent {
    /// The key that changed.
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put { key, .. } | WatchEvent::Delete { key, .. } => key,
        }
    }

    /// The store revision of the transaction that made the change.
    pub fn revision(&self) -> u64 {
        match self {
            WatchEvent::Put { entry, .. } => entry.revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// The stream of changes under a prefix, from [`Store::watch`](crate::Store::watch).
///
/// Events come in revision order, the events of one transaction in the order of its writes. A
/// watch sees every change committed after `watch` returned. To keep a cache, start the watch
/// first, then read; drop cached keys as their events arrive (an event's revision tells whether
/// the cached entry is older). [`Error::WatchLagged`] means events were lost (the reader was too
/// slow): reload everything, the watch continues. `None` means the watch ended (the store was
/// dropped or the etcd stream closed): start a new one and reload.
///
/// Dropping the `Watch` stops it.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Result<WatchEvent, Error>>,
    task: JoinHandle<()>,
}

impl Watch {
    pub(crate) fn new(rx: mpsc::Receiver<Result<WatchEvent, Error>>, task: JoinHandle<()>) -> Self {
        Self { rx, task }
    }

    /// The next change, an error, or `None` when the watch has ended.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, Error>> {
        self.rx.recv().await
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The capacity of the channel between a backend's watch task and the [`Watch`].
pub(crate) const WATCH_BUFFER: usize = 1024;
