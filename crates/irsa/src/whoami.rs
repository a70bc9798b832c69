//! `irsa whoami`: GetCallerIdentity through the standard AWS credential chain,
//! the quickest check that a pod's (or a shell's) credentials work.

use anyhow::{Context as _, Result};
use aws_sdk_sts::config::ProvideCredentials as _;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
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
        // Credentials first: when the chain fails (a refused web-identity token), the call
        // itself only says "dispatch failure"; the provider's error carries STS's answer.
        if let Some(provider) = conf.credentials_provider() {
            provider
                .provide_credentials()
                .await
                .map_err(|e| anyhow::anyhow!("cannot get credentials: {}", credentials_cause(&e)))?;
        }
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

/// What STS said when the credential chain failed (code and message of a refused
/// AssumeRoleWithWebIdentity), else the error chain in one line.
fn credentials_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(sts) = e.downcast_ref::<SdkError<AssumeRoleWithWebIdentityError>>()
            && let Some(code) = sts.code()
        {
            return format!(
                "AssumeRoleWithWebIdentity: {code}: {}",
                sts.message().unwrap_or_default()
            );
        }
        let text = e.to_string();
        if chain.last() != Some(&text) {
            chain.push(text);
        }
        current = e.source();
    }
    chain.join(": ")
}
