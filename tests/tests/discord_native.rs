//! Discord, natively (issue #22), through the real serenity client against
//! the fake Discord: AutoMod sync blocks plain banned links before they are
//! posted (audited as `blocked_natively`) while wrapped ones still reach
//! linkguard and are replaced; a policy change updates the rules; an
//! admin's deletion of an owned rule is restored and audited; other rules
//! are never touched; without Manage Server a warning and normal
//! moderation; and the "Check links" message command.

use linkguard::config::DiscordNative;
use linkguard::store::{AuditRecord, Kind, Outcome};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{
    cast, perms, FakeDiscordConfig, FakeDiscordError, RouteKind, Times,
};
use serde_json::{json, Value};

const BOT_ROLE_PERMS: u64 =
    perms::VIEW_CHANNEL | perms::SEND_MESSAGES | perms::MANAGE_MESSAGES | perms::MANAGE_WEBHOOKS;

fn automod_setup(manage_server: bool) -> Setup {
    let mut perms = BOT_ROLE_PERMS;
    if manage_server {
        perms |= perms::MANAGE_GUILD;
    }
    Setup {
        fake: FakeDiscordConfig::default().bot_role_permissions(perms),
        native: DiscordNative {
            automod: true,
            ..DiscordNative::default()
        },
        ..Setup::default()
    }
}

fn named<'a>(rules: &'a [Value], name: &str) -> Option<&'a Value> {
    rules.iter().find(|r| r["name"] == name)
}

