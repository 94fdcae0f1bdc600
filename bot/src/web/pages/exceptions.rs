//! The exceptions page: granting, listing and revoking time-limited
//! exceptions, within the signed-in admin's workspace or server.

use super::{db_error, html_page};
use crate::moderation::Platform;
use crate::store::{Exception, ExceptionTarget, Origin};
use crate::web::view::{self, csrf, notice, page};
use crate::web::{Admin, AdminForm, Console, Shared};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use linkguard_rules::timefmt::format_time;
use maud::{html, Markup};

/// The exceptions page, with an optional message on top: the form to
/// grant one and the recent ones, limited to the admin's own workspace or
/// server (and those for every platform) when signed in through one.
async fn exceptions_page(admin: &Admin, c: &Console, top: Option<Markup>) -> Response {
    let list = match c.store().exceptions_recent(200).await {
        Ok(l) => l,
        Err(e) => return db_error(e),
    };
    let scope = admin.scope();
    let visible: Vec<_> = list
        .into_iter()
        .filter(|(e, _)| match scope {
            None => true,
            Some((p, w)) => e.platform.is_none() || (e.platform == Some(p) && e.workspace == w),
        })
        .collect();
    let body = html! {
        @if let Some(t) = top { (t) }
        (add_form(admin, &offered_platforms(c, scope)))
        section aria-labelledby="list-h" {
            h2 #list-h { "Exceptions" }
            (exceptions_table(admin, &visible))
            @if visible.is_empty() { p { "No exceptions yet." } }
        }
    };
    html_page(page(admin, "exceptions", "Exceptions", body))
}

/// The platforms an exception may be granted for: the admin's own when
/// signed in through one, else each running one and `None` (every platform).
fn offered_platforms(c: &Console, scope: Option<(Platform, &str)>) -> Vec<Option<Platform>> {
    match scope {
        Some((p, _)) => vec![Some(p)],
        None => {
            let mut v = Vec::new();
            if c.admins.slack.is_some() {
                v.push(Some(Platform::Slack));
            }
            if c.admins.discord.is_some() {
                v.push(Some(Platform::Discord));
            }
            v.push(None);
            v
        }
    }
}

/// The form that grants an exception (a platform list only when there is
/// a choice).
fn add_form(admin: &Admin, platforms: &[Option<Platform>]) -> Markup {
    html! {
        section aria-labelledby="add-h" {
            h2 #add-h { "Add an exception" }
            form method="post" action="/admin/exceptions/add" {
                (csrf(admin))
                label for="ex-kind" { "Who" }
                select #ex-kind name="kind" { option value="user" { "A user" } option value="channel" { "A channel" } }
                label for="ex-id" { "User or channel id" }
                input #ex-id name="id" required pattern="[A-Za-z0-9_.-]{1,64}" placeholder="U0123ABCD or 1058897594941571075";
                @if platforms.len() > 1 {
                    label for="ex-platform" { "Platform" }
                    select #ex-platform name="platform" {
                        @for p in platforms { option value=(Origin::from(*p)) { (p.map_or("every platform", Platform::as_str)) } }
                    }
                }
                label for="ex-duration" { "For how long" }
                input #ex-duration name="duration" required placeholder="2h, 3 days, 1w";
                label for="ex-reason" { "Reason" }
                input #ex-reason name="reason" required maxlength="300";
                p { button type="submit" { "Grant the exception" } }
            }
        }
    }
}

/// The exceptions as a table, with whether each is in force and a revoke
/// button for those that are.
fn exceptions_table(admin: &Admin, list: &[(Exception, bool)]) -> Markup {
    html! {
        div.table { table {
            thead { tr { th scope="col" { "#" } th scope="col" { "Who" } th scope="col" { "Where" } th scope="col" { "Until" } th scope="col" { "Granted by" } th scope="col" { "Reason" } th scope="col" { "State" } } }
            tbody {
                @for (e, live) in list {
                    tr class=(if *live { "live" } else { "expired" }) {
                        td { (e.id) }
                        td { (e.target.to_string()) }
                        td { (Origin::from(e.platform)) " " (e.workspace) }
                        td { (format_time(e.until_ms)) }
                        td { (e.granted_by) }
                        td { (e.reason) }
                        td {
                            @if *live {
                                form method="post" action="/admin/exceptions/revoke" {
                                    (csrf(admin))
                                    input type="hidden" name="id" value=(e.id);
                                    button.secondary type="submit" aria-label=(format!("Revoke exception {}", e.id)) { "Revoke" }
                                }
                            } @else { "ended" }
                        }
                    }
                }
            }
        } }
    }
}

/// `/admin/exceptions`.
pub(crate) async fn exceptions(admin: Admin, State(c): State<Shared>) -> Response {
    exceptions_page(&admin, &c, None).await
}

/// Grants an exception from the form, in the admin's own workspace or
/// server when signed in through one.
pub(crate) async fn exception_add(State(c): State<Shared>, form: AdminForm) -> Response {
    let admin = &form.admin;
    let id = form.get("id").trim();
    let reason = form.get("reason").trim();
    let problem = if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Some("The id must be a user or channel id: letters, digits, _ . - (at most 64).".to_owned())
    } else if reason.is_empty() || reason.chars().count() > 300 {
        Some("Give a reason (at most 300 characters).".to_owned())
    } else {
        None
    };
    let words = crate::commands::split_words(form.get("duration"));
    let duration = match (problem, crate::commands::parse_duration(&words)) {
        (Some(p), _) => return exceptions_page(admin, &c, Some(notice(&p, false))).await,
        (None, None) => {
            let p = format!(
                "I could not read the duration `{}`: use e.g. 2h, 90 minutes, 3 days, 1w.",
                form.get("duration")
            );
            return exceptions_page(admin, &c, Some(notice(&p, false))).await;
        }
        (None, Some(d)) => d,
    };
    let target = if form.get("kind") == "channel" {
        ExceptionTarget::Channel(id.to_owned())
    } else {
        ExceptionTarget::User(id.to_owned())
    };
    let (platform, workspace) = match admin.scope() {
        Some((p, w)) => (Some(p), w.to_owned()),
        // Anything but a platform's name: every platform.
        None => (Platform::parse(form.get("platform")).ok(), String::new()),
    };
    let caller = admin.caller();
    let by = if caller.user_name.is_empty() {
        caller.user_id.clone()
    } else {
        format!("{} ({})", caller.user_name, caller.user_id)
    };
    let said = match c
        .store()
        .exception_grant(platform, &workspace, &target, duration, reason, &by)
        .await
    {
        Ok(e) => notice(
            &format!(
                "Exception #{} granted: {} until {}.",
                e.id,
                e.target,
                format_time(e.until_ms)
            ),
            true,
        ),
        Err(e) => return db_error(e),
    };
    exceptions_page(admin, &c, Some(said)).await
}

/// Revokes an exception (`exempt revoke`).
pub(crate) async fn exception_revoke(State(c): State<Shared>, form: AdminForm) -> Response {
    let Ok(id) = form.get("id").trim().parse::<i64>() else {
        return view::error_page(
            StatusCode::BAD_REQUEST,
            "Which exception? The form named none.",
        );
    };
    let said = c
        .commands
        .run(&form.admin.caller(), &format!("exempt revoke {id}"))
        .await;
    let ok = said.contains("revoked");
    exceptions_page(&form.admin, &c, Some(notice(&said, ok))).await
}
