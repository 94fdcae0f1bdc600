//! The settings page: the policy's mode and whether bots are moderated.

use super::html_page;
use crate::web::view::{csrf, notice, page};
use crate::web::{Admin, AdminForm, Console, Shared};
use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

/// The settings page, with an optional message on top.
async fn settings_page(admin: &Admin, c: &Console, top: Option<Markup>) -> Response {
    let active = c.moderator.policy();
    let mode = active.policy.mode().as_str();
    let bots = active.policy.moderate_bots();
    let body = html! {
        @if let Some(t) = top { (t) }
        p.small { "These change the policy like the chat commands do: each is a new, audited policy version." }
        form method="post" action="/admin/settings" {
            (csrf(admin))
            fieldset {
                legend { "Mode" }
                @for m in ["enforce", "monitor"] {
                    label {
                        input type="radio" name="mode" value=(m) checked[m == mode];
                        " " (m) @if m == "monitor" { " (record only, act on nothing)" }
                    }
                }
            }
            fieldset {
                legend { "Other bots' and integrations' messages" }
                label { input type="radio" name="bots" value="on" checked[bots == Some(true)]; " moderated" }
                label { input type="radio" name="bots" value="off" checked[bots != Some(true)]; " left alone" }
            }
            p { button type="submit" { "Save settings" } }
        }
    };
    html_page(page(admin, "settings", "Settings", body))
}

/// `/admin/settings`.
pub(crate) async fn settings(admin: Admin, State(c): State<Shared>) -> Response {
    settings_page(&admin, &c, None).await
}

/// Saves the settings form: a `mode` or `bots` command for each that
/// changed.
pub(crate) async fn settings_save(State(c): State<Shared>, form: AdminForm) -> Response {
    let caller = form.admin.caller();
    let mut said = Vec::new();
    let active = c.moderator.policy();
    let mode = form.get("mode");
    if ["enforce", "monitor"].contains(&mode) && mode != active.policy.mode().as_str() {
        said.push(c.commands.run(&caller, &format!("mode {mode}")).await);
    }
    let bots = form.get("bots");
    let now_on = active.policy.moderate_bots() == Some(true);
    if (bots == "on" && !now_on) || (bots == "off" && active.policy.moderate_bots() == Some(true)) {
        said.push(c.commands.run(&caller, &format!("bots {bots}")).await);
    }
    let top = if said.is_empty() {
        notice("Nothing changed.", true)
    } else {
        let text = said.join("\n");
        notice(&text, !text.contains("refused"))
    };
    settings_page(&form.admin, &c, Some(top)).await
}
