//! HTTP layer: the axum routers and the HTTPS accept loop.
//!
//! * [`router`] (webhook port, HTTPS): `/mutate`, `/healthz`, `/readyz`, `/metrics`;
//! * [`metrics_router`] (`--metrics-port`, plain HTTP): `/metrics`, `/healthz`, `/readyz`, and
//!   with `--enable-debugging-handlers` `/debug/alpha/cache`;
//! * [`serve_https`]: rustls + hyper-util (HTTP/1.1 and h2), graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tokio::net::TcpListener;

use crate::admission::{Decision, ReviewContext, review};
use crate::config::MutationConfig;
use crate::metrics::Metrics;
use crate::mutate::{DefaultRandom, RandomSource};
use crate::store::IdentityStore;

/// Default maximum request body (AdmissionReview) size: 6 MiB. Pods are limited to ~1.5 MB by
/// etcd; a review carries at most the object and the old object.
pub const DEFAULT_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Maximum time to receive a request and answer it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Upstream's 415 body.
pub const BAD_CONTENT_TYPE: &str = "Invalid Content-Type, expected `application/json`\n";

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Identity store (ServiceAccounts, ConfigMap mapping, Pod Identity associations).
    pub store: Arc<IdentityStore>,
    /// Mutation flags.
    pub config: Arc<MutationConfig>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Jitter source.
    pub random: Arc<dyn RandomSource>,
    /// `--service-account-lookup-grace-period`.
    pub grace: Duration,
    /// Maximum body size for `/mutate`.
    pub max_body_bytes: usize,
    /// `--enable-debugging-handlers`.
    pub debugging_handlers: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("config", &self.config)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State with default randomness, metrics and body limit.
    #[must_use]
    pub fn new(store: Arc<IdentityStore>, config: MutationConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            random: Arc::new(DefaultRandom::default()),
            grace: Duration::ZERO,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            debugging_handlers: false,
        }
    }
}

/// Router for the webhook (TLS) port.
pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .route("/mutate", any(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.debugging_handlers {
        r = r
            .route("/debug/alpha/deny", any(debug_deny))
            .route("/debug/alpha/500", any(debug_500));
    }
    r.layer(DefaultBodyLimit::max(state.max_body_bytes))
        // Slow clients (e.g. a body trickling in) cannot hold a handler forever.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Router for the metrics (plain HTTP) port.
pub fn metrics_router(state: AppState) -> Router {
    let mut r = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.debugging_handlers {
        r = r.route("/debug/alpha/cache", get(debug_cache));
    }
    r.with_state(state)
}

async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let verb = request.method().as_str().to_owned();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if path == "/mutate" {
        state.metrics.observe_request(&verb, &path, status, start.elapsed());
    }
    if status >= 400 {
        tracing::warn!(%path, method = %verb, status, %user_agent, "request failed");
    } else {
        tracing::debug!(%path, method = %verb, status, %user_agent, elapsed_us = start.elapsed().as_micros(), "served");
    }
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

async fn mutate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_json(&headers) {
        tracing::warn!(
            content_type = ?headers.get(header::CONTENT_TYPE),
            "rejecting /mutate request with unexpected content type"
        );
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            BAD_CONTENT_TYPE,
        )
            .into_response();
    }
    let ctx = ReviewContext {
        store: &state.store,
        config: &state.config,
        random: state.random.as_ref(),
        grace: state.grace,
    };
    let answer = review(&body, &ctx).await;
    state.metrics.observe_decision(&answer.decision);
    let subject = answer.subject.as_deref().unwrap_or("-");
    let pod = answer.pod_name.as_deref().unwrap_or("-");
    match &answer.decision {
        Decision::Rejected(reason) => {
            tracing::warn!(%reason, service_account = subject, pod, "admission review rejected");
        }
        Decision::Ignored(reason) => tracing::info!(%reason, pod, "admission review ignored"),
        Decision::VolumeConflict(mode) => tracing::warn!(
            mode = mode.as_str(),
            service_account = subject,
            pod,
            "pod was not mutated: it has a volume of the token volume's name that is not a projected token"
        ),
        Decision::Mutated { mode, operations } => tracing::debug!(
            mode = mode.as_str(),
            operations,
            service_account = subject,
            pod,
            "pod was mutated"
        ),
        Decision::NoIdentity { missing: true } => tracing::debug!(
            service_account = subject,
            pod,
            "pod was not mutated: service account not found"
        ),
        other => tracing::debug!(decision = ?other, service_account = subject, pod, "pod was not mutated"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        answer.body,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.store.is_synced() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "service account cache not synced\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.refresh_cache(&state.store);
    state.metrics.refresh_process();
    match state.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Upstream's `/debug/alpha/cache`: `namespace/name` → resolved entry, for annotated accounts
/// (accounts without annotations are only kept as hashes and are not listed).
async fn debug_cache(State(state): State<AppState>) -> Response {
    let config = &state.config;
    let map: serde_json::Map<String, serde_json::Value> = state
        .store
        .annotated_entries()
        .into_iter()
        .map(|(key, info)| {
            let entry = serde_json::json!({
                "RoleARN": info.effective_role_arn(config).unwrap_or_default(),
                "Audience": info.audience.clone().unwrap_or_else(|| config.token_audience.clone()),
                "UseRegionalSTS": info.regional_sts(config),
                "TokenExpiration": info.expiration(config),
            });
            (key, entry)
        })
        .collect();
    (StatusCode::OK, axum::Json(serde_json::Value::Object(map))).into_response()
}

/// Upstream's `/debug/alpha/deny`: a denying review.
async fn debug_deny() -> Response {
    let body = serde_json::json!({
        "apiVersion": crate::admission::V1, "kind": "AdmissionReview",
        "response": {"uid": "", "allowed": false, "status": {"message": "Test deny message"}}
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Upstream's `/debug/alpha/500`.
async fn debug_500() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "test error").into_response()
}

/// Serves `router` over HTTPS on `listener` until `shutdown` resolves, then waits up to 10 s
/// (upstream's timeout) for open connections to finish. Connection limits: irsa's listener
/// defaults and `IRSA_HTTP_*` ([`irsa_serve::Limits::from_env`]); the TLS handshake gets the
/// request-head timeout.
///
/// # Errors
/// A bad `IRSA_HTTP_*` variable.
pub async fn serve_https<F>(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let limits = irsa_serve::Limits::from_env().map_err(std::io::Error::other)?;
    irsa_serve::serve(
        listener,
        router,
        irsa_serve::Tls::Fixed(tls),
        limits,
        Arc::default(),
        shutdown,
    )
    .await
}

/// Serves `router` over plain HTTP (the metrics port) until `shutdown` resolves, with the same
/// connection limits.
///
/// # Errors
/// A bad `IRSA_HTTP_*` variable.
pub async fn serve_http<F>(listener: TcpListener, router: Router, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let limits = irsa_serve::Limits::from_env().map_err(std::io::Error::other)?;
    irsa_serve::serve(
        listener,
        router,
        irsa_serve::Tls::None,
        limits,
        Arc::default(),
        shutdown,
    )
    .await
}
