//! What linkguard says about a moderated message, sized for the platforms.
//!
//! A message can carry any number of banned links (20 distinct Zoom links in
//! a 1,700-character Discord message, 1,000 in a Slack one). Listing each
//! link's alternative made the reply and the private notice grow with the
//! message until the platform refused them, and the moderation then vanished.
//! So what we say is grouped by rule: one line per rule with how many links it
//! caught, its reason, and at most [`ALTERNATIVES_SHOWN`] alternatives; at most
//! [`RULES_SHOWN`] rules are listed. Its size no longer depends on how many
//! links a message has.
//!
//! What may still be long is the author's own text (the rewritten message that
//! is sent back privately when a repost cannot be made); [`split`] cuts it into
//! pieces that each fit a platform's limit, at line breaks or spaces when it
//! can, and [`fit`] shortens a public reply to one message.
//!
//! Lengths are counted in Unicode scalar values (`char`s), which is what
//! Discord counts ("2000 or fewer in length" is code points) and no less than
//! what Slack counts.

use linkguard_rules::eval::Block;
use linkguard_rules::policy::Policy;

/// Alternatives listed per rule; the rest are counted.
pub const ALTERNATIVES_SHOWN: usize = 3;
/// Rules listed; the rest are counted.
pub const RULES_SHOWN: usize = 10;
/// Longest rule reason quoted, in characters (reasons are admin-written).
const REASON_CHARS: usize = 300;
/// Longest alternative quoted, in characters (templates are admin-written).
const ALTERNATIVE_CHARS: usize = 300;

/// The bans of one rule within one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleGroup<'a> {
    /// The rule's id.
    pub rule: &'a str,
    /// Its reason (the first non-empty one seen).
    pub reason: &'a str,
    /// How many distinct banned links it caught.
    pub links: usize,
    /// Its distinct alternatives, in the order the links appear.
    pub alternatives: Vec<&'a str>,
}

