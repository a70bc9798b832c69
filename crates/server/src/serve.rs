//! Starting the service: store, IAM, STS, listener.

use crate::seed::{Seed, SeedReport};
use crate::service::{App, ServerError, router};
use irsa_store::{AnyStore, EtcdConfig, EtcdStore, RedbStore};
use irsa_sts::{Sts, StsConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the service keeps its state.
#[derive(Debug, Clone, Default)]
pub enum StoreChoice {
    /// The embedded redb store in the data directory: one server.
    #[default]
    Embedded,
    /// An etcd cluster: replicas on the same endpoints and prefix are one service (they share
    /// IAM's entities, the root access key and the session-token key ring).
    Etcd(EtcdConfig),
    /// In memory only (redb's in-memory backend): nothing is written to disk, not even the
    /// root credentials file, and the state ends with the process; for CI.
    Memory,
}

impl StoreChoice {
    /// `embedded`, `etcd` or `memory`: what `/healthz` reports.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            StoreChoice::Embedded => "embedded",
            StoreChoice::Etcd(_) => "etcd",
            StoreChoice::Memory => "memory",
        }
    }

    /// What an operator is told about the store: never a key or a secret.
    fn describe(&self, data_dir: &std::path::Path) -> String {
        match self {
            StoreChoice::Embedded => format!("embedded, in {}", data_dir.display()),
            StoreChoice::Memory => "in memory, nothing written to disk".to_owned(),
            StoreChoice::Etcd(c) => {
                let tls = match &c.tls {
                    None => "",
                    Some(t) if t.client_identity.is_some() => ", TLS with a client certificate",
                    Some(_) => ", TLS",
                };
                format!("etcd at {}, prefix {:?}{tls}", c.endpoints.join(","), c.namespace)
            }
        }
    }
}

/// How `irsa server` runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the root credentials file lives, and the embedded store when it is the choice.
    pub data_dir: PathBuf,
    /// The store: embedded, or etcd.
    pub store: StoreChoice,
    /// The account (12 digits).
    pub account: String,
    /// The region the service answers for.
    pub region: String,
    /// The partition (`aws`).
    pub partition: String,
    /// Root credentials to use; generated at first start when absent.
    pub root_access_key: Option<(String, String)>,
    /// Extra CA bundle (PEM) for issuers' HTTPS.
    pub oidc_ca_pem: Option<Vec<u8>>,
    /// Accept `http://` issuers (development only).
    pub allow_http_issuers: bool,
    /// Trust-policy size limit (ACLSizePerRole).
    pub trust_limit: usize,
    /// Entities to create (or bring to the seed's state) before the service listens.
    pub seed: Option<Seed>,
    /// Connection limits of the listener.
    pub http: irsa_serve::Limits,
}

impl ServerConfig {
    /// `irsa server`'s defaults with this data directory: 127.0.0.1:4566, account
    /// `000000000000` in `us-east-1` (`aws`), the embedded store, generated root credentials, no
    /// extra CA, https issuers only, AWS's 2,048-character trust-policy limit.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            data_dir: data_dir.into(),
            store: StoreChoice::Embedded,
            account: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            partition: "aws".to_owned(),
            root_access_key: None,
            oidc_ca_pem: None,
            allow_http_issuers: false,
            trust_limit: 2048,
            seed: None,
            http: irsa_serve::Limits::default(),
        }
    }
}

/// The file that holds the root credentials, in the AWS credentials-file format.
pub const ROOT_CREDENTIALS_FILE: &str = "root-credentials";

fn write_root_credentials(dir: &std::path::Path, id: &str, secret: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    let path = dir.join(ROOT_CREDENTIALS_FILE);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path)?;
    writeln!(
        f,
        "[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}"
    )?;
    Ok(path)
}

/// A secret that `Debug` does not print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a started service tells its operator.
#[derive(Debug, Clone)]
pub struct Started {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The root credentials file; `None` on the in-memory store, which writes no file.
    pub root_credentials_file: Option<PathBuf>,
    /// The root access key id (the secret is only in the file).
    pub root_access_key_id: String,
    /// The generated root secret of an in-memory service started without root keys: it has no
    /// file to put it in, and its operator needs it (it dies with the process).
    pub ephemeral_root_secret: Option<Secret>,
    /// Which store it runs on (`embedded, in DIR` or `etcd at URLS, prefix "P"`), for logs.
    pub store: String,
    /// What applying the seed did, when there was one.
    pub seeded: Option<SeedReport>,
}

/// Opens the chosen store, starts IAM and STS, binds the listener and
/// serves until `shutdown` resolves. `on_start` is told where the service is.
pub async fn serve(
    config: ServerConfig,
    on_start: impl FnOnce(&Started),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_with(config, axum::Router::new(), on_start, shutdown).await
}

