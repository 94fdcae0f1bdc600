//! The console's pages, one module each. Reads go through the store's
//! functions (the same the CLI uses); every change goes through
//! [`crate::commands::Commands`], as a chat command would, with the
//! signed-in person as the caller. What several pages share is here: the
//! answer when the store fails, the chain's status and a rule's mode.

mod audit;
mod exceptions;
mod export;
mod overview;
mod policy;
mod settings;

pub(crate) use audit::{audit, record};
pub(crate) use exceptions::{exception_add, exception_revoke, exceptions};
pub(crate) use export::{export_csv, export_jsonl};
pub(crate) use overview::overview;
pub(crate) use policy::{policy, policy_preview, policy_rollback, policy_save, policy_test};
pub(crate) use settings::{settings, settings_save};

use super::view;
use super::Console;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use linkguard_rules::policy::Policy;
use maud::Markup;

/// The answer when the store fails: logged, and a page that says to try
/// again (nothing of the error is shown).
fn db_error(e: StoreError) -> Response {
    tracing::error!(error = %e, "console: the store failed");
    view::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The database did not answer; try again shortly.",
    )
}

/// A rendered page as the response.
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

/// Whether rule `r` acts (`enforce`) or only records (`monitor`, its own
/// mode or the whole policy's).
fn rule_mode(policy: &Policy, r: &linkguard_rules::policy::Rule) -> &'static str {
    if r.mode.as_str() == "monitor" || policy.mode().as_str() == "monitor" {
        "monitor"
    } else {
        "enforce"
    }
}
