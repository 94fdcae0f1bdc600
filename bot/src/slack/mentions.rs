//! Slack text that linkguard posts, made unable to notify anyone: the
//! broadcasts (`<!here>`, `<!channel>`, `<!everyone>`), user-group mentions
//! and, in a repost, user mentions become plain text.

use linkguard_rules::rewrite::escape_slack;
use std::collections::HashMap;

/// Makes text unable to notify anyone who did not already see it: Slack's
/// broadcast specials (`<!here>`, `<!channel>`, `<!everyone>`) and
/// user-group mentions (`<!subteam^…>`) become plain text. User mentions
/// (`<@U…>`) are kept: for an ephemeral copy to its own author, which
/// notifies nobody. The rest of the text is kept byte for byte.
pub fn defuse_mentions(text: &str) -> String {
    defuse(text, None)
}

/// [`defuse_mentions`] for text that linkguard posts for everyone to see (a
/// repost): user mentions become plain `@name` too, since a mention in a
/// new message notifies its user again (and one an edit added notified
/// nobody the first time). `names` gives a user id's display name, as
/// typed (escaped here); without one, the mention's own label or the id.
pub fn defuse_for_repost(text: &str, names: &HashMap<String, String>) -> String {
    defuse(text, Some(names))
}

/// The ids of the users `text` mentions (`<@U…>`, `<@W…>`, with or without
/// a label), each once, in order.
pub fn mentioned_users(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('>') else { break };
        let id = after[..end].split('|').next().unwrap_or_default();
        if is_user_id(id) && !out.iter().any(|u| u == id) {
            out.push(id.to_owned());
        }
        rest = &after[end + 1..];
    }
    out
}

fn is_user_id(id: &str) -> bool {
    id.len() >= 2
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn defuse(text: &str, names: Option<&HashMap<String, String>>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        // A `<` that opens no whole control sequence (none closes, or
        // another `<` comes first, as in `<<!here>` or a label holding a
        // sequence) is shown as text, and the scan goes on after it: what
        // follows is read as sequences of its own, so none slips through.
        // One look for whichever bracket comes first keeps a run of stray
        // `<` linear, not a scan to the end for each.
        let Some(inner) = after
            .find(['<', '>'])
            .filter(|&end| after.as_bytes()[end] == b'>')
            .map(|end| &after[..end])
        else {
            out.push_str("&lt;");
            rest = after;
            continue;
        };
        out.push_str(&shown(inner, names));
        rest = &after[inner.len() + 1..];
    }
    out.push_str(rest);
    out
}

/// What the control sequence `<inner>` (no `<` or `>` in it) becomes.
fn shown(inner: &str, names: Option<&HashMap<String, String>>) -> String {
    let (name, label) = match inner.split_once('|') {
        Some((n, l)) => (n, Some(l)),
        None => (inner, None),
    };
    if let Some(special) = name.strip_prefix('!') {
        return match special.split('^').next().unwrap_or(special) {
            "here" => "@here".to_owned(),
            "channel" => "@channel".to_owned(),
            "everyone" => "@everyone".to_owned(),
            "group" => "@group".to_owned(),
            "subteam" => label.map_or_else(|| "@group".to_owned(), str::to_owned),
            // Dates and other specials render harmlessly: keep them.
            _ => format!("<{inner}>"),
        };
    }
    // In a repost, every `<@…>` becomes text, whatever it names (a user id,
    // or anything else Slack might resolve).
    match (name.strip_prefix('@'), names) {
        (Some(id), Some(names)) => {
            let shown = match names.get(id) {
                Some(n) => escape_slack(n),
                None => label.map_or_else(|| id.to_owned(), str::to_owned),
            };
            format!("@{}", shown.trim_start_matches('@'))
        }
        _ => format!("<{inner}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_are_defused_and_nothing_else_changes() {
        assert_eq!(
            defuse_mentions("hi <!here> and <!channel|channel> <!everyone> <@U1> <!subteam^S1|@eng> <#C1|gen> <!date^1^{date}|x> &amp;"),
            "hi @here and @channel @everyone <@U1> @eng <#C1|gen> <!date^1^{date}|x> &amp;"
        );
        assert_eq!(
            defuse_mentions("no specials <https://a|b>"),
            "no specials <https://a|b>"
        );
        assert_eq!(defuse_mentions("broken <!here"), "broken &lt;!here");
    }

    /// A repost names users instead of mentioning them: by their display
    /// name (escaped), else the mention's label, else the id; the
    /// broadcasts are defused as for any text, links and channels kept.
    #[test]
    fn a_repost_names_users_without_mentioning_them() {
        let names: HashMap<String, String> = [
            ("U1".to_owned(), "alice".to_owned()),
            ("W2".to_owned(), "<b&b>".to_owned()),
        ]
        .into_iter()
        .collect();
        let text = "hi <@U1> <@W2> <@U3|carol> <@U4> <!here> <#C1|gen> <https://a|x>";
        assert_eq!(
            defuse_for_repost(text, &names),
            "hi @alice @&lt;b&amp;b&gt; @carol @U4 @here <#C1|gen> <https://a|x>"
        );
        assert_eq!(mentioned_users(text), ["U1", "W2", "U3", "U4"]);
        assert_eq!(mentioned_users("<@U1> <@U1|x> <@lower> <@U5"), ["U1"]);
        // Nothing left that Slack would turn into a mention.
        let out = defuse_for_repost("<@U1><@U9|@nine>", &names);
        assert_eq!(out, "@alice@nine");
    }

    /// A raw `<` (a post through the API) cannot hide a broadcast or a
    /// mention from the defusing, nor a label assemble one from its `>`.
    #[test]
    fn nested_and_stray_brackets_defuse_everything() {
        let names = HashMap::new();
        for text in [
            "<<!here>",
            "<<@U1>",
            "<!subteam^S1|<!channel>>",
            "<@U9|<!here>>",
            "<https://a|<@U1>>",
            "a < b <!everyone> <<<!group>>>",
            "<!channel",
            "x<@U1",
        ] {
            for out in [defuse_for_repost(text, &names), defuse_mentions(text)] {
                for sequence in ["<!here", "<!channel", "<!everyone", "<!group", "<!subteam"] {
                    assert!(!out.contains(sequence), "{text:?} gave {out:?}");
                }
            }
            let out = defuse_for_repost(text, &names);
            assert!(!out.contains("<@"), "{text:?} gave {out:?}");
        }
        assert_eq!(defuse_for_repost("<@bob> <@>", &names), "@bob @");
        assert_eq!(defuse_mentions("<<!here>"), "&lt;@here");
        // Thousands of stray brackets: every one shown, in one pass.
        let strays = "<".repeat(40_000);
        assert_eq!(defuse_mentions(&strays), "&lt;".repeat(40_000));
        assert_eq!(defuse_mentions("<@U9|<!here>>"), "&lt;@U9|@here>");
    }
}
