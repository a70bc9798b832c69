//! A throwaway etcd cluster: several members of Debian's `etcd` on free loopback ports, each
//! killable and restartable by index, to test what clients see when members fail.

use crate::{free_port, http_get, tail};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a member (or the cluster) may take to report itself healthy.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

/// An etcd cluster on plain http, every member killed (and the data dirs removed) on drop.
pub struct EtcdCluster {
    members: Vec<Member>,
    binary: String,
    initial_cluster: String,
    token: String,
    _dir: tempfile::TempDir,
}

struct Member {
    name: String,
    client: u16,
    peer: u16,
    metrics: u16,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 20)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the member reports itself healthy (a leader, a quorum read) and its client port
    /// accepts connections; false as soon as it has exited.
    fn healthy(&mut self) -> Result<bool, String> {
        if let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!("{} exited ({status})", self.name));
        }
        let healthy = http_get(self.metrics, "/health")
            .is_ok_and(|(status, body)| status == 200 && body.contains(r#""health":"true""#));
        Ok(healthy && std::net::TcpStream::connect(("127.0.0.1", self.client)).is_ok())
    }
}

impl EtcdCluster {
    /// `size` members on free ports, started together, once every one is healthy (a leader is
    /// elected). A port taken between finding and binding it: the whole cluster is tried again.
    pub fn start(size: usize) -> Self {
        assert!(size > 0, "a cluster needs a member");
        let binary = std::env::var("IRSA_TEST_ETCD").unwrap_or_else(|_| "etcd".to_owned());
        if Command::new(&binary).arg("--version").output().is_err() {
            panic!(
                "these tests need the `{binary}` binary (Debian package etcd-server; \
                 `scripts/test` installs it, or `apt-get install etcd-server`; or set IRSA_TEST_ETCD)"
            );
        }
        let mut last = String::new();
        for attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let members: Vec<Member> = (0..size)
                .map(|i| Member {
                    name: format!("m{i}"),
                    client: free_port(),
                    peer: free_port(),
                    metrics: free_port(),
                    data: dir.path().join(format!("m{i}.data")),
                    log: dir.path().join(format!("m{i}.log")),
                    child: None,
                })
                .collect();
            let initial_cluster = members
                .iter()
                .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
                .collect::<Vec<_>>()
                .join(",");
            let mut cluster = EtcdCluster {
                members,
                binary: binary.clone(),
                initial_cluster,
                token: format!("irsa-test-{}-{attempt}", std::process::id()),
                _dir: dir,
            };
            for i in 0..size {
                cluster.spawn(i, "new");
            }
            match cluster.wait_all_healthy() {
                Ok(()) => return cluster,
                Err(why) => last = why,
            }
        }
        panic!("the etcd cluster did not become healthy: {last}");
    }

    /// How many members the cluster has (running or not).
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Every member's client URL, `http://127.0.0.1:PORT`, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::url).collect()
    }

    /// Member `index`'s client URL.
    pub fn url(&self, index: usize) -> String {
        self.members[index].url()
    }

    /// Kills member `index` now (SIGKILL, as a crash would) and waits for it to exit. Its data
    /// stays, for [`EtcdCluster::restart`].
    pub fn kill(&mut self, index: usize) {
        self.members[index].kill();
    }

    /// Starts member `index` again on its data dir and ports, and waits until it is healthy.
    pub fn restart(&mut self, index: usize) {
        self.members[index].kill();
        // With a data dir, etcd ignores the initial-cluster settings and rejoins as it was.
        self.spawn(index, "existing");
        let deadline = Instant::now() + HEALTHY_WITHIN;
        loop {
            match self.members[index].healthy() {
                Ok(true) => return,
                Ok(false) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Ok(false) => panic!(
                    "etcd member {index} did not become healthy again; last log lines:\n{}",
                    self.members[index].log_tail()
                ),
                Err(why) => panic!(
                    "etcd member {index} did not restart: {why}; last log lines:\n{}",
                    self.members[index].log_tail()
                ),
            }
        }
    }

    /// The index of the member that is leader now, by each running member's `/metrics`
    /// (`etcd_server_is_leader 1`); `None` during an election.
    pub fn leader(&self) -> Option<usize> {
        self.members.iter().position(|m| {
            m.child.is_some()
                && http_get(m.metrics, "/metrics")
                    .is_ok_and(|(status, body)| status == 200 && body.lines().any(|l| l == "etcd_server_is_leader 1"))
        })
    }

    /// Waits for a leader among the running members and returns its index.
    pub fn wait_leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader() {
                return leader;
            }
            assert!(Instant::now() < deadline, "no etcd leader within {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of member `index`'s log, for a failed test's message.
    pub fn log_tail(&self, index: usize) -> String {
        self.members[index].log_tail()
    }

    fn spawn(&mut self, index: usize, state: &str) {
        let member = &mut self.members[index];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)
            .unwrap();
        let (url, peer) = (member.url(), format!("http://127.0.0.1:{}", member.peer));
        let child = Command::new(&self.binary)
            .arg(format!("--name={}", member.name))
            .arg(format!("--data-dir={}", member.data.display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg(format!("--initial-cluster-token={}", self.token))
            .arg(format!("--initial-cluster-state={state}"))
            // Plain-http /health and /metrics, for readiness and for finding the leader.
            .arg(format!("--listen-metrics-urls=http://127.0.0.1:{}", member.metrics))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary));
        member.child = Some(child);
    }

    fn wait_all_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + HEALTHY_WITHIN;
        for i in 0..self.members.len() {
            loop {
                match self.members[i].healthy() {
                    Ok(true) => break,
                    Ok(false) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                    Ok(false) => return Err(format!("member {i} not healthy:\n{}", self.members[i].log_tail())),
                    Err(why) => return Err(format!("{why}:\n{}", self.members[i].log_tail())),
                }
            }
        }
        Ok(())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
    }
}
