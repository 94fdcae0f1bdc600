//! One file of lines cut into regions that the workers read themselves:
//! how a single JSON Lines file is scanned on every core.
//!
//! With one reader thread cutting the file into blocks, reading (the
//! kernel's copy into the process, a sixth of a JSON Lines scan) and
//! counting line breaks were made on one core while the workers waited for
//! blocks. Here the reader only hands out region numbers; the worker that
//! takes a region reads it, owns the lines that start in it (reading past
//! its end to finish the last one), and counts its line breaks first thing,
//! so that the line numbers of later regions are known as soon as possible:
//! a region's first line number is one more than the breaks of all the
//! regions before it, and a worker waits for those counts only when they
//! are not in yet (each is made right after its region is read, and regions
//! are taken in order, so the wait is short and cannot go round in a
//! circle).

use std::fs::File;
use std::sync::{Condvar, Mutex, PoisonError};

/// A regular file of lines, cut into regions of a fixed size.
pub(crate) struct Regions {
    /// Read by every worker at once, each read positioned.
    file: File,
    /// The file's size when the scan planned its regions.
    len: u64,
    region: u64,
    /// How many regions there are.
    count: usize,
    max_line: usize,
    counts: Mutex<Counts>,
    counted: Condvar,
}

/// The line-break counts that are in.
struct Counts {
    /// Each region's line breaks, once counted.
    breaks: Vec<Option<u64>>,
    /// The first line number of each region whose predecessors are all
    /// counted (the first `starts.len()` regions).
    starts: Vec<u64>,
}

/// The lines a region owns, read into the caller's buffer.
pub(crate) struct Owned {
    /// The number of the first owned line.
    pub first_line: u64,
    /// Where the owned lines are in the buffer (whole lines; the last line
    /// of the file may lack its break).
    pub range: std::ops::Range<usize>,
    /// A line longer than the limit (its number): not in `range`.
    pub too_long: Option<u64>,
    /// Reading failed at this line: `range` holds what came before.
    pub failed: Option<(u64, std::io::Error)>,
}

/// Publishes a region's count when it goes out of scope without one (a
/// read error, a panic), so that no later region waits for ever.
struct Publish<'a> {
    regions: &'a Regions,
    index: usize,
    done: bool,
}

impl Publish<'_> {
    fn count(&mut self, breaks: u64) {
        self.done = true;
        self.regions.publish(self.index, breaks);
    }
}

impl Drop for Publish<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.regions.publish(self.index, 0);
        }
    }
}

/// How much more is read, at first, to finish a region's last line.
const FIRST_EXTENSION: usize = 4 * 1024;

impl Regions {
    /// Regions of `region` bytes over the first `len` bytes of `file`,
    /// lines of at most `max_line` bytes.
    pub(crate) fn new(file: File, len: u64, region: usize, max_line: usize) -> Regions {
        let region = region.max(1) as u64;
        let n = usize::try_from(len.div_ceil(region)).unwrap_or(usize::MAX);
        Regions {
            file,
            len,
            region,
            count: n,
            max_line: max_line.max(1),
            counts: Mutex::new(Counts {
                breaks: vec![None; n],
                starts: Vec::with_capacity(n),
            }),
            counted: Condvar::new(),
        }
    }

    /// How many regions there are.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Where region `index` starts and ends in the file.
    pub(crate) fn bounds(&self, index: usize) -> (u64, u64) {
        let start = index as u64 * self.region;
        (start, (start + self.region).min(self.len))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent whatever panicked while holding them.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, index: usize, breaks: u64) {
        let mut c = self.lock();
        if let Some(slot) = c.breaks.get_mut(index) {
            *slot = Some(breaks);
        }
        while c.starts.len() < c.breaks.len() {
            let k = c.starts.len();
            let Some(prev) = k.checked_sub(1) else {
                c.starts.push(1);
                continue;
            };
            let Some(b) = c.breaks[prev] else { break };
            let start = c.starts[prev] + b;
            c.starts.push(start);
        }
        drop(c);
        self.counted.notify_all();
    }

