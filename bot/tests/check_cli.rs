//! `linkguard check` as a person and a program use it: the real binary, run
//! as a subprocess.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rules/tests/corpus/meeting-links.dev.jsonl"
);

const INVITATIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rules/tests/corpus/invitations.jsonl"
);

fn linkguard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkguard"));
    c.env_remove("LINKGUARD_POLICY")
        .env("LINKGUARD_ROOM_KEY", "test-key");
    c
}

fn run_with_input(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = linkguard()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("linkguard runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The JSON objects of a JSON Lines text, blank lines skipped.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The (provider, url) pairs of a case's `expect` or an output's `links`.
fn pairs(v: &Value, list: &str) -> BTreeSet<(String, String)> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["provider"].as_str().unwrap().into(),
                e["url"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn batch_mode_reports_the_whole_corpus_exactly() {
    let path = std::env::var("LINKGUARD_CORPUS").unwrap_or_else(|_| CORPUS.to_owned());
    let corpus = std::fs::read_to_string(&path).expect("corpus readable");
    let (code, stdout, stderr) = run_with_input(&["check", "--batch"], &corpus);
    assert_eq!(
        code, 1,
        "some corpus links are Zoom, so something is banned; stderr: {stderr}"
    );
    let inputs = json_lines(&corpus);
    let outputs = json_lines(&stdout);
    assert_eq!(inputs.len(), outputs.len());
    let mut failures = Vec::new();
    for (case, out) in inputs.iter().zip(&outputs) {
        assert_eq!(case["id"], out["id"]);
        let want = pairs(case, "expect");
        let got = pairs(out, "links");
        if want != got {
            failures.push(format!("{}: want {want:?}, got {got:?}", case["id"]));
        }
        // Spans point at the link as written.
        let text = case["text"].as_str().unwrap();
        for l in out["links"].as_array().unwrap() {
            let (s, e) = (
                l["span"][0].as_u64().unwrap() as usize,
                l["span"][1].as_u64().unwrap() as usize,
            );
            assert!(
                s < e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e)
            );
        }
        // Zoom is banned by the default policy and swapped for Jitsi; nothing else changes.
        let zoom = want.iter().any(|(p, _)| p == "zoom");
        let rewritten = out["rewritten"].as_str().unwrap();
        assert_eq!(zoom, rewritten != text, "{}", case["id"]);
        if zoom {
            assert!(
                rewritten.contains("https://meet.jit.si/linkguard-"),
                "{}",
                case["id"]
            );
        }
    }
    println!(
        "check --batch: {}/{} corpus cases",
        inputs.len() - failures.len(),
        inputs.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Invitations pasted as text, through the binary with a policy that opts in
/// (`detect_invitations`): each case's findings exactly, and no passcode in
/// the output, the rewritten message included.
#[test]
fn batch_mode_reports_invitations_when_a_rule_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("invitations.toml");
    let mut text = String::new();
    for id in ["zoom", "teams", "webex", "meet", "goto"] {
        text.push_str(&format!(
            "[[rules]]\nid = \"no-{id}\"\nproviders = [\"{id}\"]\naction = \"replace\"\n\
             alternative = \"https://rooms.example.org/{{room}}\"\ndetect_invitations = true\n\n"
        ));
    }
    std::fs::write(&policy, text).unwrap();
    let cases = std::fs::read_to_string(INVITATIONS).expect("invitation cases readable");
    let (code, stdout, stderr) = run_with_input(
        &["check", "--batch", "--policy", policy.to_str().unwrap()],
        &cases,
    );
    assert_eq!(code, 1, "stderr: {stderr}");
    let inputs = json_lines(&cases);
    let outputs = json_lines(&stdout);
    assert_eq!(inputs.len(), outputs.len());
    for (case, out) in inputs.iter().zip(&outputs) {
        assert_eq!(pairs(case, "expect"), pairs(out, "links"), "{}", case["id"]);
        if let Some(secret) = case["secret"].as_str() {
            assert!(
                !out.to_string().contains(secret),
                "{}: the passcode is in the output {out}",
                case["id"]
            );
        }
    }
}

#[test]
fn batch_mode_keeps_going_after_malformed_lines() {
    let input = "{\"id\": 1, \"text\": \"https://zoom.us/j/123456789\"}\nnot json\n[1]\n{\"id\": 4}\n{\"id\": 5, \"platform\": \"irc\", \"text\": \"x\"}\n{\"text\": \"nothing here\", \"extra\": true}\n";
    let (code, stdout, _) = run_with_input(&["check", "--batch"], input);
    assert_eq!(code, 2, "malformed lines make the exit status 2");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["links"][0]["allowed"], false);
    assert_eq!(lines[0]["links"][0]["rule"], "no-zoom");
    assert!(lines[1]["error"].as_str().unwrap().contains("invalid JSON"));
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[2]["error"].as_str().unwrap().contains("JSON object"));
    assert!(lines[3]["error"].as_str().unwrap().contains("`text`"));
    assert_eq!(lines[3]["id"], 4);
    assert!(lines[4]["error"]
        .as_str()
        .unwrap()
        .contains("unknown platform `irc`"));
    assert_eq!(lines[5]["links"].as_array().unwrap().len(), 0);
    assert_eq!(lines[5]["rewritten"], "nothing here");
}

#[test]
fn readable_report_and_exit_status() {
    let out = linkguard()
        .args([
            "check",
            "--platform",
            "slack",
            "<https://acme.zoom.us/j/81731411461|join> &amp; <!here>",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("https://acme.zoom.us/j/81731411461 (Zoom)"),
        "{stdout}"
    );
    assert!(stdout.contains("BLOCKED by rule `no-zoom`"), "{stdout}");
    assert!(
        stdout.contains("use instead: https://meet.jit.si/linkguard-"),
        "{stdout}"
    );
    // Only the link changes: label, escapes and the mention stay byte-for-byte.
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("<https://meet.jit.si/linkguard-")
            && last.ends_with("|join> &amp; <!here>"),
        "{last}"
    );

    let out = linkguard()
        .args(["check", "https://meet.google.com/abc-defg-hij"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains("allowed"));

    // Same link, same key: same room, every time.
    let json = |args: &[&str]| -> Value {
        let o = linkguard().args(args).output().unwrap();
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let a = json(&["check", "--json", "https://zoom.us/j/123456789"]);
    let b = json(&["check", "--json", "see hxxps://zoom[.]us/j/123456789 ok"]);
    assert_eq!(a["links"][0]["alternative"], b["links"][0]["alternative"]);
}

#[test]
fn a_bad_policy_file_is_named_with_line_and_column() {
    let dir = std::env::temp_dir().join(format!("lg-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[rules]]\nid = \"r1\"\nproviders = [\"zoom\"]\npatterns = ['(unclosed']\nalternative = \"https://meet.jit.si/{room}\"\n",
    )
    .unwrap();
    let out = linkguard()
        .args(["check", "--policy", path.to_str().unwrap(), "text"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}:4:13: rule `r1`: invalid regex",
            path.display()
        )),
        "{stderr}"
    );
    let missing = linkguard()
        .args(["check", "--policy", "/nonexistent/p.toml", "x"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8(missing.stderr)
        .unwrap()
        .contains("/nonexistent/p.toml"));
}
