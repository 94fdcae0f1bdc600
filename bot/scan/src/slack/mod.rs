//! Slack workspace exports, as the ZIP file Slack produces or unpacked.
//!
//! The layout: `users.json` and `channels.json` (plus `groups.json`,
//! `mpims.json` and `dms.json` for private conversations) at the root, and a
//! folder per conversation (named after the channel, or the DM's id) of
//! `YYYY-MM-DD.json` day-files, each an array of message objects. A day-file
//! is one channel's day, so it is read whole and is one work item; the
//! metadata files are streamed into small id→name maps.
//!
//! Links can hide in several places of a message, all of which are read:
//! `text` (Slack mrkdwn), the text, title and URLs of `attachments`
//! (unfurls), `files` (title, name, preview) and, for `message_changed`
//! records, the nested edited `message`. Thread replies are ordinary
//! messages with a `thread_ts` different from their `ts`.
//!
//! A ZIP is opened from its central directory and each entry streamed. When
//! the central directory is missing (a truncated download), the entries are
//! read front to back from their local headers until the damage, and the ZIP
//! is reported as failed.

use super::jsonsplit::{elements_while, is_empty, members, string, top_objects};
use super::{
    Batch as Found, Evaluator, Feed, MessageInfo, Source, Work, BATCH_BYTES, MAX_ITEM_BYTES,
};
use linkguard_rules::Dialect;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the export says about its users and channels.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    /// Shown as the workspace (exports carry the team id, not its name).
    export_name: String,
    /// User id → the name people know them by.
    users: HashMap<String, String>,
    /// Folder (channel name, or DM id) → channel id.
    channel_ids: HashMap<String, String>,
}

/// One day of one channel.
pub(crate) struct DayFile {
    meta: Arc<Meta>,
    /// The conversation's folder name.
    channel: String,
    /// `export/channel/2020-01-01.json` or `export.zip!channel/2020-01-01.json`.
    label: String,
    bytes: Bytes,
}

/// A day-file's contents, or where to read them (on the worker).
enum Bytes {
    Loaded(Vec<u8>),
    Path(PathBuf),
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    real_name: Option<String>,
    #[serde(default)]
    profile: Option<OwnedProfile>,
}

#[derive(Deserialize)]
struct OwnedProfile {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    real_name: Option<String>,
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: Option<String>,
}

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

/// The metadata files, in the order names are resolved: later files do not
/// override earlier ones.
const CONVERSATION_FILES: [&str; 4] = ["channels.json", "groups.json", "mpims.json", "dms.json"];

fn add_users(meta: &mut Meta, r: impl Read) -> Result<(), serde_json::Error> {
    let users: Vec<User> = serde_json::from_reader(BufReader::new(r))?;
    for u in users {
        let profile = u.profile.as_ref();
        let name = [
            profile.and_then(|p| p.display_name.as_deref()),
            profile.and_then(|p| p.real_name.as_deref()),
            u.real_name.as_deref(),
            Some(u.name.as_str()),
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .unwrap_or(&u.id)
        .to_owned();
        meta.users.entry(u.id).or_insert(name);
    }
    Ok(())
}

fn add_conversations(meta: &mut Meta, r: impl Read) -> Result<(), serde_json::Error> {
    let list: Vec<Conversation> = serde_json::from_reader(BufReader::new(r))?;
    for c in list {
        // DM folders are named by id; the others by name.
        let folder = c
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| c.id.clone());
        meta.channel_ids.entry(folder).or_insert(c.id);
    }
    Ok(())
}

/// Whether a folder holds a Slack export (judged by its metadata files).
pub(crate) fn is_export_dir(dir: &Path) -> bool {
    dir.join("channels.json").is_file() || dir.join("users.json").is_file()
}

