//! `linkguard migrate`: apply the database migrations for the configured
//! backend (`migrations/sqlite/` or `migrations/postgres/`, embedded in the
//! binary). The bot also migrates at start-up; this is for deployments that
//! migrate as a separate step.

use std::process::ExitCode;

/// Arguments of `linkguard migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {}

/// Runs `linkguard migrate`.
pub async fn run(_args: MigrateArgs, config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    let store = super::connect_store(config).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("{}: already up to date", store.target());
    } else {
        let list: Vec<String> = applied.iter().map(i64::to_string).collect();
        println!(
            "{}: applied migration(s) {}",
            store.target(),
            list.join(", ")
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
