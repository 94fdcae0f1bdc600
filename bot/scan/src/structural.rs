//! Where the brackets outside strings are in raw JSON, 64 bytes at a time.
//!
//! Finding message bounds is what a scan pays for in every Slack day-file
//! that holds a candidate link and in every Discord file, so it is done the
//! way fast JSON parsers do their first stage: each 64-byte block becomes
//! bit masks (quotes, backslashes, the two brackets wanted), the escaped
//! quotes are taken off with carry arithmetic over the backslash runs, a
//! prefix XOR of the quotes marks which bytes are inside strings, and what
//! is left of the brackets is read off the mask one set bit at a time.
//!
//! On x86-64 the masks come from SSE2 compares (every x86-64 processor has
//! SSE2; `safe_arch` wraps them in safe functions). Elsewhere the same
//! walk is made with `memchr` (vectorised on the other major targets), from
//! quote or bracket to the next and from a string's opening quote to its
//! closing one: taking the masks a byte at a time was measured at a third of
//! that speed (`scripts/jsoncmp`), so it is kept only as the reference the
//! vector masks are tested against.

/// Bits of a block: bit `i` stands for byte `i`.
#[cfg(target_arch = "x86_64")]
struct Masks {
    quotes: u64,
    backslashes: u64,
    brackets: u64,
}

/// The masks of one block for the `open` and `close` brackets.
///
/// Backslashes are rare outside chat text with escapes: their four lane
/// compares are joined and tested with one move-mask, and their mask is
/// only assembled when the block has one.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks(block: &[u8; 64], open: u8, close: u8) -> Masks {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    // `as i8` reinterprets the byte for the splat, which is what SSE2 wants.
    let eq = |v: m128i, x: u8| cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(x as i8));
    let bits = |v: m128i| u64::from(move_mask_i8_m128i(v) as u16);
    let lanes: [m128i; 4] = std::array::from_fn(|k| {
        let mut lane = [0u8; 16];
        lane.copy_from_slice(&block[16 * k..16 * k + 16]);
        m128i::from(lane)
    });
    let mut m = Masks {
        quotes: 0,
        backslashes: 0,
        brackets: 0,
    };
    let slashes = lanes.map(|v| eq(v, b'\\'));
    let any_slash = bitor_m128i(
        bitor_m128i(slashes[0], slashes[1]),
        bitor_m128i(slashes[2], slashes[3]),
    );
    if move_mask_i8_m128i(any_slash) != 0 {
        for (k, &v) in slashes.iter().enumerate() {
            m.backslashes |= bits(v) << (16 * k);
        }
    }
    for (k, &v) in lanes.iter().enumerate() {
        let shift = 16 * k;
        m.quotes |= bits(eq(v, b'"')) << shift;
        m.brackets |= bits(bitor_m128i(eq(v, open), eq(v, close))) << shift;
    }
    m
}

/// [`masks`] one byte at a time: the reference the vector masks are tested
/// against.
#[cfg(all(test, target_arch = "x86_64"))]
fn masks_bytewise(block: &[u8; 64], open: u8, close: u8) -> Masks {
    let mut m = Masks {
        quotes: 0,
        backslashes: 0,
        brackets: 0,
    };
    for (i, &c) in block.iter().enumerate() {
        m.quotes |= u64::from(c == b'"') << i;
        m.backslashes |= u64::from(c == b'\\') << i;
        m.brackets |= u64::from(c == open || c == close) << i;
    }
    m
}

/// Every other bit, starting with bit 0.
#[cfg(target_arch = "x86_64")]
const EVEN: u64 = 0x5555_5555_5555_5555;

/// The offsets of `open` and `close` bytes outside strings, in order, in
/// JSON that starts outside a string.
///
/// A quote is escaped when an odd run of backslashes precedes it; a byte is
/// inside a string when an odd number of unescaped quotes precede it. Both
/// carry from block to block.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct Structural<'a> {
    b: &'a [u8],
    open: u8,
    close: u8,
    /// Where the next block starts.
    next_block: usize,
    /// Where the block `pending` belongs to starts.
    base: usize,
    /// Brackets of the current block not yet returned.
    pending: u64,
    /// All ones when the previous block ended inside a string.
    in_string: u64,
    /// 1 when the previous block ended with an odd run of backslashes.
    escape_carry: u64,
    /// Walk with `memchr`, as targets without SSE2 do.
    portable: bool,
}

