//! `linkguard run`: the service. Starts the configured platforms and the HTTP
//! listeners, serves until SIGTERM or SIGINT, then shuts down gracefully.

use crate::app::{App, AppOptions};
use crate::config::Config;
use std::process::ExitCode;

/// Arguments of `linkguard run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Discord gateway shards this replica runs, e.g. `0-1` (overrides `discord.shards`).
    #[arg(long, value_name = "FIRST-LAST", requires = "shard_total")]
    shards: Option<String>,
    /// Discord shards across all replicas (overrides `discord.shard_total`).
    #[arg(long, value_name = "N")]
    shard_total: Option<u32>,
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the service until a shutdown signal.
pub async fn run(args: RunArgs, mut config: Config) -> anyhow::Result<ExitCode> {
    if let Some(total) = args.shard_total {
        let Some(discord) = config.discord.as_mut() else {
            anyhow::bail!("--shards/--shard-total need Discord to be configured (discord.token)");
        };
        let range = args
            .shards
            .unwrap_or_else(|| format!("0-{}", total.saturating_sub(1)));
        discord.shards = Some(
            crate::config::ShardRange::parse(&range, total)
                .map_err(|m| anyhow::anyhow!("--shards: {m}"))?,
        );
    }
    let refused = config.run_errors();
    if !refused.is_empty() {
        for e in &refused {
            eprintln!("error: {e}");
        }
        return Ok(ExitCode::from(2));
    }
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
    if config.slack.is_none() && config.discord.is_none() {
        tracing::warn!("neither Slack nor Discord is configured: only the HTTP listeners will run");
    }
    let app = App::build(config, AppOptions::default()).await?;
    tracing::info!(http.addr = %app.http_addr(), "linkguard running");
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("linkguard stopped");
    Ok(ExitCode::SUCCESS)
}
