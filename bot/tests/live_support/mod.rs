//! The live path under sustained load: the real `linkguard run` binary
//! against the fake Slack (Socket Mode) or the fake Discord (gateway, REST
//! through `discord.proxy_url`), fed a steady rate of messages of which one
//! in ten carries a banned link.
//!
//! Shared by `tests/live_load.rs` (short, debug build, asserts only that
//! every violation is handled exactly once) and `examples/live_load.rs`
//! (the measured run of `scripts/bench-live.sh`, release build).
//!
//! What is measured, and where:
//! - latency runs from the fake's send of the event (Slack: the Socket Mode
//!   envelope handed to the socket's writer; Discord: the `MESSAGE_CREATE`
//!   dispatch queued for the session's writer; any wait of the fake's own
//!   writer is therefore counted against linkguard, never for it) to the
//!   fake's receipt of the action's first call (the repost) and of its last
//!   (the delete of the original). Both fakes stamp a call when it arrives,
//!   before parsing, locking or handling it, so the fake's own handling of
//!   the action is not in the figure; it is measured apart by probing the
//!   fake's API during the load (`fake_api_*`). The fake Discord also
//!   times its own gateway writer, from queuing each dispatch to handing it
//!   to the socket (`fake_gateway_write_*`): that part of the latency is the
//!   fake's, and stays in the figure.
//! - rate-limit waits: the fakes answer 429 only when told to; the load
//!   never tells them, and every 429 seen is counted and reported
//!   (`rate_limited_calls`), so a run with a non-zero count is visible.
//! - linkguard's CPU seconds (user + system, `/proc/PID/stat`) over the
//!   load window and its peak resident set (`VmHWM`, `/proc/PID/status`).

#![allow(dead_code)]

use anyhow::{anyhow, bail, Context, Result};
use linkguard::store::{AuditFilter, AuditKey, Kind, Store, StoreOptions};
use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig, RouteKind};
use linkguard_fakes::slack::{
    FakeChannel, FakeSlack, FakeSlackConfig, DEFAULT_ADMIN_USER_TOKEN, DEFAULT_APP_TOKEN,
    DEFAULT_BOT_TOKEN,
};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The keys the load's linkguard runs with (never the development ones,
/// which `run` refuses).
const ROOM_KEY: &str = "live-load-room-key";
const AUDIT_KEY: &str = "live-load-audit-key";

/// Which platform a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Fake Slack, Socket Mode.
    Slack,
    /// Fake Discord, gateway plus REST proxy.
    Discord,
}

impl Target {
    /// `slack` or `discord`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Slack => "slack",
            Target::Discord => "discord",
        }
    }
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The `linkguard` binary to run.
    pub bin: PathBuf,
    /// Messages per second.
    pub rate: u32,
    /// How long to send for.
    pub duration: Duration,
    /// One message in `banned_every` carries a banned (Zoom) link.
    pub banned_every: usize,
    /// How long to wait, after the last message, for every violation to be handled.
    pub drain: Duration,
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// How many samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(mut v: Vec<Duration>) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort();
        let rank = |p: f64| {
            let r = (p * v.len() as f64).ceil() as usize;
            v[r.clamp(1, v.len()) - 1].as_secs_f64() * 1e3
        };
        Percentiles {
            n: v.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: v[v.len() - 1].as_secs_f64() * 1e3,
        }
    }
}

/// What one run saw.
#[derive(Debug, Clone, Default)]
pub struct LiveReport {
    /// `slack` or `discord`.
    pub platform: &'static str,
    /// Messages posted.
    pub sent: usize,
    /// Seconds the sending took (the achieved rate is `sent / send_secs`).
    pub send_secs: f64,
    /// Messages with a banned link.
    pub violations: usize,
    /// Successful reposts of violations seen by the fake.
    pub reposts: usize,
    /// Successful deletes of originals seen by the fake.
    pub deletes: usize,
    /// Violations with more than one repost or delete.
    pub duplicated: Vec<String>,
    /// Violations without a repost or a delete.
    pub missing: Vec<String>,
    /// Deletes of messages that were not violations, and reposts of them.
    pub stray: usize,
    /// Deliveries the fake repeated because an event was not acknowledged in time.
    pub redeliveries: usize,
    /// Event sent → first action call (the repost) received.
    pub to_action: Percentiles,
    /// Event sent → last action call (the delete) received.
    pub to_done: Percentiles,
    /// Round trips of a probe to the fake's API during the load.
    pub fake_api: Percentiles,
    /// The fake's gateway writer: dispatch queued → handed to the socket
    /// (Discord only; `n` is 0 for Slack).
    pub fake_write: Percentiles,
    /// Calls the fake answered with 429. The load never asks the fakes to
    /// rate-limit, so this is zero and no latency includes a rate-limit
    /// wait; a non-zero count says the figures do.
    pub rate_limited_calls: usize,
    /// Audit `detected` and `action` records for this run.
    pub audit_detections: usize,
    /// Audit `action` records.
    pub audit_actions: usize,
    /// Whether `verify` found the audit chain sound.
    pub audit_chain_ok: bool,
    /// linkguard's CPU seconds (user + system) from the first message to
    /// the last violation handled.
    pub cpu_secs: f64,
    /// Wall seconds of that window.
    pub window_secs: f64,
    /// linkguard's peak resident set, MiB.
    pub peak_rss_mib: f64,
    /// The 1-minute load average of the machine at the start and at the end.
    pub loadavg: (f64, f64),
}

