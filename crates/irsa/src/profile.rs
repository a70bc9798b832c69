//! `irsa profile-controller`, `irsa profile render` and `irsa trust`.

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use irsa_controller::iam::TrustClient;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print every object the controller would apply for a Profile, and the trust change.
    #[command(after_help = "Examples:
  irsa profile render examples/profiles/team-a.yaml
  # With the controller's allow-list, as JSON
  irsa profile render --json --allowed-role 'arn:aws:iam::111122223333:role/kf-*' examples/profiles/team-a.yaml")]
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The Profile (YAML or JSON).
    profile: PathBuf,
    /// Print JSON instead of YAML.
    #[arg(long)]
    json: bool,
    /// The controller's flags, as for `irsa profile-controller`.
    #[command(flatten)]
    controller: Box<irsa_controller::ControllerArgs>,
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust `system:serviceaccount:NS:SA` in the role's trust policy (other statements untouched).
    #[command(after_help = "Examples:
  irsa trust add --role-arn arn:aws:iam::111122223333:role/kf-user --namespace team-a --service-account default-editor
  # A role that trusts no provider yet, against irsa server
  irsa trust add --role-arn arn:aws:iam::000000000000:role/r --issuer https://oidc.example.com/clusters/prod \\
    --namespace team-a --service-account default-editor --endpoint-url http://127.0.0.1:4566")]
    Add(TrustEditArgs),
    /// Stop trusting `system:serviceaccount:NS:SA` (a statement left without subjects is removed).
    #[command(after_help = "Examples:
  irsa trust remove --role-arn arn:aws:iam::111122223333:role/kf-user --namespace team-a --service-account default-editor
  irsa trust remove --role-arn arn:aws:iam::000000000000:role/r --namespace team-b --service-account default-editor \\
    --endpoint-url http://127.0.0.1:4566")]
    Remove(TrustEditArgs),
    /// Print the role's trust policy and what it grants each OIDC provider.
    #[command(after_help = "Examples:
  irsa trust show --role-arn arn:aws:iam::111122223333:role/kf-user
  irsa trust show --role-arn arn:aws:iam::000000000000:role/r --endpoint-url http://127.0.0.1:4566")]
    Show(TrustShowArgs),
}

#[derive(Debug, Args)]
pub struct TrustEditArgs {
    /// The role.
    #[arg(long)]
    role_arn: String,
    /// The OIDC issuer URL (default: the one provider the role already trusts).
    #[arg(long)]
    issuer: Option<String>,
    /// The service account's namespace.
    #[arg(long)]
    namespace: String,
    /// The service account.
    #[arg(long)]
    service_account: String,
    /// IAM endpoint (default: the standard AWS chain, incl. AWS_ENDPOINT_URL_IAM).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Trust-policy size limit, checked before writing (IAM's ACLSizePerRole quota; raise it
    /// only to match a raised quota or an `irsa server --trust-limit`).
    #[arg(long, default_value_t = 2048, env = "IRSA_TRUST_POLICY_LIMIT")]
    trust_limit: usize,
}

#[derive(Debug, Args)]
pub struct TrustShowArgs {
    /// The role.
    #[arg(long)]
    role_arn: String,
    /// IAM endpoint.
    #[arg(long)]
    endpoint_url: Option<String>,
}

pub fn controller(args: irsa_controller::ControllerArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(irsa_controller::run(args, crate::shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn profile(cmd: ProfileCommand) -> Result<ExitCode> {
    match cmd {
        ProfileCommand::Render(a) => {
            let text = std::fs::read_to_string(&a.profile)
                .with_context(|| format!("cannot read `{}`", a.profile.display()))?;
            let config = a.controller.config()?;
            let rendered = irsa_controller::render(&text, &config)?;
            let mut out = std::io::stdout().lock();
            if a.json {
                writeln!(out, "{}", rendered.to_json())?;
            } else {
                write!(out, "{}", rendered.objects_yaml()?)?;
                writeln!(out, "# trust changes:")?;
                for line in rendered.trust_summary().lines() {
                    writeln!(out, "# {line}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn trust_client(a: &TrustEditArgs) -> TrustClient {
    let mut client = TrustClient::from_env(a.endpoint_url.clone()).await;
    client.edit_loop_mut().limit = a.trust_limit;
    client
}

pub fn trust(cmd: TrustCommand) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let mut out = std::io::stdout().lock();
        match cmd {
            TrustCommand::Add(a) => {
                let client = trust_client(&a).await;
                let o = client
                    .add(&a.role_arn, a.issuer.as_deref(), &a.namespace, &a.service_account)
                    .await?;
                let what = if o.written { "now trusts" } else { "already trusted" };
                writeln!(
                    out,
                    "{}: {what} system:serviceaccount:{}:{}",
                    a.role_arn, a.namespace, a.service_account
                )?;
            }
            TrustCommand::Remove(a) => {
                let client = trust_client(&a).await;
                let o = client
                    .remove(&a.role_arn, a.issuer.as_deref(), &a.namespace, &a.service_account)
                    .await?;
                let what = if o.written { "no longer trusts" } else { "did not trust" };
                writeln!(
                    out,
                    "{}: {what} system:serviceaccount:{}:{}",
                    a.role_arn, a.namespace, a.service_account
                )?;
            }
            TrustCommand::Show(a) => {
                let client = TrustClient::from_env(a.endpoint_url.clone()).await;
                match client.show(&a.role_arn).await? {
                    None => anyhow::bail!("role `{}` does not exist", a.role_arn),
                    Some((doc, providers)) => {
                        let pretty = irsa_policy::Policy::parse(&doc).map_or(doc.clone(), |p| p.to_json_pretty());
                        writeln!(out, "{pretty}")?;
                        for p in providers {
                            writeln!(out, "\n{}:", p.provider)?;
                            writeln!(out, "  audiences: {}", p.audiences.join(", "))?;
                            for s in &p.subjects {
                                writeln!(out, "  trusts {s}")?;
                            }
                            for s in &p.subject_patterns {
                                writeln!(out, "  trusts pattern {s}")?;
                            }
                        }
                    }
                }
            }
        }
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}
