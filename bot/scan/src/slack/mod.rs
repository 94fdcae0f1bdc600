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
//!
//! The pieces: [`meta`] (the metadata files), [`directory`] (an unpacked
//! export, or a lone day-file), [`archive`] (the ZIP) and [`day`] (a
//! day-file's messages, on a worker). This module holds what they share.

mod archive;
mod day;
mod directory;
mod meta;

pub(crate) use archive::scan_zip;
pub(crate) use day::scan_day;
pub(crate) use directory::{is_export_dir, scan_dir, scan_lone_day};

use crate::{Feed, Work, BATCH_BYTES};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

fn export_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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
