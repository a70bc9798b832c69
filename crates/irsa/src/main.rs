//! `irsa`: IAM Roles for Service Accounts, end to end. One binary, a
//! subcommand per job; each subcommand is a thin shell over a library crate.

#![forbid(unsafe_code)]

mod docs;
mod healthcheck;
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
#[command(
    name = "irsa",
    version,
    about,
    after_help = "Examples:
  # The whole system on this machine: STS + IAM, an OIDC issuer, roles, tokens
  irsa up
  # Is this trust policy valid? (its kind is inferred)
  irsa policy validate examples/policies/kf-user-trust.json
  # STS + IAM for a CI job, in memory, with roles from a seed file
  irsa server --ephemeral --seed seed.yaml"
)]
struct Cli {
    /// Log format on stderr: text or json (also IRSA_LOG_FORMAT); IRSA_LOG sets the level.
    #[arg(long, global = true, env = "IRSA_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

// Every subcommand's help ends with examples (`after_help`, so `-h` shows them too, and the
// man pages carry them); a test walks the tree and checks.
#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, evaluate and format IAM policy documents.
    #[command(
        subcommand,
        after_help = "Examples:
  irsa policy validate examples/policies/kf-user-trust.json
  irsa policy eval --trust-policy examples/policies/kf-user-trust.json \\
    --web-identity-subject system:serviceaccount:team-a:default-editor
  irsa policy fmt --compact policy.json"
    )]
    Policy(policy::PolicyCommand),
    /// Service-account signing keys and the issuer's OIDC documents.
    #[command(
        subcommand,
        after_help = "Examples:
  irsa oidc keygen --alg RS256 --out sa-signer.key
  irsa oidc jwks --public-key sa-signer.key > keys.json
  irsa oidc serve --issuer https://oidc.example.com/clusters/prod --key sa-signer.key --listen 0.0.0.0:8443"
    )]
    Oidc(oidc::OidcCommand),
    /// Mint a projected service-account token, as the kubelet receives it.
    #[command(after_help = "Examples:
  # A token for team-a's default-editor, audience sts.amazonaws.com
  irsa token --signing-key sa-signer.key --issuer https://oidc.example.com/clusters/prod \\
    --namespace team-a --service-account default-editor > token.jwt
  # Bound to a pod, for 10 minutes, for another audience
  irsa token --signing-key sa-signer.key --issuer https://oidc.example.com/clusters/prod --namespace team-a \\
    --service-account default-editor --pod-name nb-0 --pod-uid 0b5e --expiration-seconds 600 --audience vault")]
    Token(oidc::TokenArgs),
    /// The pod identity webhook, a drop-in for amazon-eks-pod-identity-webhook
    /// (same flags, Go style `-port=443` too); `irsa webhook mutate` runs its
    /// mutation offline.
    #[command(
        disable_version_flag = true,
        after_help = "Examples:
  # The server, with upstream's flags (as deploy/webhook runs it)
  irsa webhook --in-cluster=false --port=9443 --tls-cert=tls.crt --tls-key=tls.key --watch-config-map
  # What will the webhook do to this pod? (offline, no cluster)
  irsa webhook mutate --service-account sa.yaml pod.yaml"
    )]
    Webhook(webhook::WebhookCommand),
    /// Register the cluster's OIDC issuer and create the kf-admin and kf-user roles
    /// (what kfctl's AWS plugin did with enablePodIamPolicy); idempotent.
    #[command(after_help = "Examples:
  # Print the plan for an EKS cluster (issuer from DescribeCluster), change nothing
  irsa setup --config examples/kfctl/kfdef-aws.yaml --dry-run
  # Against irsa server or moto, with a self-hosted cluster's issuer
  irsa setup --config examples/kfctl/kfdef-aws.yaml --issuer https://oidc.example.com/clusters/prod \\
    --endpoint-url http://127.0.0.1:4566")]
    Setup(setup::SetupArgs),
    /// Delete what `irsa setup` created (only what carries its tag).
    #[command(after_help = "Examples:
  irsa teardown --config examples/kfctl/kfdef-aws.yaml --dry-run
  irsa teardown --config examples/kfctl/kfdef-aws.yaml --endpoint-url http://127.0.0.1:4566")]
    Teardown(setup::SetupArgs),
    /// The whole system on this machine: STS + IAM, a cluster's OIDC issuer, `irsa setup`,
    /// Profiles' trust, and a projected token and env file per trusted service account.
    #[command(after_help = "Examples:
  # The built-in example: two Profiles, team-a trusted, team-b refused
  irsa up
  # Your own KfDef and Profiles, state kept in ./irsa-up
  irsa up --config my-profiles.yaml --data-dir ./irsa-up")]
    Up(up::UpArgs),
    /// The STS + IAM service: AssumeRoleWithWebIdentity for real, for the AWS CLI and SDKs.
    #[command(after_help = "Examples:
  # State in ./irsa-data, root credentials in ./irsa-data/root-credentials
  irsa server --listen 127.0.0.1:4566 --data-dir ./irsa-data --account-id 111122223333
  # For CI: in memory, known root keys, roles from a seed file
  IRSA_ROOT_ACCESS_KEY_ID=AKIAIRSACIEXAMPLE01 IRSA_ROOT_SECRET_ACCESS_KEY=irsa-ci-not-a-secret \\
    irsa server --ephemeral --seed seed.yaml
  # Replicas sharing state in etcd
  irsa server --etcd-endpoints http://127.0.0.1:2379 --listen 0.0.0.0:4566 --data-dir ./irsa-a")]
    Server(server::ServerArgs),
    /// The Kubeflow profile controller with the AwsIamForServiceAccount plugin.
    #[command(after_help = "Examples:
  # As deploy/profile-controller runs it, restricted to one family of roles
  irsa profile-controller --leader-elect --allowed-role 'arn:aws:iam::111122223333:role/kubeflow-profile-*'
  # Against a local irsa server, from a laptop's kubeconfig
  irsa profile-controller --kubeconfig ~/.kube/config --endpoint-url http://127.0.0.1:4566")]
    ProfileController(Box<irsa_controller::ControllerArgs>),
    /// Offline views of what the profile controller does.
    #[command(
        subcommand,
        after_help = "Examples:
  irsa profile render examples/profiles/team-a.yaml
  irsa profile render --json examples/profiles/team-a.yaml"
    )]
    Profile(profile::ProfileCommand),
    /// Edit a role's web-identity trust through the IAM API (AWS, moto or irsa server).
    #[command(
        subcommand,
        after_help = "Examples:
  irsa trust add --role-arn arn:aws:iam::111122223333:role/kf-user --namespace team-a --service-account default-editor
  irsa trust show --role-arn arn:aws:iam::111122223333:role/kf-user"
    )]
    Trust(profile::TrustCommand),
    /// Who am I? GetCallerIdentity with the standard AWS credential chain (env, profile,
    /// web identity from AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, ...).
    #[command(after_help = "Examples:
  # In a pod the webhook mutated (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE set)
  irsa whoami
  # Against irsa server
  irsa whoami --endpoint-url http://127.0.0.1:4566")]
    Whoami(whoami::WhoamiArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:
  irsa completions bash > ~/.local/share/bash-completion/completions/irsa
  irsa completions zsh > \"${fpath[1]}/_irsa\"
  irsa completions fish > ~/.config/fish/completions/irsa.fish")]
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff), or write one page per subcommand to a directory.
    #[command(after_help = "Examples:
  irsa man | man -l -
  irsa man --out /usr/local/share/man/man1")]
    Man(docs::ManArgs),
    /// GET a URL and exit 0 on a 2xx answer, else 1 with one line: a container health check
    /// for images without curl.
    #[command(after_help = "Examples:
  irsa healthcheck --url http://127.0.0.1:4566/healthz
  irsa healthcheck --url http://127.0.0.1:9999/readyz --timeout 1")]
    Healthcheck(healthcheck::HealthcheckArgs),
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
        Command::Completions(args) => docs::completions(&args, <Cli as clap::CommandFactory>::command()),
        Command::Man(args) => docs::man(&args, <Cli as clap::CommandFactory>::command()),
        Command::Healthcheck(args) => Ok(healthcheck::run(&args)),
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
