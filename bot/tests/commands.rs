//! The platform-neutral commands: employees asking, admins editing, refusals,
//! validation, versioning, exceptions and monitor mode — on a real store, and
//! a change made on one replica reaching another through PostgreSQL.

mod store_common;

use linkguard::commands::{route, Caller, Commands, Word};
use linkguard::moderation::{ActivePolicy, Handled, IncomingMessage, Moderator, Platform, Step};
use linkguard::store::{AuditFilter, Kind, Store};
use linkguard_rules::policy::{Policy, RoomKey};
use std::sync::Arc;
use std::time::Duration;

fn moderator(store: Store) -> Arc<Moderator> {
    Arc::new(Moderator::new(
        store,
        ActivePolicy {
            policy: Arc::new(Policy::default_policy()),
            version: None,
        },
        RoomKey::new("commands-test"),
        false,
    ))
}

fn caller(admin: bool) -> Caller {
    Caller {
        platform: Some(Platform::Slack),
        workspace: "T0FAKETEAM1".into(),
        channel: "C0FAKECHAN1".into(),
        user_id: if admin { "U0FAKEADM01" } else { "U0FAKEUSR01" }.into(),
        user_name: if admin { "admin" } else { "alice" }.into(),
        roles: vec![],
        is_admin: admin,
    }
}

fn message(user: &str, text: &str, id: &str) -> IncomingMessage {
    store_common::slack_message(user, text, id)
}

async fn kinds(store: &Store) -> Vec<String> {
    store
        .list(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry.kind.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn employees_get_answers_in_their_own_words() {
    let db = store_common::sqlite().await;
    let m = moderator(db.store().await);
    let c = Commands::new(m);
    let me = caller(false);

    let a = c
        .run(&me, "check https://acme.zoom.us/j/81731411461?pwd=x")
        .await;
    assert!(a.contains("not allowed, rule `no-zoom`"), "{a}");
    assert!(
        a.contains("Use instead: https://meet.jit.si/linkguard-"),
        "{a}"
    );
    assert!(a.contains("Need an exception?"), "{a}");

    let a = c.ask(&me, "can I use zoom?");
    assert!(a.starts_with("Zoom: not allowed"), "{a}");
    assert!(a.contains("https://meet.jit.si/linkguard-"), "{a}");
    let a = c.ask(&me, "is google meet ok for the vendor call?");
    assert_eq!(a, "Google Meet: allowed.");
    let a = c.ask(&me, "is <https://meet.google.com/cqg-tona-zhh> ok?");
    assert!(a.contains("(Google Meet): allowed"), "{a}");
    let a = c.run(&me, "allowed").await;
    assert!(
        a.contains("Approved tools: Jitsi Meet") || a.contains("Approved tools:"),
        "{a}"
    );
    assert!(a.contains("Zoom (rule `no-zoom`, replace)"), "{a}");
    assert!(c.run(&me, "help").await.contains("/linkguard check"));
}

#[tokio::test]
async fn only_admins_change_rules_and_refusals_are_audited() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let m = moderator(store.clone());
    let c = Commands::new(m.clone());

    let a = c.run(&caller(false), "rules remove no-zoom").await;
    assert!(a.contains("only linkguard admins can remove rules"), "{a}");
    let a = c.run(&caller(false), "mode monitor").await;
    assert!(a.contains("only linkguard admins"), "{a}");
    let a = c
        .run(
            &caller(false),
            "exempt <@U0FAKEUSR02> for 2h because vendor",
        )
        .await;
    assert!(a.contains("only linkguard admins"), "{a}");
    assert_eq!(kinds(&store).await, vec!["refused", "refused", "refused"]);
    assert!(
        store.policy_history().await.unwrap().is_empty(),
        "nothing changed"
    );
    let refused = store.list(&AuditFilter::default()).await.unwrap();
    assert_eq!(refused[0].entry.author.as_deref(), Some("U0FAKEUSR01"));
}

#[tokio::test]
async fn invalid_edits_change_nothing_and_valid_ones_are_versioned_and_live() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let m = moderator(store.clone());
    let c = Commands::new(m.clone());
    let admin = caller(true);

    // Invalid regex: refused with the loader's reason, nothing stored.
    let a = c
        .run(&admin, "rules add legacy patterns=(unclosed action=warn")
        .await;
    assert!(
        a.contains("refused, nothing changed") && a.contains("invalid regex"),
        "{a}"
    );
    let a = c.run(&admin, "rules set no-zoom action nuke").await;
    assert!(a.contains("unknown action `nuke`"), "{a}");
    let a = c
        .run(&admin, "rules add x providers=zooom action=log")
        .await;
    assert!(a.contains("unknown provider `zooom`"), "{a}");
    assert!(store.policy_history().await.unwrap().is_empty());

    // A valid edit: a new version with its author, audited, live at once.
    let a = c
        .run(&admin, "rules add no-webex providers=webex action=reply alternative=https://meet.jit.si/{prefix}-{room} reason=\"Webex contract ended\"")
        .await;
    assert!(
        a.contains("Done: added rule `no-webex`. The policy is now version 1"),
        "{a}"
    );
    let history = store.policy_history().await.unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].author.contains("U0FAKEADM01"));
    assert!(kinds(&store).await.contains(&"policy_changed".to_owned()));
    let a = c
        .run(
            &caller(false),
            "check https://globex.webex.com/meet/r.okafor",
        )
        .await;
    assert!(
        a.contains("rule `no-webex`") && a.contains("Webex contract ended"),
        "{a}"
    );

    let a = c
        .run(&admin, "rules set no-zoom reason Zoom is retired here")
        .await;
    assert!(a.contains("version 2"), "{a}");
    assert_eq!(
        m.policy().policy.rule("no-zoom").unwrap().reason,
        "Zoom is retired here"
    );
    let a = c.run(&admin, "rules show no-zoom").await;
    assert!(a.contains("reason: Zoom is retired here"), "{a}");
    let a = c.run(&admin, "rules history").await;
    assert!(a.contains("v2 (active)") && a.contains("v1"), "{a}");

    // Rollback reactivates v1's text as a new version.
    let a = c.run(&admin, "rules rollback 1").await;
    assert!(
        a.contains("rolled back to version 1") && a.contains("version 3"),
        "{a}"
    );
    assert_eq!(m.policy().version, Some(3));
    assert!(m
        .policy()
        .policy
        .rule("no-zoom")
        .unwrap()
        .reason
        .starts_with("Zoom is not approved"));
    assert!(store.verify().await.unwrap().is_ok());
}

