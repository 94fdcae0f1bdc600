//! Exception requests shown in Slack: the store's request outbox delivered
//! to the admin channel (`slack.admin_channel`) and to the requester.
//!
//! A request made anywhere (the modal, `/linkguard exempt request`, the web
//! console, another replica) is a row whose state Slack has not shown yet.
//! This loop leases such rows ([`crate::store::Store::requests_undelivered`])
//! and, per row: posts the request with Approve / Deny buttons to the admin
//! channel the first time, `chat.update`s that message once decided (who
//! decided, the note, no buttons any more), and tells the requester in a
//! direct message; then records the state as shown. A failure leaves the
//! row for another attempt, so a Slack outage delays the messages and loses
//! none; a row of another workspace is never this connector's to show.
//! Pending requests past their time are expired here too.

use super::blocks;
use super::Ctx;
use crate::moderation::Platform;
use crate::store::{ExceptionRequest, RequestState};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// How often the outbox is looked at when nothing in this process woke it
/// (a request made by another replica or the CLI).
const POLL: Duration = Duration::from_secs(5);
/// How long a failed delivery waits before it is tried again.
const RETRY_IN: Duration = Duration::from_secs(30);
/// How long a delivery Slack refused (no access to the admin channel) waits.
const REFUSED_RETRY_IN: Duration = Duration::from_secs(300);

fn to_blocks(v: Vec<serde_json::Value>) -> Option<Vec<SlackBlock>> {
    serde_json::from_value(serde_json::Value::Array(v))
        .map_err(|e| tracing::error!(error = %e, "a request message does not fit slack-morphism's model"))
        .ok()
}

impl Ctx {
    /// Delivers the request outbox for as long as the connector runs.
    pub(super) async fn deliver_requests(self: Arc<Self>) {
        let store = self.moderator.store().clone();
        let mut last_expiry = tokio::time::Instant::now() - Duration::from_secs(3600);
        loop {
            let woken = store.requests_changed();
            if last_expiry.elapsed() > Duration::from_secs(60) {
                last_expiry = tokio::time::Instant::now();
                if let Err(e) = store.requests_expire(Platform::Slack).await {
                    tracing::warn!(error = %e, "cannot expire old exception requests");
                }
            }
            match store.requests_undelivered(Platform::Slack, 20).await {
                Ok(list) => {
                    for r in list {
                        self.deliver_request(r).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the exception request outbox"),
            }
            let _ = tokio::time::timeout(POLL, woken).await;
        }
    }

    async fn deliver_request(&self, r: ExceptionRequest) {
        let store = self.moderator.store();
        if !self.tenancy.allows(&r.workspace) {
            // Another workspace's connector (or none) shows it.
            let _ = store.request_delivery_failed(r.id, REFUSED_RETRY_IN).await;
            return;
        }
        match self.show_request(&r).await {
            Ok(()) => {
                if let Err(e) = store.request_delivered(r.id, r.state).await {
                    tracing::warn!(error = %e, request.id = r.id, "cannot record a delivered request");
                }
                self.refresh_request_homes(&r.workspace, &r.requester_id)
                    .await;
            }
            Err(e) => {
                let refused = matches!(&e, SlackClientError::ApiError(_));
                tracing::warn!(error = %e, request.id = r.id, "could not show an exception request in Slack; will try again");
                let _ = store
                    .request_delivery_failed(
                        r.id,
                        if refused { REFUSED_RETRY_IN } else { RETRY_IN },
                    )
                    .await;
            }
        }
    }

    /// Shows `r` as it is now: the admin message (posted or updated) and,
    /// once decided, the requester's direct message.
    async fn show_request(&self, r: &ExceptionRequest) -> Result<(), SlackClientError> {
        let (text, blocks) = blocks::admin_message(r);
        let blocks = to_blocks(blocks);
        let content = SlackMessageContent::new()
            .with_text(text)
            .opt_blocks(blocks);
        let session = self.actions.session();
        match (&r.admin_channel, &r.admin_message, &self.admin_channel) {
            (Some(channel), Some(ts), _) => {
                let req = SlackApiChatUpdateRequest::new(
                    SlackChannelId(channel.clone()),
                    content,
                    SlackTs(ts.clone()),
                );
                self.actions.retrying(|| session.chat_update(&req)).await?;
            }
            // Posted once, even when it is already decided (decided from
            // the Home tab before the message went out).
            (_, _, Some(channel)) if r.delivered_state.is_empty() => {
                let req =
                    SlackApiChatPostMessageRequest::new(SlackChannelId(channel.clone()), content);
                let resp = self
                    .actions
                    .retrying(|| session.chat_post_message(&req))
                    .await?;
                if let Err(e) = self
                    .moderator
                    .store()
                    .request_set_admin_message(r.id, &resp.channel.0, &resp.ts.0)
                    .await
                {
                    tracing::warn!(error = %e, "cannot remember a request's admin message");
                }
            }
            _ => {}
        }
        if r.state != RequestState::Pending {
            let until = match r.exception_id {
                Some(id) => self
                    .moderator
                    .store()
                    .exceptions_active(Platform::Slack)
                    .await
                    .ok()
                    .and_then(|l| l.into_iter().find(|e| e.id == id).map(|e| e.until_ms)),
                None => None,
            };
            self.actions
                .post(&r.requester_id, None, &blocks::requester_message(r, until))
                .await?;
        }
        Ok(())
    }
}
