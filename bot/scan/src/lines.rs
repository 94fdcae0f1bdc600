//! Cutting a stream of JSON Lines into blocks of whole lines, for the
//! threads that evaluate them (`linkguard scan` on a JSON Lines file,
//! `linkguard check --batch`).
//!
//! A block is read straight into its own buffer (no copy per line, no
//! zeroing first), handed out up to its last line break, and the cut line is
//! carried into the next block. Each block knows the number of its first
//! line, so whoever evaluates it can name lines in errors. A line longer
//! than the limit is reported once and skipped up to its end; reading goes
//! on after it.

use std::io::Read;

/// Whole lines, back to back (the last one of the stream may lack its
/// line break).
pub struct Block {
    /// The number (from 1) of the first line in `bytes`.
    pub first_line: u64,
    /// The lines, with their line breaks.
    pub bytes: Vec<u8>,
}

impl Block {
    /// Each line of the block with its number, line break removed (a
    /// carriage return before it is left to the caller).
    pub fn lines(&self) -> impl Iterator<Item = (u64, std::ops::Range<usize>)> + '_ {
        let b = &self.bytes;
        let ends =
            memchr::memchr_iter(b'\n', b).chain((b.last() != Some(&b'\n')).then_some(b.len()));
        let mut start = 0;
        ends.enumerate().map(move |(i, end)| {
            let range = start..end;
            start = end + 1;
            (self.first_line + i as u64, range)
        })
    }
}

/// What could not be cut into lines.
#[derive(Debug)]
pub enum Cut {
    /// A line longer than the limit: skipped, the rest is read on.
    TooLong {
        /// Its number.
        line: u64,
    },
    /// Reading failed; nothing more is read.
    Io {
        /// The line being read.
        line: u64,
        /// Why.
        error: std::io::Error,
    },
}

/// Blocks of whole lines out of a reader. See the module docs.
pub struct LineBlocks<R> {
    r: R,
    /// The start of a line cut off by the previous block.
    carry: Vec<u8>,
    next_line: u64,
    block: usize,
    max_line: usize,
    done: bool,
    /// A read error met after some bytes came, reported after them.
    failed: Option<Cut>,
    /// Bytes read from `r` so far.
    read: u64,
    /// Buffers of blocks handed out and given back ([`LineBlocks::reuse`]).
    spare: Vec<Vec<u8>>,
}

/// How many given-back buffers [`LineBlocks`] keeps.
const MAX_SPARE: usize = 8;

/// The smallest read worth making.
const MIN_READ: usize = 64 * 1024;

impl<R: Read> LineBlocks<R> {
    /// Blocks of about `block` bytes (more when a line is longer), lines of
    /// at most `max_line` bytes.
    pub fn new(r: R, block: usize, max_line: usize) -> LineBlocks<R> {
        LineBlocks {
            r,
            carry: Vec::new(),
            next_line: 1,
            block: block.max(1),
            max_line: max_line.max(1),
            done: false,
            failed: None,
            read: 0,
            spare: Vec::new(),
        }
    }

    /// Gives the buffer of a block that is done with back, to read a later
    /// block into: a fresh one costs a page fault per 4 KiB as it fills.
    pub fn reuse(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// How many bytes have been read from the stream so far (those of the
    /// blocks handed out, the carry, and skipped over-long lines).
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Reads into `buf` until it holds `want` bytes or the stream ends;
    /// returns how many bytes came.
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
        let more = want.saturating_sub(buf.len()).max(MIN_READ);
        let n = (&mut self.r).take(more as u64).read_to_end(buf)?;
        self.read += n as u64;
        Ok(n)
    }

    /// Discards the rest of an over-long line; what follows its line break
    /// becomes the carry.
    fn skip_line(&mut self) -> Result<(), Cut> {
        let mut scratch = Vec::with_capacity(MIN_READ);
        loop {
            scratch.clear();
            match self.fill(&mut scratch, MIN_READ) {
                Ok(0) => {
                    self.done = true;
                    return Ok(());
                }
                Ok(_) => {
                    if let Some(nl) = memchr::memchr(b'\n', &scratch) {
                        self.carry = scratch[nl + 1..].to_vec();
                        return Ok(());
                    }
                }
                Err(error) => {
                    self.done = true;
                    return Err(Cut::Io {
                        line: self.next_line,
                        error,
                    });
                }
            }
        }
    }
}

impl<R: Read> Iterator for LineBlocks<R> {
    type Item = Result<Block, Cut>;

