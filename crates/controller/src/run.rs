//! `irsa profile-controller`: the client, the IAM client, leader election through a
//! `coordination.k8s.io` Lease, the metrics/health server and the kube-runtime Controller.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Client, Config};

use crate::config::{ConfigError, ControllerArgs};
use crate::crd::Profile;
use crate::iam::SdkRoleTrust;
use crate::reconcile::{Context, Metrics, authorization_policy_resource, error_policy, reconcile};
use crate::trust::TrustEditLoop;

/// The Lease name.
pub const LEASE_NAME: &str = "irsa-profile-controller";

/// Fatal errors of [`run`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Flags.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading the kubeconfig.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// Inferring the configuration.
    #[error("cannot infer Kubernetes configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// The client or API.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// The metrics port.
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A bad `IRSA_HTTP_*` connection limit.
    #[error("connection limits: {0}")]
    Limits(#[source] irsa_serve::LimitsError),
    /// Leadership was lost; the process should exit and restart.
    #[error("lost the leader-election lease {0}")]
    LeaseLost(String),
}

/// A Lease-based leader lock.
#[derive(Debug, Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

fn micro_now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl LeaseLock {
    /// A lock on Lease `name` in `namespace`, held as `identity` for `duration` per renewal.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, duration: Duration) -> Self {
        LeaseLock {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }

    fn spec(&self, transitions: i32, acquire: Option<MicroTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.duration.as_secs()).unwrap_or(15)),
            acquire_time: Some(acquire.unwrap_or_else(micro_now)),
            renew_time: Some(micro_now()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Acquires or renews the lease: `true` when this identity holds it afterwards. Optimistic
    /// concurrency (the read `resourceVersion`) makes two candidates never both win.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let conflict = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 409);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == self.identity;
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let secs = i64::from(spec.lease_duration_seconds.unwrap_or(15));
            let age = k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second();
            age > secs
        });
        if !(mine || holder.is_empty() || expired) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquire = if mine { spec.acquire_time.clone() } else { None };
        lease.spec = Some(self.spec(transitions, acquire));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

async fn client(args: &ControllerArgs) -> Result<Client, RunError> {
    let config = match &args.kubeconfig {
        None => Config::infer().await?,
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
            Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?
        }
    };
    Ok(Client::try_from(config)?)
}

async fn serve_metrics(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    iam: SdkRoleTrust,
    ready: Arc<AtomicBool>,
) -> Result<(), RunError> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::Relaxed) {
                        (axum::http::StatusCode::OK, "ok")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "not leading yet")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                let iam = iam.clone();
                async move { metrics.render(Some(iam.calls())) }
            }),
        );
    let limits = irsa_serve::Limits::from_env().map_err(RunError::Limits)?;
    tokio::spawn(async move {
        let stats = Arc::default();
        if let Err(error) = irsa_serve::serve(
            listener,
            app,
            irsa_serve::Tls::None,
            limits,
            stats,
            std::future::pending(),
        )
        .await
        {
            tracing::error!(%error, "metrics server stopped");
        }
    });
    Ok(())
}

/// The Profiles that own an object, by name only (Profiles are cluster-scoped, whatever the
/// namespace of the object that names them).
pub fn owning_profiles(meta: &ObjectMeta) -> Vec<ObjectRef<Profile>> {
    meta.owner_references
        .iter()
        .flatten()
        .filter(|o| o.kind == "Profile" && o.api_version.split('/').next() == Some("kubeflow.org"))
        .map(|o| ObjectRef::new(&o.name))
        .collect()
}

