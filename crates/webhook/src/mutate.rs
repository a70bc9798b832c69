//! The mutation: a pure function from (pod JSON, resolved identity, configuration) to a minimal
//! RFC 6902 JSON Patch.
//!
//! Unlike upstream, which replaces `/spec/containers` and `/spec/initContainers` wholesale with
//! a re-serialisation through its compiled-in Kubernetes types (dropping every field those types
//! do not know: startupProbe, gRPC probes, native-sidecar `restartPolicy`…), every operation
//! here is an `add` at the narrowest location: one env var (`…/env/-`), one volume mount, one
//! volume, one label. Fields the webhook does not know are never touched. The patch is
//! idempotent: a second run over the mutated pod yields no operation (safe with
//! `reinvocationPolicy: IfNeeded`).
//!
//! Resulting pods equal upstream's, except where upstream has a bug (see the crate docs).

use std::sync::atomic::{AtomicU64, Ordering};

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::{Map, Value, json};

use crate::annotations::{PodAnnotations, ServiceAccountInfo, is_valid_role_arn};
use crate::config::{
    DEFAULT_TOKEN_EXPIRATION, JITTER_MIN_EXPIRATION, MutationConfig, POD_IDENTITY_LABEL, WEB_IDENTITY_TOKEN_FILE_NAME,
    WEB_IDENTITY_VOLUME_NAME,
};
use crate::sources::{ConfigMapMapping, ContainerCredentials};

/// Environment variable names.
pub mod env {
    /// Web identity: role ARN.
    pub const AWS_ROLE_ARN: &str = "AWS_ROLE_ARN";
    /// Web identity: token file.
    pub const AWS_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
    /// Pod Identity: credentials endpoint.
    pub const AWS_CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    /// Pod Identity: token file.
    pub const AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    /// Region.
    pub const AWS_REGION: &str = "AWS_REGION";
    /// Default region.
    pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
    /// Regional STS endpoints.
    pub const AWS_STS_REGIONAL_ENDPOINTS: &str = "AWS_STS_REGIONAL_ENDPOINTS";
}

/// Errors: the object is not shaped like a Pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutateError {
    /// The object is not a JSON object.
    #[error("object is not a JSON object")]
    NotAnObject,
    /// A field has the wrong JSON type.
    #[error("malformed pod: {0} has the wrong type")]
    Malformed(String),
}

/// Which credential mechanism a mutation injects (also the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// IRSA: `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`.
    WebIdentity,
    /// EKS Pod Identity: `AWS_CONTAINER_CREDENTIALS_FULL_URI` + token file.
    ContainerCredentials,
}

impl Mode {
    /// Upstream's `method` label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebIdentity => "sts_web_identity",
            Self::ContainerCredentials => "container_credentials",
        }
    }
}

/// The identity a pod will receive, resolved from the service account, the ConfigMap mapping
/// and the Pod Identity file (pod-level annotations are applied later by [`build_patch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// IRSA.
    WebIdentity {
        /// Role to assume.
        role_arn: String,
        /// Token audience (may be empty: then no audience is requested, as upstream).
        audience: String,
        /// Inject `AWS_STS_REGIONAL_ENDPOINTS=regional`.
        regional_sts: bool,
        /// Token expiration before pod-annotation override.
        token_expiration: i64,
    },
    /// EKS Pod Identity.
    ContainerCredentials {
        /// Inject `AWS_STS_REGIONAL_ENDPOINTS=regional`.
        regional_sts: bool,
        /// Token expiration before pod-annotation override and jitter.
        token_expiration: i64,
    },
}

impl Identity {
    /// The mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        match self {
            Self::WebIdentity { .. } => Mode::WebIdentity,
            Self::ContainerCredentials { .. } => Mode::ContainerCredentials,
        }
    }
}

/// Everything known about the pod's service account, from the three sources.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentitySources<'a> {
    /// The service account's parsed annotations; `None` when the account is unknown. An account
    /// known to exist without annotations is `Some(&ServiceAccountInfo::default())`.
    pub service_account: Option<&'a ServiceAccountInfo>,
    /// The `--watch-config-map` mapping, if enabled.
    pub config_map: Option<&'a ConfigMapMapping>,
    /// The Pod Identity associations, if enabled.
    pub container_credentials: Option<&'a ContainerCredentials>,
}

