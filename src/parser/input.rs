//! Byte input over the chunks of a stream, with absolute offsets and the CRC64 of everything
//! consumed.
//!
//! The bytes being read are one chunk's buffer, taken as it came from the reader: a read that
//! spans two chunks moves the unread end of the first into the spare room in front of the
//! second (a few bytes) instead of copying the second behind them; only a read longer than that
//! room goes through a copy. The CRC64 is the reader's: each chunk comes with the state before
//! it, and the checksum at a position is that state plus the bytes of its chunk up to there.

use std::collections::VecDeque;

use crc_fast::CrcAlgorithm;

use super::chunks::ChunkSource;
use super::error::{ErrorKind, ParseError, ParseResult};

/// Redis's CRC64 (Jones polynomial, reflected), as used in the RDB trailer: computed with
/// carry-less multiplication (PCLMULQDQ / PMULL) where the processor has it, several GB/s.
pub const CRC64: CrcAlgorithm = CrcAlgorithm::Crc64Redis;

/// Default largest single read, and chunk size of the readers made here: large reads, few
/// refills.
pub const DEFAULT_BUFFER: usize = 1 << 18;

/// Where the data of one chunk lies in the stream and in its buffer.
#[derive(Clone, Copy)]
struct Region {
    /// Absolute offset of the chunk's first data byte.
    abs: u64,
    /// Where its data starts in its buffer.
    data_at: usize,
    len: usize,
    crc_before: Option<crc_fast::Digest>,
}

impl Region {
    fn covers(&self, at: u64) -> bool {
        self.abs <= at && at - self.abs <= self.len as u64
    }
}

/// A byte source read chunk by chunk, tracking the absolute offset.
pub struct Input<S> {
    source: S,
    /// `buf[start..]` is unread.
    buf: Vec<u8>,
    start: usize,
    /// Absolute offset of `buf[0]` (wrapping: the room in front of the first chunk has none).
    base: u64,
    /// `buf`'s chunk, when `buf` is a chunk's buffer rather than a copy.
    own: Option<Region>,
    /// Earlier chunks whose data may still hold the read position, oldest first (the CRC at
    /// a position is computed from the chunk holding it).
    kept: VecDeque<(Vec<u8>, Region)>,
    /// A copy buffer to reuse.
    spare: Vec<u8>,
    /// Largest single read.
    limit: usize,
    checksum: bool,
    at_eof: bool,
    /// The bytes of the last [`Self::take_pinned`]: where they lie in `buf`, or aside.
    pin: Pin,
    /// The pinned bytes, once their buffer was replaced.
    pin_copy: Vec<u8>,
}

/// Where the bytes of the last [`Input::take_pinned`] are.
#[derive(Clone, Copy, PartialEq)]
enum Pin {
    None,
    /// `buf[start..start + len]`.
    InPlace {
        start: usize,
        len: usize,
    },
    /// `pin_copy`.
    Aside,
}

#[cfg(test)]
impl<R: std::io::Read + Send> Input<super::chunks::ReadChunks<R>> {
    /// Reads `reader` on the calling thread in chunks of `buffer_size` bytes; `checksum` turns
    /// the CRC64 on.
    pub fn from_reader(reader: R, buffer_size: usize, checksum: bool) -> Self {
        let size = buffer_size.max(64);
        Input::new(
            super::chunks::ReadChunks::new(reader, size, checksum),
            size,
            checksum,
        )
    }
}

impl<S: ChunkSource> Input<S> {
    /// Reads the chunks of `source`; single reads are limited to `limit` bytes; `checksum`
    /// turns the CRC64 on (the source must then give each chunk its CRC state).
    pub fn new(source: S, limit: usize, checksum: bool) -> Self {
        Self {
            source,
            buf: Vec::new(),
            start: 0,
            base: 0,
            own: None,
            kept: VecDeque::new(),
            spare: Vec::new(),
            limit: limit.max(64),
            checksum,
            at_eof: false,
            pin: Pin::None,
            pin_copy: Vec::new(),
        }
    }