#[tokio::test]
async fn monitor_mode_records_without_acting() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let m = moderator(store.clone());
    let c = Commands::new(m.clone());
    let a = c.run(&caller(true), "mode monitor").await;
    assert!(a.contains("the policy is now in monitor mode"), "{a}");
    let step = m
        .record(&message(
            "U0FAKEUSR01",
            "https://zoom.us/j/123456789",
            "1.1",
        ))
        .await
        .unwrap();
    assert!(matches!(step, Step::Done(Handled::Monitored)), "{step:?}");
    let rows = store.list(&AuditFilter::default()).await.unwrap();
    let detected = rows
        .iter()
        .find(|r| r.entry.kind == Kind::Detected)
        .unwrap();
    assert_eq!(
        detected.entry.outcome.as_ref().unwrap().as_str(),
        "would_act"
    );
    assert!(store.pending().await.unwrap().is_empty());

    // Per-rule monitor mode, back to enforce globally.
    c.run(&caller(true), "mode enforce").await;
    let a = c.run(&caller(true), "mode monitor no-zoom").await;
    assert!(a.contains("rule `no-zoom` is now in monitor mode"), "{a}");
    let step = m
        .record(&message(
            "U0FAKEUSR01",
            "https://zoom.us/j/123456789",
            "1.2",
        ))
        .await
        .unwrap();
    assert!(matches!(step, Step::Done(Handled::Monitored)), "{step:?}");
}

/// A caller on `platform` (`None`: the CLI), admin or not.
fn caller_on(platform: Option<Platform>, admin: bool) -> Caller {
    let mut c = caller(admin);
    c.platform = platform;
    if platform == Some(Platform::Discord) {
        c.workspace = "1058897594941571072".into();
        c.channel = "1058897594941571075".into();
        c.user_id = if admin {
            "661720242585731077"
        } else {
            "661720242585731078"
        }
        .into();
    }
    c
}

/// What the answer to `word` alone starts with (or contains), which the
/// answer to a plain question never does.
fn word_answer(word: Word) -> &'static str {
    match word {
        Word::Check => "Give me a link or a message to check",
        Word::Allowed => "Approved tools",
        Word::Help => "For admins:",
        Word::Rules => "Policy linkguard default policy (version built-in)",
        Word::Mode => "The policy is in enforce mode",
        Word::Bots => "Other bots' and integrations' messages are",
        Word::Exempt => "No exceptions are in force.",
        other => panic!("add the answer of {other:?}"),
    }
}

#[tokio::test]
async fn every_command_word_is_a_command_on_every_platform() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let m = moderator(store.clone());
    let c = Commands::new(m.clone());
    let question = c.run(&caller(false), "what now?").await;
    for platform in [Some(Platform::Slack), Some(Platform::Discord), None] {
        let who = caller_on(platform, false);
        for word in Word::ALL {
            for spelling in std::iter::once(word.name()).chain(word.aliases().iter().copied()) {
                assert_eq!(route(spelling), Some(word));
                let a = c.run(&who, spelling).await;
                assert!(
                    a.contains(word_answer(word)),
                    "{platform:?} `{spelling}` answered as: {a}"
                );
                assert_ne!(
                    a, question,
                    "{platform:?} `{spelling}` taken for a question"
                );
            }
        }
    }
    // The words that drifted: `bots on` is a command everywhere, refused for
    // people, obeyed for admins, never answered as a question.
    for platform in [Some(Platform::Slack), Some(Platform::Discord)] {
        let a = c.run(&caller_on(platform, false), "bots on").await;
        assert!(a.contains("only linkguard admins"), "{platform:?}: {a}");
    }
    for (platform, on) in [
        (Some(Platform::Slack), "on"),
        (Some(Platform::Discord), "off"),
        (None, "on"),
    ] {
        let a = c
            .run(&caller_on(platform, true), &format!("bots {on}"))
            .await;
        assert!(a.starts_with("Done:"), "{platform:?}: {a}");
        assert_eq!(m.policy().policy.moderate_bots(), Some(on == "on"));
    }
    assert_eq!(store.policy_history().await.unwrap().len(), 3);
}

