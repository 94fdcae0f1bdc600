//! People talking to linkguard on Discord: the `/linkguard` slash command
//! (registered in each allowed server, answered ephemerally), and
//! plain-words questions in direct messages or mentions (answered by DM).
//! The commands module does the work; this only translates. Who is an admin
//! is decided by [`super::tenancy::is_admin`]: Manage Server (or
//! Administrator), or a role listed in `discord.admin_roles`, and only inside
//! a server in `discord.guild_ids`.

use super::answer::{answer_in_time, private, Answer, Asked, Later};
use super::tenancy::Guilds;
use crate::commands::{Caller, Commands, Word};
use crate::moderation::Platform;
use serenity::all::{
    ChannelId, CommandDataOptionValue, CommandInteraction, CommandOptionType, Context,
    CreateAllowedMentions, CreateCommand, CreateCommandOption, CreateMessage, Message, User,
};

/// The slash command's name.
pub const COMMAND: &str = "linkguard";

/// The answer to `/linkguard` in a server that is not the company's.
const NOT_HERE: &str = "linkguard does not work in this server: it only answers in the servers its company configured.";

/// The answer to a DM from someone who is in none of the company's servers.
const NOT_A_MEMBER: &str = "Sorry, I only answer members of my company's Discord server.";

/// The subcommands of `/linkguard` (one per [`Word`], checked by a test),
/// and whether their text argument is required. Discord refuses the whole
/// registration if a description is longer than 100 characters.
const SUBCOMMANDS: &[(Word, &str, Option<bool>)] = &[
    (Word::Check, "Is this link (or message) allowed, and what should I use instead?", Some(true)),
    (Word::Allowed, "Approved tools, and the banned ones with reasons", None),
    (Word::Help, "What linkguard can do", None),
    (Word::Rules, "Admins: list | show ID | add ID k=v… | set ID FIELD VALUE | remove ID | test | history | rollback", Some(false)),
    (Word::Mode, "Admins: monitor|enforce [RULE]", Some(true)),
    (Word::Bots, "Admins: on|off, whether other bots' and integrations' messages are moderated", Some(false)),
    (Word::Exempt, "Admins: @user|#channel for DURATION because REASON | list | revoke ID", Some(false)),
];

/// Discord's message length limit.
const MAX_LEN: usize = 2000;

/// The `/linkguard` command definition.
pub fn definition() -> CreateCommand {
    let mut cmd = CreateCommand::new(COMMAND)
        .description("Check meeting links against the company policy; admins edit the rules");
    for (word, description, arg) in SUBCOMMANDS {
        let mut sub =
            CreateCommandOption::new(CommandOptionType::SubCommand, word.name(), *description);
        if let Some(required) = arg {
            sub = sub.add_sub_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "text",
                    "The link, message or arguments",
                )
                .required(*required),
            );
        }
        cmd = cmd.add_option(sub);
    }
    cmd
}

