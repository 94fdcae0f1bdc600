//! The Block Kit linkguard sends to Slack: the Home tab, the modals (check a
//! link, request an exception, decide with a note), the admin channel's
//! request message and the notice's "Request an exception" button.
//!
//! Pure functions from our own types to Slack's JSON, so every layout is a
//! snapshot test (`snapshots/`): a change to what people see is a reviewed
//! diff. Everything a person typed (reasons, subjects, notes, names) is
//! escaped for mrkdwn (`&`, `<`, `>`), so a reason cannot smuggle in
//! `<!channel>` or a fake link, and clipped so that no block passes
//! Slack's limits (3,000 characters per text, 100 blocks per view, 50 per
//! message, 75 per button label, 24 per modal title).
//!
//! The ids below are the contract with `interactivity`: what a click or a
//! submission is about is read back from them, never from the text.

use crate::commands::requests::{duration_label, RequestDuration, REQUEST_DURATIONS};
use crate::commands::requests::{MAX_NOTE_CHARS, MAX_REASON_CHARS, MAX_SUBJECT_CHARS};
use crate::store::{ExceptionRequest, ExceptionTarget, RequestState};
use linkguard_rules::rewrite::escape_slack;
use serde_json::{json, Value};

mod home_tab;
pub use home_tab::{home_view, AdminHome, AdminRule, Banned, Home, HomeException};

/// Home tab button: open the "Check a link" modal.
pub const ACTION_CHECK_OPEN: &str = "linkguard_check_open";
/// Notice / Home tab button: open the request modal (value: the subject,
/// or `msg:CHANNEL:TS` for the message a notice is about).
pub const ACTION_REQUEST_OPEN: &str = "linkguard_request_open";
/// The value of the Home tab's buttons (no subject to pre-fill).
pub const HOME_VALUE: &str = "home";
/// Admin message button: approve (value: the request id).
pub const ACTION_APPROVE: &str = "linkguard_request_approve";
/// Admin message button: deny (value: the request id).
pub const ACTION_DENY: &str = "linkguard_request_deny";
/// Admin message button: decide with a note (value: the request id).
pub const ACTION_DECIDE_NOTE: &str = "linkguard_request_note";
/// The "Check a link" modal.
pub const CALLBACK_CHECK: &str = "linkguard_check";
/// The request modal.
pub const CALLBACK_REQUEST: &str = "linkguard_request";
/// The decide-with-a-note modal.
pub const CALLBACK_DECIDE: &str = "linkguard_decide";
/// The message shortcut "Check links" (its `callback_id` in the manifest).
pub const SHORTCUT_CHECK: &str = "linkguard_check_message";

/// Input blocks' ids, and the one action id inside each.
pub const BLOCK_TEXT: &str = "text";
/// The subject input of the request modal.
pub const BLOCK_SUBJECT: &str = "subject";
/// The duration select of the request modal.
pub const BLOCK_DURATION: &str = "duration";
/// The reason input of the request modal.
pub const BLOCK_REASON: &str = "reason";
/// The approve/deny select of the decide modal.
pub const BLOCK_DECISION: &str = "decision";
/// The note input of the decide modal.
pub const BLOCK_NOTE: &str = "note";
/// The action id of every input element.
pub const INPUT_ACTION: &str = "value";

/// Slack's limit on a text object in a section.
pub const SECTION_TEXT_MAX: usize = 3000;
/// Blocks in a view.
pub const VIEW_BLOCKS_MAX: usize = 100;
/// Blocks in a message.
pub const MESSAGE_BLOCKS_MAX: usize = 50;
/// How many entries each Home tab list shows before "and N more".
const LIST_MAX: usize = 15;

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text[at..].chars().nth(1).is_some() => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

/// Plain text a person wrote, made safe for mrkdwn and clipped to `max`
/// characters *before* escaping (escaping only ever lengthens, by at most
/// five times, which callers account for).
fn safe(text: &str, max: usize) -> String {
    escape_slack(&clip(text, max))
}

fn plain(text: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": clip(text, max), "emoji": true})
}

