//! The etcd backend on a three-member cluster under steady load while members fail: a follower
//! killed and restarted, then the leader killed. Each test starts its own cluster (Debian's
//! etcd-server, installed by `scripts/test`) on free loopback ports; without the `etcd` binary
//! they fail, on purpose. The figures (errors, latency, acknowledged writes lost) are printed;
//! run with `--nocapture` to see them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use irsa_store::{Compare, Error, EtcdConfig, EtcdStore, Store, Txn, TxnOutcome, WatchEvent};
use irsa_testkit::EtcdCluster;

/// Concurrent writers creating keys, writers updating their own counter (compare-and-swap on
/// the revision), and readers of acknowledged keys; each alternates between the two stores.
const CREATORS: usize = 4;
const UPDATERS: usize = 2;
const READERS: usize = 2;

/// One request's result, when it started (since the load began) and how long it took.
struct Sample {
    at: Duration,
    took: Duration,
    error: Option<String>,
}

/// What the load saw: every request, and every write acknowledged (key and value).
#[derive(Default)]
struct Seen {
    samples: Vec<Sample>,
    created: Vec<(String, String)>,
    counters: BTreeMap<String, u64>,
    /// Acknowledged keys a read did not find, or found with another value.
    lost: Vec<String>,
}

struct Load {
    started: Instant,
    stop: AtomicBool,
    seen: Mutex<Seen>,
    stores: [EtcdStore; 2],
}

impl Load {
    fn record<T>(&self, start: Instant, result: &Result<T, Error>) {
        let sample = Sample {
            at: start - self.started,
            took: start.elapsed(),
            error: result.as_ref().err().map(|e| {
                // Every failure must be a clean, transient one (a 500 to an AWS client, retried).
                assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
                e.to_string()
            }),
        };
        self.seen.lock().unwrap().samples.push(sample);
    }

    async fn creator(self: Arc<Self>, id: usize) {
        let mut n = 0_u64;
        while !self.stop.load(Ordering::Relaxed) {
            let (key, value) = (format!("created/{id}/{n:06}"), format!("value {id} {n}"));
            let store = &self.stores[(id + n as usize) % 2];
            let start = Instant::now();
            let result = store
                .txn(Txn::new().when(Compare::absent(&key)).put(&key, value.as_bytes()))
                .await;
            self.record(start, &result);
            if let Ok(outcome) = result {
                assert!(matches!(outcome, TxnOutcome::Committed { .. }), "{key}: {outcome:?}");
                self.seen.lock().unwrap().created.push((key, value));
            }
            n += 1;
        }
    }

    async fn updater(self: Arc<Self>, id: usize) {
        let key = format!("counter/{id}");
        let mut n = 0_usize;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let store = &self.stores[(id + n) % 2];
            let start = Instant::now();
            let current = store.get(&key).await;
            self.record(start, &current);
            let Ok(current) = current else { continue };
            let (value, compare) = match current {
                Some(entry) => (
                    String::from_utf8(entry.value).unwrap().parse::<u64>().unwrap(),
                    Compare::revision(&key, entry.revision),
                ),
                None => (0, Compare::absent(&key)),
            };
            {
                // What was acknowledged must never be lost: the counter never goes back.
                let seen = self.seen.lock().unwrap();
                let acked = seen.counters.get(&key).copied().unwrap_or(0);
                assert!(value >= acked, "{key} went back from {acked} to {value}");
            }
            let start = Instant::now();
            let result = store
                .txn(Txn::new().when(compare).put(&key, (value + 1).to_string()))
                .await;
            self.record(start, &result);
            match result {
                Ok(TxnOutcome::Committed { .. }) => {
                    self.seen.lock().unwrap().counters.insert(key.clone(), value + 1);
                }
                // Only this task writes the key: a conflict would be a replay reported wrongly.
                Ok(outcome) => panic!("{key}: {outcome:?}"),
                Err(_) => {}
            }
        }
    }

    async fn reader(self: Arc<Self>, id: usize) {
        let mut n = 0_usize;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let picked = {
                let seen = self.seen.lock().unwrap();
                let len = seen.created.len();
                (len > 0).then(|| seen.created[(n * 7919) % len].clone())
            };
            let Some((key, value)) = picked else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let start = Instant::now();
            let result = self.stores[(id + n) % 2].get(&key).await;
            self.record(start, &result);
            if let Ok(entry) = result
                && entry.is_none_or(|e| e.value != value.as_bytes())
            {
                self.seen.lock().unwrap().lost.push(key);
            }
        }
    }
}

