//! `linkguard discord …`: Discord set-up helpers. `invite-url` prints the URL
//! that adds the bot to a server with exactly the permissions linkguard needs;
//! `automod plan|apply|remove` shows, applies or removes the AutoMod rules
//! linkguard keeps (see `crate::discord::automod`).

use crate::config::{Config, DiscordConfig};
use crate::discord::automod;
use crate::store::Store;
use anyhow::Context as _;
use linkguard_rules::policy::Policy;
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

/// What every `linkguard discord automod` subcommand works with.
struct Automod {
    http: serenity::all::Http,
    /// The bot's user: the creator of the rules linkguard owns.
    bot: serenity::all::UserId,
    store: Store,
    policy: Policy,
    /// The stored policy version planned from (none: a file or the default).
    version: Option<i64>,
    config: DiscordConfig,
}

/// Runs `linkguard discord automod plan|apply|remove` in each target server;
/// fails if any server failed.
async fn automod(action: AutomodAction, config: &Config) -> anyhow::Result<ExitCode> {
    let d = config
        .discord
        .as_ref()
        .context("Discord is not configured: set discord.token (LINKGUARD_DISCORD_TOKEN)")?;
    let target = match &action {
        AutomodAction::Plan(t) | AutomodAction::Apply(t) | AutomodAction::Remove(t) => t,
    };
    let guilds = target_guilds(target, d)?;
    let http = crate::discord::http_builder(d, None).build();
    let bot = http
        .get_current_user()
        .await
        .context("asking Discord who the bot is (is discord.token right?)")?
        .id;
    let store = super::open_store(config).await?;
    let (policy, version) = automod_policy(config, &store).await?;
    let run = Automod {
        http,
        bot,
        store,
        policy,
        version,
        config: d.clone(),
    };
    let mut failed = false;
    for guild in guilds {
        println!("server {guild}:");
        let done = match &action {
            AutomodAction::Plan(_) => said(run.plan(guild).await),
            AutomodAction::Apply(_) => run.apply(guild).await?,
            AutomodAction::Remove(_) => said(run.remove(guild).await),
        };
        failed |= !done;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether a server's subcommand succeeded; its failure is said (the
/// command goes on with the next server and exits with a failure).
fn said(result: Result<(), automod::SyncError>) -> bool {
    if let Err(e) = &result {
        eprintln!("  {e}");
    }
    result.is_ok()
}

/// The servers a subcommand works on: `--guild` if it is one of the
/// company's, else every server in `discord.guild_ids`.
fn target_guilds(target: &AutomodTarget, d: &DiscordConfig) -> anyhow::Result<Vec<u64>> {
    Ok(match target.guild {
        Some(g) if d.guild_ids.contains(&g) => vec![g],
        Some(g) => anyhow::bail!("server {g} is not in discord.guild_ids; linkguard keeps AutoMod rules only in its company's servers"),
        None if d.guild_ids.is_empty() => anyhow::bail!("{}", crate::config::NO_GUILD_IDS),
        None => d.guild_ids.clone(),
    })
}

/// The policy to plan from, and its stored version: the configured file
/// (read only, not stored), else the store's active version, else the
/// built-in default.
async fn automod_policy(config: &Config, store: &Store) -> anyhow::Result<(Policy, Option<i64>)> {
    if let Some(path) = &config.policy_path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy file {path}"))?;
        return Ok((Policy::parse(path, &text)?, None));
    }
    Ok(match store.policy_active().await? {
        Some(v) => (
            Policy::parse(&format!("stored policy v{}", v.version), &v.body)?,
            Some(v.version),
        ),
        None => (Policy::default_policy(), None),
    })
}

impl Automod {
    /// `guild` as AutoMod sync sees it.
    fn server(&self, guild: u64) -> automod::Server<'_> {
        automod::Server {
            http: &self.http,
            store: &self.store,
            guild,
            bot: self.bot,
            alert_channel: self.config.native.automod_alert_channel_id,
        }
    }

    /// `plan`: prints the rules AutoMod sync would keep in `guild`, and
    /// what is left to linkguard.
    async fn plan(&self, guild: u64) -> Result<(), automod::SyncError> {
        let (plan, mine, _) = self.server(guild).plan(&self.policy).await?;
        print!("{}", plan.render());
        println!(
            "(linkguard keeps {} rule(s) there now{})",
            mine.len(),
            if self.config.native.automod {
                ""
            } else {
                "; discord.automod is off, so `linkguard run` does not sync them"
            }
        );
        Ok(())
    }

    /// `apply`: syncs `guild` under its lease (as a running linkguard
    /// would), prints the plan and what changed, and audits the change.
    /// Whether it did; `Err` only when the store cannot hold the lease.
    async fn apply(&self, guild: u64) -> anyhow::Result<bool> {
        let lease = automod::lease_name(guild);
        let holder = format!("cli-{}", std::process::id());
        if !self
            .store
            .lease_try(&lease, &holder, automod::LEASE)
            .await?
        {
            eprintln!(
                "  a running linkguard is syncing this server right now; try again in a moment"
            );
            return Ok(false);
        }
        let reason = automod::Reason::Manual;
        let done = self.server(guild).sync(&self.policy, &reason).await;
        self.store.lease_release(&lease, &holder).await?;
        let done = match done {
            Ok(done) => done,
            Err(e) => return Ok(said(Err(e))),
        };
        print!("{}", done.plan.render());
        println!("applied: {}", done.changes.describe());
        if !done.changes.is_empty() {
            automod::audit_changes(&self.store, guild, self.version, &reason, &done.changes).await;
        }
        Ok(true)
    }

    /// `remove`: deletes linkguard's rules in `guild` and audits it.
    async fn remove(&self, guild: u64) -> Result<(), automod::SyncError> {
        let names = self.server(guild).remove().await?;
        if names.is_empty() {
            println!("  linkguard keeps no AutoMod rules there");
            return Ok(());
        }
        println!("  removed {}", names.join(", "));
        let changes = automod::Changes {
            deleted: names,
            ..Default::default()
        };
        automod::audit_changes(
            &self.store,
            guild,
            self.version,
            &automod::Reason::Manual,
            &changes,
        )
        .await;
        Ok(())
    }
}