    /// The first line number of region `index`, once the regions before
    /// it are counted.
    fn first_line(&self, index: usize) -> u64 {
        let mut c = self.lock();
        loop {
            if let Some(&s) = c.starts.get(index) {
                return s;
            }
            c = self.counted.wait(c).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Reads region `index` into `buf` and says which lines in it the
    /// region owns: those that start in it. Only `range` of `buf` means
    /// anything afterwards: the buffer keeps its length from region to
    /// region (what lies past the bytes read is left from before), so that
    /// each region is one positioned read into bytes already initialised,
    /// rather than a `read_to_end` that grew the buffer a read at a time
    /// (a dozen system calls a region, from 32 bytes up).
    pub(crate) fn read(&self, index: usize, buf: &mut Vec<u8>) -> Owned {
        let mut publish = Publish {
            regions: self,
            index,
            done: false,
        };
        let (start, end) = self.bounds(index);
        // The byte before the region says whether a line starts at its
        // first byte.
        let from = start.saturating_sub(1);
        let skip = usize::from(start > 0);
        // The region and, in the same read, the first bytes past it: most
        // regions' last line ends within them.
        let got = match read_at(
            &self.file,
            buf,
            0,
            from,
            end - from + FIRST_EXTENSION as u64,
        ) {
            Ok(n) => n,
            Err(e) => {
                publish.count(0);
                let line = self.first_line(index);
                return Owned {
                    first_line: line,
                    range: 0..0,
                    too_long: None,
                    failed: Some((line, e)),
                };
            }
        };
        let in_region = got.min(usize::try_from(end - from).unwrap_or(usize::MAX));
        let read = &buf[..in_region];
        let breaks = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
        publish.count(breaks(&read[skip.min(in_region)..]));
        // The first line that starts in the region.
        let first = if skip == 0 {
            0
        } else {
            memchr::memchr(b'\n', read).map_or(in_region, |i| i + 1)
        };
        let base = self.first_line(index) + breaks(&read[skip.min(first)..first]);
        let mut owned = Owned {
            first_line: base,
            range: first..first,
            too_long: None,
            failed: None,
        };
        if first >= in_region {
            return owned;
        }
        let mut len = in_region;
        // The last line that starts in the region may end past it: read on
        // until it does (or the file ends: its last line, without a break).
        if read.last() != Some(&b'\n') {
            len = self.finish_last_line(buf, from, first..len, got - in_region, &mut owned);
        }
        owned.range = first..len;
        owned
    }

    /// Reads on past a region whose bytes from file offset `from` are in
    /// `buf`, its owned lines at `read` and the last of them without its
    /// break, followed by `ahead` bytes already read past the region, until
    /// that line ends (or the file does, or the line proves too long);
    /// returns where the owned lines end in `buf`, having noted in `owned`
    /// a line too long or a read that failed.
    fn finish_last_line(
        &self,
        buf: &mut Vec<u8>,
        from: u64,
        read: std::ops::Range<usize>,
        ahead: usize,
        owned: &mut Owned,
    ) -> usize {
        let (first, mut len) = (read.start, read.end);
        let last = memchr::memrchr(b'\n', &buf[first..len]).map_or(first, |i| first + i + 1);
        let breaks = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
        let line_no = |buf: &[u8]| owned.first_line + breaks(&buf[first..last]);
        let mut want = FIRST_EXTENSION;
        let mut got = Ok(ahead);
        loop {
            match got {
                Ok(0) => return len,
                Ok(n) => {
                    if let Some(i) = memchr::memchr(b'\n', &buf[len..len + n]) {
                        return len + i + 1;
                    }
                    len += n;
                    if len - last > self.max_line {
                        owned.too_long = Some(line_no(buf));
                        return last;
                    }
                    want = (want * 2).min(crate::BATCH_BYTES);
                }
                Err(e) => {
                    owned.failed = Some((line_no(buf), e));
                    return last;
                }
            }
            got = read_at(&self.file, buf, len, from + len as u64, want as u64);
        }
    }
}

/// Reads up to `want` bytes of `file` from offset `at` into `buf` from
/// `into`, growing `buf` (zeroed) only when it is shorter; returns how many
/// bytes were read (fewer only at the end of the file).
fn read_at(
    file: &File,
    buf: &mut Vec<u8>,
    into: usize,
    at: u64,
    want: u64,
) -> std::io::Result<usize> {
    let want = usize::try_from(want).unwrap_or(usize::MAX);
    let stop = into.saturating_add(want);
    if buf.len() < stop {
        buf.resize(stop, 0);
    }
    let mut done = 0;
    while into + done < stop {
        match positioned_read(file, &mut buf[into + done..stop], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(unix)]
fn positioned_read(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, at)
}

#[cfg(windows)]
fn positioned_read(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// (line number, line) for every line the regions own, and the lines
    /// named too long.
    fn cut(text: &[u8], region: usize, max: usize) -> (Vec<(u64, Vec<u8>)>, Vec<u64>) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text).unwrap();
        let regions = Regions::new(f.reopen().unwrap(), text.len() as u64, region, max);
        let (mut lines, mut long) = (Vec::new(), Vec::new());
        let mut buf = Vec::new();
        for k in 0..regions.len() {
            let owned = regions.read(k, &mut buf);
            assert!(owned.failed.is_none());
            long.extend(owned.too_long);
            let b = &buf[owned.range.clone()];
            let mut n = owned.first_line;
            let mut pieces = b.split(|&c| c == b'\n');
            if b.last() == Some(&b'\n') {
                pieces.next_back();
            }
            if !b.is_empty() {
                for piece in pieces {
                    lines.push((n, piece.to_vec()));
                    n += 1;
                }
            }
        }
        (lines, long)
    }

    /// Every line with its number, as a reference.
    fn numbered(text: &[u8], skip_longer_than: usize) -> Vec<(u64, Vec<u8>)> {
        let mut pieces: Vec<&[u8]> = text.split(|&c| c == b'\n').collect();
        if text.last() == Some(&b'\n') || text.is_empty() {
            pieces.pop();
        }
        pieces
            .into_iter()
            .enumerate()
            .filter(|(_, l)| l.len() <= skip_longer_than)
            .map(|(i, l)| (i as u64 + 1, l.to_vec()))
            .collect()
    }

    #[test]
    fn every_line_comes_once_with_its_number() {
        let texts: [&[u8]; 6] = [
            b"",
            b"\n",
            b"a\nbb\n\nccc\ndddd\n",
            b"a\nbb\n\nccc\ndddd",
            b"\n\n\nx\n\n",
            b"one long line without any break at all, longer than a region",
        ];
        for text in texts {
            for region in [1, 2, 3, 5, 7, 64] {
                let (lines, long) = cut(text, region, 1 << 20);
                assert!(long.is_empty());
                assert_eq!(
                    lines,
                    numbered(text, usize::MAX),
                    "{} in regions of {region}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn an_over_long_line_is_named_once_and_skipped() {
        // Longer than a region and than the first read past one.
        let long = "x".repeat(3 * FIRST_EXTENSION);
        let text = format!("a\n{long}\nb\nccc\n");
        for region in [1, 2, 4, 9, 100] {
            let (lines, too_long) = cut(text.as_bytes(), region, 5);
            assert_eq!(too_long, [2], "regions of {region}");
            assert_eq!(lines, numbered(text.as_bytes(), 5), "regions of {region}");
        }
    }
}
