//! `irsa webhook`: the pod identity webhook, with amazon-eks-pod-identity-webhook's flags.

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WebhookCommand {
    #[command(subcommand)]
    sub: Option<WebhookSub>,
    #[command(flatten)]
    args: Box<irsa_webhook::WebhookArgs>,
}

#[derive(Debug, Subcommand)]
enum WebhookSub {
    /// What will the webhook do to this pod? Prints the JSONPatch (or the mutated pod)
    /// the server would answer with, from files and without a cluster.
    #[command(after_help = "Examples:
  irsa webhook mutate --service-account sa.yaml pod.yaml
  # The mutated pod as YAML, with the region injected
  kubectl get pod nb-0 -o yaml | irsa webhook mutate --service-account sa.yaml --aws-default-region=us-west-2 \\
    --output pod --format yaml -")]
    Mutate(Box<irsa_webhook::MutateArgs>),
}

impl WebhookCommand {
    /// The log level the upstream `-v` flag asks for.
    pub fn log_directive(&self) -> &'static str {
        match self.sub {
            Some(_) => "warn",
            None => self.args.klog.tracing_directive(),
        }
    }
}

pub fn run(cmd: WebhookCommand) -> Result<ExitCode> {
    match cmd.sub {
        Some(WebhookSub::Mutate(m)) => {
            let (out, warnings) = irsa_webhook::run_mutate(&m)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            if !out.ends_with('\n') {
                writeln!(stdout)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            if cmd.args.version {
                println!("{}", irsa_webhook::VERSION);
                return Ok(ExitCode::SUCCESS);
            }
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(irsa_webhook::run(&cmd.args, crate::shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