    /// Largest single read.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Absolute offset of the next byte.
    #[inline]
    pub fn pos(&self) -> u64 {
        self.base.wrapping_add(self.start as u64)
    }

    /// Absolute offset just past the bytes read from the source so far.
    fn end_pos(&self) -> u64 {
        self.base.wrapping_add(self.buf.len() as u64)
    }

    #[inline]
    fn available(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Makes at least `min` bytes available, unless the stream ends first; returns how many
    /// are.
    fn fill(&mut self, min: usize) -> ParseResult<usize> {
        while self.available() < min && !self.at_eof {
            let offset = self.end_pos();
            let chunk = self.source.next_chunk().map_err(|e| ParseError {
                offset,
                rdb_version: None,
                kind: ErrorKind::Io(e),
            })?;
            if chunk.is_empty() {
                self.at_eof = true;
                self.source.recycle(chunk.buf);
                break;
            }
            let region = Region {
                abs: offset,
                data_at: chunk.data_at,
                len: chunk.len(),
                crc_before: chunk.crc_before,
            };
            if let Pin::InPlace { start, len } = self.pin {
                self.pin_copy.clear();
                self.pin_copy
                    .extend_from_slice(&self.buf[start..start + len]);
                self.pin = Pin::Aside;
            }
            let rest = self.available();
            let old = std::mem::take(&mut self.buf);
            let old_own = self.own.take();
            if rest <= chunk.data_at {
                // The unread bytes go into the room in front of the new chunk's data.
                let mut buf = chunk.buf;
                let at = chunk.data_at - rest;
                buf[at..chunk.data_at].copy_from_slice(&old[self.start..]);
                self.buf = buf;
                self.base = offset.wrapping_sub(chunk.data_at as u64);
                self.start = at;
                self.own = Some(region);
                self.retire(old, old_own);
            } else {
                // A long read across chunks: the unread bytes and the new data, copied.
                let mut joined = std::mem::take(&mut self.spare);
                joined.clear();
                joined.extend_from_slice(&old[self.start..]);
                joined.extend_from_slice(&chunk.buf[chunk.data_at..]);
                self.base = offset - rest as u64;
                self.start = 0;
                self.buf = joined;
                self.retire(old, old_own);
                self.kept.push_back((chunk.buf, region));
            }
            self.trim();
        }
        Ok(self.available())
    }

    /// Puts away the buffer read before: kept for the CRC when it is a chunk's, reused when it
    /// is a copy.
    fn retire(&mut self, buf: Vec<u8>, own: Option<Region>) {
        match own {
            Some(region) => self.kept.push_back((buf, region)),
            None if buf.capacity() > self.spare.capacity() => self.spare = buf,
            None => {}
        }
    }

    /// Gives back the kept chunks that end before the read position.
    fn trim(&mut self) {
        let at = self.pos();
        while let Some((_, r)) = self.kept.front() {
            if r.abs + r.len as u64 >= at {
                break;
            }
            if let Some((buf, _)) = self.kept.pop_front() {
                self.source.recycle(buf);
            }
        }
    }

    /// Returns `n` bytes (n at most the read limit) and consumes them.
    #[inline(always)]
    pub fn take(&mut self, n: usize, what: &'static str) -> ParseResult<&[u8]> {
        if self.available() < n {
            self.make_available(n, what)?;
        }
        let s = self.start;
        self.start += n;
        Ok(&self.buf[s..s + n])
    }

    /// Makes `n` bytes available for [`Self::take`], or the error saying why they cannot be:
    /// more than the read limit, or the stream ends first.
    #[inline(never)]
    fn make_available(&mut self, n: usize, what: &'static str) -> ParseResult<()> {
        if n > self.limit {
            return Err(ParseError::invalid(
                self.pos(),
                format!("{what} of at most {} bytes", self.limit),
            ));
        }
        if self.fill(n)? < n {
            return Err(ParseError::truncated(self.end_pos(), what));
        }
        Ok(())
    }

    /// Consumes `n` bytes (n at most the read limit) and keeps them readable through
    /// [`Self::pinned`] until the next pin: where they lie, copied aside only if their buffer is
    /// replaced first.
    #[inline(always)]
    pub fn take_pinned(&mut self, n: usize, what: &'static str) -> ParseResult<()> {
        if self.available() < n {
            // The last pin is let go before buffers are replaced: it is not copied aside.
            self.pin = Pin::None;
            self.make_available(n, what)?;
        }
        self.pin = Pin::InPlace {
            start: self.start,
            len: n,
        };
        self.start += n;
        Ok(())
    }

    /// The bytes of the last [`Self::take_pinned`].
    #[inline]
    pub fn pinned(&self) -> &[u8] {
        match self.pin {
            Pin::InPlace { start, len } => &self.buf[start..start + len],
            Pin::Aside => &self.pin_copy,
            Pin::None => &[],
        }
    }

    /// Reads one byte.
    #[inline]
    pub fn read_u8(&mut self, what: &'static str) -> ParseResult<u8> {
        if let Some(&b) = self.buf.get(self.start) {
            self.start += 1;
            return Ok(b);
        }
        Ok(self.take(1, what)?[0])
    }

    /// A string length written in one or two bytes (the 6- and 14-bit forms, the common
    /// case), consumed, when both bytes are in the current buffer; None otherwise (nothing
    /// consumed: the caller reads the head the general way).
    #[inline(always)]
    pub fn short_len(&mut self) -> Option<u64> {
        let b = *self.buf.get(self.start)?;
        if b < 0x40 {
            self.start += 1;
            return Some(u64::from(b));
        }
        if b < 0x80 {
            let low = *self.buf.get(self.start + 1)?;
            self.start += 2;
            return Some((u64::from(b & 0x3F) << 8) | u64::from(low));
        }
        None
    }

    /// Reads a fixed-size array.
    #[inline]
    pub fn read_array<const N: usize>(&mut self, what: &'static str) -> ParseResult<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Skips `n` bytes.
    #[inline(always)]
    pub fn skip(&mut self, n: u64, what: &'static str) -> ParseResult<()> {
        if n <= self.available() as u64 {
            self.start += n as usize;
            return Ok(());
        }
        self.skip_across(n, what)
    }

    /// [`Self::skip`] past the end of the current buffer.
    #[inline(never)]
    fn skip_across(&mut self, mut n: u64, what: &'static str) -> ParseResult<()> {
        loop {
            let avail = self.available() as u64;
            if n <= avail {
                self.start += n as usize;
                return Ok(());
            }
            n -= avail;
            self.start = self.buf.len();
            if self.fill(1)? == 0 {
                return Err(ParseError::truncated(self.pos(), what));
            }
        }
    }

    /// Appends `n` bytes to `out`.
    pub fn read_into(
        &mut self,
        mut n: u64,
        out: &mut Vec<u8>,
        what: &'static str,
    ) -> ParseResult<()> {
        loop {
            let avail = self.available() as u64;
            let m = avail.min(n) as usize;
            out.extend_from_slice(&self.buf[self.start..self.start + m]);
            self.start += m;
            n -= m as u64;
            if n == 0 {
                return Ok(());
            }
            if self.fill(1)? == 0 {
                return Err(ParseError::truncated(self.pos(), what));
            }
        }
    }

    /// CRC64 of everything consumed so far (`None` when checksumming is off).
    pub fn crc_so_far(&mut self) -> ParseResult<Option<u64>> {
        if !self.checksum {
            return Ok(None);
        }
        let at = self.pos();
        let own = self.own.map(|r| (self.buf.as_slice(), r));
        let kept = self.kept.iter().map(|(b, r)| (b.as_slice(), *r));
        let Some((buf, region)) = own.into_iter().chain(kept).find(|(_, r)| r.covers(at)) else {
            if at == 0 {
                return Ok(Some(crc_fast::Digest::new(CRC64).finalize()));
            }
            return Err(ParseError::invalid(
                at,
                "the chunk holding the read position (internal error: it was given back)",
            ));
        };
        let Some(mut digest) = region.crc_before else {
            return Err(ParseError::invalid(
                at,
                "a CRC64 from the stream's reader (internal error: it computed none)",
            ));
        };
        let upto = region.data_at + (at - region.abs) as usize;
        digest.update(&buf[region.data_at..upto]);
        Ok(Some(digest.finalize()))
    }

    /// Whether the stream has no more bytes.
    pub fn at_end(&mut self) -> ParseResult<bool> {
        Ok(self.fill(1)? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::chunks::ReadChunks;
    use super::*;

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    fn crc_of(bytes: &[u8]) -> u64 {
        let mut d = crc_fast::Digest::new(CRC64);
        d.update(bytes);
        d.finalize()
    }

    /// Random reads of every kind (short string lengths too) over chunks of random sizes and
    /// spare room (so that reads span chunks both through the room and through a copy) give
    /// the stream's bytes, offsets and CRC64 at every point.
    #[test]
    fn reads_across_chunks_give_the_stream_and_its_crc() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let chunk = 1 + rng.below(300) as usize;
            let headroom = rng.below(40) as usize;
            let limit = 64 + rng.below(600) as usize;
            let source = ReadChunks::with_headroom(&data[..], chunk, headroom, true);
            let mut input = Input::new(source, limit, true);
            let mut at = 0usize;
            while at < data.len() {
                let ctx = format!("round {round} (chunk {chunk}, room {headroom}) at {at}");
                assert_eq!(input.pos(), at as u64, "{ctx}");
                let crc = input.crc_so_far().unwrap();
                assert_eq!(crc, Some(crc_of(&data[..at])), "{ctx}");
                let left = data.len() - at;
                let n = (rng.below(limit as u64) as usize + 1).min(left);
                match rng.below(6) {
                    0 => assert_eq!(input.take(n, "t").unwrap(), &data[at..at + n], "{ctx}"),
                    5 => {
                        // A short string length, or nothing consumed.
                        let b = u64::from(data[at]);
                        match input.short_len() {
                            Some(len) if b < 0x40 => {
                                assert_eq!(len, b, "{ctx}");
                                at += 1;
                            }
                            Some(len) => {
                                assert!(b < 0x80, "{ctx}: a head of 0x{b:02x} is not short");
                                let low = u64::from(data[at + 1]);
                                assert_eq!(len, (b & 0x3F) << 8 | low, "{ctx}");
                                at += 2;
                            }
                            None => assert_eq!(input.pos(), at as u64, "{ctx}"),
                        }
                        continue;
                    }
                    4 => {
                        input.take_pinned(n, "p").unwrap();
                        // Reads after the pin, across chunks, keep it.
                        let more = (rng.below(3 * chunk as u64) as usize).min(left - n);
                        input.skip(more as u64, "s").unwrap();
                        assert_eq!(input.pinned(), &data[at..at + n], "{ctx}");
                        at += more;
                    }
                    1 => input.skip(n as u64, "s").unwrap(),
                    2 => {
                        let mut out = vec![1, 2];
                        input.read_into(n as u64, &mut out, "r").unwrap();
                        assert_eq!(&out[2..], &data[at..at + n], "{ctx}");
                    }
                    _ => {
                        assert_eq!(input.read_u8("b").unwrap(), data[at], "{ctx}");
                        at += 1;
                        continue;
                    }
                }
                at += n;
            }
            assert!(input.at_end().unwrap());
            assert_eq!(input.crc_so_far().unwrap(), Some(crc_of(&data)));
            assert!(input.take(1, "past the end").is_err());
        }
    }

    #[test]
    fn a_read_longer_than_the_limit_is_refused_and_a_short_stream_is_truncated() {
        let data = [5u8; 100];
        let mut input = Input::from_reader(&data[..], 64, false);
        assert!(input
            .take(65, "x")
            .unwrap_err()
            .to_string()
            .contains("at most 64"));
        input.skip(90, "s").unwrap();
        let e = input.take(20, "the tail").unwrap_err();
        assert!(e.to_string().contains("the tail"), "{e}");
        assert_eq!(input.crc_so_far().unwrap(), None, "checksum off");
    }
}
