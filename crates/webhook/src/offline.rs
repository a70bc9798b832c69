//! Offline mode (`irsa webhook mutate`): service accounts, an optional ConfigMap, an optional
//! Pod Identity associations file and a pod, all as file contents (YAML or JSON), run through
//! exactly the server's logic. Answers "what will the webhook do to my pod?" without a cluster.

use json_patch::Patch;
use serde_json::Value;

use crate::MutationConfig;
use crate::annotations::ServiceAccountInfo;
use crate::config::{ComposeRoleArn, MutationArgs};
use crate::mutate::DefaultRandom;
use crate::mutate::{Identity, IdentitySources, MutateError, RandomSource, apply_patch, build_patch, resolve_identity};
use crate::sources::{ConfigMapMapping, ContainerCredentials, SourceError};

/// Errors of the offline mode.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// A document is neither JSON nor YAML.
    #[error("{what}: cannot parse as JSON or YAML: {message}")]
    Parse {
        /// Which input.
        what: String,
        /// Parser message.
        message: String,
    },
    /// The pod input has no object of kind Pod (or AdmissionReview).
    #[error("pod input: {0}")]
    NotAPod(String),
    /// The ConfigMap or Pod Identity file is malformed.
    #[error("{what}: {source}")]
    Source {
        /// Which input.
        what: String,
        /// Cause.
        source: SourceError,
    },
    /// The pod is malformed.
    #[error(transparent)]
    Mutate(#[from] MutateError),
    /// The computed patch does not apply (a bug; reported rather than hidden).
    #[error("internal error: patch does not apply: {0}")]
    Apply(String),
    /// An invalid option value.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Output serialisation failed.
    #[error("cannot serialise output: {0}")]
    Serialize(String),
    /// An input file cannot be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        message: String,
    },
}

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputKind {
    /// The RFC 6902 JSON Patch array (`[]` when nothing changes).
    #[default]
    Patch,
    /// The mutated pod.
    Pod,
}

/// Inputs, as file contents.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineInput<'a> {
    /// ServiceAccount manifests: each string may hold several YAML documents, a JSON object, or a
    /// `List`; objects of other kinds are ignored.
    pub service_accounts: &'a [String],
    /// The `pod-identity-webhook` ConfigMap manifest (`--config-map`), if any.
    pub config_map: Option<&'a str>,
    /// The Pod Identity associations file (`--watch-container-credentials-config`), if any.
    pub container_credentials: Option<&'a str>,
    /// The pod (YAML or JSON); an `AdmissionReview` is accepted too (its `request.object`).
    pub pod: &'a str,
}

/// Result of [`mutate_offline`].
#[derive(Debug, Clone)]
pub struct OfflineOutcome {
    /// Namespace the pod was evaluated in (its own, else the review's, else `default`).
    pub namespace: String,
    /// Its service account (defaulted to `default` as the API server does).
    pub service_account: String,
    /// The resolved identity, `None` when the webhook leaves the pod alone.
    pub identity: Option<Identity>,
    /// The patch (empty when nothing changes).
    pub patch: Patch,
    /// The mutated pod (the input pod when nothing changes).
    pub pod: Value,
    /// Warnings the server would return with its answer.
    pub warnings: Vec<String>,
}

impl OfflineOutcome {
    /// Renders the requested output as pretty JSON (followed by a newline).
    pub fn render(&self, kind: OutputKind) -> Result<String, OfflineError> {
        let text = match kind {
            OutputKind::Patch => serde_json::to_string_pretty(&self.patch),
            OutputKind::Pod => serde_json::to_string_pretty(&self.pod),
        }
        .map_err(|e| OfflineError::Serialize(e.to_string()))?;
        Ok(text + "\n")
    }

    /// Renders the requested output as YAML.
    pub fn render_yaml(&self, kind: OutputKind) -> Result<String, OfflineError> {
        match kind {
            OutputKind::Patch => serde_saphyr::to_string(&self.patch),
            OutputKind::Pod => serde_saphyr::to_string(&self.pod),
        }
        .map_err(|e| OfflineError::Serialize(e.to_string()))
    }
}

