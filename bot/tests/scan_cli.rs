//! `linkguard scan` on exports the tests write themselves: Slack (folder and
//! ZIP), DiscordChatExporter (one file and a folder), JSON Lines, damaged
//! inputs, every report format, and `--record` into a temporary SQLite audit
//! log. Each test runs the real binary.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The `"type": "finding"` lines of a `--format jsonl` report.
    fn findings(&self) -> Vec<Value> {
        self.lines("finding")
    }

    fn lines(&self, kind: &str) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("every jsonl line is JSON"))
            .filter(|v| v["type"] == kind)
            .collect()
    }

    fn summary(&self) -> Value {
        let mut s = self.lines("summary");
        assert_eq!(s.len(), 1, "one summary line: {}", self.stdout);
        s.remove(0)
    }
}

fn linkguard(db: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkguard"));
    c.env_remove("LINKGUARD_POLICY")
        .env_remove("LINKGUARD_CONFIG")
        .env("LINKGUARD_ROOM_KEY", "test-key");
    match db {
        Some(db) => c.env(
            "LINKGUARD_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        ),
        None => c.env_remove("LINKGUARD_DATABASE_URL"),
    };
    c
}

fn run(args: &[&str]) -> Run {
    run_with(linkguard(None), args)
}

fn run_with(mut cmd: Command, args: &[&str]) -> Run {
    let out = cmd.args(args).output().expect("linkguard runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// (provider, url, channel, author, source) of each finding, for comparing.
fn keys(findings: &[Value]) -> BTreeSet<(String, String, String, String, String)> {
    findings
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (
                s("provider"),
                s("url"),
                s("channel"),
                s("author"),
                s("source"),
            )
        })
        .collect()
}

fn find<'a>(findings: &'a [Value], url_part: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["url"].as_str().unwrap().contains(url_part))
        .unwrap_or_else(|| panic!("a finding with {url_part} in {findings:#?}"))
}

// ---------------------------------------------------------------- Slack

/// The files of a small Slack export: (relative path, contents).
fn slack_files() -> Vec<(String, String)> {
    let users = json!([
        {"id": "U01", "name": "alice", "real_name": "Alice Liddell",
         "profile": {"display_name": "alice.l", "real_name": "Alice Liddell"}},
        {"id": "U02", "name": "bob", "profile": {"display_name": "", "real_name": "Bob Builder"}},
    ]);
    let channels = json!([{"id": "C01", "name": "general"}, {"id": "C02", "name": "random"}]);
    let groups = json!([{"id": "G01", "name": "secret-plans"}]);
    let general_day1 = json!([
        // A passcode in the link: reported redacted.
        {"type": "message", "user": "U01", "team": "T01", "ts": "1614816000.000100",
         "text": "standup: <https://zoom.us/j/1234567890?pwd=s3cretPass|join here>"},
        // A thread reply, edited.
        {"type": "message", "user": "U02", "ts": "1614816100.000200", "thread_ts": "1614816000.000100",
         "text": "or this one https://us02web.zoom.us/j/5550001111",
         "edited": {"user": "U02", "ts": "1614816150.000000"}},
        // No meeting link at all.
        {"type": "message", "user": "U02", "ts": "1614816300.000300",
         "text": "the PR is <https://github.com/acme/x/pull/1>"},
        // An unfurl attachment holds the only link.
        {"type": "message", "user": "U01", "ts": "1614816400.000400", "text": "see below",
         "attachments": [{"from_url": "https://zoom.us/j/2223334444", "title": "Zoom meeting", "fallback": "Zoom"}]},
    ]);
    let general_day2 = json!([
        // A message_changed record: the edited message is nested.
        {"type": "message", "subtype": "message_changed", "ts": "1614902400.000500",
         "message": {"type": "message", "user": "U02", "ts": "1614902300.000400",
                     "text": "moved to https://zoom.us/j/7778889999", "edited": {"user": "U02", "ts": "1614902400.000500"}}},
        // A file whose preview carries the link; the author only in user_profile.
        {"type": "message", "subtype": "file_share", "user": "U99", "ts": "1614902500.000600", "text": "notes",
         "user_profile": {"display_name": "guest.g", "real_name": "Guest"},
         "files": [{"id": "F1", "name": "notes.txt", "title": "notes", "preview": "dial in: https://zoom.us/j/3334445555"}]},
    ]);
    // Slack's own escaping of slashes.
    let private = "[{\"type\":\"message\",\"user\":\"U01\",\"ts\":\"1617235200.000100\",\
                   \"text\":\"private: https:\\/\\/zoom.us\\/j\\/4445556666\"}]";
    vec![
        ("users.json".into(), users.to_string()),
        ("channels.json".into(), channels.to_string()),
        ("groups.json".into(), groups.to_string()),
        ("general/2021-03-04.json".into(), general_day1.to_string()),
        ("general/2021-03-05.json".into(), general_day2.to_string()),
        ("random/2021-03-04.json".into(), "[]".into()),
        ("secret-plans/2021-04-01.json".into(), private.into()),
    ]
}

