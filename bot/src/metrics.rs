//! Prometheus metrics, served on their own listener (`metrics_addr`), apart
//! from the public endpoint.
//!
//! A small registry of our own rather than a framework: a handful of labelled
//! counters, two histograms and a gauge, rendered in the text exposition
//! format. Recording is a short mutex hold on a map; nothing here is on the
//! per-message fast path except `messages_seen`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Histogram buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
    gauges: BTreeMap<(&'static str, Labels), i64>,
}

/// The process's metrics.
pub struct Metrics {
    inner: Mutex<Registry>,
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "linkguard_messages_seen_total",
        "counter",
        "Messages evaluated, by platform.",
    ),
    (
        "linkguard_links_found_total",
        "counter",
        "Banned meeting links found, by provider and rule.",
    ),
    (
        "linkguard_actions_total",
        "counter",
        "Moderation actions, by action and outcome.",
    ),
    (
        "linkguard_event_to_action_seconds",
        "histogram",
        "Time from receiving an event to finishing its action.",
    ),
    (
        "linkguard_rate_limit_waits_total",
        "counter",
        "Waits forced by a platform's rate limit, by platform.",
    ),
    (
        "linkguard_reconnects_total",
        "counter",
        "Platform connections re-established, by platform.",
    ),
    (
        "linkguard_audit_append_seconds",
        "histogram",
        "Time to durably append audit records.",
    ),
    (
        "linkguard_audit_append_errors_total",
        "counter",
        "Audit appends that failed (the event is retried or left pending).",
    ),
    (
        "linkguard_pending_actions",
        "gauge",
        "Detections whose action has no recorded outcome yet.",
    ),
    (
        "linkguard_platform_connected",
        "gauge",
        "1 while a platform connection is up.",
    ),
    (
        "linkguard_unrecorded_events",
        "gauge",
        "Events received but not yet recorded, by platform.",
    ),
    (
        "linkguard_recording_stalled",
        "gauge",
        "1 while recording a platform's events fails and they wait, by platform.",
    ),
];

