//! The policy page: its rules, a message test, the TOML editor with a
//! reviewed diff, and the version history with rollback.

use super::{db_error, html_page, rule_mode};
use crate::store::PolicyVersion;
use crate::web::view::{self, csrf, notice, page};
use crate::web::{Admin, AdminForm, Console, Shared};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use linkguard_rules::policy::Policy;
use linkguard_rules::timefmt::format_time;
use maud::{html, Markup};

/// The policy page, with an optional message and an edit in progress
/// (`editing`: the text and the version it was based on).
async fn policy_page(
    admin: &Admin,
    c: &Console,
    top: Option<Markup>,
    editing: Option<(&str, &str)>,
) -> Response {
    let base = match c.commands.base_text().await {
        Ok(b) => b,
        Err(e) => return db_error(e),
    };
    let history = match c.store().policy_history().await {
        Ok(h) => h,
        Err(e) => return db_error(e),
    };
    let managed = c.store().policy_managed_by().await.ok().flatten();
    let active = c.moderator.policy();
    let base_v = base.version.map(|v| v.to_string()).unwrap_or_default();
    let (text, base_field) = editing.unwrap_or((&base.text, &base_v));
    let body = html! {
        @if let Some(t) = top { (t) }
        @if let Some(file) = &managed {
            (notice(&format!("The policy is managed by the file {file}: edits here are refused until linkguard runs without `policy`."), false))
        }
        section aria-labelledby="rules-h" {
            h2 #rules-h { "Rules (version " (base.version.map_or("built-in".into(), |v| v.to_string())) ", " (active.policy.mode().as_str()) " mode)" }
            (rules_table(&active.policy))
        }
        (test_form(admin))
        (edit_form(admin, text, base_field))
        (history_table(admin, &history))
    };
    html_page(page(admin, "policy", "Policy", body))
}

