//! What the pipeline says on the platform: the repost's attribution line,
//! the thread reply and the private notice (sizes are [`crate::notice`]'s).

use super::IncomingMessage;
use linkguard_rules::eval::Block;
use linkguard_rules::policy::Policy;

/// The short line appended to a repost.
pub fn attribution(policy: &Policy, blocks: &[&Block]) -> String {
    let _ = policy;
    format!(
        "_(reposted by linkguard: a meeting link not allowed here was swapped for an approved one; rule {})_",
        crate::notice::rule_list(blocks)
    )
}

/// The thread reply used by `reply`: one line per rule, whatever the number
/// of links.
pub fn reply_text(policy: &Policy, blocks: &[&Block]) -> String {
    let _ = policy;
    let lines = crate::notice::rule_lines(blocks);
    let mut out = String::from(if crate::notice::link_count(blocks) > 1 {
        "These meeting links are not allowed here."
    } else {
        "This meeting link is not allowed here."
    });
    for line in lines {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The private notice to the author: what was wrong (one line per rule),
/// what to use instead, and how to ask for an exception.
pub fn notice_text(policy: &Policy, msg: &IncomingMessage, blocks: &[&Block]) -> String {
    let _ = msg;
    let mut out = format!(
        "Your message in this channel had {} not allowed (rule {}).",
        match crate::notice::link_count(blocks) {
            n if n > 1 => format!("{n} meeting links that are"),
            _ => "a meeting link that is".to_owned(),
        },
        crate::notice::rule_list(blocks)
    );
    for line in crate::notice::rule_lines(blocks) {
        out.push('\n');
        out.push_str(&line);
    }
    if let Some(contact) = policy.exception_contact() {
        out.push_str(&format!("\nNeed an exception? {contact}"));
    }
    out
}