fn mrkdwn(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": mrkdwn(text)})
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": plain(text, 150)})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [mrkdwn(text)]})
}

fn divider() -> Value {
    json!({"type": "divider"})
}

fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "text": plain(text, 75),
        "action_id": action_id,
        "value": clip(value, 2000),
    });
    if let Some(s) = style {
        b["style"] = json!(s);
    }
    b
}

/// A time for Slack to show in each reader's own time zone.
pub fn slack_time(ms: i64) -> String {
    let secs = ms / 1000;
    let fallback = time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string());
    format!("<!date^{secs}^{{date_short_pretty}} at {{time}}|{fallback}>")
}

fn target_text(t: &ExceptionTarget, requester: &str) -> String {
    match t {
        ExceptionTarget::User(u) if u == requester => "themselves".to_owned(),
        ExceptionTarget::User(u) => format!("<@{}>", escape_slack(u)),
        ExceptionTarget::Channel(c) => format!("<#{}>", escape_slack(c)),
    }
}

fn more(n: usize) -> Option<Value> {
    (n > LIST_MAX).then(|| context(&format!("…and {} more.", n - LIST_MAX)))
}

/// The request as the admins see it. The requester is named, not mentioned:
/// a mention in the admin channel would notify them each time linkguard
/// posts or updates it.
fn request_summary(r: &ExceptionRequest) -> Value {
    section(&format!(
        "*Request #{}* from *{}* (`{}`) for {} for *{}*\n*About:* {}\n*Reason:* {}",
        r.id,
        safe(&r.requester_name, 200),
        escape_slack(&r.requester_id),
        target_text(&r.target, &r.requester_id),
        duration_label(r.duration_secs),
        safe(&r.subject, MAX_SUBJECT_CHARS),
        safe(&r.reason, MAX_REASON_CHARS)
    ))
}

fn decision_buttons(id: i64) -> Value {
    let v = id.to_string();
    json!({"type": "actions", "block_id": format!("decide_{id}"), "elements": [
        button("Approve", ACTION_APPROVE, &v, Some("primary")),
        button("Deny", ACTION_DENY, &v, Some("danger")),
        button("Decide with a note", ACTION_DECIDE_NOTE, &v, None),
    ]})
}

/// The admin channel's message about a request: with the buttons while it
/// is pending, with who decided (and their note) after. Returns the
/// notification text and the blocks.
pub fn admin_message(r: &ExceptionRequest) -> (String, Vec<Value>) {
    let text = format!(
        "Exception request #{} from {}: {}",
        r.id,
        escape_slack(&r.requester_name),
        r.state
    );
    let mut blocks = vec![request_summary(r)];
    match r.state {
        RequestState::Pending => blocks.push(decision_buttons(r.id)),
        state => {
            let by = r
                .decided_by
                .as_deref()
                .map(|b| format!(" by {}", safe(b, 200)))
                .unwrap_or_default();
            let when = r.decided_ms.map(slack_time).unwrap_or_default();
            let mark = match state {
                RequestState::Approved => ":white_check_mark: *Approved*",
                RequestState::Denied => ":no_entry: *Denied*",
                RequestState::Cancelled => ":leftwards_arrow_with_hook: *Withdrawn*",
                _ => ":hourglass: *Expired*",
            };
            let mut t = format!("{mark}{by} {when}");
            if let Some(x) = r.exception_id {
                t.push_str(&format!(" (exception #{x})"));
            }
            if let Some(n) = r.note.as_deref().filter(|n| !n.is_empty()) {
                t.push_str(&format!("\n*Note:* {}", safe(n, MAX_NOTE_CHARS)));
            }
            blocks.push(context(&t));
        }
    }
    (text, blocks)
}