/// Parses a file that holds one or more Kubernetes objects (JSON, or YAML with `---`
/// separators); `List`-kinds are flattened and empty documents dropped.
pub fn parse_documents(what: &str, text: &str) -> Result<Vec<Value>, OfflineError> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            Ok(v) => vec![v],
            Err(json_err) => serde_saphyr::from_multiple::<Value>(text).map_err(|_| OfflineError::Parse {
                what: what.to_owned(),
                message: json_err.to_string(),
            })?,
        }
    } else {
        serde_saphyr::from_multiple::<Value>(text).map_err(|e| OfflineError::Parse {
            what: what.to_owned(),
            message: e.to_string(),
        })?
    };
    let mut out = Vec::new();
    for doc in docs {
        flatten(doc, &mut out);
    }
    Ok(out)
}

fn flatten(doc: Value, out: &mut Vec<Value>) {
    match doc {
        Value::Null => {}
        Value::Object(mut map)
            if map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    flatten(item, out);
                }
            }
        }
        other => out.push(other),
    }
}

fn kind_of(v: &Value) -> Option<&str> {
    v.get("kind").and_then(Value::as_str)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The service account a pod runs as: `spec.serviceAccountName`, else the deprecated
/// `spec.serviceAccount`, else `default` (what the ServiceAccount admission plugin sets before
/// mutating webhooks run).
#[must_use]
pub fn pod_service_account(pod: &Value) -> &str {
    str_at(pod, "/spec/serviceAccountName")
        .or_else(|| str_at(pod, "/spec/serviceAccount"))
        .unwrap_or("default")
}

/// Runs the webhook's mutation on files' contents.
pub fn mutate_offline(
    input: &OfflineInput<'_>,
    config: &MutationConfig,
    random: &dyn RandomSource,
) -> Result<OfflineOutcome, OfflineError> {
    // The pod.
    let pod_docs = parse_documents("pod", input.pod)?;
    let (pod, review_namespace) = match pod_docs.as_slice() {
        [single] if kind_of(single) == Some("AdmissionReview") => {
            let object = single
                .pointer("/request/object")
                .cloned()
                .ok_or_else(|| OfflineError::NotAPod("AdmissionReview has no request.object".into()))?;
            let ns = str_at(single, "/request/namespace").map(str::to_owned);
            (object, ns)
        }
        [single] => (single.clone(), None),
        [] => return Err(OfflineError::NotAPod("no document".into())),
        _ => {
            return Err(OfflineError::NotAPod("expected exactly one document".into()));
        }
    };
    if !pod.is_object() {
        return Err(OfflineError::NotAPod("not an object".into()));
    }
    if let Some(kind) = kind_of(&pod)
        && kind != "Pod"
    {
        return Err(OfflineError::NotAPod(format!("kind is {kind}, expected Pod")));
    }
    let namespace = review_namespace
        .or_else(|| str_at(&pod, "/metadata/namespace").map(str::to_owned))
        .unwrap_or_else(|| "default".to_owned());
    let service_account = pod_service_account(&pod).to_owned();

    // The service account, if given.
    let mut sa_info: Option<ServiceAccountInfo> = None;
    for (i, text) in input.service_accounts.iter().enumerate() {
        for doc in parse_documents(&format!("service account file #{}", i + 1), text)? {
            if kind_of(&doc) != Some("ServiceAccount") {
                continue;
            }
            let sa_ns = str_at(&doc, "/metadata/namespace").unwrap_or(namespace.as_str());
            let sa_name = str_at(&doc, "/metadata/name").unwrap_or_default();
            if sa_ns == namespace && sa_name == service_account {
                sa_info = Some(ServiceAccountInfo::from_json_annotations(
                    &config.annotation_prefix,
                    doc.pointer("/metadata/annotations").and_then(Value::as_object),
                ));
            }
        }
    }

    let config_map = match input.config_map {
        None => None,
        Some(text) => {
            let docs = parse_documents("config map", text)?;
            let doc = docs
                .iter()
                .find(|d| kind_of(d) == Some("ConfigMap") || kind_of(d).is_none())
                .ok_or_else(|| OfflineError::Source {
                    what: "config map".into(),
                    source: SourceError::Shape("no ConfigMap object".into()),
                })?;
            Some(
                ConfigMapMapping::from_config_map(doc).map_err(|source| OfflineError::Source {
                    what: "config map".into(),
                    source,
                })?,
            )
        }
    };
    let container_credentials = match input.container_credentials {
        None => None,
        Some(text) => Some(
            ContainerCredentials::parse(text).map_err(|source| OfflineError::Source {
                what: "container credentials config".into(),
                source,
            })?,
        ),
    };

    let sources = IdentitySources {
        service_account: sa_info.as_ref(),
        config_map: config_map.as_ref(),
        container_credentials: container_credentials.as_ref(),
    };
    let identity = resolve_identity(&namespace, &service_account, &sources, config);
    let Some(identity_ref) = identity.as_ref() else {
        return Ok(OfflineOutcome {
            namespace,
            service_account,
            identity,
            patch: Patch(Vec::new()),
            pod,
            warnings: Vec::new(),
        });
    };
    let outcome = build_patch(&pod, identity_ref, config, random)?;
    let mutated = apply_patch(&pod, &outcome.patch).map_err(|e| OfflineError::Apply(e.to_string()))?;
    Ok(OfflineOutcome {
        namespace,
        service_account,
        identity,
        patch: outcome.patch,
        pod: mutated,
        warnings: outcome.warnings,
    })
}

/// Output syntax of `irsa webhook mutate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Pretty JSON.
    #[default]
    Json,
    /// YAML.
    Yaml,
}

