//! `irsa-serve`: the one HTTP(S) accept loop every irsa listener uses (`irsa server` and
//! `irsa up`, `irsa oidc serve`, the webhook and its metrics port, the profile controller's
//! metrics port), with the connection hygiene of a production reverse proxy.
//!
//! A listener without it is stopped by one unauthenticated client: idle or half-sent
//! connections were never closed, so a few hundred of them exhausted the open-file limit. Here:
//!
//! - the request head must arrive within [`Limits::header_read_timeout`] (and so must a TLS
//!   handshake); a connection idle between requests is closed after [`Limits::idle_timeout`];
//! - the whole request body within [`Limits::body_timeout`], the whole request (body and
//!   handler) within [`Limits::request_timeout`] (then 408);
//! - at most [`Limits::max_connections`] connections at once; one more is closed at once, so
//!   the file descriptors of served clients are never starved, and accept errors such as
//!   `EMFILE` back off instead of spinning;
//! - HTTP/2 streams per connection are capped, and rapid resets bounded.
//!
//! Defaults come from [`Limits::default`]; `IRSA_HTTP_*` variables change them for every
//! listener of the process ([`Limits::from_env`]).

#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::StatusCode;
use tokio::net::{TcpListener, TcpStream};

/// Connection and request limits of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Time for the request line and headers (and a TLS handshake) to arrive (default 10 s).
    pub header_read_timeout: Duration,
    /// Time a connection may sit idle between requests (default 60 s, as AWS's load balancers).
    pub idle_timeout: Duration,
    /// Time for the whole request body to arrive, however it trickles (default 30 s).
    pub body_timeout: Duration,
    /// Time for the whole request, body and handler (default 60 s; then 408).
    pub request_timeout: Duration,
    /// Connections served at once; more are closed at once (default: three quarters of the
    /// open-file limit, at most 10,000).
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection (default 100).
    pub max_http2_streams: u32,
    /// Time open connections get to finish after shutdown is asked for (default 10 s).
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(open_file_limit()),
            max_http2_streams: 100,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A bad `IRSA_HTTP_*` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct LimitsError {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Why it is refused.
    pub reason: String,
}

