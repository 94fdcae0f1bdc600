//! Exception requests, platform-neutral: validation, admin rights, tenancy,
//! the compare-and-swap decision (a second click, or a second replica, is
//! told who decided), the exception an approval grants taking effect in the
//! pipeline and ending at expiry, the delivery outbox, and the audit trail —
//! on SQLite and on PostgreSQL.

mod store_common;

use linkguard::commands::requests::{
    RequestError, MAX_PENDING_PER_REQUESTER, MAX_REASON_CHARS, REQUEST_DURATIONS,
};
use linkguard::commands::{Caller, Commands};
use linkguard::moderation::{
    ActivePolicy, Author, Handled, IncomingMessage, Moderator, Platform, Revision, Step,
};
use linkguard::store::{
    AuditFilter, ExceptionTarget, RequestState, Store, KIND_APPROVED, KIND_DENIED, KIND_REQUESTED,
};
use linkguard_rules::policy::{Policy, RoomKey};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store_common::TestDb;

const TEAM: &str = "T0FAKETEAM1";
const DAY: Duration = Duration::from_secs(86_400);

fn moderator(store: Store) -> Arc<Moderator> {
    Arc::new(Moderator::new(
        store,
        ActivePolicy {
            policy: Arc::new(Policy::default_policy()),
            version: None,
        },
        RoomKey::new("requests-test"),
        false,
    ))
}

fn person(id: &str, name: &str, admin: bool, workspace: &str) -> Caller {
    Caller {
        platform: Some(Platform::Slack),
        workspace: workspace.into(),
        channel: "C0FAKECHAN1".into(),
        user_id: id.into(),
        user_name: name.into(),
        roles: vec![],
        is_admin: admin,
    }
}

fn alice() -> Caller {
    person("U0FAKEUSR01", "alice", false, TEAM)
}

fn admin() -> Caller {
    person("U0FAKEADM01", "dana", true, TEAM)
}

fn message(user: &str, text: &str, id: &str) -> IncomingMessage {
    IncomingMessage {
        platform: Platform::Slack,
        workspace: TEAM.into(),
        channel: "C0FAKECHAN1".into(),
        thread: None,
        message_id: id.into(),
        revision: Revision::original(),
        author: Author {
            id: user.into(),
            display_name: user.into(),
            ..Author::default()
        },
        text: text.into(),
        has_attachments: false,
        not_repostable: None,
        received: Instant::now(),
    }
}

async fn records(store: &Store) -> Vec<(String, Option<String>, Option<String>)> {
    store
        .list(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.entry.kind.as_str().to_owned(),
                r.entry.author.clone(),
                r.entry.detail.clone(),
            )
        })
        .collect()
}

const ZOOM: &str = "call me at https://acme.zoom.us/j/81731411461";