fn export_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Scans an unpacked export.
pub(crate) fn scan_dir(dir: &Path, feed: &Feed) {
    let root = dir.display().to_string();
    let mut meta = Meta {
        export_name: export_name(dir),
        ..Meta::default()
    };
    let users = dir.join("users.json");
    if users.is_file() {
        let r = std::fs::File::open(&users)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                feed.advance(f.metadata().map_or(0, |m| m.len()));
                add_users(&mut meta, f).map_err(|e| e.to_string())
            });
        if let Err(e) = r {
            feed.error(
                users.display().to_string(),
                format!("cannot read the user list: {e}"),
            );
        }
    }
    for name in CONVERSATION_FILES {
        let p = dir.join(name);
        if !p.is_file() {
            continue;
        }
        let r = std::fs::File::open(&p)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                feed.advance(f.metadata().map_or(0, |m| m.len()));
                add_conversations(&mut meta, f).map_err(|e| e.to_string())
            });
        if let Err(e) = r {
            feed.error(
                p.display().to_string(),
                format!("cannot read the channel list: {e}"),
            );
        }
    }
    let meta = Arc::new(meta);
    let mut batch = DayBatch::default();
    let channels = match super::sniff::sorted_entries(dir) {
        Ok(c) => c,
        Err(e) => return feed.error(root, format!("cannot list the folder: {e}")),
    };
    for chan in channels.into_iter().filter(|p| p.is_dir()) {
        let channel = chan
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let days = match super::sniff::sorted_dir_entries(&chan) {
            Ok(d) => d,
            Err(e) => {
                feed.error(
                    chan.display().to_string(),
                    format!("cannot list the folder: {e}"),
                );
                continue;
            }
        };
        for entry in days {
            if !entry.file_name().to_str().is_some_and(is_day_name) {
                continue;
            }
            let day = entry.path();
            // The folder listing says what a file is (no lookup per file); a
            // link is followed. The worker reads the file (reads then run in
            // parallel too) and counts its bytes for the progress line.
            let is_file = match entry.file_type() {
                Ok(t) if t.is_symlink() => std::fs::metadata(&day).is_ok_and(|m| m.is_file()),
                Ok(t) => t.is_file(),
                Err(_) => false,
            };
            if !is_file {
                continue;
            }
            let day = DayFile {
                meta: Arc::clone(&meta),
                channel: channel.clone(),
                label: day.display().to_string(),
                bytes: Bytes::Path(day),
            };
            batch.push(feed, day);
        }
    }
    batch.flush(feed);
}

/// How many day-files on disk one work item names. A worker reads them
/// one at a time, so an item costs memory for its paths only: fewer, larger
/// items mean fewer hand-offs and fewer threads woken. (Day-files are sized
/// by the worker that reads them, not looked up one by one here.)
const DAY_BATCH_FILES: usize = 64;

/// Day-files grouped into work items: [`DAY_BATCH_FILES`] paths, or about
/// [`BATCH_BYTES`] of day-files already in memory (out of a ZIP), which is
/// what bounds the memory a queue of them holds.
#[derive(Default)]
struct DayBatch {
    days: Vec<DayFile>,
    loaded: usize,
}

impl DayBatch {
    fn push(&mut self, feed: &Feed, day: DayFile) {
        if let Bytes::Loaded(b) = &day.bytes {
            self.loaded += b.len();
        }
        self.days.push(day);
        if self.days.len() >= DAY_BATCH_FILES || self.loaded >= BATCH_BYTES {
            self.flush(feed);
        }
    }

    fn flush(&mut self, feed: &Feed) {
        if !self.days.is_empty() {
            feed.send(Work::SlackDays(std::mem::take(&mut self.days)));
        }
        self.loaded = 0;
    }
}

/// Scans a day-file found on its own (not in an export with its metadata):
/// the channel is its folder's name, and authors stay ids.
pub(crate) fn scan_lone_day(path: &Path, feed: &Feed) {
    let label = path.display().to_string();
    let parent = path.parent();
    let channel = parent
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let meta = Meta {
        export_name: parent
            .and_then(Path::parent)
            .map(export_name)
            .unwrap_or_default(),
        ..Meta::default()
    };
    feed.send(Work::SlackDays(vec![DayFile {
        meta: Arc::new(meta),
        channel,
        label,
        bytes: Bytes::Path(path.to_owned()),
    }]));
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

/// What an entry of the ZIP is, once any common top folder is removed.
enum Entry<'n> {
    Users,
    Conversations,
    Day { channel: &'n str },
    Other,
}

fn classify<'n>(name: &'n str, prefix: &str) -> Entry<'n> {
    let Some(rest) = name.strip_prefix(prefix) else {
        return Entry::Other;
    };
    match rest.split_once('/') {
        None if rest == "users.json" => Entry::Users,
        None if CONVERSATION_FILES.contains(&rest) => Entry::Conversations,
        Some((channel, day)) if !channel.is_empty() && is_day_name(day) => Entry::Day { channel },
        _ => Entry::Other,
    }
}