impl<'a> Structural<'a> {
    pub(crate) fn new(b: &'a [u8], open: u8, close: u8) -> Structural<'a> {
        Structural {
            b,
            open,
            close,
            next_block: 0,
            base: 0,
            pending: 0,
            in_string: 0,
            escape_carry: 0,
            portable: !cfg!(target_arch = "x86_64"),
        }
    }

    /// The same walk made with `memchr`, as on targets without SSE2: so
    /// that the portable path is tested (and can be measured) on every
    /// machine.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn portable(b: &'a [u8], open: u8, close: u8) -> Structural<'a> {
        Structural {
            portable: true,
            ..Structural::new(b, open, close)
        }
    }

    /// The brackets outside strings in one block, carrying the escape and
    /// string state on.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn block(&mut self, block: &[u8; 64]) -> u64 {
        let Masks {
            mut quotes,
            backslashes,
            brackets,
        } = masks(block, self.open, self.close);
        if backslashes | self.escape_carry != 0 {
            // A backslash escaped by the previous block's last one starts
            // nothing. Runs of backslashes that start on an odd bit and end
            // past an even one (or the reverse) have odd length: adding the
            // run starts to the runs carries each start to just past its
            // run's end, and the parity of where it lands says whether the
            // byte after the run is escaped.
            let backslashes = backslashes & !self.escape_carry;
            let follows = backslashes << 1 | self.escape_carry;
            let odd_starts = backslashes & !EVEN & !follows;
            let (even_ends, overflow) = odd_starts.overflowing_add(backslashes);
            self.escape_carry = u64::from(overflow);
            let escaped = (EVEN ^ (even_ends << 1)) & follows;
            quotes &= !escaped;
        }
        if brackets == 0 {
            // Nothing to place: only whether the block ends inside a
            // string matters, which is the parity of its quotes.
            self.in_string ^= 0u64.wrapping_sub(u64::from(quotes.count_ones() & 1));
            return 0;
        }
        // Prefix XOR: bit i is the parity of the quotes at or before i.
        let mut inside = quotes;
        inside ^= inside << 1;
        inside ^= inside << 2;
        inside ^= inside << 4;
        inside ^= inside << 8;
        inside ^= inside << 16;
        inside ^= inside << 32;
        inside ^= self.in_string;
        self.in_string = 0u64.wrapping_sub(inside >> 63);
        brackets & !inside
    }
}

impl Structural<'_> {
    /// The next bracket outside strings, found by jumping with `memchr`:
    /// `next_block` is where the walk is (always outside a string). A quote
    /// counts when an even run of backslashes (none, usually) precedes it.
    fn next_by_memchr(&mut self) -> Option<usize> {
        let b = self.b;
        let escaped = |q: usize| b[..q].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1;
        loop {
            let from = self.next_block.min(b.len());
            let at = from + memchr::memchr3(b'"', self.open, self.close, &b[from..])?;
            self.next_block = at + 1;
            if b[at] != b'"' {
                return Some(at);
            }
            if escaped(at) {
                continue;
            }
            // Past the closing quote; an unclosed string hides the rest.
            loop {
                let from = self.next_block.min(b.len());
                let Some(k) = memchr::memchr(b'"', &b[from..]) else {
                    self.next_block = b.len();
                    return None;
                };
                self.next_block = from + k + 1;
                if !escaped(from + k) {
                    break;
                }
            }
        }
    }

    /// The next bracket outside strings, from the block masks.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn next_by_masks(&mut self) -> Option<usize> {
        while self.pending == 0 {
            let at = self.next_block;
            let rest = self.b.get(at..).filter(|r| !r.is_empty())?;
            self.base = at;
            self.next_block = at + 64;
            self.pending = match rest.first_chunk::<64>() {
                Some(block) => self.block(block),
                None => {
                    // The tail, padded with spaces (which are none of the
                    // bytes looked for).
                    let mut block = [b' '; 64];
                    block[..rest.len()].copy_from_slice(rest);
                    self.block(&block)
                }
            };
        }
        let i = self.pending.trailing_zeros() as usize;
        self.pending &= self.pending - 1;
        Some(self.base + i)
    }
}

