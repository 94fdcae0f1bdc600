//! An export as the ZIP Slack produces: read from its central directory,
//! or, when that is missing, entry by entry from the front.

use super::meta::{add_conversations, add_users, CONVERSATION_FILES};
use super::{export_name, is_day_name, Bytes, DayBatch, DayFile, Meta};
use crate::{Feed, Work, MAX_ITEM_BYTES};
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

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
