//! The console's pages. Reads go through the store's functions (the same
//! the CLI uses); every change goes through [`crate::commands::Commands`],
//! as a chat command would, with the signed-in person as the caller.

use super::view::{self, bars, csrf, notice, page};
use super::{Admin, AdminForm, Console, Shared};
use crate::cli::audit::{csv_row, jsonl_line, parse_time_ms, CSV_HEADER};
use crate::moderation::Platform;
use crate::store::{AuditAction, AuditFilter, ExceptionTarget, Origin, StoreError};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use linkguard_rules::policy::Policy;
use linkguard_rules::timefmt::format_time;
use maud::{html, Markup};
use std::collections::HashMap;

/// Records on one audit page.
const PAGE: i64 = 50;
/// Records read per step of an export.
const EXPORT_PAGE: i64 = 1000;

fn db_error(e: StoreError) -> Response {
    tracing::error!(error = %e, "console: the store failed");
    view::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The database did not answer; try again shortly.",
    )
}

fn html_page(m: Markup) -> Response {
    m.into_response()
}

/// The chain's status: whether it verified, what to say, and the last seq
/// verified. Verified at most once a minute (it walks the log); records
/// newer than the last walk are said to be waiting for the next one, unless
/// the page is about one of them (`need`): then the chain is walked now.
async fn chain_status(c: &Console, need: i64) -> (bool, String, i64) {
    let cached = c.chain.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (ok, text, verified) = match cached {
        Some((at, ok, text, verified))
            if at.elapsed() < std::time::Duration::from_secs(60) && verified >= need =>
        {
            (ok, text, verified)
        }
        _ => {
            let (ok, text, verified) = match c.store().verify().await {
                Ok(r) if r.is_ok() => (
                    true,
                    format!(
                        "verified up to seq {} ({} records checked from seq {}); head hash {}…",
                        r.head_seq,
                        r.checked,
                        r.from_seq + 1,
                        r.head_hash.get(..16).unwrap_or(&r.head_hash)
                    ),
                    r.head_seq,
                ),
                Ok(r) => (
                    false,
                    format!(
                        "BROKEN: {}",
                        r.problem.map(|p| p.to_string()).unwrap_or_default()
                    ),
                    0,
                ),
                Err(e) => (false, format!("cannot verify: {e}"), 0),
            };
            *c.chain.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((std::time::Instant::now(), ok, text.clone(), verified));
            (ok, text, verified)
        }
    };
    let head = c.store().head().await.map_or(verified, |(seq, _)| seq);
    if ok && head > verified {
        let n = head - verified;
        return (
            ok,
            format!("{text}; {n} newer record(s) are checked at the next walk (once a minute)"),
            verified,
        );
    }
    (ok, text, verified)
}

fn period(q: &HashMap<String, String>) -> (&'static str, i64) {
    match q.get("period").map(String::as_str) {
        Some("7d") => ("7d", 7 * 86_400_000),
        Some("30d") => ("30d", 30 * 86_400_000),
        _ => ("24h", 86_400_000),
    }
}

pub(crate) async fn overview(
    admin: Admin,
    State(c): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (name, span) = period(&q);
    let since = crate::store::now_ms() - span;
    let store = c.store();
    let mut charts = Vec::new();
    for (title, kinds, col) in [
        ("Detections by rule", &["detected"][..], "rule_id"),
        ("Detections by provider", &["detected"], "provider"),
        ("Detections by platform", &["detected"], "platform"),
        ("Detections by channel", &["detected"], "channel"),
        ("Actions by outcome", &["action"], "outcome"),
        ("Actions by kind of action", &["action"], "action"),
    ] {
        match store.audit_counts(since, kinds, col, 10).await {
            Ok(d) => charts.push(bars(title, &d)),
            Err(e) => return db_error(e),
        }
    }
    let pending = match store.pending().await {
        Ok(p) => p.len(),
        Err(e) => return db_error(e),
    };
    let (chain_ok, chain, _) = chain_status(&c, 0).await;
    let active = c.moderator.policy();
    let policy = &active.policy;
    let connections = crate::metrics::global().connections();
    let body = html! {
        nav aria-label="Period" {
            p { "Period: "
                @for p in ["24h", "7d", "30d"] {
                    @if p == name { strong { (p) } " " } @else { a href=(format!("/admin/?period={p}")) { (p) } " " }
                }
            }
        }
        div.grid {
            section.card aria-labelledby="status" {
                h2 #status { "Status" }
                dl {
                    dt { "Policy" } dd { "version " (active.version.map_or("built-in".into(), |v| v.to_string())) ", " (policy.mode().as_str()) " mode" }
                    dt { "Pending actions" } dd { (pending) }
                    dt { "Audit chain" } dd { @if chain_ok { (chain) } @else { strong { (chain) } } }
                    @for (platform, up) in &connections {
                        dt { (platform) } dd { @if *up { "connected" } @else { strong { "not connected" } } }
                    }
                }
            }
            section.card aria-labelledby="rules" {
                h2 #rules { "Rules" }
                table {
                    thead { tr { th scope="col" { "Rule" } th scope="col" { "Action" } th scope="col" { "Mode" } } }
                    tbody {
                        @for r in policy.rules() {
                            tr { td { (r.id.as_str()) } td { (format!("{:?}", r.action).to_lowercase()) } td { (rule_mode(policy, r)) } }
                        }
                    }
                }
            }
            @for chart in charts { (chart) }
        }
    };
    html_page(page(&admin, "overview", "Overview", body))
}

