//! A large custom policy and traffic that hits it, for the 10,000-rule
//! benchmark and the test that the indexed evaluation agrees with a plain
//! rule-by-rule one.
//!
//! The rules look like what a big company accumulates: meeting hosts of its
//! own systems (`meet.<brand>.com`), vanity domains of acquired teams
//! (`*.<brand>-vc.net`), path regexes of a shared conferencing front end
//! (`^https://conf\.example\.com/<brand>/room/[0-9]+`) and a few unanchored
//! path shapes. Deterministic, so runs are comparable.

#![allow(dead_code)]

use super::traffic::Rng;

const SYLLABLES: &[&str] = &[
    "ac", "me", "glo", "bex", "ini", "tech", "vo", "lt", "ra", "zen", "qu", "ant", "nex", "us",
    "ori", "on", "pul", "sar", "hel", "io", "kry", "pto", "lum", "en", "syn", "ergy", "vert", "ex",
    "dyn", "amo", "cor", "tex",
];

/// A brand name for rule `i`: two or three syllables and a base-36 suffix,
/// unique per `i`.
pub fn brand(i: usize) -> String {
    let n = SYLLABLES.len();
    let mut s = String::new();
    s.push_str(SYLLABLES[i % n]);
    s.push_str(SYLLABLES[(i / n) % n]);
    // A third of the brands get a third syllable.
    if let 0 = i % 3 {
        s.push_str(SYLLABLES[(i * 7 + 3) % n]);
    }
    let mut k = i;
    let mut tail = Vec::new();
    loop {
        tail.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[k % 36]);
        k /= 36;
        if k == 0 {
            break;
        }
    }
    tail.reverse();
    s.push_str(std::str::from_utf8(&tail).unwrap_or("0"));
    s
}

/// What rule `i` of [`policy`] matches: one of four shapes.
pub fn kind(i: usize) -> u8 {
    (i % 4) as u8
}

/// A policy of the built-in default rule plus `n` custom rules: a quarter
/// exact meeting hosts (one to three each), a quarter `*.` vanity domains,
/// a quarter host-anchored path regexes and a quarter unanchored path
/// regexes. Actions and scopes vary as in a real policy.
pub fn policy(n: usize) -> String {
    let mut p = String::from(linkguard_rules::policy::DEFAULT_POLICY);
    for i in 0..n {
        let b = brand(i);
        let (action, alt) = match i % 5 {
            0 => (
                "replace",
                "\nalternative = \"https://meet.jit.si/{prefix}-{room}\"",
            ),
            1 => ("warn", ""),
            2 => ("delete", ""),
            3 => (
                "reply",
                "\nalternative = \"https://meet.jit.si/{prefix}-{room}\"",
            ),
            _ => ("log", ""),
        };
        let matcher = match kind(i) {
            0 => match i % 3 {
                0 => format!("hosts = [\"meet.{b}.com\"]"),
                1 => format!("hosts = [\"meet.{b}.com\", \"video.{b}.io\"]"),
                _ => format!(
                    "hosts = [\"meet.{b}.com\", \"video.{b}.io\", \"{b}.zoom-gateway.example\"]"
                ),
            },
            1 => format!("hosts = [\"*.{b}-vc.net\"]"),
            2 => {
                format!("patterns = ['^https://conf\\.example\\.com/{b}/(room|call)/[0-9]{{4,}}']")
            }
            _ => format!("patterns = ['/webinar/{b}-[a-z0-9]+/join']"),
        };
        let scope = match i % 7 {
            0 => "\nplatforms = [\"slack\"]",
            1 => "\nexempt_channels = [\"C0FAKEEXEMPT\"]",
            _ => "",
        };
        p.push_str(&format!(
            "\n[[rules]]\nid = \"custom-{i}\"\n{matcher}\naction = \"{action}\"{alt}{scope}\nreason = \"{b} runs its own conferencing; use the company room\"\n"
        ));
    }
    p
}

/// A link that rule `i` of [`policy`] bans (before any earlier rule).
pub fn banned_link(rng: &mut Rng, i: usize) -> String {
    let b = brand(i);
    let room = 10_000 + rng.below(90_000_000);
    match kind(i) {
        0 => match rng.below(3) {
            0 => format!("https://meet.{b}.com/r/{room}"),
            1 if i % 3 >= 1 => format!("https://video.{b}.io/join/{room}?pwd=x{room}"),
            _ => format!("<https://meet.{b}.com/{room}|join the call>"),
        },
        1 => format!("https://team{}.{b}-vc.net/m/{room}", rng.below(9)),
        2 => format!("https://conf.example.com/{b}/room/{room}"),
        _ => format!(
            "https://events.example.org/webinar/{b}-q{}/join",
            rng.below(9)
        ),
    }
}

/// A link that looks like rule `i`'s but that no rule bans.
pub fn near_miss(rng: &mut Rng, i: usize) -> String {
    let b = brand(i);
    let room = rng.below(1_000_000);
    match kind(i) {
        0 => format!("https://meet.{b}.org/r/{room}"),
        1 => format!("https://team.{b}-vc.org/m/{room}"),
        2 => format!("https://conf.example.com/{b}/wiki/{room}"),
        _ => format!("https://events.example.org/webinar/{b}-q1/agenda"),
    }
}

/// Link-heavy traffic for a policy of `n` custom rules, about `bytes` long:
/// the ordinary link-heavy mix of [`super::traffic::traffic`] (50% ordinary
/// URLs, 30% catalogue meeting links) with a custom-rule link in a further
/// 20% of messages and a near miss in 10%.
pub fn traffic(seed: u64, bytes: usize, n: usize) -> Vec<String> {
    let mut rng = Rng::new(seed ^ 0x10_000);
    let mut out = super::traffic::traffic(seed, bytes, 50, 30);
    for m in &mut out {
        if n == 0 {
            break;
        }
        let roll = rng.below(100);
        if roll < 20 {
            let i = rng.below(n as u64) as usize;
            let link = banned_link(&mut rng, i);
            m.push_str(" see ");
            m.push_str(&link);
        } else if roll < 30 {
            let i = rng.below(n as u64) as usize;
            let link = near_miss(&mut rng, i);
            m.push(' ');
            m.push_str(&link);
        }
    }
    out
}
