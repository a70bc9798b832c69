//! The etcd backend: the same trait over an etcd v3 cluster, through `etcd-client`.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, TxnOp, WatchOptions,
};
use tokio::sync::mpsc;

use crate::watch::WATCH_BUFFER;
use crate::{Compare, Entry, Error, Op, Page, Store, Txn, TxnOutcome, Watch, WatchEvent};

/// Where and how to reach etcd.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EtcdConfig {
    /// Client URLs (`http://host:2379`, or `https://` with [`EtcdConfig::tls`]).
    pub endpoints: Vec<String>,
    /// Prefix of every key in etcd (default `irsa/`); store keys are relative to it.
    pub namespace: String,
    /// How long to wait for a connection (default 5 s).
    pub connect_timeout: Duration,
    /// How long to wait for the answer to a request (default 10 s).
    pub request_timeout: Duration,
    /// TLS for `https://` endpoints (none by default).
    pub tls: Option<EtcdTls>,
}

/// TLS to etcd: the CA that signed etcd's server certificate, and optionally a client certificate
/// (etcd's `--client-cert-auth`). rustls with aws-lc-rs; PEM inputs.
#[derive(Clone)]
#[non_exhaustive]
pub struct EtcdTls {
    /// PEM of the CA certificate(s) that etcd's server certificate chains to.
    pub ca_pem: Vec<u8>,
    /// PEM of the client certificate chain and its private key.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name to verify the server certificate against, when not the endpoint's host.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("EtcdTls")
            .field("client_identity", &self.client_identity.is_some())
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl EtcdTls {
    /// Verify etcd's certificate against these CA certificates (PEM).
    pub fn new(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_pem: ca_pem.into(),
            client_identity: None,
            server_name: None,
        }
    }

    /// Present this client certificate chain and key (PEM).
    #[must_use]
    pub fn with_client_identity(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.client_identity = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Verify the server certificate for this name instead of the endpoint's host.
    #[must_use]
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    fn options(&self) -> etcd_client::TlsOptions {
        let mut tls = etcd_client::TlsOptions::new().ca_certificate(etcd_client::Certificate::from_pem(&self.ca_pem));
        if let Some((cert, key)) = &self.client_identity {
            tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
        }
        if let Some(name) = &self.server_name {
            tls = tls.domain_name(name.clone());
        }
        tls
    }
}

impl EtcdConfig {
    /// The defaults for these endpoints: namespace `irsa/`, 5 s to connect, 10 s per request.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            namespace: "irsa/".to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            tls: None,
        }
    }

    /// Sets TLS (for `https://` endpoints).
    #[must_use]
    pub fn with_tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the namespace prefix.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// The etcd [`Store`]: the same trait over an etcd v3 cluster, through `etcd-client`.
///
/// Every key lives under a namespace prefix (default `irsa/`), so irsa can share a cluster.
/// Revisions are etcd's: [`Entry::revision`] is the key's `mod_revision`, the store revision is
/// the cluster revision (shared by every namespace, so it may grow without irsa writing). A
/// [`Txn`] is one etcd `Txn`: [`Compare::Absent`] is `version == 0`, [`Compare::Exists`] is
/// `version > 0`, [`Compare::Revision`] is `mod_revision == R`; puts and deletes are its success
/// branch. Watches are etcd watches on the namespaced prefix. Requests to a cluster that does not
/// answer fail with [`Error::Unavailable`] after [`EtcdConfig::request_timeout`].
///
/// etcd's default limits apply: 128 operations per transaction (`--max-txn-ops`) and 1.5 MiB per
/// request (`--max-request-bytes`); a transaction over them fails with [`Error::Backend`].
///
/// Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    namespace: String,
    request_timeout: Duration,
    endpoints: String,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.endpoints)
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects and checks that the cluster answers (a read of the namespace).
    pub async fn connect(config: EtcdConfig) -> Result<Self, Error> {
        if config.endpoints.is_empty() {
            return Err(Error::Unavailable("no etcd endpoints configured".into()));
        }
        let endpoints = config.endpoints.join(",");
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls.options());
        }
        let connect = Client::connect(&config.endpoints, Some(options));
        let client = match tokio::time::timeout(config.connect_timeout, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(map_err(&endpoints, e)),
            Err(_) => {
                return Err(Error::Unavailable(format!(
                    "etcd at {endpoints}: no connection within {:?}",
                    config.connect_timeout
                )));
            }
        };
        let inner = Inner {
            client,
            namespace: config.namespace,
            request_timeout: config.request_timeout,
            endpoints,
        };
        let store = Self { inner: Arc::new(inner) };
        store.revision().await?;
        Ok(store)
    }

    /// The namespace prefix.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.inner.namespace.len() + key.len());
        full.extend_from_slice(self.inner.namespace.as_bytes());
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// The store key of an etcd key under the namespace.
    fn store_key(&self, full: &[u8]) -> Result<String, Error> {
        let rel = full.strip_prefix(self.inner.namespace.as_bytes()).ok_or_else(|| {
            Error::Backend(format!(
                "etcd returned key {:?} outside namespace {:?}",
                String::from_utf8_lossy(full),
                self.inner.namespace
            ))
        })?;
        String::from_utf8(rel.to_vec()).map_err(|_| {
            Error::Backend(format!(
                "etcd key {:?} under namespace {:?} is not UTF-8",
                String::from_utf8_lossy(full),
                self.inner.namespace
            ))
        })
    }

    fn entry(&self, kv: &KeyValue) -> Result<Entry, Error> {
        Ok(Entry {
            value: kv.value().to_vec(),
            revision: revision_from(kv.mod_revision())?,
        })
    }

    /// Runs one etcd request with the request timeout.
    async fn call<T>(&self, what: &str, fut: impl Future<Output = Result<T, etcd_client::Error>>) -> Result<T, Error> {
        match tokio::time::timeout(self.inner.request_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_err(&self.inner.endpoints, e)),
            Err(_) => Err(Error::Unavailable(format!(
                "etcd at {}: no answer to {what} within {:?}",
                self.inner.endpoints, self.inner.request_timeout
            ))),
        }
    }
}

impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<Entry>, Error> {
        crate::check_key(key)?;
        let mut kv = self.inner.client.kv_client();
        let resp = self.call("get", kv.get(self.full_key(key), None)).await?;
        resp.kvs().first().map(|kv| self.entry(kv)).transpose()
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Page, Error> {
        let full_prefix = self.full_key(prefix);
        let from = match start_after {
            Some(after) if after >= prefix => {
                let mut from = self.full_key(after);
                from.push(0);
                from
            }
            _ => full_prefix.clone(),
        };
        if !from.starts_with(&full_prefix) {
            return Ok(Page::default());
        }
        let end = prefix_end(&full_prefix);
        let want = limit.saturating_add(1);
        let options = GetOptions::new()
            .with_range(end)
            .with_limit(i64::try_from(want).unwrap_or(i64::MAX));
        let mut kv = self.inner.client.kv_client();
        let resp = self.call("range", kv.get(from, Some(options))).await?;
        let mut page = Page::default();
        for kv in resp.kvs() {
            if page.entries.len() == limit {
                page.more = true;
                break;
            }
            page.entries.push((self.store_key(kv.key())?, self.entry(kv)?));
        }
        Ok(page)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, Error> {
        txn.validate()?;
        let compares: Vec<EtcdCompare> = txn
            .compares()
            .iter()
            .map(|c| match c {
                Compare::Absent(k) => EtcdCompare::version(self.full_key(k), CompareOp::Equal, 0),
                Compare::Exists(k) => EtcdCompare::version(self.full_key(k), CompareOp::Greater, 0),
                // An absent key has mod_revision 0 in etcd's compares; ours never match 0.
                Compare::Revision(k, 0) => EtcdCompare::version(self.full_key(k), CompareOp::Less, 0),
                Compare::Revision(k, r) => EtcdCompare::mod_revision(
                    self.full_key(k),
                    CompareOp::Equal,
                    i64::try_from(*r).unwrap_or(i64::MAX),
                ),
            })
            .collect();
        let ops: Vec<TxnOp> = txn
            .ops()
            .iter()
            .map(|op| match op {
                Op::Put { key, value } => TxnOp::put(self.full_key(key), value.clone(), None),
                Op::Delete { key } => TxnOp::delete(self.full_key(key), None),
            })
            .collect();
        let request = etcd_client::Txn::new().when(compares).and_then(ops);
        let mut kv = self.inner.client.kv_client();
        let resp = self.call("txn", kv.txn(request)).await?;
        let revision = header_revision(resp.header())?;
        Ok(if resp.succeeded() {
            TxnOutcome::Committed { revision }
        } else {
            TxnOutcome::Conflict { revision }
        })
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, Error> {
        let full_prefix = self.full_key(prefix);
        let options = WatchOptions::new().with_range(prefix_end(&full_prefix));
        let mut client = self.inner.client.watch_client();
        let mut stream = self.call("watch", client.watch(full_prefix, Some(options))).await?;
        // Wait for etcd to confirm the watcher, so every change after this returns is seen.
        match self.call("watch", stream.message()).await? {
            Some(resp) if resp.created() && !resp.canceled() => {}
            Some(resp) => {
                return Err(Error::Backend(format!(
                    "etcd at {} did not create the watch: {}",
                    self.inner.endpoints,
                    resp.cancel_reason()
                )));
            }
            None => {
                return Err(Error::Unavailable(format!(
                    "etcd at {} closed the watch stream",
                    self.inner.endpoints
                )));
            }
        }
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let store = self.clone();
        let task = tokio::spawn(async move {
            // The stream (and so etcd's watcher) lives as long as this task; dropping the Watch
            // aborts the task.
            loop {
                let resp = match stream.message().await {
                    Ok(Some(resp)) => resp,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(map_err(&store.inner.endpoints, e))).await;
                        return;
                    }
                };
                for event in resp.events() {
                    let converted = store.event(event.event_type(), event.kv());
                    if tx.send(converted).await.is_err() {
                        return;
                    }
                }
                if resp.canceled() {
                    let err = if resp.compact_revision() > 0 {
                        Error::WatchLagged { missed: 0 }
                    } else {
                        Error::Unavailable(format!(
                            "etcd at {} cancelled the watch: {}",
                            store.inner.endpoints,
                            resp.cancel_reason()
                        ))
                    };
                    let _ = tx.send(Err(err)).await;
                    return;
                }
            }
        });
        Ok(Watch::new(rx, task))
    }

    async fn revision(&self) -> Result<u64, Error> {
        let mut kv = self.inner.client.kv_client();
        let key = self.full_key("");
        let options = GetOptions::new().with_range(prefix_end(&key)).with_count_only();
        let resp = self.call("range", kv.get(key, Some(options))).await?;
        header_revision(resp.header())
    }
}

