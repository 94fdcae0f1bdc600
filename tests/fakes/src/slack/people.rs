//! What people do on Slack's native surfaces, driven by a test: click a
//! button the bot rendered (in a message, a private notice, the Home tab or
//! a modal), run a message shortcut, submit a modal; each is delivered to
//! the bot as Slack would (a Socket Mode `interactive` envelope or a signed
//! POST to the interactivity URL) and waits for its acknowledgement.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::config::FakeSlackConfig;
use super::signing::SignMode;
use super::state::{DeliveryKind, DeliveryOutcome, DeliveryRecord, Envelope, SlackState};
use super::views::{dm_channel_id, view_object, InteractionRecord, StoredView};
use super::{payloads, unix_now, Delivery, FakeSlack, FakeSlackError};

/// Where a clicked button is.
#[derive(Debug, Clone)]
pub enum ClickIn {
    /// A message in a channel.
    Message {
        /// Channel.
        channel: String,
        /// The message's ts.
        ts: String,
    },
    /// The `n`th ephemeral message the user received (0-based).
    Ephemeral(usize),
    /// The user's Home tab.
    Home,
    /// The user's open modal.
    Modal,
}

/// What the bot answered to an interaction.
#[derive(Debug, Clone)]
pub struct InteractionReply {
    /// The record's id.
    pub id: u64,
    /// The acknowledgement's payload (`response_action`, …), if any.
    pub response: Option<Value>,
}

impl InteractionReply {
    /// `response_action` of the answer.
    pub fn response_action(&self) -> Option<&str> {
        self.response.as_ref()?.get("response_action")?.as_str()
    }

    /// The error for `block` of a `response_action: errors` answer.
    pub fn error_for(&self, block: &str) -> Option<&str> {
        self.response.as_ref()?.get("errors")?.get(block)?.as_str()
    }
}

fn find_button<'a>(blocks: &'a Value, action_id: &str, value: Option<&str>) -> Option<&'a Value> {
    match blocks {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("button")
                && o.get("action_id").and_then(Value::as_str) == Some(action_id)
                && value.is_none_or(|v| o.get("value").and_then(Value::as_str) == Some(v))
            {
                return Some(blocks);
            }
            o.values().find_map(|x| find_button(x, action_id, value))
        }
        Value::Array(a) => a.iter().find_map(|x| find_button(x, action_id, value)),
        _ => None,
    }
}

impl FakeSlack {
    /// Where interaction payloads go in HTTP mode (the app's Interactivity
    /// Request URL).
    pub fn set_interactivity_url(&self, url: &str) {
        self.inner
            .mutate(|st| st.native.interactivity_url = Some(url.to_owned()));
    }

    /// `user` opens the app's Home tab (`app_home_opened`). Returns the event id.
    pub fn open_app_home(&self, user: &str) -> String {
        let event = json!({
            "type": "app_home_opened",
            "user": user,
            "channel": dm_channel_id(user),
            "tab": "home",
            "event_ts": format!("{}.000100", unix_now()),
        });
        self.send_event(event)
    }

    /// The Home tab published for `user`, waiting for one that satisfies `pred`.
    pub async fn wait_home(
        &self,
        user: &str,
        timeout: Duration,
        pred: impl Fn(&StoredView) -> bool,
    ) -> Result<StoredView, FakeSlackError> {
        self.wait_for(timeout, |s| s.home_view(user).filter(|v| pred(v)).cloned())
            .await
    }

    /// The modal open for `user`, waiting for one that satisfies `pred`.
    pub async fn wait_modal(
        &self,
        user: &str,
        timeout: Duration,
        pred: impl Fn(&StoredView) -> bool,
    ) -> Result<StoredView, FakeSlackError> {
        self.wait_for(timeout, |s| s.open_modal(user).filter(|v| pred(v)).cloned())
            .await
    }

