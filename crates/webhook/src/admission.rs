//! AdmissionReview handling: decoding (`admission.k8s.io/v1`, `v1beta1` accepted), the decision,
//! and a well-formed answer for every input, including malformed ones.
//!
//! The review is decoded as untyped JSON so that the pod's unknown fields are never lost. The
//! answer echoes `apiVersion` (v1 unless the request said v1beta1), `kind: AdmissionReview` and
//! `response.uid`, which the v1 API server requires (upstream released versions omitted the
//! first two: "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got /").

use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::config::MutationConfig;
use crate::mutate::{Identity, IdentitySources, Mode, RandomSource, build_patch, resolve_identity};
use crate::offline::pod_service_account;
use crate::store::{IdentityStore, Lookup};

/// `admission.k8s.io/v1`.
pub const V1: &str = "admission.k8s.io/v1";
/// `admission.k8s.io/v1beta1`.
pub const V1BETA1: &str = "admission.k8s.io/v1beta1";

/// A decoded review request (only what the webhook needs, plus the raw pod).
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRequest {
    /// API version to answer with.
    pub api_version: &'static str,
    /// `request.uid`.
    pub uid: String,
    /// `request.namespace` (may be empty).
    pub namespace: String,
    /// `request.operation` (may be empty).
    pub operation: String,
    /// `request.kind.kind` (may be empty).
    pub resource_kind: String,
    /// `request.object`.
    pub object: Value,
}

/// Why a body could not be turned into a [`ReviewRequest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON (or truncated).
    #[error("couldn't decode AdmissionReview: {0}")]
    Json(String),
    /// JSON, but not an AdmissionReview with a request (empty body, `{}`, missing `request`).
    #[error("bad content")]
    BadContent,
    /// A request without `uid`: the API server always sends one and matches the answer by it,
    /// so a review without one is malformed (and was answered `uid: ""` and patched).
    #[error("malformed AdmissionReview: request.uid is missing or empty")]
    MissingUid,
}

/// What happened to one review (for metrics and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A patch was returned.
    Mutated {
        /// The mode.
        mode: Mode,
        /// Number of patch operations.
        operations: usize,
    },
    /// An identity applied but the pod already had everything (re-invocation).
    AlreadyMutated(Mode),
    /// Allowed unchanged: no identity for this service account.
    NoIdentity {
        /// The service account was not known at all (upstream's "missing SA" metric).
        missing: bool,
    },
    /// Allowed unchanged: the pod has a volume of the token volume's name that is not a
    /// projected token (reported to the client as a warning).
    VolumeConflict(Mode),
    /// Allowed unchanged: not a Pod CREATE (misconfigured webhook rules).
    Ignored(String),
    /// Denied / error answer (malformed input).
    Rejected(String),
}

/// An answer: the AdmissionReview JSON plus the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewAnswer {
    /// Serialised AdmissionReview.
    pub body: Vec<u8>,
    /// What was decided.
    pub decision: Decision,
    /// `namespace/serviceAccount` of the pod, when it got that far (for logs).
    pub subject: Option<String>,
    /// `metadata.name` (or `generateName`) of the pod, when present (for logs).
    pub pod_name: Option<String>,
}

/// Decodes a review body.
pub fn decode_review(body: &[u8]) -> Result<ReviewRequest, ReviewError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ReviewError::BadContent);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ReviewError::Json(e.to_string()))?;
    let Value::Object(mut review) = value else {
        return Err(ReviewError::BadContent);
    };
    let api_version = match review.get("apiVersion").and_then(Value::as_str) {
        Some(V1BETA1) => V1BETA1,
        _ => V1,
    };
    let Some(Value::Object(mut request)) = review.remove("request") else {
        return Err(ReviewError::BadContent);
    };
    let text = |r: &Map<String, Value>, k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let uid = text(&request, "uid");
    if uid.is_empty() {
        return Err(ReviewError::MissingUid);
    }
    Ok(ReviewRequest {
        api_version,
        uid,
        namespace: text(&request, "namespace"),
        operation: text(&request, "operation"),
        resource_kind: request
            .get("kind")
            .and_then(|k| k.get("kind"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        object: request.remove("object").unwrap_or(Value::Null),
    })
}

fn review_json(api_version: &str, response: Value) -> Vec<u8> {
    let review = json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": response,
    });
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(&review).unwrap_or_default()
}

/// The answer for a body that could not be decoded (uid unknown ⇒ empty; v1 shape).
#[must_use]
pub fn error_answer(error: &ReviewError) -> ReviewAnswer {
    let message = error.to_string();
    ReviewAnswer {
        body: review_json(
            V1,
            json!({"uid": "", "allowed": false, "status": {"message": message, "code": 400}}),
        ),
        decision: Decision::Rejected(message),
        subject: None,
        pod_name: None,
    }
}

