//! One day-file, on a worker: skimmed for the fields the scan reads, each
//! message's texts evaluated.

use super::{Bytes, DayFile};
use crate::jsonsplit::{elements_while, is_empty, members, string, top_objects};
use crate::{Evaluator, Found, MessageInfo, Source, MAX_ITEM_BYTES};
use linkguard_rules::Dialect;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The fields of one message the scan reads. A day-file is skimmed with
/// [`members`], not parsed: only these values are decoded (and the rare
/// attachments and files parsed), everything else (blocks, reactions, the
/// author's profile copy) is stepped over.
#[derive(Default)]
struct Message<'a> {
    ts: Option<Cow<'a, str>>,
    user: Option<Cow<'a, str>>,
    username: Option<Cow<'a, str>>,
    text: Option<Cow<'a, str>>,
    thread_ts: Option<Cow<'a, str>>,
    team: Option<Cow<'a, str>>,
    edited: bool,
    attachments: Vec<Attachment<'a>>,
    files: Vec<File<'a>>,
    /// Decoded only when `users.json` does not know the author.
    user_profile: Option<&'a [u8]>,
    /// The edited message inside a `message_changed` record.
    message: Option<&'a [u8]>,
}

impl<'a> Message<'a> {
    fn skim(raw: &'a [u8]) -> Result<Message<'a>, String> {
        let mut m = Message::default();
        let mut bad = None;
        members(raw, |key, v| match key {
            b"ts" => m.ts = string(v),
            b"user" => m.user = string(v),
            b"username" => m.username = string(v),
            b"text" => m.text = string(v),
            b"thread_ts" => m.thread_ts = string(v),
            b"team" => m.team = string(v),
            b"edited" => m.edited = !is_empty(v),
            b"attachments" if !is_empty(v) => match serde_json::from_slice(v) {
                Ok(a) => m.attachments = a,
                Err(e) => bad = Some(format!("`attachments`: {e}")),
            },
            b"files" if !is_empty(v) => match serde_json::from_slice(v) {
                Ok(f) => m.files = f,
                Err(e) => bad = Some(format!("`files`: {e}")),
            },
            b"user_profile" => m.user_profile = Some(v),
            b"message" if v.first() == Some(&b'{') => m.message = Some(v),
            _ => {}
        })
        .map_err(|e| e.to_string())?;
        match bad {
            Some(e) => Err(e),
            None => Ok(m),
        }
    }
}

#[derive(Deserialize)]
struct Profile<'a> {
    #[serde(borrow, default)]
    display_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    real_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Attachment<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pretext: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    fallback: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    title_link: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    from_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    original_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    fields: Option<Vec<Field<'a>>>,
}

#[derive(Deserialize)]
struct Field<'a> {
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct File<'a> {
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    preview: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    plain_text: Option<Cow<'a, str>>,
}