impl LiveReport {
    /// Every violation handled exactly once, nothing else touched, the
    /// audit chain sound: the correctness half, asserted by the CI test.
    pub fn check_exactly_once(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !self.missing.is_empty() {
            problems.push(format!(
                "{} violations not handled: {:?}",
                self.missing.len(),
                &self.missing[..self.missing.len().min(10)]
            ));
        }
        if !self.duplicated.is_empty() {
            problems.push(format!(
                "{} violations handled more than once: {:?}",
                self.duplicated.len(),
                &self.duplicated[..self.duplicated.len().min(10)]
            ));
        }
        if self.stray > 0 {
            problems.push(format!("{} actions on messages that were fine", self.stray));
        }
        if self.reposts != self.violations || self.deletes != self.violations {
            problems.push(format!(
                "{} violations, {} reposts, {} deletes",
                self.violations, self.reposts, self.deletes
            ));
        }
        if self.audit_detections != self.violations || self.audit_actions != self.violations {
            problems.push(format!(
                "{} violations, audit: {} detections, {} actions",
                self.violations, self.audit_detections, self.audit_actions
            ));
        }
        if !self.audit_chain_ok {
            problems.push("the audit chain does not verify".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}: {}", self.platform, problems.join("; "))
        }
    }

    /// `name: value` lines, one figure each.
    pub fn lines(&self) -> Vec<String> {
        let p = format!("live_{}", self.platform);
        let mut out = vec![
            format!("{p}_messages_sent: {}", self.sent),
            format!(
                "{p}_send_rate_per_s: {:.0}",
                self.sent as f64 / self.send_secs.max(1e-9)
            ),
            format!("{p}_violations: {}", self.violations),
            format!("{p}_reposts: {}", self.reposts),
            format!("{p}_deletes: {}", self.deletes),
            format!("{p}_handled_more_than_once: {}", self.duplicated.len()),
            format!("{p}_not_handled: {}", self.missing.len()),
            format!("{p}_actions_on_fine_messages: {}", self.stray),
            format!("{p}_redeliveries: {}", self.redeliveries),
            format!(
                "{p}_audit: {} detections, {} actions, chain {}",
                self.audit_detections,
                self.audit_actions,
                if self.audit_chain_ok { "ok" } else { "BROKEN" }
            ),
        ];
        for (name, v) in [
            ("event_to_action", self.to_action),
            ("event_to_done", self.to_done),
            ("fake_api", self.fake_api),
        ] {
            out.push(format!("{p}_{name}_p50_ms: {:.1}", v.p50));
            out.push(format!("{p}_{name}_p99_ms: {:.1}", v.p99));
            out.push(format!("{p}_{name}_max_ms: {:.1}", v.max));
        }
        if self.fake_write.n > 0 {
            let v = self.fake_write;
            out.push(format!("{p}_fake_gateway_write_p50_ms: {:.1}", v.p50));
            out.push(format!("{p}_fake_gateway_write_p99_ms: {:.1}", v.p99));
            out.push(format!("{p}_fake_gateway_write_max_ms: {:.1}", v.max));
        }
        out.extend([
            format!("{p}_rate_limited_calls: {}", self.rate_limited_calls),
            if self.rate_limited_calls == 0 {
                format!("{p}_rate_limit_wait_s: 0 (no call was rate-limited)")
            } else {
                format!(
                    "{p}_rate_limit_wait_s: unknown ({} calls were rate-limited; latencies include their waits)",
                    self.rate_limited_calls
                )
            },
            format!("{p}_linkguard_cpu_s: {:.1}", self.cpu_secs),
            format!(
                "{p}_linkguard_cpu_pct_of_one_core: {:.0}",
                100.0 * self.cpu_secs / self.window_secs.max(1e-9)
            ),
            format!("{p}_linkguard_peak_rss_mib: {:.1}", self.peak_rss_mib),
            format!(
                "{p}_machine_loadavg_1m: {:.2} at start, {:.2} at end",
                self.loadavg.0, self.loadavg.1
            ),
        ]);
        out
    }
}

