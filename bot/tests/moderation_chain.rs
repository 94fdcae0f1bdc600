//! The degradation chain, step by step: every refusal at every step of
//! every action, against a scripted platform (a test double of Slack or
//! Discord, nothing of ours) with the real pipeline and a real SQLite store.
//! Each row says what the platform refuses and what must come of it: the
//! action finally done, its outcome, why, the platform calls in order, and
//! the audit record written.

mod store_common;

use linkguard::commands::edit::set_field;
use linkguard::moderation::{
    ActionError, ActionFuture, ActivePolicy, Handled, IncomingMessage, Moderator, Platform,
    PlatformActions, RetrySettings,
};
use linkguard::store::{AuditFilter, Outcome, Store};
use linkguard_rules::policy::{Action, Policy, RoomKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the scripted platform answers to each request (by method name);
/// anything not scripted succeeds.
#[derive(Default)]
struct FakePlatform {
    answers: HashMap<&'static str, ActionError>,
    limit: usize,
    delete_refusal: Option<String>,
    calls: Mutex<Vec<&'static str>>,
}

impl FakePlatform {
    fn answer(&self, call: &'static str) -> Result<(), ActionError> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
        match self.answers.get(call) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl PlatformActions for FakePlatform {
    fn repost<'a>(&'a self, _: &'a IncomingMessage, _: &'a str) -> ActionFuture<'a, String> {
        let r = self.answer("repost").map(|()| "R1".to_owned());
        Box::pin(async move { r })
    }
    fn delete<'a>(&'a self, _: &'a IncomingMessage) -> ActionFuture<'a, ()> {
        let r = self.answer("delete");
        Box::pin(async move { r })
    }
    fn delete_repost<'a>(&'a self, _: &'a IncomingMessage, id: &'a str) -> ActionFuture<'a, ()> {
        assert_eq!(id, "R1", "only our own repost is taken back");
        let r = self.answer("delete_repost");
        Box::pin(async move { r })
    }
    fn reply<'a>(&'a self, _: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()> {
        assert!(text.chars().count() <= self.limit);
        let r = self.answer("reply");
        Box::pin(async move { r })
    }
    fn notify_author<'a>(&'a self, _: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()> {
        assert!(text.chars().count() <= self.limit);
        let r = self.answer("notify");
        Box::pin(async move { r })
    }
    fn text_limit(&self) -> usize {
        self.limit
    }
    fn delete_refusal(&self, _: &IncomingMessage) -> Option<String> {
        self.delete_refusal.clone()
    }
    fn send_copy<'a>(&'a self, _: &'a IncomingMessage, _: &'a str) -> ActionFuture<'a, ()> {
        let r = self.answer("send_copy");
        Box::pin(async move { r })
    }
}

/// One row of the table.
struct Case {
    /// The rule's action.
    action: &'static str,
    /// What the platform refuses (method, answer).
    refuse: &'static [(&'static str, Answer)],
    /// The message carries files.
    files: bool,
    /// The platform's text limit (a small one makes the repost not fit).
    limit: usize,
    /// The connector knows it cannot delete.
    delete_refusal: bool,
    /// The action finally done, and how.
    done: &'static str,
    outcome: Outcome,
    /// What the recorded reason must say (`None`: no reason).
    detail: Option<&'static str>,
    /// The platform calls, in order.
    calls: &'static [&'static str],
}

#[derive(Clone, Copy)]
enum Answer {
    Refused,
    Failed,
    Gone,
}

impl Answer {
    fn error(self) -> ActionError {
        match self {
            Answer::Refused => ActionError::Refused("missing_scope".into()),
            Answer::Failed => ActionError::Failed("internal_error".into()),
            Answer::Gone => ActionError::Gone("message_not_found".into()),
        }
    }
}

const BIG: usize = 4000;

