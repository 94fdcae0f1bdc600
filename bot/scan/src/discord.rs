//! DiscordChatExporter's JSON layout: one object per channel with `guild`,
//! `channel` and a `messages` array (`id`, `timestamp`, `timestampEdited`,
//! `content`, `author`, `embeds`, `attachments`, …).
//!
//! The reader walks the top-level object with [`RawReader`], parses the small
//! `guild` and `channel` values, and cuts the `messages` array into batches
//! of whole elements for the workers, so a file of any size is read with a
//! bounded buffer. Elements are parsed with borrowed, field-selective structs;
//! everything else in a message (reactions, mentions, stickers) is skipped.

use super::jsonsplit::{is_empty, members, string};
use super::jsonstream::{RawReader, SplitError};
use super::{Evaluator, Found, MessageInfo, Source, BATCH_BYTES, MAX_ITEM_BYTES};
use linkguard_rules::Dialect;
use serde::Deserialize;
use std::borrow::Cow;
use std::path::Path;

/// The channel a batch of messages belongs to.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    input: String,
    guild: String,
    guild_id: String,
    channel: String,
    /// For threads, the parent channel (what rules are scoped by).
    channel_id: String,
    thread: Option<String>,
}

/// Whole message elements of one channel, where the reader's buffer holds
/// them (commas and whitespace between), with where each one is.
pub(crate) struct Batch<'b> {
    meta: &'b Meta,
    bytes: &'b [u8],
    /// (start, end) in `bytes`, and the element's offset in the file.
    items: &'b [(usize, usize, u64)],
}

#[derive(Deserialize)]
struct Guild {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Channel {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default, rename = "categoryId")]
    category_id: Option<String>,
}

/// The fields of one message the scan reads, skimmed with [`members`]:
/// reactions, mentions, stickers and the like are stepped over unparsed.
#[derive(Default)]
struct Message<'a> {
    id: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    edited: bool,
    content: Option<Cow<'a, str>>,
    author_id: Option<Cow<'a, str>>,
    author_name: Option<Cow<'a, str>>,
    author_nickname: Option<Cow<'a, str>>,
    embeds: Vec<Embed<'a>>,
    attachments: Vec<Attachment<'a>>,
}

impl<'a> Message<'a> {
    fn skim(raw: &'a [u8]) -> Result<Message<'a>, String> {
        let mut m = Message::default();
        let mut bad = None;
        let mut author = None;
        members(raw, |key, v| match key {
            b"id" => m.id = string(v),
            b"timestamp" => m.timestamp = string(v),
            b"timestampEdited" => m.edited = !is_empty(v),
            b"content" => m.content = string(v),
            b"author" => author = Some(v),
            b"embeds" if !is_empty(v) => match serde_json::from_slice(v) {
                Ok(e) => m.embeds = e,
                Err(e) => bad = Some(format!("`embeds`: {e}")),
            },
            b"attachments" if !is_empty(v) => match serde_json::from_slice(v) {
                Ok(a) => m.attachments = a,
                Err(e) => bad = Some(format!("`attachments`: {e}")),
            },
            _ => {}
        })
        .map_err(|e| e.to_string())?;
        if let Some(a) = author.filter(|a| a.first() == Some(&b'{')) {
            members(a, |key, v| match key {
                b"id" => m.author_id = string(v),
                b"name" => m.author_name = string(v),
                b"nickname" => m.author_nickname = string(v),
                _ => {}
            })
            .map_err(|e| format!("`author`: {e}"))?;
        }
        match bad {
            Some(e) => Err(e),
            None => Ok(m),
        }
    }
}

#[derive(Deserialize)]
struct Embed<'a> {
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    author: Option<EmbedAuthor<'a>>,
    #[serde(borrow, default)]
    fields: Vec<EmbedField<'a>>,
    #[serde(borrow, default)]
    footer: Option<EmbedFooter<'a>>,
}

#[derive(Deserialize)]
struct EmbedAuthor<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EmbedField<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EmbedFooter<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Attachment<'a> {
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "fileName")]
    file_name: Option<Cow<'a, str>>,
}

/// Where a Discord file's batches and progress go: the worker that reads
/// the file evaluates each batch as soon as it is cut.
pub(crate) trait Sink {
    /// A batch of messages is ready (borrowed from the reader's buffer,
    /// only until the call returns).
    fn batch(&mut self, b: &Batch<'_>);
    /// `n` more bytes of the file were read.
    fn advance(&mut self, n: u64);
    /// The file (or the rest of it) could not be scanned.
    fn error(&mut self, path: String, reason: String);
}

/// Streams one DiscordChatExporter file into batches (on a worker: a big
/// export's splitting then runs beside the other inputs, not on the reader).
pub(crate) fn scan_file(path: &Path, sink: &mut dyn Sink) {
    let label = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return sink.error(label, format!("cannot open: {e}")),
    };
    let mut reported = 0;
    let result = walk(file, &label, sink, &mut reported);
    // Whatever was not yet counted (the tail, or the rest after an error).
    if let Ok(meta) = std::fs::metadata(path) {
        sink.advance(meta.len().saturating_sub(reported));
    }
    if let Err(e) = result {
        sink.error(label, format!("not a valid DiscordChatExporter file: {e}"));
    }
}

