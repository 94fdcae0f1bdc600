//! The command line: `linkguard check`, `audit`, `policy`, `migrate`, ….
//!
//! Each subcommand lives in its own module with an `Args` type and a `run`
//! function; this module only parses and dispatches. Errors reach the person
//! as one `error: …` line with their context chain.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod audit;
pub mod check;
pub mod migrate;
pub mod policy;

/// linkguard: catches banned meeting links in Slack and Discord and swaps them
/// for approved alternatives.
#[derive(Debug, Parser)]
#[command(name = "linkguard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a message against the policy: links found, verdicts, rewrite.
    Check(check::CheckArgs),
    /// Read, export, verify and purge the audit log.
    Audit(audit::AuditArgs),
    /// Import, export, diff and roll back stored policy versions.
    Policy(policy::PolicyArgs),
    /// Apply database migrations.
    Migrate(migrate::MigrateArgs),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = crate::config::Config::from_env();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Check(args) => check::run(args, &config).await,
            Command::Audit(args) => audit::run(args, &config).await,
            Command::Policy(args) => policy::run(args, &config).await,
            Command::Migrate(args) => migrate::run(args, &config).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
