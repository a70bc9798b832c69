//! The embedded backend: one redb file in the data directory.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{broadcast, mpsc};

use crate::watch::WATCH_BUFFER;
use crate::{Entry, Error, Op, Page, Store, Txn, TxnOutcome, Watch, WatchEvent};

const KV: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const META_REVISION: &str = "revision";
const META_FORMAT: &str = "format";
const FORMAT: u64 = 1;
/// How many committed transactions a watcher may fall behind before it gets
/// [`Error::WatchLagged`].
const EVENT_BACKLOG: usize = 4096;

/// The embedded [`Store`]: one redb file ([`RedbStore::FILE_NAME`]) in the data directory.
///
/// Layout: table `kv` maps each key to its value prefixed by the 8-byte big-endian revision of
/// the write; table `meta` holds the store `revision` and the layout `format` (1). Every commit is
/// `Durability::Immediate` (redb's default: fsynced before `commit` returns), so an acknowledged
/// transaction survives `kill -9` and power loss. redb takes an exclusive lock on the file, so a
/// second server on the same directory gets [`Error::Locked`]. Opening runs redb's integrity
/// check over the whole file, so damage is [`Error::Corrupt`] up front.
///
/// Cloning is cheap and shares the database.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// The database file, for error messages.
    path: PathBuf,
    /// Held from `begin_write` until the commit's events are broadcast, so watchers see
    /// transactions in revision order.
    writer: Mutex<()>,
    events: broadcast::Sender<Arc<[WatchEvent]>>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// The database file's name inside the data directory.
    pub const FILE_NAME: &str = "irsa-store.redb";

    /// Opens the store in `dir` (creating the directory and the database file if needed).
    ///
    /// Errors: [`Error::Locked`] when another process has it open, [`Error::Corrupt`] when the
    /// file is not a (readable) irsa store, [`Error::Io`] for the directory or file.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(Self::FILE_NAME);
        run_blocking(&path, move || Self::open_blocking(&dir)).await
    }

    /// The synchronous [`RedbStore::open`], for callers outside a tokio runtime.
    pub fn open_blocking(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(Self::FILE_NAME);
        // Verify the whole file on open: a damaged file is then `Corrupted` rather than a panic
        // later (redb trusts what it reads otherwise). It reads the file once; irsa's state is small.
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| map_err(&path, e.into()))?;
        Self::init(db, path)
    }

    /// A store that lives in memory only (redb's in-memory backend): the same code as on disk,
    /// without a file or fsync; for tests of the layers above.
    pub fn in_memory() -> Result<Self, Error> {
        let path = PathBuf::from("<memory>");
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| map_err(&path, e.into()))?;
        Self::init(db, path)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn init(db: Database, path: PathBuf) -> Result<Self, Error> {
        let e = |err: redb::Error| map_err(&path, err);
        let wtx = db.begin_write().map_err(|x| e(x.into()))?;
        {
            wtx.open_table(KV).map_err(|x| e(x.into()))?;
            let mut meta = wtx.open_table(META).map_err(|x| e(x.into()))?;
            let format = meta.get(META_FORMAT).map_err(|x| e(x.into()))?.map(|g| g.value());
            match format {
                None => {
                    meta.insert(META_FORMAT, FORMAT).map_err(|x| e(x.into()))?;
                }
                Some(FORMAT) => {}
                Some(other) => {
                    return Err(Error::Corrupt {
                        path: path.clone(),
                        detail: format!("layout format {other} is not supported (this build reads format {FORMAT})"),
                    });
                }
            }
            if meta.get(META_REVISION).map_err(|x| e(x.into()))?.is_none() {
                meta.insert(META_REVISION, 0).map_err(|x| e(x.into()))?;
            }
        }
        wtx.commit().map_err(|x| e(x.into()))?;
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                writer: Mutex::new(()),
                events,
            }),
        })
    }

    async fn with_inner<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let inner = Arc::clone(&self.inner);
        run_blocking(&self.inner.path, move || f(&inner)).await
    }
}

impl Inner {
    fn err(&self, e: impl Into<redb::Error>) -> Error {
        map_err(&self.path, e.into())
    }

    fn get(&self, key: &str) -> Result<Option<Entry>, Error> {
        let rtx = self.db.begin_read().map_err(|e| self.err(e))?;
        let kv = rtx.open_table(KV).map_err(|e| self.err(e))?;
        let found = kv.get(key).map_err(|e| self.err(e))?;
        found.map(|g| self.decode(key, g.value())).transpose()
    }

    fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Page, Error> {
        let rtx = self.db.begin_read().map_err(|e| self.err(e))?;
        let kv = rtx.open_table(KV).map_err(|e| self.err(e))?;
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let range = kv.range::<&str>((lower, Bound::Unbounded)).map_err(|e| self.err(e))?;
        let mut page = Page::default();
        for item in range {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            if page.entries.len() == limit {
                page.more = true;
                break;
            }
            let entry = self.decode(key, v.value())?;
            page.entries.push((key.to_owned(), entry));
        }
        Ok(page)
    }

    fn revision(&self) -> Result<u64, Error> {
        let rtx = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = rtx.open_table(META).map_err(|e| self.err(e))?;
        let rev = meta.get(META_REVISION).map_err(|e| self.err(e))?;
        Ok(rev.map(|g| g.value()).unwrap_or(0))
    }

