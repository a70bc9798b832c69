//! `irsa completions` and `irsa man`: shell completions and manual pages generated from the
//! same clap definition as the parser, so they cannot drift from the flags.

use anyhow::{Context as _, Result};
use clap::Args;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `irsa.1` and one page per subcommand (`irsa-policy-validate.1`, ...) to this
    /// directory (created if needed) instead of printing `irsa.1`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn completions(a: &CompletionsArgs, mut cmd: clap::Command) -> Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "irsa", &mut out);
    std::io::stdout()
        .lock()
        .write_all(&out)
        .context("writing to standard output")?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(a: &ManArgs, cmd: clap::Command) -> Result<ExitCode> {
    match &a.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing manual pages to `{}`", dir.display()))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("rendering the manual page")?;
            std::io::stdout()
                .lock()
                .write_all(&out)
                .context("writing to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
