//! The etcd backend: the same trait over an etcd v3 cluster, through irsa's own thin gRPC client
//! (no `protoc` needed to build it).
//!
//! - [`config`]: where and how to reach etcd ([`EtcdConfig`], [`EtcdTls`]);
//! - [`client`]: the connections (endpoints, TLS, failover between members) and the gRPC calls
//!   the store makes;
//! - [`retry`]: what may be sent again after a failed attempt;
//! - [`proto`]: the etcd v3 API messages those calls carry;
//! - this module: the [`Store`] on top (namespacing, compares, paging, watches, errors).

mod client;
mod config;
mod proto;
mod retry;

use std::sync::Arc;

use tokio::sync::mpsc;

use self::client::{Client, ClientError};
pub use self::config::{EtcdConfig, EtcdTls};
use self::proto::{
    CompareResult, CompareTarget, DeleteRangeRequest, EventType, KeyValue, PutRequest, RangeRequest, Request,
    RequestOp, ResponseHeader, TargetUnion, TxnRequest, WatchCreateRequest, WatchResponse,
};
use crate::watch::WATCH_BUFFER;
use crate::{Compare, Entry, Error, Op, Page, Store, Txn, TxnOutcome, Watch, WatchEvent};

/// How much later than the client's own deadline [`EtcdStore::call`] gives up on a call.
const CALL_SLACK: std::time::Duration = std::time::Duration::from_millis(500);

