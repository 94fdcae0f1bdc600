//! The command line: `linkguard check`, `audit`, `policy`, `migrate`, ….
//!
//! Each subcommand lives in its own module with an `Args` type and a `run`
//! function; this module only parses and dispatches. Errors reach the person
//! as one `error: …` line with their context chain.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod admin;
pub mod audit;
pub mod check;
pub mod migrate;
pub mod policy;
pub mod report;

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
    /// Rules from the CLI: list | show ID | add ID field=value… | set ID FIELD VALUE |
    /// remove ID | test TEXT | history | rollback VERSION.
    Rules(admin::AdminArgs),
    /// Switch the policy (or one rule) between monitor and enforce.
    Mode(admin::AdminArgs),
    /// Time-limited exceptions: user:ID|channel:ID for DURATION because REASON | list | revoke ID.
    Exempt(admin::AdminArgs),
    /// Ask in plain words: "can I use zoom?".
    Ask(admin::AdminArgs),
    /// Summarise detections per rule, channel and provider for a period.
    Report(report::ReportArgs),
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
            Command::Rules(args) => admin::run("rules", args, &config).await,
            Command::Mode(args) => admin::run("mode", args, &config).await,
            Command::Exempt(args) => admin::run("exempt", args, &config).await,
            Command::Ask(args) => admin::run("ask", args, &config).await,
            Command::Report(args) => report::run(args, &config).await,
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