    fn txn(&self, txn: &Txn) -> Result<TxnOutcome, Error> {
        // A poisoned lock only means another writer panicked; the database is transactional.
        let _writer = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let wtx = self.db.begin_write().map_err(|e| self.err(e))?;
        let mut events = Vec::new();
        let outcome = {
            let mut kv = wtx.open_table(KV).map_err(|e| self.err(e))?;
            let mut meta = wtx.open_table(META).map_err(|e| self.err(e))?;
            let current = meta
                .get(META_REVISION)
                .map_err(|e| self.err(e))?
                .map(|g| g.value())
                .unwrap_or(0);
            let mut holds = true;
            for compare in txn.compares() {
                let found = kv.get(compare.key()).map_err(|e| self.err(e))?;
                let revision = found
                    .map(|g| self.decode(compare.key(), g.value()))
                    .transpose()?
                    .map(|e| e.revision);
                if !compare.holds(revision) {
                    holds = false;
                    break;
                }
            }
            if !holds {
                TxnOutcome::Conflict { revision: current }
            } else {
                let next = current
                    .checked_add(1)
                    .ok_or_else(|| Error::Backend("store revision counter overflowed".into()))?;
                let mut buf = Vec::new();
                for op in txn.ops() {
                    match op {
                        Op::Put { key, value } => {
                            buf.clear();
                            buf.extend_from_slice(&next.to_be_bytes());
                            buf.extend_from_slice(value);
                            kv.insert(key.as_str(), buf.as_slice()).map_err(|e| self.err(e))?;
                            events.push(WatchEvent::Put {
                                key: key.clone(),
                                entry: Entry {
                                    value: value.clone(),
                                    revision: next,
                                },
                            });
                        }
                        Op::Delete { key } => {
                            if kv.remove(key.as_str()).map_err(|e| self.err(e))?.is_some() {
                                events.push(WatchEvent::Delete {
                                    key: key.clone(),
                                    revision: next,
                                });
                            }
                        }
                    }
                }
                if events.is_empty() {
                    TxnOutcome::Committed { revision: current }
                } else {
                    meta.insert(META_REVISION, next).map_err(|e| self.err(e))?;
                    TxnOutcome::Committed { revision: next }
                }
            }
        };
        if events.is_empty() {
            wtx.abort().map_err(|e| self.err(e))?;
        } else {
            wtx.commit().map_err(|e| self.err(e))?;
            // No receivers is not an error: nobody is watching.
            let _ = self.events.send(events.into());
        }
        Ok(outcome)
    }

    fn decode(&self, key: &str, raw: &[u8]) -> Result<Entry, Error> {
        let corrupt = || Error::Corrupt {
            path: self.path.clone(),
            detail: format!(
                "the record of key {key:?} is {} bytes, shorter than its revision",
                raw.len()
            ),
        };
        let (rev, value) = raw.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let revision = u64::from_be_bytes(*rev);
        if revision == 0 {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                detail: format!("the record of key {key:?} has revision 0"),
            });
        }
        Ok(Entry {
            value: value.to_vec(),
            revision,
        })
    }
}

impl Store for RedbStore {
    async fn get(&self, key: &str) -> Result<Option<Entry>, Error> {
        crate::check_key(key)?;
        let key = key.to_owned();
        self.with_inner(move |inner| inner.get(&key)).await
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Page, Error> {
        let prefix = prefix.to_owned();
        let start_after = start_after.map(str::to_owned);
        self.with_inner(move |inner| inner.list(&prefix, start_after.as_deref(), limit))
            .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, Error> {
        txn.validate()?;
        self.with_inner(move |inner| inner.txn(&txn)).await
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, Error> {
        let mut events = self.inner.events.subscribe();
        let prefix = prefix.to_owned();
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(batch) => {
                        for event in batch.iter().filter(|e| e.key().starts_with(&prefix)) {
                            if tx.send(Ok(event.clone())).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        if tx.send(Err(Error::WatchLagged { missed })).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Watch::new(rx, task))
    }

    async fn revision(&self) -> Result<u64, Error> {
        self.with_inner(Inner::revision).await
    }
}

/// Runs blocking redb work on tokio's blocking pool.
///
/// redb panics on some damage it meets after open (it verifies checksums on open only); such a
/// panic is caught here and reported as [`Error::Corrupt`] instead of taking the server down.
async fn run_blocking<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => {
            let payload = join.into_panic();
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            tracing::error!(path = %path.display(), "redb panicked: {msg}");
            Err(Error::Corrupt {
                path: path.to_path_buf(),
                detail: format!("the database engine panicked: {msg}"),
            })
        }
        Err(join) => Err(Error::Backend(format!("store task was cancelled: {join}"))),
    }
}

/// Maps redb's errors to the store's, naming the file.
fn map_err(path: &Path, err: redb::Error) -> Error {
    let path = path.to_path_buf();
    match err {
        redb::Error::DatabaseAlreadyOpen => Error::Locked { path },
        redb::Error::Corrupted(detail) => Error::Corrupt { path, detail },
        redb::Error::UpgradeRequired(version) => Error::Corrupt {
            path,
            detail: format!("file format version {version} needs an upgrade this build of redb cannot do"),
        },
        redb::Error::Io(source)
            if matches!(
                source.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            let truncated = source.kind() == std::io::ErrorKind::UnexpectedEof;
            let detail = if truncated {
                format!("{source} (the file is truncated)")
            } else {
                source.to_string()
            };
            Error::Corrupt { path, detail }
        }
        redb::Error::Io(source) => Error::Io { path, source },
        redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. } => Error::Corrupt {
            path,
            detail: err.to_string(),
        },
        other => Error::Backend(other.to_string()),
    }
}
