//! irsa's own etcd v3 gRPC client: one tonic channel per member with failover between them, TLS
//! through rustls with aws-lc-rs, and the calls the store makes (KV `Range`, KV `Txn`, `Watch`,
//! and Maintenance `Status` to find the leader).
//!
//! Why not `etcd-client`: its build script generates the API from `.proto` files and needs
//! `protoc`, so a machine with only the Rust toolchain could not build irsa. The messages are in
//! [`super::proto`]; the calls go through `tonic::client::Grpc` with prost's codec, which is all
//! the generated client would do.
//!
//! **Failover.** One channel balanced over every endpoint sent each request to any member, and a
//! request that landed on a dead member failed, for as long as the member was down. Instead each
//! member has its own channel, and every request goes to one preferred member: the leader when it
//! is known (found with `Status` at start and after a failure), since writes and linearizable
//! reads end there anyway, and a follower that goes down then carries no request at all. An
//! attempt that fails in transit, or gets no answer within the attempt timeout (2 s by default,
//! well under the request timeout), marks its member down for a short back-off and moves the
//! preference to the next member; the request then goes to the next member that is not down, as
//! [`super::retry`] allows: reads always, writes only when they cannot apply twice. Attempts go on
//! until the request timeout, pausing between rounds over the members (an election makes every
//! member refuse for a second or two). Every request carries etcd's require-leader metadata, so
//! a member cut off from its leader refuses at once (`etcdserver: no leader`, safe to retry)
//! instead of holding the request until its own 7 s timeout, and a watch on it is cancelled, to be
//! resumed on another member (see the store's watch).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::uri::PathAndQuery;
use tokio::time::Instant;
use tokio_stream::StreamExt as _;
use tonic::client::Grpc;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Streaming};
use tonic_prost::ProstCodec;

use super::config::{EtcdConfig, EtcdTls};
use super::proto::{
    RangeRequest, RangeResponse, StatusRequest, StatusResponse, TxnRequest, TxnResponse, WatchCreateRequest,
    WatchRequest, WatchRequestUnion, WatchResponse,
};
use super::retry::{self, Failure};

/// The gRPC methods, as `/package.Service/Method` (etcd's `etcdserverpb` services).
const KV_RANGE: &str = "/etcdserverpb.KV/Range";
const KV_TXN: &str = "/etcdserverpb.KV/Txn";
const WATCH: &str = "/etcdserverpb.Watch/Watch";
const STATUS: &str = "/etcdserverpb.Maintenance/Status";

/// etcd's require-leader metadata (`rpctypes.MetadataRequireLeaderKey`, `MetadataHasLeader`): a
/// member without a leader refuses the request before running it, and cancels such a watch when
/// it loses its leader.
const REQUIRE_LEADER: (&str, &str) = ("hasleader", "true");

/// HTTP/2 pings every 10 s, also while idle, and a connection whose ping goes unanswered for 5 s
/// is dropped: an open watch on a dead etcd (or a half-open TCP connection) then ends instead of
/// waiting for events that never come.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a member that failed an attempt is passed over (unless every member is).
const DOWN_FOR: Duration = Duration::from_secs(2);
/// The pause before a member is tried again within one request, doubled up to the second.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_millis(400);
/// Between rounds of `Status` while looking for the leader (an election takes a second or two).
const PROBE_PAUSE: Duration = Duration::from_millis(200);