/// Runs the controller until `shutdown` resolves (or leadership is lost: an error, so the process
/// exits and its replacement campaigns again).
pub async fn run(args: ControllerArgs, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    let config = args.config()?;
    if config.aws.allowed_role_patterns.is_empty() && config.aws.required_role_tag.is_none() {
        tracing::warn!(
            "no --allowed-role or --required-role-tag: any Profile author can put any role of the account in the trust edit"
        );
    }
    let client = client(&args).await?;
    let iam = SdkRoleTrust::from_env(args.endpoint_url.clone(), args.iam_qps).await;
    let mut edits = TrustEditLoop::new(iam.clone());
    edits.limit = config.aws.trust_limit;
    edits.audience = Some(config.aws.audience.clone());
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    serve_metrics(args.metrics_addr, metrics.clone(), iam, ready.clone()).await?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (lost_tx, mut lost_rx) = tokio::sync::mpsc::channel::<String>(1);
    let mut shutdown = Box::pin(shutdown);

    if args.leader_elect {
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("irsa-profile-controller-{}", std::process::id()));
        let lock = LeaseLock::new(
            client.clone(),
            &args.leader_election_namespace,
            LEASE_NAME,
            &identity,
            Duration::from_secs(15),
        );
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                r = lock.try_acquire_or_renew() => match r {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "leader election"),
                },
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        tracing::info!(%identity, "leading");
        tokio::spawn(async move {
            let mut last_ok = std::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                match lock.try_acquire_or_renew().await {
                    Ok(true) => last_ok = std::time::Instant::now(),
                    Ok(false) => {
                        let _ = lost_tx.send("another replica holds it".into()).await;
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "lease renewal failed");
                        if last_ok.elapsed() > Duration::from_secs(10) {
                            let _ = lost_tx.send(error.to_string()).await;
                            return;
                        }
                    }
                }
            }
        });
    }
    ready.store(true, Ordering::Relaxed);

    let recorder = crate::events::Publisher::new(
        client.clone(),
        crate::events::Reporter {
            controller: "irsa-profile-controller".into(),
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| "irsa-profile-controller".into()),
        },
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        config,
        edits: Arc::new(edits),
        recorder: Some(recorder),
        metrics,
        resync: args.resync(),
        full_retry: Duration::from_secs(1800),
    });
    let lost = Arc::new(std::sync::Mutex::new(None::<String>));
    let lost_writer = lost.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => {}
            reason = lost_rx.recv() => {
                if let (Some(reason), Ok(mut slot)) = (reason, lost_writer.lock()) {
                    *slot = Some(reason);
                }
            }
        }
        let _ = stop_tx.send(());
    });
    let wc = watcher::Config::default();
    // Not `owns`: kube-runtime gives an owner found on a namespaced child the child's namespace,
    // so a change to team-a's ServiceAccount asked for Profile `team-a.team-a`, which does not
    // exist, and was dropped. Profiles are cluster-scoped: map owners by name only.
    Controller::new(Api::<Profile>::all(client.clone()), wc.clone())
        .watches(Api::<Namespace>::all(client.clone()), wc.clone(), |o| {
            owning_profiles(&o.metadata)
        })
        .watches(Api::<ServiceAccount>::all(client.clone()), wc.clone(), |o| {
            owning_profiles(&o.metadata)
        })
        .watches(Api::<RoleBinding>::all(client.clone()), wc.clone(), |o| {
            owning_profiles(&o.metadata)
        })
        .watches(Api::<ResourceQuota>::all(client.clone()), wc.clone(), |o| {
            owning_profiles(&o.metadata)
        })
        .watches_with(
            Api::<DynamicObject>::all_with(client.clone(), &authorization_policy_resource()),
            authorization_policy_resource(),
            wc,
            |o| owning_profiles(&o.metadata),
        )
        .graceful_shutdown_on(async move {
            let _ = stop_rx.await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(error) = r {
                tracing::debug!(%error, "controller");
            }
        })
        .await;
    let reason = lost.lock().ok().and_then(|mut s| s.take());
    match reason {
        Some(reason) => Err(RunError::LeaseLost(reason)),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    #[test]
    fn owners_of_namespaced_objects_map_to_profiles_by_name_only() {
        let owner = |api_version: &str, kind: &str, name: &str| OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: "u".into(),
            ..OwnerReference::default()
        };
        let meta = ObjectMeta {
            name: Some("default-editor".into()),
            namespace: Some("team-a".into()),
            owner_references: Some(vec![
                owner("kubeflow.org/v1", "Profile", "team-a"),
                owner("kubeflow.org/v1beta1", "Profile", "team-b"),
                owner("apps/v1", "Deployment", "x"),
                owner("example.com/v1", "Profile", "other"),
            ]),
            ..ObjectMeta::default()
        };
        let refs = owning_profiles(&meta);
        assert_eq!(refs, vec![ObjectRef::new("team-a"), ObjectRef::new("team-b")]);
        assert!(refs.iter().all(|r| r.namespace.is_none()));
        assert!(owning_profiles(&ObjectMeta::default()).is_empty());
    }
}