#[tokio::test]
async fn admins_turn_moderation_of_other_bots_on_and_off() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let m = moderator(store.clone());
    let c = Commands::new(m.clone());
    let a = c.run(&caller(false), "bots").await;
    assert!(a.contains("left alone unless"), "{a}");
    let a = c.run(&caller(false), "bots on").await;
    assert!(a.contains("only linkguard admins"), "{a}");
    assert_eq!(m.policy().policy.moderate_bots(), None);
    assert!(kinds(&store).await.contains(&"refused".to_owned()));

    let a = c.run(&caller(true), "bots on").await;
    assert!(a.contains("now moderated"), "{a}");
    assert_eq!(
        m.policy().policy.moderate_bots(),
        Some(true),
        "live at once"
    );
    let a = c.run(&caller(false), "bots").await;
    assert!(a.contains("are moderated (policy)"), "{a}");
    let a = c.run(&caller(true), "bots off").await;
    assert!(a.contains("now left alone"), "{a}");
    assert_eq!(m.policy().policy.moderate_bots(), Some(false));
    // Each change is a policy version, audited and in the history.
    let versions = store.policy_history().await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(
        kinds(&store)
            .await
            .iter()
            .filter(|k| *k == "policy_changed")
            .count(),
        2
    );
}

#[tokio::test]
async fn exceptions_are_granted_listed_used_and_revoked() {
    let db = store_common::sqlite().await;
    let store = db.store().await;
    let m = moderator(store.clone());
    let c = Commands::new(m.clone());
    let a = c
        .run(
            &caller(true),
            "exempt <@U0FAKEUSR02|bob> for 2h because vendor demo on their Zoom",
        )
        .await;
    assert!(
        a.starts_with("Exception #1 granted: user U0FAKEUSR02") && a.contains("2 hour(s)"),
        "{a}"
    );
    let a = c.run(&caller(false), "exempt list").await;
    assert!(
        a.contains("#1 user U0FAKEUSR02") && a.contains("vendor demo"),
        "{a}"
    );

    let step = m
        .record(&message(
            "U0FAKEUSR02",
            "https://zoom.us/j/123456789",
            "2.1",
        ))
        .await
        .unwrap();
    assert!(matches!(step, Step::Done(Handled::Excepted)), "{step:?}");
    // Someone else is still moderated.
    let step = m
        .record(&message(
            "U0FAKEUSR01",
            "https://zoom.us/j/123456789",
            "2.2",
        ))
        .await
        .unwrap();
    assert!(matches!(step, Step::Act(_)), "{step:?}");

    let a = c.run(&caller(true), "exempt revoke 1").await;
    assert_eq!(a, "Exception #1 revoked.");
    let step = m
        .record(&message(
            "U0FAKEUSR02",
            "https://zoom.us/j/123456789",
            "2.3",
        ))
        .await
        .unwrap();
    assert!(matches!(step, Step::Act(_)), "{step:?}");
    let a = c
        .run(
            &caller(true),
            "exempt <#C0FAKECHAN1|general> for soon because x",
        )
        .await;
    assert!(a.contains("could not read the duration"), "{a}");
    let k = kinds(&store).await;
    assert_eq!(k.iter().filter(|k| *k == "exception").count(), 3, "{k:?}");
}

#[tokio::test]
async fn a_rule_change_reaches_another_replica_through_postgres() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    let a_store = db.store().await;
    let b_store = db.store().await;
    let a = moderator(a_store);
    let b = moderator(b_store);
    let mut versions = b.policy_versions();
    // Replica B's store is listening before A changes anything, so what B
    // receives is A's NOTIFY, not a catch-up read.
    let mut announced = b.store().policy_changes().await.unwrap();
    let watcher = tokio::spawn(b.clone().watch_policy());
    let c = Commands::new(a.clone());
    let reply = c
        .run(
            &caller(true),
            "rules set no-zoom reason changed on replica A",
        )
        .await;
    assert!(reply.contains("version 1"), "{reply}");
    let v = tokio::time::timeout(Duration::from_secs(5), announced.recv())
        .await
        .expect("replica B hears the NOTIFY")
        .unwrap();
    assert_eq!(v, 1);
    // "Live on every replica within a second": allow a loaded CI machine 5 s.
    tokio::time::timeout(Duration::from_secs(5), versions.wait_for(|v| *v == Some(1)))
        .await
        .expect("replica B reloads the new version")
        .unwrap();
    assert_eq!(
        b.policy().policy.rule("no-zoom").unwrap().reason,
        "changed on replica A"
    );
    watcher.abort();
}
