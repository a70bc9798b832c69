//! Kubernetes access with kube-rs: the ServiceAccount watch feeding the [`IdentityStore`]
//! (metadata only, keeping nothing but parsed `<prefix>/…` annotations), the bounded API
//! look-up on a cache miss, and the `pod-identity-webhook` ConfigMap watch.
//!
//! The ServiceAccount watch uses `metadata_watcher` (`PartialObjectMetadata`: no secrets, no
//! image-pull secrets are transferred or decoded) and replaces the store atomically at the end
//! of every (re-)list, which is also when the store is marked synced (readiness).

use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Config, ResourceExt};

use crate::annotations::ServiceAccountInfo;
use crate::config::{CONFIG_MAP_NAME, ServerConfig};
use crate::sources::ConfigMapMapping;
use crate::store::{FetchFuture, IdentityStore, ServiceAccountFetcher};

/// Errors building a client.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// Reading or interpreting `--kubeconfig` failed.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// No configuration could be inferred (not in a cluster, no kubeconfig).
    #[error("cannot infer Kubernetes configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// `--kube-api` is not a URL.
    #[error("invalid --kube-api {0:?}")]
    KubeApi(String),
    /// Building the client failed.
    #[error("kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// Builds a client as upstream does from `--kubeconfig` / `--kube-api` (both empty ⇒ in-cluster,
/// or the usual `KUBECONFIG` inference).
pub async fn client(server: &ServerConfig) -> Result<Client, KubeError> {
    let mut config = if server.kubeconfig.is_empty() {
        Config::infer().await?
    } else {
        let kubeconfig = kube::config::Kubeconfig::read_from(&server.kubeconfig)?;
        Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?
    };
    if !server.kube_api.is_empty() {
        config.cluster_url = server
            .kube_api
            .parse()
            .map_err(|_| KubeError::KubeApi(server.kube_api.clone()))?;
    }
    Ok(Client::try_from(config)?)
}

fn info_of(prefix: &str, meta: &PartialObjectMeta<ServiceAccount>) -> ServiceAccountInfo {
    ServiceAccountInfo::from_annotations(prefix, meta.annotations().iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Buffer of a (re-)list in progress.
#[derive(Debug, Default)]
pub struct ListBuffer(Vec<(String, String, ServiceAccountInfo)>);

/// Applies one watch event to the store.
pub fn apply_service_account_event(
    store: &IdentityStore,
    prefix: &str,
    buffer: &mut ListBuffer,
    event: Event<PartialObjectMeta<ServiceAccount>>,
) {
    match event {
        Event::Init => buffer.0.clear(),
        Event::InitApply(meta) => {
            let info = info_of(prefix, &meta);
            buffer
                .0
                .push((meta.namespace().unwrap_or_default(), meta.name_any(), info));
        }
        Event::InitDone => {
            store.replace_all(std::mem::take(&mut buffer.0));
            if !store.is_synced() {
                tracing::info!(
                    annotated = store.annotated_len(),
                    plain = store.plain_len(),
                    "service account cache synced"
                );
            }
            store.set_synced(true);
        }
        Event::Apply(meta) => {
            let info = info_of(prefix, &meta);
            store.upsert(&meta.namespace().unwrap_or_default(), &meta.name_any(), info);
        }
        Event::Delete(meta) => {
            store.remove(&meta.namespace().unwrap_or_default(), &meta.name_any());
        }
    }
}

/// Watches every ServiceAccount of the cluster into `store`, forever (errors are retried with
/// kube-runtime's default backoff and logged).
pub async fn watch_service_accounts(client: Client, store: Arc<IdentityStore>, prefix: String) {
    // `Api<PartialObjectMeta<_>>` makes metadata-only list/watch requests. The list is paginated
    // (500 per page; not `any_semantic`, whose resourceVersion=0 list is served unpaginated from
    // the watch cache): peak memory stays bounded with 100k+ accounts.
    let api: Api<PartialObjectMeta<ServiceAccount>> = Api::all(client);
    let stream = watcher::watcher(api, watcher::Config::default().page_size(500)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut buffer = ListBuffer::default();
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => apply_service_account_event(&store, &prefix, &mut buffer, event),
            Err(error) => tracing::warn!(%error, "service account watch error"),
        }
    }
}

/// Applies one ConfigMap watch event. A malformed `data.config` keeps the previous mapping (as
/// upstream); a deleted ConfigMap clears it (upstream kept it until restart).
pub fn apply_config_map_event(store: &IdentityStore, seen: &mut bool, event: Event<ConfigMap>) {
    match event {
        Event::Init => *seen = false,
        Event::InitApply(cm) | Event::Apply(cm) => {
            if cm.name_any() != CONFIG_MAP_NAME {
                return;
            }
            *seen = true;
            let config = cm.data.as_ref().and_then(|d| d.get("config"));
            match config.map_or_else(|| Ok(ConfigMapMapping::default()), |c| ConfigMapMapping::parse(c)) {
                Ok(mapping) => {
                    for key in &mapping.rejected_keys {
                        tracing::warn!(key, "config map key without '/' ignored");
                    }
                    tracing::info!(entries = mapping.len(), "config map mapping loaded");
                    store.set_config_map(Some(mapping));
                }
                Err(error) => {
                    tracing::error!(%error, "invalid pod-identity-webhook config map; keeping the previous mapping");
                }
            }
        }
        Event::Delete(cm) => {
            if cm.name_any() == CONFIG_MAP_NAME {
                tracing::info!("config map deleted; mapping cleared");
                store.set_config_map(None);
            }
        }
        Event::InitDone => {
            if !*seen {
                store.set_config_map(None);
            }
        }
    }
}

/// Watches ConfigMap `pod-identity-webhook` in `namespace` (`--watch-config-map`), forever.
pub async fn watch_config_map(client: Client, store: Arc<IdentityStore>, namespace: String) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP_NAME}"));
    let stream = watcher::watcher(api, config).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut seen = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => apply_config_map_event(&store, &mut seen, event),
            Err(error) => tracing::warn!(%error, "config map watch error"),
        }
    }
}

/// Fetches one ServiceAccount's metadata from the API server (cache-miss fallback).
#[derive(Clone)]
pub struct ApiFetcher {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for ApiFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiFetcher")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ApiFetcher {
    /// A fetcher reading annotations with `prefix`.
    #[must_use]
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }
}

impl ServiceAccountFetcher for ApiFetcher {
    fn fetch<'a>(&'a self, namespace: &'a str, name: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
            match api.get_metadata_opt(name).await {
                Ok(Some(meta)) => Ok(Some(info_of(&self.prefix, &meta))),
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}