impl Limits {
    /// The defaults, changed by `IRSA_HTTP_HEADER_READ_TIMEOUT`, `IRSA_HTTP_IDLE_TIMEOUT`,
    /// `IRSA_HTTP_BODY_TIMEOUT`, `IRSA_HTTP_REQUEST_TIMEOUT` (seconds), `IRSA_HTTP_MAX_CONNECTIONS`
    /// and `IRSA_HTTP_MAX_HTTP2_STREAMS`.
    ///
    /// # Errors
    /// A variable that is not a positive whole number.
    pub fn from_env() -> Result<Self, LimitsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Limits::from_env`], reading variables through `lookup` (pure, for tests).
    ///
    /// # Errors
    /// A variable that is not a positive whole number.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, LimitsError> {
        let mut limits = Limits::default();
        let number = |name: &str| -> Result<Option<u64>, LimitsError> {
            let Some(value) = lookup(name) else { return Ok(None) };
            match value.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(LimitsError {
                    name: name.to_owned(),
                    value,
                    reason: "expected a positive whole number".into(),
                }),
            }
        };
        let secs = |name: &str, slot: &mut Duration| -> Result<(), LimitsError> {
            if let Some(n) = number(name)? {
                *slot = Duration::from_secs(n);
            }
            Ok(())
        };
        secs("IRSA_HTTP_HEADER_READ_TIMEOUT", &mut limits.header_read_timeout)?;
        secs("IRSA_HTTP_IDLE_TIMEOUT", &mut limits.idle_timeout)?;
        secs("IRSA_HTTP_BODY_TIMEOUT", &mut limits.body_timeout)?;
        secs("IRSA_HTTP_REQUEST_TIMEOUT", &mut limits.request_timeout)?;
        if let Some(n) = number("IRSA_HTTP_MAX_CONNECTIONS")? {
            limits.max_connections = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = number("IRSA_HTTP_MAX_HTTP2_STREAMS")? {
            limits.max_http2_streams = u32::try_from(n).unwrap_or(u32::MAX);
        }
        Ok(limits)
    }
}

/// Three quarters of the open-file limit (the rest stays for the store, etcd, issuers' JWKS
/// and logs), between 64 and 10,000.
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    let limit = open_files.unwrap_or(1024).saturating_mul(3) / 4;
    usize::try_from(limit.clamp(64, 10_000)).unwrap_or(10_000)
}

/// The soft open-file limit of this process (Linux: `/proc/self/limits`), if known.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&text)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.trim_start_matches("Max open files").split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// Counters of one listener, for its owner's metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections closed at once because [`Limits::max_connections`] were open.
    pub refused: AtomicU64,
    /// Accept errors (e.g. `EMFILE`).
    pub accept_errors: AtomicU64,
    /// Connections closed for a slow or missing TLS handshake.
    pub handshake_timeouts: AtomicU64,
    /// Connections closed for being idle.
    pub idle_closed: AtomicU64,
    /// Quiet connections closed to make room for new ones on a full listener.
    pub evicted: AtomicU64,
}

/// Plain HTTP or HTTPS.
#[derive(Clone)]
pub enum Tls {
    /// Plain HTTP.
    None,
    /// This configuration for every connection (certificate hot reload lives in its resolver).
    Fixed(Arc<rustls::ServerConfig>),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tls::None => "Tls::None",
            Tls::Fixed(_) => "Tls::Fixed",
        })
    }
}

/// The request-level limits as tower layers on `router`: the body deadline, then the whole
/// request's (408). Also inserts the peer address as axum's `ConnectInfo<SocketAddr>`, and
/// counts the connection's requests in flight (a busy connection is never evicted).
fn with_request_limits(router: Router, limits: &Limits, peer: SocketAddr, entry: Arc<registry::Entry>) -> Router {
    router
        .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(limits.body_timeout))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let entry = entry.clone();
                async move {
                    entry.in_flight.fetch_add(1, Ordering::Relaxed);
                    let response = next.run(request).await;
                    entry.in_flight.fetch_sub(1, Ordering::Relaxed);
                    response
                }
            },
        ))
        .layer(axum::Extension(ConnectInfo(peer)))
}

/// Serves `router` on `listener` until `shutdown` resolves, then gives open connections
/// [`Limits::shutdown_grace`] to finish.
///
/// # Errors
/// None today: accept errors are logged and backed off from, not returned; the `Result` is for
/// callers that treat listeners alike.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Tls,
    limits: Limits,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let registry = registry::Registry::new(limits.max_connections);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(limits.max_http2_streams)
        .max_pending_accept_reset_streams(Some(20))
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(limits.header_read_timeout);
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer): (TcpStream, SocketAddr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => { backoff.reset(); pair }
                Err(error) => {
                    stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                    let (pause, log) = backoff.next();
                    if log {
                        tracing::warn!(%error, pause_ms = pause.as_millis(), "accept failed; backing off");
                    }
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
        };
        let activity = idle::Activity::new();
        let admitted = match registry.admit(activity.clone()) {
            registry::Admission::Admitted(a) => a,
            registry::Admission::Evicted(a) => {
                stats.evicted.fetch_add(1, Ordering::Relaxed);
                a
            }
            registry::Admission::Refused => {
                // Full of busy connections: close at once, so the descriptor is back before
                // anyone waits on it.
                let refused = stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
                if refused.is_power_of_two() {
                    tracing::warn!(%peer, refused, max = limits.max_connections, "connection limit reached; closing new connections");
                }
                drop(tcp);
                continue;
            }
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = tcp.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(with_request_limits(
            router.clone(),
            &limits,
            peer,
            admitted.entry.clone(),
        ));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let limits = limits.clone();
        let stats = stats.clone();
        let tls = match &tls {
            Tls::None => None,
            Tls::Fixed(config) => Some(config.clone()),
        };
        tokio::spawn(async move {
            let io = idle::Tracked::new(tcp, activity.clone());
            let entry = admitted.entry.clone();
            match tls {
                None => {
                    let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service);
                    let conn = watcher.watch(conn.into_owned());
                    idle::run(conn, &activity, &entry.evicted, limits.idle_timeout, &stats, peer).await;
                }
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(io));
                    let stream = match tokio::select! {
                        r = handshake => r,
                        () = entry.evicted.notified() => return,
                    } {
                        Ok(Ok(s)) => s,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
                    let conn = watcher.watch(conn.into_owned());
                    idle::run(conn, &activity, &entry.evicted, limits.idle_timeout, &stats, peer).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("graceful shutdown timed out; closing remaining connections");
    }
    Ok(())
}

/// Back-off after accept errors: 10 ms doubling to 1 s; a warning at most once a second.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u32,
    last_log: Option<Instant>,
}

impl AcceptBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }

    fn next(&mut self) -> (Duration, bool) {
        let pause = Duration::from_millis(10u64 << self.failures.min(7)).min(Duration::from_secs(1));
        self.failures = self.failures.saturating_add(1);
        let log = self.last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if log {
            self.last_log = Some(Instant::now());
        }
        (pause, log)
    }
}

mod idle;
mod registry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_file_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_file_limit(text), Some(1024));
        assert_eq!(
            parse_open_file_limit("Max open files            unlimited            unlimited            files"),
            Some(u64::MAX)
        );
        assert_eq!(parse_open_file_limit("nothing"), None);
        assert_eq!(default_max_connections(Some(1024)), 768);
        assert_eq!(default_max_connections(Some(u64::MAX)), 10_000);
        assert_eq!(default_max_connections(Some(10)), 64);
        assert_eq!(default_max_connections(None), 768);
    }

    #[test]
    fn limits_from_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let limits = Limits::from_lookup(env(&[
            ("IRSA_HTTP_HEADER_READ_TIMEOUT", "5"),
            ("IRSA_HTTP_MAX_CONNECTIONS", "200"),
        ]))
        .unwrap_or_default();
        assert_eq!(limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_connections, 200);
        assert_eq!(limits.idle_timeout, Limits::default().idle_timeout);
        let err = Limits::from_lookup(env(&[("IRSA_HTTP_IDLE_TIMEOUT", "0")]));
        assert!(err.is_err_and(|e| e.to_string().contains("IRSA_HTTP_IDLE_TIMEOUT")));
        assert!(Limits::from_lookup(env(&[("IRSA_HTTP_BODY_TIMEOUT", "ten")])).is_err());
    }

    #[test]
    fn accept_backoff_grows_and_logs_at_most_once_a_second() {
        let mut b = AcceptBackoff::default();
        let (first, log1) = b.next();
        let (second, log2) = b.next();
        assert_eq!(first, Duration::from_millis(10));
        assert_eq!(second, Duration::from_millis(20));
        assert!(log1 && !log2);
        for _ in 0..20 {
            b.next();
        }
        assert_eq!(b.next().0, Duration::from_secs(1));
        b.reset();
        assert_eq!(b.next().0, Duration::from_millis(10));
    }
}