/// `YYYY-MM-DD.json`: the only files Slack puts in a conversation's folder.
fn is_day_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 15
        && name.ends_with(".json")
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// The folder every metadata file sits in (`""` when they are at the root):
/// some tools re-zip an export inside a top folder.
fn find_prefix<'n>(names: impl Iterator<Item = &'n str>) -> String {
    let mut best: Option<&str> = None;
    for n in names {
        for m in ["users.json", "channels.json"] {
            if let Some(p) = n.strip_suffix(m) {
                if (p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1))
                    && best.is_none_or(|b| p.len() < b.len())
                {
                    best = Some(p);
                }
            }
        }
    }
    best.unwrap_or("").to_owned()
}

/// Scans an export ZIP.
pub(crate) fn scan_zip(path: &Path, feed: &Feed) {
    let label = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return feed.error(label, format!("cannot open: {e}")),
    };
    let size = file.metadata().map_or(0, |m| m.len());
    let mut zip = match zip::ZipArchive::new(BufReader::new(file)) {
        Ok(z) => z,
        Err(central) => return scan_zip_stream(path, &label, size, &central.to_string(), feed),
    };
    let prefix = find_prefix(zip.file_names());
    let mut meta = Meta {
        export_name: export_name(path),
        ..Meta::default()
    };
    // Metadata first, whatever the entry order, so that names resolve.
    let mut meta_entries: Vec<(usize, bool)> = Vec::new();
    for i in 0..zip.len() {
        match zip.name_for_index(i).map(|n| classify(n, &prefix)) {
            Some(Entry::Users) => meta_entries.push((i, true)),
            Some(Entry::Conversations) => meta_entries.push((i, false)),
            _ => {}
        }
    }
    meta_entries.sort_by_key(|&(i, users)| {
        let name = zip.name_for_index(i).unwrap_or("");
        (
            !users,
            CONVERSATION_FILES.iter().position(|c| name.ends_with(c)),
        )
    });
    let mut done = 0u64;
    for (i, users) in meta_entries {
        let result = zip.by_index(i).map_err(|e| e.to_string()).and_then(|f| {
            done += f.compressed_size();
            let name = f.name().to_owned();
            let r = if users {
                add_users(&mut meta, f)
            } else {
                add_conversations(&mut meta, f)
            };
            r.map_err(|e| format!("{name}: {e}"))
        });
        if let Err(e) = result {
            feed.error(
                label.clone(),
                format!("cannot read the export's names: {e}"),
            );
        }
    }
    feed.advance(done);
    let meta = Arc::new(meta);
    let mut days = 0usize;
    let mut batch = DayBatch::default();
    for i in 0..zip.len() {
        let name = zip.name_for_index(i).unwrap_or("?").to_owned();
        let entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                feed.error(format!("{label}!{name}"), format!("unreadable entry: {e}"));
                continue;
            }
        };
        feed.advance(entry.compressed_size());
        let Entry::Day { channel } = classify(&name, &prefix) else {
            continue;
        };
        let channel = channel.to_owned();
        days += 1;
        let entry_label = format!("{label}!{name}");
        match read_entry(entry) {
            Ok(bytes) => {
                let day = DayFile {
                    meta: Arc::clone(&meta),
                    channel,
                    label: entry_label,
                    bytes: Bytes::Loaded(bytes),
                };
                batch.push(feed, day);
            }
            Err(e) => feed.error(entry_label, e),
        }
    }
    batch.flush(feed);
    if days == 0 {
        feed.error(
            label,
            "a ZIP without Slack day-files (CHANNEL/YYYY-MM-DD.json): not a Slack export",
        );
    }
}