/// Arguments of `irsa webhook mutate` (flatten into the binary's subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct MutateArgs {
    /// ServiceAccount manifest (YAML or JSON; several documents or a List allowed); repeatable
    #[arg(long = "service-account", value_name = "FILE")]
    pub service_accounts: Vec<std::path::PathBuf>,
    /// The pod-identity-webhook ConfigMap manifest (--watch-config-map data)
    #[arg(long, value_name = "FILE")]
    pub config_map: Option<std::path::PathBuf>,
    /// EKS Pod Identity associations file, as for the server
    #[arg(long, value_name = "FILE")]
    pub watch_container_credentials_config: Option<std::path::PathBuf>,
    /// With --compose-role-arn-region: expand role names as --compose-role-arn does
    #[arg(long, value_name = "ACCOUNT_ID", requires = "compose_role_arn_region")]
    pub compose_role_arn_account_id: Option<String>,
    /// Region giving the partition for --compose-role-arn-account-id
    #[arg(long, value_name = "REGION", requires = "compose_role_arn_account_id")]
    pub compose_role_arn_region: Option<String>,
    /// What to print: the JSONPatch or the mutated pod
    #[arg(long, value_enum, default_value_t = OutputKind::Patch)]
    pub output: OutputKind,
    /// Output syntax
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    pub format: OutputFormat,
    /// Mutation flags, as for the server.
    #[command(flatten)]
    pub mutation: MutationArgs,
    /// The pod (YAML or JSON; an AdmissionReview is accepted too); `-` reads standard input
    #[arg(value_name = "POD_FILE")]
    pub pod: std::path::PathBuf,
}

fn read_input(path: &std::path::Path) -> Result<String, OfflineError> {
    let result = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(path)
    };
    result.map_err(|e| OfflineError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Runs `irsa webhook mutate`: reads the files, applies the server's logic and returns the text
/// to print on standard output (warnings are returned separately, for standard error).
pub fn run_mutate(args: &MutateArgs) -> Result<(String, Vec<String>), OfflineError> {
    let mut config = args.mutation.to_config();
    if let (Some(account), Some(region)) = (&args.compose_role_arn_account_id, &args.compose_role_arn_region) {
        config.compose_role_arn =
            Some(ComposeRoleArn::from_region(account, region).map_err(|e| OfflineError::Serialize(e.to_string()))?);
    }
    let service_accounts = args
        .service_accounts
        .iter()
        .map(|p| read_input(p))
        .collect::<Result<Vec<_>, _>>()?;
    let config_map = args.config_map.as_deref().map(read_input).transpose()?;
    let creds = args
        .watch_container_credentials_config
        .as_deref()
        .map(read_input)
        .transpose()?;
    let pod = read_input(&args.pod)?;
    let outcome = mutate_offline(
        &OfflineInput {
            service_accounts: &service_accounts,
            config_map: config_map.as_deref(),
            container_credentials: creds.as_deref(),
            pod: &pod,
        },
        &config,
        &DefaultRandom::default(),
    )?;
    let text = match args.format {
        OutputFormat::Json => outcome.render(args.output)?,
        OutputFormat::Yaml => outcome.render_yaml(args.output)?,
    };
    Ok((text, outcome.warnings))
}
