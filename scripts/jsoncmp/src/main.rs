//! Measures the hand-written JSON splitting of `linkguard scan`
//! (`bot/scan/src/structural.rs` and `jsonsplit.rs`, compiled in here
//! unchanged) against maintained crates doing the same jobs, on the
//! benchmark's own files, and prints a Markdown table.
//!
//! The jobs are the ones the scan does:
//!
//! - **array**: the bounds of every message object in a Slack day-file or in
//!   a DiscordChatExporter file's `messages` array (the scan then parses
//!   only the messages the prefilter points at);
//! - **lines**: every JSON Lines message's `text` (and `id`, `platform`),
//!   read and checked line by line, as `linkguard check --batch` must.
//!
//! Every method must report the same count (and total bytes) as the first
//! one of its job, or the program stops: a fast wrong answer is no answer.
//!
//!   jsoncmp [--rounds N] [--jsonl FILE] [--slack DIR] [--discord FILE]

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[allow(dead_code)]
#[path = "../../../bot/scan/src/structural.rs"]
mod structural;

#[allow(dead_code)]
#[path = "../../../bot/scan/src/jsonsplit.rs"]
mod jsonsplit;

use structural::Structural;

/// What a method found: how many items and their total length, compared
/// across methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Tally {
    items: u64,
    bytes: u64,
}

type Method = (&'static str, &'static str, fn(&[Vec<u8>]) -> Tally);

fn main() {
    let mut rounds = 5;
    let (mut jsonl, mut slack, mut discord) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--rounds" => rounds = val().parse().unwrap_or_else(|_| usage()),
            "--jsonl" => jsonl = Some(PathBuf::from(val())),
            "--slack" => slack = Some(PathBuf::from(val())),
            "--discord" => discord = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    println!("| input | job | method | validates | median MiB/s | best MiB/s |");
    println!("| --- | --- | --- | --- | --- | --- |");
    if let Some(p) = slack {
        let days = slack_days(&p);
        run("Slack day-files", "array", &days, rounds, ARRAY_METHODS);
    }
    if let Some(p) = discord {
        let arrays = vec![discord_messages(&std::fs::read(&p).expect("read the Discord file"))];
        run("Discord file", "array", &arrays, rounds, ARRAY_METHODS);
    }
    if let Some(p) = jsonl {
        let file = vec![std::fs::read(&p).expect("read the JSON Lines file")];
        run("JSON Lines", "lines", &file, rounds, LINE_METHODS);
    }
}

fn usage() -> ! {
    eprintln!("usage: jsoncmp [--rounds N] [--jsonl FILE] [--slack DIR] [--discord FILE]");
    std::process::exit(2)
}

fn run(input: &str, job: &str, bufs: &[Vec<u8>], rounds: usize, methods: &[Method]) {
    let total: usize = bufs.iter().map(Vec::len).sum();
    let mut first: Option<Tally> = None;
    for &(name, validates, f) in methods {
        let mut speeds = Vec::new();
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            let got = std::hint::black_box(f(std::hint::black_box(bufs)));
            let secs = t.elapsed().as_secs_f64();
            match first {
                None => first = Some(got),
                Some(want) => assert_eq!(got, want, "{name} disagrees on {input}"),
            }
            speeds.push(total as f64 / (1 << 20) as f64 / secs);
        }
        speeds.sort_by(f64::total_cmp);
        println!(
            "| {input} ({} MiB, {} items) | {job} | {name} | {validates} | {:.0} | {:.0} |",
            total >> 20,
            first.map_or(0, |t| t.items),
            speeds[speeds.len() / 2],
            speeds[speeds.len() - 1]
        );
    }
}

// ------------------------------------------------------------------ inputs

