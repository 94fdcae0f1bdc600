//! Slack interactivity: button clicks (`block_actions`), modal submissions
//! (`view_submission`) and the "Check links" message shortcut
//! (`message_action`), from Socket Mode `interactive` envelopes or the
//! Events API's `/slack/interactivity` (a signed form POST whose `payload`
//! field is the JSON).
//!
//! Slack wants an answer within 3 s. Clicks and shortcuts are acknowledged at
//! once and their work (opening a modal, deciding a request, answering)
//! runs after; a modal submission is answered in the acknowledgement itself
//! (`response_action`: the check's answer, the request's confirmation, or
//! `errors` naming the field that was wrong), within
//! [`SUBMISSION_ANSWER_WITHIN`].
//!
//! Who may do what is decided by the same functions as the slash command:
//! tenancy first (a payload from a foreign team is refused and audited),
//! then [`Ctx::caller`] for admin rights, then the commands module. The
//! request modal's and the buttons' values are only hints: a request id is
//! looked up and checked against the clicker's workspace every time.

use super::blocks::{self, *};
use super::{signature_key, Ctx, REPLAY_MEMORY};
use crate::commands::requests::{request_duration, RequestError};
use crate::moderation::Platform;
use crate::store::AuditFilter;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use linkguard_rules::rewrite::escape_slack;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a modal submission may take before it is answered with a
/// "try again" error instead (Slack allows 3 s).
pub const SUBMISSION_ANSWER_WITHIN: Duration = Duration::from_millis(2300);

/// What the buttons and inputs of one submission hold, by block id.
fn input(view: &SlackStatefulView, block: &str) -> Option<String> {
    let values = view
        .state_params
        .state
        .as_ref()?
        .values
        .get(&SlackBlockId(block.into()))?;
    let v = values.get(&SlackActionId(INPUT_ACTION.into()))?;
    v.value
        .clone()
        .or_else(|| v.selected_option.as_ref().map(|o| o.value.clone()))
}

fn private_metadata(view: &SlackStatefulView) -> String {
    match &view.view {
        SlackView::Modal(m) => m.private_metadata.clone().unwrap_or_default(),
        SlackView::Home(h) => h.private_metadata.clone().unwrap_or_default(),
    }
}

fn callback_id(view: &SlackStatefulView) -> String {
    match &view.view {
        SlackView::Modal(m) => m.callback_id.as_ref().map(|c| c.0.clone()),
        SlackView::Home(h) => h.callback_id.as_ref().map(|c| c.0.clone()),
    }
    .unwrap_or_default()
}

fn to_view(v: serde_json::Value) -> Option<SlackView> {
    serde_json::from_value(v)
        .map_err(|e| tracing::error!(error = %e, "a modal does not fit slack-morphism's model"))
        .ok()
}

fn errors(block: &str, message: impl Into<String>) -> SlackInteractionResponse {
    SlackInteractionResponse::ViewSubmission(SlackViewSubmissionResponse::Errors(
        SlackViewSubmissionErrorsResponse::new(HashMap::from([(block.to_owned(), message.into())])),
    ))
}

fn update(view: serde_json::Value) -> SlackInteractionResponse {
    match to_view(view) {
        Some(v) => SlackInteractionResponse::ViewSubmission(SlackViewSubmissionResponse::Update(
            SlackViewSubmissionUpdateResponse::new(v),
        )),
        None => SlackInteractionResponse::Empty,
    }
}

/// Which input a request error is about.
fn request_error_block(e: &RequestError) -> &'static str {
    match e {
        RequestError::SubjectTooLong { .. } => BLOCK_SUBJECT,
        RequestError::DurationNotOffered { .. } => BLOCK_DURATION,
        _ => BLOCK_REASON,
    }
}

fn capitalised(e: &impl std::fmt::Display) -> String {
    let s = e.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => s,
    }
}

