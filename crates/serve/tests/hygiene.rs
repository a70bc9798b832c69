//! Connection hygiene against real sockets: every way a client can hold a connection without
//! finishing a request ends in a bounded time, a full listener refuses at once, and normal
//! clients are served meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use irsa_serve::{Limits, Stats, Tls, serve};

fn limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(1500),
        body_timeout: Duration::from_millis(800),
        request_timeout: Duration::from_secs(3),
        max_connections: 8,
        max_http2_streams: 10,
        shutdown_grace: Duration::from_secs(1),
    }
}

struct Server {
    addr: SocketAddr,
    stats: Arc<Stats>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(limits: Limits) -> Server {
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/echo",
        post(|body: axum::body::Bytes| async move { body.len().to_string() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(Stats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router, Tls::None, limits, stats.clone(), async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stats,
        _stop: stop,
    }
}

/// How long until the server closes `stream` (reading and discarding whatever it sends).
fn time_to_close(mut stream: TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("still open after {limit:?}")
            }
            Err(_) => return start.elapsed(),
        }
    }
}

/// Sends `request` and reads until the server closes: how long that took, and what came back.
fn answer_to(addr: SocketAddr, request: &[u8]) -> (Duration, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (start.elapsed(), String::from_utf8_lossy(&out).into_owned())
}

fn get_ok(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    start.elapsed()
}

/// What a slow client sends before it stops.
type SlowClient = dyn Fn(&mut TcpStream) + Send;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_closed() {
    let server = start(limits()).await;
    let addr = server.addr;
    let cases: Vec<(&str, Box<SlowClient>)> = vec![
        ("idle, nothing sent", Box::new(|_| {})),
        ("partial request line", Box::new(|s| s.write_all(b"GET / HT").unwrap())),
        (
            "headers trickled one byte at a time",
            Box::new(|s| {
                for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890" {
                    if s.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
            }),
        ),
    ];
    for (name, send) in cases {
        let elapsed = blocking(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            send(&mut s);
            time_to_close(s, Duration::from_secs(5))
        })
        .await;
        assert!(elapsed < Duration::from_secs(3), "{name}: closed after {elapsed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_endless_body_gets_an_answer_in_bounded_time() {
    let server = start(limits()).await;
    let addr = server.addr;
    let stalled = blocking(move || {
        answer_to(
            addr,
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n24 bytes of a huge body",
        )
    })
    .await;
    assert!(stalled.0 < Duration::from_secs(3), "{stalled:?}");
    assert!(stalled.1.starts_with("HTTP/1.1 4"), "a 4xx answer: {}", stalled.1);
    let endless = blocking(move || {
        answer_to(
            addr,
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nabc",
        )
    })
    .await;
    assert!(endless.0 < Duration::from_secs(3), "{endless:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_are_closed_when_idle() {
    let server = start(limits()).await;
    let addr = server.addr;
    let elapsed = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        time_to_close(s, Duration::from_secs(5))
    })
    .await;
    assert!(elapsed < Duration::from_secs(3), "closed after {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_evicts_quiet_connections_for_normal_clients() {
    let server = start(limits()).await;
    let addr = server.addr;
    // Fill every slot, and more, with connections that say nothing.
    let held: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A normal client is served at once: the quietest connection makes room.
    for _ in 0..5 {
        let took = blocking(move || get_ok(addr)).await;
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    // The first made room by evicting a quiet one; each closes when answered, so the next
    // finds that room free.
    assert!(server.stats.evicted.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // The 32 beyond the cap arrived while every slot was fresh: refused at once.
    assert!(server.stats.refused.load(std::sync::atomic::Ordering::Relaxed) >= 30);
    drop(held);
}
