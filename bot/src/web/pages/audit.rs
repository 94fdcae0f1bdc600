//! The audit log: its filtered, paged list and one record with the chain's
//! verdict on it.

use super::{chain_status, db_error, html_page};
use crate::cli::audit::parse_time_ms;
use crate::moderation::Platform;
use crate::store::{AuditAction, AuditFilter, AuditRecord, Origin};
use crate::web::view::{self, notice, page};
use crate::web::{Admin, Shared};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use linkguard_rules::timefmt::format_time;
use maud::{html, Markup};
use std::collections::HashMap;

/// Records on one audit page.
const PAGE: i64 = 50;

/// The audit page's filters: query key and label.
const FILTERS: &[(&str, &str)] = &[
    ("since", "From (YYYY-MM-DD or RFC 3339)"),
    ("until", "Until"),
    ("platform", "Platform"),
    ("channel", "Channel"),
    ("author", "Author"),
    ("rule", "Rule"),
    ("kind", "Kind"),
    ("outcome", "Outcome"),
    ("q", "Search"),
];

/// The origins the platform filter offers (`any`, for a scanned message
/// of no known platform, would read as "no filter").
const PLATFORM_CHOICES: &[&str] = &[
    Origin::Platform(Platform::Slack).as_str(),
    Origin::Platform(Platform::Discord).as_str(),
    Origin::Cli.as_str(),
    Origin::Console.as_str(),
    Origin::Linkguard.as_str(),
];

/// The fixed values a filter can take, offered as a list.
fn choices(filter: &str) -> Option<&'static [&'static str]> {
    Some(match filter {
        "platform" => PLATFORM_CHOICES,
        "kind" => &[
            "detected",
            "action",
            "policy_changed",
            "exception",
            "refused",
            "rejected_request",
            "historical",
            "console_login",
            "startup",
            "purged",
        ],
        "outcome" => &["ok", "failed", "degraded", "pending", "would_act"],
        _ => return None,
    })
}

/// The audit filter a query describes, or what is wrong with it.
pub(super) fn filter_from(q: &HashMap<String, String>) -> Result<AuditFilter, String> {
    let text = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(200).collect::<String>())
    };
    let time = |k: &str| -> Result<Option<i64>, String> {
        text(k)
            .map(|v| parse_time_ms(&v).map_err(|e| format!("{k}: {e}")))
            .transpose()
    };
    Ok(AuditFilter {
        since_ms: time("since")?,
        until_ms: time("until")?,
        platform: text("platform")
            .map(|v| Origin::parse(&v).map_err(|e| format!("platform: {e}")))
            .transpose()?,
        channel: text("channel"),
        author: text("author"),
        rule_id: text("rule"),
        kind: text("kind"),
        outcome: text("outcome"),
        text: text("q"),
        ..AuditFilter::default()
    })
}