impl Structural<'_> {
    /// Calls `f` with each bracket outside strings, in order, until it
    /// returns `false`. The same walk as the iterator's, made as one loop
    /// over the blocks, so the string and escape state stay in registers
    /// rather than going back to the iterator between brackets (the Discord
    /// bench's CPU time went down by 2 to 3% with it).
    #[inline]
    pub(crate) fn walk(self, mut f: impl FnMut(usize) -> bool) {
        #[cfg(target_arch = "x86_64")]
        if !self.portable {
            return self.walk_blocks(f);
        }
        for at in self {
            if !f(at) {
                return;
            }
        }
    }

    /// [`Structural::walk`] from the block masks.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn walk_blocks(mut self, mut f: impl FnMut(usize) -> bool) {
        let b = self.b;
        let mut base = 0;
        // One call of `f` in the loop, so that it is inlined there.
        while let Some(rest) = b.get(base..).filter(|r| !r.is_empty()) {
            let mut m = match rest.first_chunk::<64>() {
                Some(block) => self.block(block),
                None => {
                    // The tail, padded with spaces (none of the bytes looked
                    // for).
                    let mut block = [b' '; 64];
                    block[..rest.len()].copy_from_slice(rest);
                    self.block(&block)
                }
            };
            while m != 0 {
                if !f(base + m.trailing_zeros() as usize) {
                    return;
                }
                m &= m - 1;
            }
            base += 64;
        }
    }
}

impl Iterator for Structural<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if !self.portable {
            return self.next_by_masks();
        }
        self.next_by_memchr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The brackets outside strings, found one byte at a time. Only quotes
    /// are judged escaped or not (in JSON, backslashes are only met inside
    /// strings).
    fn reference(b: &[u8], open: u8, close: u8) -> Vec<usize> {
        let (mut in_string, mut escaped) = (false, false);
        let mut out = Vec::new();
        for (i, &c) in b.iter().enumerate() {
            if c == b'"' && !escaped {
                in_string = !in_string;
            } else if !in_string && (c == open || c == close) {
                out.push(i);
            }
            escaped = c == b'\\' && !escaped;
        }
        out
    }

    /// A deterministic byte soup of quotes, backslashes, brackets and
    /// letters, so runs of every length straddle block seams.
    fn soup(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"\"\\\\\\{}[]ab  "[(x % 12) as usize]
            })
            .collect()
    }

    #[test]
    fn agrees_with_a_byte_at_a_time_walk() {
        for seed in 0..300 {
            let b = soup(seed, 1 + (seed as usize * 37) % 400);
            for (open, close) in [(b'{', b'}'), (b'[', b']')] {
                let want = reference(&b, open, close);
                let got: Vec<usize> = Structural::new(&b, open, close).collect();
                assert_eq!(got, want, "{}", String::from_utf8_lossy(&b));
                // The fallback other targets use gives the same walk.
                let portable: Vec<usize> = Structural::portable(&b, open, close).collect();
                assert_eq!(portable, want, "portable: {}", String::from_utf8_lossy(&b));
                // The walk in one loop, whole and stopped part way.
                for portable in [false, true] {
                    for stop in [usize::MAX, want.len() / 2] {
                        let s = if portable {
                            Structural::portable(&b, open, close)
                        } else {
                            Structural::new(&b, open, close)
                        };
                        let mut walked = Vec::new();
                        s.walk(|at| {
                            walked.push(at);
                            walked.len() < stop
                        });
                        let n = want.len().min(stop.max(1));
                        assert_eq!(walked, want[..n], "walk, portable {portable}, stop {stop}");
                    }
                }
            }
        }
    }

    #[test]
    fn backslash_runs_carry_across_blocks() {
        // A run of n backslashes ending just before a quote, placed so that
        // it crosses the first block seam in every way.
        for n in 0..70 {
            for end in 60..130 {
                if n > end {
                    continue;
                }
                let mut b = vec![b'a'; 160];
                b[0] = b'"';
                b[end - n..end].fill(b'\\');
                b[end] = b'"';
                b[end + 1] = b'{';
                b[150] = b'"';
                b[151] = b'}';
                let want = reference(&b, b'{', b'}');
                let got: Vec<usize> = Structural::new(&b, b'{', b'}').collect();
                assert_eq!(got, want, "n={n} end={end}");
                let portable: Vec<usize> = Structural::portable(&b, b'{', b'}').collect();
                assert_eq!(portable, want, "portable: n={n} end={end}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_masks_equal_the_bytewise_ones() {
        for seed in 0..200 {
            let b = soup(seed, 64);
            let block: &[u8; 64] = b.as_slice().try_into().unwrap();
            let (v, s) = (masks(block, b'{', b'}'), masks_bytewise(block, b'{', b'}'));
            assert_eq!(
                (v.quotes, v.backslashes, v.brackets),
                (s.quotes, s.backslashes, s.brackets)
            );
        }
    }
}