    /// `user` clicks the button `action_id` (with `value`, when several have
    /// that action) that the bot rendered `where`; waits for the
    /// acknowledgement.
    pub async fn click(
        &self,
        user: &str,
        place: ClickIn,
        action_id: &str,
        value: Option<&str>,
    ) -> Result<InteractionReply, FakeSlackError> {
        let cfg = &self.inner.cfg;
        let who = cfg
            .user(user)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("user {user}")))?;
        let payload = self.with_state(|st| -> Result<Value, FakeSlackError> {
            let (container, blocks, channel, message) = click_target(st, cfg, user, &place)?;
            let button = find_button(&blocks, action_id, value).ok_or_else(|| {
                FakeSlackError::Unknown(format!("button {action_id} {value:?}"))
            })?;
            let block_id = find_block_of(&blocks, action_id).unwrap_or_default();
            let mut p = json!({
                "type": "block_actions",
                "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": cfg.team.id},
                "api_app_id": cfg.bot.app_id,
                "token": cfg.verification_token,
                "container": container,
                "team": {"id": cfg.team.id, "domain": cfg.team.domain},
                "is_enterprise_install": false,
                "actions": [{
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value").cloned().unwrap_or(Value::Null),
                    "action_ts": format!("{}.{:06}", unix_now(), 4242),
                }],
            });
            if let Some(c) = channel {
                p["channel"] = json!({"id": c, "name": cfg.channel(&c).map(|c| c.name.clone()).unwrap_or_default()});
            }
            if let Some(m) = message {
                p["message"] = m;
            }
            Ok(p)
        })?;
        self.interact("block_actions", payload, true).await
    }

    /// `user` runs the message shortcut `callback_id` on message `ts`.
    pub async fn message_shortcut(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        callback_id: &str,
    ) -> Result<InteractionReply, FakeSlackError> {
        let cfg = &self.inner.cfg;
        let who = cfg
            .user(user)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("user {user}")))?;
        let message = self
            .with_state(|st| {
                st.message(channel, ts)
                    .map(|m| payloads::message_object(cfg, m))
            })
            .ok_or_else(|| FakeSlackError::Unknown(format!("message {channel}/{ts}")))?;
        let payload = json!({
            "type": "message_action",
            "callback_id": callback_id,
            "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": cfg.team.id},
            "team": {"id": cfg.team.id, "domain": cfg.team.domain},
            "channel": {"id": channel, "name": cfg.channel(channel).map(|c| c.name.clone()).unwrap_or_default()},
            "message": message,
            "message_ts": ts,
            "token": cfg.verification_token,
            "action_ts": format!("{}.{:06}", unix_now(), 4243),
            "is_enterprise_install": false,
        });
        self.interact("message_action", payload, true).await
    }

    /// `user` submits their open modal with `values` (block id → the value
    /// typed, or the option value chosen). Applies the answer as Slack
    /// does: an empty one closes the modal, `update` replaces it, `errors`
    /// keeps it open.
    pub async fn submit_modal(
        &self,
        user: &str,
        values: &[(&str, &str)],
    ) -> Result<InteractionReply, FakeSlackError> {
        let cfg = &self.inner.cfg;
        let who = cfg
            .user(user)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("user {user}")))?;
        let view = self
            .with_state(|st| st.open_modal(user).cloned())
            .ok_or_else(|| FakeSlackError::Unknown("open modal".into()))?;
        let mut state = Map::new();
        for b in view.blocks().iter().filter(|b| b["type"] == "input") {
            let block_id = b["block_id"].as_str().unwrap_or("").to_owned();
            let el = &b["element"];
            let action_id = el["action_id"].as_str().unwrap_or("").to_owned();
            let given = values.iter().find(|(k, _)| *k == block_id).map(|(_, v)| *v);
            let kind = el["type"].as_str().unwrap_or("");
            let value = match kind {
                "static_select" | "radio_buttons" => {
                    let option = given.and_then(|g| {
                        el["options"]
                            .as_array()
                            .and_then(|o| o.iter().find(|o| o["value"] == g).cloned())
                    });
                    json!({"type": kind, "selected_option": option.or_else(|| el.get("initial_option").cloned())})
                }
                _ => {
                    json!({"type": kind, "value": given.map(str::to_owned).or_else(|| el["initial_value"].as_str().map(str::to_owned))})
                }
            };
            state.insert(block_id, json!({ action_id: value }));
        }
        let mut v = view_object(&self.inner, &view);
        v["state"] = json!({ "values": state });
        let payload = json!({
            "type": "view_submission",
            "team": {"id": cfg.team.id, "domain": cfg.team.domain},
            "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": cfg.team.id},
            "api_app_id": cfg.bot.app_id,
            "token": cfg.verification_token,
            "trigger_id": "",
            "view": v,
            "response_urls": [],
            "is_enterprise_install": false,
        });
        let reply = self.interact("view_submission", payload, false).await?;
        let action = reply.response_action().map(str::to_owned);
        let new_view = reply.response.as_ref().and_then(|r| r.get("view").cloned());
        self.inner.mutate(|st| {
            let Some(v) = st.native.views.iter_mut().find(|x| x.id == view.id) else {
                return;
            };
            match action.as_deref() {
                None | Some("clear") => v.open = false,
                Some("update") => {
                    if let Some(nv) = new_view {
                        v.view = nv;
                    }
                }
                _ => {}
            }
        });
        Ok(reply)
    }

    /// Sends an interaction payload and waits for its acknowledgement.
    /// `trigger` gives it a fresh `trigger_id` (and a `response_url`).
    async fn interact(
        &self,
        kind: &str,
        mut payload: Value,
        trigger: bool,
    ) -> Result<InteractionReply, FakeSlackError> {
        let inner = self.inner.clone();
        let user = payload["user"]["id"].as_str().unwrap_or("").to_owned();
        let id = inner.mutate(|st| {
            let id = st.next_counter();
            if trigger {
                let t = format!(
                    "{}.{}.{:032x}",
                    1_234_567_890_000 + id,
                    1_234_567_890,
                    u128::from(inner.seed) << 64 | u128::from(id)
                );
                st.native
                    .triggers
                    .insert(t.clone(), (Instant::now(), user.clone(), false));
                payload["trigger_id"] = json!(t);
                payload["response_url"] = json!(format!(
                    "{}/actions/{}/{}/{:016x}",
                    inner.base_url,
                    inner.cfg.team.id,
                    1_234_567_890_000 + id,
                    inner.seed ^ id
                ));
            }
            st.native.interactions.push(InteractionRecord {
                id,
                kind: kind.to_owned(),
                payload: payload.clone(),
                acknowledged: false,
                http_status: None,
                response: None,
                response_url_posts: Vec::new(),
            });
            id
        });
        match inner.delivery() {
            Delivery::SocketMode => self.interact_socket(id, kind, payload).await,
            Delivery::Http { .. } => self.interact_http(id, payload).await,
        }
    }

    /// Socket Mode: the payload in an `interactive` envelope; the bot's
    /// acknowledgement (with its response payload) answers it.
    async fn interact_socket(
        &self,
        id: u64,
        kind: &str,
        payload: Value,
    ) -> Result<InteractionReply, FakeSlackError> {
        let inner = self.inner.clone();
        let envelope_id = payloads::uuid_like(inner.seed ^ 0x1a7e, id);
        inner.mutate(|st| {
            let env = Envelope {
                envelope_id: envelope_id.clone(),
                kind: DeliveryKind::Interactive,
                payload: payload.clone(),
                accepts_response_payload: kind == "view_submission",
                retry_attempt: 0,
                retry_reason: String::new(),
                event_id: None,
                slash_id: None,
                last_connection: None,
            };
            inner.socket_send(st, env);
        });
        let timeout = inner.cfg.ack_timeout + Duration::from_secs(1);
        let outcome = self
            .wait_for(timeout, |st| {
                st.deliveries().iter().rev().find_map(|d| {
                    (d.envelope_id.as_deref() == Some(envelope_id.as_str())
                        && d.outcome != DeliveryOutcome::Pending)
                        .then(|| d.outcome.clone())
                })
            })
            .await?;
        let response = match outcome {
            DeliveryOutcome::Acked { payload } => payload,
            _ => {
                return Err(FakeSlackError::Timeout(
                    timeout,
                    format!("the ack of {kind}"),
                ))
            }
        };
        inner.mutate(|st| {
            if let Some(r) = st.native.interactions.iter_mut().find(|r| r.id == id) {
                r.acknowledged = true;
                r.response = response.clone();
            }
        });
        Ok(InteractionReply { id, response })
    }

    /// HTTP: the payload as a signed form POST to the interactivity URL; the
    /// HTTP response answers it.
    async fn interact_http(
        &self,
        id: u64,
        payload: Value,
    ) -> Result<InteractionReply, FakeSlackError> {
        let inner = self.inner.clone();
        let url = inner
            .read(|st| st.native.interactivity_url.clone())
            .ok_or(FakeSlackError::WrongMode("set_interactivity_url first"))?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let r = inner
            .post_signed(
                &url,
                "application/x-www-form-urlencoded",
                body,
                SignMode::Valid,
                None,
            )
            .await
            .map_err(FakeSlackError::Http)?;
        let response = serde_json::from_str::<Value>(&r.body)
            .ok()
            .filter(|v| !v.is_null());
        inner.mutate(|st| {
            st.deliveries.push(DeliveryRecord {
                at: Instant::now(),
                kind: DeliveryKind::Interactive,
                event_id: None,
                envelope_id: None,
                connection: None,
                retry_attempt: 0,
                retry_reason: None,
                outcome: DeliveryOutcome::HttpResponse {
                    status: r.status,
                    body: r.body.clone(),
                    no_retry: r.no_retry(),
                },
            });
            if let Some(rec) = st.native.interactions.iter_mut().find(|x| x.id == id) {
                rec.acknowledged = r.is_success();
                rec.http_status = Some(r.status);
                rec.response = response.clone();
            }
        });
        if !r.is_success() {
            return Err(FakeSlackError::Http(format!(
                "status {}: {}",
                r.status, r.body
            )));
        }
        Ok(InteractionReply { id, response })
    }

    /// HTTP mode: POSTs an interaction `payload` to the interactivity URL,
    /// signed per `mode`, once (for negative tests).
    pub async fn send_raw_interaction(
        &self,
        payload: &Value,
        mode: SignMode,
    ) -> Result<super::RawHttpResponse, FakeSlackError> {
        let url = self
            .inner
            .read(|st| st.native.interactivity_url.clone())
            .ok_or(FakeSlackError::WrongMode("set_interactivity_url first"))?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        self.inner
            .post_signed(&url, "application/x-www-form-urlencoded", body, mode, None)
            .await
            .map_err(FakeSlackError::Http)
    }
}

