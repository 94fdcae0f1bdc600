//! `linkguard discord …`: Discord set-up helpers. `invite-url` prints the URL
//! that adds the bot to a server with exactly the permissions linkguard needs.

use crate::config::Config;
use anyhow::Context as _;
use std::process::ExitCode;

/// Arguments of `linkguard discord`.
#[derive(Debug, clap::Args)]
pub struct DiscordArgs {
    #[command(subcommand)]
    command: DiscordCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DiscordCommand {
    /// Print the URL that invites the bot with the permissions linkguard needs.
    InviteUrl {
        /// The application id (developer portal, "General Information").
        /// Default: read from the configured bot token.
        #[arg(long, value_name = "ID")]
        application_id: Option<u64>,
    },
}

/// Runs `linkguard discord …`.
pub async fn run(args: DiscordArgs, config: &Config) -> anyhow::Result<ExitCode> {
    match args.command {
        DiscordCommand::InviteUrl { application_id } => {
            let id = match application_id {
                Some(id) => id,
                None => config
                    .discord
                    .as_ref()
                    .and_then(|d| crate::discord::application_id_from_token(d.token.expose()))
                    .context("no application id: pass --application-id, or configure discord.token (LINKGUARD_DISCORD_TOKEN)")?,
            };
            println!("{}", crate::discord::invite_url(id));
            eprintln!(
                "Also enable the MESSAGE CONTENT privileged intent (developer portal, Bot page); linkguard uses the GUILDS, GUILD_MESSAGES, MESSAGE_CONTENT and DIRECT_MESSAGES intents (bits {}).",
                crate::discord::intents().bits()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
