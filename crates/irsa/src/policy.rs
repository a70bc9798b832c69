//! `irsa policy`: the policy engine on the command line.

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use irsa_policy::trust::{OidcProvider, web_identity_trust};
use irsa_policy::{
    Context, Limits, Policy, PolicyKind, PolicyRole, PolicySet, Report, Request, RequestPrincipal, infer_kind, validate,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy documents as IAM would; exit 0 when all are valid, 1 when not.
    #[command(after_help = "Examples:
  # The kind (trust, resource, identity) is inferred from the document and named on stderr
  irsa policy validate examples/policies/kf-user-trust.json
  # Managed policies, one JSON line each
  irsa policy validate --kind managed -o json policies/*.json
  # A trust policy against a raised ACLSizePerRole quota
  irsa policy validate --kind trust --trust-limit 4096 trust.json")]
    Validate(ValidateArgs),
    /// Decide a request against policies, and say why.
    #[command(after_help = "Examples:
  # May team-a's notebook read team-b's object? (no: explained statement by statement)
  irsa policy eval --policy examples/policies/s3-home-prefix.json --action s3:GetObject \\
    --resource arn:aws:s3:::kubeflow-artifacts/home/team-b/model.pt \\
    --context aws:PrincipalTag/kubeflow-namespace=team-a
  # Would STS let this service account assume the role?
  irsa policy eval --trust-policy examples/policies/kf-user-trust.json \\
    --web-identity-subject system:serviceaccount:team-a:default-editor")]
    Eval(Box<EvalArgs>),
    /// Print a policy in canonical form.
    #[command(after_help = "Examples:
  irsa policy fmt examples/policies/kf-user-trust.json
  # The size IAM counts
  irsa policy fmt --compact policy.json | tr -d '\\n' | wc -c")]
    Fmt(FmtArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Trust,
    Identity,
    Resource,
    Session,
    Managed,
}

impl From<Kind> for PolicyKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Trust => PolicyKind::Trust,
            Kind::Identity => PolicyKind::Identity,
            Kind::Resource => PolicyKind::Resource,
            Kind::Session => PolicyKind::Session,
            Kind::Managed => PolicyKind::Managed,
        }
    }
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Trust-policy size limit (IAM's ACLSizePerRole quota; raised quotas allow more).
    #[arg(long, default_value_t = 2048, env = "IRSA_TRUST_POLICY_LIMIT")]
    trust_limit: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            trust: self.trust_limit,
            ..Limits::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy documents to check (`-` reads standard input).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// What the documents are for: decides required and prohibited elements and the size limit.
    /// Without it, each document's kind is inferred (a Principal with an sts:AssumeRole* action:
    /// trust; a Principal otherwise: resource; no Principal: identity) and named on stderr.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Identity-based policy of the caller (repeatable).
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// The resource's policy; for AssumeRole* calls, the role's trust policy.
    #[arg(long, value_name = "FILE", visible_alias = "trust-policy")]
    resource_policy: Option<PathBuf>,
    /// The caller's permissions boundary.
    #[arg(long, value_name = "FILE")]
    boundary: Option<PathBuf>,
    /// A session policy (repeatable; together they are one session policy).
    #[arg(long = "session-policy", value_name = "FILE")]
    session_policies: Vec<PathBuf>,
    /// The action, `service:Action` (default with --web-identity-subject:
    /// sts:AssumeRoleWithWebIdentity).
    #[arg(long, required_unless_present = "web_identity_subject")]
    action: Option<String>,
    /// Ask as STS does for a web identity token with this `sub`
    /// (`system:serviceaccount:NS:SA`): the caller is the OIDC provider, and the
    /// `<issuer>:sub`, `<issuer>:aud` and `aws:FederatedProvider` keys are set.
    #[arg(long, value_name = "SUB", requires = "resource_policy")]
    web_identity_subject: Option<String>,
    /// With --web-identity-subject: the provider ARN (default: the only OIDC
    /// provider the trust policy names).
    #[arg(long, value_name = "ARN", requires = "web_identity_subject")]
    provider: Option<String>,
    /// With --web-identity-subject: the token's audience.
    #[arg(long, default_value = "sts.amazonaws.com", requires = "web_identity_subject")]
    audience: String,
    /// The resource ARN.
    #[arg(long)]
    resource: Option<String>,
    /// The caller: an ARN, an account id, a service or provider name; prefix
    /// `Federated:`, `AWS:`, `Service:` or `CanonicalUser:` to force the type.
    #[arg(long)]
    principal: Option<String>,
    /// A request context key, `KEY=VALUE`; repeat a key for a multivalued key.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The policy document (`-` reads standard input).
    file: PathBuf,
    /// Print without whitespace, as IAM counts size.
    #[arg(long)]
    compact: bool,
}

pub fn run(cmd: PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Validate(a) => validate_cmd(&a),
        PolicyCommand::Eval(a) => eval_cmd(&a),
        PolicyCommand::Fmt(a) => fmt_cmd(&a),
    }
}

fn read(path: &Path) -> Result<String> {
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).context("reading standard input")?;
        b
    } else {
        std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?
    };
    String::from_utf8(bytes).with_context(|| format!("`{}` is not UTF-8 text", path.display()))
}

/// The `--output json` shape of `validate`, in the contract's member order
/// (a struct, so the order does not depend on serde_json's features).
#[derive(serde::Serialize)]
struct ReportJson<'a> {
    valid: bool,
    errors: &'a [irsa_policy::Diagnostic],
    warnings: &'a [irsa_policy::Diagnostic],
    size: usize,
    /// The kind the document was checked as.
    kind: PolicyKind,
    /// Whether that kind was inferred from the document (no `--kind`).
    kind_inferred: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

impl<'a> ReportJson<'a> {
    fn new(r: &'a Report, kind: PolicyKind, kind_inferred: bool, file: Option<String>) -> Self {
        ReportJson {
            valid: r.valid,
            errors: &r.errors,
            warnings: &r.warnings,
            size: r.size,
            kind,
            kind_inferred,
            file,
        }
    }
}

#[derive(serde::Serialize)]
struct EvalJson<'a> {
    decision: irsa_policy::Decision,
    explanation: &'a irsa_policy::Explanation,
}

fn validate_cmd(a: &ValidateArgs) -> Result<ExitCode> {
    let limits = a.limits.limits();
    let mut all_valid = true;
    let mut out = std::io::stdout().lock();
    for file in &a.files {
        let text = read(file)?;
        let kind = match a.kind {
            Some(k) => k.into(),
            None => {
                // On stderr, so that stdout stays one line (or one JSON object) per file.
                let guess = infer_kind(&text);
                eprintln!(
                    "irsa: {}: checked as {} {} policy: {} (--kind chooses)",
                    file.display(),
                    if guess.kind == PolicyKind::Identity { "an" } else { "a" },
                    guess.kind,
                    guess.reason
                );
                guess.kind
            }
        };
        let r = validate(&text, kind, &limits);
        all_valid &= r.valid;
        match a.output {
            Output::Json => {
                let name = (a.files.len() > 1).then(|| file.display().to_string());
                let json = ReportJson::new(&r, kind, a.kind.is_none(), name);
                writeln!(out, "{}", serde_json::to_string(&json)?)?;
            }
            Output::Text => {
                let verdict = if r.valid { "valid" } else { "invalid" };
                writeln!(
                    out,
                    "{}: {verdict} ({kind} policy, {} of {} characters)",
                    file.display(),
                    r.size,
                    r.limit
                )?;
                for e in &r.errors {
                    writeln!(out, "  error: {e}")?;
                }
                for w in &r.warnings {
                    writeln!(out, "  warning: {w}")?;
                }
            }
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads and checks a policy for its role in an evaluation; an invalid one is bad input.
fn load(path: &Path, kind: PolicyKind) -> Result<Policy> {
    let text = read(path)?;
    let unlimited = Limits {
        trust: usize::MAX,
        managed: usize::MAX,
        inline: usize::MAX,
        session: usize::MAX,
        resource: usize::MAX,
    };
    let r = validate(&text, kind, &unlimited);
    match r.policy {
        Some(p) if r.valid => Ok(p),
        _ => {
            let first = r.errors.first().map(ToString::to_string).unwrap_or_default();
            let more = match r.errors.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more; see `irsa policy validate`)", n - 1),
            };
            bail!("`{}` is not a valid {kind} policy: {first}{more}", path.display())
        }
    }
}

fn eval_cmd(a: &EvalArgs) -> Result<ExitCode> {
    let mut set = PolicySet::new();
    for p in &a.policies {
        set.add(
            PolicyRole::Identity,
            p.display().to_string(),
            &load(p, PolicyKind::Identity)?,
        );
    }
    if let Some(p) = &a.resource_policy {
        set.add(
            PolicyRole::Resource,
            p.display().to_string(),
            &load(p, PolicyKind::Resource)?,
        );
    }
    if let Some(p) = &a.boundary {
        set.add(
            PolicyRole::Boundary,
            p.display().to_string(),
            &load(p, PolicyKind::Managed)?,
        );
    }
    for p in &a.session_policies {
        set.add(
            PolicyRole::Session,
            p.display().to_string(),
            &load(p, PolicyKind::Session)?,
        );
    }
    if a.policies.is_empty() && a.resource_policy.is_none() {
        bail!("give at least one --policy or a --resource-policy: without them nothing can be allowed");
    }
    let mut ctx = Context::new();
    let mut principal = a.principal.clone();
    let mut action = a.action.clone();
    if let Some(subject) = &a.web_identity_subject {
        let provider = web_identity_provider(a)?;
        ctx.insert(&format!("{}:sub", provider.issuer), subject.as_str());
        ctx.insert(&format!("{}:aud", provider.issuer), a.audience.as_str());
        ctx.insert("aws:FederatedProvider", provider.arn.as_str());
        principal.get_or_insert(format!("Federated:{}", provider.arn));
        action.get_or_insert_with(|| "sts:AssumeRoleWithWebIdentity".to_owned());
    }
    let action = action.unwrap_or_default();
    let action = action.trim();
    if action != "*" && action.split(':').filter(|s| !s.is_empty()).count() != 2 {
        bail!("--action `{action}` must be `service:Action`, e.g. s3:GetObject");
    }
    for kv in &a.context {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--context `{kv}` must be KEY=VALUE");
        };
        if k.is_empty() {
            bail!("--context `{kv}` has an empty key");
        }
        ctx.push(k, v);
    }
    let mut req = Request::new(action).with_context(ctx);
    if let Some(r) = &a.resource {
        req = req.with_resource(r.clone());
    }
    if let Some(p) = &principal {
        req = req.with_principal(RequestPrincipal::parse(p));
    }
    let e = set.explain(&req);
    let mut out = std::io::stdout().lock();
    match a.output {
        Output::Json => writeln!(
            out,
            "{}",
            serde_json::to_string(&EvalJson {
                decision: e.decision,
                explanation: &e
            })?
        )?,
        Output::Text => write!(out, "{e}")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The provider a web-identity question is about: given, or the only one the trust policy names.
fn web_identity_provider(a: &EvalArgs) -> Result<OidcProvider> {
    if let Some(arn) = &a.provider {
        return Ok(OidcProvider::from_arn(arn)?);
    }
    let Some(path) = &a.resource_policy else {
        bail!("--web-identity-subject needs --trust-policy");
    };
    let policy = load(path, PolicyKind::Resource)?;
    let mut providers = web_identity_trust(&policy).into_iter().map(|t| t.provider);
    match (providers.next(), providers.next()) {
        (Some(p), None) => Ok(OidcProvider::from_arn(&p)?),
        (None, _) => bail!("`{}` names no OIDC provider; pass --provider", path.display()),
        (Some(_), Some(_)) => bail!("`{}` names several OIDC providers; pass --provider", path.display()),
    }
}

fn fmt_cmd(a: &FmtArgs) -> Result<ExitCode> {
    let text = read(&a.file)?;
    let p = Policy::parse(&text).map_err(|e| anyhow::anyhow!("`{}` is not a valid policy: {e}", a.file.display()))?;
    let mut out = std::io::stdout().lock();
    if a.compact {
        writeln!(out, "{}", p.to_json())?;
    } else {
        writeln!(out, "{}", p.to_json_pretty())?;
    }
    Ok(ExitCode::SUCCESS)
}