/// Runs one platform's load and collects the report. Fails when linkguard
/// does not start or does not finish the violations within `drain`; an
/// incomplete run is still reported by the caller through the error.
pub async fn run(target: Target, cfg: &LiveConfig) -> Result<LiveReport> {
    match target {
        Target::Slack => run_slack(cfg).await,
        Target::Discord => run_discord(cfg).await,
    }
}

// ---------------------------------------------------------------------------
// the linkguard process

/// One `linkguard run`, its stderr scanned for start-up and problems.
struct Linkguard {
    child: Child,
    dir: tempfile::TempDir,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Linkguard {
    fn spawn(bin: &std::path::Path, envs: &[(&str, String)]) -> Result<Linkguard> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--log-format", "json"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LINKGUARD_DATABASE_URL", db_url(dir.path()))
            .env("LINKGUARD_HTTP_ADDR", "127.0.0.1:0")
            .env("LINKGUARD_ROOM_KEY", ROOM_KEY)
            .env("LINKGUARD_AUDIT_KEY", AUDIT_KEY)
            .env("LINKGUARD_SHUTDOWN_TIMEOUT_SECS", "10")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let stderr = child.stderr.take().context("stderr")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("\"WARN\"") || line.contains("\"ERROR\"") || !line.starts_with('{')
                {
                    let mut e = sink.lock().unwrap_or_else(|e| e.into_inner());
                    if e.len() < 50 {
                        e.push(line);
                    }
                }
            }
        });
        Ok(Linkguard { child, dir, errors })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("linkguard exited early ({status}): {:?}", self.errors());
        }
        Ok(())
    }

    fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    fn stop(&mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("linkguard exited with {status}: {:?}", self.errors());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("linkguard did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Linkguard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn db_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("lg.db").display())
}

/// Clock ticks per second for `/proc/PID/stat` (USER_HZ; 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of process `pid`.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// Peak resident set (`VmHWM`) of `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes, checking
/// that linkguard is still running.
async fn wait(
    lg: &mut Linkguard,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return Ok(());
        }
        lg.alive()?;
        if Instant::now() > deadline {
            bail!(
                "timed out after {timeout:?} waiting for {what}; linkguard said: {:?}",
                lg.errors()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls `post(i)` for i in 0.. at `rate` per second for `duration`, in
/// 10 ms steps (a late step catches up); returns how many and how long.
async fn pace(
    rate: u32,
    duration: Duration,
    mut post: impl FnMut(usize) -> Result<()>,
) -> Result<(usize, f64)> {
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as usize;
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut i = 0;
    while i < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * f64::from(rate)).ceil() as usize).min(total);
        while i < due {
            post(i)?;
            i += 1;
        }
    }
    Ok((i, start.elapsed().as_secs_f64()))
}

/// Round trips of `probe` every 50 ms until `stop` is set.
fn spawn_probe<F, Fut>(
    stop: Arc<std::sync::atomic::AtomicBool>,
    probe: F,
) -> tokio::task::JoinHandle<Vec<Duration>>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        let mut out = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            if probe().await {
                out.push(t.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out
    })
}

/// The text of message `i`: a unique marker first, a Zoom link in one of
/// `every`, ordinary and approved links in others.
fn text(i: usize, every: usize) -> (String, bool) {
    let marker = format!("lg{i}:");
    match (i % every, i % 3, i % 7) {
        (0, _, _) => (
            format!("{marker} moving the sync here https://zoom.us/j/9{i:010}?pwd=abc{i}"),
            true,
        ),
        (_, 0, _) => (
            format!("{marker} review https://github.com/acme/api/pull/{i} when you can"),
            false,
        ),
        (_, _, 0) => (
            format!("{marker} join https://meet.jit.si/standup-{i}"),
            false,
        ),
        _ => (
            format!("{marker} lunch at noon? the deploy looks green"),
            false,
        ),
    }
}