/// [`serve`], with `extra` routes on the same listener (`irsa up` serves its
/// cluster's OIDC issuer documents there). The service's own paths (`/`,
/// `/healthz`, `/metrics`) win; `extra` may carry a fallback.
pub async fn serve_with(
    config: ServerConfig,
    extra: axum::Router,
    on_start: impl FnOnce(&Started),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let in_memory = matches!(config.store, StoreChoice::Memory);
    if !in_memory {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    }
    let store_description = config.store.describe(&config.data_dir);
    let store = match &config.store {
        StoreChoice::Embedded => AnyStore::from(RedbStore::open(&config.data_dir).await?),
        StoreChoice::Memory => AnyStore::from(RedbStore::in_memory()?),
        // Bounded by the config's connect and request timeouts: an unreachable etcd is an error,
        // not a hang.
        StoreChoice::Etcd(etcd) => AnyStore::from(EtcdStore::connect(etcd.clone()).await?),
    };
    let mut sts_config = StsConfig::new(config.account.clone());
    sts_config.partition = config.partition.clone();
    sts_config.region = config.region.clone();
    sts_config.root_access_key = config.root_access_key.clone();
    sts_config.fetch.allow_http = config.allow_http_issuers;
    sts_config.fetch.extra_ca_pem = config.oidc_ca_pem.clone();
    let sts = Sts::open(store.clone(), sts_config).await?;
    let limits = irsa_policy::Limits {
        trust: config.trust_limit,
        ..irsa_policy::Limits::default()
    };
    let iam = irsa_iam::Iam::new(
        store,
        config.account.clone(),
        config.partition.clone(),
        limits,
        Box::new(irsa_iam::SystemRandom::new()),
    )
    .allow_local_issuers(config.allow_http_issuers);
    let seeded = match &config.seed {
        Some(seed) => Some(seed.apply(&iam, &config.partition, unix_now()).await?),
        None => None,
    };
    let (id, secret) = sts.root_credentials();
    let (file, ephemeral_root_secret) = if in_memory {
        (None, config.root_access_key.is_none().then_some(Secret(secret)))
    } else {
        let file = write_root_credentials(&config.data_dir, &id, &secret).map_err(|source| ServerError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        (Some(file), None)
    };
    let app = Arc::new(
        App::new(iam, sts, config.region.clone(), config.partition.clone(), false).with_store_kind(config.store.kind()),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Listen {
        addr: config.listen,
        source,
    })?;
    on_start(&Started {
        addr,
        root_credentials_file: file,
        root_access_key_id: id,
        ephemeral_root_secret,
        store: store_description,
        seeded,
    });
    irsa_serve::serve(
        listener,
        router(app).merge(extra),
        irsa_serve::Tls::None,
        config.http.clone(),
        Arc::default(),
        shutdown,
    )
    .await
    .map_err(|source| ServerError::Listen { addr, source })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A service running in a task of the current tokio runtime ([`spawn`]). Dropping it (or
/// [`RunningServer::stop`]) shuts the service down gracefully.
#[derive(Debug)]
pub struct RunningServer {
    started: Started,
    // Dropping the sender resolves the service's shutdown future.
    stop: tokio::sync::oneshot::Sender<()>,
    task: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
}

fn joined(r: Result<Result<(), ServerError>, tokio::task::JoinError>) -> Result<(), ServerError> {
    r.map_err(|e| ServerError::Task(e.to_string()))?
}

impl RunningServer {
    /// Where the service is.
    #[must_use]
    pub fn started(&self) -> &Started {
        &self.started
    }

    /// `http://ADDR`, the endpoint URL for AWS clients.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.started.addr)
    }

    /// Resolves when the service ends without being asked to (its error, if any); pending
    /// forever once that has been reported. Cancel-safe, for `select!` loops.
    pub async fn ended(&mut self) -> Result<(), ServerError> {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let result = joined(task.await);
        self.task = None;
        result
    }

    /// Shuts the service down and waits until it has let go of its store and listener.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        let _ = self.stop.send(());
        match self.task.take() {
            Some(task) => joined(task.await),
            None => Ok(()),
        }
    }
}

/// [`spawn_with`] without extra routes.
pub async fn spawn(config: ServerConfig) -> Result<RunningServer, ServerError> {
    spawn_with(config, axum::Router::new()).await
}

/// Starts [`serve_with`] in a task and returns once it listens, or with the error that kept it
/// from listening (port taken, store locked, etcd unreachable, ...).
pub async fn spawn_with(config: ServerConfig, extra: axum::Router) -> Result<RunningServer, ServerError> {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(
        config,
        extra,
        move |s| {
            let _ = started_tx.send(s.clone());
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    match started_rx.await {
        Ok(started) => Ok(RunningServer {
            started,
            stop,
            task: Some(task),
        }),
        // `on_start` was dropped unsent: the service ended before listening.
        Err(_) => Err(match joined(task.await) {
            Err(e) => e,
            Ok(()) => ServerError::Task("the service stopped before it listened".to_owned()),
        }),
    }
}
