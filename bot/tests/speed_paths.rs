//! The fast paths of `linkguard scan` and `linkguard check --batch` against
//! slow references, on files made by the benchmark's own generator
//! (`scripts/gen-export.py`, which needs python3): chat traffic as JSON
//! Lines and a Slack plus DiscordChatExporter export, with meeting links in
//! the forms people paste them. The real binary runs on both sides.
//!
//! - The scan's reference is the same scan with its raw-bytes prefilter
//!   turned off (a rule with `patterns` makes every message a candidate, so
//!   every message is parsed and evaluated): findings must be identical.
//! - `check --batch` on input large enough to be spread over threads must
//!   answer every line, in input order, and ban what the scan finds.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GENERATOR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/gen-export.py");

fn linkguard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkguard"));
    c.env_remove("LINKGUARD_POLICY")
        .env_remove("LINKGUARD_CONFIG")
        .env_remove("LINKGUARD_DATABASE_URL")
        .env("LINKGUARD_ROOM_KEY", "test-key");
    c
}

fn generate(args: &[&str]) {
    let out = Command::new("python3")
        .arg(GENERATOR)
        .args(args)
        .output()
        .expect("python3 runs scripts/gen-export.py (install python3)");
    assert!(
        out.status.success(),
        "gen-export.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The generated traffic and export, made once per test.
struct Files {
    _tmp: tempfile::TempDir,
    traffic: PathBuf,
    slack: PathBuf,
    discord: PathBuf,
}

fn files() -> Files {
    let tmp = tempfile::tempdir().unwrap();
    let traffic = tmp.path().join("traffic.jsonl");
    let export = tmp.path().join("export");
    // 3% of messages with a meeting link, so that a few hundred turn up.
    generate(&[
        "--format",
        "jsonl-traffic",
        "--messages",
        "30000",
        "--density",
        "0.03",
        traffic.to_str().unwrap(),
    ]);
    generate(&[
        "--size-gib",
        "0.01",
        "--discord-share",
        "0.3",
        "--density",
        "0.03",
        "--seed",
        "11",
        export.to_str().unwrap(),
    ]);
    Files {
        traffic,
        slack: export.join("slack"),
        discord: export.join("discord"),
        _tmp: tmp,
    }
}

/// The findings of `scan --format jsonl` over `paths`, each as its JSON
/// text (all fields), as a set; and the exit status.
fn scan(policy: Option<&Path>, paths: &[&Path]) -> (i32, BTreeSet<String>) {
    let mut c = linkguard();
    c.args(["scan", "--quiet", "--format", "jsonl"]);
    if let Some(p) = policy {
        c.arg("--policy").arg(p);
    }
    let out = c.args(paths).output().expect("linkguard runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let findings = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("jsonl"))
        .filter(|v| v["type"] == "finding")
        .map(|v| v.to_string())
        .collect();
    (out.status.code().unwrap_or(-1), findings)
}

#[test]
fn prefiltered_scans_find_exactly_what_a_full_parse_finds() {
    let f = files();
    let tmp = tempfile::tempdir().unwrap();
    // The built-in policy, and the same with a rule whose regex turns the
    // prefilter off: every message of every input is parsed.
    let default = include_str!("../../rules/src/policy/default.toml");
    let plain = tmp.path().join("default.toml");
    std::fs::write(&plain, default).unwrap();
    let full = tmp.path().join("full-parse.toml");
    std::fs::write(
        &full,
        format!(
            "{default}\n[[rules]]\nid = \"reference\"\npatterns = ['^never:a-link$']\naction = \"log\"\n"
        ),
    )
    .unwrap();
    for input in [&f.traffic, &f.slack, &f.discord] {
        let (code, fast) = scan(Some(&plain), &[input]);
        let (full_code, reference) = scan(Some(&full), &[input]);
        assert_eq!((code, full_code), (1, 1), "{}", input.display());
        assert!(
            fast.len() > 50,
            "{}: only {} findings",
            input.display(),
            fast.len()
        );
        let missing: Vec<_> = reference.difference(&fast).take(3).collect();
        let extra: Vec<_> = fast.difference(&reference).take(3).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: the prefiltered scan missed {missing:#?} and added {extra:#?}",
            input.display()
        );
    }
}

#[test]
fn check_batch_over_threads_answers_every_line_in_order() {
    let f = files();
    let input = std::fs::read_to_string(&f.traffic).unwrap();
    assert!(input.len() > 3 << 20, "more than one block of input");
    let out = linkguard()
        .args(["check", "--batch"])
        .stdin(Stdio::from(std::fs::File::open(&f.traffic).unwrap()))
        .output()
        .expect("linkguard runs");
    assert_eq!(out.status.code(), Some(1), "a banned link was found");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ids: Vec<String> = input
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let got: Vec<&str> = answers.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids, "one answer per line, in input order");
    // A line without a link comes back as it went in.
    for (line, answer) in input.lines().zip(&answers).take(2000) {
        let text = serde_json::from_str::<Value>(line).unwrap()["text"].clone();
        if answer["links"].as_array().unwrap().is_empty() {
            assert_eq!(answer["rewritten"], text);
        }
    }
    // What check bans is what the scan finds.
    let banned: BTreeSet<String> = answers
        .iter()
        .filter(|a| {
            a["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["allowed"] == false)
        })
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let (_, findings) = scan(None, &[&f.traffic]);
    let found: BTreeSet<String> = findings
        .iter()
        .map(|s| {
            serde_json::from_str::<Value>(s).unwrap()["message_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(banned.len() > 50);
    assert_eq!(banned, found);
}