/// What the requester is told once their request is decided (plain text,
/// escaped).
pub fn requester_message(r: &ExceptionRequest, until_ms: Option<i64>) -> String {
    let by = r
        .decided_by
        .as_deref()
        .map(|b| format!(" by {}", safe(b, 200)))
        .unwrap_or_default();
    let mut t = match r.state {
        RequestState::Approved => format!(
            ":white_check_mark: Your exception request #{} was approved{by}: {} may post banned meeting links{}.",
            r.id,
            match &r.target {
                ExceptionTarget::User(_) => "you".to_owned(),
                ExceptionTarget::Channel(c) => format!("<#{}>", escape_slack(c)),
            },
            until_ms.map(|u| format!(" until {}", slack_time(u))).unwrap_or_default()
        ),
        RequestState::Denied => format!(
            ":no_entry: Your exception request #{} was denied{by}.",
            r.id
        ),
        RequestState::Expired => format!(
            ":hourglass: Your exception request #{} expired before an admin decided; you can ask again.",
            r.id
        ),
        _ => format!("Your exception request #{} was withdrawn{by}.", r.id),
    };
    if let Some(n) = r.note.as_deref().filter(|n| !n.is_empty()) {
        t.push_str(&format!("\nNote: {}", safe(n, MAX_NOTE_CHARS)));
    }
    t
}

fn duration_option(d: &RequestDuration) -> Value {
    json!({"text": plain(d.label, 75), "value": d.code})
}

fn modal(callback: &str, title: &str, submit: Option<&str>, blocks: Vec<Value>) -> Value {
    let mut v = json!({
        "type": "modal",
        "callback_id": callback,
        "title": plain(title, 24),
        "close": plain("Close", 24),
        "blocks": blocks,
    });
    if let Some(s) = submit {
        v["submit"] = plain(s, 24);
    }
    v
}

fn text_input(
    block: &str,
    label: &str,
    multiline: bool,
    max: usize,
    initial: &str,
    optional: bool,
) -> Value {
    let mut element = json!({
        "type": "plain_text_input",
        "action_id": INPUT_ACTION,
        "multiline": multiline,
        "max_length": max,
    });
    if !initial.is_empty() {
        element["initial_value"] = json!(clip(initial, max));
    }
    json!({
        "type": "input",
        "block_id": block,
        "optional": optional,
        "label": plain(label, 2000),
        "element": element,
    })
}

/// The "Check a link" modal.
pub fn check_modal() -> Value {
    modal(
        CALLBACK_CHECK,
        "Check a link",
        Some("Check"),
        vec![text_input(
            BLOCK_TEXT,
            "Paste a link or a message",
            true,
            3000,
            "",
            false,
        )],
    )
}

/// The check modal showing its answer (the same words as `/linkguard check`).
pub fn check_answer_modal(answer: &str) -> Value {
    modal(
        CALLBACK_CHECK,
        "Check a link",
        None,
        text_sections(&escape_slack(answer))
            .into_iter()
            .take(VIEW_BLOCKS_MAX)
            .collect(),
    )
}

/// The request modal; `subject` pre-filled, `metadata` carried back on
/// submission (the channel the notice was in, if any).
pub fn request_modal(subject: &str, metadata: &str) -> Value {
    let options: Vec<Value> = REQUEST_DURATIONS.iter().map(duration_option).collect();
    let default = duration_option(&crate::commands::requests::DEFAULT_REQUEST_DURATION);
    let mut v = modal(
        CALLBACK_REQUEST,
        "Request an exception",
        Some("Send to admins"),
        vec![
            section("Ask the admins to let you post a banned meeting link for a while. They will see your name and your reason."),
            text_input(BLOCK_SUBJECT, "Which tool or link?", false, MAX_SUBJECT_CHARS, subject, false),
            json!({
                "type": "input",
                "block_id": BLOCK_DURATION,
                "label": plain("For how long?", 2000),
                "element": {
                    "type": "static_select",
                    "action_id": INPUT_ACTION,
                    "options": options,
                    "initial_option": default,
                },
            }),
            text_input(BLOCK_REASON, "Why do you need it?", true, MAX_REASON_CHARS, "", false),
        ],
    );
    v["private_metadata"] = json!(clip(metadata, 3000));
    v
}