/// Why an etcd call (or setting up the client) failed. The store turns it into its
/// [`Error`](crate::Error), unavailable or not; the source chain is kept for the message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// An endpoint that is not an `http://` or `https://` URL, or whose scheme does not match the
    /// TLS settings.
    #[error("etcd endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An endpoint that does not parse as a URL.
    #[error("etcd endpoint {endpoint:?} is not a URL")]
    Url {
        /// The endpoint as configured.
        endpoint: String,
        /// The parse error.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// TLS material tonic could not turn into a rustls configuration.
    #[error("TLS settings for etcd endpoint {endpoint}")]
    Tls {
        /// The endpoint the settings were for.
        endpoint: String,
        /// tonic's error (a bad certificate or key).
        #[source]
        source: tonic::transport::Error,
    },
    /// The channel cannot take requests any more (its background worker is gone).
    #[error("the connection to etcd is closed")]
    Closed(#[source] tonic::transport::Error),
    /// The call failed: etcd's answer, or the client's own failure to reach it (a status with a
    /// source: connection refused, TLS alert, reset).
    #[error(transparent)]
    Status(#[from] tonic::Status),
    /// One attempt at one member got no answer in time.
    #[error("no answer from {member} within {timeout:?}")]
    AttemptTimeout {
        /// The member's endpoint.
        member: String,
        /// The attempt's time.
        timeout: Duration,
    },
    /// A transaction was sent and then the attempt failed: it may have committed, and sending it
    /// again could apply it twice, so it is not retried (see [`super::retry`]).
    #[error("the transaction's outcome is unknown (it may have committed) after {member} failed")]
    OutcomeUnknown {
        /// The member the transaction was sent to.
        member: String,
        /// How the attempt failed.
        #[source]
        source: Box<ClientError>,
    },
    /// Every attempt within the request timeout failed, or every member refused connections.
    #[error("no etcd member answered ({attempts} attempts in {elapsed:?}; the last at {member})")]
    Exhausted {
        /// The member of the last attempt.
        member: String,
        /// How many attempts were made.
        attempts: u32,
        /// How long the attempts took.
        elapsed: Duration,
        /// How the last attempt failed.
        #[source]
        last: Box<ClientError>,
    },
}

/// What is being sent, for the retry rules.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Changes nothing: retried on any transient failure.
    Read,
    /// A transaction: retried when not applied, or when a replay cannot apply it twice.
    Write { replay_safe: bool },
}

/// The connection to an etcd cluster. Cloning is cheap and shares the connections.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pool: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    members: Vec<Member>,
    /// The member requests go to first: the leader when known, else the last one that worked.
    preferred: AtomicUsize,
    /// Whether a task is looking for the leader.
    probing: AtomicBool,
    attempt_timeout: Duration,
    request_timeout: Duration,
}

#[derive(Debug)]
struct Member {
    url: String,
    channel: Channel,
    /// Until when the member is passed over, after a failed attempt.
    down_until: Mutex<Option<Instant>>,
}

