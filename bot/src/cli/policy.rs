//! `linkguard policy` (being written).

use std::process::ExitCode;

/// Arguments of `linkguard policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {}

/// Runs `linkguard policy`.
pub async fn run(_args: PolicyArgs, _config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
