//! Exception requests, platform-neutral: an employee asks for a
//! time-limited exception, an admin approves or denies it.
//!
//! Every way in (the `/linkguard exempt request …` words, Slack's modal and
//! buttons, Discord's components, the web console) calls the functions
//! here, so validation, admin rights and tenancy are decided once:
//!
//! - [`Commands::request_submit`] validates (reason, subject, a duration
//!   from [`REQUEST_DURATIONS`], who it may cover, how many are pending) and
//!   stores the request;
//! - [`Commands::request_decide`] lets an admin of the request's own
//!   workspace approve or deny it (one compare-and-swap in the store: the
//!   second click is told who decided first);
//! - [`Commands::request_cancel`] lets the requester withdraw it.
//!
//! Errors are a [`RequestError`] whose message names what was wrong, for the
//! UIs to show as is. Showing the request in the admin channel and telling
//! the requester is the connectors' job, driven by the store's delivery
//! outbox (see `store::requests`), so a request made anywhere reaches them.

use super::{parse_duration, parse_target, split_words, Caller, Commands};
use crate::store::{
    redact_text, Created, Decided, Exception, ExceptionRequest, ExceptionTarget, NewRequest,
    RequestState, StoreError,
};
use std::fmt::Write as _;
use std::time::Duration;

/// One duration an employee may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDuration {
    /// Short code, used in command words and as the UI option's value.
    pub code: &'static str,
    /// What people read.
    pub label: &'static str,
    /// Length in seconds.
    pub secs: u64,
}

impl RequestDuration {
    /// As a [`Duration`].
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

/// The durations an exception may be requested for, shortest first: the
/// one list both chat UIs and the console offer.
pub const REQUEST_DURATIONS: [RequestDuration; 4] = [
    RequestDuration {
        code: "1h",
        label: "1 hour",
        secs: 3600,
    },
    RequestDuration {
        code: "1d",
        label: "1 day",
        secs: 86_400,
    },
    RequestDuration {
        code: "7d",
        label: "7 days",
        secs: 7 * 86_400,
    },
    RequestDuration {
        code: "30d",
        label: "30 days",
        secs: 30 * 86_400,
    },
];

/// The duration used when a request names none.
pub const DEFAULT_REQUEST_DURATION: RequestDuration = REQUEST_DURATIONS[1];

/// Longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest subject (the tool or link) accepted, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest admin note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// How many requests one person may have waiting at once, per workspace.
pub const MAX_PENDING_PER_REQUESTER: u32 = 3;
/// The subject of a request that names no tool or link.
pub const DEFAULT_SUBJECT: &str = "banned meeting links";

/// The allowed duration matching `text` (`1h`, `1d`, `7 days`, `24 hours`,
/// `1w`, …), if it is one of [`REQUEST_DURATIONS`].
pub fn request_duration(text: &str) -> Option<RequestDuration> {
    let t = text.trim();
    if let Some(d) = REQUEST_DURATIONS.iter().find(|d| d.code == t) {
        return Some(*d);
    }
    let secs = parse_duration(&split_words(t))?.as_secs();
    REQUEST_DURATIONS.iter().find(|d| d.secs == secs).copied()
}

/// The label of a duration in seconds: the list's label, or a count of
/// hours or days for anything else (a request made by an older version).
pub fn duration_label(secs: i64) -> String {
    match REQUEST_DURATIONS.iter().find(|d| d.secs as i64 == secs) {
        Some(d) => d.label.to_owned(),
        None if secs % 86_400 == 0 => format!("{} days", secs / 86_400),
        None => format!("{} hours", (secs + 3599) / 3600),
    }
}

fn allowed_durations() -> String {
    REQUEST_DURATIONS
        .iter()
        .map(|d| d.code)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a request could not be made or decided. The message names what was
/// wrong and can be shown to the person as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The CLI has no workspace for a request to belong to.
    #[error("exception requests are made in Slack or Discord, in the workspace they apply to")]
    NoWorkspace,
    /// No reason was given.
    #[error("please give a reason: the admins decide on it")]
    EmptyReason,
    /// The reason is too long.
    #[error("the reason is {chars} characters long; at most {max} are allowed")]
    ReasonTooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The subject is too long.
    #[error("the tool or link is {chars} characters long; at most {max} are allowed")]
    SubjectTooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The admin's note is too long.
    #[error("the note is {chars} characters long; at most {max} are allowed")]
    NoteTooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The duration is not one of [`REQUEST_DURATIONS`].
    #[error(
        "`{given}` is not a duration you can ask for; choose one of {}",
        allowed_durations()
    )]
    DurationNotOffered {
        /// What was asked for.
        given: String,
    },
    /// A request may cover the requester or a channel, not someone else.
    #[error("you can ask for an exception for yourself or for a channel, not for another person")]
    TargetNotAllowed,
    /// The requester has too many requests waiting.
    #[error(
        "you already have {max} requests waiting for an admin; wait for a decision or withdraw one first"
    )]
    TooManyPending {
        /// The limit.
        max: u32,
    },
    /// Only admins decide.
    #[error("only linkguard admins can approve or deny exception requests")]
    NotAdmin,
    /// Only the requester (or an admin) may withdraw a request.
    #[error("only the person who made request #{id} can withdraw it")]
    NotYours {
        /// The request.
        id: i64,
    },
    /// No such request here (or it belongs to another workspace).
    #[error("there is no exception request #{id} here")]
    NotFound {
        /// The id asked for.
        id: i64,
    },
    /// Someone decided first (or it expired, or was withdrawn).
    #[error("request #{id} was already {state}{}", by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default())]
    AlreadyDecided {
        /// The request.
        id: i64,
        /// Its state now.
        state: RequestState,
        /// Who moved it there.
        by: Option<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of an admin's decision, for the UIs to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The request, now approved or denied.
    pub request: ExceptionRequest,
    /// The exception an approval granted.
    pub exception: Option<Exception>,
}