/// The whole life of requests, on one backend.
async fn story(db: TestDb) {
    let store = db.store().await;
    let m = moderator(store.clone());
    let c = Commands::new(m.clone());

    // Validation names what was wrong, and stores nothing.
    let bad = [
        (
            c.request_submit(&alice(), None, "zoom", "  ", DAY).await,
            "give a reason",
        ),
        (
            c.request_submit(
                &alice(),
                None,
                "zoom",
                &"x".repeat(MAX_REASON_CHARS + 1),
                DAY,
            )
            .await,
            "501 characters",
        ),
        (
            c.request_submit(&alice(), None, &"z".repeat(201), "call", DAY)
                .await,
            "tool or link is 201 characters",
        ),
        (
            c.request_submit(&alice(), None, "zoom", "call", Duration::from_secs(7200))
                .await,
            "1h, 1d, 7d, 30d",
        ),
        (
            c.request_submit(
                &alice(),
                Some(ExceptionTarget::User("U0FAKEUSR02".into())),
                "zoom",
                "call",
                DAY,
            )
            .await,
            "not for another person",
        ),
    ];
    for (got, want) in bad {
        let e = got.expect_err(want);
        assert!(e.to_string().contains(want), "{e} should say {want}");
    }
    let mut cli = admin();
    cli.platform = None;
    assert!(matches!(
        c.request_submit(&cli, None, "zoom", "call", DAY).await,
        Err(RequestError::NoWorkspace)
    ));
    assert!(
        records(&store).await.is_empty(),
        "refused requests are not stored"
    );

    // A request: its passcode never stored, audited with the requester.
    let r = c
        .request_submit(
            &alice(),
            None,
            "https://acme.zoom.us/j/81731411461?pwd=SeCrEt",
            "customer call on Tuesday",
            DAY,
        )
        .await
        .unwrap();
    assert_eq!(r.state, RequestState::Pending);
    assert_eq!(r.target, ExceptionTarget::User("U0FAKEUSR01".into()));
    assert!(!r.subject.contains("SeCrEt"), "{}", r.subject);
    assert_eq!(store.request_get(r.id).await.unwrap().as_ref(), Some(&r));
    let log = records(&store).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, KIND_REQUESTED);
    assert_eq!(log[0].1.as_deref(), Some("alice (U0FAKEUSR01)"));
    assert!(!log[0].2.as_deref().unwrap().contains("SeCrEt"));
    assert_eq!(
        c.requests_pending(&admin()).await.unwrap(),
        vec![r.clone()],
        "the admins see it"
    );
    assert!(matches!(
        c.requests_pending(&alice()).await,
        Err(RequestError::NotAdmin)
    ));

    // Only an admin decides, and only in their own workspace.
    let e = c
        .request_decide(&alice(), r.id, true, None)
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::NotAdmin), "{e}");
    let foreign = person("U0OTHERADM1", "mallory", true, "T0OTHERTEAM");
    let e = c
        .request_decide(&foreign, r.id, true, None)
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::NotFound { .. }), "{e}");
    let e = c
        .request_decide(&admin(), 999_999, true, None)
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::NotFound { id: 999_999 }), "{e}");
    assert!(store
        .exception_covering(Platform::Slack, TEAM, "U0FAKEUSR01", &["C0FAKECHAN1"])
        .await
        .unwrap()
        .is_none());
    let log = records(&store).await;
    assert_eq!(
        log.last().unwrap().0,
        "refused",
        "the non-admin's click is audited"
    );
    assert_eq!(log.last().unwrap().1.as_deref(), Some("U0FAKEUSR01"));

    // Before approval the pipeline acts on alice's Zoom link.
    let step = m
        .record(&message("U0FAKEUSR01", ZOOM, "1.0"))
        .await
        .unwrap();
    assert!(matches!(step, Step::Act(_)), "{step:?}");

    // The admin approves: the exception exists in the same step.
    let d = c
        .request_decide(&admin(), r.id, true, Some("ok for this customer"))
        .await
        .unwrap();
    assert_eq!(d.request.state, RequestState::Approved);
    assert_eq!(d.request.decided_by.as_deref(), Some("dana (U0FAKEADM01)"));
    let x = d.exception.clone().expect("approval grants the exception");
    assert_eq!(d.request.exception_id, Some(x.id));
    assert_eq!(x.target, ExceptionTarget::User("U0FAKEUSR01".into()));
    assert!((x.until_ms - x.granted_ms - DAY.as_millis() as i64).abs() < 1000);
    let log = records(&store).await;
    let approved = log.iter().find(|r| r.0 == KIND_APPROVED).unwrap();
    assert_eq!(approved.1.as_deref(), Some("dana (U0FAKEADM01)"));
    assert!(approved
        .2
        .as_deref()
        .unwrap()
        .contains("alice (U0FAKEUSR01)"));
    assert!(approved
        .2
        .as_deref()
        .unwrap()
        .contains("ok for this customer"));
    assert!(
        log.iter().any(|r| r.0 == "exception"),
        "the grant itself is audited"
    );

    // A second click is told who decided.
    let e = c
        .request_decide(&admin(), r.id, false, None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "request #{} was already approved by dana (U0FAKEADM01)",
            r.id
        )
    );

    // The next Zoom link from alice is allowed and audited as excepted.
    let step = m
        .record(&message("U0FAKEUSR01", ZOOM, "2.0"))
        .await
        .unwrap();
    assert!(matches!(step, Step::Done(Handled::Excepted)), "{step:?}");
    let last = store
        .list(&AuditFilter {
            newest_first: true,
            limit: Some(1),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(last[0].entry.kind.as_str(), "exception");
    assert!(last[0]
        .entry
        .detail
        .as_deref()
        .unwrap()
        .contains(&format!("allowed by exception #{}", x.id)));
    // Someone else's is not.
    let step = m
        .record(&message("U0FAKEUSR02", ZOOM, "3.0"))
        .await
        .unwrap();
    assert!(matches!(step, Step::Act(_)), "{step:?}");

    // Expiry restores enforcement (moved into the past behind the store's back).
    let raw = db.raw().await;
    sqlx::query("UPDATE exceptions SET until_ms = $1 WHERE id = $2")
        .bind(linkguard::store::now_ms() - 1)
        .bind(x.id)
        .execute(&raw)
        .await
        .unwrap();
    let step = m
        .record(&message("U0FAKEUSR01", ZOOM, "4.0"))
        .await
        .unwrap();
    assert!(matches!(step, Step::Act(_)), "{step:?}");

    // Deny, with a note; no exception.
    let r2 = c
        .request_submit(
            &alice(),
            Some(ExceptionTarget::Channel("C0FAKESALES".into())),
            "webex",
            "partner uses webex",
            REQUEST_DURATIONS[3].duration(),
        )
        .await
        .unwrap();
    let d = c
        .request_decide(&admin(), r2.id, false, Some("use Jitsi"))
        .await
        .unwrap();
    assert_eq!(d.request.state, RequestState::Denied);
    assert_eq!(d.exception, None);
    assert_eq!(d.request.note.as_deref(), Some("use Jitsi"));
    assert!(records(&store).await.iter().any(|r| r.0 == KIND_DENIED));
    assert!(store
        .exception_covering(Platform::Slack, TEAM, "U0FAKEUSR09", &["C0FAKESALES"])
        .await
        .unwrap()
        .is_none());

    // At most a few pending per person; withdrawing frees a place.
    let mut open = Vec::new();
    for i in 0..MAX_PENDING_PER_REQUESTER {
        open.push(
            c.request_submit(&alice(), None, "zoom", &format!("call {i}"), DAY)
                .await
                .unwrap(),
        );
    }
    let e = c
        .request_submit(&alice(), None, "zoom", "one more", DAY)
        .await
        .unwrap_err();
    assert!(matches!(e, RequestError::TooManyPending { .. }), "{e}");
    let bob = person("U0FAKEUSR02", "bob", false, TEAM);
    let e = c.request_cancel(&bob, open[0].id).await.unwrap_err();
    assert!(matches!(e, RequestError::NotYours { .. }), "{e}");
    let w = c.request_cancel(&alice(), open[0].id).await.unwrap();
    assert_eq!(w.state, RequestState::Cancelled);
    c.request_submit(&alice(), None, "zoom", "one more", DAY)
        .await
        .unwrap();
    let e = c
        .request_decide(&admin(), open[0].id, true, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already cancelled by alice"), "{e}");

    // A request nobody decided within the TTL expires instead of being approved.
    sqlx::query("UPDATE exception_requests SET created_ms = 1000 WHERE id = $1")
        .bind(open[1].id)
        .execute(&raw)
        .await
        .unwrap();
    let e = c
        .request_decide(&admin(), open[1].id, true, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            RequestError::AlreadyDecided {
                state: RequestState::Expired,
                ..
            }
        ),
        "{e}"
    );
    assert!(c
        .requests_pending(&admin())
        .await
        .unwrap()
        .iter()
        .all(|p| p.id != open[1].id));

    // The chain is intact after all of it.
    assert!(store.verify().await.unwrap().is_ok());
}

#[tokio::test]
async fn request_story_on_sqlite() {
    story(store_common::sqlite().await).await;
}

#[tokio::test]
async fn request_story_on_postgres() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    story(db).await;
}