impl EtcdStore {
    fn event(&self, kind: EventType, kv: Option<&KeyValue>) -> Result<WatchEvent, Error> {
        let kv = kv.ok_or_else(|| Error::Backend("etcd sent a watch event without a key".into()))?;
        let key = self.store_key(kv.key())?;
        Ok(match kind {
            EventType::Put => WatchEvent::Put {
                key,
                entry: self.entry(kv)?,
            },
            // A delete event's mod_revision is the revision of the deletion.
            EventType::Delete => WatchEvent::Delete {
                key,
                revision: revision_from(kv.mod_revision())?,
            },
        })
    }
}

/// The smallest key greater than every key starting with `prefix` (etcd's range end), or `\0`
/// (to the end of the keyspace) when there is none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn revision_from(rev: i64) -> Result<u64, Error> {
    u64::try_from(rev).map_err(|_| Error::Backend(format!("etcd returned a negative revision {rev}")))
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<u64, Error> {
    let header = header.ok_or_else(|| Error::Backend("etcd response without a header".into()))?;
    revision_from(header.revision())
}

fn map_err(endpoints: &str, err: etcd_client::Error) -> Error {
    use etcd_client::Error as E;
    match err {
        E::TransportError(e) => Error::Unavailable(format!("etcd at {endpoints}: {}", chain(&e))),
        E::IoError(e) => Error::Unavailable(format!("etcd at {endpoints}: {}", chain(&e))),
        E::GRpcStatus(status) => match status.code() {
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Aborted => Error::Unavailable(format!("etcd at {endpoints}: {}", status_text(&status))),
            // A status with a source was made by the client from a connection failure (reset,
            // TLS alert), not sent by etcd.
            tonic::Code::Unknown if std::error::Error::source(&status).is_some() => {
                Error::Unavailable(format!("etcd at {endpoints}: {}", status_text(&status)))
            }
            code => Error::Backend(format!("etcd at {endpoints}: {code:?}: {}", status.message())),
        },
        other => Error::Backend(format!("etcd at {endpoints}: {other}")),
    }
}

/// A status's message and the chain of its source (the client-side cause), if any.
fn status_text(status: &tonic::Status) -> String {
    with_sources(status.message().to_owned(), std::error::Error::source(status))
}

/// An error and its sources, `: `-separated ("transport error: …: received fatal alert: …").
fn chain(err: &dyn std::error::Error) -> String {
    with_sources(err.to_string(), err.source())
}

fn with_sources(mut out: String, mut source: Option<&dyn std::error::Error>) -> String {
    while let Some(e) = source {
        let text = e.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"irsa/"), b"irsa0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }
}
