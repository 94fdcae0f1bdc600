//! How long a process's first meeting links take to evaluate: the built-in
//! policy's load, then the first link of each kind (which compiles the
//! catalogue lists it needs), then the same links again. Every process that
//! evaluates a link (`scan`, `check`) pays the first two once, before its
//! first answer; run it a few times, each run is a fresh process.
//!
//! `cargo run --release -p linkguard-rules --example first_link`

use linkguard_rules::eval::MessageContext;
use linkguard_rules::policy::{Policy, RoomKey, DEFAULT_POLICY, DEFAULT_POLICY_NAME};
use std::time::Instant;

fn main() {
    let start = Instant::now();
    let policy = Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).expect("built-in policy");
    let load = start.elapsed();
    let key = RoomKey::new("first-link");
    let ctx = MessageContext::default();
    let links = [
        "join https://zoom.us/j/92147718123?pwd=uxptso9Uoj7OLgn87e0LUX7GpksoaD.1",
        "https://meet.google.com/cqg-tona-zhh",
        "https://teams.microsoft.com/meet/379038692660365?p=OxrPUo7Gpkm1obpI",
        "https://globex.webex.com/meet/r.okafor",
    ];
    let mut first = Vec::new();
    for text in links {
        let t = Instant::now();
        let v = policy.evaluate(text, &ctx, &key);
        first.push((t.elapsed(), v.occurrences.len()));
    }
    let t = Instant::now();
    for text in links {
        std::hint::black_box(policy.evaluate(text, &ctx, &key));
    }
    let again = t.elapsed();
    println!("policy load: {:.3} ms", load.as_secs_f64() * 1e3);
    for (text, (took, n)) in links.iter().zip(&first) {
        println!(
            "first {:<40} {:.3} ms ({n} link)",
            &text[..text.len().min(40)],
            took.as_secs_f64() * 1e3
        );
    }
    println!("all four again: {:.3} ms", again.as_secs_f64() * 1e3);
}