fn read_entry(entry: impl Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    entry
        .take(MAX_ITEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("unreadable entry: {e}"))?;
    if bytes.len() as u64 > MAX_ITEM_BYTES {
        return Err(format!(
            "a day-file larger than {} MiB",
            MAX_ITEM_BYTES >> 20
        ));
    }
    Ok(bytes)
}

/// Reads a ZIP without its central directory, entry by entry from the
/// front, scanning what can be read; the ZIP is always reported as failed.
fn scan_zip_stream(path: &Path, label: &str, size: u64, central: &str, feed: &Feed) {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return feed.error(label, format!("cannot open: {e}")),
    };
    let mut r = BufReader::new(file);
    let mut meta = Meta {
        export_name: export_name(path),
        ..Meta::default()
    };
    let mut shared = Arc::new(Meta::default());
    let mut dirty = true;
    let mut read = 0usize;
    let stop = loop {
        let entry = match zip::read::read_zipfile_from_stream(&mut r) {
            Ok(Some(e)) => e,
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        };
        read += 1;
        let name = entry.name().to_owned();
        match classify(&name, &find_prefix(std::iter::once(name.as_str()))) {
            Entry::Users => {
                if let Err(e) = add_users(&mut meta, entry) {
                    break Some(format!("{name}: {e}"));
                }
                dirty = true;
            }
            Entry::Conversations => {
                if let Err(e) = add_conversations(&mut meta, entry) {
                    break Some(format!("{name}: {e}"));
                }
                dirty = true;
            }
            _ => {
                // Day-files may sit under a top folder; the channel is the
                // folder just above the file.
                let mut parts = name.rsplit('/');
                let (Some(day), Some(channel)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if !is_day_name(day) || channel.is_empty() {
                    continue;
                }
                let channel = channel.to_owned();
                let bytes = match read_entry(entry) {
                    Ok(b) => b,
                    Err(e) => break Some(format!("{name}: {e}")),
                };
                if dirty {
                    shared = Arc::new(Meta {
                        export_name: meta.export_name.clone(),
                        users: meta.users.clone(),
                        channel_ids: meta.channel_ids.clone(),
                    });
                    dirty = false;
                }
                feed.send(Work::SlackDays(vec![DayFile {
                    meta: Arc::clone(&shared),
                    channel,
                    label: format!("{label}!{name}"),
                    bytes: Bytes::Loaded(bytes),
                }]));
            }
        }
    };
    feed.advance(size);
    let after = match stop {
        Some(e) => format!("; reading the entries in order stopped after {read}: {e}"),
        None => format!("; its {read} entries were read front to back and scanned"),
    };
    feed.error(
        label,
        format!("truncated or damaged ZIP (its central directory is unreadable: {central}){after}"),
    );
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
                    out.errors.push(super::InputError {
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
            out.errors.push(super::InputError {
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
        out.errors.push(super::InputError {
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
    findings: &mut Vec<super::Finding>,
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
        time_ms: super::parse_slack_ts_ms(ts),
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

    #[test]
    fn zip_entries_are_classified_under_a_top_folder() {
        let names = [
            "Acme/users.json",
            "Acme/channels.json",
            "Acme/general/2020-01-01.json",
        ];
        let prefix = find_prefix(names.iter().copied());
        assert_eq!(prefix, "Acme/");
        assert!(matches!(classify(names[0], &prefix), Entry::Users));
        assert!(matches!(classify(names[1], &prefix), Entry::Conversations));
        assert!(matches!(
            classify(names[2], &prefix),
            Entry::Day { channel: "general" }
        ));
        assert!(matches!(
            classify("Acme/integration_logs.json", &prefix),
            Entry::Other
        ));
        assert_eq!(find_prefix(["users.json", "x/users.json"].into_iter()), "");
        assert!(is_day_name("2020-01-31.json"));
        assert!(!is_day_name("canvas.json"));
        assert!(!is_day_name("2020-01-31.txt"));
    }
}