/// Free text from a person, trimmed, control characters (other than line
/// breaks) removed.
fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect()
}

fn check_len(
    text: &str,
    max: usize,
    err: fn(usize, usize) -> RequestError,
) -> Result<(), RequestError> {
    let chars = text.chars().count();
    if chars > max {
        return Err(err(chars, max));
    }
    Ok(())
}

impl Commands {
    /// Submits a request by `caller` for an exception covering `target`
    /// (`None`: the caller), about `subject` (a tool or link; empty: any
    /// banned link), for `duration` (one of [`REQUEST_DURATIONS`]).
    pub async fn request_submit(
        &self,
        caller: &Caller,
        target: Option<ExceptionTarget>,
        subject: &str,
        reason: &str,
        duration: Duration,
    ) -> Result<ExceptionRequest, RequestError> {
        let Some(platform) = caller.platform else {
            return Err(RequestError::NoWorkspace);
        };
        let reason = clean(reason);
        if reason.is_empty() {
            return Err(RequestError::EmptyReason);
        }
        check_len(&reason, MAX_REASON_CHARS, |chars, max| {
            RequestError::ReasonTooLong { chars, max }
        })?;
        let subject = clean(subject).replace('\n', " ");
        check_len(&subject, MAX_SUBJECT_CHARS, |chars, max| {
            RequestError::SubjectTooLong { chars, max }
        })?;
        // A pasted link may carry its passcode; the request is shown to the
        // admins and kept, so it never holds one.
        let subject = if subject.is_empty() {
            DEFAULT_SUBJECT.to_owned()
        } else {
            redact_text(&subject)
        };
        if !REQUEST_DURATIONS.iter().any(|d| d.duration() == duration) {
            return Err(RequestError::DurationNotOffered {
                given: format!("{} s", duration.as_secs()),
            });
        }
        let target = match target {
            None => ExceptionTarget::User(caller.user_id.clone()),
            Some(ExceptionTarget::User(u)) if u == caller.user_id => ExceptionTarget::User(u),
            Some(ExceptionTarget::Channel(c)) if !c.is_empty() => ExceptionTarget::Channel(c),
            Some(_) => return Err(RequestError::TargetNotAllowed),
        };
        let new = NewRequest {
            platform,
            workspace: caller.workspace.clone(),
            requester_id: caller.user_id.clone(),
            requester_name: caller.user_name.clone(),
            target,
            subject,
            reason,
            duration,
        };
        match self
            .moderator
            .store()
            .request_create(&new, MAX_PENDING_PER_REQUESTER)
            .await?
        {
            Created::Created(r) => Ok(*r),
            Created::TooManyPending(max) => Err(RequestError::TooManyPending { max }),
        }
    }