fn write_slack_dir(root: &Path) {
    for (name, text) in slack_files() {
        write(&root.join(name), &text);
    }
}

fn write_slack_zip(path: &Path, files: &[(String, String)], top: &str) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in files {
        zip.start_file(format!("{top}{name}"), opts).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn check_slack_findings(r: &Run) {
    assert_eq!(r.code, 1, "findings exist; stderr: {}", r.stderr);
    let f = r.findings();
    let want: BTreeSet<_> = [
        (
            "zoom",
            "https://zoom.us/j/1234567890?pwd=[redacted]",
            "general",
            "alice.l",
            "text",
        ),
        (
            "zoom",
            "https://us02web.zoom.us/j/5550001111",
            "general",
            "Bob Builder",
            "text",
        ),
        (
            "zoom",
            "https://zoom.us/j/2223334444",
            "general",
            "alice.l",
            "attachment",
        ),
        (
            "zoom",
            "https://zoom.us/j/7778889999",
            "general",
            "Bob Builder",
            "text",
        ),
        (
            "zoom",
            "https://zoom.us/j/3334445555",
            "general",
            "guest.g",
            "file",
        ),
        (
            "zoom",
            "https://zoom.us/j/4445556666",
            "secret-plans",
            "alice.l",
            "text",
        ),
    ]
    .into_iter()
    .map(|(a, b, c, d, e)| (a.into(), b.into(), c.into(), d.into(), e.into()))
    .collect();
    assert_eq!(keys(&f), want, "{}", r.stdout);
    assert!(
        !r.stdout.contains("s3cretPass"),
        "passcodes never reach the report"
    );

    let first = find(&f, "1234567890");
    assert_eq!(first["platform"], "slack");
    assert_eq!(first["channel_id"], "C01");
    assert_eq!(first["workspace_id"], "T01");
    assert_eq!(first["author_id"], "U01");
    assert_eq!(first["time"], "2021-03-04T00:00:00Z");
    assert_eq!(first["rule"], "no-zoom");
    assert_eq!(first["action"], "replace");
    assert_eq!(first["monitor"], false);
    assert_eq!(first["thread"], Value::Null);

    let reply = find(&f, "5550001111");
    assert_eq!(reply["thread"], "1614816000.000100");
    assert_eq!(reply["edited"], true);
    let changed = find(&f, "7778889999");
    assert_eq!(changed["edited"], true);
    assert_eq!(changed["message_id"], "1614902300.000400");
    assert_eq!(find(&f, "4445556666")["channel_id"], "G01");

    let s = r.summary();
    assert_eq!(s["findings"], 6);
    assert_eq!(s["messages"], 7);
    assert_eq!(s["by_provider"]["Zoom"], 6);
    assert_eq!(s["by_month"]["2021-03"], 5);
    assert_eq!(s["by_month"]["2021-04"], 1);
}

#[test]
fn a_slack_folder_is_scanned_everywhere_links_hide() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Acme Slack export");
    write_slack_dir(&root);
    let r = run(&["scan", "--format", "jsonl", p(&root)]);
    check_slack_findings(&r);
    assert_eq!(r.findings()[0]["workspace"], "Acme Slack export");
}