/// The marker a repost's text starts with.
fn marker_of(text: &str) -> Option<&str> {
    let m = text.split_whitespace().next()?;
    (m.starts_with("lg") && m.ends_with(':')).then_some(m)
}

/// Audit counts and chain check for the run's database.
async fn audit(dir: &std::path::Path) -> Result<(usize, usize, bool)> {
    let store = Store::open(
        &db_url(dir),
        StoreOptions {
            audit_key: AuditKey::new(AUDIT_KEY),
            ..StoreOptions::default()
        },
    )
    .await
    .context("opening linkguard's store")?;
    let rows = store.list(&AuditFilter::default()).await?;
    let detections = rows
        .iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .count();
    let actions = rows.iter().filter(|r| r.entry.kind == Kind::Action).count();
    let ok = store.verify().await?.is_ok();
    store.close().await;
    Ok((detections, actions, ok))
}

// ---------------------------------------------------------------------------
// the run, common to both platforms

/// What a platform's run collects from its fake once linkguard has stopped.
#[derive(Default)]
struct Seen {
    /// (marker, message key) of every violation posted.
    banned: Vec<(String, String)>,
    /// Message key → when the fake sent its event (first delivery).
    sent_at: HashMap<String, Instant>,
    /// Marker → arrivals of successful reposts carrying it.
    reposts: HashMap<String, Vec<Instant>>,
    /// Message key → arrivals of successful deletes of it.
    deletes: HashMap<String, Vec<Instant>>,
    redeliveries: usize,
    rate_limited: usize,
    /// The fake's gateway writer lag per dispatch (Discord).
    write_lags: Vec<Duration>,
}

/// A platform: how to start its fake and linkguard against it, post a
/// message, count handled violations and read what the fake saw.
trait Platform {
    const NAME: &'static str;
    /// The variables that point linkguard at the fake.
    fn env(&self) -> Vec<(&'static str, String)>;
    /// Whether linkguard is connected and ready for messages.
    fn ready(&self) -> bool;
    /// Posts message `i`; returns its key (Slack ts, Discord id).
    fn post(&self, i: usize, text: &str) -> Result<String>;
    /// Successful deletes so far.
    fn deletes(&self) -> usize;
    /// A cheap authenticated API call, to time the fake's own handling.
    fn probe(&self) -> reqwest::RequestBuilder;
    /// Everything the report needs, read once at the end.
    fn seen(&self) -> Seen;
}

async fn run_platform<P: Platform>(p: &P, cfg: &LiveConfig) -> Result<LiveReport> {
    let load_start = loadavg();
    let mut lg = Linkguard::spawn(&cfg.bin, &p.env())?;
    let pid = lg.pid();
    wait(
        &mut lg,
        Duration::from_secs(60),
        "linkguard to connect",
        || p.ready(),
    )
    .await?;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let req = p.probe();
        spawn_probe(stop.clone(), move || {
            let req = req.try_clone().map(reqwest::RequestBuilder::send);
            async move {
                match req {
                    Some(r) => r.await.is_ok_and(|r| r.status().is_success()),
                    None => false,
                }
            }
        })
    };

    let cpu0 = cpu_secs(pid).unwrap_or(0.0);
    let window = Instant::now();
    let mut banned = Vec::new();
    let (sent, send_secs) = pace(cfg.rate, cfg.duration, |i| {
        let (t, bad) = text(i, cfg.banned_every);
        let key = p.post(i, &t)?;
        if bad {
            banned.push((format!("lg{i}:"), key));
        }
        Ok(())
    })
    .await?;
    let expected = banned.len();
    let drained = wait(&mut lg, cfg.drain, "every violation handled", || {
        p.deletes() >= expected
    })
    .await;
    let window_secs = window.elapsed().as_secs_f64();
    let cpu = cpu_secs(pid).unwrap_or(0.0) - cpu0;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let probes = probe.await.unwrap_or_default();
    // A late duplicate would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = peak_rss_mib(pid).unwrap_or(f64::NAN);
    lg.stop()?;
    drained?;