fn allowed(req: &ReviewRequest, warnings: &[String]) -> Value {
    let mut r = json!({"uid": req.uid, "allowed": true});
    if !warnings.is_empty() {
        r["warnings"] = json!(warnings);
    }
    r
}

/// Everything needed to answer a review, besides the request.
pub struct ReviewContext<'a> {
    /// The identity store.
    pub store: &'a IdentityStore,
    /// The mutation flags.
    pub config: &'a MutationConfig,
    /// Jitter source.
    pub random: &'a dyn RandomSource,
    /// `--service-account-lookup-grace-period`.
    pub grace: Duration,
}

/// Looks the pod's identity up (with the bounded API fallback on a miss).
pub async fn lookup_identity(
    ctx: &ReviewContext<'_>,
    namespace: &str,
    service_account: &str,
) -> (Option<Identity>, bool) {
    let creds = ctx.store.container_credentials();
    let config_map = ctx.store.config_map();
    let pod_identity = creds.as_deref().is_some_and(|c| c.contains(namespace, service_account));
    // Pod Identity mode does not wait for the API fallback (as upstream).
    let lookup = if pod_identity {
        ctx.store.lookup(namespace, service_account)
    } else {
        ctx.store
            .lookup_with_fallback(namespace, service_account, ctx.grace)
            .await
    };
    let plain = crate::annotations::ServiceAccountInfo::default();
    let (service_account_info, missing) = match &lookup {
        Lookup::Annotated(info) => (Some(info.as_ref()), false),
        Lookup::Plain => (Some(&plain), false),
        Lookup::Unknown => (None, true),
    };
    let sources = IdentitySources {
        service_account: service_account_info,
        config_map: config_map.as_deref(),
        container_credentials: creds.as_deref(),
    };
    (
        resolve_identity(namespace, service_account, &sources, ctx.config),
        missing,
    )
}

/// Answers a decoded review.
pub async fn answer(req: &ReviewRequest, ctx: &ReviewContext<'_>) -> ReviewAnswer {
    let pod_name = req
        .object
        .pointer("/metadata/name")
        .or_else(|| req.object.pointer("/metadata/generateName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let respond = |response: Value, decision: Decision, subject: Option<String>| ReviewAnswer {
        body: review_json(req.api_version, response),
        decision,
        subject,
        pod_name: pod_name.clone(),
    };
    if !req.operation.is_empty() && req.operation != "CREATE" {
        let why = format!("operation {} is not CREATE", req.operation);
        return respond(allowed(req, &[]), Decision::Ignored(why), None);
    }
    if !req.resource_kind.is_empty() && req.resource_kind != "Pod" {
        let why = format!("kind {} is not Pod", req.resource_kind);
        return respond(allowed(req, &[]), Decision::Ignored(why), None);
    }
    let pod = &req.object;
    if !pod.is_object() {
        let message = "request.object is not a Pod object".to_owned();
        return respond(
            json!({"uid": req.uid, "allowed": false, "status": {"message": message, "code": 400}}),
            Decision::Rejected(message),
            None,
        );
    }
    if let Some(kind) = pod.get("kind").and_then(Value::as_str)
        && kind != "Pod"
    {
        let why = format!("object kind {kind} is not Pod");
        return respond(allowed(req, &[]), Decision::Ignored(why), None);
    }
    let namespace = if req.namespace.is_empty() {
        pod.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
    } else {
        req.namespace.as_str()
    };
    let service_account = pod_service_account(pod);
    let subject = Some(format!("{namespace}/{service_account}"));
    let (identity, missing) = lookup_identity(ctx, namespace, service_account).await;
    let Some(identity) = identity else {
        return respond(allowed(req, &[]), Decision::NoIdentity { missing }, subject);
    };
    match build_patch(pod, &identity, ctx.config, ctx.random) {
        Err(e) => {
            let message = e.to_string();
            respond(
                json!({"uid": req.uid, "allowed": false, "status": {"message": message, "code": 400}}),
                Decision::Rejected(message),
                subject,
            )
        }
        Ok(outcome) if outcome.volume_conflict => respond(
            allowed(req, &outcome.warnings),
            Decision::VolumeConflict(outcome.mode),
            subject,
        ),
        Ok(outcome) if outcome.patch.0.is_empty() => respond(
            allowed(req, &outcome.warnings),
            Decision::AlreadyMutated(outcome.mode),
            subject,
        ),
        Ok(outcome) => {
            let patch = serde_json::to_vec(&outcome.patch).unwrap_or_default();
            let mut response = allowed(req, &outcome.warnings);
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(patch));
            respond(
                response,
                Decision::Mutated {
                    mode: outcome.mode,
                    operations: outcome.patch.0.len(),
                },
                subject,
            )
        }
    }
}

/// Decodes and answers a body in one go.
pub async fn review(body: &[u8], ctx: &ReviewContext<'_>) -> ReviewAnswer {
    match decode_review(body) {
        Ok(req) => answer(&req, ctx).await,
        Err(e) => error_answer(&e),
    }
}
