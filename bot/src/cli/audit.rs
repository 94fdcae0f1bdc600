//! `linkguard audit` (being written).

use std::process::ExitCode;

/// Arguments of `linkguard audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {}

/// Runs `linkguard audit`.
pub async fn run(_args: AuditArgs, _config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