    let seen = Seen { banned, ..p.seen() };
    let mut report = LiveReport {
        platform: P::NAME,
        sent,
        send_secs,
        violations: expected,
        redeliveries: seen.redeliveries,
        rate_limited_calls: seen.rate_limited,
        cpu_secs: cpu,
        window_secs,
        peak_rss_mib: rss,
        fake_api: Percentiles::of(probes),
        fake_write: Percentiles::of(seen.write_lags),
        ..LiveReport::default()
    };
    let mut to_action = Vec::new();
    let mut to_done = Vec::new();
    for (marker, key) in &seen.banned {
        let r = seen.reposts.get(marker).map_or(&[][..], Vec::as_slice);
        let d = seen.deletes.get(key).map_or(&[][..], Vec::as_slice);
        report.reposts += r.len().min(1);
        report.deletes += d.len().min(1);
        if r.is_empty() || d.is_empty() {
            report.missing.push(marker.clone());
            continue;
        }
        if r.len() > 1 || d.len() > 1 {
            report.duplicated.push(marker.clone());
        }
        let sent_at = *seen
            .sent_at
            .get(key)
            .ok_or_else(|| anyhow!("the fake never sent the event of message {key}"))?;
        to_action.push(r[0].saturating_duration_since(sent_at));
        to_done.push(d[d.len() - 1].saturating_duration_since(sent_at));
    }
    let markers: HashSet<&str> = seen.banned.iter().map(|b| b.0.as_str()).collect();
    let keys: HashSet<&str> = seen.banned.iter().map(|b| b.1.as_str()).collect();
    report.stray = seen
        .reposts
        .keys()
        .filter(|k| !markers.contains(k.as_str()))
        .count()
        + seen
            .deletes
            .keys()
            .filter(|k| !keys.contains(k.as_str()))
            .count();
    report.to_action = Percentiles::of(to_action);
    report.to_done = Percentiles::of(to_done);
    let (det, act, chain) = audit(lg.dir.path()).await?;
    report.audit_detections = det;
    report.audit_actions = act;
    report.audit_chain_ok = chain;
    report.loadavg = (load_start, loadavg());
    Ok(report)
}

fn push(map: &mut HashMap<String, Vec<Instant>>, key: &str, at: Instant) {
    map.entry(key.to_owned()).or_default().push(at);
}

// ---------------------------------------------------------------------------
// Slack

const SLACK_USERS: [&str; 2] = ["U0FAKEUSR01", "U0FAKEUSR02"];
/// Ten busy channels instead of one: reposts spread as in a real workspace.
const SLACK_CHANNELS: usize = 10;

struct Slack {
    fake: FakeSlack,
    channels: Vec<String>,
    client: reqwest::Client,
}

async fn run_slack(cfg: &LiveConfig) -> Result<LiveReport> {
    let mut fake_cfg = FakeSlackConfig::default();
    let general = fake_cfg.channels[0].clone();
    for n in 1..SLACK_CHANNELS {
        fake_cfg.channels.push(FakeChannel {
            id: format!("C0LOADCH{n:03}"),
            name: format!("load-{n}"),
            is_general: false,
            ..general.clone()
        });
    }
    let channels = fake_cfg.channels.iter().map(|c| c.id.clone()).collect();
    let fake = FakeSlack::start(fake_cfg).await.context("fake slack")?;
    let slack = Slack {
        fake,
        channels,
        client: reqwest::Client::new(),
    };
    run_platform(&slack, cfg).await
}

