//! `irsa`: IAM Roles for Service Accounts, end to end. One binary, a
//! subcommand per job; each subcommand is a thin shell over a library crate.

#![forbid(unsafe_code)]

mod policy;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// IAM Roles for Service Accounts, end to end.
#[derive(Debug, Parser)]
#[command(name = "irsa", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, evaluate and format IAM policy documents.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

/// Exit status for input the command could not use (unreadable files, bad
/// flags); validation failures exit 1.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Policy(cmd) => policy::run(cmd),
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