#[test]
fn a_slack_zip_gives_the_same_findings_as_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("acme.zip");
    write_slack_zip(&zip, &slack_files(), "");
    check_slack_findings(&run(&["scan", "--format", "jsonl", p(&zip)]));
    // Some tools re-zip an export inside a top folder; the content decides,
    // not the name.
    let nested = tmp.path().join("download.bin");
    write_slack_zip(&nested, &slack_files(), "Acme Slack export/");
    let r = run(&["scan", "--format", "jsonl", p(&nested)]);
    check_slack_findings(&r);
    assert!(r.findings()[0]["input"]
        .as_str()
        .unwrap()
        .contains("download.bin!Acme Slack export/"));
}

#[test]
fn a_truncated_zip_is_reported_and_its_readable_entries_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = slack_files();
    // Padding after the entries with links, so the cut falls behind them.
    for day in 10..30 {
        let filler: Vec<Value> = (0..200)
            .map(|i| {
                json!({"type": "message", "user": "U01", "ts": format!("16150{day}{i:04}.000100"),
                            "text": format!("filler {day} {i} lorem ipsum {}", "x".repeat(i % 50))})
            })
            .collect();
        files.push((
            format!("random/2021-03-{day}.json"),
            Value::Array(filler).to_string(),
        ));
    }
    let zip = tmp.path().join("cut.zip");
    write_slack_zip(&zip, &files, "");
    let bytes = std::fs::read(&zip).unwrap();
    std::fs::write(&zip, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let r = run(&["scan", "--format", "jsonl", p(&zip)]);
    assert_eq!(
        r.code, 2,
        "a damaged input fails the run; stderr: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(p(&zip)),
        "the error names the file: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("truncated or damaged ZIP"),
        "and says why: {}",
        r.stderr
    );
    // Every entry with a link lies before the cut: all six are still found,
    // with names resolved from the metadata read on the way.
    let f = r.findings();
    assert_eq!(f.len(), 6, "{}", r.stdout);
    assert_eq!(find(&f, "1234567890")["author"], "alice.l");
    assert_eq!(r.lines("error").len(), 1);
}

/// Writes `text` as a JSON string the way Slack's exporter does: `/` and
/// every non-ASCII character escaped.
fn slack_json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '/' => out.push_str("\\/"),
            '"' => out.push_str("\\\""),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[test]