impl Platform for Slack {
    const NAME: &'static str = "slack";

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LINKGUARD_SLACK_BOT_TOKEN", DEFAULT_BOT_TOKEN.into()),
            (
                "LINKGUARD_SLACK_USER_TOKEN",
                DEFAULT_ADMIN_USER_TOKEN.into(),
            ),
            ("LINKGUARD_SLACK_APP_TOKEN", DEFAULT_APP_TOKEN.into()),
            ("LINKGUARD_SLACK_MODE", "socket".into()),
            ("LINKGUARD_SLACK_API_URL", self.fake.api_url()),
        ]
    }

    fn ready(&self) -> bool {
        self.fake.with_state(|s| s.open_sockets() > 0)
    }

    fn post(&self, i: usize, text: &str) -> Result<String> {
        let channel = &self.channels[i % self.channels.len()];
        self.fake
            .post_user_message(channel, SLACK_USERS[i % 2], text)
            .map_err(|e| anyhow!("posting: {e}"))
    }

    fn deletes(&self) -> usize {
        self.fake.with_state(|s| {
            s.calls()
                .iter()
                .filter(|c| c.method == "chat.delete" && c.ok())
                .count()
        })
    }

    fn probe(&self) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}auth.test", self.fake.api_url()))
            .bearer_auth(DEFAULT_BOT_TOKEN)
    }

    fn seen(&self) -> Seen {
        self.fake.with_state(|s| {
            let mut seen = Seen::default();
            let mut ts_of_event: HashMap<&str, &str> = HashMap::new();
            for e in s.events() {
                if let (Some(ts), Some(id)) = (e["event"]["ts"].as_str(), e["event_id"].as_str()) {
                    ts_of_event.insert(id, ts);
                }
            }
            for d in s.deliveries() {
                let Some(ts) = d.event_id.as_deref().and_then(|id| ts_of_event.get(id)) else {
                    continue;
                };
                seen.redeliveries += usize::from(d.retry_attempt > 0);
                seen.sent_at.entry((*ts).to_owned()).or_insert(d.at);
            }
            for c in s.calls() {
                seen.rate_limited += usize::from(c.status == 429);
                if !c.ok() {
                    continue;
                }
                match c.method.as_str() {
                    "chat.postMessage" if c.params.get("username").is_some() => {
                        if let Some(m) = c.params["text"].as_str().and_then(marker_of) {
                            push(&mut seen.reposts, m, c.at);
                        }
                    }
                    "chat.delete" => {
                        if let Some(ts) = c.param("ts") {
                            push(&mut seen.deletes, ts, c.at);
                        }
                    }
                    _ => {}
                }
            }
            seen
        })
    }
}

// ---------------------------------------------------------------------------
// Discord

const DISCORD_CHANNELS: [u64; 4] = [cast::GENERAL, cast::RANDOM, cast::THREAD, cast::FORUM_POST];
const DISCORD_USERS: [u64; 2] = [cast::ALICE, cast::BOB];

struct Discord {
    fake: FakeDiscord,
    client: reqwest::Client,
}

async fn run_discord(cfg: &LiveConfig) -> Result<LiveReport> {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .context("fake discord")?;
    let discord = Discord {
        fake,
        client: reqwest::Client::new(),
    };
    run_platform(&discord, cfg).await
}

impl Platform for Discord {
    const NAME: &'static str = "discord";

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LINKGUARD_DISCORD_TOKEN", self.fake.bot_token().to_owned()),
            ("LINKGUARD_DISCORD_PROXY_URL", self.fake.http_base()),
            ("LINKGUARD_DISCORD_GUILD_IDS", cast::GUILD.to_string()),
        ]
    }

    /// Connected, and the guild known (its commands registered).
    fn ready(&self) -> bool {
        self.fake.with_state(|s| {
            s.connected_sessions() > 0
                && s.calls()
                    .iter()
                    .any(|c| c.route == RouteKind::GuildCommands)
        })
    }

    fn post(&self, i: usize, text: &str) -> Result<String> {
        self.fake
            .post_user_message(DISCORD_CHANNELS[i % 4], DISCORD_USERS[i % 2], text)
            .map(|id| id.to_string())
            .map_err(|e| anyhow!("posting: {e}"))
    }

    fn deletes(&self) -> usize {
        self.fake.with_state(|s| {
            s.calls()
                .iter()
                .filter(|c| c.route == RouteKind::DeleteMessage && c.status < 300)
                .count()
        })
    }

    fn probe(&self) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}/api/v10/users/@me", self.fake.http_base()))
            .header("Authorization", format!("Bot {}", self.fake.bot_token()))
    }

    fn seen(&self) -> Seen {
        let write_lags = self.fake.gateway_write_lags();
        self.fake.with_state(|s| {
            let mut seen = Seen {
                write_lags,
                ..Seen::default()
            };
            for d in s.dispatches().iter().filter(|d| d.t == "MESSAGE_CREATE") {
                if let Some(id) = d.d["id"].as_str() {
                    seen.sent_at.entry(id.to_owned()).or_insert(d.at);
                }
            }
            for c in s.calls() {
                seen.rate_limited += usize::from(c.status == 429);
                if c.status >= 300 {
                    continue;
                }
                match c.route {
                    RouteKind::WebhookExecute => {
                        let content = c.body.as_ref().and_then(|b| b["content"].as_str());
                        if let Some(m) = content.and_then(marker_of) {
                            push(&mut seen.reposts, m, c.at);
                        }
                    }
                    RouteKind::DeleteMessage => {
                        if let Some(id) = c.path.rsplit('/').next() {
                            push(&mut seen.deletes, id, c.at);
                        }
                    }
                    _ => {}
                }
            }
            seen
        })
    }
}
