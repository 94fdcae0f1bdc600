//! The "Check links" message command (right-click a message > Apps > Check
//! links): answers ephemerally, to the person who asked only, what
//! `/linkguard check` would say about that message's text. Registered with
//! `/linkguard` in each allowed server; refused elsewhere like it.
//!
//! Discord hands the target message to message commands whatever the
//! MESSAGE_CONTENT intent (`data.resolved.messages`), so this also works for
//! messages linkguard never saw.

use super::tenancy::Guilds;
use crate::commands::{Caller, Commands};
use crate::moderation::Platform;
use serenity::all::{CommandInteraction, CommandType, Context, CreateCommand};

/// The message command's name, as shown in Discord's Apps menu.
pub const NAME: &str = "Check links";

/// The answer when the message has no text.
const NO_TEXT: &str = "That message has no text for linkguard to check.";

/// The answer outside the company's servers.
const NOT_HERE: &str = "linkguard does not work in this server: it only answers in the servers its company configured.";

/// The message command (type 3: no description, no options).
pub fn definition() -> CreateCommand {
    CreateCommand::new(NAME).kind(CommandType::Message)
}

/// Answers one "Check links" interaction.
pub async fn on_check_links(
    ctx: &Context,
    cmd: &CommandInteraction,
    commands: &Commands,
    guilds: &Guilds,
) {
    if cmd.data.name != NAME {
        super::commands::unknown_command(ctx, cmd).await;
        return;
    }
    let work = async {
        if guilds.foreign(cmd.guild_id, "Check links").await || cmd.guild_id.is_none() {
            NOT_HERE.to_owned()
        } else {
            let target = cmd
                .data
                .target_id
                .map(|t| t.to_message_id())
                .and_then(|id| cmd.data.resolved.messages.get(&id));
            // What moderation reads: content, a forward's snapshots, embeds,
            // polls and display components.
            let text = match target {
                Some(m) => {
                    let text = super::translate::checked_text(m);
                    Some(super::components::checked_with(&ctx.http, m, text).await)
                }
                None => None,
            };
            match text.filter(|t| !t.trim().is_empty()) {
                None => NO_TEXT.to_owned(),
                Some(text) => {
                    let caller = Caller {
                        platform: Some(Platform::Discord),
                        workspace: cmd
                            .guild_id
                            .map(|g| g.get().to_string())
                            .unwrap_or_default(),
                        channel: super::commands::home_channel(cmd).get().to_string(),
                        user_id: cmd.user.id.get().to_string(),
                        user_name: cmd
                            .user
                            .global_name
                            .clone()
                            .unwrap_or_else(|| cmd.user.name.clone()),
                        roles: cmd
                            .member
                            .as_ref()
                            .map(|m| m.roles.iter().map(|r| r.get().to_string()).collect())
                            .unwrap_or_default(),
                        // Checking is for everyone; no admin rights needed.
                        is_admin: false,
                    };
                    super::commands::truncate(commands.run(&caller, &format!("check {text}")).await)
                }
            }
        }
    };
    super::commands::respond_in_time(ctx, cmd, "Check links", work).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_command_is_a_message_command_without_description() {
        let json = serde_json::to_value(definition()).unwrap();
        assert_eq!(json["type"], 3);
        assert_eq!(json["name"], NAME);
        assert!(json
            .get("description")
            .is_none_or(|d| d.as_str() == Some("")));
    }
}