fn rule_mode(policy: &Policy, r: &linkguard_rules::policy::Rule) -> &'static str {
    if r.mode.as_str() == "monitor" || policy.mode().as_str() == "monitor" {
        "monitor"
    } else {
        "enforce"
    }
}

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
fn filter_from(q: &HashMap<String, String>) -> Result<AuditFilter, String> {
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
        p {
            a href=(format!("/admin/audit/export.csv?{qs}")) download { "Export CSV" } " · "
            a href=(format!("/admin/audit/export.jsonl?{qs}")) download { "Export JSONL" }
        }
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
        @if rows.is_empty() { p { "No records match." } }
        @if more {
            @if let Some(last) = rows.last() {
                p { a rel="next" href=(format!("/admin/audit?{qs}&before={}", last.seq)) { "Older records" } }
            }
        }
    };
    html_page(page(&admin, "audit", "Audit log", body))
}

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

async fn export(c: &Console, q: &HashMap<String, String>, csv: bool) -> Response {
    let filter = match filter_from(q) {
        Ok(f) => f,
        Err(e) => return view::error_page(StatusCode::BAD_REQUEST, &e),
    };
    // Page through the log as the body is sent, like `linkguard audit
    // export`: any size, bounded memory.
    let store = c.store().clone();
    let head = csv.then(|| format!("{}\n", CSV_HEADER.join(",")));
    let pages = futures::stream::unfold(Some(0i64), move |after| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            let after = after?;
            let page = store
                .list(&AuditFilter {
                    after_seq: Some(after),
                    limit: Some(EXPORT_PAGE),
                    ..filter
                })
                .await;
            match page {
                Err(e) => {
                    tracing::error!(error = %e, "console export: the store failed");
                    Some((Err(std::io::Error::other("the database failed")), None))
                }
                Ok(page) => {
                    let mut out = String::new();
                    for r in &page {
                        if csv {
                            out.push_str(&csv_row(r));
                        } else {
                            out.push_str(&jsonl_line(r).unwrap_or_default());
                        }
                        out.push('\n');
                    }
                    let next = (page.len() as i64 == EXPORT_PAGE)
                        .then(|| page.last().map(|r| r.seq))
                        .flatten();
                    Some((Ok(axum::body::Bytes::from(out)), next))
                }
            }
        }
    });
    let body = futures::StreamExt::chain(
        futures::stream::iter(head.map(|h| Ok(axum::body::Bytes::from(h)))),
        pages,
    );
    let (mime, name) = if csv {
        ("text/csv; charset=utf-8", "linkguard-audit.csv")
    } else {
        ("application/x-ndjson", "linkguard-audit.jsonl")
    };
    (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

pub(crate) async fn export_csv(
    _admin: Admin,
    State(c): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    export(&c, &q, true).await
}

pub(crate) async fn export_jsonl(
    _admin: Admin,
    State(c): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    export(&c, &q, false).await
}

/// The policy page, with an optional message and an edit in progress.
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
            div.table { table {
                thead { tr { th scope="col" { "Rule" } th scope="col" { "Providers" } th scope="col" { "Hosts / patterns" } th scope="col" { "Action" } th scope="col" { "Mode" } th scope="col" { "Alternative" } th scope="col" { "Reason" } } }
                tbody {
                    @for r in active.policy.rules() {
                        tr {
                            td { (r.id.as_str()) }
                            td { (r.providers.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")) }
                            td { (r.hosts.iter().chain(r.patterns.iter()).cloned().collect::<Vec<_>>().join(", ")) }
                            td { (format!("{:?}", r.action).to_lowercase()) }
                            td { (rule_mode(&active.policy, r)) }
                            td { (r.alternative.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default()) }
                            td { (r.reason) }
                        }
                    }
                }
            } }
        }
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
        section aria-labelledby="edit-h" {
            h2 #edit-h { "Edit the policy (TOML)" }
            form method="post" action="/admin/policy/preview" {
                (csrf(admin))
                input type="hidden" name="base" value=(base_field);
                label for="policy-text" { "Policy text" }
                textarea #policy-text name="text" rows="24" spellcheck="false" { (text) }
                button type="submit" { "Check and show the changes" }
            }
        }
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
    };
    html_page(page(admin, "policy", "Policy", body))
}

pub(crate) async fn policy(admin: Admin, State(c): State<Shared>) -> Response {
    policy_page(&admin, &c, None, None).await
}

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

fn base_version(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

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
    // `None`: every platform.
    let platforms: Vec<Option<Platform>> = match scope {
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
    };
    let body = html! {
        @if let Some(t) = top { (t) }
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
                        @for p in &platforms { option value=(Origin::from(*p)) { (p.map_or("every platform", Platform::as_str)) } }
                    }
                }
                label for="ex-duration" { "For how long" }
                input #ex-duration name="duration" required placeholder="2h, 3 days, 1w";
                label for="ex-reason" { "Reason" }
                input #ex-reason name="reason" required maxlength="300";
                p { button type="submit" { "Grant the exception" } }
            }
        }
        section aria-labelledby="list-h" {
            h2 #list-h { "Exceptions" }
            div.table { table {
                thead { tr { th scope="col" { "#" } th scope="col" { "Who" } th scope="col" { "Where" } th scope="col" { "Until" } th scope="col" { "Granted by" } th scope="col" { "Reason" } th scope="col" { "State" } } }
                tbody {
                    @for (e, live) in &visible {
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
            @if visible.is_empty() { p { "No exceptions yet." } }
        }
    };
    html_page(page(admin, "exceptions", "Exceptions", body))
}

pub(crate) async fn exceptions(admin: Admin, State(c): State<Shared>) -> Response {
    exceptions_page(&admin, &c, None).await
}

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

pub(crate) async fn settings(admin: Admin, State(c): State<Shared>) -> Response {
    settings_page(&admin, &c, None).await
}

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