fn walk(
    file: impl std::io::Read,
    label: &str,
    sink: &mut dyn Sink,
    reported: &mut u64,
) -> Result<(), SplitError> {
    let mut r = RawReader::new(file, MAX_ITEM_BYTES);
    let mut meta = Meta {
        input: label.to_owned(),
        ..Meta::default()
    };
    let mut guild: Option<Guild> = None;
    let mut channel: Option<Channel> = None;
    r.expect(b'{', "`{` (a DiscordChatExporter file is one JSON object)")?;
    if r.peek()? == Some(b'}') {
        return Ok(());
    }
    loop {
        let (offset, raw_key) = r.value()?;
        let key: Cow<'_, str> =
            serde_json::from_slice(raw_key).map_err(|_| SplitError::Unexpected {
                offset,
                expected: "an object key",
                found: raw_key.first().copied(),
            })?;
        let key = key.into_owned();
        r.expect(b':', "`:`")?;
        if key == "messages" {
            messages(&mut r, &meta, sink, reported)?;
        } else {
            let (offset, v) = r.value()?;
            let bad = |what: &'static str| SplitError::Unexpected {
                offset,
                expected: what,
                found: v.first().copied(),
            };
            match key.as_str() {
                "guild" => {
                    guild = Some(serde_json::from_slice(v).map_err(|_| bad("a guild object"))?)
                }
                "channel" => {
                    channel = Some(serde_json::from_slice(v).map_err(|_| bad("a channel object"))?)
                }
                _ => {}
            }
            if key == "guild" || key == "channel" {
                meta = make_meta(label, guild.as_ref(), channel.as_ref());
            }
        }
        match r.peek()? {
            Some(b',') => r.bump(),
            Some(b'}') => return Ok(()),
            found => {
                return Err(SplitError::Unexpected {
                    offset: r.offset(),
                    expected: "`,` or `}`",
                    found,
                })
            }
        }
    }
}

/// Cuts the `messages` array into batches; whatever was read before an
/// error is still handed over, so a truncated file is scanned up to the cut.
///
/// A batch is the run of whole messages the reader's buffer holds, handed
/// over where they lie: copying each message out first cost as much as
/// reading the file did. An element that is not an object, or that the
/// buffer's end cuts, is read whole on its own ([`RawReader::value`]) and
/// handed over alone, so batches keep the file's order.
fn messages<R: std::io::Read>(
    r: &mut RawReader<R>,
    meta: &Meta,
    sink: &mut dyn Sink,
    reported: &mut u64,
) -> Result<(), SplitError> {
    r.expect(b'[', "`[` (the messages array)")?;
    if r.peek()? == Some(b']') {
        r.bump();
        return Ok(());
    }
    let mut items = Vec::new();
    loop {
        let span = r.objects(BATCH_BYTES, &mut items)?;
        if items.is_empty() {
            let (offset, v) = r.value()?;
            items.push((0, v.len(), offset));
            sink.batch(&Batch {
                meta,
                bytes: v,
                items: &items,
            });
        } else {
            sink.batch(&Batch {
                meta,
                bytes: span,
                items: &items,
            });
        }
        let now = r.offset();
        sink.advance(now.saturating_sub(*reported));
        *reported = now;
        match r.peek()? {
            Some(b',') => r.bump(),
            Some(b']') => {
                r.bump();
                return Ok(());
            }
            found => {
                return Err(SplitError::Unexpected {
                    offset: r.offset(),
                    expected: "`,` or `]` in the messages array",
                    found,
                })
            }
        }
    }
}

fn make_meta(label: &str, guild: Option<&Guild>, channel: Option<&Channel>) -> Meta {
    let is_thread = channel.is_some_and(|c| c.kind.contains("Thread"));
    let (channel_id, thread) = match channel {
        Some(c) if is_thread => (
            c.category_id.clone().unwrap_or_else(|| c.id.clone()),
            Some(c.id.clone()),
        ),
        Some(c) => (c.id.clone(), None),
        None => (String::new(), None),
    };
    Meta {
        input: label.to_owned(),
        guild: guild.map(|g| g.name.clone()).unwrap_or_default(),
        guild_id: guild.map(|g| g.id.clone()).unwrap_or_default(),
        channel: channel.map(|c| c.name.clone()).unwrap_or_default(),
        channel_id,
        thread,
    }
}

