//! `irsa setup` and `irsa teardown`: what kfctl's AWS plugin did, idempotently.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use irsa_setup::{
    Change, Target, apply, connect_with, issuer_from_eks, issuer_thumbprints, parse_config, plan, sdk_config, teardown,
};
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
    /// Default: EKS DescribeCluster's `identity.oidc.issuer` for the cluster name, in the
    /// configuration's region (else the standard chain's).
    #[arg(long, env = "IRSA_ISSUER")]
    issuer: Option<String>,
    /// PEM CA bundle of an issuer behind a private CA: its TLS chain is verified against it and
    /// the provider gets the thumbprint of the top CA certificate. Without it no thumbprint is
    /// sent (IAM trusts public CAs itself; EKS issuers never need one). Setup only.
    #[arg(long, value_name = "PEM")]
    issuer_ca_file: Option<PathBuf>,
    /// IAM/STS/EKS endpoint (default: the standard AWS chain, incl. AWS_ENDPOINT_URL_IAM).
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
    let ca_pem = a
        .issuer_ca_file
        .as_ref()
        .map(|f| std::fs::read(f).with_context(|| format!("cannot read `{}`", f.display())))
        .transpose()?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let conf = sdk_config(a.endpoint_url.as_deref()).await;
        let issuer = match a.issuer.clone() {
            Some(issuer) => issuer,
            None => {
                // The cluster lives in the KfDef's region; kfctl used the SDK's default
                // region and failed when the two differed.
                let eks_conf = match &cfg.region {
                    Some(r) => conf.to_builder().region(aws_config::Region::new(r.clone())).build(),
                    None => conf.clone(),
                };
                let issuer = issuer_from_eks(&eks_conf, &cluster).await?;
                eprintln!("issuer of EKS cluster {cluster}: {issuer}");
                issuer
            }
        };
        let (client, account) = connect_with(&conf).await?;
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
        let mut p = plan(&cfg, &target)?;
        if !remove {
            p.provider.thumbprints = issuer_thumbprints(&p.provider.url, ca_pem.as_deref()).await?;
        }
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