/// Resolves which identity (if any) pods of `namespace/service_account` get, with upstream's
/// precedence: Pod Identity association first; then SA annotations (if they carry a role) >
/// ConfigMap `namespace/name` > ConfigMap `*/name`, whole entries, not merged.
#[must_use]
pub fn resolve_identity(
    namespace: &str,
    service_account: &str,
    sources: &IdentitySources<'_>,
    config: &MutationConfig,
) -> Option<Identity> {
    if sources
        .container_credentials
        .is_some_and(|c| c.contains(namespace, service_account))
    {
        // Upstream: SA entry (annotation > flag) else ConfigMap exact entry else defaults. For an
        // unknown account upstream falls back to `false`/86400 regardless of flags; here the
        // flags apply (consistent with every other path).
        let (regional_sts, token_expiration) = match (sources.service_account, sources.config_map) {
            (Some(sa), _) => (sa.regional_sts(config), sa.expiration(config)),
            (None, Some(cm)) => match cm.get_exact(namespace, service_account) {
                Some(e) => (e.regional_sts(config), e.expiration(config)),
                None => (config.sts_regional_endpoint, config.token_expiration),
            },
            (None, None) => (config.sts_regional_endpoint, config.token_expiration),
        };
        return Some(Identity::ContainerCredentials {
            regional_sts,
            token_expiration,
        });
    }
    if let Some(sa) = sources.service_account
        && let Some(role_arn) = sa.effective_role_arn(config)
    {
        return Some(Identity::WebIdentity {
            role_arn,
            audience: sa.audience.clone().unwrap_or_else(|| config.token_audience.clone()),
            regional_sts: sa.regional_sts(config),
            token_expiration: sa.expiration(config),
        });
    }
    let entry = sources.config_map?.get(namespace, service_account)?;
    let role_arn = match &config.compose_role_arn {
        Some(c) => c.compose(&entry.role_arn),
        None if entry.role_arn.is_empty() => return None,
        None => entry.role_arn.clone(),
    };
    Some(Identity::WebIdentity {
        role_arn,
        audience: entry.audience(config).to_owned(),
        regional_sts: entry.regional_sts(config),
        token_expiration: entry.expiration(config),
    })
}

/// Source of randomness for the Pod Identity expiration jitter.
pub trait RandomSource: Send + Sync {
    /// A uniformly distributed 64-bit value.
    fn next_u64(&self) -> u64;
}

/// Default [`RandomSource`]: SipHash (randomly keyed per process by the standard library) over a
/// counter. Not cryptographic; adequate for spreading token refreshes. Thread-safe, unlike
/// upstream's shared `math/rand.Rand`.
#[derive(Debug, Default)]
pub struct DefaultRandom {
    state: std::collections::hash_map::RandomState,
    counter: AtomicU64,
}

impl RandomSource for DefaultRandom {
    fn next_u64(&self) -> u64 {
        use std::hash::BuildHasher;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.state.hash_one(n)
    }
}

/// A [`RandomSource`] always returning the same value (tests; `0` reproduces upstream's fixtures).
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedRandom(pub u64);

impl RandomSource for FixedRandom {
    fn next_u64(&self) -> u64 {
        self.0
    }
}

/// The result of [`build_patch`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The mode that was applied.
    pub mode: Mode,
    /// The operations (empty when the pod already has everything: re-invocation).
    pub patch: Patch,
    /// Final token expiration written into the projected volume (if the volume was added).
    pub token_expiration: i64,
    /// Human-readable warnings (returned to the API client as admission warnings).
    pub warnings: Vec<String>,
    /// The pod already has a volume of the token volume's name that is not a projected
    /// service-account token: nothing was injected (mounting it at the token path would point
    /// the SDK at a file that does not exist).
    pub volume_conflict: bool,
}

