//! Two `irsa server` replicas on a three-member etcd cluster, under steady load through the AWS
//! SDK for Rust, while etcd members fail: a follower killed and restarted (no request may fail),
//! then the leader killed (failures only around the election, none slow, nothing acknowledged
//! lost). The test starts its own cluster (Debian's etcd-server, installed by `scripts/test`);
//! without the `etcd` binary it fails, on purpose. Run with `--nocapture` for the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_iam::error::ProvideErrorMetadata as _;
use irsa_server::{EtcdConfig, RunningServer, ServerConfig, StoreChoice, spawn};
use irsa_testkit::EtcdCluster;

const ACCOUNT: &str = "111122223333";
const ROOT: (&str, &str) = ("AKIAIRSACLUSTERTEST0", "irsa-cluster-test-secret-key-00000000000000");
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
const CREATORS: usize = 3;
const READERS: usize = 2;

async fn replica(cluster: &EtcdCluster, order: [usize; 3], dir: &std::path::Path) -> RunningServer {
    let endpoints = order.map(|i| cluster.url(i));
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: StoreChoice::Etcd(EtcdConfig::new(endpoints).with_namespace("cluster/")),
        account: ACCOUNT.into(),
        root_access_key: Some((ROOT.0.into(), ROOT.1.into())),
        ..ServerConfig::new(dir)
    };
    tokio::time::timeout(Duration::from_secs(30), spawn(config))
        .await
        .unwrap()
        .unwrap()
}

/// An IAM client for a replica with the SDK's retries off: every failure is counted.
async fn iam(server: &RunningServer) -> aws_sdk_iam::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            ROOT.0, ROOT.1, None, None, "test",
        ))
        .endpoint_url(server.url())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    aws_sdk_iam::Client::new(&sdk)
}

struct Sample {
    at: Duration,
    took: Duration,
    error: Option<String>,
}

#[derive(Default)]
struct Seen {
    samples: Vec<Sample>,
    created: Vec<String>,
    lost: Vec<String>,
}

struct Load {
    started: Instant,
    stop: AtomicBool,
    seen: Mutex<Seen>,
    clients: [aws_sdk_iam::Client; 2],
}

impl Load {
    fn record<T, E: aws_sdk_iam::error::ProvideErrorMetadata + std::fmt::Debug>(
        &self,
        start: Instant,
        result: &Result<T, aws_sdk_iam::error::SdkError<E>>,
    ) {
        let error = result.as_ref().err().map(|e| {
            // A clean failure: IAM's ServiceFailure (500), never a hang, a reset or garbage.
            assert_eq!(e.code(), Some("ServiceFailure"), "{e:?}");
            format!("{:?}", e.message())
        });
        let sample = Sample {
            at: start - self.started,
            took: start.elapsed(),
            error,
        };
        self.seen.lock().unwrap().samples.push(sample);
    }

    async fn creator(self: Arc<Self>, id: usize) {
        let mut n = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let name = format!("r{id}-{n:05}");
            let start = Instant::now();
            let result = self.clients[(id + n) % 2]
                .create_role()
                .role_name(&name)
                .assume_role_policy_document(TRUST)
                .send()
                .await;
            self.record(start, &result);
            if result.is_ok() {
                self.seen.lock().unwrap().created.push(name);
            }
            n += 1;
        }
    }

    async fn reader(self: Arc<Self>, id: usize) {
        let mut n = 0;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let picked = {
                let seen = self.seen.lock().unwrap();
                let len = seen.created.len();
                (len > 0).then(|| seen.created[(n * 7919) % len].clone())
            };
            let Some(name) = picked else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let start = Instant::now();
            let result = self.clients[(id + n) % 2].get_role().role_name(&name).send().await;
            self.record(start, &result);
            if let Err(e) = &result
                && e.code() == Some("NoSuchEntity")
            {
                self.seen.lock().unwrap().lost.push(name);
            }
        }
    }
}

