//! Interactions beyond slash commands: message commands (context menus,
//! interaction type 2 with command type 3, the target message in
//! `data.resolved.messages`), component clicks (type 3) and modal submits
//! (type 5), and the checks Discord applies to a modal callback (type 9:
//! `custom_id` ≤ 100, `title` ≤ 45, 1 to 5 action rows of text inputs; never
//! in answer to a modal submit). The 3-second window for the first callback
//! and the 15-minute token are enforced for every interaction alike (see
//! `rest/interactions.rs`).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{FakeDiscord, FakeDiscordError, InteractionCallback};

impl FakeDiscord {
    pub(super) async fn await_callback(
        &self,
        started: Result<(u64, String, oneshot::Receiver<Value>), FakeDiscordError>,
    ) -> Result<InteractionCallback, FakeDiscordError> {
        let (id, token, rx) = started?;
        let window = self.inner.config.interaction_callback_window + Duration::from_secs(2);
        match tokio::time::timeout(window, rx).await {
            Ok(Ok(body)) => Ok(InteractionCallback {
                interaction_id: id,
                token,
                kind: body.get("type").and_then(Value::as_u64).unwrap_or(0),
                data: body.get("data").cloned().unwrap_or(Value::Null),
            }),
            _ => Err(FakeDiscordError::InteractionTimeout(id)),
        }
    }

    /// `user` runs the message command `name` (e.g. "Check links") on
    /// message `target`; waits for the bot's callback.
    pub async fn message_command(
        &self,
        channel: u64,
        user: u64,
        name: &str,
        target: u64,
    ) -> Result<InteractionCallback, FakeDiscordError> {
        let message = self
            .with_state(|st| st.message(target).map(|m| st.message_json(m, false)))
            .ok_or(FakeDiscordError::UnknownMessage(target))?;
        let started = self.begin_interaction_of(channel, user, 2, name, |_, command_id| {
            (
                json!({
                    "id": command_id.to_string(),
                    "name": name,
                    "type": 3,
                    "target_id": target.to_string(),
                    "resolved": { "messages": { target.to_string(): message } },
                }),
                Value::Null,
            )
        });
        self.await_callback(started).await
    }

    /// `user` clicks the button `custom_id` on message `message` (in its
    /// channel); waits for the bot's callback.
    pub async fn click(
        &self,
        message: u64,
        user: u64,
        custom_id: &str,
    ) -> Result<InteractionCallback, FakeDiscordError> {
        let (channel, json) = self
            .with_state(|st| {
                st.message(message)
                    .map(|m| (m.channel_id, st.message_json(m, false)))
            })
            .ok_or(FakeDiscordError::UnknownMessage(message))?;
        let started = self.begin_interaction_of(channel, user, 3, custom_id, |_, _| {
            (
                json!({ "custom_id": custom_id, "component_type": 2 }),
                json!({ "message": json }),
            )
        });
        self.await_callback(started).await
    }

    /// `user` submits the modal `custom_id` with text inputs
    /// `(input custom_id, value)`; waits for the bot's callback.
    pub async fn submit_modal(
        &self,
        channel: u64,
        user: u64,
        custom_id: &str,
        values: &[(&str, &str)],
    ) -> Result<InteractionCallback, FakeDiscordError> {
        let rows: Vec<Value> = values
            .iter()
            .map(|(id, v)| {
                json!({ "type": 1, "components": [{ "type": 4, "custom_id": id, "value": v }] })
            })
            .collect();
        let started = self.begin_interaction_of(channel, user, 5, custom_id, |_, _| {
            (
                json!({ "custom_id": custom_id, "components": rows }),
                Value::Null,
            )
        });
        self.await_callback(started).await
    }
}

/// Discord's checks on a modal callback (type 9) for an interaction of
/// `kind`; the error is `(field, message)`.
pub(crate) fn check_modal(kind: u64, data: Option<&Value>) -> Result<(), (String, String)> {
    if kind == 5 {
        return Err((
            "type".into(),
            "A modal cannot be opened in answer to a modal submit.".into(),
        ));
    }
    let data = data.ok_or(("data".to_owned(), "This field is required".to_owned()))?;
    let len = |f: &str| {
        data.get(f)
            .and_then(Value::as_str)
            .map(|s| s.chars().count())
    };
    match len("custom_id") {
        Some(1..=100) => {}
        _ => {
            return Err((
                "data.custom_id".into(),
                "Must be between 1 and 100 in length.".into(),
            ))
        }
    }
    match len("title") {
        Some(1..=45) => {}
        _ => {
            return Err((
                "data.title".into(),
                "Must be between 1 and 45 in length.".into(),
            ))
        }
    }
    let rows = data
        .get("components")
        .and_then(Value::as_array)
        .filter(|r| (1..=5).contains(&r.len()))
        .ok_or((
            "data.components".to_owned(),
            "Must be between 1 and 5 in length.".to_owned(),
        ))?;
    for (i, row) in rows.iter().enumerate() {
        let inputs = row.get("components").and_then(Value::as_array);
        let ok = row.get("type").and_then(Value::as_u64) == Some(1)
            && inputs.is_some_and(|c| {
                c.len() == 1
                    && c.iter().all(|x| {
                        x.get("type").and_then(Value::as_u64) == Some(4)
                            && x.get("custom_id")
                                .and_then(Value::as_str)
                                .is_some_and(|s| (1..=100).contains(&s.chars().count()))
                            && x.get("label")
                                .and_then(Value::as_str)
                                .is_some_and(|s| (1..=45).contains(&s.chars().count()))
                    })
            });
        if !ok {
            return Err((
                format!("data.components.{i}"),
                "An action row of a modal holds one text input with custom_id and label.".into(),
            ));
        }
    }
    Ok(())
}