/// The filters of query `q` as a query string, without `skip`.
fn query_string(q: &HashMap<String, String>, skip: &str) -> String {
    let pairs: Vec<(&str, &str)> = FILTERS
        .iter()
        .filter(|(k, _)| *k != skip)
        .filter_map(|(k, _)| {
            q.get(*k)
                .filter(|v| !v.is_empty())
                .map(|v| (*k, v.as_str()))
        })
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// The audit log, newest first, filtered by the query, [`PAGE`] records at
/// a time (`before`: the seq to continue below).
pub(crate) async fn audit(
    admin: Admin,
    State(c): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (filter, problem) = match filter_from(&q) {
        Ok(f) => (f, None),
        Err(e) => (AuditFilter::default(), Some(e)),
    };
    let before = q.get("before").and_then(|b| b.parse::<i64>().ok());
    let rows = match c
        .store()
        .list(&AuditFilter {
            before_seq: before,
            limit: Some(PAGE + 1),
            newest_first: true,
            ..filter
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return db_error(e),
    };
    let more = rows.len() as i64 > PAGE;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let qs = query_string(&q, "");
    let body = html! {
        @if let Some(p) = &problem { (notice(&format!("That filter was not applied: {p}"), false)) }
        (filter_form(&q))
        p {
            a href=(format!("/admin/audit/export.csv?{qs}")) download { "Export CSV" } " · "
            a href=(format!("/admin/audit/export.jsonl?{qs}")) download { "Export JSONL" }
        }
        (records_table(rows))
        @if rows.is_empty() { p { "No records match." } }
        @if more {
            @if let Some(last) = rows.last() {
                p { a rel="next" href=(format!("/admin/audit?{qs}&before={}", last.seq)) { "Older records" } }
            }
        }
    };
    html_page(page(&admin, "audit", "Audit log", body))
}

/// The filter form, showing the filters of query `q`: a list for those
/// with fixed values ([`choices`]), a text field for the others.
fn filter_form(q: &HashMap<String, String>) -> Markup {
    html! {
        form.filters method="get" action="/admin/audit" role="search" {
            @for (k, label) in FILTERS {
                @let now = q.get(*k).map_or("", String::as_str);
                div {
                    label for=(format!("f-{k}")) { (label) }
                    @if let Some(choices) = choices(k) {
                        select id=(format!("f-{k}")) name=(k) {
                            option value="" { "any" }
                            @for c in choices { option value=(c) selected[*c == now] { (c) } }
                        }
                    } @else {
                        input id=(format!("f-{k}")) name=(k) value=(now) size="12";
                    }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

/// One page of audit records as a table, each linked to its own page.
fn records_table(rows: &[AuditRecord]) -> Markup {
    html! {
        div.table {
            table {
                caption.small { "Newest first" }
                thead { tr {
                    th scope="col" { "Seq" } th scope="col" { "Time" } th scope="col" { "Kind" }
                    th scope="col" { "Platform" } th scope="col" { "Channel" } th scope="col" { "Author" }
                    th scope="col" { "Rule" } th scope="col" { "Provider" } th scope="col" { "Action" }
                    th scope="col" { "Outcome" } th scope="col" { "Detail" }
                } }
                tbody {
                    @for r in rows {
                        @let e = &r.entry;
                        tr {
                            td { a href=(format!("/admin/audit/{}", r.seq)) { (r.seq) } }
                            td { (format_time(e.at_ms)) }
                            td { (e.kind.as_str()) }
                            td { (e.platform) }
                            td { (e.channel.as_deref().unwrap_or("")) }
                            td { (e.author.as_deref().unwrap_or("")) }
                            td { (e.rule_id.as_deref().unwrap_or("")) }
                            td { (e.provider.as_deref().unwrap_or("")) }
                            td { (e.action.map_or("", AuditAction::as_str)) }
                            td { (e.outcome.as_ref().map_or("", |o| o.as_str())) }
                            td { (e.detail.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// One audit record with every field it has and whether the chain
/// verifies through it.
pub(crate) async fn record(
    admin: Admin,
    State(c): State<Shared>,
    Path(seq): Path<String>,
) -> Response {
    let Ok(seq) = seq.parse::<i64>() else {
        return view::error_page(StatusCode::NOT_FOUND, "There is no such record.");
    };
    let r = match c.store().record(seq).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return view::error_page(
                StatusCode::NOT_FOUND,
                "There is no such record (it may have been purged).",
            )
        }
        Err(e) => return db_error(e),
    };
    let (ok, chain, verified) = chain_status(&c, seq).await;
    let e = &r.entry;
    let fields: Vec<(&str, String)> = vec![
        ("Time", format_time(e.at_ms)),
        ("Kind", e.kind.as_str().to_owned()),
        ("Platform", e.platform.to_string()),
        ("Workspace", e.workspace.clone().unwrap_or_default()),
        ("Channel", e.channel.clone().unwrap_or_default()),
        ("Thread", e.thread.clone().unwrap_or_default()),
        ("Message", e.message_id.clone().unwrap_or_default()),
        (
            "Revision",
            e.revision
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default(),
        ),
        ("Author", e.author.clone().unwrap_or_default()),
        ("Rule", e.rule_id.clone().unwrap_or_default()),
        (
            "Policy version",
            e.policy_version.map(|v| v.to_string()).unwrap_or_default(),
        ),
        ("Provider", e.provider.clone().unwrap_or_default()),
        ("Link", e.link.clone().unwrap_or_default()),
        ("Alternative", e.alternative.clone().unwrap_or_default()),
        (
            "Action",
            e.action.map(|a| a.to_string()).unwrap_or_default(),
        ),
        (
            "Outcome",
            e.outcome
                .as_ref()
                .map(|o| o.as_str().to_owned())
                .unwrap_or_default(),
        ),
        ("Detail", e.detail.clone().unwrap_or_default()),
        ("Message text", e.message_text.clone().unwrap_or_default()),
        ("Previous hash", r.prev_hash.clone()),
        ("Hash", r.hash.clone()),
    ];
    let body = html! {
        dl {
            dt { "Chain position" } dd { "seq " (r.seq) }
            dt { "Verification" } dd {
                @if !ok { strong { (chain) } }
                @else if r.seq <= verified { "The chain verifies through this record: " (chain) }
                @else { "Newer than the last walk of the chain (" (chain) "); reload in a minute." }
            }
            @for (k, v) in &fields { @if !v.is_empty() { dt { (k) } dd { (v) } } }
        }
        p { a href="/admin/audit" { "Back to the audit log" } }
    };
    html_page(page(
        &admin,
        "audit",
        &format!("Audit record {}", r.seq),
        body,
    ))
}