async fn wait_rule(t: &TestApp, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let name = name.to_owned();
    let guild = cast::GUILD.to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rules = t.fake.automod_rules(cast::GUILD);
        if let Some(r) = named(&rules, &name).filter(|r| pred(r)) {
            assert_eq!(r["guild_id"], guild);
            return r.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no AutoMod rule {name} as expected: {rules:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn wait_audit_kind(t: &TestApp, pred: impl Fn(&AuditRecord) -> bool) -> AuditRecord {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(r) = t.audit().await.into_iter().find(|r| pred(r)) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "audit never matched: {:#?}",
            t.audit().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn slash(t: &TestApp, user: u64, name: &str, text: &str) -> String {
    let cb = t
        .fake
        .interaction(cast::GENERAL, user, "linkguard", sub(name, Some(text)))
        .await
        .unwrap();
    answer(&cb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automod_blocks_what_it_can_and_linkguard_replaces_the_rest() {
    let fake_cfg = automod_setup(true);
    let t = spawn_app(fake_cfg).await;
    // An admin's own rule, made in the Discord client: never touched.
    let theirs = t
        .fake
        .admin_create_automod_rule(
            cast::GUILD,
            cast::ADMIN,
            json!({
                "name": "Block invites",
                "event_type": 1,
                "trigger_type": 1,
                "trigger_metadata": { "keyword_filter": ["*discord.gg/*"] },
                "actions": [{ "type": 1 }],
                "enabled": true,
            }),
        )
        .expect("the admin's rule");

    // At start: an enabled, owned rule that blocks Zoom, with the alternative named.
    let rule = wait_rule(&t, "linkguard: no-zoom", |r| r["enabled"] == true).await;
    assert_eq!(rule["creator_id"], cast::BOT.to_string());
    assert_eq!(rule["trigger_type"], 1);
    let message = rule["actions"][0]["metadata"]["custom_message"]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with("Zoom is not approved here") && message.contains("/linkguard check"),
        "{message}"
    );

    // A plain Zoom link never becomes a message, and the block is audited.
    let blocked = t.fake.post_user_message(
        cast::GENERAL,
        cast::ALICE,
        "standup: https://zoom.us/j/123456789",
    );
    assert!(
        matches!(blocked, Err(FakeDiscordError::BlockedByAutoMod(_))),
        "{blocked:?}"
    );
    let native = wait_audit_kind(&t, |r| r.entry.kind == Kind::BlockedNatively).await;
    assert_eq!(native.entry.rule_id.as_deref(), Some("no-zoom"));
    assert_eq!(native.entry.provider.as_deref(), Some("zoom"));
    assert_eq!(
        native.entry.author.as_deref(),
        Some(cast::ALICE.to_string().as_str())
    );
    assert_eq!(
        native.entry.channel.as_deref(),
        Some(cast::GENERAL.to_string().as_str())
    );
    assert_eq!(native.entry.outcome, Some(Outcome::Ok));

    // The admin's own rule blocks three invites: linkguard asks Discord
    // whose rule that is once, not once per block.
    let rule_id = theirs["id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let r =
            t.fake
                .post_user_message(cast::GENERAL, cast::BOB, &format!("join discord.gg/x{i}"));
        assert!(
            matches!(r, Err(FakeDiscordError::BlockedByAutoMod(_))),
            "{r:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let asked = t
        .fake
        .calls()
        .iter()
        .filter(|c| {
            c.method == "GET"
                && c.path
                    .ends_with(&format!("/auto-moderation/rules/{rule_id}"))
        })
        .count();
    assert!(asked <= 1, "asked {asked} times about the admin's rule");

    // A wrapped one passes AutoMod, reaches linkguard, and is replaced.
    let wrapped = "notes: https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F987654321&data=x";
    let id = t.post(cast::GENERAL, cast::ALICE, wrapped);
    t.wait_replaced(cast::GENERAL, id, "meet.jit.si").await;
    // So does an obfuscated one.
    let id = t.post(cast::GENERAL, cast::BOB, "call: zoom[.]us/j/555666777");
    t.wait_replaced(cast::GENERAL, id, "meet.jit.si").await;

    // A policy change (an admin adds a rule) updates the AutoMod rules.
    let a = slash(
        &t,
        cast::ADMIN,
        "rules",
        "add no-webex providers=webex action=delete reason=\"Webex is being retired.\"",
    )
    .await;
    assert!(a.contains("no-webex"), "{a}");
    let webex = wait_rule(&t, "linkguard: no-webex", |r| r["enabled"] == true).await;
    assert!(webex["actions"][0]["metadata"]["custom_message"]
        .as_str()
        .unwrap()
        .contains("Webex is being retired."));
    wait_audit_kind(&t, |r| {
        r.entry.kind == Kind::Automod
            && r.entry
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("created linkguard: no-webex"))
    })
    .await;

    // An admin deletes the owned rule: it is restored and the drift audited.
    let old_id: u64 = rule["id"].as_str().unwrap().parse().unwrap();
    t.fake
        .admin_delete_automod_rule(cast::GUILD, old_id)
        .expect("admin deletes");
    let restored = wait_rule(&t, "linkguard: no-zoom", |r| r["id"] != rule["id"]).await;
    assert_eq!(restored["enabled"], true);
    let drift = wait_audit_kind(&t, |r| {
        r.entry.kind == Kind::Automod && r.entry.action.map(|a| a.as_str()) == Some("restore")
    })
    .await;
    assert!(
        drift.entry.detail.as_deref().unwrap().contains("deleted"),
        "{drift:?}"
    );
    // An edit (disabling it) is put back too.
    let restored_id: u64 = restored["id"].as_str().unwrap().parse().unwrap();
    t.fake
        .admin_edit_automod_rule(cast::GUILD, restored_id, json!({ "enabled": false }))
        .expect("admin edits");
    wait_rule(&t, "linkguard: no-zoom", |r| {
        r["id"] == restored["id"] && r["enabled"] == true
    })
    .await;

    // A user exception takes the rules off AutoMod (AutoMod cannot exempt
    // a user), so the exempt user is never blocked natively.
    let a = slash(
        &t,
        cast::ADMIN,
        "exempt",
        &format!("<@{}> for 1h because customer call", cast::ALICE),
    )
    .await;
    assert!(a.contains("Exception #"), "{a}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while t.fake.automod_rules(cast::GUILD).iter().any(|r| {
        r["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("linkguard: "))
    }) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "linkguard's rules stay while a user exception is in force"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let id = t.post(cast::GENERAL, cast::ALICE, "https://zoom.us/j/123456789");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !t.audit_of(id).await.iter().any(|r| {
        r.entry
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("exception"))
    }) {
        assert!(tokio::time::Instant::now() < deadline, "not excepted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The admin's own rule is exactly as it was.
    let rules = t.fake.automod_rules(cast::GUILD);
    assert_eq!(named(&rules, "Block invites"), Some(&theirs));
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_manage_server_a_warning_and_normal_moderation() {
    let t = spawn_app(automod_setup(false)).await;
    let refused = wait_audit_kind(&t, |r| {
        r.entry.kind == Kind::Refused && r.entry.action.map(|a| a.as_str()) == Some("automod")
    })
    .await;
    assert!(refused
        .entry
        .detail
        .as_deref()
        .unwrap()
        .contains("Manage Server"));
    // Moderation goes on as before.
    let id = t.post(cast::GENERAL, cast::ALICE, "https://zoom.us/j/123456789");
    t.wait_replaced(cast::GENERAL, id, "meet.jit.si").await;
    assert!(t.fake.automod_rules(cast::GUILD).is_empty());
    // Once the permission is granted (GUILD_ROLE_UPDATE), the rule appears.
    t.fake
        .set_bot_role_permissions(BOT_ROLE_PERMS | perms::MANAGE_GUILD);
    wait_rule(&t, "linkguard: no-zoom", |r| r["enabled"] == true).await;
    // The warning was given once.
    let warnings = t
        .audit()
        .await
        .into_iter()
        .filter(|r| {
            r.entry.kind == Kind::Refused && r.entry.action.map(|a| a.as_str()) == Some("automod")
        })
        .count();
    assert_eq!(warnings, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_links_answers_privately_what_check_would_say() {
    let monitor =
        linkguard_rules::policy::DEFAULT_POLICY.replace("mode = \"enforce\"", "mode = \"monitor\"");
    let t = spawn_app(Setup {
        policy: Some(monitor),
        ..Setup::default()
    })
    .await;
    t.fake
        .wait_until(
            |s| {
                s.guild_commands(cast::GUILD)
                    .iter()
                    .any(|c| c["name"] == "Check links" && c["type"] == 3)
            },
            WAIT,
        )
        .await
        .expect("the message command is registered with /linkguard");
    let banned = t.post(
        cast::GENERAL,
        cast::BOB,
        "daily: https://zoom.us/j/123456789",
    );
    let cb = t
        .fake
        .message_command(cast::GENERAL, cast::ALICE, "Check links", banned)
        .await
        .unwrap();
    let a = answer(&cb);
    assert!(
        a.contains("not allowed, rule `no-zoom`") && a.contains("https://meet.jit.si/linkguard-"),
        "{a}"
    );
    let fine = t.post(cast::GENERAL, cast::BOB, "https://meet.jit.si/standup");
    let a = answer(
        &t.fake
            .message_command(cast::GENERAL, cast::ALICE, "Check links", fine)
            .await
            .unwrap(),
    );
    assert!(!a.contains("not allowed"), "{a}");
    // An integration's message whose text is only in display components
    // (left alone here: other bots are not moderated) is checked too.
    let carried = components_message(
        &t,
        "bridge: https://zoom.us/j/5550000008",
        "https://example.com",
    )
    .await;
    let a = answer(
        &t.fake
            .message_command(cast::GENERAL, cast::ALICE, "Check links", carried)
            .await
            .unwrap(),
    );
    assert!(a.contains("not allowed, rule `no-zoom`"), "{a}");
    let plain = t.post(cast::GENERAL, cast::BOB, "no links here");
    let a = answer(
        &t.fake
            .message_command(cast::GENERAL, cast::ALICE, "Check links", plain)
            .await
            .unwrap(),
    );
    assert!(!a.contains("not allowed"), "{a}");
    t.stop().await;
}

/// The `custom_id`s of a stored message's buttons.
fn buttons(m: &linkguard_fakes::discord::StoredMessage) -> Vec<String> {
    m.components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .collect()
}

async fn wait_message(
    t: &TestApp,
    channel: u64,
    pred: impl Fn(&linkguard_fakes::discord::StoredMessage) -> bool,
) -> linkguard_fakes::discord::StoredMessage {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(m) = t.fake.messages(channel).into_iter().find(|m| pred(m)) {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such message in {channel}: {:#?}",
            t.fake.messages(channel)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The kinds of the audit records so far, in order.
async fn audit_kinds(t: &TestApp) -> Vec<String> {
    t.audit()
        .await
        .iter()
        .map(|r| r.entry.kind.as_str().to_owned())
        .collect()
}

/// linkguard with exception requests going to #random.
async fn with_admin_channel(policy: Option<String>) -> TestApp {
    spawn_app(Setup {
        policy,
        native: DiscordNative {
            admin_channel_id: Some(cast::RANDOM),
            ..DiscordNative::default()
        },
        ..Setup::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_request_from_button_to_approval() {
    let policy = linkguard_rules::policy::DEFAULT_POLICY
        .replace("action = \"replace\"", "action = \"delete\"");
    let t = with_admin_channel(Some(policy)).await;
    // alice's Zoom link is removed; the DM telling her has the button.
    let id = t.post(cast::GENERAL, cast::ALICE, "https://zoom.us/j/123456789");
    t.wait_action(id).await;
    let dm = t.fake.dm_channel(cast::ALICE).unwrap();
    let notice = wait_message(&t, dm, |m| !buttons(m).is_empty()).await;
    let open = buttons(&notice).remove(0);
    assert_eq!(open, format!("lg:rq:open:{}", cast::GUILD));

    // The button opens a form.
    let cb = t.fake.click(notice.id, cast::ALICE, &open).await.unwrap();
    assert_eq!(cb.kind, 9, "a modal: {cb:?}");
    let form = cb.data["custom_id"].as_str().unwrap().to_owned();
    assert_eq!(cb.data["title"], "Request an exception");

    // A duration that is not offered is refused, naming the choices.
    let a = answer(
        &t.fake
            .submit_modal(
                dm,
                cast::ALICE,
                &form,
                &[("reason", "customer call"), ("duration", "2 weeks")],
            )
            .await
            .unwrap(),
    );
    assert!(
        a.contains("not a duration you can ask for") && a.contains("1h, 1d, 7d, 30d"),
        "{a}"
    );
    // An empty reason too.
    let a = answer(
        &t.fake
            .submit_modal(
                dm,
                cast::ALICE,
                &form,
                &[("reason", "  "), ("duration", "1d")],
            )
            .await
            .unwrap(),
    );
    assert!(a.contains("please give a reason"), "{a}");
    let a = answer(
        &t.fake
            .submit_modal(
                dm,
                cast::ALICE,
                &form,
                &[
                    ("reason", "The customer only has Zoom <@everyone>"),
                    ("duration", "1d"),
                ],
            )
            .await
            .unwrap(),
    );
    assert!(a.contains("sent to the admins"), "{a}");

    // The admins see it with Approve / Deny, pinging nobody.
    let posted = wait_message(&t, cast::RANDOM, |m| buttons(m).len() == 2).await;
    assert!(
        posted.content.contains("The customer only has Zoom"),
        "{}",
        posted.content
    );
    let am = posted.allowed_mentions.clone().unwrap_or_default();
    assert!(am["parse"].as_array().is_none_or(|p| p.is_empty()), "{am}");
    let approve = buttons(&posted)
        .into_iter()
        .find(|b| b.starts_with("lg:rq:approve:"))
        .unwrap();

    // bob is no admin: his click does not count.
    let a = answer(&t.fake.click(posted.id, cast::BOB, &approve).await.unwrap());
    assert!(a.contains("only linkguard admins"), "{a}");
    // carol (Manage Server) approves: the message shows it, buttons gone.
    let cb = t
        .fake
        .click(posted.id, cast::ADMIN, &approve)
        .await
        .unwrap();
    assert_eq!(cb.kind, 7, "{cb:?}");
    let updated = t.fake.message(posted.id).unwrap();
    assert!(updated.content.contains("approved"), "{}", updated.content);
    assert!(buttons(&updated).is_empty());
    // A second click is told it was decided already.
    let a = answer(
        &t.fake
            .click(posted.id, cast::ADMIN, &approve)
            .await
            .unwrap(),
    );
    assert!(a.contains("already approved"), "{a}");

    // alice is told, and her links are left alone now.
    wait_message(&t, dm, |m| m.content.contains("was approved")).await;
    let id = t.post(cast::GENERAL, cast::ALICE, "https://zoom.us/j/123456789");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = t.audit_of(id).await;
        if rows.iter().any(|r| {
            r.entry
                .outcome
                .as_ref()
                .is_some_and(|o| o.as_str() == "excepted")
                || r.entry
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.contains("allowed by exception"))
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not excepted: {rows:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!t.fake.message(id).unwrap().deleted);
    let kinds = audit_kinds(&t).await;
    assert!(
        kinds.iter().any(|k| k == "exception_requested"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "exception_approved"), "{kinds:?}");
    t.assert_audit_sound().await;
    t.stop().await;
}

/// Clicks and forms linkguard never made (forged, or from an older version)
/// are answered privately, saying nothing was done, and change nothing: a
/// server id of zero, a request number that is none, a button or form of
/// another name, an Approve outside the company's servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_buttons_and_forms_get_an_answer_and_change_nothing() {
    let t = with_admin_channel(None).await;
    let id = t.post(cast::GENERAL, cast::ALICE, "hello");
    for (custom_id, says) in [
        ("lg:rq:open:0", "only from members of its company's servers"),
        ("lg:rq:open:99999999999999999999", "only from members"),
        ("lg:rq:approve:seven", "names no exception request"),
        ("lg:rq:deny:", "names no exception request"),
        ("lg:rq:approve:1", "no exception request #1"),
        ("somebody-else:1", "does not know that button"),
        ("", "does not know that button"),
    ] {
        let cb = t.fake.click(id, cast::ADMIN, custom_id).await;
        let a = answer(&cb.unwrap_or_else(|e| panic!("no answer to {custom_id:?}: {e:?}")));
        assert!(
            a.to_lowercase().contains(says),
            "{custom_id:?} answered {a:?}"
        );
    }
    for form in ["lg:rq:form:0", "lg:rq:other:1"] {
        let cb = t
            .fake
            .submit_modal(
                cast::GENERAL,
                cast::ALICE,
                form,
                &[("reason", "x"), ("duration", "1d")],
            )
            .await
            .unwrap_or_else(|e| panic!("no answer to form {form}: {e:?}"));
        let a = answer(&cb);
        assert!(
            a.contains("only from members") || a.contains("does not know that form"),
            "{form}: {a}"
        );
    }
    let kinds = audit_kinds(&t).await;
    assert!(
        !kinds.iter().any(|k| k.starts_with("exception_")),
        "{kinds:?}"
    );
    t.stop().await;
}

/// alice sends the request form from #general: a day, for a customer call.
async fn alice_requests_a_day(
    t: &TestApp,
) -> Result<linkguard_fakes::discord::InteractionCallback, FakeDiscordError> {
    t.fake
        .submit_modal(
            cast::GENERAL,
            cast::ALICE,
            &format!("lg:rq:form:{}", cast::GUILD),
            &[("reason", "customer call"), ("duration", "1d")],
        )
        .await
}

/// A request whose admin message someone deleted, decided while the
/// requester's DMs are closed: the decision is posted to the admins again
/// (the old message is gone) and the delivery ends, instead of being
/// retried every 30 seconds for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_admin_message_and_closed_dms_end_the_delivery() {
    let t = with_admin_channel(None).await;
    let a = answer(&alice_requests_a_day(&t).await.unwrap());
    assert!(a.contains("sent to the admins"), "{a}");
    let posted = wait_message(&t, cast::RANDOM, |m| buttons(m).len() == 2).await;
    let id: i64 = buttons(&posted)[0]
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    t.fake.delete_user_message(cast::RANDOM, posted.id).unwrap();
    t.fake
        .fail_route(RouteKind::CreateDm, 403, 50007, Times::Always);
    let a = slash(&t, cast::ADMIN, "exempt", &format!("approve {id}")).await;
    assert!(a.contains("approved"), "{a}");
    let again = wait_message(&t, cast::RANDOM, |m| {
        m.id != posted.id && !m.deleted && m.content.contains("approved")
    })
    .await;
    assert!(buttons(&again).is_empty());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = t.store.request_get(id).await.unwrap().unwrap();
        if r.delivered_state == r.state.as_str() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {r:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    t.stop().await;
}

/// An answer that takes longer than Discord waits for (here the form's
/// member lookup waits out a 2.5 s rate limit) is deferred in time, then
/// filled in: the person sees "thinking…" and then the answer, not "This
/// interaction failed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_deferred_then_filled_in() {
    let t = with_admin_channel(None).await;
    t.fake.rate_limit(RouteKind::GetMember, 1, 2.5);
    let cb = alice_requests_a_day(&t).await.expect("answered in time");
    assert_eq!(cb.kind, 5, "deferred: {cb:?}");
    assert_eq!(cb.data["flags"].as_u64().unwrap_or(0) & 64, 64, "{cb:?}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let filled = t.fake.interaction_responses().iter().any(|i| {
            i.original_edits.iter().any(|e| {
                e["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("sent to the admins"))
            })
        });
        if filled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:#?}",
            t.fake.interaction_responses()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    wait_message(&t, cast::RANDOM, |m| buttons(m).len() == 2).await;
    t.stop().await;
}
