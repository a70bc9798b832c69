//! `irsa up`: the whole IRSA flow on one machine. One listener serves the STS +
//! IAM service (embedded store) and the OIDC issuer of a simulated cluster;
//! `irsa setup` runs against it; the configured Profiles get their trust through
//! the profile controller's own plugin logic; and every trusted service account
//! gets the token a kubelet would project plus an env file for the AWS CLI and
//! SDKs. Tokens are re-minted before they expire, as the kubelet does.

use anyhow::{Context as _, Result, bail};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_iam::error::ProvideErrorMetadata as _;
use clap::Args;
use irsa_controller::aws::{self, AwsPlan, RoleArn};
use irsa_controller::config::AwsConfig;
use irsa_controller::crd::{AwsStatus, Profile, ProfileSpec};
use irsa_controller::iam::SdkRoleTrust;
use irsa_controller::plugin;
use irsa_controller::trust::TrustEditLoop;
use irsa_oidc::{Algorithm, IssuerDocuments, SigningKey, TokenParams};
use irsa_policy::trust::{OidcProvider, TrustEditor};
use irsa_setup::{Plan, SetupConfig, Target};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The configuration used without `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../../examples/up/irsa-up.yaml");
/// The account of the local IAM.
const ACCOUNT: &str = "000000000000";
/// The tag on profile roles `irsa up` had to create.
const CREATED_BY_UP: (&str, &str) = ("irsa.dev/managed-by", "irsa-up");
const STATE_FILE: &str = "up-state.json";
const KEY_FILE: &str = "sa-signer.key";

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where state lives: the IAM store, root credentials, the issuer's key and the
    /// service accounts' tokens [default: $XDG_DATA_HOME/irsa/up].
    #[arg(long, env = "IRSA_UP_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the STS + IAM endpoint and of the OIDC issuer. The port is part of the
    /// issuer URL registered in IAM, so it must be fixed (not 0).
    #[arg(long, env = "IRSA_UP_LISTEN", default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// A KfDef (with a KfAwsPlugin) and Profiles, as one multi-document YAML file
    /// [default: examples/up/irsa-up.yaml, built in].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Lifetime of the projected tokens, in seconds (kube's minimum is 600); they are
    /// re-minted at 80% of it.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(600..=86_400))]
    token_ttl: u64,
    /// Seconds between token refreshes [default: 80% of --token-ttl]; for tests.
    #[arg(long, hide = true)]
    token_refresh: Option<u64>,
}

/// `irsa up`'s configuration: what `irsa setup` reads, plus the Profiles.
#[derive(Debug)]
pub struct UpConfig {
    pub setup: SetupConfig,
    pub warnings: Vec<String>,
    pub cluster: String,
    pub region: String,
    pub profiles: Vec<Profile>,
}

/// Splits a multi-document YAML (or JSON) file into its KfDef and its Profiles. Without a KfDef,
/// the built-in one is used, so a file of Profiles alone is enough.
pub fn parse_up_config(text: &str) -> Result<UpConfig> {
    let docs: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(list)) if list.iter().any(|d| d.get("kind").is_some_and(|k| k == "Profile")) => list,
        Ok(v) => vec![v],
        Err(_) => serde_saphyr::from_multiple::<Value>(text).map_err(|e| anyhow::anyhow!("not valid YAML: {e}"))?,
    };
    let mut kfdef = None;
    let mut profiles: Vec<Profile> = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        if doc.get("kind").and_then(Value::as_str) == Some("Profile") {
            let p: Profile =
                serde_json::from_value(doc).with_context(|| format!("document {}: not a Profile", i + 1))?;
            let Some(name) = p.metadata.name.clone().filter(|n| !n.is_empty()) else {
                bail!("document {}: a Profile needs metadata.name", i + 1);
            };
            irsa_policy::trust::service_account_subject(&name, "default-editor")
                .with_context(|| format!("Profile `{name}`"))?;
            if profiles.iter().any(|q| q.metadata.name.as_deref() == Some(&name)) {
                bail!("Profile `{name}` is given twice");
            }
            profiles.push(p);
        } else if kfdef.replace(doc).is_some() {
            bail!(
                "document {}: more than one KfDef (or plugins list) in the configuration",
                i + 1
            );
        }
    }
    let kfdef_text = match kfdef {
        Some(doc) => doc.to_string(),
        None => {
            let builtin = serde_saphyr::from_multiple::<Value>(DEFAULT_CONFIG)
                .map_err(|e| anyhow::anyhow!("built-in configuration: {e}"))?;
            builtin
                .into_iter()
                .find(|d| d.get("kind").and_then(Value::as_str) == Some("KfDef"))
                .map(|d| d.to_string())
                .unwrap_or_default()
        }
    };
    let parsed = irsa_setup::parse_config(&kfdef_text)?;
    let cluster = parsed.config.cluster_name.clone().unwrap_or_else(|| "local".to_owned());
    let region = parsed.config.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
    Ok(UpConfig {
        setup: parsed.config,
        warnings: parsed.warnings,
        cluster,
        region,
        profiles,
    })
}

/// The issuer URL of the simulated cluster: on the service's own listener, under `/clusters/NAME`.
pub fn issuer_url(listen: SocketAddr, cluster: &str) -> Result<String> {
    if listen.port() == 0 {
        bail!("--listen needs a fixed port: it is part of the issuer URL registered in IAM");
    }
    Ok(format!("http://{}/clusters/{cluster}", reachable(listen)))
}

/// An address clients can dial: a wildcard listener is reached on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

/// A service account that some role trusts, and where its files go.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identity {
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    /// Who made it trusted: `profile team-a`, `irsa setup`.
    pub source: String,
}

/// A dotenv value, quoted only when a shell would split or expand it (`docker --env-file`
/// takes quotes literally, so plain values stay plain).
fn env_value(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:+=,@%".contains(&b))
    {
        v.to_owned()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// The env file of one identity: what the pod identity webhook would inject.
pub fn env_file(role_arn: &str, token_file: &Path, endpoint: &str, region: &str) -> String {
    let token = token_file.to_string_lossy();
    [
        ("AWS_ROLE_ARN", role_arn),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", &token),
        ("AWS_ENDPOINT_URL_STS", endpoint),
        ("AWS_ENDPOINT_URL_IAM", endpoint),
        ("AWS_REGION", region),
        // botocore (the AWS CLI, boto3) reads only this one.
        ("AWS_DEFAULT_REGION", region),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}\n", env_value(v)))
    .collect()
}

/// What `irsa up` applied last time, so a Profile dropped from the configuration loses its trust.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct UpState {
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    profiles: BTreeMap<String, AwsStatus>,
}

fn read_state(dir: &Path) -> Result<UpState> {
    match std::fs::read_to_string(dir.join(STATE_FILE)) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("`{}` is damaged", dir.join(STATE_FILE).display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UpState::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", dir.join(STATE_FILE).display())),
    }
}

/// Replaces `path` atomically (write, then rename), owner-only, so readers never see half a file.
fn write_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace `{}`", path.display()))
}

fn write_state(dir: &Path, state: &UpState) -> Result<()> {
    let text = serde_json::to_string_pretty(state).context("encoding the state")?;
    write_file(&dir.join(STATE_FILE), &text)
}

/// The issuer's signing key: made at first start, reused after (tokens stay verifiable).
fn signing_key(dir: &Path) -> Result<SigningKey> {
    let path = dir.join(KEY_FILE);
    if !path.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
        let pem = irsa_oidc::keygen(Algorithm::RS256)?;
        irsa_oidc::write_private_key_pem(&path, &pem, false)?;
    }
    SigningKey::from_pem_file(&path).with_context(|| format!("`{}`", path.display()))
}

fn iam_failure(operation: &str, e: &impl aws_sdk_iam::error::ProvideErrorMetadata) -> anyhow::Error {
    anyhow::anyhow!(
        "{operation} failed: {}: {}",
        e.code().unwrap_or("RequestFailed"),
        e.message().unwrap_or("no message")
    )
}

/// Creates a Profile's role if it does not exist, trusting nobody (the plugin adds the Profile's
/// service accounts): on a laptop there is no one else to create it. Callers pass only the role
/// of a plugin plan, which names one only when it is valid and allow-listed (our account).
async fn ensure_profile_role(
    iam: &aws_sdk_iam::Client,
    role_arn: &str,
    profile: &str,
    config: &AwsConfig,
) -> Result<Option<String>> {
    let role = RoleArn::parse(role_arn)?;
    match iam.get_role().role_name(&role.name).send().await {
        Ok(_) => return Ok(None),
        Err(e) if e.code() == Some("NoSuchEntity") => {}
        Err(e) => return Err(iam_failure("GetRole", &e)),
    }
    let issuer = config.oidc_issuer.as_deref().unwrap_or_default();
    let provider = OidcProvider::from_issuer(&role.partition, &role.account, issuer)?;
    let trust = TrustEditor::new(provider).trusting_nobody().document;
    let path = role
        .arn
        .split_once(":role")
        .map(|(_, rest)| rest.trim_end_matches(role.name.as_str()).to_owned())
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| "/".to_owned());
    let tag = aws_sdk_iam::types::Tag::builder()
        .key(CREATED_BY_UP.0)
        .value(CREATED_BY_UP.1)
        .build()
        .map_err(|e| anyhow::anyhow!("tag: {e}"))?;
    iam.create_role()
        .role_name(&role.name)
        .path(path)
        .assume_role_policy_document(trust)
        .description(format!("Profile role created by irsa up for {profile}"))
        .tags(tag)
        .send()
        .await
        .map_err(|e| iam_failure("CreateRole", &e))?;
    Ok(Some(role.arn))
}

fn report_plan(name: &str, plan: &AwsPlan) {
    for c in plan.conditions.iter().filter(|c| c.status) {
        println!("  profile {name}: {}: {}", c.type_, c.message);
    }
}

/// Applies every Profile's AWS plugin with the controller's logic, revokes what Profiles dropped
/// from the configuration had, and returns the service accounts now trusted.
async fn apply_profiles(
    iam: &aws_sdk_iam::Client,
    config: &AwsConfig,
    profiles: &[Profile],
    state: &mut UpState,
) -> Result<Vec<Identity>> {
    let mut edits = TrustEditLoop::new(SdkRoleTrust::new(iam.clone(), 0.0));
    // irsa's store is read-after-write consistent: no need to wait out IAM's propagation.
    edits.settle = Duration::from_millis(10);
    edits.limit = config.trust_limit;
    let mut identities = Vec::new();
    let wanted: BTreeSet<&str> = profiles.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
    let dropped: Vec<String> = state
        .profiles
        .keys()
        .filter(|k| !wanted.contains(k.as_str()))
        .cloned()
        .collect();
    for name in dropped {
        let gone = Profile::new(&name, ProfileSpec::default());
        let ops = aws::deletion_plan(&gone, config, state.profiles.get(&name));
        let mut writes = 0;
        plugin::revoke_all(&edits, &ops, &mut writes)
            .await
            .with_context(|| format!("revoking the trust of removed Profile `{name}`"))?;
        println!("  profile {name}: removed from the configuration, {writes} trust change(s) revoked");
        state.profiles.remove(&name);
    }
    for profile in profiles {
        let name = profile.metadata.name.clone().unwrap_or_default();
        let previous = state.profiles.get(&name).cloned();
        let previous_role = previous.as_ref().map(|a| a.applied_role_arn.clone());
        let mut plan = aws::plan(profile, config, previous.as_ref());
        // The plan names a role only when it is valid and allow-listed.
        if let Some(target) = &plan.applied
            && let Some(arn) = ensure_profile_role(iam, &target.applied_role_arn, &name, config).await?
        {
            println!("  profile {name}: created role {arn} (it did not exist)");
        }
        report_plan(&name, &plan);
        if let Some(msg) = plugin::check_required_tag(&edits, config, &name, previous.as_ref(), &mut plan).await? {
            println!("  profile {name}: {msg}");
        }
        let mut applied = previous;
        let mut writes = 0;
        plugin::revoke(&edits, &plan, &mut applied, &mut writes)
            .await
            .with_context(|| format!("revoking the old trust of Profile `{name}`"))?;
        let granted = plugin::grant(&edits, &plan).await;
        writes += granted.writes;
        if let Some(e) = &granted.failure {
            println!("  profile {name}: trust not granted: {e}");
        }
        let trusted: BTreeSet<String> = granted
            .applied
            .as_ref()
            .map(|a| a.subjects.iter().cloned().collect())
            .unwrap_or_default();
        match &granted.applied {
            Some(a) => {
                state.profiles.insert(name.clone(), a.clone());
            }
            None => {
                state.profiles.remove(&name);
            }
        }
        for (sa, annotations) in &plan.annotations {
            let Some(role) = annotations.get(irsa_controller::desired::ROLE_ARN_ANNOTATION) else {
                continue;
            };
            let subject = irsa_policy::trust::service_account_subject(&name, sa)?;
            let annotate_only = granted
                .applied
                .as_ref()
                .is_some_and(|a| a.mode == irsa_controller::crd::AwsMode::AnnotateOnly);
            if trusted.contains(&subject) || annotate_only {
                identities.push(Identity {
                    namespace: name.clone(),
                    service_account: sa.clone(),
                    role_arn: role.clone(),
                    source: format!("profile {name}"),
                });
            }
        }
        let old_role = previous_role.as_deref();
        let new_role = granted.applied.as_ref().map(|a| a.applied_role_arn.as_str());
        let verb = if granted.applied.is_none() && plan.conditions.iter().any(|c| c.status) {
            "not applied".to_owned()
        } else if old_role.is_some() && old_role != new_role {
            format!(
                "role changed from {} to {}; the old trust is revoked",
                old_role.unwrap_or_default(),
                new_role.unwrap_or("none")
            )
        } else if writes == 0 {
            "unchanged".to_owned()
        } else {
            "trust updated".to_owned()
        };
        println!("  profile {name}: {verb}");
    }
    Ok(identities)
}

/// The service accounts `irsa setup`'s roles trust from the start.
fn setup_identities(plan: &Plan) -> Vec<Identity> {
    plan.roles
        .iter()
        .flat_map(|r| {
            r.trusted.iter().filter_map(|subject| {
                let rest = subject.strip_prefix("system:serviceaccount:")?;
                let (ns, sa) = rest.split_once(':')?;
                Some(Identity {
                    namespace: ns.to_owned(),
                    service_account: sa.to_owned(),
                    role_arn: r.arn.clone(),
                    source: "irsa setup".to_owned(),
                })
            })
        })
        .collect()
}

struct Projector {
    key: SigningKey,
    issuer: String,
    ttl: i64,
    root: PathBuf,
    endpoint: String,
    region: String,
}

impl Projector {
    fn dir(&self, id: &Identity) -> PathBuf {
        self.root.join(&id.namespace).join(&id.service_account)
    }

    /// Mints and writes every identity's token (and env file), as the kubelet projects them.
    fn project(&self, identities: &[Identity], with_env: bool) -> Result<()> {
        for id in identities {
            let dir = self.dir(id);
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
            let mut params = TokenParams::new(&self.issuer, &id.namespace, &id.service_account);
            params.expiration_seconds = self.ttl;
            let token = irsa_oidc::mint_token(&self.key, &params)?;
            let token_path = dir.join("token");
            write_file(&token_path, &token)?;
            if with_env {
                let env = env_file(&id.role_arn, &token_path, &self.endpoint, &self.region);
                write_file(&dir.join("env"), &env)?;
            }
        }
        Ok(())
    }

    /// Removes the directories of service accounts no role trusts any more: a kubelet stops
    /// projecting what the pod no longer has.
    fn prune(&self, identities: &[Identity]) -> Result<()> {
        let keep: BTreeSet<PathBuf> = identities.iter().map(|i| self.dir(i)).collect();
        let Ok(namespaces) = std::fs::read_dir(&self.root) else {
            return Ok(());
        };
        for ns in namespaces.flatten() {
            let ns_path = ns.path();
            if !ns_path.is_dir() {
                continue;
            }
            for sa in std::fs::read_dir(&ns_path).into_iter().flatten().flatten() {
                if sa.path().is_dir() && !keep.contains(&sa.path()) {
                    std::fs::remove_dir_all(sa.path())
                        .with_context(|| format!("cannot remove `{}`", sa.path().display()))?;
                }
            }
            if std::fs::read_dir(&ns_path).is_ok_and(|mut d| d.next().is_none()) {
                let _ = std::fs::remove_dir(&ns_path);
            }
        }
        Ok(())
    }
}

pub fn run(a: UpArgs) -> Result<ExitCode> {
    let text = match &a.config {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read `{}`", p.display()))?,
        None => DEFAULT_CONFIG.to_owned(),
    };
    let cfg = parse_up_config(&text).with_context(|| match &a.config {
        Some(p) => format!("`{}`", p.display()),
        None => "the built-in configuration".to_owned(),
    })?;
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    let dir = a
        .data_dir
        .clone()
        .unwrap_or_else(|| crate::server::default_data_dir().join("up"));
    let issuer = issuer_url(a.listen, &cfg.cluster)?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let refresh = Duration::from_secs(a.token_refresh.unwrap_or(a.token_ttl * 4 / 5).max(1));
    rt.block_on(up(dir, a.listen, issuer, cfg, a.token_ttl, refresh))
}

async fn up(
    dir: PathBuf,
    listen: SocketAddr,
    issuer: String,
    cfg: UpConfig,
    ttl: u64,
    refresh: Duration,
) -> Result<ExitCode> {
    // Owner-only: the directory holds the issuer's signing key, the root key and tokens.
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let mut state = read_state(&dir)?;
    if !state.issuer.is_empty() && state.issuer != issuer {
        eprintln!(
            "warning: the issuer was {} last time and is {issuer} now (a different --listen): service accounts \
             trusted for the old issuer keep that trust until their Profiles change",
            state.issuer
        );
    }
    let key = signing_key(&dir.join("oidc"))?;
    let docs = IssuerDocuments::new(
        &issuer,
        None,
        std::slice::from_ref(key.public_key()),
        Duration::from_secs(60),
    )?;

    let server_config = irsa_server::ServerConfig {
        listen,
        account: ACCOUNT.to_owned(),
        region: cfg.region.clone(),
        allow_http_issuers: true,
        http: irsa_serve::Limits::from_env()?,
        ..irsa_server::ServerConfig::new(&dir)
    };
    // Fails here, with the reason, when the service cannot listen (port taken, store locked, ...).
    let mut server = irsa_server::spawn_with(server_config, irsa_oidc::router(docs)).await?;
    let started = server.started().clone();
    let endpoint = format!("http://{}", reachable(started.addr));
    // `irsa up` runs on the embedded store, which always writes the file.
    let root_credentials_file = started
        .root_credentials_file
        .clone()
        .context("the STS + IAM service wrote no root credentials file")?;

    let result = async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(cfg.region.clone()))
            .endpoint_url(&endpoint)
            .credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_files(
                        EnvConfigFiles::builder()
                            .with_file(EnvConfigFileKind::Credentials, &root_credentials_file)
                            .build(),
                    )
                    .build(),
            )
            .load()
            .await;
        let (iam, account) = irsa_setup::connect_with(&conf).await?;
        let target = Target {
            cluster_name: cfg.cluster.clone(),
            issuer_url: issuer.clone(),
            account: account.clone(),
            partition: "aws".to_owned(),
            trust_limit: 2048,
            allow_http_issuer: true,
        };
        let plan = irsa_setup::plan(&cfg.setup, &target)?;
        println!("irsa setup for cluster {} (account {account}):", cfg.cluster);
        irsa_setup::apply(&iam, &plan, &cfg.cluster, false, |c| println!("  {c}")).await?;
        let kf_user = plan.roles.iter().map(|r| r.arn.clone()).next_back().unwrap_or_default();
        let mut patterns = vec![kf_user];
        patterns.extend(cfg.setup.profile_role_arn_patterns.iter().cloned());
        let aws_config = AwsConfig {
            oidc_issuer: Some(issuer.clone()),
            audience: irsa_setup::STS_AUDIENCE.to_owned(),
            annotate_viewer: false,
            allowed_role_patterns: patterns,
            required_role_tag: None,
            account_id: Some(account),
            allow_cross_account: false,
            trust_limit: 2048,
        };
        println!("profiles:");
        let mut identities = setup_identities(&plan);
        identities.extend(apply_profiles(&iam, &aws_config, &cfg.profiles, &mut state).await?);
        identities.sort();
        identities.dedup_by(|a, b| a.namespace == b.namespace && a.service_account == b.service_account);
        state.issuer.clone_from(&issuer);
        write_state(&dir, &state)?;
        Ok::<_, anyhow::Error>(identities)
    }
    .await;
    let identities = match result {
        Ok(ids) => ids,
        Err(e) => {
            let _ = server.stop().await;
            return Err(e);
        }
    };

    let projector = Projector {
        key,
        issuer: issuer.clone(),
        ttl: i64::try_from(ttl).unwrap_or(3600),
        root: dir.join("profiles"),
        endpoint: endpoint.clone(),
        region: cfg.region.clone(),
    };
    projector.prune(&identities)?;
    projector.project(&identities, true)?;
    print_summary(
        &dir,
        &endpoint,
        &issuer,
        &root_credentials_file,
        &identities,
        &projector,
    );

    // Re-mint at 80% of the lifetime, as the kubelet does.
    let mut stop = std::pin::pin!(crate::shutdown_signal());
    let outcome = loop {
        tokio::select! {
            () = tokio::time::sleep(refresh) => {
                match projector.project(&identities, false) {
                    Ok(()) => println!("irsa up: {} projected tokens refreshed", identities.len()),
                    Err(e) => eprintln!("warning: refreshing the projected tokens failed: {e:#}"),
                }
            }
            () = &mut stop => break Ok(()),
            ended = server.ended() => break ended,
        }
    };
    // A service that already ended reported its outcome above.
    let _ = server.stop().await;
    outcome?;
    println!("irsa up: stopped; state kept in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn print_summary(
    dir: &Path,
    endpoint: &str,
    issuer: &str,
    root_credentials: &Path,
    identities: &[Identity],
    projector: &Projector,
) {
    println!();
    println!("irsa up: running (Ctrl-C stops it; state in {})", dir.display());
    println!("  STS + IAM    {endpoint}");
    println!("  OIDC issuer  {issuer}");
    println!(
        "  root key     {} (AWS credentials-file format)",
        root_credentials.display()
    );
    println!("  service accounts (token and env file in each directory):");
    for id in identities {
        println!(
            "    {}/{} -> {} [{}]  {}",
            id.namespace,
            id.service_account,
            id.role_arn,
            id.source,
            projector.dir(id).display()
        );
    }
    if let Some(first) = identities
        .iter()
        .find(|i| i.source.starts_with("profile"))
        .or(identities.first())
    {
        let env = projector.dir(first).join("env");
        let env = env_value(&env.to_string_lossy());
        // This binary's own path: `irsa whoami` needs nothing else installed (no AWS CLI).
        let irsa = std::env::current_exe()
            .map(|p| env_value(&p.to_string_lossy()))
            .unwrap_or_else(|_| "irsa".to_owned());
        println!();
        println!(
            "Try it in another terminal ({}/{}'s credentials, as its pod gets them):",
            first.namespace, first.service_account
        );
        println!("  (set -a; . {env}; {irsa} whoami)");
        println!(
            "  (set -a; . {env}; aws sts get-caller-identity)    # the AWS CLI, boto3 and the SDKs read the same variables"
        );
        if let Some(other) = identities
            .iter()
            .find(|i| i.source.starts_with("profile") && i.namespace != first.namespace)
        {
            let token = env_value(&projector.dir(other).join("token").to_string_lossy());
            println!(
                "  (set -a; . {env}; AWS_WEB_IDENTITY_TOKEN_FILE={token} {irsa} whoami)    # {}'s token: refused, with the reason",
                other.namespace
            );
        }
    }
    println!("irsa up: ready");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_has_a_kfdef_and_two_profiles() {
        let c = parse_up_config(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.cluster, "local");
        assert_eq!(c.region, "us-east-1");
        assert!(c.setup.enable_pod_iam_policy);
        let names: Vec<_> = c.profiles.iter().filter_map(|p| p.metadata.name.clone()).collect();
        assert_eq!(names, ["team-a", "team-b"]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn profiles_alone_use_the_built_in_kfdef() {
        let c = parse_up_config(
            "apiVersion: kubeflow.org/v1\nkind: Profile\nmetadata: {name: ml}\nspec:\n  owner: {kind: User, name: a@b.c}\n",
        )
        .unwrap();
        assert_eq!(c.cluster, "local");
        assert_eq!(c.profiles.len(), 1);
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let twice = "kind: Profile\napiVersion: kubeflow.org/v1\nmetadata: {name: a}\nspec: {}\n---\nkind: Profile\napiVersion: kubeflow.org/v1\nmetadata: {name: a}\nspec: {}\n";
        assert!(format!("{:#}", parse_up_config(twice).unwrap_err()).contains("given twice"));
        let unnamed = "kind: Profile\napiVersion: kubeflow.org/v1\nmetadata: {}\nspec: {}\n";
        assert!(format!("{:#}", parse_up_config(unnamed).unwrap_err()).contains("metadata.name"));
        let bad_name = "kind: Profile\napiVersion: kubeflow.org/v1\nmetadata: {name: Team_A}\nspec: {}\n";
        assert!(parse_up_config(bad_name).is_err());
        let two_kfdefs = "kind: KfDef\nspec: {plugins: []}\n---\nkind: KfDef\nspec: {plugins: []}\n";
        assert!(format!("{:#}", parse_up_config(two_kfdefs).unwrap_err()).contains("more than one"));
        assert!(parse_up_config("a: [").is_err());
        let no_plugin = "kind: KfDef\nmetadata: {name: x}\nspec: {plugins: []}\n";
        assert!(format!("{:#}", parse_up_config(no_plugin).unwrap_err()).contains("KfAwsPlugin"));
    }

    #[test]
    fn issuer_urls_need_a_fixed_port_and_a_dialable_host() {
        assert_eq!(
            issuer_url("0.0.0.0:4566".parse().unwrap(), "local").unwrap(),
            "http://127.0.0.1:4566/clusters/local"
        );
        assert_eq!(
            issuer_url("[::]:8080".parse().unwrap(), "c").unwrap(),
            "http://[::1]:8080/clusters/c"
        );
        assert!(issuer_url("127.0.0.1:0".parse().unwrap(), "local").is_err());
    }

    #[test]
    fn env_files_quote_only_what_a_shell_would_split() {
        let env = env_file(
            "arn:aws:iam::000000000000:role/kf-user-local",
            Path::new("/home/a b/token"),
            "http://127.0.0.1:4566",
            "us-east-1",
        );
        insta::assert_snapshot!(env, @r"
        AWS_ROLE_ARN=arn:aws:iam::000000000000:role/kf-user-local
        AWS_WEB_IDENTITY_TOKEN_FILE='/home/a b/token'
        AWS_ENDPOINT_URL_STS=http://127.0.0.1:4566
        AWS_ENDPOINT_URL_IAM=http://127.0.0.1:4566
        AWS_REGION=us-east-1
        AWS_DEFAULT_REGION=us-east-1
        ");
        assert_eq!(env_value("it's"), r"'it'\''s'");
    }

    #[test]
    fn setup_roles_trusted_service_accounts_become_identities() {
        let c = parse_up_config(DEFAULT_CONFIG).unwrap();
        let plan = irsa_setup::plan(
            &c.setup,
            &Target {
                cluster_name: "local".into(),
                issuer_url: "http://127.0.0.1:4566/clusters/local".into(),
                account: ACCOUNT.into(),
                partition: "aws".into(),
                trust_limit: 2048,
                allow_http_issuer: true,
            },
        )
        .unwrap();
        let ids = setup_identities(&plan);
        assert!(ids.iter().any(|i| i.namespace == "kubeflow"
            && i.service_account == "kf-user"
            && i.role_arn.ends_with(":role/kf-user-local")));
        assert!(
            ids.iter()
                .any(|i| i.service_account == "profiles-controller-service-account"
                    && i.role_arn.ends_with(":role/kf-admin-local"))
        );
    }
}