    fn next(&mut self) -> Option<Result<Block, Cut>> {
        if self.done {
            return self.failed.take().map(Err);
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.reserve(self.block + MIN_READ);
        loop {
            let want = buf.len().max(self.block);
            let n = match self.fill(&mut buf, want) {
                Ok(n) => n,
                Err(error) => {
                    self.done = true;
                    // What came before the failure is still handed out;
                    // the failure is reported next time.
                    let first_line = self.next_line;
                    let line = first_line + newlines(&buf);
                    if buf.is_empty() {
                        return Some(Err(Cut::Io { line, error }));
                    }
                    self.failed = Some(Cut::Io { line, error });
                    return Some(Ok(Block {
                        first_line,
                        bytes: buf,
                    }));
                }
            };
            if n == 0 {
                self.done = true;
                if buf.is_empty() {
                    return None;
                }
                let first_line = self.next_line;
                self.next_line += newlines(&buf);
                return Some(Ok(Block {
                    first_line,
                    bytes: buf,
                }));
            }
            match memchr::memrchr(b'\n', &buf) {
                Some(last) => {
                    if let Some(spare) = self.spare.pop() {
                        self.carry = spare;
                    }
                    self.carry.reserve(self.block + MIN_READ);
                    self.carry.extend_from_slice(&buf[last + 1..]);
                    buf.truncate(last + 1);
                    let first_line = self.next_line;
                    self.next_line += newlines(&buf);
                    return Some(Ok(Block {
                        first_line,
                        bytes: buf,
                    }));
                }
                None if buf.len() > self.max_line => {
                    let line = self.next_line;
                    self.next_line += 1;
                    drop(buf);
                    return Some(match self.skip_line() {
                        Ok(()) => Err(Cut::TooLong { line }),
                        Err(e) => Err(e),
                    });
                }
                // One line longer than a block: read on until it ends.
                None => {}
            }
        }
    }
}

/// How many line breaks `b` holds. `memchr`'s counter, chosen at run time
/// for the processor (AVX2 where there is one): the plain filter-and-count
/// loop compiled for baseline x86-64 widened every byte to 64 bits, four
/// bytes a round, and was the reader thread's largest cost (a quarter of
/// a JSON Lines scan's samples).
fn newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// A reader that hands out `n` bytes at a time, so that values straddle
/// reads (for the tests of whatever reads streams).
#[cfg(test)]
pub(crate) struct Chunky<'a>(pub &'a [u8], pub usize);

#[cfg(test)]
impl Read for Chunky<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line number, line) for every line, and the cuts, as `LineBlocks`
    /// reports them.
    fn cut(
        text: &[u8],
        chunk: usize,
        block: usize,
        max: usize,
    ) -> (Vec<(u64, Vec<u8>)>, Vec<String>) {
        let (mut lines, mut cuts) = (Vec::new(), Vec::new());
        let mut blocks = LineBlocks::new(Chunky(text, chunk), block, max);
        while let Some(b) = blocks.next() {
            match b {
                Ok(b) => {
                    assert!(b.bytes.len() <= block.max(max) + MIN_READ + max);
                    for (n, r) in b.lines() {
                        lines.push((n, b.bytes[r].to_vec()));
                    }
                    // Blocks read into given-back buffers are the same.
                    blocks.reuse(b.bytes);
                }
                Err(Cut::TooLong { line }) => cuts.push(format!("too long: {line}")),
                Err(Cut::Io { line, error }) => cuts.push(format!("io: {line}: {error}")),
            }
        }
        // Every byte is counted as read, skipped lines' too.
        assert_eq!(blocks.bytes_read(), text.len() as u64);
        (lines, cuts)
    }

    #[test]
    fn every_line_comes_once_with_its_number() {
        let text: Vec<u8> = (1..=500)
            .map(|i| format!("{{\"id\": {i}, \"text\": \"{}\"}}\n", "x".repeat(i % 37)))
            .collect::<String>()
            .into_bytes();
        let want: Vec<(u64, Vec<u8>)> = text
            .split(|&c| c == b'\n')
            .take(500)
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l.to_vec()))
            .collect();
        for (chunk, block) in [(1, 1), (7, 100), (4096, 1000), (100_000, 1 << 20)] {
            let (got, cuts) = cut(&text, chunk, block, 1 << 20);
            assert!(cuts.is_empty());
            assert_eq!(got, want, "chunk {chunk}, block {block}");
        }
    }

    #[test]
    fn a_last_line_without_a_break_and_blank_lines_are_kept() {
        let (got, _) = cut(b"a\n\nb\r\nc", 3, 2, 100);
        let got: Vec<(u64, &[u8])> = got.iter().map(|(n, l)| (*n, l.as_slice())).collect();
        assert_eq!(got, [(1, &b"a"[..]), (2, b""), (3, b"b\r"), (4, b"c")]);
    }

    #[test]
    fn an_over_long_line_is_named_and_skipped() {
        let mut text = b"short\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 300_000));
        text.extend_from_slice(b"\nafter\nend");
        for chunk in [1000, 70_000, 1 << 20] {
            let (got, cuts) = cut(&text, chunk, 100, 200_000);
            assert_eq!(cuts, ["too long: 2"], "chunk {chunk}");
            let got: Vec<(u64, &[u8])> = got.iter().map(|(n, l)| (*n, l.as_slice())).collect();
            assert_eq!(got, [(1, &b"short"[..]), (3, b"after"), (4, b"end")]);
        }
    }

    #[test]
    fn a_read_error_is_reported_with_its_line() {
        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                out[..4].copy_from_slice(b"{}\n{");
                Ok(4)
            }
        }
        let cuts: Vec<String> = LineBlocks::new(Failing(2), 1 << 20, 1 << 20)
            .filter_map(|b| b.err())
            .map(|e| match e {
                Cut::Io { line, error } => format!("{line}: {error}"),
                Cut::TooLong { line } => format!("too long {line}"),
            })
            .collect();
        assert_eq!(cuts, ["3: disk on fire"]);
    }
}
