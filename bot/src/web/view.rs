//! The console's HTML: one layout, the sign-in page, and server-rendered
//! SVG bar charts. maud escapes every value; there is no script at all.

use super::{Admin, Admins, ConsoleConfig};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

const CSS: &str = include_str!("console.css");

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · linkguard" }
            link rel="stylesheet" href="/assets/linkguard-console.css";
        }
    }
}

/// A page of the console, with navigation and the sign-out button.
pub(crate) fn page(admin: &Admin, active: &str, title: &str, body: Markup) -> Markup {
    let nav = [
        ("overview", "/admin/", "Overview"),
        ("audit", "/admin/audit", "Audit log"),
        ("policy", "/admin/policy", "Policy"),
        ("exceptions", "/admin/exceptions", "Exceptions"),
        ("settings", "/admin/settings", "Settings"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "linkguard" }
                    nav aria-label="Console" {
                        ul {
                            @for (id, href, label) in nav {
                                li {
                                    @if id == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.logout method="post" action="/admin/logout" {
                        input type="hidden" name="csrf" value=(admin.session.csrf);
                        span.who { (admin.session.user_name) " · " (admin.session.via) }
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf(admin: &Admin) -> Markup {
    html! { input type="hidden" name="csrf" value=(admin.session.csrf); }
}

/// A notice above a page's content.
pub(crate) fn notice(text: &str, ok: bool) -> Markup {
    html! {
        p class=(if ok { "notice ok" } else { "notice bad" }) role="status" { (text) }
    }
}

pub(crate) fn login(config: &ConsoleConfig, admins: &Admins, message: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in"))
            body.login {
                main id="main" {
                    h1 { "linkguard console" }
                    @if let Some(m) = message { (notice(m, m.starts_with("You are signed out"))) }
                    @if config.slack.is_some() && admins.slack.is_some() {
                        p { a.button href="/admin/login/slack" { "Sign in with Slack" } }
                    }
                    @if config.discord.is_some() && admins.discord.is_some() {
                        p { a.button href="/admin/login/discord" { "Sign in with Discord" } }
                    }
                    @if config.token.is_some() {
                        form method="post" action="/admin/login" {
                            label for="token" { "Break-glass admin token" }
                            input #token type="password" name="token" autocomplete="off" required;
                            button type="submit" { "Sign in with the token" }
                        }
                    }
                    p.small { "Admins in chat are admins here. Every sign-in is recorded in the audit log." }
                }
            }
        }
    }
}

/// After a sign-in: a same-site step to the overview, so the new
/// `SameSite=Strict` cookie is sent (see `start_session`).
pub(crate) fn signed_in() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="0;url=/admin/";
                title { "Signed in · linkguard" }
                link rel="stylesheet" href="/assets/linkguard-console.css";
            }
            body.login { main { p { "Signed in. " a href="/admin/" { "Continue to the console" } } } }
        }
    }
}

pub(crate) fn error_page(status: StatusCode, text: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            (head("Error"))
            body.login { main { h1 { (status.as_u16()) } p { (text) } p { a href="/admin/" { "Back to the console" } } } }
        }
    };
    (status, body).into_response()
}

/// A horizontal bar chart of `(label, count)` as inline SVG.
pub(crate) fn bars(title: &str, data: &[(String, i64)]) -> Markup {
    let max = data.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let row = 22;
    let height = (data.len().max(1) * row + 8) as i64;
    html! {
        figure.chart {
            figcaption { (title) }
            @if data.is_empty() {
                p.small { "Nothing in this period." }
            } @else {
                svg role="img" aria-label=(title) viewBox=(format!("0 0 400 {height}")) width="100%" xmlns="http://www.w3.org/2000/svg" {
                    @for (i, (label, n)) in data.iter().enumerate() {
                        @let y = i * row + 4;
                        @let w = (*n as f64 / max as f64 * 200.0).max(2.0);
                        text x="0" y=(y + 14) font-size="12" fill="#222" { (truncate(label, 24)) }
                        rect x="160" y=(y + 2) width=(format!("{w:.1}")) height="16" fill="#2b6cb0" {}
                        text x=(format!("{:.1}", 166.0 + w)) y=(y + 14) font-size="12" fill="#222" { (n) }
                    }
                }
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Preformatted text (already escaped by maud).
pub(crate) fn pre(text: &str) -> Markup {
    html! { pre { (text) } }
}

/// A unified diff with added and removed lines marked.
pub(crate) fn diff(old: &str, new: &str) -> Markup {
    let d = similar::TextDiff::from_lines(old, new);
    html! {
        pre.diff aria-label="Changes" {
            @for change in d.iter_all_changes() {
                @let (class, sign) = match change.tag() {
                    similar::ChangeTag::Delete => ("del", "-"),
                    similar::ChangeTag::Insert => ("ins", "+"),
                    similar::ChangeTag::Equal => ("eq", " "),
                };
                span class=(class) { (sign) " " (change.value()) }
            }
        }
    }
}
