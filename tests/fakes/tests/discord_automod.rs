//! AutoMod rules through serenity's `Http`: the routes, Discord's limits
//! (keyword and regex counts and lengths, invalid regexes, custom message
//! length, six keyword rules per server), 403 without Manage Server, 404
//! 10066 for an unknown rule, and a message a rule matches being blocked
//! (no message created) rather than posted.

mod discord_support;

use discord_support::*;
use linkguard_fakes::discord::{cast, perms, FakeDiscordConfig, FakeDiscordError};
use serde_json::{json, Value};
use serenity::all::{GuildId, RuleId};

fn managing() -> FakeDiscordConfig {
    FakeDiscordConfig::default()
        .bot_role_permissions(perms::VIEW_CHANNEL | perms::SEND_MESSAGES | perms::MANAGE_GUILD)
}

fn keyword_rule(name: &str, meta: Value) -> Value {
    json!({
        "name": name,
        "event_type": 1,
        "trigger_type": 1,
        "trigger_metadata": meta,
        "actions": [{ "type": 1, "metadata": { "custom_message": "Not here." } }],
        "enabled": true,
    })
}

#[tokio::test]
async fn rules_round_trip_within_discords_limits() {
    let fake = start_fake(managing()).await;
    let http = http_for(&fake, Transport::Proxy);
    let g = GuildId::new(cast::GUILD);
    let rule = http
        .create_automod_rule(
            g,
            &keyword_rule(
                "zoom",
                json!({ "regex_patterns": [r"zoom\.us/j/\d{9,12}"] }),
            ),
            Some("test"),
        )
        .await
        .expect("create");
    assert_eq!(rule.creator_id.get(), cast::BOT);
    assert!(rule.enabled);
    let listed = http.get_automod_rules(g).await.expect("list");
    assert_eq!(listed, vec![rule.clone()]);
    let edited = http
        .edit_automod_rule(g, rule.id, &json!({ "enabled": false }), None)
        .await
        .expect("edit");
    assert!(!edited.enabled);
    assert_eq!(http.get_automod_rule(g, rule.id).await.unwrap(), edited);
    http.delete_automod_rule(g, rule.id, None)
        .await
        .expect("delete");
    let gone = http.get_automod_rule(g, rule.id).await.unwrap_err();
    assert_eq!(discord_code(&gone), Some((404, 10066)));
    let gone = http
        .delete_automod_rule(g, RuleId::new(1), None)
        .await
        .unwrap_err();
    assert_eq!(discord_code(&gone), Some((404, 10066)));

    // Limits: each refused with 50035 and nothing stored.
    let too_many: Vec<String> = (0..11).map(|i| format!("a{i}")).collect();
    let too_long = "x".repeat(261);
    let bad = [
        keyword_rule("r", json!({ "regex_patterns": too_many })),
        keyword_rule("r", json!({ "regex_patterns": [too_long] })),
        keyword_rule("r", json!({ "regex_patterns": ["(unclosed"] })),
        keyword_rule("r", json!({ "keyword_filter": ["k".repeat(61)] })),
        keyword_rule("r", json!({})),
        json!({
            "name": "r", "event_type": 1, "trigger_type": 1,
            "trigger_metadata": { "keyword_filter": ["x"] },
            "actions": [{ "type": 1, "metadata": { "custom_message": "m".repeat(151) } }],
        }),
        json!({
            "name": "r", "event_type": 1, "trigger_type": 1,
            "trigger_metadata": { "keyword_filter": ["x"] },
            "actions": [{ "type": 1 }],
            "exempt_channels": ["1"],
        }),
    ];
    for body in &bad {
        let err = http.create_automod_rule(g, body, None).await.unwrap_err();
        assert_eq!(discord_code(&err), Some((400, 50035)), "{body}");
    }
    assert!(http.get_automod_rules(g).await.unwrap().is_empty());

    // Six keyword rules, not seven.
    for i in 0..6 {
        http.create_automod_rule(
            g,
            &keyword_rule(
                &format!("k{i}"),
                json!({ "keyword_filter": [format!("w{i}")] }),
            ),
            None,
        )
        .await
        .expect("within the cap");
    }
    let err = http
        .create_automod_rule(
            g,
            &keyword_rule("k7", json!({ "keyword_filter": ["w7"] })),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(discord_code(&err), Some((400, 30035)));
}

#[tokio::test]
async fn without_manage_server_the_routes_answer_403() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let http = http_for(&fake, Transport::Https);
    let err = http
        .get_automod_rules(GuildId::new(cast::GUILD))
        .await
        .unwrap_err();
    assert_eq!(discord_code(&err), Some((403, 50013)));
}

#[tokio::test]
async fn a_matching_message_is_blocked_not_posted() {
    let fake = start_fake(managing()).await;
    let rule = fake
        .admin_create_automod_rule(
            cast::GUILD,
            cast::ADMIN,
            keyword_rule(
                "zoom",
                json!({ "keyword_filter": ["*zoom.us/j/*"], "allow_list": ["zoom.us/j/1"] }),
            ),
        )
        .unwrap();
    let before = fake.messages(cast::GENERAL).len();
    let blocked = fake.post_user_message(cast::GENERAL, cast::ALICE, "https://zoom.us/j/987654321");
    assert!(
        matches!(blocked, Err(FakeDiscordError::BlockedByAutoMod(id)) if Some(id) == rule["id"].as_str().and_then(|r| r.parse().ok()))
    );
    assert_eq!(fake.messages(cast::GENERAL).len(), before);
    let d = fake.with_state(|s| {
        s.dispatches()
            .iter()
            .find(|d| d.t == "AUTO_MODERATION_ACTION_EXECUTION")
            .map(|d| d.d.clone())
    });
    let d = d.expect("an execution event");
    assert_eq!(d["matched_keyword"], "*zoom.us/j/*");
    assert_eq!(d["user_id"], cast::ALICE.to_string());
    assert!(d.get("message_id").is_none());
    // The allow list and the server's managers pass.
    fake.post_user_message(cast::GENERAL, cast::ALICE, "https://zoom.us/j/1")
        .unwrap();
    fake.post_user_message(cast::GENERAL, cast::ADMIN, "https://zoom.us/j/987654321")
        .unwrap();
    // An exempt channel passes.
    let id: u64 = rule["id"].as_str().unwrap().parse().unwrap();
    fake.admin_edit_automod_rule(
        cast::GUILD,
        id,
        json!({ "exempt_channels": [cast::RANDOM.to_string()] }),
    )
    .unwrap();
    fake.post_user_message(cast::RANDOM, cast::ALICE, "https://zoom.us/j/987654321")
        .unwrap();
}
