//! `linkguard rules|mode|exempt|ask …`: the chat commands, from the CLI, for
//! admins who prefer a shell. Whoever can reach the database is an admin
//! here; edits are recorded under `cli:$USER` (or `--author`).

use crate::app::load_active_policy;
use crate::commands::{Caller, Commands, Word};
use crate::config::Config;
use crate::moderation::Moderator;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments shared by the chat-command subcommands.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Who is making the change (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// The command's words, as after `/linkguard <command>` in chat.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

/// Runs `linkguard <command> <words…>` through the shared command handler;
/// `None` is `linkguard ask`, a question in plain words even when it starts
/// with a command word.
pub async fn run(
    command: Option<Word>,
    args: AdminArgs,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config).await?;
    let active = load_active_policy(&store, config).await?;
    let moderator = Arc::new(Moderator::configured(store.clone(), active, config));
    let who = args
        .author
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let caller = Caller {
        platform: None,
        workspace: String::new(),
        channel: String::new(),
        user_id: format!("cli:{who}"),
        user_name: who,
        roles: Vec::new(),
        is_admin: true,
    };
    let commands = Commands::new(moderator);
    let answer = match command {
        Some(word) => {
            let text = format!("{} {}", word.name(), shell_words(&args.words));
            commands.run(&caller, &text).await
        }
        None => commands.ask(&caller, &args.words.join(" ")),
    };
    println!("{answer}");
    store.close().await;
    Ok(
        if answer.starts_with("Sorry") || answer.contains("refused, nothing changed") {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Re-quotes words that the shell already split, so `reason="a b"` survives.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.chars().any(char::is_whitespace) {
                match w.split_once('=') {
                    Some((k, v)) if !k.contains(char::is_whitespace) => format!("{k}=\"{v}\""),
                    _ => format!("\"{w}\""),
                }
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
