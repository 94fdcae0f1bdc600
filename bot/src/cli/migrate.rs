//! `linkguard migrate` (being written).

use std::process::ExitCode;

/// Arguments of `linkguard migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {}

/// Runs `linkguard migrate`.
pub async fn run(_args: MigrateArgs, _config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