fn disguised_links_are_found_and_link_free_day_files_are_not_parsed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("export");
    write(
        &root.join("channels.json"),
        r#"[{"id": "C01", "name": "general"}]"#,
    );
    // Disguises the detector sees through; each must survive the raw-bytes
    // prefilter that decides which messages are parsed at all.
    let disguised = [
        ("upper case", "ZOOM.US/j/1000000001"),
        ("Cyrillic o", "https://z\u{43e}om.us/j/1000000002"),
        ("defanged", "hxxps://zoom[.]us/j/1000000003"),
        ("zero-width space", "https://zo\u{200b}om.us/j/1000000004"),
        ("full-width", "https://\u{ff5a}\u{ff4f}\u{ff4f}\u{ff4d}.us/j/1000000005"),
        ("percent-escaped host", "https://zo%6Fm.us/j/1000000006"),
        ("Safe Links", "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzo%256Fm.us%2Fj%2F1000000007&data=x"),
    ];
    let day: Vec<String> = disguised
        .iter()
        .enumerate()
        .map(|(i, (what, link))| {
            format!(
                r#"{{"type":"message","user":"U01","ts":"161481600{i}.000100","text":{}}}"#,
                slack_json_string(&format!("{what}: {link} caf\u{e9}"))
            )
        })
        .collect();
    write(
        &root.join("general/2021-03-04.json"),
        &format!("[\n{}\n]", day.join(",\n")),
    );
    // A day of talk with accents, emoji and other links: never parsed.
    let quiet = format!(
        r#"[{{"type":"message","user":"U01","ts":"1614902400.000100","text":{}}}]"#,
        slack_json_string("na\u{ef}ve caf\u{e9} \u{1f389} <https://github.com/acme/x/pull/1> https://meet.google.com/abc-defg-hij 100%20")
    );
    write(&root.join("general/2021-03-05.json"), &quiet);
    // Discord writes non-ASCII as it is.
    let discord = tmp.path().join("chat.json");
    write(
        &discord,
        &discord_export(
            "general",
            "100",
            vec![
                json!({"id": "1", "timestamp": "2021-03-04T00:00:00+00:00", "content": "https://z\u{43e}om.us/j/2000000001",
                       "author": {"id": "7", "name": "dee"}, "embeds": [], "attachments": []}),
                json!({"id": "2", "timestamp": "2021-03-04T00:01:00+00:00", "content": "caf\u{e9} \u{1f389} https://meet.google.com/abc-defg-hij",
                       "author": {"id": "7", "name": "dee"}, "embeds": [], "attachments": []}),
            ],
        ),
    );

    let r = run(&["scan", "--format", "jsonl", p(&root), p(&discord)]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let got: BTreeSet<String> = r
        .findings()
        .iter()
        .map(|f| f["url"].as_str().unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = (1..=7)
        .map(|i| format!("https://zoom.us/j/100000000{i}"))
        .chain(["https://zoom.us/j/2000000001".to_owned()])
        .collect();
    assert_eq!(got, want, "{}", r.stdout);
    let s = r.summary();
    assert_eq!(
        s["skipped_files"], 1,
        "the quiet day-file is cleared unparsed"
    );
    assert_eq!(
        s["messages"],
        7 + 2,
        "messages of parsed inputs are counted"
    );
}

#[test]
fn a_malformed_day_file_is_reported_and_the_rest_still_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("export");
    write_slack_dir(&root);
    let bad = root.join("random/2021-03-06.json");
    write(&bad, "[{\"type\": \"message\", \"text\": ");
    let garbage = tmp.path().join("notes.bin");
    std::fs::write(&garbage, b"\x00\x01 not an export").unwrap();

    let r = run(&["scan", "--format", "jsonl", p(&root), p(&garbage)]);
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("{}: not a Slack day-file", bad.display())),
        "path and reason: {}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{}: not a Slack export", garbage.display())),
        "{}",
        r.stderr
    );
    assert_eq!(r.findings().len(), 6, "the good files are still scanned");
    assert_eq!(r.summary()["errors"], 2);
}

// -------------------------------------------------------------- Discord

fn discord_export(channel: &str, channel_id: &str, messages: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({
        "guild": {"id": "900", "name": "Acme Guild", "iconUrl": "https://cdn.discordapp.com/x.png"},
        "channel": {"id": channel_id, "type": "GuildTextChat", "categoryId": "1", "category": "Text",
                    "name": channel, "topic": null},
        "dateRange": {"after": null, "before": null},
        "exportedAt": "2024-01-01T00:00:00+00:00",
        "messages": messages,
        "messageCount": 0,
    }))
    .unwrap()
}

fn discord_message(id: &str, author: (&str, &str, Option<&str>), content: &str) -> Value {
    json!({
        "id": id, "type": "Default", "timestamp": "2022-05-01T10:00:00.123+02:00",
        "timestampEdited": null, "callEndedTimestamp": null, "isPinned": false,
        "content": content,
        "author": {"id": author.0, "name": author.1, "discriminator": "0000", "nickname": author.2,
                   "color": null, "isBot": false, "roles": [], "avatarUrl": "https://cdn.discordapp.com/a.png"},
        "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": [],
    })
}