fn find_block_of(blocks: &Value, action_id: &str) -> Option<String> {
    blocks.as_array()?.iter().find_map(|b| {
        find_button(b, action_id, None).and(b["block_id"].as_str().map(str::to_owned))
    })
}

/// Where a click happens: the payload's `container`, the blocks holding
/// the button, and the channel and message object when it is a message.
fn click_target(
    st: &SlackState,
    cfg: &FakeSlackConfig,
    user: &str,
    place: &ClickIn,
) -> Result<ClickTarget, FakeSlackError> {
    let target = match place {
        ClickIn::Message { channel, ts } => {
            let m = st
                .message(channel, ts)
                .filter(|m| !m.deleted)
                .ok_or_else(|| FakeSlackError::Unknown(format!("message {channel}/{ts}")))?;
            (
                json!({"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false}),
                m.blocks.clone().unwrap_or(Value::Null),
                Some(channel.clone()),
                Some(payloads::message_object(cfg, m)),
            )
        }
        ClickIn::Ephemeral(n) => {
            let e = st
                .ephemerals()
                .iter()
                .filter(|e| e.user == user)
                .nth(*n)
                .ok_or_else(|| FakeSlackError::Unknown(format!("ephemeral {n}")))?;
            (
                json!({"type": "message", "message_ts": e.message_ts, "channel_id": e.channel, "is_ephemeral": true}),
                e.blocks.clone().unwrap_or(Value::Null),
                Some(e.channel.clone()),
                None,
            )
        }
        ClickIn::Home | ClickIn::Modal => {
            let v = if matches!(place, ClickIn::Home) {
                st.home_view(user)
            } else {
                st.open_modal(user)
            }
            .ok_or_else(|| FakeSlackError::Unknown("view".into()))?;
            (
                json!({"type": "view", "view_id": v.id}),
                v.view["blocks"].clone(),
                None,
                None,
            )
        }
    };
    Ok(target)
}

/// What [`click_target`] finds: container, blocks, channel, message.
type ClickTarget = (Value, Value, Option<String>, Option<Value>);