/// The request modal after a successful submission.
pub fn request_sent_modal(r: &ExceptionRequest) -> Value {
    modal(
        CALLBACK_REQUEST,
        "Request sent",
        None,
        vec![section(&format!(
            "Request #{} is with the admins: an exception for {} about {}. You will get a message when one of them decides.",
            r.id,
            duration_label(r.duration_secs),
            safe(&r.subject, MAX_SUBJECT_CHARS)
        ))],
    )
}

/// The decide-with-a-note modal for request `r`.
pub fn decide_modal(r: &ExceptionRequest) -> Value {
    let approve = json!({"text": plain("Approve", 75), "value": "approve"});
    let deny = json!({"text": plain("Deny", 75), "value": "deny"});
    let mut v = modal(
        CALLBACK_DECIDE,
        &format!("Request #{}", r.id),
        Some("Decide"),
        vec![
            request_summary(r),
            json!({
                "type": "input",
                "block_id": BLOCK_DECISION,
                "label": plain("Decision", 2000),
                "element": {"type": "radio_buttons", "action_id": INPUT_ACTION, "options": [approve, deny]},
            }),
            text_input(
                BLOCK_NOTE,
                "Note for the requester",
                true,
                MAX_NOTE_CHARS,
                "",
                true,
            ),
        ],
    );
    v["private_metadata"] = json!(r.id.to_string());
    v
}

/// Already escaped mrkdwn as sections of at most [`SECTION_TEXT_MAX`]
/// characters, split at line breaks (a longer line is cut, never inside an
/// escape).
pub fn text_sections(escaped: &str) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut cur = String::new();
    for line in escaped.split_inclusive('\n') {
        let mut line = line;
        while !line.is_empty() {
            let room = SECTION_TEXT_MAX - cur.chars().count();
            if line.chars().count() <= room {
                cur.push_str(line);
                break;
            }
            if !cur.is_empty() {
                blocks.push(section(cur.trim_end()));
                cur.clear();
                continue;
            }
            let mut at = line
                .char_indices()
                .nth(SECTION_TEXT_MAX)
                .map_or(line.len(), |(i, _)| i);
            if let Some(amp) = line[..at]
                .rfind('&')
                .filter(|a| !line[*a..at].contains(';'))
            {
                at = amp;
            }
            blocks.push(section(&line[..at]));
            line = &line[at..];
        }
    }
    if !cur.trim().is_empty() {
        blocks.push(section(cur.trim_end()));
    }
    blocks
}

