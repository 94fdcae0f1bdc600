//! The overview page: status, rules and charts of the recent audit log.

use super::{chain_status, db_error, html_page, rule_mode};
use crate::web::view::{bars, page};
use crate::web::{Admin, Shared};
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use std::collections::HashMap;

/// The period the charts cover (`period`: 24h, 7d or 30d), and its length
/// in ms.
fn period(q: &HashMap<String, String>) -> (&'static str, i64) {
    match q.get("period").map(String::as_str) {
        Some("7d") => ("7d", 7 * 86_400_000),
        Some("30d") => ("30d", 30 * 86_400_000),
        _ => ("24h", 86_400_000),
    }
}

/// The overview: status, the rules, and the audit log's counts over the
/// period.
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
