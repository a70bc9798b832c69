//! The whole server, wired: what `irsa webhook [flags]` runs.
//!
//! [`run`] loads the TLS certificate (hot-reloaded), resolves `--compose-role-arn` through EC2
//! IMDSv2, builds the kube-rs client, starts the ServiceAccount watch (readiness after the first
//! list), the optional ConfigMap watch and Pod Identity file watch, then serves the webhook port
//! (HTTPS) and the metrics port (HTTP) until `shutdown` resolves.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{ComposeRoleArn, ConfigError, WebhookArgs};
use crate::k8s::{ApiFetcher, KubeError};
use crate::server::{AppState, metrics_router, router, serve_http, serve_https};
use crate::store::IdentityStore;
use crate::tls::{ReloadingCertResolver, TlsError};

/// Version reported by `--version` (upstream printed a hard-coded `v0.1.0`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How often the TLS files are re-read.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Fatal start-up errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// TLS files or flags.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Kubernetes client.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// Flag values.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--compose-role-arn` needs the instance identity document.
    #[error("--compose-role-arn: cannot read the EC2 instance identity document: {0}")]
    Imds(String),
    /// Binding a port failed.
    #[error("cannot listen on port {port}: {source}")]
    Bind {
        /// Port.
        port: u16,
        /// Cause.
        source: std::io::Error,
    },
    /// A server stopped with an error.
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
}

async fn bind(port: u16) -> Result<TcpListener, RunError> {
    // All interfaces, like Go's ":port": dual-stack where available, else IPv4.
    match TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))).await {
        Ok(l) => Ok(l),
        Err(_) => TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
            .await
            .map_err(|source| RunError::Bind { port, source }),
    }
}

/// Resolves on SIGTERM or SIGINT (pass to [`run`]). If the signal handlers cannot be installed,
/// it never resolves (and logs why).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
            }
        }
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "cannot install signal handlers");
            std::future::pending::<()>().await;
        }
    }
}

/// Runs the webhook until `shutdown` resolves. `--version` is the caller's business (print
/// [`VERSION`] and exit before calling this).
pub async fn run<F>(args: &WebhookArgs, shutdown: F) -> Result<(), RunError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let server = args.server_config();
    let mut mutation = args.mutation_config();
    if mutation.token_expiration != args.mutation.token_expiration {
        tracing::warn!(
            requested = args.mutation.token_expiration,
            used = mutation.token_expiration,
            "--token-expiration below the 600 s minimum; clamped"
        );
    }

    if server.compose_role_arn {
        let doc = crate::imds::instance_identity(Duration::from_secs(5))
            .await
            .map_err(|e| RunError::Imds(e.to_string()))?;
        mutation.compose_role_arn = Some(ComposeRoleArn::from_region(&doc.account_id, &doc.region)?);
        tracing::info!(account = %doc.account_id, region = %doc.region, "role ARN composition enabled");
    }

    if server.in_cluster {
        tracing::warn!(
            "--in-cluster=true selects upstream's deprecated CSR certificate flow, which is not \
             implemented; serving --tls-cert/--tls-key (use --in-cluster=false to silence this)"
        );
    }
    let resolver = Arc::new(ReloadingCertResolver::load(
        &server.tls_cert,
        &server.tls_key,
        Arc::new(crate::tls::provider()),
    )?);
    let tls = crate::tls::server_config(&server.tls_min_version, &server.tls_cipher_suites, resolver.clone())?;

    let client = crate::k8s::client(&server).await?;
    let mut store = IdentityStore::new();
    if !server.service_account_lookup_grace_period.is_zero() {
        store = store.with_fetcher(Arc::new(ApiFetcher::new(
            client.clone(),
            mutation.annotation_prefix.clone(),
        )));
    }
    let store = Arc::new(store);

    let mut tasks = vec![
        resolver.spawn_reloader(CERT_POLL_INTERVAL),
        tokio::spawn(crate::k8s::watch_service_accounts(
            client.clone(),
            store.clone(),
            mutation.annotation_prefix.clone(),
        )),
    ];
    if server.watch_config_map {
        tasks.push(tokio::spawn(crate::k8s::watch_config_map(
            client.clone(),
            store.clone(),
            server.namespace.clone(),
        )));
    }
    if !server.watch_container_credentials_config.is_empty() {
        tasks.push(tokio::spawn(crate::watch::watch_container_credentials(
            PathBuf::from(&server.watch_container_credentials_config),
            store.clone(),
            crate::watch::DEFAULT_POLL_INTERVAL,
        )));
    }

    let mut state = AppState::new(store, mutation);
    state.grace = server.service_account_lookup_grace_period;
    state.debugging_handlers = server.enable_debugging_handlers;

    let https = bind(server.port).await?;
    let http = bind(server.metrics_port).await?;
    tracing::info!(
        port = server.port,
        metrics_port = server.metrics_port,
        "pod identity webhook listening"
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let webhook = serve_https(https, router(state.clone()), Arc::new(tls), stopped(stop_rx.clone()));
    let metrics = serve_http(http, metrics_router(state), stopped(stop_rx));
    let (a, b) = tokio::join!(webhook, metrics);
    for t in tasks {
        t.abort();
    }
    a?;
    b?;
    Ok(())
}