fn discord_messages() -> Vec<Value> {
    let mut edited = discord_message(
        "2",
        ("11", "bob", None),
        "new link: https://zoom.us/j/6667778888",
    );
    edited["timestampEdited"] = json!("2022-05-01T11:00:00+00:00");
    let mut embed = discord_message("3", ("10", "alice", Some("Ally")), "");
    embed["embeds"] = json!([{"title": "Weekly sync", "url": "https://zoom.us/j/1112223333",
                              "description": "agenda", "fields": [], "images": []}]);
    let mut attachment = discord_message("4", ("11", "bob", None), "invite attached");
    attachment["attachments"] = json!([{"id": "a1", "url": "https://zoom.us/j/9990001111", "fileName": "invite.txt",
                                       "fileSizeBytes": 10}]);
    vec![
        discord_message(
            "1",
            ("10", "alice", Some("Ally")),
            "call: https://zoom.us/j/5556667777?pwd=abcdef",
        ),
        edited,
        embed,
        attachment,
        discord_message(
            "5",
            ("10", "alice", Some("Ally")),
            "nothing to see https://example.com",
        ),
    ]
}

#[test]
fn a_discord_export_file_finds_content_embeds_and_attachments() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("Acme Guild - general [100].json");
    write(&file, &discord_export("general", "100", discord_messages()));
    let r = run(&["scan", "--format", "jsonl", p(&file)]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let f = r.findings();
    let want: BTreeSet<_> = [
        (
            "https://zoom.us/j/5556667777?pwd=[redacted]",
            "Ally",
            "text",
        ),
        ("https://zoom.us/j/6667778888", "bob", "text"),
        ("https://zoom.us/j/1112223333", "Ally", "embed"),
        ("https://zoom.us/j/9990001111", "bob", "file"),
    ]
    .into_iter()
    .map(|(u, a, s)| {
        (
            "zoom".to_owned(),
            u.to_owned(),
            "general".to_owned(),
            a.to_owned(),
            s.to_owned(),
        )
    })
    .collect();
    assert_eq!(keys(&f), want);
    let first = find(&f, "5556667777");
    assert_eq!(first["platform"], "discord");
    assert_eq!(first["workspace"], "Acme Guild");
    assert_eq!(first["workspace_id"], "900");
    assert_eq!(first["channel_id"], "100");
    assert_eq!(first["author_id"], "10");
    assert_eq!(first["time"], "2022-05-01T08:00:00Z");
    assert_eq!(find(&f, "6667778888")["edited"], true);
    assert_eq!(r.summary()["messages"], 5);
}

#[test]
fn a_folder_of_discord_exports_is_walked_and_other_files_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("discord");
    write(
        &dir.join("general.json"),
        &discord_export("general", "100", discord_messages()),
    );
    write(
        &dir.join("nested/ops.json"),
        &discord_export(
            "ops",
            "200",
            vec![discord_message(
                "9",
                ("12", "carol", None),
                "https://zoom.us/j/1231231234",
            )],
        ),
    );
    // DiscordChatExporter saves media beside the JSON: not an error.
    std::fs::write(dir.join("nested/avatar.png"), b"\x89PNG\r\n\x1a\n....").unwrap();
    let r = run(&["scan", "--format", "jsonl", p(&dir)]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert_eq!(r.findings().len(), 5);
    assert_eq!(find(&r.findings(), "1231231234")["channel"], "ops");
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn a_large_discord_file_is_streamed_in_batches_without_losing_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("big.json");
    // About 5 MiB: several batches, and elements straddling buffer refills.
    let messages: Vec<Value> = (0..12_000)
        .map(|i| {
            let text = if i % 1000 == 999 {
                format!("meeting https://zoom.us/j/{}", 4_000_000_000u64 + i)
            } else {
                format!(
                    "message {i} {}",
                    "lorem ipsum dolor sit amet ".repeat(i as usize % 30)
                )
            };
            discord_message(&i.to_string(), ("10", "alice", None), &text)
        })
        .collect();
    write(&file, &discord_export("general", "100", messages));
    assert!(std::fs::metadata(&file).unwrap().len() > 4 << 20);
    let r = run(&["scan", "--format", "jsonl", p(&file)]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert_eq!(r.summary()["messages"], 12_000);
    assert_eq!(r.findings().len(), 12);
}

#[test]
fn a_truncated_discord_file_keeps_what_came_before_the_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cut.json");
    let text = discord_export("general", "100", discord_messages());
    let cut = text.find("\"id\": \"4\"").expect("message 4 present");
    write(&file, &text[..cut]);
    let r = run(&["scan", "--format", "jsonl", p(&file)]);
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains(p(&file)) && r.stderr.contains("truncated"),
        "{}",
        r.stderr
    );
    assert_eq!(r.findings().len(), 3, "messages 1 to 3 are still scanned");
}