    /// Approves or denies request `id` as `caller`, with an optional note:
    /// only an admin, and only for a request of the caller's own platform
    /// and workspace (the CLI decides anywhere). A refusal is audited.
    pub async fn request_decide(
        &self,
        caller: &Caller,
        id: i64,
        approve: bool,
        note: Option<&str>,
    ) -> Result<Decision, RequestError> {
        if !caller.is_admin {
            self.refuse(
                caller,
                &format!(
                    "{} exception request #{id}",
                    if approve { "approve" } else { "deny" }
                ),
            )
            .await?;
            return Err(RequestError::NotAdmin);
        }
        let note = note.map(clean).filter(|n| !n.is_empty());
        if let Some(n) = &note {
            check_len(n, MAX_NOTE_CHARS, |chars, max| RequestError::NoteTooLong {
                chars,
                max,
            })?;
        }
        self.visible_request(caller, id).await?;
        match self
            .moderator
            .store()
            .request_decide(id, approve, &caller.author(), note.as_deref())
            .await?
        {
            Decided::Done { request, exception } => Ok(Decision { request, exception }),
            Decided::AlreadyDecided(r) => Err(RequestError::AlreadyDecided {
                id,
                state: r.state,
                by: r.decided_by,
            }),
            Decided::NotFound => Err(RequestError::NotFound { id }),
        }
    }