/// The active policy's rules as a table.
fn rules_table(policy: &Policy) -> Markup {
    html! {
        div.table { table {
            thead { tr { th scope="col" { "Rule" } th scope="col" { "Providers" } th scope="col" { "Hosts / patterns" } th scope="col" { "Action" } th scope="col" { "Mode" } th scope="col" { "Alternative" } th scope="col" { "Reason" } } }
            tbody {
                @for r in policy.rules() {
                    tr {
                        td { (r.id.as_str()) }
                        td { (r.providers.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")) }
                        td { (r.hosts.iter().chain(r.patterns.iter()).cloned().collect::<Vec<_>>().join(", ")) }
                        td { (format!("{:?}", r.action).to_lowercase()) }
                        td { (rule_mode(policy, r)) }
                        td { (r.alternative.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default()) }
                        td { (r.reason) }
                    }
                }
            }
        } }
    }
}

/// The form that tests a message against the active policy.
fn test_form(admin: &Admin) -> Markup {
    html! {
        section aria-labelledby="test-h" {
            h2 #test-h { "Test a message" }
            form method="post" action="/admin/policy/test" {
                (csrf(admin))
                label for="test-text" { "Message text" }
                textarea #test-text name="text" rows="3" {}
                label for="test-platform" { "Written for" }
                select #test-platform name="platform" {
                    option value="any" { "any platform" }
                    option value="slack" { "Slack" }
                    option value="discord" { "Discord" }
                }
                button type="submit" { "Check it" }
            }
        }
    }
}

/// The policy editor: `text`, based on version `base` (empty: built-in).
fn edit_form(admin: &Admin, text: &str, base: &str) -> Markup {
    html! {
        section aria-labelledby="edit-h" {
            h2 #edit-h { "Edit the policy (TOML)" }
            form method="post" action="/admin/policy/preview" {
                (csrf(admin))
                input type="hidden" name="base" value=(base);
                label for="policy-text" { "Policy text" }
                textarea #policy-text name="text" rows="24" spellcheck="false" { (text) }
                button type="submit" { "Check and show the changes" }
            }
        }
    }
}

/// The stored versions, newest first, each but the active one with a
/// rollback button.
fn history_table(admin: &Admin, history: &[PolicyVersion]) -> Markup {
    html! {
        section aria-labelledby="hist-h" {
            h2 #hist-h { "History" }
            div.table { table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" {} } }
                tbody {
                    @for v in history.iter().rev() {
                        tr {
                            td { (v.version) @if v.active { " (active)" } }
                            td { (format_time(v.at_ms)) }
                            td { (v.author) }
                            td { (v.source) }
                            td {
                                @if !v.active {
                                    form method="post" action="/admin/policy/rollback" {
                                        (csrf(admin))
                                        input type="hidden" name="version" value=(v.version);
                                        button.secondary type="submit" aria-label=(format!("Roll back to version {}", v.version)) { "Roll back to this" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
    }
}

/// `/admin/policy`.
pub(crate) async fn policy(admin: Admin, State(c): State<Shared>) -> Response {
    policy_page(&admin, &c, None, None).await
}

/// Checks an edited policy: its problems with their places, or the diff
/// against the active version and a form to save it.
pub(crate) async fn policy_preview(State(c): State<Shared>, form: AdminForm) -> Response {
    let text = form.get("text").replace("\r\n", "\n");
    let base = form.get("base").to_owned();
    match Policy::parse("policy", &text) {
        Err(e) => {
            let top = html! {
                div.notice.bad role="alert" {
                    p { "The policy was not saved: fix these problems first." }
                    ul.problems {
                        @for p in &e.problems {
                            li { "line " (p.line) ", column " (p.column) ": "
                                @if let Some(r) = &p.rule { "rule " (r) ": " }
                                (p.message) }
                        }
                    }
                }
            };
            policy_page(&form.admin, &c, Some(top), Some((&text, &base))).await
        }
        Ok(_) => {
            let current = match c.commands.base_text().await {
                Ok(b) => b,
                Err(e) => return db_error(e),
            };
            let body = html! {
                p { "The new text is valid. These are the changes against version "
                    (current.version.map_or("built-in".into(), |v| v.to_string())) ":" }
                (view::diff(&current.text, &text))
                form method="post" action="/admin/policy/save" {
                    (csrf(&form.admin))
                    input type="hidden" name="base" value=(base);
                    input type="hidden" name="text" value=(text);
                    button type="submit" { "Save as a new version" }
                    " "
                    a href="/admin/policy" { "Cancel" }
                }
            };
            html_page(page(&form.admin, "policy", "Review the change", body))
        }
    }
}

/// The version an edit was based on (none: the built-in policy).
fn base_version(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

/// Saves a reviewed edit as a new version; when that is refused (the
/// policy moved on, a file manages it), the edit is shown again with why.
pub(crate) async fn policy_save(State(c): State<Shared>, form: AdminForm) -> Response {
    let text = form.get("text").replace("\r\n", "\n");
    let caller = form.admin.caller();
    let said = match c
        .commands
        .apply(
            &caller,
            base_version(form.get("base")),
            text.clone(),
            "edited the policy text",
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return db_error(e),
    };
    let ok = said.starts_with("Done");
    let editing = (!ok).then_some(text);
    let base = form.get("base").to_owned();
    policy_page(
        &form.admin,
        &c,
        Some(notice(&said, ok)),
        editing.as_deref().map(|t| (t, base.as_str())),
    )
    .await
}

/// Makes an earlier version active again (`rules rollback`).
pub(crate) async fn policy_rollback(State(c): State<Shared>, form: AdminForm) -> Response {
    let Ok(v) = form.get("version").trim().parse::<i64>() else {
        return view::error_page(
            StatusCode::BAD_REQUEST,
            "Which version? The form named none.",
        );
    };
    let said = c
        .commands
        .run(&form.admin.caller(), &format!("rules rollback {v}"))
        .await;
    let ok = said.starts_with("Done");
    policy_page(&form.admin, &c, Some(notice(&said, ok)), None).await
}

/// Checks a message against the active policy, as `linkguard check` does.
pub(crate) async fn policy_test(State(c): State<Shared>, form: AdminForm) -> Response {
    let text = form.get("text");
    let dialect = linkguard_rules::Dialect::parse(form.get("platform"))
        .unwrap_or(linkguard_rules::Dialect::Any);
    let active = c.moderator.policy();
    let ctx = linkguard_rules::eval::MessageContext {
        platform: dialect,
        ..Default::default()
    };
    let verdict = active.policy.evaluate(text, &ctx, c.moderator.room_key());
    let rewritten = verdict.rewrite(text, dialect);
    let mut out = Vec::new();
    let _ = crate::cli::check::human(&mut out, &active.policy, &verdict, &rewritten, text);
    let said = String::from_utf8_lossy(&out).into_owned();
    let top = html! {
        section.card aria-labelledby="result-h" {
            h2 #result-h { "What `linkguard check` says" }
            (view::pre(&said))
        }
    };
    policy_page(&form.admin, &c, Some(top), None).await
}