/// Every `YYYY-MM-DD.json` under `root`, read (up to 512 MiB).
fn slack_days(root: &Path) -> Vec<Vec<u8>> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read the Slack export") {
            let p = e.expect("read the Slack export").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.len() == 15 && n.ends_with(".json") && n.as_bytes()[4] == b'-'
            }) {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let mut out = Vec::new();
    let mut size = 0;
    for p in paths {
        let b = std::fs::read(&p).expect("read a day-file");
        size += b.len();
        out.push(b);
        if size > 512 << 20 {
            break;
        }
    }
    out
}

/// The `messages` array of a DiscordChatExporter file, found once with the
/// scan's own value splitter so every method gets the same bytes.
fn discord_messages(file: &[u8]) -> Vec<u8> {
    let key = memchr::memmem::find(file, b"\"messages\"").expect("a messages key");
    let open = key + memchr::memchr(b'[', &file[key..]).expect("a messages array");
    let len = jsonsplit::value_len(&file[open..], true).expect("a whole messages array");
    file[open..open + len].to_vec()
}

// ------------------------------------------------------------ array methods

const ARRAY_METHODS: &[Method] = &[
    ("structural (ours, SSE2 on x86-64)", "no", array_structural),
    ("structural (ours, other targets: memchr walk)", "no", array_structural_portable),
    ("memchr, brace by brace", "no", array_memchr),
    ("serde_json `Vec<&RawValue>`", "yes", array_serde_raw),
    ("sonic-rs `to_array_iter`", "partly", array_sonic),
    ("simd-json `to_tape` (on a copy)", "yes", array_simd_json),
];

fn tally_objects(arr: &[u8], walk: impl Iterator<Item = usize>, t: &mut Tally) {
    let mut depth = 0usize;
    let mut start = 0;
    for at in walk {
        if arr[at] == b'{' {
            if depth == 0 {
                start = at;
            }
            depth += 1;
        } else {
            depth -= 1;
            if depth == 0 {
                t.items += 1;
                t.bytes += (at + 1 - start) as u64;
            }
        }
    }
}

fn array_structural(bufs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for b in bufs {
        // Asked for every object (none ends past usize::MAX), it reports
        // them all and says it did not reach the offset.
        jsonsplit::top_objects(b, usize::MAX, |s, e| {
            t.items += 1;
            t.bytes += (e - s) as u64;
        });
    }
    t
}

fn array_structural_portable(bufs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for b in bufs {
        tally_objects(b, Structural::portable(b, b'{', b'}'), &mut t);
    }
    t
}

/// What the scan did before the 64-byte masks: jump from brace or quote to
/// the next with `memchr3`, skipping strings by their closing quote.
fn array_memchr(bufs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for b in bufs {
        let (mut i, mut depth, mut start) = (0, 0usize, 0);
        while let Some(k) = memchr::memchr3(b'{', b'}', b'"', &b[i..]) {
            let at = i + k;
            match b[at] {
                b'"' => {
                    let mut q = at + 1;
                    loop {
                        q += memchr::memchr(b'"', &b[q..]).expect("a closing quote");
                        let slashes = b[..q].iter().rev().take_while(|&&c| c == b'\\').count();
                        if slashes % 2 == 0 {
                            break;
                        }
                        q += 1;
                    }
                    i = q + 1;
                    continue;
                }
                b'{' => {
                    if depth == 0 {
                        start = at;
                    }
                    depth += 1;
                }
                _ => {
                    depth -= 1;
                    if depth == 0 {
                        t.items += 1;
                        t.bytes += (at + 1 - start) as u64;
                    }
                }
            }
            i = at + 1;
        }
    }
    t
}

fn array_serde_raw(bufs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for b in bufs {
        let items: Vec<&RawValue> = serde_json::from_slice(b).expect("valid JSON");
        for v in items {
            t.items += 1;
            t.bytes += v.get().len() as u64;
        }
    }
    t
}

fn array_sonic(bufs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for b in bufs {
        for v in sonic_rs::to_array_iter(b.as_slice()) {
            let v = v.expect("valid JSON");
            t.items += 1;
            t.bytes += v.as_raw_str().len() as u64;
        }
    }
    t
}