/// The global metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| Metrics {
        inner: Mutex::new(Registry::default()),
    })
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn inc(&self, name: &'static str, labels: Labels, by: u64) {
        self.with(|r| *r.counters.entry((name, labels)).or_default() += by);
    }

    fn observe(&self, name: &'static str, labels: Labels, d: Duration) {
        self.with(|r| {
            r.histograms
                .entry((name, labels))
                .or_default()
                .observe(d.as_secs_f64())
        });
    }

    /// A message was evaluated.
    pub fn message_seen(&self, platform: &str) {
        self.inc(
            "linkguard_messages_seen_total",
            vec![("platform", platform.to_owned())],
            1,
        );
    }

    /// A banned link was found.
    pub fn link_found(&self, provider: &str, rule: &str) {
        self.inc(
            "linkguard_links_found_total",
            vec![("provider", provider.to_owned()), ("rule", rule.to_owned())],
            1,
        );
    }

    /// An action finished.
    pub fn action(&self, action: &str, outcome: &str, since_event: Duration) {
        self.inc(
            "linkguard_actions_total",
            vec![
                ("action", action.to_owned()),
                ("outcome", outcome.to_owned()),
            ],
            1,
        );
        self.observe("linkguard_event_to_action_seconds", Vec::new(), since_event);
    }

    /// A platform's rate limit made us wait.
    pub fn rate_limit_wait(&self, platform: &str) {
        self.inc(
            "linkguard_rate_limit_waits_total",
            vec![("platform", platform.to_owned())],
            1,
        );
    }

    /// A platform connection was re-established.
    pub fn reconnect(&self, platform: &str) {
        self.inc(
            "linkguard_reconnects_total",
            vec![("platform", platform.to_owned())],
            1,
        );
    }

    /// A platform connection went up or down.
    pub fn set_connected(&self, platform: &str, up: bool) {
        self.with(|r| {
            r.gauges.insert(
                (
                    "linkguard_platform_connected",
                    vec![("platform", platform.to_owned())],
                ),
                i64::from(up),
            );
        });
    }

    /// Audit records were appended in `d`.
    pub fn audit_append(&self, d: Duration) {
        self.observe("linkguard_audit_append_seconds", Vec::new(), d);
    }

    /// An audit append failed.
    pub fn audit_append_failed(&self) {
        self.inc("linkguard_audit_append_errors_total", Vec::new(), 1);
    }

    /// The number of pending actions, as last counted.
    pub fn set_pending(&self, n: usize) {
        self.with(|r| {
            r.gauges
                .insert(("linkguard_pending_actions", Vec::new()), n as i64);
        });
    }

    /// How many of a platform's events are received but not yet recorded.
    pub fn set_unrecorded(&self, platform: &str, n: usize) {
        self.with(|r| {
            r.gauges.insert(
                (
                    "linkguard_unrecorded_events",
                    vec![("platform", platform.to_owned())],
                ),
                n as i64,
            );
        });
    }

    /// Recording a platform's events started failing (they wait and are
    /// retried) or works again.
    pub fn set_recording_stalled(&self, platform: &str, stalled: bool) {
        self.with(|r| {
            r.gauges.insert(
                (
                    "linkguard_recording_stalled",
                    vec![("platform", platform.to_owned())],
                ),
                i64::from(stalled),
            );
        });
    }

    /// Whether some platform's events are waiting for the database.
    pub fn recording_stalled(&self) -> bool {
        self.with(|r| {
            r.gauges
                .iter()
                .any(|((n, _), v)| *n == "linkguard_recording_stalled" && *v != 0)
        })
    }

    /// Each platform's connection state, for the console.
    pub fn connections(&self) -> Vec<(String, bool)> {
        self.with(|r| {
            r.gauges
                .iter()
                .filter(|((n, _), _)| *n == "linkguard_platform_connected")
                .map(|((_, labels), v)| {
                    let name = labels.first().map(|(_, p)| p.clone()).unwrap_or_default();
                    (name, *v == 1)
                })
                .collect()
        })
    }

    /// Whether every platform that ever reported is connected now.
    pub fn all_connected(&self) -> bool {
        self.with(|r| {
            r.gauges
                .iter()
                .filter(|((n, _), _)| *n == "linkguard_platform_connected")
                .all(|(_, v)| *v == 1)
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let labels = |l: &Labels, extra: Option<(&str, String)>| -> String {
            let mut parts: Vec<String> = l
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}=\"{}\"",
                        v.replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace('\n', "\\n")
                    )
                })
                .collect();
            if let Some((k, v)) = extra {
                parts.push(format!("{k}=\"{v}\""));
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", parts.join(","))
            }
        };
        self.with(|r| {
            for (name, ty, help) in HELP {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}");
                for ((n, l), v) in &r.counters {
                    if n == name {
                        let _ = writeln!(out, "{name}{} {v}", labels(l, None));
                    }
                }
                for ((n, l), v) in &r.gauges {
                    if n == name {
                        let _ = writeln!(out, "{name}{} {v}", labels(l, None));
                    }
                }
                for ((n, l), h) in &r.histograms {
                    if n == name {
                        for (i, b) in BUCKETS.iter().enumerate() {
                            let c = h.counts.get(i).copied().unwrap_or(0);
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {c}",
                                labels(l, Some(("le", b.to_string())))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {}",
                            labels(l, Some(("le", "+Inf".into()))),
                            h.count
                        );
                        let _ = writeln!(out, "{name}_sum{} {}", labels(l, None), h.sum);
                        let _ = writeln!(out, "{name}_count{} {}", labels(l, None), h.count);
                    }
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format() {
        let m = Metrics {
            inner: Mutex::new(Registry::default()),
        };
        m.message_seen("slack");
        m.message_seen("slack");
        m.link_found("zoom", "no-zoom");
        m.action("replace", "ok", Duration::from_millis(30));
        m.set_pending(2);
        let out = m.render();
        assert!(
            out.contains("linkguard_messages_seen_total{platform=\"slack\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("linkguard_links_found_total{provider=\"zoom\",rule=\"no-zoom\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("linkguard_event_to_action_seconds_bucket{le=\"0.05\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("linkguard_event_to_action_seconds_bucket{le=\"0.025\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("linkguard_event_to_action_seconds_count 1"),
            "{out}"
        );
        assert!(out.contains("linkguard_pending_actions 2"), "{out}");
        assert!(
            out.contains("# TYPE linkguard_actions_total counter"),
            "{out}"
        );
    }
}