/// Two admins (or two replicas) clicking at once: exactly one decides, and
/// exactly one exception is granted.
async fn race(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let ca = Commands::new(moderator(a.clone()));
    let cb = Commands::new(moderator(b.clone()));
    let r = ca
        .request_submit(&alice(), None, "zoom", "call", DAY)
        .await
        .unwrap();
    let other = person("U0FAKEADM02", "erin", true, TEAM);
    let dana = admin();
    let (x, y) = tokio::join!(
        ca.request_decide(&dana, r.id, true, None),
        cb.request_decide(&other, r.id, false, None)
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one wins: {x:?} / {y:?}");
    let loser = x.err().or(y.err()).unwrap();
    assert!(
        matches!(loser, RequestError::AlreadyDecided { .. }),
        "{loser}"
    );
    let now = a.request_get(r.id).await.unwrap().unwrap();
    let granted = a.exceptions_active(Platform::Slack).await.unwrap().len();
    match now.state {
        RequestState::Approved => assert_eq!(granted, 1),
        RequestState::Denied => assert_eq!(granted, 0),
        s => panic!("unexpected state {s}"),
    }
    assert!(a.verify().await.unwrap().is_ok());
}

#[tokio::test]
async fn concurrent_decisions_on_sqlite() {
    race(store_common::sqlite().await).await;
}

#[tokio::test]
async fn concurrent_decisions_on_postgres() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    race(db).await;
}

