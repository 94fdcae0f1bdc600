//! Policy evaluation throughput on generated chat traffic.
//!
//! `cargo bench -p linkguard-rules --bench evaluate`. Reports MiB/s (bytes of
//! message text) per group; messages/s follow from the printed message counts.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use linkguard_rules::eval::MessageContext;
use linkguard_rules::policy::{Policy, RoomKey};
use linkguard_rules::Dialect;

mod traffic;

fn run(c: &mut Criterion, name: &str, policy: &Policy, msgs: &[String], dialect: Dialect) {
    let key = RoomKey::new("bench");
    let bytes: usize = msgs.iter().map(String::len).sum();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(20);
    let ctx = MessageContext {
        platform: dialect,
        ..MessageContext::default()
    };
    g.bench_function(format!("{} msgs", msgs.len()), |b| {
        b.iter(|| {
            let mut blocked = 0usize;
            for m in msgs {
                let v = policy.evaluate(black_box(m), &ctx, &key);
                blocked += v.occurrences.len();
            }
            blocked
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let default = Policy::default_policy();
    let big = Policy::parse("1000 rules", &traffic::big_policy(1000)).expect("bench policy");
    let mostly_plain = traffic::traffic(1, 4 << 20, 5, 1);
    let link_heavy = traffic::traffic(2, 4 << 20, 50, 30);
    let mut long = traffic::traffic(3, 40_000, 5, 1).join(" ");
    let mut cut = 40_000.min(long.len());
    while !long.is_char_boundary(cut) {
        cut -= 1;
    }
    long.truncate(cut);
    let long = vec![long];
    run(
        c,
        "default/95pct-link-free",
        &default,
        &mostly_plain,
        Dialect::Slack,
    );
    run(
        c,
        "default/link-heavy",
        &default,
        &link_heavy,
        Dialect::Slack,
    );
    run(
        c,
        "default/one-40k-message",
        &default,
        &long,
        Dialect::Discord,
    );
    run(
        c,
        "1000-rules/95pct-link-free",
        &big,
        &mostly_plain,
        Dialect::Slack,
    );
    run(
        c,
        "1000-rules/link-heavy",
        &big,
        &link_heavy,
        Dialect::Slack,
    );
}

criterion_group!(evaluate, benches);
criterion_main!(evaluate);
