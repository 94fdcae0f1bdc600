//! The audit log's exports, CSV and JSONL, streamed page by page.

use super::audit::filter_from;
use crate::cli::audit::{csv_row, jsonl_line, CSV_HEADER};
use crate::store::AuditFilter;
use crate::web::view;
use crate::web::{Admin, Console, Shared};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Records read per step of an export.
const EXPORT_PAGE: i64 = 1000;

/// The records the query's filters select, oldest first, as CSV (`csv`)
/// or JSONL, like `linkguard audit export`.
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

/// `/admin/audit/export.csv`.
pub(crate) async fn export_csv(
    _admin: Admin,
    State(c): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    export(&c, &q, true).await
}

/// `/admin/audit/export.jsonl`.
pub(crate) async fn export_jsonl(
    _admin: Admin,
    State(c): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    export(&c, &q, false).await
}