/// The outbox: a new request waits for delivery, is leased to one
/// process at a time, and waits again once its state changes.
#[tokio::test]
async fn delivery_outbox_leases_each_change_once() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let c = Commands::new(moderator(store.clone()));
    let r = c
        .request_submit(&alice(), None, "zoom", "call", DAY)
        .await
        .unwrap();
    let got = store
        .requests_undelivered(Platform::Slack, 10)
        .await
        .unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r.id]);
    assert!(
        store
            .requests_undelivered(Platform::Slack, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    assert!(store
        .requests_undelivered(Platform::Discord, 10)
        .await
        .unwrap()
        .is_empty());
    store
        .request_set_admin_message(r.id, "C0FAKEADMIN", "1700000000.000100")
        .await
        .unwrap();
    store
        .request_delivered(r.id, RequestState::Pending)
        .await
        .unwrap();
    assert!(store
        .requests_undelivered(Platform::Slack, 10)
        .await
        .unwrap()
        .is_empty());
    c.request_decide(&admin(), r.id, true, None).await.unwrap();
    let got = store
        .requests_undelivered(Platform::Slack, 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].state, RequestState::Approved);
    assert_eq!(got[0].admin_message.as_deref(), Some("1700000000.000100"));
    assert_eq!(got[0].delivered_state, "pending");
    store
        .request_delivery_failed(r.id, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        store
            .requests_undelivered(Platform::Slack, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .request_delivered(r.id, RequestState::Approved)
        .await
        .unwrap();
    assert!(store
        .requests_undelivered(Platform::Slack, 10)
        .await
        .unwrap()
        .is_empty());
}

/// The same request in words: `/linkguard exempt request …`.
#[tokio::test]
async fn requests_in_words() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let c = Commands::new(moderator(store.clone()));
    let a = c
        .run(
            &alice(),
            "exempt request for 7d about zoom because customer uses it",
        )
        .await;
    assert!(a.starts_with("Request #1 sent to the admins"), "{a}");
    assert!(a.contains("for you for 7 days, about zoom"), "{a}");
    let a = c.run(&alice(), "exempt request for 2h because x").await;
    assert!(a.contains("is not a duration you can ask for"), "{a}");
    let a = c.run(&alice(), "exempt approve 1").await;
    assert_eq!(
        a,
        "Only linkguard admins can approve or deny exception requests."
    );
    let a = c.run(&admin(), "exempt requests").await;
    assert!(a.contains("#1 pending by alice (U0FAKEUSR01)"), "{a}");
    let a = c
        .run(&admin(), "exempt approve 1 because fine this week")
        .await;
    assert!(a.starts_with("Request #1 approved: exception #1"), "{a}");
    let a = c.run(&admin(), "exempt deny 1").await;
    assert_eq!(a, "Request #1 was already approved by dana (U0FAKEADM01).");
    assert_eq!(
        store.request_get(1).await.unwrap().unwrap().note.as_deref(),
        Some("fine this week")
    );
    let a = c.run(&alice(), "exempt requests").await;
    assert!(a.contains("Your requests:\n- #1 approved"), "{a}");
    let a = c.run(&alice(), "exempt cancel").await;
    assert!(a.starts_with("Usage"), "{a}");
}