/// The requests that ended in `[from, to)` (a request in flight when a member died counts
/// with what came after): how many, how many failed, the slowest.
fn figures(seen: &Seen, from: Duration, to: Duration) -> (usize, usize, Duration) {
    let window = seen.samples.iter().filter(|s| (from..to).contains(&(s.at + s.took)));
    let (mut count, mut errors, mut slowest) = (0, 0, Duration::ZERO);
    for sample in window {
        count += 1;
        errors += usize::from(sample.error.is_some());
        slowest = slowest.max(sample.took);
    }
    (count, errors, slowest)
}

/// The slowest request of the steady state before `until`, for the added latency.
fn steady_slowest(seen: &Seen, until: Duration) -> Duration {
    figures(seen, Duration::ZERO, until).2
}

/// Every key under `prefix` and its value, a page at a time.
async fn all(store: &EtcdStore, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list(prefix, after.as_deref(), 1000).await.unwrap();
        after = page.entries.last().map(|(k, _)| k.clone());
        out.extend(page.entries.into_iter().map(|(k, e)| (k, e.value)));
        if !page.more {
            return out;
        }
    }
}

async fn cluster() -> EtcdCluster {
    tokio::task::spawn_blocking(|| EtcdCluster::start(3)).await.unwrap()
}

/// A store on the cluster's endpoints, in the given order.
async fn store(cluster: &EtcdCluster, order: [usize; 3]) -> EtcdStore {
    let endpoints = order.map(|i| cluster.url(i));
    EtcdStore::connect(EtcdConfig::new(endpoints).with_namespace("ha/"))
        .await
        .unwrap()
}

