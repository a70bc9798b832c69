//! `irsa healthcheck --url URL`: a container health check for images without curl (the
//! distroless runtime image has no shell either). Docker's convention: exit 0 healthy, 1 not.

use clap::Args;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to GET (http:// or https://, which verifies the server's certificate).
    #[arg(long)]
    url: String,
    /// Seconds to wait for the whole answer.
    #[arg(long, default_value_t = 2.0)]
    timeout: f64,
}

/// The innermost cause of an error: `Connection refused (os error 111)` rather than reqwest's
/// "error sending request for url (...)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Why the check failed, in one line; `None` when healthy.
async fn check(url: &str, timeout: Duration) -> Option<String> {
    let client = match reqwest::Client::builder().timeout(timeout).no_proxy().build() {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot make an HTTP client: {}", root_cause(&e))),
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("HTTP {}", r.status())),
        Err(e) if e.is_timeout() => Some(format!("no answer within {} s", timeout.as_secs_f64())),
        Err(e) if e.is_builder() => Some(format!("not a usable URL: {}", root_cause(&e))),
        Err(e) => Some(root_cause(&e)),
    }
}

pub fn run(a: &HealthcheckArgs) -> ExitCode {
    // Every failure is exit 1, a bad flag value included: Docker reserves 2.
    let timeout = match Duration::try_from_secs_f64(a.timeout) {
        Ok(t) if !t.is_zero() => t,
        _ => {
            eprintln!("irsa healthcheck: --timeout must be a positive number of seconds");
            return ExitCode::from(1);
        }
    };
    let failure = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .map(|rt| rt.block_on(check(&a.url, timeout)));
    match failure {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(why)) | Err(why) => {
            let why = why.replace('\n', " ");
            eprintln!("irsa healthcheck: {}: {why}", a.url);
            ExitCode::from(1)
        }
    }
}
