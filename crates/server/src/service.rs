//! The HTTP endpoint: parse, route, authenticate, authorize, run, answer.

use crate::metrics::{LatencyLabels, Metrics, RequestLabels};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use irsa_aws_query::{
    AwsError, ErrorCode, IAM_NAMESPACE, MAX_QUERY_BYTES, QueryParams, STS_NAMESPACE, error_response, response_xml,
};
use irsa_iam::Iam;
use irsa_store::Store;
use irsa_sts::{Caller, RequestInfo, Sts};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Which API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// STS, `2011-06-15`.
    Sts,
    /// IAM, `2010-05-08`.
    Iam,
}

impl ServiceKind {
    fn name(self) -> &'static str {
        match self {
            ServiceKind::Sts => "sts",
            ServiceKind::Iam => "iam",
        }
    }

    fn namespace(self) -> &'static str {
        match self {
            ServiceKind::Sts => STS_NAMESPACE,
            ServiceKind::Iam => IAM_NAMESPACE,
        }
    }
}

const STS_ACTIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "AssumeRoleWithSAML",
    "GetCallerIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "GetAccessKeyInfo",
    "DecodeAuthorizationMessage",
];

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] irsa_store::Error),
    /// The STS could not start.
    #[error(transparent)]
    Sts(#[from] irsa_sts::StsError),
    /// The seed could not be applied.
    #[error("seed: {0}")]
    Seed(#[from] crate::seed::SeedError),
    /// The data directory cannot be used.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The task running the service failed (it panicked or was cancelled).
    #[error("the STS + IAM service failed: {0}")]
    Task(String),
    /// The listener failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Everything a request needs.
pub struct App<S: Store> {
    /// IAM's actions.
    pub iam: Iam<S>,
    /// STS's actions and credentials.
    pub sts: Sts<S>,
    /// The metrics.
    pub metrics: Metrics,
    sts_verifier: irsa_sigv4::Verifier,
    iam_verifier: irsa_sigv4::Verifier,
    region: String,
    partition: String,
    secure_transport: bool,
    store_kind: &'static str,
}

impl<S: Store> App<S> {
    /// An application over ready IAM and STS services.
    pub fn new(iam: Iam<S>, sts: Sts<S>, region: String, partition: String, secure_transport: bool) -> Self {
        App {
            iam,
            sts,
            metrics: Metrics::default(),
            sts_verifier: irsa_sigv4::Verifier::new(["sts"]),
            iam_verifier: irsa_sigv4::Verifier::new(["iam"]),
            region,
            partition,
            secure_transport,
            store_kind: "unknown",
        }
    }

    /// Names the store in `/healthz` (`embedded`, `etcd`, `memory`).
    #[must_use]
    pub fn with_store_kind(mut self, kind: &'static str) -> Self {
        self.store_kind = kind;
        self
    }
}

/// The routes: the Query endpoint on `/`, `/healthz` and `/metrics`.
pub fn router<S: Store>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/", any(query::<S>))
        .with_state(app)
}

/// `{"status":"ok","version":…,"store":…}`: JSON, so that a CI step or a container health
/// check can also tell which build and which store it reached.
async fn healthz<S: Store>(State(app): State<Arc<App<S>>>) -> Response {
    let body = format!(
        r#"{{"status":"ok","service":"irsa","version":"{}","store":"{}"}}"#,
        env!("CARGO_PKG_VERSION"),
        app.store_kind
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn metrics<S: Store>(State(app): State<Arc<App<S>>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

fn request_id() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::SystemRandom::new().fill(&mut b).is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

fn xml(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-RequestId", v);
    }
    r
}

/// Picks the API: the `Version` parameter, else the action's name.
fn service_of(params: &QueryParams, action: &str) -> Result<ServiceKind, AwsError> {
    match params.get("Version") {
        Some("2011-06-15") => Ok(ServiceKind::Sts),
        Some("2010-05-08") => Ok(ServiceKind::Iam),
        Some(v) => Err(AwsError::new(
            ErrorCode::InvalidAction,
            format!("Could not find operation {action} for version {v}"),
        )),
        None if STS_ACTIONS.contains(&action) => Ok(ServiceKind::Sts),
        None => Ok(ServiceKind::Iam),
    }
}

/// The action name as a metric label: known actions only, so that the label set stays bounded.
fn action_label(kind: ServiceKind, action: &str, outcome: &Result<Response, AwsError>) -> String {
    let known = match outcome {
        Err(e) => !matches!(e.code, ErrorCode::InvalidAction | ErrorCode::MissingAction),
        Ok(_) => true,
    };
    let plausible = action.len() <= 64 && action.bytes().all(|b| b.is_ascii_alphanumeric());
    if known && plausible {
        format!("{}:{action}", kind.name())
    } else {
        "unknown".to_owned()
    }
}

async fn query<S: Store>(
    State(app): State<Arc<App<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let rid = request_id();
    let body = match axum::body::to_bytes(body, MAX_QUERY_BYTES + 1).await {
        Ok(b) if b.len() <= MAX_QUERY_BYTES => b,
        _ => {
            let e = AwsError::new(
                ErrorCode::InvalidRequest,
                format!("the request body is larger than {MAX_QUERY_BYTES} bytes or could not be read"),
            );
            return xml(status_of(&e), error_response(&e, STS_NAMESPACE, &rid), &rid);
        }
    };
    let params = match parse_params(&method, &uri, &headers, &body) {
        Ok(p) => p,
        Err(e) => return xml(status_of(&e), error_response(&e, STS_NAMESPACE, &rid), &rid),
    };
    let action = params.get("Action").unwrap_or_default().to_owned();
    let kind = service_of(&params, &action).unwrap_or(ServiceKind::Sts);
    let mut caller_arn = None;
    let outcome = run(
        &app,
        kind,
        &params,
        &method,
        &uri,
        &headers,
        &body,
        peer,
        &rid,
        &mut caller_arn,
    )
    .await;
    let label = action_label(kind, &action, &outcome);
    let mut cause = None;
    let (response, code) = match outcome {
        Ok(r) => (r, "ok".to_owned()),
        Err(e) => {
            let code = e.code.code().to_owned();
            cause = e.cause.clone();
            (
                xml(status_of(&e), error_response(&e, kind.namespace(), &rid), &rid),
                code,
            )
        }
    };
    let elapsed = started.elapsed();
    app.metrics
        .latency
        .get_or_create(&LatencyLabels {
            service: kind.name(),
            action: label.clone(),
        })
        .observe(elapsed.as_secs_f64());
    app.metrics
        .requests
        .get_or_create(&RequestLabels {
            service: kind.name(),
            action: label.clone(),
            outcome: code.clone(),
        })
        .inc();
    // One line per request: no parameter, token or secret is ever logged. A server-side
    // failure is a warning with its cause, under the request id the client was given.
    let status = response.status().as_u16();
    if status >= 500 {
        tracing::warn!(
            request_id = %rid,
            action = %label,
            caller = caller_arn.as_deref().unwrap_or("-"),
            outcome = %code,
            status,
            micros = elapsed.as_micros() as u64,
            cause = cause.as_deref().unwrap_or("unknown"),
            "request failed"
        );
    } else {
        tracing::info!(
            request_id = %rid,
            action = %label,
            caller = caller_arn.as_deref().unwrap_or("-"),
            outcome = %code,
            status,
            micros = elapsed.as_micros() as u64,
            "request"
        );
    }
    response
}

fn status_of(e: &AwsError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

fn parse_params(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Result<QueryParams, AwsError> {
    let query = QueryParams::parse(uri.query().unwrap_or_default().as_bytes())?;
    if *method == Method::GET || body.is_empty() {
        return Ok(query);
    }
    if *method != Method::POST {
        return Err(AwsError::new(
            ErrorCode::InvalidRequest,
            format!("{method} is not supported: send GET or POST to /"),
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.is_empty()
        && !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    {
        return Err(AwsError::new(
            ErrorCode::InvalidRequest,
            format!("the body must be application/x-www-form-urlencoded, not `{content_type}`"),
        ));
    }
    query.merge(QueryParams::parse(body)?)
}

#[allow(clippy::too_many_arguments)]
async fn run<S: Store>(
    app: &App<S>,
    kind: ServiceKind,
    params: &QueryParams,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    peer: SocketAddr,
    rid: &str,
    caller_arn: &mut Option<String>,
) -> Result<Response, AwsError> {
    let action = params.action()?;
    service_of(params, action)?;
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut info = RequestInfo {
        source_ip: Some(peer.ip()),
        secure_transport: app.secure_transport,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        region: app.region.clone(),
    };
    // AssumeRoleWithWebIdentity is unsigned, as SDKs send it.
    let caller: Option<Caller> = if kind == ServiceKind::Sts && action == "AssumeRoleWithWebIdentity" {
        None
    } else {
        let req = irsa_sigv4::Request::from_http_parts(method, uri, headers, body);
        let verifier = match kind {
            ServiceKind::Sts => &app.sts_verifier,
            ServiceKind::Iam => &app.iam_verifier,
        };
        let (caller, verified) = app.sts.authenticate(verifier, &req, now).await?;
        info.region = verified.scope.region().to_owned();
        *caller_arn = Some(caller.arn(&app.partition));
        Some(caller)
    };
    let inner = match (kind, &caller) {
        (ServiceKind::Sts, _) => Some(app.sts.handle(action, params, caller.as_ref(), &info, secs).await?),
        (ServiceKind::Iam, Some(c)) => {
            let resource = app.iam.resource_arn(action, params).await;
            app.sts
                .authorize(c, &format!("iam:{action}"), &resource, &info, secs)
                .await?;
            app.iam.handle(action, params, secs).await?
        }
        (ServiceKind::Iam, None) => {
            return Err(AwsError::new(
                ErrorCode::MissingAuthenticationToken,
                "Request is missing Authentication Token",
            ));
        }
    };
    Ok(xml(
        StatusCode::OK,
        response_xml(action, kind.namespace(), rid, inner.as_deref()),
        rid,
    ))
}