impl Ctx {
    /// Handles one interaction payload; the answer goes in the
    /// acknowledgement. Never blocks for longer than
    /// [`SUBMISSION_ANSWER_WITHIN`].
    pub(super) async fn interaction(
        self: &Arc<Self>,
        ev: SlackInteractionEvent,
    ) -> SlackInteractionResponse {
        let (team, user, what) = match &ev {
            SlackInteractionEvent::BlockActions(e) => (
                e.team.id.0.clone(),
                e.user.as_ref().map(|u| u.id.0.clone()),
                "a button",
            ),
            SlackInteractionEvent::ViewSubmission(e) => {
                (e.team.id.0.clone(), Some(e.user.id.0.clone()), "a form")
            }
            SlackInteractionEvent::MessageAction(e) => {
                (e.team.id.0.clone(), Some(e.user.id.0.clone()), "a shortcut")
            }
            _ => return SlackInteractionResponse::Empty,
        };
        if !self.tenancy.allows(&team) {
            self.tenancy.refuse(&team, what).await;
            return SlackInteractionResponse::Empty;
        }
        let Some(user) = user else {
            return SlackInteractionResponse::Empty;
        };
        match ev {
            SlackInteractionEvent::BlockActions(e) => {
                let me = self.clone();
                tokio::spawn(async move { me.block_actions(&team, &user, e).await });
                SlackInteractionResponse::Empty
            }
            SlackInteractionEvent::MessageAction(e) => {
                let me = self.clone();
                tokio::spawn(async move { me.message_action(&team, &user, e).await });
                SlackInteractionResponse::Empty
            }
            SlackInteractionEvent::ViewSubmission(e) => {
                match tokio::time::timeout(
                    SUBMISSION_ANSWER_WITHIN,
                    self.view_submission(&team, &user, &e.view),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::warn!(callback = %callback_id(&e.view), "a modal submission took too long");
                        // The first input of every modal is a fine place to say so.
                        let block = match callback_id(&e.view).as_str() {
                            CALLBACK_CHECK => BLOCK_TEXT,
                            CALLBACK_DECIDE => BLOCK_DECISION,
                            _ => BLOCK_REASON,
                        };
                        errors(
                            block,
                            "linkguard could not finish in time (its database is slow); please submit again.",
                        )
                    }
                }
            }
            _ => SlackInteractionResponse::Empty,
        }
    }

    async fn block_actions(&self, team: &str, user: &str, e: SlackInteractionBlockActionsEvent) {
        let channel = e
            .channel
            .as_ref()
            .map(|c| c.id.0.clone())
            .or_else(|| match &e.container {
                SlackInteractionActionContainer::Message(m) => {
                    m.channel_id.as_ref().map(|c| c.0.clone())
                }
                _ => None,
            })
            .unwrap_or_default();
        for action in e.actions.iter().flatten() {
            let value = action.value.clone().unwrap_or_default();
            match action.action_id.0.as_str() {
                ACTION_CHECK_OPEN => {
                    self.open_modal(user, &e.trigger_id, blocks::check_modal())
                        .await
                }
                ACTION_REQUEST_OPEN => {
                    let subject = self.subject_of(&value).await;
                    self.open_modal(
                        user,
                        &e.trigger_id,
                        blocks::request_modal(&subject, &channel),
                    )
                    .await;
                }
                a @ (ACTION_APPROVE | ACTION_DENY) => {
                    let Ok(id) = value.parse::<i64>() else {
                        continue;
                    };
                    let caller = self.caller(team, &channel, user).await;
                    let outcome = self
                        .commands
                        .request_decide(&caller, id, a == ACTION_APPROVE, None)
                        .await;
                    self.after_decision(team, user, &channel, &e, outcome.err())
                        .await;
                }
                ACTION_DECIDE_NOTE => {
                    let Ok(id) = value.parse::<i64>() else {
                        continue;
                    };
                    let caller = self.caller(team, &channel, user).await;
                    if !caller.is_admin {
                        self.tell(&channel, user, &e, &capitalised(&RequestError::NotAdmin))
                            .await;
                        continue;
                    }
                    match self.moderator.store().request_get(id).await {
                        Ok(Some(r)) if r.platform == Platform::Slack && r.workspace == team => {
                            self.open_modal(user, &e.trigger_id, blocks::decide_modal(&r))
                                .await
                        }
                        Ok(_) => {
                            self.tell(
                                &channel,
                                user,
                                &e,
                                &capitalised(&RequestError::NotFound { id }),
                            )
                            .await
                        }
                        Err(err) => tracing::warn!(error = %err, "cannot read a request"),
                    }
                }
                other => tracing::debug!(action = %other, "unknown Slack action ignored"),
            }
        }
    }

    /// After a click on Approve / Deny: the clicker is told what went wrong
    /// (ephemerally); a success shows in the admin message and the
    /// requester's message, delivered by the request outbox.
    async fn after_decision(
        &self,
        team: &str,
        user: &str,
        channel: &str,
        e: &SlackInteractionBlockActionsEvent,
        err: Option<RequestError>,
    ) {
        match err {
            None => {
                if matches!(e.container, SlackInteractionActionContainer::View(_)) {
                    self.publish_home(team, user).await;
                }
            }
            Some(RequestError::Store(err)) => {
                tracing::error!(error = %err, "deciding a request failed");
                self.tell(channel, user, e, "linkguard could not record that decision (its database is not answering); please try again.").await;
            }
            Some(err) => self.tell(channel, user, e, &capitalised(&err)).await,
        }
    }

    /// Says `text` to the person who clicked, only to them: in the channel
    /// of the message they clicked in (ephemeral), else in a direct message.
    async fn tell(
        &self,
        channel: &str,
        user: &str,
        e: &SlackInteractionBlockActionsEvent,
        text: &str,
    ) {
        let in_channel = !channel.is_empty()
            && matches!(e.container, SlackInteractionActionContainer::Message(_));
        let text = escape_slack(text);
        let mut result = Err(None);
        if in_channel {
            result = self
                .actions
                .ephemeral(channel, user, None, &text)
                .await
                .map_err(Some);
        }
        // Outside a channel, or when Slack will not show it there: privately.
        if result.is_err() {
            result = self
                .actions
                .post(user, None, &text)
                .await
                .map(|_| ())
                .map_err(Some);
        }
        if let Err(Some(err)) = result {
            tracing::warn!(error = %err, "could not answer a click");
        }
    }

    /// The subject a notice's button stands for: the banned tools recorded
    /// for that message (`msg:CHANNEL:TS`), or the value itself.
    async fn subject_of(&self, value: &str) -> String {
        let Some((channel, ts)) = value.strip_prefix("msg:").and_then(|v| v.split_once(':')) else {
            if value == HOME_VALUE {
                return String::new();
            }
            return blocks::clip(value, crate::commands::requests::MAX_SUBJECT_CHARS);
        };
        let filter = AuditFilter {
            channel: Some(channel.to_owned()),
            kind: Some("detected".to_owned()),
            newest_first: true,
            limit: Some(200),
            ..AuditFilter::default()
        };
        let lookup = self.moderator.store().list(&filter);
        // The trigger lasts 3 s: never wait long for a nicety.
        let Ok(Ok(rows)) = tokio::time::timeout(Duration::from_millis(800), lookup).await else {
            return String::new();
        };
        let policy = self.moderator.policy();
        let mut names: Vec<String> = Vec::new();
        for r in rows.iter().filter(|r| {
            r.entry.message_id.as_deref() == Some(ts) && r.entry.kind.as_str() == "detected"
        }) {
            if let Some(p) = r
                .entry
                .provider
                .as_deref()
                .and_then(linkguard_rules::ProviderId::new)
            {
                let name = policy.policy.provider_name(&p).to_owned();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names.join(", ")
    }

    /// Opens a modal for the click that gave `trigger`; if Slack's 3 s
    /// for it ran out, tells `user` to click again (privately).
    async fn open_modal(&self, user: &str, trigger: &SlackTriggerId, view: serde_json::Value) {
        let Some(view) = to_view(view) else {
            return;
        };
        let req = SlackApiViewsOpenRequest::new(trigger.clone(), view);
        let session = self.actions.session();
        // A trigger lasts 3 s and works once: no retries.
        match session.views_open(&req).await {
            Ok(_) => {}
            Err(SlackClientError::ApiError(e))
                if matches!(e.code.as_str(), "expired_trigger_id" | "invalid_trigger_id") =>
            {
                tracing::info!(code = %e.code, "a click came too late to open its form");
                let text = "Slack gave linkguard too little time to open that form. Please click the button again.";
                if let Err(e) = self.actions.post(user, None, text).await {
                    tracing::warn!(error = %e, "could not say that a form did not open");
                }
            }
            Err(e) => tracing::warn!(error = %e, "views.open failed"),
        }
    }

    async fn view_submission(
        self: &Arc<Self>,
        team: &str,
        user: &str,
        view: &SlackStatefulView,
    ) -> SlackInteractionResponse {
        let metadata = private_metadata(view);
        match callback_id(view).as_str() {
            CALLBACK_CHECK => {
                let text = input(view, BLOCK_TEXT).unwrap_or_default();
                let caller = self.caller(team, "", user).await;
                update(blocks::check_answer_modal(
                    &self.commands.check(&caller, &text),
                ))
            }
            CALLBACK_REQUEST => {
                let Some(duration) = input(view, BLOCK_DURATION)
                    .as_deref()
                    .and_then(request_duration)
                else {
                    return errors(BLOCK_DURATION, "Choose how long you need the exception.");
                };
                let channel = metadata.trim();
                let caller = self.caller(team, channel, user).await;
                let subject = input(view, BLOCK_SUBJECT).unwrap_or_default();
                let reason = input(view, BLOCK_REASON).unwrap_or_default();
                match self
                    .commands
                    .request_submit(&caller, None, &subject, &reason, duration.duration())
                    .await
                {
                    Ok(r) => {
                        let me = self.clone();
                        let (team, user) = (team.to_owned(), user.to_owned());
                        tokio::spawn(async move { me.refresh_request_homes(&team, &user).await });
                        update(blocks::request_sent_modal(&r))
                    }
                    Err(RequestError::Store(e)) => {
                        tracing::error!(error = %e, "storing a request failed");
                        errors(BLOCK_REASON, "linkguard could not store your request (its database is not answering); please try again.")
                    }
                    Err(e) => errors(request_error_block(&e), capitalised(&e)),
                }
            }
            CALLBACK_DECIDE => {
                let Ok(id) = metadata.trim().parse::<i64>() else {
                    return errors(
                        BLOCK_DECISION,
                        "This form lost track of its request; open it again.",
                    );
                };
                let approve = match input(view, BLOCK_DECISION).as_deref() {
                    Some("approve") => true,
                    Some("deny") => false,
                    _ => return errors(BLOCK_DECISION, "Choose approve or deny."),
                };
                let note = input(view, BLOCK_NOTE);
                let caller = self.caller(team, "", user).await;
                match self
                    .commands
                    .request_decide(&caller, id, approve, note.as_deref())
                    .await
                {
                    Ok(_) => SlackInteractionResponse::Empty,
                    Err(e @ RequestError::NoteTooLong { .. }) => {
                        errors(BLOCK_NOTE, capitalised(&e))
                    }
                    Err(RequestError::Store(e)) => {
                        tracing::error!(error = %e, "deciding a request failed");
                        errors(
                            BLOCK_DECISION,
                            "linkguard could not record that decision; please try again.",
                        )
                    }
                    Err(e) => errors(BLOCK_DECISION, capitalised(&e)),
                }
            }
            other => {
                tracing::debug!(callback = %other, "unknown Slack modal submitted");
                SlackInteractionResponse::Empty
            }
        }
    }

    /// The "Check links" shortcut: what `check` says about the message,
    /// only to the person who asked.
    async fn message_action(&self, team: &str, user: &str, e: SlackInteractionMessageActionEvent) {
        if e.callback_id.0 != SHORTCUT_CHECK {
            return;
        }
        let channel = e
            .channel
            .as_ref()
            .map(|c| c.id.0.clone())
            .unwrap_or_default();
        let text = e
            .message
            .as_ref()
            .and_then(|m| m.content.text.clone())
            .unwrap_or_default();
        let caller = self.caller(team, &channel, user).await;
        let answer = if text.trim().is_empty() {
            "That message has no text I can check.".to_owned()
        } else {
            self.commands.check(&caller, &text)
        };
        self.respond_later(&e.response_url, &answer).await;
    }
}

/// Socket Mode `interactive` envelopes.
pub(super) async fn socket_interaction(
    ev: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let Some(ctx) = super::ctx_of(&state).await else {
        return Ok(SlackInteractionResponse::Empty);
    };
    Ok(ctx.interaction(ev).await)
}

/// `POST /slack/interactivity`: verified like the other endpoints, each
/// signed request run once (a captured submission replayed within the
/// signature window is refused), then the same handler as Socket Mode.
pub(super) async fn http_interactivity(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = ctx.verified("/slack/interactivity", &headers, &body).await {
        return r;
    }
    let Some(key) = signature_key(&headers) else {
        return (StatusCode::UNAUTHORIZED, "signature does not match").into_response();
    };
    match ctx.moderator.store().claim_once(&key, REPLAY_MEMORY).await {
        Ok(true) => {}
        Ok(false) => {
            ctx.audit_rejection("/slack/interactivity", "replay of a request already run")
                .await;
            return (StatusCode::UNAUTHORIZED, "request already seen (replay)").into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check an interaction for replay; refusing it");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    }
    let Some(payload) = form_urlencoded_payload(&body) else {
        return (StatusCode::BAD_REQUEST, "no payload field").into_response();
    };
    let ev: SlackInteractionEvent = match serde_json::from_str(&payload) {
        Ok(ev) => ev,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("malformed interaction: {e}"),
            )
                .into_response()
        }
    };
    match ctx.interaction(ev).await {
        SlackInteractionResponse::Empty => StatusCode::OK.into_response(),
        other => axum::Json(other).into_response(),
    }
}

fn form_urlencoded_payload(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
}