// ----------------------------------------------------------- JSON Lines

#[test]
fn json_lines_are_scanned_and_a_bad_line_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("messages.txt");
    write(
        &file,
        concat!(
            "{\"platform\": \"slack\", \"id\": \"m1\", \"channel\": \"C9\", \"author\": \"U9\", \"time\": \"2023-02-03T04:05:06Z\", \"text\": \"<https://zoom.us/j/8889990000|zoom>\"}\n",
            "{\"platform\": \"discord\", \"id\": 2, \"text\": \"no links\"}\n",
            "this line is not JSON\n",
            "\n",
            "{\"platform\": \"msn\", \"text\": \"zoom.us/j/5550001111\"}\n",
            "{\"text\": \"https://zoom.us/j/1010101010\", \"ts\": 1675400000}\n",
            // No candidate link: checked for shape only, so neither the
            // unknown platform nor the missing text is judged, but a line
            // that is not an object still is.
            "{\"platform\": \"icq\", \"txt\": \"no link here\"}\n",
            "\"a bare string\"\n",
            // An array is not a message, whatever it holds.
            "[\"https://zoom.us/j/1212121212\", \"slack\"]\n",
        ),
    );
    let r = run(&["scan", "--format", "jsonl", p(&file)]);
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("{}:3: not a JSON object", file.display())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{}:5: unknown platform `msn`", file.display())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{}:8: not a JSON object", file.display())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "{}:9: not a JSON object with a string `text`: the line is a JSON array",
            file.display()
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(":7:"), "{}", r.stderr);
    assert_eq!(r.summary()["errors"], 4, "{}", r.stdout);
    let f = r.findings();
    assert_eq!(f.len(), 2);
    let first = find(&f, "8889990000");
    assert_eq!(first["channel"], "C9");
    assert_eq!(first["author"], "U9");
    assert_eq!(first["message_id"], "m1");
    assert_eq!(first["time"], "2023-02-03T04:05:06Z");
    assert_eq!(first["input"], format!("{}:1", file.display()));
    let second = find(&f, "1010101010");
    assert_eq!(second["platform"], "any");
    assert_eq!(second["time"], "2023-02-03T04:53:20Z");
}

// -------------------------------------------------------------- reports

#[test]
fn csv_goes_to_the_out_file_and_the_table_reads_well() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("export");
    write_slack_dir(&root);
    let out = tmp.path().join("report.csv");
    let r = run(&["scan", "--format", "csv", "--out", p(&out), p(&root)]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(r.stdout.is_empty(), "the report went to the file");
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 7, "a header and six findings: {csv}");
    assert!(rows[0].starts_with("time,platform,workspace,workspace_id,channel,channel_id,thread,"));
    // Sorted by time: the first finding is the first message.
    assert!(
        rows[1].starts_with("2021-03-04T00:00:00Z,slack,export,T01,general,C01,,1614816000.000100,alice.l,U01,zoom,"),
        "{}",
        rows[1]
    );

    let table = run(&["scan", p(&root)]);
    assert_eq!(table.code, 1);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("TIME (UTC)"), "{}", table.stdout);
    assert!(
        lines[1].starts_with("2021-03-04 00:00  slack export/#general"),
        "{}",
        table.stdout
    );
    assert!(
        lines[1].ends_with("https://zoom.us/j/1234567890?pwd=[redacted]"),
        "{}",
        lines[1]
    );
    assert!(
        table
            .stdout
            .contains("Summary: 6 banned link(s); 7 message(s) read"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("By month:"));
    assert!(table.stdout.contains("slack export/#secret-plans"));
}