/// simd-json builds a tape of the whole document (and unescapes strings in
/// place, hence the copy); the tape keeps no byte offsets, so the lengths
/// are taken from the structural walk and only the count from the tape.
fn array_simd_json(bufs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    let mut copy = Vec::new();
    for b in bufs {
        copy.clear();
        copy.extend_from_slice(b);
        let tape = simd_json::to_tape(&mut copy).expect("valid JSON");
        let n = match tape.0.first() {
            Some(simd_json::Node::Array { len, .. }) => *len as u64,
            _ => 0,
        };
        t.items += n;
    }
    // The byte total cannot come from the tape; reuse the reference one.
    t.bytes = array_structural(bufs).bytes;
    t
}

// ------------------------------------------------------------- line methods

const LINE_METHODS: &[Method] = &[
    ("serde_json borrowed struct per line", "yes", lines_serde),
    ("serde_json `StreamDeserializer`", "yes", lines_serde_stream),
    ("ours: `plain_members` (plainest JSON only)", "yes", lines_plain),
    ("memchr lines + ours (`members`, no checks)", "no", lines_members),
    ("sonic-rs borrowed struct per line", "yes", lines_sonic),
    ("simd-json borrowed struct per line (on a copy)", "yes", lines_simd_json),
];

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    platform: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    id: Option<&'a RawValue>,
}

/// The other crates cannot borrow serde_json's `RawValue`: their line has
/// the id as text (every generated id is a string).
#[derive(Deserialize)]
struct TextLine<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    platform: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    id: Option<Cow<'a, str>>,
}

/// Calls `text_len` on each non-empty line of every buffer and tallies the
/// lines and the lengths of their texts.
fn tally_lines(bufs: &[Vec<u8>], mut text_len: impl FnMut(&[u8]) -> usize) -> Tally {
    let mut t = Tally::default();
    for b in bufs {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', b).chain(std::iter::once(b.len())) {
            let line = &b[start..nl];
            start = nl + 1;
            if !line.is_empty() {
                t.items += 1;
                t.bytes += text_len(line) as u64;
            }
        }
    }
    t
}

fn lines_serde(bufs: &[Vec<u8>]) -> Tally {
    tally_lines(bufs, |line| {
        let l: Line<'_> = serde_json::from_slice(line).expect("valid line");
        l.text.len()
    })
}

fn lines_serde_stream(bufs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for b in bufs {
        for l in serde_json::Deserializer::from_slice(b).into_iter::<Line<'_>>() {
            t.items += 1;
            t.bytes += l.expect("valid line").text.len() as u64;
        }
    }
    t
}

/// What `check --batch` does first: the plain form read without a parser
/// (every generated line is in it; any other line would go to serde_json).
fn lines_plain(bufs: &[Vec<u8>]) -> Tally {
    tally_lines(bufs, |line| {
        let line = std::str::from_utf8(line).expect("UTF-8");
        let mut text = None;
        assert!(jsonsplit::plain_members(line, |k, v| {
            if k == "text" {
                text = v.text();
            }
            true
        }));
        text.expect("a text").len()
    })
}

fn lines_members(bufs: &[Vec<u8>]) -> Tally {
    tally_lines(bufs, |line| {
        let mut text = None;
        jsonsplit::members(line, |k, v| {
            if k == b"text" {
                text = jsonsplit::string(v);
            }
        })
        .expect("an object");
        text.expect("a text").len()
    })
}

fn lines_sonic(bufs: &[Vec<u8>]) -> Tally {
    tally_lines(bufs, |line| {
        let l: TextLine<'_> = sonic_rs::from_slice(line).expect("valid line");
        l.text.len()
    })
}

fn lines_simd_json(bufs: &[Vec<u8>]) -> Tally {
    let mut copy = Vec::new();
    tally_lines(bufs, |line| {
        copy.clear();
        copy.extend_from_slice(line);
        let l: TextLine<'_> = simd_json::serde::from_slice(&mut copy).expect("valid line");
        l.text.len()
    })
}