/// Runs `f` on the cluster off the async workers (the testkit blocks) and returns it.
async fn blocking<T: Send + 'static>(
    cluster: EtcdCluster,
    f: impl FnOnce(&mut EtcdCluster) -> T + Send + 'static,
) -> (EtcdCluster, T) {
    tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        let out = f(&mut cluster);
        (cluster, out)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_failing_under_load_lose_nothing_acknowledged() {
    let cluster = cluster().await;
    // Two stores (two irsa replicas), listing the members in different orders.
    let stores = [store(&cluster, [0, 1, 2]).await, store(&cluster, [2, 1, 0]).await];
    // A watch of everything, from before the load: it must see every acknowledged write once,
    // in order, across the leader's death.
    let mut watch = stores[0].watch("").await.unwrap();
    let load = Arc::new(Load {
        started: Instant::now(),
        stop: AtomicBool::new(false),
        seen: Mutex::new(Seen::default()),
        stores: stores.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..CREATORS {
        tasks.spawn(Arc::clone(&load).creator(id));
    }
    for id in 0..UPDATERS {
        tasks.spawn(Arc::clone(&load).updater(id));
    }
    for id in 0..READERS {
        tasks.spawn(Arc::clone(&load).reader(id));
    }
    let since = |load: &Load| load.started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A follower dies for 4 s, and comes back.
    let leader = cluster.leader().expect("a leader");
    let follower = (leader + 1) % 3;
    let (cluster, ()) = blocking(cluster, move |c| c.kill(follower)).await;
    let follower_down = since(&load);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarting = since(&load);
    let (cluster, ()) = blocking(cluster, move |c| c.restart(follower)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The leader dies, and a new one is elected. The requests started from just before the kill
    // count as the leader's.
    let leader = cluster.leader().expect("a leader");
    let leader_killed = since(&load);
    let (cluster, ()) = blocking(cluster, move |c| c.kill(leader)).await;
    let (cluster, (_, elected)) = blocking(cluster, move |c| {
        (c.wait_leader(Duration::from_secs(10)), Instant::now())
    })
    .await;
    let election = elected - (load.started + leader_killed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cluster, ()) = blocking(cluster, move |c| c.restart(leader)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.stop.store(true, Ordering::Relaxed);
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let end = since(&load);

    let seen = std::mem::take(&mut *load.seen.lock().unwrap());
    let steady = steady_slowest(&seen, follower_down);
    let (f_count, f_errors, f_slowest) = figures(&seen, follower_down, restarting);
    let (r_count, r_errors, r_slowest) = figures(&seen, restarting, leader_killed);
    let (l_count, l_errors, l_slowest) = figures(&seen, leader_killed, Duration::MAX);
    let late_errors: Vec<_> = seen
        .samples
        .iter()
        .filter(|s| s.error.is_some() && s.at >= leader_killed + Duration::from_secs(4))
        .map(|s| (s.at, s.error.clone()))
        .collect();
    let any_error = seen.samples.iter().find_map(|s| s.error.clone());

    // Everything acknowledged is readable through each store, with the value written.
    let mut lost = seen.lost.clone();
    for store in &stores {
        let stored = all(store, "created/").await;
        for (key, value) in &seen.created {
            if stored.get(key).is_none_or(|v| v != value.as_bytes()) {
                lost.push(key.clone());
            }
        }
        for (key, acked) in &seen.counters {
            let entry = store.get(key).await.unwrap().unwrap();
            let value: u64 = String::from_utf8(entry.value).unwrap().parse().unwrap();
            if value < *acked {
                lost.push(format!("{key} at {value} < {acked}"));
            }
        }
    }
    // The watch saw every acknowledged creation, each once, revisions in order.
    let created: BTreeMap<_, _> = seen
        .created
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    let mut watched = BTreeMap::new();
    let mut last_revision = 0;
    // Until every acknowledged creation was seen (the watch sees unacknowledged ones too: those
    // whose outcome was unknown to the writer and that committed).
    while created.keys().any(|k| !watched.contains_key(k)) {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch to keep up")
            .expect("the watch to go on")
            .expect("no watch error");
        assert!(event.revision() > last_revision, "{event:?} after {last_revision}");
        last_revision = event.revision();
        if let WatchEvent::Put { key, entry } = event
            && key.starts_with("created/")
        {
            assert!(watched.insert(key, entry.value).is_none(), "an event seen twice");
        }
    }
    let missing = created.keys().filter(|k| !watched.contains_key(*k)).count();

    println!(
        "etcd cluster under load ({} requests in {end:?}; {} creates and {} counter updates \
         acknowledged):\n  steady state: slowest request {steady:?}\n  one follower down: \
         {f_errors} errors of {f_count} requests, slowest {f_slowest:?}\n  the follower \
         rejoining: {r_errors} errors of {r_count} requests, slowest {r_slowest:?}\n  leader killed \
         (new leader after {election:?}): {l_errors} errors of {l_count} requests, slowest \
         {l_slowest:?}\n  acknowledged writes lost: {}; watch: {} creations seen, {missing} \
         missed\n  first error: {any_error:?}",
        seen.samples.len(),
        seen.created.len(),
        seen.counters.values().sum::<u64>(),
        lost.len(),
        watched.len(),
    );
    if std::env::var_os("IRSA_TEST_DEBUG").is_some() {
        for s in seen.samples.iter().filter(|s| s.error.is_some()) {
            eprintln!("{:?} +{:?}: {:?}", s.at, s.took, s.error);
        }
        eprintln!(
            "follower {follower} down at {follower_down:?}, restarting at {restarting:?}, leader {leader} killed at {leader_killed:?}"
        );
        for i in 0..3 {
            eprintln!("--- member {i} ({})\n{}", cluster.url(i), cluster.log_tail(i));
        }
    }
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert_eq!(missing, 0, "the watch missed creations");
    assert_eq!(f_errors + r_errors, 0, "errors with a follower down or rejoining");
    assert!(f_slowest < Duration::from_secs(2), "{f_slowest:?} with a follower down");
    assert!(
        late_errors.is_empty(),
        "errors after the election window: {late_errors:?}"
    );
    assert!(
        l_slowest < Duration::from_secs(4),
        "{l_slowest:?} after the leader died"
    );
    drop(cluster);
}