/// A notice to an author, with the "Request an exception" button: the
/// (already escaped) text as [`text_sections`] and the button whose value
/// says which message it is about.
pub fn notice_blocks(escaped: &str, value: &str) -> Vec<Value> {
    let mut blocks = text_sections(escaped);
    blocks.truncate(MESSAGE_BLOCKS_MAX - 1);
    blocks.push(
        json!({"type": "actions", "block_id": "notice_actions", "elements": [
            button("Request an exception", ACTION_REQUEST_OPEN, value, None),
        ]}),
    );
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(state: RequestState) -> ExceptionRequest {
        ExceptionRequest {
            id: 7,
            platform: crate::moderation::Platform::Slack,
            workspace: "T0FAKETEAM1".into(),
            requester_id: "U0FAKEUSR01".into(),
            requester_name: "alice".into(),
            target: ExceptionTarget::User("U0FAKEUSR01".into()),
            subject: "zoom <!channel>".into(),
            reason: "customer call & demo <https://evil.example|click>".into(),
            duration_secs: 86_400,
            state,
            created_ms: 1_765_000_000_000,
            decided_by: None,
            decided_ms: None,
            note: None,
            exception_id: None,
            admin_channel: None,
            admin_message: None,
            delivered_state: String::new(),
        }
    }

    fn home(admin: bool) -> Home {
        Home {
            approved: vec!["Jitsi Meet".into(), "Google Meet".into()],
            banned: vec![Banned {
                what: "Zoom".into(),
                rule: "no-zoom".into(),
                reason: "Zoom is not approved for internal meetings.".into(),
                alternative: Some("https://meet.jit.si/linkguard-abcdefghijklmnop".into()),
                monitor: false,
            }],
            exceptions: vec![HomeException {
                id: 3,
                target: ExceptionTarget::User("U0FAKEUSR01".into()),
                until_ms: 1_765_086_400_000,
                reason: "request #2 by alice: vendor".into(),
            }],
            requests: vec![request(RequestState::Pending)],
            admin: admin.then(|| AdminHome {
                policy_mode: "enforce".into(),
                version: Some(4),
                rules: vec![AdminRule {
                    id: "no-zoom".into(),
                    mode: "enforce".into(),
                    action: "replace".into(),
                }],
                pending: vec![request(RequestState::Pending)],
                console_url: Some("https://linkguard.example.com/".into()),
            }),
        }
    }

    #[test]
    fn home_tab_for_members_and_admins() {
        insta::assert_json_snapshot!("home_member", home_view(&home(false)));
        insta::assert_json_snapshot!("home_admin", home_view(&home(true)));
    }

    #[test]
    fn modals() {
        insta::assert_json_snapshot!("check_modal", check_modal());
        insta::assert_json_snapshot!(
            "check_answer_modal",
            check_answer_modal("https://zoom.us/j/1 (Zoom): not allowed, rule `no-zoom`.")
        );
        insta::assert_json_snapshot!("request_modal", request_modal("Zoom", "C0FAKECHAN1"));
        insta::assert_json_snapshot!(
            "request_sent_modal",
            request_sent_modal(&request(RequestState::Pending))
        );
        insta::assert_json_snapshot!(
            "decide_modal",
            decide_modal(&request(RequestState::Pending))
        );
    }

    #[test]
    fn admin_messages_escape_what_people_typed() {
        let (text, blocks) = admin_message(&request(RequestState::Pending));
        insta::assert_json_snapshot!("admin_pending", json!({"text": text, "blocks": blocks}));
        let s = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(
            !s.contains("<!channel>") && s.contains("&lt;!channel&gt;"),
            "{s}"
        );
        assert!(!s.contains("<https://evil"), "{s}");
        let mut done = request(RequestState::Approved);
        done.decided_by = Some("admin (U0FAKEADM01)".into());
        done.decided_ms = Some(1_765_000_100_000);
        done.exception_id = Some(9);
        done.note = Some("fine for this week".into());
        let (text, blocks) = admin_message(&done);
        insta::assert_json_snapshot!("admin_approved", json!({"text": text, "blocks": blocks}));
        assert_eq!(blocks.len(), 2, "no buttons once decided");
        insta::assert_snapshot!(
            "requester_approved",
            requester_message(&done, Some(1_765_086_500_000))
        );
    }

    #[test]
    fn notices_fit_in_sections_and_keep_escapes_whole() {
        let long = format!("{}\n{}", "a&amp;b ".repeat(500), "tail");
        let blocks = notice_blocks(&long, "msg:C1:1.2");
        for b in &blocks[..blocks.len() - 1] {
            let t = b["text"]["text"].as_str().unwrap();
            assert!(t.chars().count() <= SECTION_TEXT_MAX);
            assert!(!t.ends_with('&') && !t.starts_with("amp;"), "{t}");
        }
        assert_eq!(blocks.last().unwrap()["type"], "actions");
        insta::assert_json_snapshot!(
            "notice",
            notice_blocks(
                "Zoom links are not allowed here.\nUse instead: https://meet.jit.si/x",
                "msg:C0FAKECHAN1:1765000000.000100"
            )
        );
    }

    #[test]
    fn views_fit_slack_limits() {
        let mut h = home(true);
        h.banned = vec![h.banned[0].clone(); 200];
        if let Some(a) = h.admin.as_mut() {
            a.pending = vec![request(RequestState::Pending); 200];
        }
        let v = home_view(&h);
        assert!(v["blocks"].as_array().unwrap().len() <= VIEW_BLOCKS_MAX);
        // Every view converts into slack-morphism's model.
        for view in [
            v,
            check_modal(),
            request_modal("", ""),
            decide_modal(&request(RequestState::Pending)),
        ] {
            serde_json::from_value::<slack_morphism::prelude::SlackView>(view)
                .expect("a valid view");
        }
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
    }
}
