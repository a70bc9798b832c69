//! `irsa setup` and `irsa teardown`: what kfctl's AWS plugin did, idempotently.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use irsa_setup::{Change, Target, apply, connect, parse_config, plan, teardown};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// kfctl-style configuration: a KfDef, or its plugins list, with a KfAwsPlugin.
    #[arg(long)]
    config: PathBuf,
    /// The cluster's name (default: the KfDef's metadata.name).
    #[arg(long)]
    cluster_name: Option<String>,
    /// The cluster's OIDC issuer URL (`kubectl get --raw /.well-known/openid-configuration`).
    #[arg(long, env = "IRSA_ISSUER")]
    issuer: Option<String>,
    /// IAM/STS endpoint (default: the standard AWS chain, incl. AWS_ENDPOINT_URL_IAM).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The partition of the account (default from the configuration's region).
    #[arg(long)]
    partition: Option<String>,
    /// The account's trust-policy size quota (ACLSizePerRole).
    #[arg(long, default_value_t = 2048)]
    trust_limit: usize,
    /// Print the plan; call no mutating API.
    #[arg(long)]
    dry_run: bool,
}

fn partition_for(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

pub fn run(a: SetupArgs, remove: bool) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.config).with_context(|| format!("cannot read `{}`", a.config.display()))?;
    let parsed = parse_config(&text).with_context(|| format!("`{}`", a.config.display()))?;
    for w in &parsed.warnings {
        eprintln!("warning: {w}");
    }
    let cfg = parsed.config;
    let Some(cluster) = a.cluster_name.clone().or_else(|| cfg.cluster_name.clone()) else {
        bail!("no cluster name: pass --cluster-name (or give the KfDef a metadata.name)");
    };
    let Some(issuer) = a.issuer.clone() else {
        bail!(
            "pass --issuer with the cluster's OIDC issuer URL (on EKS: `aws eks describe-cluster --name {cluster} --query cluster.identity.oidc.issuer`)"
        );
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let (client, account) = connect(a.endpoint_url.as_deref()).await?;
        let target = Target {
            cluster_name: cluster.clone(),
            issuer_url: issuer,
            account,
            partition: a
                .partition
                .clone()
                .unwrap_or_else(|| partition_for(cfg.region.as_deref()).to_owned()),
            trust_limit: a.trust_limit,
            allow_http_issuer: false,
        };
        let p = plan(&cfg, &target)?;
        let verb = if a.dry_run { "would" } else { "did" };
        eprintln!(
            "{} for cluster {cluster} in account {} ({verb}):",
            if remove { "irsa teardown" } else { "irsa setup" },
            target.account
        );
        let show = |c: &Change| println!("  {c}");
        let changes = if remove {
            teardown(&client, &p, &cluster, a.dry_run, show).await?
        } else {
            apply(&client, &p, &cluster, a.dry_run, show).await?
        };
        if changes
            .iter()
            .all(|c| matches!(c, Change::Unchanged(_) | Change::Skipped(_)))
        {
            eprintln!("nothing to change");
        }
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}