/// Parses and evaluates one batch (on a worker).
pub(crate) fn scan_batch(eval: &Evaluator<'_>, b: &Batch<'_>, out: &mut Found) {
    let m = b.meta;
    // The prefilter runs over the whole batch once; only messages with a
    // candidate inside (or that are not objects, to be reported) are parsed.
    let candidates = eval.candidates(b.bytes);
    for &(start, end, offset) in b.items {
        if candidates.within(start, end) == 0 && b.bytes.get(start) == Some(&b'{') {
            out.messages += 1;
            continue;
        }
        let msg = match Message::skim(&b.bytes[start..end]) {
            Ok(msg) => msg,
            Err(e) => {
                out.errors.push(super::InputError {
                    path: m.input.clone(),
                    reason: format!("malformed message at byte {offset}: {e}"),
                });
                continue;
            }
        };
        out.messages += 1;
        let author = msg
            .author_nickname
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(msg.author_name.as_deref())
            .unwrap_or("");
        let author_id = msg.author_id.as_deref().unwrap_or("");
        let info = MessageInfo {
            platform: Dialect::Discord,
            workspace: &m.guild,
            workspace_id: &m.guild_id,
            channel: &m.channel,
            channel_id: &m.channel_id,
            thread: m.thread.as_deref(),
            message_id: msg.id.as_deref().unwrap_or(""),
            time_ms: msg.timestamp.as_deref().and_then(super::parse_rfc3339_ms),
            author,
            author_id,
            edited: msg.edited,
            input: &m.input,
            line: None,
        };
        let text = msg.content.as_deref().map(|t| (Source::Text, t));
        let embeds = msg.embeds.iter().flat_map(|e| {
            [
                e.title.as_deref(),
                e.url.as_deref(),
                e.description.as_deref(),
                e.author.as_ref().and_then(|a| a.name.as_deref()),
                e.author.as_ref().and_then(|a| a.url.as_deref()),
                e.footer.as_ref().and_then(|f| f.text.as_deref()),
            ]
            .into_iter()
            .chain(
                e.fields
                    .iter()
                    .flat_map(|f| [f.name.as_deref(), f.value.as_deref()]),
            )
            .flatten()
            .map(|t| (Source::Embed, t))
        });
        let files = msg
            .attachments
            .iter()
            .flat_map(|a| [a.url.as_deref(), a.file_name.as_deref()])
            .flatten()
            .map(|t| (Source::File, t));
        eval.message(
            &info,
            text.into_iter().chain(embeds).chain(files),
            &mut out.findings,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message a walk hands over, with its file offset, and the
    /// number of batches.
    #[derive(Default)]
    struct Collect {
        messages: Vec<(u64, String)>,
        batches: usize,
        errors: Vec<String>,
    }

    impl Sink for Collect {
        fn batch(&mut self, b: &Batch<'_>) {
            self.batches += 1;
            for &(start, end, offset) in b.items {
                let raw = String::from_utf8(b.bytes[start..end].to_vec()).unwrap();
                self.messages.push((offset, raw));
            }
        }

        fn advance(&mut self, _: u64) {}

        fn error(&mut self, _: String, reason: String) {
            self.errors.push(reason);
        }
    }

    /// A document whose messages straddle the reader's buffer many times,
    /// with strings that hold braces, quotes and escapes, and elements
    /// that are not objects.
    fn document(n: usize) -> (String, Vec<String>) {
        let mut elements = Vec::new();
        for i in 0..n {
            let text = "x".repeat(i % 700);
            elements.push(match i % 97 {
                13 => format!("\"not an object {i}\""),
                41 => format!("[{{\"content\": \"{i}\"}}]"),
                _ => format!(
                    "{{\n  \"id\": \"{i}\",\n  \"content\": \"{text} }}{{ \\\" \\\\\",\n  \
                     \"author\": {{\"id\": \"7\", \"name\": \"a{{b\"}},\n  \"embeds\": []\n}}"
                ),
            });
        }
        let doc = format!(
            "{{\"guild\": {{\"id\": \"1\", \"name\": \"g\"}}, \"messages\": [\n{}\n]}}",
            elements.join(",\n")
        );
        (doc, elements)
    }

    #[test]
    fn messages_are_handed_over_where_they_lie_whole_and_in_order() {
        let (doc, elements) = document(4000);
        assert!(doc.len() > BATCH_BYTES, "the buffer must slide");
        let mut got = Collect::default();
        let mut reported = 0;
        walk(doc.as_bytes(), "t.json", &mut got, &mut reported).unwrap();
        assert!(got.errors.is_empty());
        assert!(got.batches > 4);
        let raw: Vec<&str> = got.messages.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(raw, elements);
        for (offset, m) in &got.messages {
            let at = usize::try_from(*offset).unwrap();
            assert_eq!(&doc[at..at + m.len()], m);
        }
    }

    #[test]
    fn a_truncated_file_hands_over_what_came_before_the_cut() {
        let (doc, elements) = document(3000);
        let cut = &doc[..doc.len() * 2 / 3];
        let mut got = Collect::default();
        let mut reported = 0;
        let err = walk(cut.as_bytes(), "t.json", &mut got, &mut reported).unwrap_err();
        assert!(matches!(err, SplitError::Truncated { .. }), "{err}");
        let raw: Vec<&str> = got.messages.iter().map(|(_, m)| m.as_str()).collect();
        assert!(raw.len() > elements.len() / 2);
        assert_eq!(raw, elements[..raw.len()]);
    }
}
