//! The open connections of a listener, so that a full listener can make room.
//!
//! A cap alone does not protect normal clients: a flood of connections that say nothing takes
//! every slot, and the header timeout frees them only for the flood to take them again. When
//! the listener is full, a new connection therefore evicts the one that has moved no byte for
//! the longest time and has no request in flight, if it has been quiet for at least
//! [`MIN_QUIET`]; only when none qualifies is the new connection refused. A normal client sends
//! its request at once and is answered in milliseconds, so it is never the quietest.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::idle::Activity;

/// How long a connection must have been quiet to be evicted for a new one.
pub(crate) const MIN_QUIET: Duration = Duration::from_millis(200);

/// One open connection.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) activity: Arc<Activity>,
    /// Requests being handled now (HTTP/2 can have several).
    pub(crate) in_flight: AtomicUsize,
    /// Told when the connection is evicted.
    pub(crate) evicted: Notify,
}

/// The connections of one listener.
#[derive(Debug)]
pub(crate) struct Registry {
    max: usize,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Entry>>>,
}

/// Removes its connection from the registry when the connection's task ends.
pub(crate) struct Admitted {
    registry: Arc<Registry>,
    id: u64,
    pub(crate) entry: Arc<Entry>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.registry.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// What [`Registry::admit`] decided.
pub(crate) enum Admission {
    /// Room was free.
    Admitted(Admitted),
    /// Room was made by evicting the quietest idle connection.
    Evicted(Admitted),
    /// Full of busy or just-opened connections: refuse.
    Refused,
}

impl Registry {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Registry {
            max: max.max(1),
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a connection whose bytes `activity` tracks.
    pub(crate) fn admit(self: &Arc<Self>, activity: Arc<Activity>) -> Admission {
        let Ok(mut open) = self.open.lock() else {
            return Admission::Refused;
        };
        let mut evicted = false;
        if open.len() >= self.max {
            let victim = open
                .iter()
                .filter(|(_, e)| e.in_flight.load(Ordering::Relaxed) == 0)
                .map(|(id, e)| (*id, e.activity.idle_for()))
                .filter(|(_, quiet)| *quiet >= MIN_QUIET)
                .max_by_key(|(_, quiet)| *quiet)
                .map(|(id, _)| id);
            let Some(victim) = victim.and_then(|id| open.remove(&id)) else {
                return Admission::Refused;
            };
            // `notify_one` keeps the permit if the connection's task is not waiting yet.
            victim.evicted.notify_one();
            evicted = true;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            activity,
            in_flight: AtomicUsize::new(0),
            evicted: Notify::new(),
        });
        open.insert(id, entry.clone());
        let admitted = Admitted {
            registry: self.clone(),
            id,
            entry,
        };
        if evicted {
            Admission::Evicted(admitted)
        } else {
            Admission::Admitted(admitted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_registry_evicts_the_quietest_idle_connection_only() {
        let registry = Registry::new(2);
        let a = Activity::new();
        let Admission::Admitted(first) = registry.admit(a.clone()) else {
            panic!("room")
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = Activity::new();
        let Admission::Admitted(second) = registry.admit(b.clone()) else {
            panic!("room")
        };
        // Both quiet enough? `b` is brand new: only `a` qualifies.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Admission::Evicted(third) = registry.admit(Activity::new()) else {
            panic!("the quiet one makes room")
        };
        // `first` was told.
        tokio::time::timeout(Duration::from_millis(10), first.entry.evicted.notified())
            .await
            .unwrap_or_else(|_| panic!("the evicted connection is told"));
        // A connection handling a request is never evicted; nor one that just opened.
        second.entry.in_flight.store(1, Ordering::Relaxed);
        assert!(matches!(registry.admit(Activity::new()), Admission::Refused));
        drop(third);
        assert!(matches!(registry.admit(Activity::new()), Admission::Admitted(_)));
    }
}
