//! Events API and slash commands over HTTP: the fake's signatures verify with
//! slack-morphism's `SlackEventSignatureVerifier` and match Slack's published
//! vectors, its payloads decode as `SlackPushEvent`, and its retry schedule,
//! retry headers and `X-Slack-No-Retry` handling follow Slack's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use linkguard_fakes::slack::{
    sign, Delivery, DeliveryOutcome, FakeSlack, FakeSlackConfig, SignMode, SlashReplySource,
    DEFAULT_SIGNING_SECRET,
};
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;

const GENERAL: &str = "C0FAKECHAN1";
const ALICE: &str = "U0FAKEUSR01";
const WAIT: Duration = Duration::from_secs(20);

/// How the test bot answers the next event POST.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    ServerError,
    ServerErrorNoRetry,
    Hang,
}

#[derive(Debug, Clone)]
struct Seen {
    retry_num: Option<String>,
    retry_reason: Option<String>,
    event_id: String,
}

#[derive(Default)]
struct Bot {
    plan: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Seen>>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What a bot must do first: check the signature with slack-morphism's verifier.
fn verified(headers: &HeaderMap, body: &[u8]) -> bool {
    let verifier = SlackEventSignatureVerifier::new(&DEFAULT_SIGNING_SECRET.to_string().into());
    let (Some(sig), Some(ts), Ok(body)) = (
        header(
            headers,
            SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER,
        ),
        header(headers, SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
        std::str::from_utf8(body),
    ) else {
        return false;
    };
    verifier.verify(&sig, body, &ts).is_ok()
}

async fn events(State(bot): State<Arc<Bot>>, headers: HeaderMap, body: Bytes) -> Response {
    if !verified(&headers, &body) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    assert!(header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")));
    let event: SlackPushEvent = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match event {
        SlackPushEvent::UrlVerification(v) => {
            axum::Json(serde_json::json!({ "challenge": v.challenge })).into_response()
        }
        SlackPushEvent::EventCallback(cb) => {
            assert!(matches!(cb.event, SlackEventCallbackBody::Message(_)));
            if let Ok(mut seen) = bot.seen.lock() {
                seen.push(Seen {
                    retry_num: header(&headers, "x-slack-retry-num"),
                    retry_reason: header(&headers, "x-slack-retry-reason"),
                    event_id: cb.event_id.0.clone(),
                });
            }
            let answer = bot
                .plan
                .lock()
                .ok()
                .and_then(|mut p| p.pop_front())
                .unwrap_or(Answer::Ok);
            match answer {
                Answer::Ok => StatusCode::OK.into_response(),
                Answer::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                Answer::ServerErrorNoRetry => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [("x-slack-no-retry", "1")],
                    "",
                )
                    .into_response(),
                Answer::Hang => std::future::pending().await,
            }
        }
        SlackPushEvent::AppRateLimited(_) => StatusCode::OK.into_response(),
    }
}

async fn commands(headers: HeaderMap, body: Bytes) -> Response {
    if !verified(&headers, &body) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let fields: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    assert_eq!(get("command"), "/linkguard");
    assert_eq!(get("team_id"), "T0FAKETEAM1");
    match get("text").as_str() {
        "later" => {
            let url = get("response_url");
            tokio::spawn(async move {
                let _ = reqwest::Client::new()
                    .post(url)
                    .json(&serde_json::json!({"response_type": "in_channel", "text": "done later"}))
                    .send()
                    .await;
            });
            StatusCode::OK.into_response()
        }
        text => axum::Json(serde_json::json!({
            "response_type": "ephemeral",
            "text": format!("you said {text}"),
        }))
        .into_response(),
    }
}

/// Binds the test bot on port 0, points a fresh fake at it.
async fn setup(plan: &[Answer]) -> (FakeSlack, Arc<Bot>) {
    let bot = Arc::new(Bot::default());
    if let Ok(mut p) = bot.plan.lock() {
        p.extend(plan.iter().copied());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/slack/events", post(events))
        .route("/slack/commands", post(commands))
        .with_state(bot.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let cfg = FakeSlackConfig {
        delivery: Delivery::Http {
            events_url: format!("http://{addr}/slack/events"),
            commands_url: Some(format!("http://{addr}/slack/commands")),
        },
        ..FakeSlackConfig::default()
    }
    .with_fast_timers(Duration::from_millis(1000), Duration::from_millis(50));
    (FakeSlack::start(cfg).await.expect("fake"), bot)
}

fn seen(bot: &Bot) -> Vec<Seen> {
    bot.seen.lock().map(|s| s.clone()).unwrap_or_default()
}

#[tokio::test]
async fn url_verification_and_signed_event_delivery() {
    let (fake, bot) = setup(&[]).await;
    let v = fake.url_verification().await.expect("verification");
    assert!(v.echoed, "{:?}", v.response);

    fake.post_user_message(GENERAL, ALICE, "<https://zoom.us/j/1>")
        .expect("post");
    let event_id = fake
        .with_state(|s| s.events()[0]["event_id"].as_str().map(str::to_string))
        .expect("event id");
    fake.wait_until(WAIT, |s| s.event_acked(&event_id))
        .await
        .expect("acked");
    let s = seen(&bot);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].event_id, event_id);
    assert_eq!(
        s[0].retry_num, None,
        "first attempt carries no retry headers"
    );
}

#[tokio::test]
async fn failures_are_retried_with_slack_headers() {
    let (fake, bot) = setup(&[Answer::Hang, Answer::ServerError]).await;
    fake.post_user_message(GENERAL, ALICE, "hello")
        .expect("post");
    let event_id = fake
        .with_state(|s| s.events()[0]["event_id"].as_str().map(str::to_string))
        .expect("event id");
    fake.wait_until(WAIT, |s| s.event_acked(&event_id))
        .await
        .expect("eventually acked");
    let s = seen(&bot);
    assert_eq!(s.len(), 3);
    assert!(s.iter().all(|x| x.event_id == event_id));
    assert_eq!(
        s.iter().map(|x| x.retry_num.clone()).collect::<Vec<_>>(),
        vec![None, Some("1".into()), Some("2".into())]
    );
    assert_eq!(s[1].retry_reason.as_deref(), Some("http_timeout"));
    assert_eq!(s[2].retry_reason.as_deref(), Some("http_error"));
    let d = fake.deliveries();
    assert!(
        matches!(d[0].outcome, DeliveryOutcome::HttpFailed { ref reason } if reason == "http_timeout")
    );
    assert!(matches!(
        d[1].outcome,
        DeliveryOutcome::HttpResponse { status: 500, .. }
    ));
}

#[tokio::test]
async fn gives_up_after_three_retries_and_honours_no_retry() {
    let (fake, bot) = setup(&[Answer::ServerError; 4]).await;
    fake.post_user_message(GENERAL, ALICE, "doomed")
        .expect("post");
    fake.wait_until(WAIT, |s| s.deliveries().len() == 4)
        .await
        .expect("four attempts");
    assert_eq!(seen(&bot).len(), 4);
    assert_eq!(fake.deliveries()[3].retry_attempt, 3);

    let (fake, bot) = setup(&[Answer::ServerErrorNoRetry]).await;
    fake.post_user_message(GENERAL, ALICE, "once")
        .expect("post");
    fake.wait_until(WAIT, |s| !s.deliveries().is_empty())
        .await
        .expect("one attempt");
    // A second event proves the fake moved on rather than retrying the first.
    fake.post_user_message(GENERAL, ALICE, "next")
        .expect("post");
    fake.wait_until(WAIT, |s| s.deliveries().len() == 2)
        .await
        .expect("next delivered");
    let s = seen(&bot);
    assert_eq!(s.len(), 2);
    assert_ne!(s[0].event_id, s[1].event_id);
    assert!(matches!(
        fake.deliveries()[0].outcome,
        DeliveryOutcome::HttpResponse { no_retry: true, .. }
    ));
}

#[tokio::test]
async fn forged_stale_and_unsigned_requests_fail_verification() {
    let (fake, _bot) = setup(&[]).await;
    let body = serde_json::json!({
        "token": "fakeVerificationToken000",
        "challenge": "abc",
        "type": "url_verification"
    })
    .to_string();
    assert_eq!(
        fake.send_raw_event(&body, SignMode::Valid)
            .await
            .expect("valid")
            .status,
        200
    );
    for mode in [SignMode::Forged, SignMode::Stale, SignMode::Unsigned] {
        let r = fake.send_raw_event(&body, mode).await.expect("sent");
        assert_eq!(r.status, 401, "{mode:?} must be rejected");
    }
}

#[tokio::test]
async fn slash_command_over_http_sync_body_and_response_url() {
    let (fake, _bot) = setup(&[]).await;
    let reply = fake
        .slash_command(GENERAL, ALICE, "policy show")
        .await
        .expect("reply");
    assert_eq!(reply.source, SlashReplySource::Immediate);
    assert_eq!(reply.text(), Some("you said policy show"));
    assert_eq!(fake.ephemerals().len(), 1);

    let reply = fake
        .slash_command(GENERAL, ALICE, "later")
        .await
        .expect("reply");
    assert_eq!(reply.source, SlashReplySource::ResponseUrl);
    assert_eq!(reply.response_type(), "in_channel");
    fake.wait_until(WAIT, |s| {
        s.visible_messages(GENERAL)
            .iter()
            .any(|m| m.text == "done later" && m.bot_id.as_deref() == Some("B0FAKEBOT01"))
    })
    .await
    .expect("in_channel answer posted by the app");
    let rec = fake.slash_commands().pop().expect("record");
    assert!(rec.acknowledged);
    assert_eq!(rec.http_status, Some(200));
    assert!(rec.response_url.starts_with(&fake.base_url()));
}

/// Slack's published example and the project's vectors, values copied from
/// `protocol/slack/signing_vectors.json`.
#[test]
fn signing_matches_published_vectors() {
    const DOCS_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const FORM_BODY: &str = "token=fakeVerificationToken000&team_id=T0FAKETEAM1&team_domain=fakemod&channel_id=C0FAKECHAN1&channel_name=general&user_id=U0FAKEUSR01&user_name=alice&command=%2Fmodbot&text=allow+https%3A%2F%2Fus06web.zoom.us%2Fj%2F85512345678+for+1h&api_app_id=A0FAKEAPP01&is_enterprise_install=false&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0FAKETEAM1%2F1234567890123%2FFAKEresponseURLsecret0001&trigger_id=1234567890123.1234567890.0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const EVENT_BODY: &str = r#"{"token":"fakeVerificationToken000","team_id":"T0FAKETEAM1","context_team_id":"T0FAKETEAM1","context_enterprise_id":null,"api_app_id":"A0FAKEAPP01","event":{"user":"U0FAKEUSR01","type":"message","ts":"1767225600.000100","client_msg_id":"3f1c2b7e-8a4d-4c9e-9b1a-0c5d6e7f8a91","text":"Standup moved: <https://us06web.zoom.us/j/85512345678?pwd=aBcD1234eFgH&amp;uname=guest|join the Zoom> &amp; bring notes &lt;3","team":"T0FAKETEAM1","blocks":[{"type":"rich_text","block_id":"Xy1Zq","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"Standup moved: "},{"type":"link","url":"https://us06web.zoom.us/j/85512345678?pwd=aBcD1234eFgH&uname=guest","text":"join the Zoom"},{"type":"text","text":" & bring notes <3"}]}]}],"channel":"C0FAKECHAN1","event_ts":"1767225600.000100","channel_type":"channel"},"type":"event_callback","event_id":"Ev0FAKEEVT01","event_time":1767225600,"authorizations":[{"enterprise_id":null,"team_id":"T0FAKETEAM1","user_id":"U0FAKEBOT01","is_bot":true,"is_enterprise_install":false}],"is_ext_shared_channel":false,"event_context":"4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMEZBS0VURUFNMSIsImFpZCI6IkEwRkFLRUFQUDAxIiwiY2lkIjoiQzBGQUtFQ0hBTjEifQ"}"#;
    let vectors = [
        (
            "8f742231b10e8888abcd99yyyzzz85a5",
            "1531420618",
            DOCS_BODY.to_string(),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            true,
        ),
        (
            "fa2c05deeef5a4077494e89f54394de0",
            "1531420618",
            "test-body".to_string(),
            "v0=baa91ef62d346e56607bbdd278a8acd570b91226854f15a382f43d33be42f666",
            true,
        ),
        (
            "0123456789abcdef0123456789abcdef",
            "1767225601",
            FORM_BODY.to_string(),
            "v0=8651a6accf55fd344227c17aea924adf153cc2f7064396dd5c139fe325f47c41",
            true,
        ),
        (
            "0123456789abcdef0123456789abcdef",
            "1767225601",
            EVENT_BODY.to_string(),
            "v0=3b757470bc1d32340529f5ff0e89e0958f0c41fff649fe7bdac926a21daf2aca",
            true,
        ),
        (
            "8f742231b10e8888abcd99yyyzzz85a5",
            "1531420618",
            DOCS_BODY.replace("&text=&", "&text=x&"),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            false,
        ),
    ];
    for (secret, ts, body, expected, valid) in vectors {
        assert_eq!(
            sign(secret, ts, body.as_bytes()) == expected,
            valid,
            "{body}"
        );
    }
    // The fake's default secret is the project vectors' secret.
    assert_eq!(DEFAULT_SIGNING_SECRET, "0123456789abcdef0123456789abcdef");
}
