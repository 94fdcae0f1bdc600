//! The command line: `linkguard check`, `audit`, `policy`, `migrate`, ….
//!
//! Each subcommand lives in its own module with an `Args` type and a `run`
//! function; this module only parses and dispatches. Errors reach the person
//! as one `error: …` line with their context chain.

use crate::commands::Word;
use crate::config::Config;
use crate::store::{Store, StoreOptions};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod admin;
pub mod audit;
pub mod check;
pub mod check_batch;
pub mod config_cmd;
pub mod discord;
pub mod healthcheck;
pub mod migrate;
pub mod policy;
pub mod report;
pub mod run;
pub mod scan;

/// Opens the configured store and applies any pending migrations, as every
/// subcommand that reads or writes it does; the error says which database.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::open(
        config.database_url.expose(),
        StoreOptions::from_config(config),
    )
    .await
    .context("cannot open the store")
}

/// Connects to the configured store without migrating (`linkguard migrate`).
pub(crate) async fn connect_store(config: &Config) -> anyhow::Result<Store> {
    Store::connect(
        config.database_url.expose(),
        StoreOptions::from_config(config),
    )
    .await
    .context("cannot open the store")
}

/// linkguard: catches banned meeting links in Slack and Discord and swaps them
/// for approved alternatives.
#[derive(Debug, Parser)]
#[command(name = "linkguard", version, about)]
pub struct Cli {
    /// Configuration file (TOML); `LINKGUARD_…` environment variables override it.
    #[arg(long, global = true, value_name = "FILE", env = "LINKGUARD_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Log format: text or json (overrides `log_format`).
    #[arg(long, global = true, value_name = "text|json")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play a scripted day against a fake Slack and a fake Discord (no accounts needed).
    #[cfg_attr(
        not(feature = "demo"),
        command(about = "Not in this build: built without the `demo` feature")
    )]
    Demo(crate::demo::DemoArgs),
    /// Run the bot: the configured platforms and the HTTP listeners.
    Run(run::RunArgs),
    /// Exit 0 when the service on the configured http_addr is ready (for
    /// container health checks; `--live`: only alive).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Validate the configuration and print the effective one.
    Config(config_cmd::ConfigArgs),
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
    /// Whether other bots' and integrations' messages are moderated: on | off.
    Bots(admin::AdminArgs),
    /// Time-limited exceptions: user:ID|channel:ID for DURATION because REASON | list | revoke ID.
    Exempt(admin::AdminArgs),
    /// Ask in plain words: "can I use zoom?".
    Ask(admin::AdminArgs),
    /// Summarise detections per rule, channel and provider for a period.
    Report(report::ReportArgs),
    /// Apply database migrations.
    Migrate(migrate::MigrateArgs),
    /// Discord set-up: `invite-url` prints the bot's invite URL.
    Discord(discord::DiscordArgs),
    /// Find banned meeting links in Slack and Discord exports (history).
    Scan(scan::ScanArgs),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match crate::config::Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            // Docker reserves a health check's exit status 2: unhealthy is 1.
            if matches!(cli.command, Command::Healthcheck(_)) {
                return ExitCode::FAILURE;
            }
            return ExitCode::from(2);
        }
    };
    match cli.log_format.as_deref() {
        None => {}
        Some("json") => config.log_format = crate::config::LogFormat::Json,
        Some("text") => config.log_format = crate::config::LogFormat::Text,
        Some(other) => {
            eprintln!("error: --log-format: expected text or json, got `{other}`");
            return ExitCode::from(2);
        }
    }
    let default_level = if matches!(cli.command, Command::Demo(_)) {
        "warn,serenity=error"
    } else {
        "info"
    };
    crate::telemetry::init(config.log_format, default_level);
    if let Command::Config(args) = cli.command {
        return config_cmd::run(args, &config);
    }
    // `check` and `scan` promise 1 only for "found banned links": any error
    // that escapes them (unreadable input, an output that cannot be written)
    // is a 2, like a bad policy.
    let error_code = match cli.command {
        Command::Check(_) | Command::Scan(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    };
    // `check` and `scan` do their work on threads of their own (or none):
    // the runtime only waits for them, and starting a worker per core cost
    // more than a small input's whole check.
    let mut builder = match cli.command {
        Command::Check(_) | Command::Scan(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args, config).await,
            Command::Demo(args) => crate::demo::run(args).await,
            Command::Healthcheck(args) => healthcheck::run(args, &config).await,
            Command::Config(_) => unreachable!("handled before the runtime starts"),
            Command::Check(args) => check::run(args, &config).await,
            Command::Rules(args) => admin::run(Some(Word::Rules), args, &config).await,
            Command::Mode(args) => admin::run(Some(Word::Mode), args, &config).await,
            Command::Bots(args) => admin::run(Some(Word::Bots), args, &config).await,
            Command::Exempt(args) => admin::run(Some(Word::Exempt), args, &config).await,
            Command::Ask(args) => admin::run(None, args, &config).await,
            Command::Report(args) => report::run(args, &config).await,
            Command::Audit(args) => audit::run(args, &config).await,
            Command::Policy(args) => policy::run(args, &config).await,
            Command::Migrate(args) => migrate::run(args, &config).await,
            Command::Discord(args) => discord::run(args, &config).await,
            Command::Scan(args) => scan::run(args, &config).await,
        }
    });
    // Whatever is still running was given its time (`run` bounds its own
    // shutdown): do not wait for it.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            error_code
        }
    }
}
