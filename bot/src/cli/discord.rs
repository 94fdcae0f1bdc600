//! `linkguard discord …`: Discord set-up helpers. `invite-url` prints the URL
//! that adds the bot to a server with exactly the permissions linkguard needs;
//! `automod plan|apply|remove` shows, applies or removes the AutoMod rules
//! linkguard keeps (see `crate::discord::automod`).

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
    /// The AutoMod rules linkguard keeps: `plan` prints them (and what
    /// AutoMod cannot express), `apply` makes them so, `remove` deletes them
    /// (other rules are never touched).
    Automod {
        #[command(subcommand)]
        action: AutomodAction,
    },
}

#[derive(Debug, clap::Subcommand)]
enum AutomodAction {
    /// Print the rules AutoMod sync would keep, and what is left to linkguard.
    Plan(AutomodTarget),
    /// Create, update or delete linkguard's rules so they match the plan.
    Apply(AutomodTarget),
    /// Delete every rule linkguard keeps.
    Remove(AutomodTarget),
}

#[derive(Debug, clap::Args)]
struct AutomodTarget {
    /// One server (default: every server in discord.guild_ids).
    #[arg(long, value_name = "ID")]
    guild: Option<u64>,
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
        DiscordCommand::Automod { action } => automod(action, config).await,
    }
}

async fn automod(action: AutomodAction, config: &Config) -> anyhow::Result<ExitCode> {
    use crate::discord::automod;
    let d = config
        .discord
        .as_ref()
        .context("Discord is not configured: set discord.token (LINKGUARD_DISCORD_TOKEN)")?;
    let target = match &action {
        AutomodAction::Plan(t) | AutomodAction::Apply(t) | AutomodAction::Remove(t) => t,
    };
    let guilds = match target.guild {
        Some(g) if d.guild_ids.contains(&g) => vec![g],
        Some(g) => anyhow::bail!("server {g} is not in discord.guild_ids; linkguard keeps AutoMod rules only in its company's servers"),
        None if d.guild_ids.is_empty() => anyhow::bail!("{}", crate::config::NO_GUILD_IDS),
        None => d.guild_ids.clone(),
    };
    let mut http = serenity::all::HttpBuilder::new(d.token.expose());
    if let Some(proxy) = &d.proxy_url {
        http = http.proxy(proxy.as_str()).ratelimiter_disabled(true);
    }
    let http = http.build();
    let bot = http
        .get_current_user()
        .await
        .context("asking Discord who the bot is (is discord.token right?)")?
        .id;
    let store = super::open_store(config).await?;
    let (policy, version) = match &config.policy_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read policy file {path}"))?;
            (linkguard_rules::policy::Policy::parse(path, &text)?, None)
        }
        None => match store.policy_active().await? {
            Some(v) => (
                linkguard_rules::policy::Policy::parse(
                    &format!("stored policy v{}", v.version),
                    &v.body,
                )?,
                Some(v.version),
            ),
            None => (linkguard_rules::policy::Policy::default_policy(), None),
        },
    };
    let alert = d.native.automod_alert_channel_id;
    let mut failed = false;
    for guild in guilds {
        println!("server {guild}:");
        let result = match &action {
            AutomodAction::Plan(_) => automod::plan_for(&http, &store, &policy, guild, bot, alert)
                .await
                .map(|(plan, mine, _)| {
                    print!("{}", plan.render());
                    println!(
                        "(linkguard keeps {} rule(s) there now{})",
                        mine.len(),
                        if d.native.automod {
                            ""
                        } else {
                            "; discord.automod is off, so `linkguard run` does not sync them"
                        }
                    );
                }),
            AutomodAction::Apply(_) => {
                let lease = format!("lease.discord.automod.{guild}");
                let holder = format!("cli-{}", std::process::id());
                if !store
                    .lease_try(&lease, &holder, std::time::Duration::from_secs(60))
                    .await?
                {
                    eprintln!("  a running linkguard is syncing this server right now; try again in a moment");
                    failed = true;
                    continue;
                }
                let reason = automod::Reason::Manual;
                let done =
                    automod::sync_once(&http, &store, &policy, guild, bot, alert, &reason).await;
                store.lease_release(&lease, &holder).await?;
                match done {
                    Ok(done) => {
                        print!("{}", done.plan.render());
                        println!("applied: {}", done.changes.describe());
                        if !done.changes.is_empty() {
                            automod::audit_changes(&store, guild, version, &reason, &done.changes)
                                .await;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            AutomodAction::Remove(_) => match automod::remove(&http, guild, bot).await {
                Ok(names) if names.is_empty() => {
                    println!("  linkguard keeps no AutoMod rules there");
                    Ok(())
                }
                Ok(names) => {
                    println!("  removed {}", names.join(", "));
                    let changes = automod::Changes {
                        deleted: names,
                        ..Default::default()
                    };
                    automod::audit_changes(
                        &store,
                        guild,
                        version,
                        &automod::Reason::Manual,
                        &changes,
                    )
                    .await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            eprintln!("  {e}");
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