    /// Withdraws request `id`: its requester, or an admin of its workspace.
    pub async fn request_cancel(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<ExceptionRequest, RequestError> {
        let r = self.visible_request(caller, id).await?;
        if r.requester_id != caller.user_id && !caller.is_admin {
            return Err(RequestError::NotYours { id });
        }
        match self
            .moderator
            .store()
            .request_cancel(id, &caller.author())
            .await?
        {
            Decided::Done { request, .. } => Ok(request),
            Decided::AlreadyDecided(r) => Err(RequestError::AlreadyDecided {
                id,
                state: r.state,
                by: r.decided_by,
            }),
            Decided::NotFound => Err(RequestError::NotFound { id }),
        }
    }

    /// Requests waiting for a decision in the caller's workspace (admins only).
    pub async fn requests_pending(
        &self,
        caller: &Caller,
    ) -> Result<Vec<ExceptionRequest>, RequestError> {
        let Some(platform) = caller.platform else {
            return Err(RequestError::NoWorkspace);
        };
        if !caller.is_admin {
            return Err(RequestError::NotAdmin);
        }
        Ok(self
            .moderator
            .store()
            .requests_pending(platform, &caller.workspace)
            .await?)
    }

    /// The caller's own recent requests in this workspace, newest first.
    pub async fn requests_mine(
        &self,
        caller: &Caller,
    ) -> Result<Vec<ExceptionRequest>, RequestError> {
        let Some(platform) = caller.platform else {
            return Err(RequestError::NoWorkspace);
        };
        Ok(self
            .moderator
            .store()
            .requests_by(platform, &caller.workspace, &caller.user_id, 10)
            .await?)
    }

    /// Request `id` if the caller's tenancy covers it; a request of another
    /// workspace is "not found", so nothing about it leaks.
    async fn visible_request(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<ExceptionRequest, RequestError> {
        let r = self
            .moderator
            .store()
            .request_get(id)
            .await?
            .ok_or(RequestError::NotFound { id })?;
        if let Some(p) = caller.platform {
            if r.platform != p || r.workspace != caller.workspace {
                return Err(RequestError::NotFound { id });
            }
        }
        Ok(r)
    }

    /// `exempt request …`, `exempt requests`, `exempt approve|deny ID [note]`,
    /// `exempt cancel ID`: the words for the functions above.
    pub(super) async fn request_words(
        &self,
        caller: &Caller,
        words: &[String],
    ) -> Result<String, StoreError> {
        let verb = words[0].to_ascii_lowercase();
        let id = || {
            words
                .get(1)
                .and_then(|w| w.trim_start_matches('#').parse::<i64>().ok())
        };
        let answer = match verb.as_str() {
            "request" => match parse_request(&words[1..]) {
                Ok(p) => self
                    .request_submit(caller, p.target, &p.subject, &p.reason, p.duration)
                    .await
                    .map(|r| describe_submitted(&r)),
                Err(usage) => return Ok(usage),
            },
            "requests" => self.list_requests(caller).await,
            "approve" | "deny" => {
                let Some(id) = id() else {
                    return Ok(format!("Usage: /linkguard exempt {verb} ID [note]"));
                };
                let note = words[2..].join(" ");
                let note = note.strip_prefix("because ").unwrap_or(&note);
                self.request_decide(caller, id, verb == "approve", Some(note))
                    .await
                    .map(|d| describe_decision(&d))
            }
            _ => {
                let Some(id) = id() else {
                    return Ok("Usage: /linkguard exempt cancel ID".into());
                };
                self.request_cancel(caller, id)
                    .await
                    .map(|r| format!("Request #{} withdrawn.", r.id))
            }
        };
        match answer {
            Ok(text) => Ok(text),
            Err(RequestError::Store(e)) => Err(e),
            Err(e) => Ok(format!("{}.", capitalise(&e.to_string()))),
        }
    }

    async fn list_requests(&self, caller: &Caller) -> Result<String, RequestError> {
        let mut out = String::new();
        if caller.is_admin && caller.platform.is_some() {
            let pending = self.requests_pending(caller).await?;
            if pending.is_empty() {
                out.push_str("No exception requests are waiting.\n");
            } else {
                out.push_str("Waiting for a decision:\n");
                for r in &pending {
                    let _ = writeln!(out, "{}", describe_line(r));
                }
                out.push_str("Decide with `/linkguard exempt approve ID [note]` or `/linkguard exempt deny ID [note]`.\n");
            }
        }
        let mine = self.requests_mine(caller).await?;
        if !mine.is_empty() {
            out.push_str("Your requests:\n");
            for r in &mine {
                let _ = writeln!(out, "{}", describe_line(r));
            }
        } else if out.is_empty() {
            out.push_str("You have made no exception requests. Ask with `/linkguard exempt request for 1d about zoom because …`.");
        }
        Ok(out.trim_end().to_owned())
    }
}

/// A request's one-line summary.
pub fn describe_line(r: &ExceptionRequest) -> String {
    let mut s = format!(
        "- #{} {} by {}: {} for {}, about {}: {}",
        r.id,
        r.state,
        r.requester(),
        r.target,
        duration_label(r.duration_secs),
        r.subject,
        r.reason
    );
    if let Some(by) = &r.decided_by {
        let _ = write!(s, " (by {by})");
    }
    s
}

fn describe_submitted(r: &ExceptionRequest) -> String {
    format!(
        "Request #{} sent to the admins: an exception for {} for {}, about {}. You will hear back when an admin decides; withdraw it with `/linkguard exempt cancel {}`.",
        r.id,
        match &r.target {
            ExceptionTarget::User(_) => "you".to_owned(),
            t => t.to_string(),
        },
        duration_label(r.duration_secs),
        r.subject,
        r.id
    )
}

fn describe_decision(d: &Decision) -> String {
    match &d.exception {
        Some(x) => format!(
            "Request #{} approved: exception #{} lets {} post banned meeting links for {}.",
            d.request.id,
            x.id,
            x.target,
            duration_label(d.request.duration_secs)
        ),
        None => format!(
            "Request #{} denied; {} will be told.",
            d.request.id,
            d.request.requester()
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A request as written in words.
#[derive(Debug, PartialEq, Eq)]
struct ParsedRequest {
    target: Option<ExceptionTarget>,
    duration: Duration,
    subject: String,
    reason: String,
}

const REQUEST_USAGE: &str = "Usage: /linkguard exempt request [#channel] [for 1h|1d|7d|30d] [about TOOL OR LINK] because REASON (e.g. `exempt request for 1d about zoom because customer call`)";

/// Parses `[#channel|@me] [for DURATION] [about SUBJECT…] because REASON…`
/// (the parts before `because` in any order); `Err` is the usage to show.
fn parse_request(words: &[String]) -> Result<ParsedRequest, String> {
    let mut target = None;
    let mut duration_words: Vec<String> = Vec::new();
    let mut subject: Vec<String> = Vec::new();
    let mut reason: Option<Vec<String>> = None;
    #[derive(PartialEq)]
    enum Part {
        Start,
        For,
        About,
    }
    let mut part = Part::Start;
    for w in words {
        if let Some(r) = reason.as_mut() {
            r.push(w.clone());
            continue;
        }
        match w.to_ascii_lowercase().as_str() {
            "because" => reason = Some(Vec::new()),
            "for" if duration_words.is_empty() => part = Part::For,
            "about" | "to" | "with" if subject.is_empty() => part = Part::About,
            _ => match part {
                Part::Start => match parse_target(w) {
                    Some(t) if target.is_none() => target = Some(t),
                    _ => return Err(format!("I did not understand `{w}`. {REQUEST_USAGE}")),
                },
                Part::For => duration_words.push(w.clone()),
                Part::About => subject.push(w.clone()),
            },
        }
    }
    let Some(reason) = reason.filter(|r| !r.is_empty()) else {
        return Err(format!("Please give a reason. {REQUEST_USAGE}"));
    };
    let duration = if duration_words.is_empty() {
        DEFAULT_REQUEST_DURATION
    } else {
        let given = duration_words.join(" ");
        request_duration(&given).ok_or_else(|| {
            format!(
                "`{given}` is not a duration you can ask for; choose one of {}. {REQUEST_USAGE}",
                allowed_durations()
            )
        })?
    };
    Ok(ParsedRequest {
        target,
        duration: duration.duration(),
        subject: subject.join(" "),
        reason: reason.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s)
    }

    #[test]
    fn durations_come_from_one_list() {
        assert_eq!(request_duration("1h").map(|d| d.secs), Some(3600));
        assert_eq!(request_duration("24 hours").map(|d| d.code), Some("1d"));
        assert_eq!(request_duration("1w").map(|d| d.code), Some("7d"));
        assert_eq!(request_duration("2h"), None);
        assert_eq!(request_duration("forever"), None);
        assert_eq!(duration_label(30 * 86_400), "30 days");
        assert_eq!(duration_label(7200), "2 hours");
    }

    #[test]
    fn request_words_parse() {
        let p = parse_request(&words("for 7d about zoom because customer call")).unwrap();
        assert_eq!(p.duration, Duration::from_secs(7 * 86_400));
        assert_eq!(p.subject, "zoom");
        assert_eq!(p.reason, "customer call");
        assert_eq!(p.target, None);

        let p = parse_request(&words("<#C0FAKECHAN1|sales> because vendor for a week")).unwrap();
        assert_eq!(
            p.target,
            Some(ExceptionTarget::Channel("C0FAKECHAN1".into()))
        );
        assert_eq!(p.duration, DEFAULT_REQUEST_DURATION.duration());
        assert_eq!(p.reason, "vendor for a week");

        let p = parse_request(&words(
            "about https://x.zoom.us/j/1 for 1 hour because demo",
        ))
        .unwrap();
        assert_eq!(p.subject, "https://x.zoom.us/j/1");
        assert_eq!(p.duration, Duration::from_secs(3600));

        assert!(parse_request(&words("for 1d about zoom"))
            .unwrap_err()
            .contains("reason"));
        assert!(parse_request(&words("for 3h because x"))
            .unwrap_err()
            .contains("1h, 1d, 7d, 30d"));
        assert!(parse_request(&words("please because x"))
            .unwrap_err()
            .contains("`please`"));
    }
}
