//! The progress line `linkguard scan` draws on a terminal: bytes done out of
//! the inputs' total size, throughput, an estimate of the time left, and the
//! findings so far.
//!
//! It runs on its own thread and only reads two shared counters, so the
//! pipeline never waits for the terminal. The caller decides whether to draw
//! at all (only when standard error is a terminal and not `--quiet`).

use super::PROGRESS_TICK;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// A running progress line; [`Progress::finish`] stops it and clears the line.
pub(crate) struct Progress {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Progress {
    pub(crate) fn start(total: u64, bytes: Arc<AtomicU64>, findings: Arc<AtomicU64>) -> Progress {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let stderr = std::io::stderr();
            // Anything but a timeout (a stop message, or the handle gone) ends it.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(PROGRESS_TICK) {
                let line = render(
                    bytes.load(Ordering::Relaxed),
                    total,
                    started.elapsed().as_secs_f64(),
                    findings.load(Ordering::Relaxed),
                );
                let mut e = stderr.lock();
                let _ = write!(e, "\r{line}\x1b[K");
                let _ = e.flush();
            }
            let mut e = stderr.lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
        });
        Progress { stop, thread }
    }

    pub(crate) fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

const BAR_WIDTH: usize = 24;

fn render(done: u64, total: u64, secs: f64, findings: u64) -> String {
    let frac = if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let filled = (frac * BAR_WIDTH as f64) as usize;
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let eta = if rate > 0.0 && total > done {
        format_duration((total - done) as f64 / rate)
    } else {
        "--".to_owned()
    };
    format!(
        "[{}{}] {} / {}  {}/s  ETA {eta}  {findings} found",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled),
        human_bytes(done as f64),
        human_bytes(total as f64),
        human_bytes(rate),
    )
}

/// `12.3 MiB`.
pub(crate) fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn format_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_bytes_rate_and_time_left() {
        let line = render(512 << 20, 1 << 30, 2.0, 7);
        assert_eq!(
            line,
            "[############------------] 512.0 MiB / 1.0 GiB  256.0 MiB/s  ETA 0m02s  7 found"
        );
        assert!(render(0, 0, 0.0, 0).contains("ETA --"));
        assert_eq!(format_duration(3725.0), "1h02m");
    }
}
