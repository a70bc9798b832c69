//! Closing connections that sit idle: an I/O wrapper that records when bytes last moved, and a
//! watchdog around the connection's future. hyper bounds the time to read a request head, but
//! not a connection that stays open between requests, nor one whose peer stops reading.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Stats;

/// When bytes last moved on a connection, as milliseconds since it was accepted.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    /// A connection accepted now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long no byte has moved.
    pub(crate) fn idle_for(&self) -> Duration {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// An I/O object that touches its [`Activity`] whenever bytes are read or written.
pub(crate) struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Drives `conn` until it ends, or drops it (closing the socket) once no byte has moved for
/// `idle`, or when it is evicted to make room for a new connection.
pub(crate) async fn run<F, E>(
    conn: F,
    activity: &Activity,
    evicted: &Notify,
    idle: Duration,
    stats: &Stats,
    peer: SocketAddr,
) where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    loop {
        let wait = idle.saturating_sub(activity.idle_for());
        tokio::select! {
            result = &mut conn => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection error");
                }
                return;
            }
            () = evicted.notified() => {
                tracing::debug!(%peer, "closing a quiet connection to make room for a new one");
                return;
            }
            () = tokio::time::sleep(wait) => {
                if activity.idle_for() >= idle {
                    stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "closing an idle connection");
                    return;
                }
            }
        }
    }
}
