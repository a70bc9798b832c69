//! `irsa whoami`: GetCallerIdentity through the standard AWS credential chain,
//! the quickest check that a pod's (or a shell's) credentials work.

use anyhow::{Context as _, Result};
use aws_sdk_sts::error::ProvideErrorMetadata;
use clap::Args;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// STS endpoint (default: the standard chain, incl. AWS_ENDPOINT_URL_STS).
    #[arg(long)]
    endpoint_url: Option<String>,
}

pub fn run(a: WhoamiArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let conf = irsa_setup::sdk_config(a.endpoint_url.as_deref()).await;
        let who = aws_sdk_sts::Client::new(&conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "GetCallerIdentity failed: {}: {}",
                    e.code().unwrap_or("RequestFailed"),
                    e.message().map_or_else(|| e.to_string(), str::to_owned)
                )
            })?;
        let mut out = std::io::stdout().lock();
        let json = serde_json::json!({
            "UserId": who.user_id().unwrap_or_default(),
            "Account": who.account().unwrap_or_default(),
            "Arn": who.arn().unwrap_or_default(),
        });
        writeln!(out, "{json}")?;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}
