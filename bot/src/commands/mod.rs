//! What people say to linkguard, on any platform or the CLI: employees ask
//! what is allowed, admins change the rules.
//!
//! Connectors parse nothing: they hand the text after `/linkguard` (or a
//! direct message / mention) and a [`Caller`] (who, where, and whether the
//! platform says they are an admin) to [`Commands`], and post the returned
//! text privately. Every change goes through the same validation as a policy
//! file, becomes a new stored policy version with its author, is audited, and
//! is live in this process at once (other replicas reload on the store's
//! change notification).

mod answers;
pub mod edit;
mod edits;
mod exceptions;
pub mod requests;
pub mod route;
mod words;

pub use route::{route, Word};
pub use words::{parse_duration, parse_target, split_words};

use crate::moderation::{Moderator, Platform};
use crate::store::Origin;
use linkguard_rules::eval::MessageContext;
use linkguard_rules::Dialect;
use std::sync::Arc;
use words::after_word;

/// Who is asking, and where.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The platform (or `None` for the CLI).
    pub platform: Option<Platform>,
    /// Slack team / Discord guild.
    pub workspace: String,
    /// Channel the command was used in.
    pub channel: String,
    /// The caller's user id (`cli:NAME` on the CLI).
    pub user_id: String,
    /// A readable name for audit records and replies.
    pub user_name: String,
    /// The caller's roles (Discord role ids / Slack user-group ids).
    pub roles: Vec<String>,
    /// Whether the platform (or the CLI) vouches that the caller may change rules.
    pub is_admin: bool,
}

impl Caller {
    /// Where the caller's records come from: their platform, or the CLI.
    fn origin(&self) -> Origin {
        Origin::from(self.platform)
    }

    fn dialect(&self) -> Dialect {
        self.platform.map_or(Dialect::Any, Platform::dialect)
    }

    fn author(&self) -> String {
        if self.user_name.is_empty() || self.user_name == self.user_id {
            self.user_id.clone()
        } else {
            format!("{} ({})", self.user_name, self.user_id)
        }
    }
}

/// The platform-neutral command handler.
#[derive(Debug, Clone)]
pub struct Commands {
    moderator: Arc<Moderator>,
}

/// Help text, also shown for unknown commands.
pub const HELP: &str = "\
linkguard keeps meeting links to the tools your company approves.

For everyone:
  /linkguard check <link or text>   is this link allowed, and what should I use instead?
  /linkguard allowed                approved tools, and banned ones with the reasons
  /linkguard exempt request [for 1h|1d|7d|30d] [about TOOL] because REASON
                                    ask the admins for an exception (exempt requests: yours)
  /linkguard help                   this help
  You can also just ask me in a direct message: \"can I use zoom?\"

For admins:
  /linkguard rules list | show ID | test TEXT | history
  /linkguard rules add ID field=value …   (fields: providers, hosts, patterns, action,
                                          alternative, reason, mode, platforms, channels, …)
  /linkguard rules set ID FIELD VALUE | remove ID | rollback VERSION
  /linkguard mode monitor|enforce [RULE]
  /linkguard bots on|off            also moderate other bots' and integrations' messages
  /linkguard exempt @user|#channel for DURATION because REASON
  /linkguard exempt list | revoke ID | requests | approve ID [note] | deny ID [note]";

impl Commands {
    /// A handler over the shared pipeline.
    pub fn new(moderator: Arc<Moderator>) -> Commands {
        Commands { moderator }
    }

    fn context<'a>(&self, caller: &'a Caller) -> MessageContext<'a> {
        MessageContext {
            platform: caller.dialect(),
            workspace: &caller.workspace,
            channel: &caller.channel,
            user: &caller.user_id,
            roles: &caller.roles,
            excepted: false,
        }
    }

    /// Answers one line from anyone, anywhere: a `/linkguard …` command, a
    /// mention, a direct message or a CLI invocation. A line that starts
    /// with a command word (see [`route`]) runs that command; anything else
    /// is a question in plain words ([`Commands::ask`]); an empty line gets
    /// the help. Connectors call this and nothing else, so every platform
    /// knows the same words.
    pub async fn run(&self, caller: &Caller, text: &str) -> String {
        let words = split_words(text);
        if words.is_empty() {
            return HELP.to_owned();
        }
        let Some(word) = Word::parse(&words[0]) else {
            return self.ask(caller, text);
        };
        let rest = &words[1..];
        let answer = match word {
            Word::Help => Ok(HELP.to_owned()),
            Word::Check => Ok(self.check(caller, after_word(text, 1))),
            Word::Allowed => Ok(self.allowed(caller)),
            Word::Rules => self.rules(caller, rest, text).await,
            Word::Mode => self.mode(caller, rest).await,
            Word::Bots => self.bots(caller, rest).await,
            Word::Exempt => self.exceptions(caller, rest).await,
        };
        answer.unwrap_or_else(|e| {
            tracing::error!(error = %e, "command failed");
            format!("Sorry, that did not work: {e}")
        })
    }
}
