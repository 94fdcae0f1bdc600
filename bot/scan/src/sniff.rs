//! Deciding what each input is from its content, and walking folders.
//!
//! A name can lie (a `.json` file may be JSON Lines, a download may lose its
//! `.zip`), so files are recognised by their first bytes: `PK` for a ZIP
//! (a Slack export), a JSON object whose first key holds an object or array
//! for a DiscordChatExporter file (`{"guild": {…}`), any other object for JSON
//! Lines, and an array for a lone Slack day-file. A folder is a Slack export
//! when it has `users.json` or `channels.json`; any other folder is walked
//! and each file in it judged on its own. Inside such a walk, files with no
//! recognisable content and no export-like extension (images a
//! DiscordChatExporter export saved beside its JSON, notes) are skipped
//! quietly; a file named on the command line is always reported.

use super::{jsonl, slack, Feed};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    SlackZip,
    SlackDay,
    Discord,
    Jsonl,
    Unknown,
}

/// How many leading bytes are enough to tell the kinds apart.
const SNIFF_BYTES: usize = 64 * 1024;

/// Judges a file by its first bytes.
pub(crate) fn kind_of(head: &[u8]) -> Kind {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Kind::SlackZip;
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let mut it = head
        .iter()
        .copied()
        .skip_while(u8::is_ascii_whitespace)
        .peekable();
    match it.next() {
        None => Kind::Jsonl,
        Some(b'[') => Kind::SlackDay,
        Some(b'{') => {
            let rest: Vec<u8> = it.skip_while(u8::is_ascii_whitespace).collect();
            // `{"key": {` or `{"key": [`: a document, not a flat message line.
            let Some(rest) = rest.strip_prefix(b"\"") else {
                return Kind::Jsonl;
            };
            let Some(close) = rest.iter().position(|b| *b == b'"') else {
                return Kind::Jsonl;
            };
            let key = &rest[..close];
            let after: Vec<u8> = rest[close + 1..]
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .take(2)
                .collect();
            let document = matches!(after.as_slice(), [b':', b'{' | b'['])
                && matches!(key, b"guild" | b"channel" | b"dateRange" | b"messages");
            if document {
                Kind::Discord
            } else {
                Kind::Jsonl
            }
        }
        Some(_) => Kind::Unknown,
    }
}

fn sniff(path: &Path) -> std::io::Result<Kind> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(kind_of(&head))
}

/// A folder's entries, sorted by name so runs are repeatable.
pub(crate) fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(sorted_dir_entries(dir)?.iter().map(|e| e.path()).collect())
}

/// A folder's entries, sorted by name, with what the folder listing says
/// of each.
pub(crate) fn sorted_dir_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut v = std::fs::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
    v.sort_by_cached_key(std::fs::DirEntry::file_name);
    Ok(v)
}

/// The total size of the inputs, for the progress line's estimate.
pub(crate) fn total_size(paths: &[PathBuf]) -> u64 {
    fn walk(p: &Path) -> u64 {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    paths.iter().map(|p| walk(p)).sum()
}

/// Scans one command-line input.
pub(crate) fn scan_path(path: &Path, feed: &Feed) {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => scan_dir(path, feed),
        Ok(_) => scan_file(path, true, feed),
        Err(e) => feed.error(path.display().to_string(), format!("cannot read: {e}")),
    }
}

fn scan_dir(dir: &Path, feed: &Feed) {
    if slack::is_export_dir(dir) {
        return slack::scan_dir(dir, feed);
    }
    let entries = match sorted_entries(dir) {
        Ok(e) => e,
        Err(e) => {
            return feed.error(
                dir.display().to_string(),
                format!("cannot list the folder: {e}"),
            )
        }
    };
    for p in entries {
        if p.is_dir() {
            scan_dir(&p, feed);
        } else {
            scan_file(&p, false, feed);
        }
    }
}

fn scan_file(path: &Path, named: bool, feed: &Feed) {
    let label = path.display().to_string();
    let kind = match sniff(path) {
        Ok(k) => k,
        Err(e) => return feed.error(label, format!("cannot read: {e}")),
    };
    match kind {
        Kind::SlackZip => slack::scan_zip(path, feed),
        Kind::SlackDay => slack::scan_lone_day(path, feed),
        Kind::Discord => feed.send(super::Work::DiscordFile(path.to_path_buf())),
        Kind::Jsonl => jsonl::scan_file(path, feed),
        Kind::Unknown => {
            let export_like = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["json", "jsonl", "ndjson", "zip"].contains(&e.to_ascii_lowercase().as_str())
            });
            if named || export_like {
                feed.error(
                    label,
                    "not a Slack export (ZIP or folder), a DiscordChatExporter JSON file or JSON Lines",
                );
            }
            feed.advance(std::fs::metadata(path).map_or(0, |m| m.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_content() {
        let cases: &[(&[u8], Kind)] = &[
            (b"PK\x03\x04rest", Kind::SlackZip),
            (b"\xEF\xBB\xBF{\n  \"guild\": {\n", Kind::Discord),
            (b"{\"channel\": {\"id\": \"1\"}", Kind::Discord),
            (
                b"{\"channel\": \"general\", \"text\": \"hi\"}\n",
                Kind::Jsonl,
            ),
            (b"{\"platform\":\"slack\",\"text\":\"x\"}", Kind::Jsonl),
            (b"  [ {\"ts\": \"1\"} ]", Kind::SlackDay),
            (b"", Kind::Jsonl),
            (b"\x89PNG", Kind::Unknown),
            (b"{ not json", Kind::Jsonl),
        ];
        for (head, want) in cases {
            assert_eq!(kind_of(head), *want, "{}", String::from_utf8_lossy(head));
        }
    }
}