/// The etcd [`Store`]: the same trait over an etcd v3 cluster, through irsa's own gRPC client.
///
/// Every key lives under a namespace prefix (default `irsa/`), so irsa can share a cluster.
/// Revisions are etcd's: [`Entry::revision`] is the key's `mod_revision`, the store revision is
/// the cluster revision (shared by every namespace, so it may grow without irsa writing). A
/// [`Txn`] is one etcd `Txn`: [`Compare::Absent`] is `version == 0`, [`Compare::Exists`] is
/// `version > 0`, [`Compare::Revision`] is `mod_revision == R`; puts and deletes are its success
/// branch. Watches are etcd watches on the namespaced prefix, resumed on another member from the
/// next revision when theirs fails. Requests go to one member (the leader when known) and move
/// to another when it fails (see the client's documentation); requests to a cluster that does
/// not answer fail with [`Error::Unavailable`] after [`EtcdConfig::request_timeout`], and so does
/// a transaction whose member failed after it was sent (its outcome is unknown).
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
    request_timeout: std::time::Duration,
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
        // No connection yet: the check below makes the first one, within the connect timeout
        // (TCP and TLS) and the request timeout (the whole request).
        let client = Client::new(&config).map_err(|e| map_err(&endpoints, e))?;
        let inner = Inner {
            client,
            namespace: config.namespace,
            request_timeout: config.request_timeout,
            endpoints,
        };
        let store = Self { inner: Arc::new(inner) };
        store.inner.client.find_leader().await;
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

    fn entry(&self, kv: KeyValue) -> Result<Entry, Error> {
        Ok(Entry {
            revision: revision_from(kv.mod_revision)?,
            value: kv.value,
        })
    }

    /// Runs one etcd request with the request timeout. The client stops retrying at the request
    /// timeout and says why; this bound, a little later, only guards against a call that never
    /// returns.
    async fn call<T>(&self, what: &str, fut: impl Future<Output = Result<T, ClientError>>) -> Result<T, Error> {
        let limit = self.inner.request_timeout + CALL_SLACK;
        match tokio::time::timeout(limit, fut).await {
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
        let request = RangeRequest {
            key: self.full_key(key),
            ..RangeRequest::default()
        };
        let resp = self.call("get", self.inner.client.range(request)).await?;
        resp.kvs.into_iter().next().map(|kv| self.entry(kv)).transpose()
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
        // One more than asked, to tell whether there are more.
        let want = limit.saturating_add(1);
        let request = RangeRequest {
            key: from,
            range_end: prefix_end(&full_prefix),
            limit: i64::try_from(want).unwrap_or(i64::MAX),
            ..RangeRequest::default()
        };
        let resp = self.call("range", self.inner.client.range(request)).await?;
        let mut page = Page::default();
        for kv in resp.kvs {
            if page.entries.len() == limit {
                page.more = true;
                break;
            }
            let key = self.store_key(&kv.key)?;
            page.entries.push((key, self.entry(kv)?));
        }
        Ok(page)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, Error> {
        txn.validate()?;
        let version = |key: &str, result: CompareResult| proto::Compare {
            result: result as i32,
            target: CompareTarget::Version as i32,
            key: self.full_key(key),
            target_union: Some(TargetUnion::Version(0)),
        };
        let compare = txn
            .compares()
            .iter()
            .map(|c| match c {
                Compare::Absent(k) => version(k, CompareResult::Equal),
                Compare::Exists(k) => version(k, CompareResult::Greater),
                // An absent key has mod_revision 0 in etcd's compares; ours never match 0.
                Compare::Revision(k, 0) => version(k, CompareResult::Less),
                Compare::Revision(k, r) => proto::Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Mod as i32,
                    key: self.full_key(k),
                    target_union: Some(TargetUnion::ModRevision(i64::try_from(*r).unwrap_or(i64::MAX))),
                },
            })
            .collect();
        let success = txn
            .ops()
            .iter()
            .map(|op| {
                let request = match op {
                    Op::Put { key, value } => Request::Put(PutRequest {
                        key: self.full_key(key),
                        value: value.clone(),
                    }),
                    // An empty range end: this one key.
                    Op::Delete { key } => Request::DeleteRange(DeleteRangeRequest {
                        key: self.full_key(key),
                        range_end: Vec::new(),
                    }),
                };
                RequestOp { request: Some(request) }
            })
            .collect();
        let request = TxnRequest {
            compare,
            success,
            failure: Vec::new(),
        };
        let resp = self.call("txn", self.inner.client.txn(request)).await?;
        let revision = header_revision(resp.header.as_ref())?;
        Ok(if resp.succeeded {
            TxnOutcome::Committed { revision }
        } else {
            TxnOutcome::Conflict { revision }
        })
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, Error> {
        let full_prefix = self.full_key(prefix);
        let create = WatchCreateRequest {
            range_end: prefix_end(&full_prefix),
            key: full_prefix,
            start_revision: 0,
        };
        // The client returns once etcd confirmed the watcher, so every change after this returns
        // is seen.
        let (created, mut stream) = self.call("watch", self.inner.client.watch(create.clone())).await?;
        // The revision to resume from: the one after the last event seen, or after the store
        // revision when the watcher was created.
        let mut next = self.created(&created)?.saturating_add(1);
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let store = self.clone();
        let task = tokio::spawn(async move {
            // The stream (and so etcd's watcher) lives as long as this task; dropping the Watch
            // aborts the task.
            loop {
                let broken = match stream.message().await {
                    Ok(Some(resp)) => {
                        for event in resp.events {
                            if let Some(kv) = &event.kv {
                                next = next.max(kv.mod_revision.saturating_add(1));
                            }
                            let converted = store.event(event.kind, event.kv);
                            if tx.send(converted).await.is_err() {
                                return;
                            }
                        }
                        if resp.canceled {
                            let err = if resp.compact_revision > 0 {
                                Error::WatchLagged { missed: 0 }
                            } else {
                                Error::Unavailable(format!(
                                    "etcd at {} cancelled the watch: {}",
                                    store.inner.endpoints, resp.cancel_reason
                                ))
                            };
                            let _ = tx.send(Err(err)).await;
                            return;
                        }
                        continue;
                    }
                    Ok(None) => tonic::Status::unavailable("etcd ended the watch stream"),
                    Err(status) => status,
                };
                // The member went away, lost its leader (the require-leader metadata makes it end
                // the watch), or the connection broke: the same watcher again, on whichever member
                // answers, from the revision after the last event seen. Nothing is missed or seen
                // twice; a revision compacted meanwhile is reported as lagging, as above.
                tracing::debug!(error = %broken, next, "etcd watch broke; resuming");
                let resume = WatchCreateRequest {
                    start_revision: next,
                    ..create.clone()
                };
                let resumed = store.call("watch", store.inner.client.watch(resume)).await;
                match resumed.and_then(|(created, s)| store.created(&created).map(|_| s)) {
                    Ok(resumed) => stream = resumed,
                    Err(err) => {
                        let _ = tx.send(Err(err)).await;
                        return;
                    }
                }
            }
        });
        Ok(Watch::new(rx, task))
    }

    async fn revision(&self) -> Result<u64, Error> {
        let key = self.full_key("");
        let request = RangeRequest {
            range_end: prefix_end(&key),
            key,
            count_only: true,
            ..RangeRequest::default()
        };
        let resp = self.call("range", self.inner.client.range(request)).await?;
        header_revision(resp.header.as_ref())
    }
}

impl EtcdStore {
    /// The store revision when etcd created a watcher, or why it did not.
    fn created(&self, resp: &WatchResponse) -> Result<i64, Error> {
        if resp.created && !resp.canceled {
            return Ok(resp.header.as_ref().map_or(0, |h| h.revision));
        }
        Err(Error::Backend(format!(
            "etcd at {} did not create the watch: {}",
            self.inner.endpoints, resp.cancel_reason
        )))
    }

    fn event(&self, kind: i32, kv: Option<KeyValue>) -> Result<WatchEvent, Error> {
        let kv = kv.ok_or_else(|| Error::Backend("etcd sent a watch event without a key".into()))?;
        let key = self.store_key(&kv.key)?;
        Ok(match EventType::try_from(kind) {
            Ok(EventType::Put) => WatchEvent::Put {
                key,
                entry: self.entry(kv)?,
            },
            // A delete event's mod_revision is the revision of the deletion.
            Ok(EventType::Delete) => WatchEvent::Delete {
                key,
                revision: revision_from(kv.mod_revision)?,
            },
            Err(_) => {
                return Err(Error::Backend(format!(
                    "etcd sent a watch event of unknown type {kind}"
                )));
            }
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

fn header_revision(header: Option<&ResponseHeader>) -> Result<u64, Error> {
    let header = header.ok_or_else(|| Error::Backend("etcd response without a header".into()))?;
    revision_from(header.revision)
}

/// The store's error for a failed call: [`Error::Unavailable`] (retrying may help) when etcd could
/// not be reached or did not answer in time, [`Error::Backend`] for everything else (bad settings,
/// a request etcd refused).
fn map_err(endpoints: &str, err: ClientError) -> Error {
    match err {
        ClientError::Status(status) => match status.code() {
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
        err @ (ClientError::Closed(_)
        | ClientError::AttemptTimeout { .. }
        | ClientError::OutcomeUnknown { .. }
        | ClientError::Exhausted { .. }) => Error::Unavailable(format!("etcd at {endpoints}: {}", chain(&err))),
        err @ (ClientError::Endpoint { .. } | ClientError::Url { .. } | ClientError::Tls { .. }) => {
            Error::Backend(format!("etcd at {endpoints}: {}", chain(&err)))
        }
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

/// A source whose text is already in the message is left out: tonic's statuses repeat their
/// cause ("tcp connect error: transport error: tcp connect error: Connection refused").
fn with_sources(mut out: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(e) = source {
        // A status's own Display lists its code, message, metadata and source: its message
        // says it, the source follows in the chain.
        let client = e
            .downcast_ref::<ClientError>()
            .or_else(|| e.downcast_ref::<Box<ClientError>>().map(|b| &**b));
        let text = match client {
            Some(ClientError::Status(status)) => status.message().to_owned(),
            _ => e.to_string(),
        };
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{chain, prefix_end};

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layers(texts: &[&'static str]) -> Layer {
        texts
            .iter()
            .rev()
            .fold(None, |source, text| {
                Some(Layer {
                    text,
                    source: source.map(Box::new),
                })
            })
            .unwrap()
    }

    #[test]
    fn error_chains_name_each_cause_once() {
        let err = layers(&[
            "tcp connect error",
            "transport error",
            "tcp connect error",
            "Connection refused",
        ]);
        assert_eq!(chain(&err), "tcp connect error: transport error: Connection refused");
        assert_eq!(chain(&layers(&["only"])), "only");
    }

    #[test]
    fn failures_to_reach_etcd_are_unavailable_and_refusals_are_backend_errors() {
        use super::{ClientError, Error, map_err};
        let map = |e: ClientError| map_err("http://etcd:2379", e);
        for status in [
            tonic::Status::unavailable("no leader"),
            tonic::Status::deadline_exceeded("slow"),
            tonic::Status::cancelled("gone"),
            // Made by the client from an error of its own: a connection failure.
            tonic::Status::from_error(Box::new(std::io::Error::other("connection reset"))),
        ] {
            let err = map(status.into());
            assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
            assert!(err.to_string().contains("etcd at http://etcd:2379: "), "{err}");
        }
        let refused = map(tonic::Status::invalid_argument("etcdserver: too many operations in txn request").into());
        assert!(
            matches!(&refused, Error::Backend(m) if m.contains("InvalidArgument: etcdserver: too many")),
            "{refused:?}"
        );
        // Sent by etcd (no source): not a connection failure.
        let unknown = map(tonic::Status::unknown("odd").into());
        assert!(matches!(unknown, Error::Backend(_)), "{unknown:?}");
        let settings = map(ClientError::Endpoint {
            endpoint: "ftp://etcd".into(),
            reason: "must be an http:// or https:// URL",
        });
        assert!(matches!(settings, Error::Backend(_)), "{settings:?}");
    }

    #[test]
    fn a_transaction_of_unknown_outcome_is_unavailable_and_says_so() {
        use super::{ClientError, Error, map_err};
        let reset = tonic::Status::from_error(Box::new(std::io::Error::other("connection reset")));
        let err = map_err(
            "http://etcd:2379",
            ClientError::OutcomeUnknown {
                member: "http://etcd:2379".into(),
                source: Box::new(reset.into()),
            },
        );
        let Error::Unavailable(text) = &err else {
            panic!("{err:?}")
        };
        assert!(text.contains("outcome is unknown (it may have committed)"), "{text}");
        assert!(text.ends_with(": connection reset"), "{text}");
        assert!(!text.contains("code:"), "{text}");
    }

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"irsa/"), b"irsa0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }
}
