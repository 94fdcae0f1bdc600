//! An unpacked export (a folder of metadata files and conversation folders),
//! and a day-file found on its own.

use super::meta::{add_conversations, add_users, CONVERSATION_FILES};
use super::{export_name, is_day_name, Bytes, DayBatch, DayFile, Meta};
use crate::{Feed, Work};
use std::path::Path;
use std::sync::Arc;

/// Whether a folder holds a Slack export (judged by its metadata files).
pub(crate) fn is_export_dir(dir: &Path) -> bool {
    dir.join("channels.json").is_file() || dir.join("users.json").is_file()
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
    let channels = match crate::sniff::sorted_entries(dir) {
        Ok(c) => c,
        Err(e) => return feed.error(root, format!("cannot list the folder: {e}")),
    };
    for chan in channels.into_iter().filter(|p| p.is_dir()) {
        let channel = chan
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let days = match crate::sniff::sorted_dir_entries(&chan) {
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
