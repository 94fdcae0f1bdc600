//! People talk to linkguard on Discord: `/linkguard` is registered in the
//! allowed server and answered ephemerally; admins (Manage Server / Administrator) change
//! rules, others are refused and audited; DMs and mentions are questions.
//! Through the real serenity client against the fake Discord.

use linkguard::store::{AuditFilter, Kind};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::cast;

/// Runs `/linkguard NAME [TEXT]` in #general as `user`; the ephemeral answer.
async fn slash(t: &TestApp, user: u64, name: &str, text: Option<&str>) -> String {
    let cb = t
        .fake
        .interaction(cast::GENERAL, user, "linkguard", sub(name, text))
        .await
        .unwrap();
    answer(&cb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_for_employees_and_admins() {
    let t = spawn_app(Setup::default()).await;
    t.fake
        .wait_until(|s| !s.guild_commands(cast::GUILD).is_empty(), WAIT)
        .await
        .expect("/linkguard registered in the server");
    let registered = t
        .fake
        .with_state(|s| s.guild_commands(cast::GUILD).to_vec());
    assert_eq!(registered[0]["name"], "linkguard");

    let a = slash(
        &t,
        cast::ALICE,
        "check",
        Some("https://zoom.us/j/123456789"),
    )
    .await;
    assert!(
        a.contains("not allowed, rule `no-zoom`") && a.contains("https://meet.jit.si/linkguard-"),
        "{a}"
    );

    let a = slash(&t, cast::ALICE, "allowed", None).await;
    assert!(a.contains("Zoom (rule `no-zoom`, replace)"));

    // alice is not an admin: refused politely, and audited.
    let a = slash(&t, cast::ALICE, "rules", Some("remove no-zoom")).await;
    assert!(a.contains("only linkguard admins"));

    // carol manages the server: an invalid edit is refused with the reason…
    let a = slash(
        &t,
        cast::ADMIN,
        "rules",
        Some("add legacy patterns=(bad action=warn"),
    )
    .await;
    assert!(a.contains("invalid regex"));
    // …and a valid one is live at once.
    let a = slash(&t, cast::ADMIN, "mode", Some("monitor no-zoom")).await;
    assert!(a.contains("rule `no-zoom` is now in monitor mode"), "{a}");
    let id = t.post(cast::GENERAL, cast::ALICE, "https://zoom.us/j/900000001");
    let rows = loop {
        let rows = t.store.list(&AuditFilter::default()).await.unwrap();
        if rows
            .iter()
            .any(|r| r.entry.message_id.as_deref() == Some(id.to_string().as_str()))
        {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let detected = rows
        .iter()
        .find(|r| r.entry.message_id.as_deref() == Some(id.to_string().as_str()))
        .unwrap();
    assert_eq!(
        detected.entry.outcome.as_ref().unwrap().as_str(),
        "would_act"
    );
    assert!(
        !t.fake.message(id).unwrap().deleted,
        "monitor mode touches nothing"
    );
    assert!(rows.iter().any(|r| r.entry.kind == Kind::Refused));
    assert!(rows.iter().any(|r| r.entry.kind == Kind::PolicyChanged));

    // Whether other bots are moderated is a subcommand too.
    let a = slash(&t, cast::ADMIN, "bots", Some("on")).await;
    assert!(a.contains("now moderated"), "{a}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_is_answered_by_dm_and_still_moderated() {
    let t = spawn_app(Setup::default()).await;
    let id = t.post(
        cast::GENERAL,
        cast::ALICE,
        &format!(
            "<@{}> can I use zoom? https://zoom.us/j/900000002",
            cast::BOT
        ),
    );
    let dm = t.fake.dm_channel(cast::ALICE).unwrap();
    t.fake
        .wait_until(
            |s| {
                s.messages(dm)
                    .iter()
                    .any(|m| m.author_id == cast::BOT && m.content.contains("not allowed"))
            },
            WAIT,
        )
        .await
        .expect("the question is answered by DM");
    // Mentioning the bot is no way around the policy.
    t.wait_action(id).await;
    assert!(t.fake.message(id).unwrap().deleted);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_word_in_a_dm_is_a_command_and_never_makes_an_admin() {
    let t = spawn_app(Setup::default()).await;
    // Even an admin: a DM carries no permissions Discord vouches for.
    for user in [cast::ALICE, cast::ADMIN] {
        t.fake.post_dm(user, "bots on").expect("dm");
        let dm = t.fake.dm_channel(user).expect("dm channel");
        t.fake
            .wait_until(
                |s| {
                    s.messages(dm).iter().any(|m| {
                        m.author_id == cast::BOT
                            && m.content.contains("only linkguard admins")
                            && m.content.contains("/linkguard slash command")
                    })
                },
                WAIT,
            )
            .await
            .expect("`bots on` in a DM is refused as a command, not answered as a question");
    }
    let refused = t
        .store
        .list(&AuditFilter {
            kind: Some(Kind::Refused.as_str().to_owned()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    let a = slash(&t, cast::ALICE, "bots", None).await;
    assert!(a.contains("left alone"), "nothing changed: {a}");
    t.stop().await;
}

/// `/linkguard check` in a thread answers as moderation decides there: by
/// the thread's parent channel (here exempt from the Zoom rule).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_in_a_thread_counts_its_parent_channel() {
    let policy = linkguard_rules::policy::DEFAULT_POLICY.replacen(
        "action = \"replace\"",
        &format!(
            "action = \"replace\"\nexempt_channels = [\"{}\"]",
            cast::GENERAL
        ),
        1,
    );
    let t = spawn_app(Setup {
        policy: Some(policy),
        ..Setup::default()
    })
    .await;
    let cb = t
        .fake
        .interaction(
            cast::THREAD,
            cast::ALICE,
            "linkguard",
            sub("check", Some("https://zoom.us/j/123456789")),
        )
        .await
        .unwrap();
    let a = answer(&cb);
    assert!(!a.contains("not allowed"), "{a}");
    // Moderation agrees: a Zoom link in the thread is left alone.
    let id = t.post(cast::THREAD, cast::ALICE, "https://zoom.us/j/123456789");
    let marker = t.post(cast::RANDOM, cast::ALICE, "https://zoom.us/j/987654321");
    t.wait_replaced(cast::RANDOM, marker, "meet.jit.si").await;
    assert!(!t.fake.message(id).unwrap().deleted);
    t.stop().await;
}