#[test]
fn nothing_found_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("clean.jsonl");
    write(&file, "{\"text\": \"see https://meet.jit.si/team\"}\n");
    let r = run(&["scan", p(&file)]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("No banned meeting links found."));
}

#[test]
fn monitor_mode_says_what_the_bot_would_have_done() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy.toml");
    write(
        &policy,
        "name = \"watch\"\nmode = \"monitor\"\n\n[[rules]]\nid = \"watch-zoom\"\nproviders = [\"zoom\"]\naction = \"delete\"\n",
    );
    let file = tmp.path().join("m.jsonl");
    write(&file, "{\"text\": \"https://zoom.us/j/1231231231\"}\n");
    let r = run(&[
        "scan",
        "--policy",
        p(&policy),
        "--format",
        "jsonl",
        p(&file),
    ]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let f = &r.findings()[0];
    assert_eq!(f["rule"], "watch-zoom");
    assert_eq!(f["action"], "delete");
    assert_eq!(f["monitor"], true);
    let table = run(&["scan", "--policy", p(&policy), p(&file)]);
    assert!(table.stdout.contains("monitor: delete"), "{}", table.stdout);
}

// --------------------------------------------------------------- record

#[test]
fn record_writes_historical_audit_records_whose_chain_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("audit.db");
    let root = tmp.path().join("export");
    write_slack_dir(&root);
    let r = run_with(
        linkguard(Some(&db)),
        &["scan", "--record", "--format", "jsonl", p(&root)],
    );
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("recorded 6 historical finding(s)"),
        "{}",
        r.stderr
    );

    let export = run_with(
        linkguard(Some(&db)),
        &["audit", "export", "--format", "jsonl"],
    );
    assert_eq!(export.code, 0, "stderr: {}", export.stderr);
    let records: Vec<Value> = export
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v.to_string().contains("historical"))
        .collect();
    assert_eq!(records.len(), 6, "{}", export.stdout);
    assert!(
        !export.stdout.contains("s3cretPass"),
        "passcodes stay out of the audit log"
    );
    let text = export.stdout.clone();
    assert!(
        text.contains("https://zoom.us/j/1234567890?pwd=[redacted]"),
        "{text}"
    );
    assert!(text.contains("\"C01\""), "channel ids are recorded: {text}");

    // Scanning the same export again, here as a ZIP, adds nothing.
    let zip = tmp.path().join("export.zip");
    write_slack_zip(&zip, &slack_files(), "");
    let again = run_with(
        linkguard(Some(&db)),
        &["scan", "--record", "--format", "jsonl", p(&zip)],
    );
    assert_eq!(again.code, 1, "stderr: {}", again.stderr);
    assert!(
        again
            .stderr
            .contains("recorded 0 historical finding(s) in the audit log (6 already there"),
        "{}",
        again.stderr
    );
    let export = run_with(
        linkguard(Some(&db)),
        &["audit", "export", "--format", "jsonl"],
    );
    assert_eq!(
        export.stdout.matches("\"historical\"").count(),
        6,
        "{}",
        export.stdout
    );

    let verify = run_with(linkguard(Some(&db)), &["audit", "verify"]);
    assert_eq!(
        verify.code, 0,
        "chain verifies: {} {}",
        verify.stdout, verify.stderr
    );
}

#[test]
fn help_documents_the_exit_status() {
    let r = run(&["scan", "--help"]);
    assert_eq!(r.code, 0);
    for needle in [
        "--format",
        "--out",
        "--record",
        "--quiet",
        "Exit status:",
        "2  an input",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in {}", r.stdout);
    }
}