/// Reads a whole file into the start of `buf` and returns how many bytes it
/// holds. `buf`'s length is the room it has (grown, zero-filled, only when a
/// file does not fit), so reading a file is an open, a read and a close:
/// no size lookups and no filling of the buffer before each read. A file
/// larger than `limit` bytes is refused.
fn read_bounded(
    file: std::io::Result<std::fs::File>,
    path: &Path,
    buf: &mut Vec<u8>,
    limit: u64,
) -> Result<usize, String> {
    let mut file = file.map_err(|e| format!("cannot open: {e}"))?;
    // One byte past the limit tells a file at the limit from a larger one.
    let most = usize::try_from(limit).map_or(usize::MAX, |n| n.saturating_add(1));
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if filled >= most {
                let len = file.metadata().map_or(filled as u64, |m| m.len());
                return Err(format!(
                    "a day-file of {} MiB is larger than the {} MiB limit",
                    len >> 20,
                    limit >> 20
                ));
            }
            buf.resize((2 * buf.len()).max(64 << 10).min(most), 0);
        }
        match file.read(&mut buf[filled..]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Skims and evaluates one day-file (on a worker), adding the bytes it
/// reads from a file to `progress` (a day-file out of a ZIP was counted as
/// it was unpacked).
pub(crate) fn scan_day(
    eval: &Evaluator<'_>,
    d: &DayFile,
    scratch: &mut Vec<u8>,
    progress: &AtomicU64,
    out: &mut Found,
) {
    let bytes = match &d.bytes {
        Bytes::Loaded(b) => b.as_slice(),
        Bytes::Path(path) => {
            match read_bounded(std::fs::File::open(path), path, scratch, MAX_ITEM_BYTES) {
                Ok(n) => {
                    progress.fetch_add(n as u64, Ordering::Relaxed);
                    &scratch[..n]
                }
                Err(e) => {
                    out.errors.push(crate::InputError {
                        path: d.label.clone(),
                        reason: e,
                    });
                    return;
                }
            }
        }
    };
    let channel_id = d
        .meta
        .channel_ids
        .get(&d.channel)
        .map_or(d.channel.as_str(), String::as_str);
    let evaluate = |offset: usize, raw: &[u8], out: &mut Found| {
        if let Err(e) = scan_message(eval, d, channel_id, raw, &mut out.findings) {
            out.errors.push(crate::InputError {
                path: d.label.clone(),
                reason: format!("malformed message at byte {offset}: {e}"),
            });
        }
    };
    // Most day-files hold no link the policy acts on: when the prefilter
    // finds no candidate in the raw bytes and the file has the shape of an
    // array, nothing in it is parsed. Anything else (a candidate, another
    // shape) takes the full path, which names what is wrong.
    let candidates = eval.candidates(bytes);
    let shaped = looks_like_array(bytes);
    if shaped && candidates.is_empty() {
        out.skipped_files += 1;
        return;
    }
    if let (true, false, Some(&last)) = (shaped, candidates.everywhere, candidates.hits.last()) {
        // The fast way to the messages around the candidates; anything it
        // cannot vouch for takes the full path below.
        let mut around = Vec::new();
        let mut covered = 0;
        let mut messages = 0;
        let ok = top_objects(bytes, last, |start, end| {
            messages += 1;
            let n = candidates.within(start, end);
            if n > 0 {
                covered += n;
                around.push((start, end));
            }
        });
        if ok && covered == candidates.hits.len() {
            out.messages += messages;
            for (start, end) in around {
                evaluate(start, &bytes[start..end], out);
            }
            return;
        }
    }
    // Past the last candidate nothing more is parsed (nor counted).
    let last = match candidates.hits.last() {
        Some(&last) if !candidates.everywhere => last,
        _ => usize::MAX,
    };
    let result = elements_while(bytes, |offset, raw| {
        if offset > last {
            return false;
        }
        out.messages += 1;
        // Only messages with a candidate inside are parsed; one that is not
        // an object is parsed too, to be reported.
        if candidates.within(offset, offset + raw.len()) > 0 || raw.first() != Some(&b'{') {
            evaluate(offset, raw, out);
        }
        true
    });
    if let Err(e) = result {
        out.errors.push(crate::InputError {
            path: d.label.clone(),
            reason: format!("not a Slack day-file (a JSON array of messages): {e}"),
        });
    }
}

/// Whether `b` starts with `[` and ends with `]` (whitespace and a byte-order
/// mark aside): the shape of a day-file, checked without parsing.
fn looks_like_array(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let b = b.trim_ascii();
    b.first() == Some(&b'[') && b.last() == Some(&b']')
}

fn scan_message(
    eval: &Evaluator<'_>,
    d: &DayFile,
    channel_id: &str,
    raw: &[u8],
    findings: &mut Vec<crate::Finding>,
) -> Result<(), String> {
    let outer = Message::skim(raw)?;
    // A `message_changed` record carries the edited message inside.
    let inner = outer.message.map(Message::skim).transpose()?;
    let (msg, changed) = match &inner {
        Some(m) => (m, true),
        None => (&outer, false),
    };
    let ts = msg.ts.as_deref().or(outer.ts.as_deref()).unwrap_or("");
    let user = msg.user.as_deref().unwrap_or("");
    let profile: Option<Profile<'_>> = match d.meta.users.get(user) {
        Some(_) => None,
        None => msg
            .user_profile
            .and_then(|p| serde_json::from_slice(p).ok()),
    };
    let author = d
        .meta
        .users
        .get(user)
        .map(String::as_str)
        .or_else(|| {
            profile
                .as_ref()
                .and_then(|p| p.display_name.as_deref())
                .filter(|n| !n.is_empty())
        })
        .or_else(|| {
            profile
                .as_ref()
                .and_then(|p| p.real_name.as_deref())
                .filter(|n| !n.is_empty())
        })
        .or(msg.username.as_deref())
        .unwrap_or(user);
    let info = MessageInfo {
        platform: Dialect::Slack,
        workspace: &d.meta.export_name,
        workspace_id: msg.team.as_deref().or(outer.team.as_deref()).unwrap_or(""),
        channel: &d.channel,
        channel_id,
        thread: msg.thread_ts.as_deref().filter(|t| *t != ts),
        message_id: ts,
        time_ms: crate::parse_slack_ts_ms(ts),
        author,
        author_id: user,
        edited: changed || msg.edited,
        input: &d.label,
        line: None,
    };
    let text = msg.text.as_deref().map(|t| (Source::Text, t));
    let attachments = msg.attachments.iter().flat_map(|a| {
        [
            a.text.as_deref(),
            a.pretext.as_deref(),
            a.fallback.as_deref(),
            a.title.as_deref(),
            a.title_link.as_deref(),
            a.from_url.as_deref(),
            a.original_url.as_deref(),
        ]
        .into_iter()
        .chain(
            a.fields
                .iter()
                .flatten()
                .flat_map(|f| [f.title.as_deref(), f.value.as_deref()]),
        )
        .flatten()
        .map(|t| (Source::Attachment, t))
    });
    let files = msg
        .files
        .iter()
        .flat_map(|f| {
            [
                f.title.as_deref(),
                f.name.as_deref(),
                f.preview.as_deref(),
                f.plain_text.as_deref(),
            ]
        })
        .flatten()
        .map(|t| (Source::File, t));
    eval.message(
        &info,
        text.into_iter().chain(attachments).chain(files),
        findings,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_whole_into_a_reused_buffer_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, len: usize| {
            let p = dir.path().join(name);
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(&p, &bytes).unwrap();
            (p, bytes)
        };
        let read = |p: &Path, buf: &mut Vec<u8>, limit: u64| {
            read_bounded(std::fs::File::open(p), p, buf, limit)
        };
        let mut buf = Vec::new();
        // Larger than the first buffer: it grows and the whole file is read.
        let (big, want) = write("big.json", 300_000);
        assert_eq!(read(&big, &mut buf, 1 << 20), Ok(want.len()));
        assert_eq!(&buf[..want.len()], &want[..]);
        // A smaller file after it: only its own bytes count.
        let (small, want) = write("small.json", 10);
        assert_eq!(read(&small, &mut buf, 1 << 20), Ok(10));
        assert_eq!(&buf[..10], &want[..]);
        // Exactly at the limit is read; one byte more is refused.
        let mut buf = Vec::new();
        assert_eq!(read(&big, &mut buf, 300_000), Ok(300_000));
        let err = read(&big, &mut Vec::new(), 299_999).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        let err = read(&dir.path().join("missing.json"), &mut buf, 10).unwrap_err();
        assert!(err.starts_with("cannot open"), "{err}");
    }
}