/// Parameters derived once per mutation.
struct Plan<'a> {
    mode: Mode,
    volume_name: &'a str,
    mount_path: &'a str,
    env: Vec<(&'static str, String)>,
    identity_pair: [&'static str; 2],
    skip: &'a [String],
}

/// Builds the JSON Patch for `pod` and an already-resolved `identity`.
///
/// `pod` is the raw object from the AdmissionReview (or a file): fields unknown to this crate are
/// never read nor rewritten.
pub fn build_patch(
    pod: &Value,
    identity: &Identity,
    config: &MutationConfig,
    random: &dyn RandomSource,
) -> Result<PatchOutcome, MutateError> {
    let pod_obj = pod.as_object().ok_or(MutateError::NotAnObject)?;
    let metadata = opt_object(pod_obj.get("metadata"), "metadata")?;
    let spec = opt_object(pod_obj.get("spec"), "spec")?;
    let annotations = match metadata {
        Some(m) => opt_object(m.get("annotations"), "metadata.annotations")?,
        None => None,
    };
    let pod_annotations = PodAnnotations::from_json(&config.annotation_prefix, annotations);
    let windows = spec.is_some_and(is_windows);

    let mut ops = Vec::new();
    let mut warnings = Vec::new();

    let (volume_name, mount_path, token_file_name, audience, base_expiration) = match identity {
        Identity::WebIdentity {
            role_arn,
            audience,
            token_expiration,
            ..
        } => {
            if !is_valid_role_arn(role_arn) {
                warnings.push(format!("role ARN {role_arn:?} does not look like an IAM role ARN"));
            }
            (
                WEB_IDENTITY_VOLUME_NAME,
                config.token_mount_path.as_str(),
                WEB_IDENTITY_TOKEN_FILE_NAME,
                audience.as_str(),
                *token_expiration,
            )
        }
        Identity::ContainerCredentials { token_expiration, .. } => (
            config.container_credentials_token_volume_name.as_str(),
            config.container_credentials_token_mount_path.as_str(),
            config.container_credentials_token_path.as_str(),
            config.container_credentials_audience.as_str(),
            *token_expiration,
        ),
    };
    let mut token_expiration = pod_annotations.token_expiration.unwrap_or(base_expiration);
    if identity.mode() == Mode::ContainerCredentials && token_expiration == DEFAULT_TOKEN_EXPIRATION {
        let window = u64::try_from(DEFAULT_TOKEN_EXPIRATION - JITTER_MIN_EXPIRATION + 1).unwrap_or(1);
        let offset = i64::try_from(random.next_u64() % window).unwrap_or(0);
        token_expiration = JITTER_MIN_EXPIRATION + offset;
    }

    let joined = clean_join(mount_path, token_file_name);
    let token_file = if windows {
        format!("C:{}", joined.replace('/', "\\"))
    } else {
        joined
    };

    let regional_sts = match identity {
        Identity::WebIdentity { regional_sts, .. } | Identity::ContainerCredentials { regional_sts, .. } => {
            *regional_sts
        }
    };
    let mut env_vars: Vec<(&'static str, String)> = Vec::new();
    if regional_sts {
        env_vars.push((env::AWS_STS_REGIONAL_ENDPOINTS, "regional".into()));
    }
    if !config.aws_default_region.is_empty() {
        env_vars.push((env::AWS_DEFAULT_REGION, config.aws_default_region.clone()));
        env_vars.push((env::AWS_REGION, config.aws_default_region.clone()));
    }
    let identity_pair = match identity {
        Identity::WebIdentity { role_arn, .. } => {
            env_vars.push((env::AWS_ROLE_ARN, role_arn.clone()));
            env_vars.push((env::AWS_WEB_IDENTITY_TOKEN_FILE, token_file.clone()));
            [env::AWS_ROLE_ARN, env::AWS_WEB_IDENTITY_TOKEN_FILE]
        }
        Identity::ContainerCredentials { .. } => {
            env_vars.push((
                env::AWS_CONTAINER_CREDENTIALS_FULL_URI,
                config.container_credentials_full_uri.clone(),
            ));
            env_vars.push((env::AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, token_file.clone()));
            [
                env::AWS_CONTAINER_CREDENTIALS_FULL_URI,
                env::AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
            ]
        }
    };
    let plan = Plan {
        mode: identity.mode(),
        volume_name,
        mount_path,
        env: env_vars,
        identity_pair,
        skip: &pod_annotations.skip_containers,
    };

    // 1. Pod Identity label.
    if plan.mode == Mode::ContainerCredentials {
        label_op(metadata, &mut ops)?;
    }

    // 2. Volume.
    let volumes = match spec {
        Some(s) => opt_array(s.get("volumes"), "spec.volumes")?,
        None => None,
    };
    let existing = volumes.and_then(|v| v.iter().find(|vol| name_of(vol) == Some(volume_name)));
    if let Some(volume) = existing
        && !is_token_volume(volume, token_file_name)
    {
        warnings.push(format!(
            "the pod already has a volume named {volume_name:?} that is not a projected service-account token \
             with path {token_file_name:?}; no credentials were injected (rename that volume)"
        ));
        return Ok(PatchOutcome {
            mode: plan.mode,
            patch: Patch(Vec::new()),
            token_expiration,
            warnings,
            volume_conflict: true,
        });
    }
    if existing.is_none() {
        let mut sat = Map::new();
        if !audience.is_empty() {
            sat.insert("audience".into(), Value::String(audience.to_owned()));
        }
        sat.insert("expirationSeconds".into(), json!(token_expiration));
        sat.insert("path".into(), Value::String(token_file_name.to_owned()));
        let volume = json!({
            "name": volume_name,
            "projected": {"sources": [{"serviceAccountToken": Value::Object(sat)}]},
        });
        match (spec, volumes) {
            (None, _) => add(&mut ops, ptr(&["spec"]), json!({ "volumes": [volume] })),
            (Some(_), None) => add(&mut ops, ptr(&["spec", "volumes"]), json!([volume])),
            // Upstream prepends; kept so that resulting pods are identical.
            (Some(_), Some(_)) => add(&mut ops, ptr(&["spec", "volumes", "0"]), volume),
        }
    }

    // 3. Containers, then init containers (upstream's order).
    if let Some(spec) = spec {
        for list in ["containers", "initContainers"] {
            if let Some(containers) = opt_array(spec.get(list), list)? {
                for (index, container) in containers.iter().enumerate() {
                    container_ops(list, index, container, &plan, &mut ops, &mut warnings)?;
                }
            }
        }
    }

    Ok(PatchOutcome {
        mode: plan.mode,
        patch: Patch(ops),
        token_expiration,
        warnings,
        volume_conflict: false,
    })
}

/// Whether `volume` is a projected volume with a service-account token at `path`: the one this
/// webhook adds (seen again on re-invocation), or an equivalent one the pod brought.
fn is_token_volume(volume: &Value, path: &str) -> bool {
    volume
        .pointer("/projected/sources")
        .and_then(Value::as_array)
        .is_some_and(|sources| {
            sources
                .iter()
                .any(|s| s.pointer("/serviceAccountToken/path").and_then(Value::as_str) == Some(path))
        })
}

fn label_op(metadata: Option<&Map<String, Value>>, ops: &mut Vec<PatchOperation>) -> Result<(), MutateError> {
    let Some(metadata) = metadata else {
        add(
            ops,
            ptr(&["metadata"]),
            json!({ "labels": { POD_IDENTITY_LABEL: "enabled" } }),
        );
        return Ok(());
    };
    match opt_object(metadata.get("labels"), "metadata.labels")? {
        None => add(
            ops,
            ptr(&["metadata", "labels"]),
            json!({ POD_IDENTITY_LABEL: "enabled" }),
        ),
        Some(labels) if labels.get(POD_IDENTITY_LABEL).and_then(Value::as_str) == Some("enabled") => {}
        Some(_) => add(ops, ptr(&["metadata", "labels", POD_IDENTITY_LABEL]), json!("enabled")),
    }
    Ok(())
}

fn container_ops(
    list: &str,
    index: usize,
    container: &Value,
    plan: &Plan<'_>,
    ops: &mut Vec<PatchOperation>,
    warnings: &mut Vec<String>,
) -> Result<(), MutateError> {
    let where_ = || format!("spec.{list}[{index}]");
    let container = container.as_object().ok_or_else(|| MutateError::Malformed(where_()))?;
    let name = container.get("name").and_then(Value::as_str);
    if name.is_some_and(|n| plan.skip.iter().any(|s| s == n)) {
        return Ok(());
    }
    let idx = index.to_string();

    // Environment.
    let env =
        opt_array(container.get("env"), "env").map_err(|_| MutateError::Malformed(format!("{}.env", where_())))?;
    let defined = |var: &str| env.is_some_and(|e| e.iter().any(|v| name_of(v) == Some(var)));
    let pair_defined = plan.identity_pair.iter().any(|v| defined(v));
    let region_defined = defined(env::AWS_REGION) || defined(env::AWS_DEFAULT_REGION);
    let sts_defined = defined(env::AWS_STS_REGIONAL_ENDPOINTS);
    let new_env: Vec<Value> = plan
        .env
        .iter()
        .filter(|(var, _)| match *var {
            env::AWS_STS_REGIONAL_ENDPOINTS => !sts_defined,
            env::AWS_REGION | env::AWS_DEFAULT_REGION => !region_defined,
            _ => !pair_defined,
        })
        .map(|(var, value)| json!({ "name": var, "value": value }))
        .collect();
    if !new_env.is_empty() {
        if env.is_some() {
            for var in new_env {
                add(ops, ptr(&["spec", list, &idx, "env", "-"]), var);
            }
        } else {
            add(ops, ptr(&["spec", list, &idx, "env"]), Value::Array(new_env));
        }
    }

    // Volume mount (added even when every variable was already defined: upstream's early exit
    // left the token-file variable pointing at an unmounted path).
    let mounts = opt_array(container.get("volumeMounts"), "volumeMounts")
        .map_err(|_| MutateError::Malformed(format!("{}.volumeMounts", where_())))?;
    let mounted = mounts.is_some_and(|m| m.iter().any(|v| name_of(v) == Some(plan.volume_name)));
    if mounted {
        return Ok(());
    }
    let clash = mounts.and_then(|m| {
        m.iter().find(|v| {
            v.get("mountPath")
                .and_then(Value::as_str)
                .is_some_and(|p| p.trim_end_matches('/') == plan.mount_path.trim_end_matches('/'))
        })
    });
    if let Some(other) = clash {
        warnings.push(format!(
            "container {:?}: volume {:?} is already mounted at {}; token volume {:?} not mounted",
            name.unwrap_or_default(),
            name_of(other).unwrap_or_default(),
            plan.mount_path,
            plan.volume_name
        ));
        return Ok(());
    }
    let mount = json!({ "name": plan.volume_name, "readOnly": true, "mountPath": plan.mount_path });
    if mounts.is_some() {
        add(ops, ptr(&["spec", list, &idx, "volumeMounts", "-"]), mount);
    } else {
        add(ops, ptr(&["spec", list, &idx, "volumeMounts"]), json!([mount]));
    }
    Ok(())
}

fn is_windows(spec: &Map<String, Value>) -> bool {
    spec.get("nodeSelector").and_then(Value::as_object).is_some_and(|ns| {
        ["kubernetes.io/os", "beta.kubernetes.io/os"]
            .iter()
            .any(|k| ns.get(*k).and_then(Value::as_str) == Some("windows"))
    })
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

fn opt_object<'a>(v: Option<&'a Value>, what: &str) -> Result<Option<&'a Map<String, Value>>, MutateError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(MutateError::Malformed(what.to_owned())),
    }
}