fn case(action: &'static str, refuse: &'static [(&'static str, Answer)]) -> Case {
    Case {
        action,
        refuse,
        files: false,
        limit: BIG,
        delete_refusal: false,
        done: action,
        outcome: Outcome::Ok,
        detail: None,
        calls: &[],
    }
}

impl Case {
    fn then(
        mut self,
        done: &'static str,
        outcome: Outcome,
        detail: Option<&'static str>,
        calls: &'static [&'static str],
    ) -> Case {
        self.done = done;
        self.outcome = outcome;
        self.detail = detail;
        self.calls = calls;
        self
    }
}

use Answer::{Failed, Gone, Refused};
use Outcome::{Degraded, Failed as FailedOutcome, Ok as OkOutcome};

fn table() -> Vec<Case> {
    vec![
        // replace: repost, then delete the original.
        case("replace", &[]).then("replace", OkOutcome, None, &["repost", "delete"]),
        case("replace", &[("repost", Refused)]).then(
            "reply",
            Degraded,
            Some("replace refused: missing_scope"),
            &["repost", "reply", "notify"],
        ),
        // The original could not go: the repost is taken back, never two copies.
        case("replace", &[("delete", Refused)]).then(
            "reply",
            Degraded,
            Some("replace refused: deleting the original: missing_scope (repost removed)"),
            &["repost", "delete", "delete_repost", "reply", "notify"],
        ),
        case("replace", &[("delete", Refused), ("delete_repost", Failed)]).then(
            "reply",
            Degraded,
            Some("repost R1 could not be removed: failed: internal_error"),
            &["repost", "delete", "delete_repost", "reply", "notify"],
        ),
        case("replace", &[("delete", Failed)]).then(
            "replace",
            FailedOutcome,
            Some("replace failed: deleting the original: failed: internal_error (repost removed)"),
            &["repost", "delete", "delete_repost"],
        ),
        case("replace", &[("repost", Failed)]).then(
            "replace",
            FailedOutcome,
            Some("replace failed: internal_error"),
            &["repost"],
        ),
        case("replace", &[("repost", Refused), ("reply", Refused)]).then(
            "warn",
            Degraded,
            Some("replace refused: missing_scope; reply refused: missing_scope"),
            &["repost", "reply", "notify"],
        ),
        case(
            "replace",
            &[("repost", Refused), ("reply", Refused), ("notify", Refused)],
        )
        .then(
            "log",
            Degraded,
            Some("replace refused: missing_scope; reply refused: missing_scope; warn refused: missing_scope"),
            &["repost", "reply", "notify"],
        ),
        // The reply went out, the private notice did not: still a reply, degraded.
        case("replace", &[("repost", Refused), ("notify", Refused)]).then(
            "reply",
            Degraded,
            Some("private notice not sent: refused: missing_scope"),
            &["repost", "reply", "notify"],
        ),
        // Files: a repost would lose them, so it is not even tried.
        Case {
            files: true,
            ..case("replace", &[])
        }
        .then(
            "reply",
            Degraded,
            Some("replace refused: the message has attachments"),
            &["reply", "notify"],
        ),
        // Too long to repost: removed, and the author sent the rewritten text.
        Case {
            limit: 120,
            ..case("replace", &[])
        }
        .then(
            "delete",
            Degraded,
            Some("replace cannot repost: the rewritten message would be"),
            &["send_copy", "delete", "notify"],
        ),
        // ... but the connector knows it cannot delete: a reply instead.
        Case {
            limit: 120,
            delete_refusal: true,
            ..case("replace", &[])
        }
        .then(
            "reply",
            Degraded,
            Some("delete refused: no admin token"),
            &["reply", "notify"],
        ),
        // ... and the author cannot be sent their text: kept, answered.
        Case {
            limit: 120,
            ..case("replace", &[("send_copy", Refused)])
        }
        .then(
            "reply",
            Degraded,
            Some("rewritten text not sent: refused: missing_scope; delete refused: the author could not be sent the rewritten text"),
            &["send_copy", "reply", "notify"],
        ),
        Case {
            limit: 120,
            ..case("replace", &[("delete", Refused)])
        }
        .then(
            "reply",
            Degraded,
            Some("delete refused: missing_scope"),
            &["send_copy", "delete", "reply", "notify"],
        ),
        // reply: answer in the thread, tell the author.
        case("reply", &[]).then("reply", OkOutcome, None, &["reply", "notify"]),
        case("reply", &[("reply", Refused)]).then(
            "warn",
            Degraded,
            Some("reply refused: missing_scope"),
            &["reply", "notify"],
        ),
        case("reply", &[("reply", Gone)]).then(
            "reply",
            FailedOutcome,
            Some("reply failed: message_not_found"),
            &["reply"],
        ),
        // delete: remove, tell the author.
        case("delete", &[]).then("delete", OkOutcome, None, &["delete", "notify"]),
        case("delete", &[("delete", Refused)]).then(
            "warn",
            Degraded,
            Some("delete refused: missing_scope"),
            &["delete", "notify"],
        ),
        case("delete", &[("delete", Refused), ("notify", Refused)]).then(
            "log",
            Degraded,
            Some("delete refused: missing_scope; warn refused: missing_scope"),
            &["delete", "notify"],
        ),
        // warn: only the private notice.
        case("warn", &[]).then("warn", OkOutcome, None, &["notify"]),
        case("warn", &[("notify", Refused)]).then(
            "log",
            Degraded,
            Some("warn refused: missing_scope"),
            &["notify"],
        ),
        case("warn", &[("notify", Failed)]).then(
            "warn",
            FailedOutcome,
            Some("warn failed: internal_error"),
            &["notify"],
        ),
        // log: nothing on the platform.
        case("log", &[]).then("log", OkOutcome, None, &[]),
    ]
}

fn policy(action: &str) -> Arc<Policy> {
    let default = Policy::default_policy();
    let text = set_field(default.source_text(), "no-zoom", "action", action).expect("edit");
    Arc::new(Policy::parse("chain test", &text).expect("policy"))
}

fn message(id: &str, files: bool) -> IncomingMessage {
    let mut m = store_common::slack_message(
        "U0FAKEUSR01",
        "standup at https://zoom.us/j/91234567890 please join on time",
        id,
    );
    m.has_attachments = files;
    m
}

async fn last_action(store: &Store) -> linkguard::store::AuditEntry {
    let rows = store
        .list(&AuditFilter {
            kind: Some("action".into()),
            newest_first: true,
            limit: Some(1),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    rows.into_iter().next().expect("an action record").entry
}

#[tokio::test]
async fn every_refusal_at_every_step_degrades_as_the_chain_says() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    for (i, c) in table().into_iter().enumerate() {
        let moderator = Moderator::new(
            store.clone(),
            ActivePolicy {
                policy: policy(c.action),
                version: None,
            },
            RoomKey::new("chain-test"),
            false,
        );
        let platform = FakePlatform {
            answers: c.refuse.iter().map(|(m, a)| (*m, a.error())).collect(),
            limit: c.limit,
            delete_refusal: c.delete_refusal.then(|| "no admin token".to_owned()),
            ..FakePlatform::default()
        };
        let msg = message(&format!("1700000000.{i:06}"), c.files);
        let row = format!(
            "row {i}: {} refusing {:?}",
            c.action,
            c.refuse.iter().map(|r| r.0).collect::<Vec<_>>()
        );
        let handled = moderator.handle(&msg, &platform).await.expect("recorded");
        let Handled::Acted {
            action,
            outcome,
            detail,
        } = handled
        else {
            panic!("{row}: {handled:?}");
        };
        assert_eq!(action, Action::parse(c.done).unwrap(), "{row}: {detail:?}");
        assert_eq!(outcome, c.outcome, "{row}: {detail:?}");
        match c.detail {
            None => assert_eq!(detail, None, "{row}"),
            Some(want) => assert!(
                detail.as_deref().is_some_and(|d| d.contains(want)),
                "{row}: {detail:?} does not say {want:?}"
            ),
        }
        assert_eq!(platform.calls(), c.calls, "{row}");
        // What happened is what the audit log says, and nothing is left pending.
        let e = last_action(&store).await;
        assert_eq!(
            e.message_id.as_deref(),
            Some(msg.message_id.as_str()),
            "{row}"
        );
        assert_eq!(e.action.map(|a| a.as_str()), Some(c.done), "{row}");
        assert_eq!(e.outcome.as_ref(), Some(&c.outcome), "{row}");
        assert_eq!(e.detail, detail, "{row}");
        assert!(store.pending().await.expect("pending").is_empty(), "{row}");
    }
}

#[tokio::test]
async fn not_yet_at_any_step_leaves_the_action_pending_and_never_degrades() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let later = || ActionError::later("ratelimited");
    for (i, (action, step, calls)) in [
        ("replace", "repost", &["repost"][..]),
        ("replace", "delete", &["repost", "delete"][..]),
        ("reply", "reply", &["reply"][..]),
        ("reply", "notify", &["reply", "notify"][..]),
        ("delete", "delete", &["delete"][..]),
        ("warn", "notify", &["notify"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        // No back-off, so the put-off action is due again at once.
        let moderator = Moderator::new(
            store.clone(),
            ActivePolicy {
                policy: policy(action),
                version: None,
            },
            RoomKey::new("chain-test"),
            false,
        )
        .with_retry(RetrySettings {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            ..RetrySettings::default()
        });
        let platform = FakePlatform {
            answers: [(step, later())].into_iter().collect(),
            limit: BIG,
            ..FakePlatform::default()
        };
        let msg = message(&format!("1700000001.{i:06}"), false);
        let handled = moderator.handle(&msg, &platform).await.expect("recorded");
        assert!(
            matches!(&handled, Handled::Pending { detail } if detail.starts_with(action)),
            "{action} at {step}: {handled:?}"
        );
        assert_eq!(platform.calls(), calls, "{action} at {step}");
        let pending = store.pending().await.expect("pending");
        assert_eq!(pending.len(), 1, "{action} at {step}");
        assert_eq!(pending[0].attempts, 1, "{action} at {step}");
        // The repost made before a put-off delete is recorded, so the retry
        // deletes the original without reposting again.
        if step == "delete" && action == "replace" {
            let progress = pending[0].progress.as_deref().unwrap_or_default();
            assert!(progress.contains("\"repost\":\"R1\""), "{progress}");
        }
        // Resolve it so the next row starts with nothing pending.
        let retry = FakePlatform {
            limit: BIG,
            ..FakePlatform::default()
        };
        assert_eq!(
            moderator
                .recover(Platform::Slack, &retry)
                .await
                .expect("recover"),
            1
        );
        if step == "delete" && action == "replace" {
            assert_eq!(retry.calls(), ["delete"], "no second repost");
        }
        assert!(store.pending().await.expect("pending").is_empty());
    }
}
