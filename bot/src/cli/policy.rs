//! `linkguard policy`: import, export, list, diff and roll back the stored
//! policy versions. Every change is validated first and recorded in the audit
//! log with its author; running bots pick it up at once.

use super::audit::default_author;
use super::open_store;
use anyhow::Context;
use clap::{Args, Subcommand};
use linkguard_rules::timefmt::format_time;
use std::process::ExitCode;

/// Arguments of `linkguard policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    cmd: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Store FILE as the new active policy version.
    Import {
        /// The policy file (TOML).
        file: std::path::PathBuf,
        /// Who is making the change (default: $USER, or `cli`).
        #[arg(long)]
        author: Option<String>,
        /// Only if version N is still the active one (0: nothing stored yet);
        /// refused if someone changed the policy meanwhile.
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
    },
    /// Print the active policy (or another version) to standard output.
    Export {
        /// The version to print instead of the active one.
        #[arg(long)]
        version: Option<i64>,
    },
    /// List every version with its author and time.
    History,
    /// Print one version with its details.
    Show {
        /// The version number.
        version: i64,
    },
    /// Show what changed from version A to version B.
    Diff {
        /// The older version.
        a: i64,
        /// The newer version.
        b: i64,
    },
    /// Make an older version's text active again (stored as a new version).
    Rollback {
        /// The version to go back to.
        version: i64,
        /// Who is making the change (default: $USER, or `cli`).
        #[arg(long)]
        author: Option<String>,
        /// Only if version N is still the active one; refused if someone
        /// changed the policy meanwhile.
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
    },
}

/// `--expect-version N` as the store's expected version (`0`: none stored),
/// or the version active now when the flag is absent.
async fn expected_version(
    store: &crate::store::Store,
    flag: Option<i64>,
) -> anyhow::Result<Option<i64>> {
    Ok(match flag {
        Some(0) => None,
        Some(n) => Some(n),
        None => store.policy_active().await?.map(|v| v.version),
    })
}

/// Runs `linkguard policy`.
pub async fn run(args: PolicyArgs, config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    let store = open_store(config).await?;
    match args.cmd {
        PolicyCommand::Import {
            file,
            author,
            expect_version,
        } => {
            let body = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let author = author.unwrap_or_else(default_author);
            let expected = expected_version(&store, expect_version).await?;
            let r = store
                .policy_edit(expected, &body, &author, &file.display().to_string())
                .await?;
            if r.created {
                println!(
                    "stored policy version {} (active), by {}",
                    r.version.version, r.version.author
                );
            } else {
                println!(
                    "unchanged: the text is already active as version {}",
                    r.version.version
                );
            }
        }
        PolicyCommand::Export { version } => {
            let v = match version {
                Some(n) => store.policy_get(n).await?,
                None => store.policy_active().await?,
            };
            match v {
                Some(v) => print!("{}", v.body),
                None => anyhow::bail!("no policy stored yet: use `linkguard policy import FILE`"),
            }
        }
        PolicyCommand::History => {
            for v in store.policy_history().await? {
                println!(
                    "{} v{:<4} {}  {:<16} {}",
                    if v.active { "*" } else { " " },
                    v.version,
                    format_time(v.at_ms),
                    v.author,
                    v.source
                );
            }
        }
        PolicyCommand::Show { version } => {
            let Some(v) = store.policy_get(version).await? else {
                anyhow::bail!("no policy version {version}");
            };
            println!(
                "# version {}{}\n# by {} at {}\n# source {}",
                v.version,
                if v.active { " (active)" } else { "" },
                v.author,
                format_time(v.at_ms),
                v.source
            );
            print!("{}", v.body);
        }
        PolicyCommand::Diff { a, b } => print!("{}", store.policy_diff(a, b).await?),
        PolicyCommand::Rollback {
            version,
            author,
            expect_version,
        } => {
            let author = author.unwrap_or_else(default_author);
            let expected = expected_version(&store, expect_version).await?;
            let r = store
                .policy_rollback_from(expected, version, &author)
                .await?;
            if r.created {
                println!(
                    "rolled back to version {version}: now active as version {}",
                    r.version.version
                );
            } else {
                println!(
                    "unchanged: version {version}'s text is already active (version {})",
                    r.version.version
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