fn opt_array<'a>(v: Option<&'a Value>, what: &str) -> Result<Option<&'a Vec<Value>>, MutateError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(MutateError::Malformed(what.to_owned())),
    }
}

fn ptr(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().map(|t| Token::new(*t)))
}

fn add(ops: &mut Vec<PatchOperation>, path: PointerBuf, value: Value) {
    ops.push(PatchOperation::Add(AddOperation { path, value }));
}

/// Go `path.Join(a, b)`: join with `/` and clean (`//`, `.`, `..` removed; no trailing slash).
#[must_use]
pub fn clean_join(a: &str, b: &str) -> String {
    let joined = match (a.is_empty(), b.is_empty()) {
        (true, true) => return String::new(),
        (true, false) => b.to_owned(),
        (false, true) => a.to_owned(),
        (false, false) => format!("{a}/{b}"),
    };
    clean_path(&joined)
}

/// Go `path.Clean`.
#[must_use]
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Applies a patch to a copy of the pod.
pub fn apply_patch(pod: &Value, patch: &Patch) -> Result<Value, json_patch::PatchError> {
    let mut out = pod.clone();
    json_patch::patch(&mut out, &patch.0)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_clean() {
        assert_eq!(clean_join("/a/b/", "token"), "/a/b/token");
        assert_eq!(clean_join("/a//b/./c/..", "t"), "/a/b/t");
        assert_eq!(clean_join("", "t"), "t");
        assert_eq!(clean_path("/../a"), "/a");
        assert_eq!(clean_path("../a"), "../a");
    }

    #[test]
    fn label_key_is_escaped() {
        let pod = json!({"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}});
        let id = Identity::ContainerCredentials {
            regional_sts: false,
            token_expiration: 3600,
        };
        let out = build_patch(&pod, &id, &MutationConfig::default(), &FixedRandom(0)).unwrap();
        let text = serde_json::to_string(&out.patch).unwrap();
        assert!(
            text.contains("/metadata/labels/eks.amazonaws.com~1pod-identity"),
            "{text}"
        );
    }

    #[test]
    fn jitter_window() {
        let pod = json!({"metadata": {}, "spec": {"containers": []}});
        let id = Identity::ContainerCredentials {
            regional_sts: false,
            token_expiration: 86400,
        };
        let cfg = MutationConfig::default();
        for (r, expected) in [
            (0, 79200),
            (7200, 86400),
            (7201, 79200),
            (u64::MAX, 79200 + (u64::MAX % 7201) as i64),
        ] {
            let out = build_patch(&pod, &id, &cfg, &FixedRandom(r)).unwrap();
            assert_eq!(out.token_expiration, expected);
        }
        let random = DefaultRandom::default();
        for _ in 0..100 {
            let out = build_patch(&pod, &id, &cfg, &random).unwrap();
            assert!((79200..=86400).contains(&out.token_expiration));
        }
    }
}
