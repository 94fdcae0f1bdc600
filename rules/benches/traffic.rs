//! Generated chat traffic for benchmarks: realistic message lengths, mostly
//! without links, ~5% with an ordinary URL and ~1% with a meeting link.
//! Deterministic (a fixed-seed xorshift), so runs are comparable.

#![allow(dead_code)]

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "the", "deploy", "is", "green", "again", "can", "someone", "review", "my", "PR", "thanks",
    "lunch?", "standup", "moved", "to", "tomorrow", "ok", "sounds", "good", "I'll", "take", "a",
    "look", "after", "the", "meeting", "zoom", "in", "on", "that", "graph", "latency", "p99",
    "looks", "off", "since", "Tuesday", ":tada:", "lgtm", "ship", "it", "teams", "meet", "call",
    "later", "please", "update", "the", "doc", "with", "numbers", "and", "ping", "me", "when",
    "done", "—", "merci", "👍", "great", "work", "everyone",
];

const OTHER_URLS: &[&str] = &[
    "https://github.com/acme/api/pull/4821",
    "https://docs.google.com/document/d/1aBcD3fGh/edit",
    "https://grafana.acme.example/d/abc123/latency?orgId=1&from=now-6h",
    "<https://acme.atlassian.net/browse/OPS-1234|OPS-1234>",
    "https://en.wikipedia.org/wiki/Rust_(programming_language)",
    "https://zoom.us/pricing",
];

const MEETING_URLS: &[&str] = &[
    "https://zoom.us/j/92147718123?pwd=uxptso9Uoj7OLgn87e0LUX7GpksoaD.1",
    "<https://acme.zoom.us/j/81731411461?pwd=qirqG9ZNFufCmWdMKSNsRT3menxkeP.1|join>",
    "https://meet.google.com/cqg-tona-zhh",
    "https://teams.microsoft.com/meet/379038692660365?p=OxrPUo7Gpkm1obpI",
    "https://globex.webex.com/meet/r.okafor",
    "[Join the call](https://us02web.zoom.us/j/97292293535)",
];

/// One message: `link` is 0 (none), 1 (ordinary URL) or 2 (meeting link).
pub fn message(rng: &mut Rng, link: u8) -> String {
    // Chat messages are mostly short: 20–200 bytes, some longer.
    let spread = if rng.below(10) == 0 { 60 } else { 20 };
    let words = 3 + rng.below(spread) as usize;
    let at = rng.below(words as u64) as usize;
    let mut m = String::new();
    for i in 0..words {
        if i > 0 {
            m.push(' ');
        }
        if i == at && link == 1 {
            m.push_str(rng.pick(OTHER_URLS));
            m.push(' ');
        }
        if i == at && link == 2 {
            m.push_str(rng.pick(MEETING_URLS));
            m.push(' ');
        }
        m.push_str(rng.pick(WORDS));
    }
    m
}

/// Traffic where `url_pct`% of messages carry an ordinary URL and
/// `meeting_pct`% a meeting link, about `bytes` long in total.
pub fn traffic(seed: u64, bytes: usize, url_pct: u64, meeting_pct: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut total = 0;
    while total < bytes {
        let roll = rng.below(100);
        let kind = if roll < meeting_pct {
            2
        } else if roll < meeting_pct + url_pct {
            1
        } else {
            0
        };
        let m = message(&mut rng, kind);
        total += m.len();
        out.push(m);
    }
    out
}

/// A policy with `n` custom rules (half by host, half by URL pattern) after
/// the default Zoom rule.
pub fn big_policy(n: usize) -> String {
    let mut p = String::from(linkguard_rules::policy::DEFAULT_POLICY);
    for i in 0..n {
        if i % 2 == 0 {
            p.push_str(&format!(
                "\n[[rules]]\nid = \"host-{i}\"\nhosts = [\"*.vc{i}.example.com\"]\naction = \"warn\"\nreason = \"retired system {i}\"\n"
            ));
        } else {
            p.push_str(&format!(
                "\n[[rules]]\nid = \"pattern-{i}\"\npatterns = ['^https://legacy{i}\\.example/room/[0-9]+']\naction = \"log\"\n"
            ));
        }
    }
    p
}
