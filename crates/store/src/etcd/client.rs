//! irsa's own etcd v3 gRPC client: one tonic channel balanced over every endpoint, TLS through
//! rustls with aws-lc-rs, and the three calls the store makes (KV `Range`, KV `Txn` and `Watch`).
//!
//! Why not `etcd-client`: its build script generates the API from `.proto` files and needs
//! `protoc`, so a machine with only the Rust toolchain could not build irsa. The messages are in
//! [`super::proto`]; the calls go through `tonic::client::Grpc` with prost's codec, which is all
//! the generated client would do.

use std::time::Duration;

use http::uri::PathAndQuery;
use tokio_stream::StreamExt as _;
use tonic::client::Grpc;
use tonic::transport::channel::Change;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Streaming};
use tonic_prost::ProstCodec;

use super::config::{EtcdConfig, EtcdTls};
use super::proto::{
    RangeRequest, RangeResponse, TxnRequest, TxnResponse, WatchCreateRequest, WatchRequest, WatchRequestUnion,
    WatchResponse,
};

/// The gRPC methods, as `/package.Service/Method` (etcd's `etcdserverpb` services).
const KV_RANGE: &str = "/etcdserverpb.KV/Range";
const KV_TXN: &str = "/etcdserverpb.KV/Txn";
const WATCH: &str = "/etcdserverpb.Watch/Watch";

/// HTTP/2 pings every 10 s, also while idle, and a connection whose ping goes unanswered for 5 s
/// is dropped: an open watch on a dead etcd (or a half-open TCP connection) then ends instead of
/// waiting for events that never come.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

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
}

/// The connection to an etcd cluster. Cloning is cheap and shares the connections.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    channel: Channel,
}

impl Client {
    /// A client for the configured endpoints. Connections are made lazily, per endpoint, by the
    /// first requests; this only checks the settings.
    pub(crate) fn new(config: &EtcdConfig) -> Result<Self, ClientError> {
        let tls = config.tls.as_ref().map(|tls| tls_config(tls, config.connect_timeout));
        let endpoints = config
            .endpoints
            .iter()
            .map(|url| endpoint(url, tls.as_ref(), config.connect_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        // A channel balanced over every endpoint, as etcd-client did: each request goes to one
        // of the endpoints. `balance_list` would do the same but panics past 1024 endpoints; here
        // the buffer holds them all, so `try_send` cannot fail while `channel` (the receiver)
        // lives.
        let (channel, changes) = Channel::balance_channel(endpoints.len().max(1));
        for (i, (url, endpoint)) in config.endpoints.iter().zip(endpoints).enumerate() {
            changes
                .try_send(Change::Insert(i, endpoint))
                .map_err(|_| ClientError::Endpoint {
                    endpoint: url.clone(),
                    reason: "could not be added to the connection pool",
                })?;
        }
        Ok(Self { channel })
    }

    /// A gRPC client on the channel, once the channel can take a request.
    async fn grpc(&self) -> Result<Grpc<Channel>, ClientError> {
        let mut grpc = Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(ClientError::Closed)?;
        Ok(grpc)
    }

    /// `KV.Range`: a get, a page of a list, or a count.
    pub(crate) async fn range(&self, request: RangeRequest) -> Result<RangeResponse, ClientError> {
        let mut grpc = self.grpc().await?;
        let path = PathAndQuery::from_static(KV_RANGE);
        let response = grpc.unary(Request::new(request), path, ProstCodec::default()).await?;
        Ok(response.into_inner())
    }

    /// `KV.Txn`: compares, then the success or failure branch, atomically.
    pub(crate) async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, ClientError> {
        let mut grpc = self.grpc().await?;
        let path = PathAndQuery::from_static(KV_TXN);
        let response = grpc.unary(Request::new(request), path, ProstCodec::default()).await?;
        Ok(response.into_inner())
    }

    /// `Watch.Watch` with one watcher: sends the create request and returns etcd's responses
    /// (the first says whether the watcher was created). Dropping the stream ends the call, and
    /// with it etcd's watcher.
    pub(crate) async fn watch(&self, create: WatchCreateRequest) -> Result<Streaming<WatchResponse>, ClientError> {
        let mut grpc = self.grpc().await?;
        let request = WatchRequest {
            request_union: Some(WatchRequestUnion::Create(create)),
        };
        // The request half stays open after the create request, as etcd's own client keeps it:
        // early etcd servers end the whole watch when the client's half ends.
        let requests = tokio_stream::once(request).chain(tokio_stream::pending());
        let path = PathAndQuery::from_static(WATCH);
        let response = grpc
            .streaming(Request::new(requests), path, ProstCodec::default())
            .await?;
        Ok(response.into_inner())
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