/// Groups `blocks` by rule, in order of first appearance. Monitor-mode bans
/// are left out when any ban is enforced: the message is answered for what
/// is enforced.
pub fn group<'a>(blocks: &[&'a Block]) -> Vec<RuleGroup<'a>> {
    let any_enforced = blocks.iter().any(|b| !b.monitor);
    let mut groups: Vec<RuleGroup<'_>> = Vec::new();
    for b in blocks.iter().filter(|b| !(any_enforced && b.monitor)) {
        let g = match groups.iter_mut().position(|g| g.rule == b.rule) {
            Some(i) => &mut groups[i],
            None => {
                groups.push(RuleGroup {
                    rule: &b.rule,
                    reason: "",
                    links: 0,
                    alternatives: Vec::new(),
                });
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        g.links += 1;
        if g.reason.is_empty() {
            g.reason = &b.reason;
        }
        if let Some(alt) = b.alternative.as_deref() {
            if !g.alternatives.contains(&alt) {
                g.alternatives.push(alt);
            }
        }
    }
    groups
}

/// What `rule` bans, in words: its providers' names, its hosts, and "links
/// matching custom patterns" when it has patterns (for `allowed` and the
/// Slack Home tab).
pub fn rule_subjects(
    policy: &linkguard_rules::policy::Policy,
    rule: &linkguard_rules::policy::Rule,
) -> Vec<String> {
    let mut what: Vec<String> = rule
        .providers
        .iter()
        .map(|p| policy.provider_name(p).to_owned())
        .collect();
    what.extend(rule.hosts.iter().cloned());
    if !rule.patterns.is_empty() {
        what.push("links matching custom patterns".into());
    }
    what
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// How many distinct banned links the answered rules caught.
pub fn link_count(blocks: &[&Block]) -> usize {
    group(blocks).iter().map(|g| g.links).sum()
}

/// The rule ids, for the attribution line ("rule a, b").
pub fn rule_list(blocks: &[&Block]) -> String {
    let groups = group(blocks);
    let ids: Vec<&str> = groups.iter().take(RULES_SHOWN).map(|g| g.rule).collect();
    let more = groups.len().saturating_sub(RULES_SHOWN);
    let mut out = ids.join(", ");
    if more > 0 {
        out.push_str(&format!(" and {more} more"));
    }
    out
}

/// One line per rule: `rule no-zoom (20 links): reason Use instead: a, b, c
/// (and 17 more)`. At most [`RULES_SHOWN`] lines, then a count of the rest.
pub fn rule_lines(blocks: &[&Block]) -> Vec<String> {
    let groups = group(blocks);
    let mut lines: Vec<String> = groups
        .iter()
        .take(RULES_SHOWN)
        .map(|g| {
            let mut line = format!("• rule {}", g.rule);
            if g.links > 1 {
                line.push_str(&format!(" ({} links)", g.links));
            }
            line.push(':');
            if !g.reason.is_empty() {
                line.push(' ');
                line.push_str(&clip(g.reason, REASON_CHARS));
            }
            if !g.alternatives.is_empty() {
                let shown: Vec<String> = g
                    .alternatives
                    .iter()
                    .take(ALTERNATIVES_SHOWN)
                    .map(|a| clip(a, ALTERNATIVE_CHARS))
                    .collect();
                line.push_str(&format!(" Use this instead: {}", shown.join(", ")));
                let more = g.alternatives.len().saturating_sub(ALTERNATIVES_SHOWN);
                if more > 0 {
                    line.push_str(&format!(" (and {more} more)"));
                }
            }
            line
        })
        .collect();
    let more = groups.len().saturating_sub(RULES_SHOWN);
    if more > 0 {
        lines.push(format!("• and {more} more rules"));
    }
    lines
}

/// `head`, then one line per rule (see [`rule_lines`]).
fn with_rule_lines(mut out: String, blocks: &[&Block]) -> String {
    for line in rule_lines(blocks) {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The short line appended to a repost.
pub fn attribution(blocks: &[&Block]) -> String {
    format!(
        "_(reposted by linkguard: a meeting link not allowed here was swapped for an approved one; rule {})_",
        rule_list(blocks)
    )
}

/// The thread reply used by `reply`: one line per rule, whatever the number
/// of links.
pub fn reply_text(blocks: &[&Block]) -> String {
    let head = if link_count(blocks) > 1 {
        "These meeting links are not allowed here."
    } else {
        "This meeting link is not allowed here."
    };
    with_rule_lines(head.to_owned(), blocks)
}

/// The private notice to the author: what was wrong (one line per rule),
/// what to use instead, and how to ask for an exception.
pub fn notice_text(policy: &Policy, blocks: &[&Block]) -> String {
    let head = format!(
        "Your message in this channel had {} not allowed (rule {}).",
        match link_count(blocks) {
            n if n > 1 => format!("{n} meeting links that are"),
            _ => "a meeting link that is".to_owned(),
        },
        rule_list(blocks)
    );
    let mut out = with_rule_lines(head, blocks);
    if let Some(contact) = policy.exception_contact() {
        out.push_str(&format!("\nNeed an exception? {contact}"));
    }
    out
}

/// Shortens `text` to at most `limit` characters for a single message,
/// cutting at a line break when it can and saying that it was cut.
pub fn fit(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    const CUT: &str = "\n…";
    let room = limit.saturating_sub(CUT.chars().count());
    let head = match text.char_indices().nth(room) {
        Some((at, _)) => &text[..at],
        None => text,
    };
    let head = match head.rfind('\n') {
        Some(nl) if nl > 0 => &head[..nl],
        _ => head,
    };
    format!("{head}{CUT}")
}

/// Cuts `text` into pieces of at most `limit` characters each (`limit` ≥ 1),
/// preferring to cut after a line break, then after a space, so links and
/// words stay whole whenever a piece can hold them. Joining the pieces gives
/// back `text` exactly.
pub fn split(text: &str, limit: usize) -> Vec<&str> {
    let limit = limit.max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some((hard, _)) = rest.char_indices().nth(limit) else {
            pieces.push(rest);
            break;
        };
        let window = &rest[..hard];
        let cut = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .map(|i| i + 1)
            .filter(|&i| i > 0)
            .unwrap_or(hard);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces
}

/// Most private messages one copy of a rewritten message is sent in.
pub const COPY_PIECES: usize = 20;

/// The private messages that carry `text` back to its author: [`split`] into
/// pieces of at most `limit` characters, at most [`COPY_PIECES`] of them; when
/// more would be needed the last one says how much is left out.
pub fn copy_pieces(text: &str, limit: usize) -> Vec<String> {
    let pieces = split(text, limit);
    if pieces.len() <= COPY_PIECES {
        return pieces.into_iter().map(str::to_owned).collect();
    }
    let mut out: Vec<String> = pieces[..COPY_PIECES - 1]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    let left: usize = pieces[COPY_PIECES - 1..]
        .iter()
        .map(|p| p.chars().count())
        .sum();
    out.push(fit(
        &format!("(… {left} more characters of your message are not shown)"),
        limit,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkguard_rules::policy::Action;

    fn block(rule: &str, alt: Option<&str>, monitor: bool) -> Block {
        Block {
            rule: rule.into(),
            action: Action::Replace,
            alternative: alt.map(str::to_owned),
            reason: format!("{rule} is not approved."),
            monitor,
        }
    }

    #[test]
    fn many_links_make_one_line_per_rule_with_a_count_and_a_few_alternatives() {
        let blocks: Vec<Block> = (0..1000)
            .map(|i| {
                block(
                    "no-zoom",
                    Some(&format!("https://meet.jit.si/room-{i}")),
                    false,
                )
            })
            .chain([block("no-teams", None, false)])
            .collect();
        let refs: Vec<&Block> = blocks.iter().collect();
        let lines = rule_lines(&refs);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("• rule no-zoom (1000 links): no-zoom is not approved. Use this instead: https://meet.jit.si/room-0, https://meet.jit.si/room-1, https://meet.jit.si/room-2 (and 997 more)"), "{}", lines[0]);
        assert_eq!(lines[1], "• rule no-teams: no-teams is not approved.");
        assert!(lines.iter().map(|l| l.chars().count()).sum::<usize>() < 600);
        assert_eq!(rule_list(&refs), "no-zoom, no-teams");
    }

    #[test]
    fn rules_are_capped_and_monitor_bans_give_way_to_enforced_ones() {
        let blocks: Vec<Block> = (0..25)
            .map(|i| block(&format!("r{i}"), Some("https://meet.jit.si/x"), false))
            .chain([block("watch", None, true)])
            .collect();
        let refs: Vec<&Block> = blocks.iter().collect();
        let lines = rule_lines(&refs);
        assert_eq!(lines.len(), RULES_SHOWN + 1);
        assert_eq!(lines[RULES_SHOWN], "• and 15 more rules");
        assert!(!lines.iter().any(|l| l.contains("watch")));
        assert_eq!(
            rule_list(&refs),
            "r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 and 15 more"
        );
        let only_monitor = [block("watch", None, true)];
        let refs: Vec<&Block> = only_monitor.iter().collect();
        assert_eq!(group(&refs).len(), 1);
    }

    #[test]
    fn long_admin_text_is_clipped() {
        let mut b = block("r", Some(&"x".repeat(5000)), false);
        b.reason = "y".repeat(5000);
        let lines = rule_lines(&[&b]);
        assert!(
            lines[0].chars().count() < 2 * REASON_CHARS + 100,
            "{}",
            lines[0].len()
        );
    }

    #[test]
    fn split_pieces_fit_rejoin_and_prefer_line_breaks_then_spaces() {
        let text = "line one https://zoom.us/j/1\nline two is longer https://zoom.us/j/2\nend";
        for limit in [1, 5, 10, 29, 30, 40, 1000] {
            let pieces = split(text, limit);
            assert_eq!(pieces.concat(), text, "limit {limit}");
            assert!(pieces
                .iter()
                .all(|p| p.chars().count() <= limit && !p.is_empty()));
        }
        assert_eq!(
            split(text, 40),
            vec![
                "line one https://zoom.us/j/1\n",
                "line two is longer https://zoom.us/j/2\n",
                "end"
            ]
        );
        assert_eq!(split("aaaa bbbb", 6), vec!["aaaa ", "bbbb"]);
        // Multi-byte characters are counted as one and never cut in half.
        let emoji = "🎉".repeat(2001);
        let pieces = split(&emoji, 2000);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].chars().count(), 2000);
        assert!(split("", 10).is_empty());
    }

    #[test]
    fn a_copy_is_sent_in_a_bounded_number_of_pieces() {
        let text = "word ".repeat(10_000);
        let pieces = copy_pieces(&text, 2000);
        assert_eq!(pieces.len(), COPY_PIECES);
        assert!(pieces.iter().all(|p| p.chars().count() <= 2000));
        assert!(
            pieces[COPY_PIECES - 1].contains("more characters"),
            "{}",
            pieces[COPY_PIECES - 1]
        );
        assert_eq!(copy_pieces("short", 2000), vec!["short".to_owned()]);
    }

    #[test]
    fn fit_cuts_at_a_line_and_says_so() {
        assert_eq!(fit("short", 10), "short");
        let text = format!("{}\n{}", "a".repeat(10), "b".repeat(10));
        assert_eq!(fit(&text, 15), format!("{}\n…", "a".repeat(10)));
        let one_line = "c".repeat(50);
        let cut = fit(&one_line, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
    }
}