/// Cuts an answer to Discord's message length.
pub(super) fn truncate(mut s: String) -> String {
    if s.len() > MAX_LEN {
        let mut cut = MAX_LEN - 1;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The text form of an interaction: `sub args`.
pub fn command_text(cmd: &CommandInteraction) -> String {
    let Some(sub) = cmd.data.options.first() else {
        return "help".into();
    };
    let mut text = sub.name.clone();
    if let CommandDataOptionValue::SubCommand(opts) = &sub.value {
        for o in opts {
            if let CommandDataOptionValue::String(s) = &o.value {
                text.push(' ');
                text.push_str(s);
            }
        }
    }
    text
}

/// Answers one `/linkguard` interaction, ephemerally.
pub async fn on_command(
    ctx: &Context,
    cmd: &CommandInteraction,
    commands: &Commands,
    admin_roles: &[String],
    guilds: &Guilds,
) {
    if cmd.data.name != COMMAND {
        unknown_command(ctx, cmd).await;
        return;
    }
    let work = async {
        let text = command_text(cmd);
        // A server that is not the company's: not obeyed, audited (throttled).
        if guilds
            .foreign(cmd.guild_id, &format!("/linkguard {}", first_word(&text)))
            .await
        {
            return NOT_HERE.to_owned();
        }
        let workspace = match cmd.guild_id {
            Some(g) => g.get().to_string(),
            // A DM (only a stale global registration offers the command
            // there): questions for members of an allowed server, never
            // admin rights.
            None => match guilds.home_of(ctx, cmd.user.id).await {
                Some(home) => home.to_string(),
                None => return NOT_A_MEMBER.to_owned(),
            },
        };
        let (roles, is_admin) =
            super::tenancy::member_rights(guilds, cmd.guild_id, cmd.member.as_deref(), admin_roles);
        let caller = caller(&cmd.user, workspace, home_channel(cmd), roles, is_admin);
        truncate(commands.run(&caller, &text).await)
    };
    respond_in_time(ctx, cmd, "a /linkguard command", work).await;
}

/// [`respond`] with what `work` gives, deferred when it takes long (see
/// [`super::answer`]).
pub(super) async fn respond_in_time(
    ctx: &Context,
    cmd: &CommandInteraction,
    what: &str,
    work: impl std::future::Future<Output = String>,
) {
    let asked = Asked {
        id: cmd.id,
        token: &cmd.token,
    };
    answer_in_time(&ctx.http, asked, Later::Private, what, async {
        Answer::Private(work.await)
    })
    .await;
}

/// The channel a command was used in, for rules: a thread's parent channel,
/// as moderation counts a message in a thread (the interaction names the
/// thread and, in `channel`, its parent).
pub(super) fn home_channel(cmd: &CommandInteraction) -> ChannelId {
    cmd.channel
        .as_ref()
        .filter(|c| super::actions::is_thread(c.kind))
        .and_then(|c| c.parent_id)
        .unwrap_or(cmd.channel_id)
}

/// Who is asking on Discord: `user` in `channel` of server `workspace`;
/// `is_admin` only as [`super::tenancy::is_admin`] decided it.
fn caller(
    user: &User,
    workspace: String,
    channel: ChannelId,
    roles: Vec<String>,
    is_admin: bool,
) -> Caller {
    Caller {
        platform: Some(Platform::Discord),
        workspace,
        channel: channel.get().to_string(),
        user_id: user.id.get().to_string(),
        user_name: user
            .global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
        roles,
        is_admin,
    }
}

/// The first word of a command, for records (arguments may be long or
/// carry links).
fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

/// The answer to a command linkguard does not have (one an older version
/// registered, or a forged one): private, naming it, nothing done.
pub(super) async fn unknown_command(ctx: &Context, cmd: &CommandInteraction) {
    let name: String = cmd.data.name.chars().take(64).collect();
    let answer = format!("linkguard has no command called `{name}` (any more); nothing was done.");
    respond(ctx, cmd, answer).await;
}

/// Answers an interaction ephemerally, with mentions disabled.
pub(super) async fn respond(ctx: &Context, cmd: &CommandInteraction, answer: String) {
    if let Err(e) = cmd.create_response(&ctx.http, private(answer)).await {
        tracing::warn!(error = %e, "could not answer a /linkguard interaction");
    }
}

/// A direct message or a mention of the bot is a question, answered by DM.
/// Returns true for a direct message, which is a question and nothing else;
/// a mention in a channel is answered *and* still moderated, so mentioning
/// the bot is no way around the policy.
pub async fn on_question(
    ctx: &Context,
    msg: &Message,
    bot_id: Option<u64>,
    commands: &Commands,
    guilds: &Guilds,
) -> bool {
    let is_dm = msg.guild_id.is_none();
    // Without our own id we cannot tell a mention; a DM is still only a question.
    let Some(bot) = bot_id else { return is_dm };
    let mention = format!("<@{bot}>");
    let mention_nick = format!("<@!{bot}>");
    let mentioned = msg.content.contains(&mention) || msg.content.contains(&mention_nick);
    if !is_dm && !mentioned {
        return false;
    }
    let question = msg
        .content
        .replace(&mention, " ")
        .replace(&mention_nick, " ");
    let question = question.trim();
    let workspace = match msg.guild_id {
        Some(g) => g.get().to_string(),
        None => match guilds.home_of(ctx, msg.author.id).await {
            Some(home) => home.to_string(),
            None => {
                let reply = CreateMessage::new()
                    .content(NOT_A_MEMBER)
                    .allowed_mentions(CreateAllowedMentions::new());
                if let Err(e) = msg.channel_id.send_message(&ctx.http, reply).await {
                    tracing::warn!(error = %e, "could not decline a DM");
                }
                return true;
            }
        },
    };
    // Rule changes need the slash command, where Discord vouches for permissions.
    let caller = caller(&msg.author, workspace, msg.channel_id, Vec::new(), false);
    let answer = commands.run(&caller, question).await;
    let reply = CreateMessage::new()
        .content(truncate(answer))
        .allowed_mentions(CreateAllowedMentions::new());
    let sent = if is_dm {
        msg.channel_id.send_message(&ctx.http, reply).await
    } else {
        msg.author.direct_message(&ctx.http, reply).await
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not answer a question by DM");
    }
    is_dm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_has_every_subcommand() {
        let json = serde_json::to_value(definition()).unwrap();
        let names: Vec<&str> = json["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        let every: Vec<&str> = Word::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names, every, "one subcommand per command word");
        assert_eq!(json["options"][0]["options"][0]["required"], true);
        for (word, description, _) in SUBCOMMANDS {
            assert!(
                description.chars().count() <= 100,
                "{word:?}: {description}"
            );
        }
    }
}
