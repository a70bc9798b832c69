//! `irsa`: IAM Roles for Service Accounts, end to end. One binary, a
//! subcommand per job; each subcommand is a thin shell over a library crate.

#![forbid(unsafe_code)]

mod oidc;
mod policy;
mod profile;
mod server;
mod setup;
mod up;
mod webhook;
mod whoami;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// IAM Roles for Service Accounts, end to end.
#[derive(Debug, Parser)]
#[command(name = "irsa", version, about)]
struct Cli {
    /// Log format on stderr: text or json (also IRSA_LOG_FORMAT); IRSA_LOG sets the level.
    #[arg(long, global = true, env = "IRSA_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, evaluate and format IAM policy documents.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Service-account signing keys and the issuer's OIDC documents.
    #[command(subcommand)]
    Oidc(oidc::OidcCommand),
    /// Mint a projected service-account token, as the kubelet receives it.
    Token(oidc::TokenArgs),
    /// The pod identity webhook, a drop-in for amazon-eks-pod-identity-webhook
    /// (same flags, Go style `-port=443` too); `irsa webhook mutate` runs its
    /// mutation offline.
    #[command(disable_version_flag = true)]
    Webhook(webhook::WebhookCommand),
    /// Register the cluster's OIDC issuer and create the kf-admin and kf-user roles
    /// (what kfctl's AWS plugin did with enablePodIamPolicy); idempotent.
    Setup(setup::SetupArgs),
    /// Delete what `irsa setup` created (only what carries its tag).
    Teardown(setup::SetupArgs),
    /// The whole system on this machine: STS + IAM, a cluster's OIDC issuer, `irsa setup`,
    /// Profiles' trust, and a projected token and env file per trusted service account.
    Up(up::UpArgs),
    /// The STS + IAM service: AssumeRoleWithWebIdentity for real, for the AWS CLI and SDKs.
    Server(server::ServerArgs),
    /// The Kubeflow profile controller with the AwsIamForServiceAccount plugin.
    ProfileController(Box<irsa_controller::ControllerArgs>),
    /// Offline views of what the profile controller does.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Edit a role's web-identity trust through the IAM API (AWS, moto or irsa server).
    #[command(subcommand)]
    Trust(profile::TrustCommand),
    /// Who am I? GetCallerIdentity with the standard AWS credential chain (env, profile,
    /// web identity from AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, ...).
    Whoami(whoami::WhoamiArgs),
}

/// Exit status for input the command could not use (unreadable files, bad
/// flags); validation failures exit 1.
const EXIT_BAD_INPUT: u8 = 2;

/// Resolves on Ctrl-C or SIGTERM, for graceful shutdown of servers.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn main() -> ExitCode {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The webhook takes upstream's Go-style flags (`-port=443`, `-v=4`).
    if argv.get(1).is_some_and(|a| a == "webhook") {
        argv = irsa_webhook::config::normalize_go_flags(argv);
    }
    let cli = Cli::parse_from(argv);
    // One crypto provider for every TLS user in the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let default_level = match &cli.command {
        Command::Webhook(w) => w.log_directive(),
        // `irsa up` talks to its user on stdout; per-request logs are one IRSA_LOG=info away.
        Command::Up(_) => "warn",
        // whoami reports a failed credential chain itself, in one line; the SDK's own WARN
        // lines would repeat it several times over.
        Command::Whoami(_) => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IRSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let result = match cli.command {
        Command::Policy(cmd) => policy::run(cmd),
        Command::Oidc(cmd) => oidc::run(cmd),
        Command::Token(args) => oidc::token(args),
        Command::Webhook(cmd) => webhook::run(cmd),
        Command::Setup(args) => setup::run(args, false),
        Command::Teardown(args) => setup::run(args, true),
        Command::Server(args) => server::run(args),
        Command::Up(args) => up::run(args),
        Command::ProfileController(args) => profile::controller(*args),
        Command::Profile(cmd) => profile::profile(cmd),
        Command::Trust(cmd) => profile::trust(cmd),
        Command::Whoami(args) => whoami::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line, no backtrace: what was wrong and where.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("irsa: error: {msg}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