/// The requests that ended in `[from, to)` (a request in flight when a member died counts
/// with what came after): how many, how many failed, the slowest.
fn figures(seen: &Seen, from: Duration, to: Duration) -> (usize, usize, Duration) {
    let (mut count, mut errors, mut slowest) = (0, 0, Duration::ZERO);
    for sample in seen.samples.iter().filter(|s| (from..to).contains(&(s.at + s.took))) {
        count += 1;
        errors += usize::from(sample.error.is_some());
        slowest = slowest.max(sample.took);
    }
    (count, errors, slowest)
}

/// Runs `f` on the cluster off the async workers (the testkit blocks).
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

async fn names(iam: &aws_sdk_iam::Client) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut marker = None;
    loop {
        let page = iam
            .list_roles()
            .set_marker(marker)
            .max_items(1000)
            .send()
            .await
            .unwrap();
        out.extend(page.roles().iter().map(|r| r.role_name().to_owned()));
        if !page.is_truncated() {
            return out;
        }
        marker = page.marker().map(str::to_owned);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_ride_out_etcd_members_failing() {
    let cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(3)).await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = replica(&cluster, [0, 1, 2], dir_a.path()).await;
    let b = replica(&cluster, [2, 1, 0], dir_b.path()).await;
    let load = Arc::new(Load {
        started: Instant::now(),
        stop: AtomicBool::new(false),
        seen: Mutex::new(Seen::default()),
        clients: [iam(&a).await, iam(&b).await],
    });
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..CREATORS {
        tasks.spawn(Arc::clone(&load).creator(id));
    }
    for id in 0..READERS {
        tasks.spawn(Arc::clone(&load).reader(id));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let leader = cluster.leader().expect("a leader");
    let follower = (leader + 2) % 3;
    let (cluster, ()) = blocking(cluster, move |c| c.kill(follower)).await;
    let follower_down = load.started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cluster, ()) = blocking(cluster, move |c| c.restart(follower)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Requests started from just before the kill count as the leader's.
    let leader = cluster.leader().expect("a leader");
    let leader_killed = load.started.elapsed();
    let (cluster, ()) = blocking(cluster, move |c| c.kill(leader)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (cluster, ()) = blocking(cluster, move |c| c.restart(leader)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.stop.store(true, Ordering::Relaxed);
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let end = load.started.elapsed();

    let seen = std::mem::take(&mut *load.seen.lock().unwrap());
    let steady = figures(&seen, Duration::ZERO, follower_down).2;
    let (f_count, f_errors, f_slowest) = figures(&seen, follower_down, leader_killed);
    let (l_count, l_errors, l_slowest) = figures(&seen, leader_killed, Duration::MAX);
    let late: Vec<_> = seen
        .samples
        .iter()
        .filter(|s| s.error.is_some() && s.at >= leader_killed + Duration::from_secs(4))
        .map(|s| s.at)
        .collect();
    // Both replicas list every role whose creation was acknowledged.
    let mut lost = seen.lost.clone();
    for client in &load.clients {
        let listed = names(client).await;
        lost.extend(seen.created.iter().filter(|n| !listed.contains(*n)).cloned());
    }
    println!(
        "two irsa replicas on a 3-member etcd, AWS SDK load ({} requests in {end:?}, {} roles \
         created):\n  steady state: slowest {steady:?}\n  one follower down: {f_errors} errors \
         of {f_count}, slowest {f_slowest:?}\n  leader killed: {l_errors} errors of {l_count}, \
         slowest {l_slowest:?}\n  acknowledged writes lost: {}\n  first error: {:?}",
        seen.samples.len(),
        seen.created.len(),
        lost.len(),
        seen.samples.iter().find_map(|s| s.error.clone()),
    );
    assert!(lost.is_empty(), "acknowledged roles lost: {lost:?}");
    assert_eq!(f_errors, 0, "requests failed with a follower down");
    assert!(f_slowest < Duration::from_secs(2), "{f_slowest:?} with a follower down");
    assert!(late.is_empty(), "failures after the election window: {late:?}");
    assert!(
        l_slowest < Duration::from_secs(4),
        "{l_slowest:?} after the leader died"
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    drop(cluster);
}
