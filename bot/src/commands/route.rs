//! The one list of command words, and the one function that decides whether
//! a line is a command or a question. Slack (slash commands, mentions, DMs),
//! Discord (the slash command's subcommands, mentions, DMs) and the CLI all
//! route through here, so a word added once is a command everywhere: before
//! this, Slack kept its own list, lacked `bots`, and answered
//! `@linkguard bots on` as a plain question.

/// A command word: what follows `/linkguard` (or a mention, or starts a DM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Word {
    /// `check TEXT`: is this link allowed.
    Check,
    /// `allowed`: approved tools and banned ones.
    Allowed,
    /// `help`.
    Help,
    /// `rules …`: list, show, test, history; admins edit.
    Rules,
    /// `mode monitor|enforce [RULE]`.
    Mode,
    /// `bots on|off`: whether other bots' messages are moderated.
    Bots,
    /// `exempt …`: time-limited exceptions (the user-facing word stays
    /// `exempt`; in code these are exceptions).
    Exempt,
}

impl Word {
    /// Every word, in the order help and Discord's registration show them.
    pub const ALL: [Word; 7] = [
        Word::Check,
        Word::Allowed,
        Word::Help,
        Word::Rules,
        Word::Mode,
        Word::Bots,
        Word::Exempt,
    ];

    /// The word as typed (and as Discord's subcommand is named).
    pub fn name(self) -> &'static str {
        match self {
            Word::Check => "check",
            Word::Allowed => "allowed",
            Word::Help => "help",
            Word::Rules => "rules",
            Word::Mode => "mode",
            Word::Bots => "bots",
            Word::Exempt => "exempt",
        }
    }

    /// Other spellings people use for the same word.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Word::Check => &[],
            Word::Allowed => &["list"],
            Word::Help => &["-h", "--help"],
            Word::Rules => &["rule"],
            Word::Mode => &[],
            Word::Bots => &[],
            Word::Exempt => &["exception", "exceptions"],
        }
    }

    /// The word `w` names, ignoring ASCII case.
    pub fn parse(w: &str) -> Option<Word> {
        let w = w.to_ascii_lowercase();
        Word::ALL
            .into_iter()
            .find(|word| word.name() == w || word.aliases().contains(&w.as_str()))
    }
}

/// Whether `text` is a command (and which) or, with `None`, a question in
/// plain words. Only the first word counts, split as the command itself
/// will be (quotes honoured, see [`super::split_words`]).
pub fn route(text: &str) -> Option<Word> {
    super::split_words(text)
        .first()
        .and_then(|w| Word::parse(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_and_alias_routes_to_itself_in_any_case() {
        for word in Word::ALL {
            for spelling in std::iter::once(word.name()).chain(word.aliases().iter().copied()) {
                assert_eq!(route(spelling), Some(word), "{spelling}");
                assert_eq!(route(&format!("  {spelling}  x y")), Some(word));
                assert_eq!(route(&spelling.to_ascii_uppercase()), Some(word));
            }
        }
    }

    #[test]
    fn questions_are_not_commands() {
        for q in [
            "",
            "   ",
            "can I use zoom?",
            "is https://zoom.us/j/1 ok",
            "botsy",
            "checking",
        ] {
            assert_eq!(route(q), None, "{q:?}");
        }
    }

    #[test]
    fn names_and_aliases_are_distinct() {
        let mut all: Vec<&str> = Word::ALL
            .iter()
            .flat_map(|w| std::iter::once(w.name()).chain(w.aliases().iter().copied()))
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