impl Member {
    fn down_until(&self) -> Option<Instant> {
        // A poisoned lock only means another thread panicked while holding a plain value.
        *self
            .down_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_down_until(&self, until: Option<Instant>) {
        *self
            .down_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }
}

impl Client {
    /// A client for the configured endpoints. Connections are made lazily, per endpoint, by the
    /// first requests; this only checks the settings. Needs a Tokio runtime (each channel's
    /// worker is a task).
    pub(crate) fn new(config: &EtcdConfig) -> Result<Self, ClientError> {
        let attempt_timeout = config.attempt_timeout.min(config.request_timeout);
        // A connect that outlasts the attempt would be cut by the attempt timeout, and a
        // transaction cut there counts as maybe sent. Three quarters of the attempt, so a member
        // that does not answer a connect is known not to have had the request.
        let connect_timeout = config.connect_timeout.min(attempt_timeout * 3 / 4);
        let tls = config.tls.as_ref().map(|tls| tls_config(tls, connect_timeout));
        let members = config
            .endpoints
            .iter()
            .map(|url| {
                let endpoint = endpoint(url, tls.as_ref(), connect_timeout)?;
                Ok(Member {
                    url: url.clone(),
                    channel: endpoint.connect_lazy(),
                    down_until: Mutex::new(None),
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        if members.is_empty() {
            return Err(ClientError::Endpoint {
                endpoint: String::new(),
                reason: "no endpoints configured",
            });
        }
        let pool = Pool {
            members,
            preferred: AtomicUsize::new(0),
            probing: AtomicBool::new(false),
            attempt_timeout,
            request_timeout: config.request_timeout,
        };
        Ok(Self { pool: Arc::new(pool) })
    }

    /// Prefers the leader if one of the members names one within an attempt; best effort (the
    /// requests find a working member anyway).
    pub(crate) async fn find_leader(&self) {
        if self.pool.members.len() < 2 {
            return;
        }
        if let Some(leader) = self.pool.leader().await {
            self.pool.preferred.store(leader, Ordering::Relaxed);
        }
    }

    /// `KV.Range`: a get, a page of a list, or a count. Retried on another member on any
    /// transient failure.
    pub(crate) async fn range(&self, request: RangeRequest) -> Result<RangeResponse, ClientError> {
        let (response, _) = self
            .failover(Kind::Read, |channel| unary(channel, KV_RANGE, request.clone(), true))
            .await?;
        Ok(response)
    }

    /// `KV.Txn`: compares, then the success or failure branch, atomically. Retried only when it
    /// cannot apply twice (see [`super::retry`]); otherwise a failure after it was sent is
    /// [`ClientError::OutcomeUnknown`].
    pub(crate) async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, ClientError> {
        let kind = Kind::Write {
            replay_safe: retry::replay_safe(&request),
        };
        let (response, replayed) = self
            .failover(kind, |channel| {
                unary::<_, TxnResponse>(channel, KV_TXN, request.clone(), true)
            })
            .await?;
        // A replay whose compare failed may have failed against the first copy's own commit:
        // whether the transaction committed is unknown. Answered as an error, never as a
        // conflict: a caller that retries a conflict would re-read, find its own write and could
        // answer, say, "already exists" to the request that created it.
        match replayed {
            Some(first) if !response.succeeded => Err(ClientError::OutcomeUnknown {
                member: first.0,
                source: Box::new(first.1),
            }),
            _ => Ok(response),
        }
    }

    /// `Watch.Watch` with one watcher, on the first member that creates it: sends the create
    /// request and waits for etcd's confirmation (returned with the stream of the responses that
    /// follow). Dropping the stream ends the call, and with it etcd's watcher.
    pub(crate) async fn watch(
        &self,
        create: WatchCreateRequest,
    ) -> Result<(WatchResponse, Streaming<WatchResponse>), ClientError> {
        let (created, _) = self
            .failover(Kind::Read, |channel| open_watch(channel, create.clone()))
            .await?;
        Ok(created)
    }

    /// Runs `attempt` on the preferred member, and on the next ones as the retry rules allow,
    /// until it succeeds, fails for good, or the request timeout is up. With the answer, the
    /// first failure that left the outcome unknown, when a replay-safe write was sent again.
    async fn failover<T, F, Fut>(
        &self,
        kind: Kind,
        mut attempt: F,
    ) -> Result<(T, Option<(String, ClientError)>), ClientError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let pool = &self.pool;
        let started = Instant::now();
        let deadline = started + pool.request_timeout;
        let mut tried = vec![false; pool.members.len()];
        // Per member, how many attempts found nothing to connect to.
        let mut unreachable = vec![0_u8; pool.members.len()];
        let mut pause = FIRST_PAUSE;
        let mut attempts = 0;
        let mut replayed = None;
        loop {
            let index = pool.pick();
            let member = &pool.members[index];
            if std::mem::replace(&mut tried[index], true) {
                // Back to a member this request already failed on: give it (and the cluster's
                // election) a moment.
                tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            let budget = pool
                .attempt_timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            attempts += 1;
            let err = match tokio::time::timeout(budget, attempt(member.channel.clone())).await {
                Ok(Ok(answer)) => {
                    member.set_down_until(None);
                    return Ok((answer, replayed));
                }
                Ok(Err(err)) => err,
                Err(_) => ClientError::AttemptTimeout {
                    member: member.url.clone(),
                    timeout: budget,
                },
            };
            let failure = retry::classify(&err);
            if failure == Failure::Final {
                return Err(err);
            }
            pool.failed(index);
            if retry::unreachable(&err) {
                unreachable[index] = unreachable[index].saturating_add(1);
            }
            // Every member refused connections twice: the whole cluster is down (a member
            // restarting or an election answers or refuses differently). Waiting out the request
            // timeout would only hold the caller.
            let cluster_down = unreachable.iter().all(|&n| n >= 2);
            let err = match (failure, kind) {
                (Failure::Unknown, Kind::Write { replay_safe: false }) => {
                    return Err(ClientError::OutcomeUnknown {
                        member: member.url.clone(),
                        source: Box::new(err),
                    });
                }
                (Failure::Unknown, Kind::Write { replay_safe: true }) if replayed.is_none() => {
                    replayed = Some((member.url.clone(), err));
                    None
                }
                _ => Some(err),
            };
            if cluster_down || Instant::now() + FIRST_PAUSE >= deadline {
                let last = match (err, replayed.take()) {
                    (Some(err), _) => err,
                    (None, Some((_, err))) => err,
                    (None, None) => ClientError::AttemptTimeout {
                        member: member.url.clone(),
                        timeout: budget,
                    },
                };
                return Err(ClientError::Exhausted {
                    member: member.url.clone(),
                    attempts,
                    elapsed: started.elapsed(),
                    last: Box::new(last),
                });
            }
        }
    }
}

impl Pool {
    /// The preferred member if it is not down, else the next one that is not, else (every member
    /// failed lately) the one whose back-off ends first.
    fn pick(&self) -> usize {
        let n = self.members.len();
        let now = Instant::now();
        let start = self.preferred.load(Ordering::Relaxed) % n;
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.members[i].down_until().is_none_or(|until| until <= now))
            .or_else(|| (0..n).min_by_key(|&i| self.members[i].down_until()))
            .unwrap_or(start)
    }

    /// An attempt at member `index` failed in transit: pass it over for a while, prefer the next
    /// one, and look for the leader again (it may have changed).
    fn failed(self: &Arc<Self>, index: usize) {
        let n = self.members.len();
        self.members[index].set_down_until(Some(Instant::now() + DOWN_FOR));
        let _ = self
            .preferred
            .compare_exchange(index, (index + 1) % n, Ordering::Relaxed, Ordering::Relaxed);
        self.probe();
    }

    /// Looks for the leader in the background until one is found or the request timeout is up,
    /// one search at a time. The task holds the pool weakly: dropping the client ends it.
    fn probe(self: &Arc<Self>) {
        if self.members.len() < 2 || self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = Arc::downgrade(self);
        let until = Instant::now() + self.request_timeout;
        tokio::spawn(async move {
            loop {
                let Some(this) = Weak::upgrade(&pool) else { return };
                if let Some(leader) = this.leader().await {
                    this.preferred.store(leader, Ordering::Relaxed);
                    this.members[leader].set_down_until(None);
                    break;
                }
                if Instant::now() >= until {
                    break;
                }
                drop(this);
                tokio::time::sleep(PROBE_PAUSE).await;
            }
            if let Some(this) = Weak::upgrade(&pool) {
                this.probing.store(false, Ordering::Release);
            }
        });
    }

    /// Asks every member for its status at once (each within an attempt) and returns the index of
    /// the one that says it is the leader, or that another says is the leader.
    async fn leader(&self) -> Option<usize> {
        let mut asks = tokio::task::JoinSet::new();
        for (index, member) in self.members.iter().enumerate() {
            let (channel, budget) = (member.channel.clone(), self.attempt_timeout);
            asks.spawn(async move {
                let status = unary::<_, StatusResponse>(channel, STATUS, StatusRequest {}, false);
                (index, tokio::time::timeout(budget, status).await)
            });
        }
        let mut ids = vec![None; self.members.len()];
        let mut leaders = Vec::new();
        while let Some(joined) = asks.join_next().await {
            let Ok((index, Ok(Ok(status)))) = joined else { continue };
            let id = status.header.map(|h| h.member_id).filter(|&id| id != 0);
            if id.is_some() && id == Some(status.leader) {
                return Some(index);
            }
            ids[index] = id;
            if status.leader != 0 {
                leaders.push(status.leader);
            }
        }
        ids.iter().position(|id| id.is_some_and(|id| leaders.contains(&id)))
    }
}

/// One unary call on one member's channel, with etcd's require-leader metadata when asked.
async fn unary<Req, Resp>(
    channel: Channel,
    path: &'static str,
    request: Req,
    require_leader: bool,
) -> Result<Resp, ClientError>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = Grpc::new(channel);
    grpc.ready().await.map_err(ClientError::Closed)?;
    let mut request = Request::new(request);
    if require_leader {
        request
            .metadata_mut()
            .insert(REQUIRE_LEADER.0, MetadataValue::from_static(REQUIRE_LEADER.1));
    }
    let path = PathAndQuery::from_static(path);
    let response = grpc.unary(request, path, ProstCodec::default()).await?;
    Ok(response.into_inner())
}

/// Opens a watch on one member's channel and waits for etcd to confirm the watcher, so every
/// change after this returns is seen. A member that does not create it answers with a
/// cancellation, returned as is for the store to report.
async fn open_watch(
    channel: Channel,
    create: WatchCreateRequest,
) -> Result<(WatchResponse, Streaming<WatchResponse>), ClientError> {
    let mut grpc = Grpc::new(channel);
    grpc.ready().await.map_err(ClientError::Closed)?;
    let request = WatchRequest {
        request_union: Some(WatchRequestUnion::Create(create)),
    };
    // The request half stays open after the create request, as etcd's own client keeps it:
    // early etcd servers end the whole watch when the client's half ends.
    let requests = tokio_stream::once(request).chain(tokio_stream::pending());
    let mut request = Request::new(requests);
    request
        .metadata_mut()
        .insert(REQUIRE_LEADER.0, MetadataValue::from_static(REQUIRE_LEADER.1));
    let path = PathAndQuery::from_static(WATCH);
    let mut stream = grpc.streaming(request, path, ProstCodec::default()).await?.into_inner();
    match stream.message().await? {
        Some(first) => Ok((first, stream)),
        // Closed without a word: as a reset connection would be.
        None => Err(ClientError::Status(tonic::Status::unavailable(
            "etcd closed the watch stream before creating the watcher",
        ))),
    }
}

/// One endpoint: `http://` or `https://` by the TLS settings (a URL without a scheme gets the one
/// they imply, as etcd-client did), the connect timeout and keep-alive.
fn endpoint(url: &str, tls: Option<&ClientTlsConfig>, connect_timeout: Duration) -> Result<Endpoint, ClientError> {
    let full = match (url.contains("://"), tls.is_some()) {
        (true, _) => url.to_owned(),
        (false, true) => format!("https://{url}"),
        (false, false) => format!("http://{url}"),
    };
    let bad = |reason| ClientError::Endpoint {
        endpoint: url.to_owned(),
        reason,
    };
    // Parsed here rather than by `Endpoint::from_shared`, which would take `unix:` URLs as
    // socket paths: the scheme check below sees exactly what was configured.
    let uri = full.parse::<http::Uri>().map_err(|source| ClientError::Url {
        endpoint: url.to_owned(),
        source,
    })?;
    let endpoint = Endpoint::from(uri)
        .connect_timeout(connect_timeout)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    match (endpoint.uri().scheme_str(), tls) {
        (Some("https"), Some(tls)) => endpoint.tls_config(tls.clone()).map_err(|source| ClientError::Tls {
            endpoint: url.to_owned(),
            source,
        }),
        (Some("http"), None) => Ok(endpoint),
        (Some("https"), None) => Err(bad(
            "is https:// but no TLS settings were given (the CA that signed etcd's certificate)",
        )),
        (Some("http"), Some(_)) => Err(bad("is http:// but TLS settings were given; use https://")),
        _ => Err(bad("must be an http:// or https:// URL")),
    }
}

/// tonic's TLS settings for [`EtcdTls`]: only the given CA is trusted (tonic adds the system's
/// roots only with features irsa does not enable), and the client identity if any. The handshake
/// is part of connecting, so it gets the connect timeout too. rustls with aws-lc-rs: tonic's
/// `tls-aws-lc` feature.
fn tls_config(tls: &EtcdTls, connect_timeout: Duration) -> ClientTlsConfig {
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&tls.ca_pem))
        .timeout(connect_timeout);
    if let Some((cert, key)) = &tls.client_identity {
        config = config.identity(Identity::from_pem(cert, key));
    }
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str, tls: Option<&ClientTlsConfig>) -> String {
        match endpoint(url, tls, Duration::from_secs(1)) {
            Ok(_) => panic!("{url} should be refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn endpoints_take_their_scheme_from_the_tls_settings() {
        let tls = ClientTlsConfig::new();
        let ok = |url: &str, tls: Option<&ClientTlsConfig>| endpoint(url, tls, Duration::from_secs(1)).unwrap();
        assert_eq!(ok("127.0.0.1:2379", None).uri().to_string(), "http://127.0.0.1:2379/");
        assert_eq!(ok("etcd:2379", Some(&tls)).uri().to_string(), "https://etcd:2379/");
        assert_eq!(ok("http://a:1", None).uri().scheme_str(), Some("http"));
        assert_eq!(ok("https://a:1", Some(&tls)).uri().scheme_str(), Some("https"));
    }

    #[test]
    fn mismatched_or_unknown_schemes_are_refused() {
        let tls = ClientTlsConfig::new();
        assert!(err("https://a:1", None).contains("no TLS settings"));
        assert!(err("http://a:1", Some(&tls)).contains("use https://"));
        assert!(err("ftp://a:1", None).contains("must be an http:// or https:// URL"));
        assert!(err("http://a b:1", None).contains("is not a URL"));
    }

    #[tokio::test]
    async fn a_client_is_made_without_connecting() {
        // Nothing listens on port 1; the client only connects when a request needs it.
        let config = EtcdConfig::new(["http://127.0.0.1:1", "http://127.0.0.1:1"]);
        assert!(Client::new(&config).is_ok());
        let bad = EtcdConfig::new(["http://127.0.0.1:1", "https://127.0.0.1:2"]);
        assert!(matches!(Client::new(&bad), Err(ClientError::Endpoint { .. })));
    }
}
