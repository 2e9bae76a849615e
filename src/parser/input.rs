//! Buffered byte input with absolute offsets and a running CRC64 over everything consumed.
//!
//! Memory is one fixed buffer; skipping a value of any size streams through it.

use std::io::{self, Read};

use crc_fast::{CrcAlgorithm, Digest};

use super::error::{ErrorKind, ParseError, ParseResult};

/// Redis's CRC64 (Jones polynomial, reflected), as used in the RDB trailer: computed with
/// carry-less multiplication (PCLMULQDQ / PMULL) where the processor has it, several GB/s.
pub const CRC64: CrcAlgorithm = CrcAlgorithm::Crc64Redis;

/// Default buffer size: large reads, few refills.
pub const DEFAULT_BUFFER: usize = 1 << 18;

/// A byte source read through one buffer, tracking the absolute offset.
pub struct Input<R> {
    reader: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    crc: Option<Digest>,
    /// Index in `buf` up to which the CRC has consumed bytes.
    crc_upto: usize,
    at_eof: bool,
}

impl<R: Read> Input<R> {
    /// Wraps a reader; `checksum` turns the running CRC64 on.
    pub fn new(reader: R, buffer_size: usize, checksum: bool) -> Self {
        Self {
            reader,
            buf: vec![0u8; buffer_size.max(64)].into_boxed_slice(),
            start: 0,
            end: 0,
            base: 0,
            crc: checksum.then(|| Digest::new(CRC64)),
            crc_upto: 0,
            at_eof: false,
        }
    }

    /// Absolute offset of the next byte.
    #[inline]
    pub fn pos(&self) -> u64 {
        self.base + self.start as u64
    }

    #[inline]
    fn available(&self) -> usize {
        self.end - self.start
    }

    fn update_crc(&mut self) {
        if let Some(d) = self.crc.as_mut() {
            if self.crc_upto < self.start {
                d.update(&self.buf[self.crc_upto..self.start]);
            }
        }
        self.crc_upto = self.start;
    }

    /// Makes at least `min` bytes (at most the buffer size) available; returns how many are.
    fn fill(&mut self, min: usize) -> ParseResult<usize> {
        debug_assert!(min <= self.buf.len());
        if self.available() >= min {
            return Ok(self.available());
        }
        if self.start > 0 {
            self.update_crc();
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
            self.crc_upto = 0;
        }
        while self.available() < min && !self.at_eof {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.at_eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(ParseError {
                        offset: self.base + self.end as u64,
                        rdb_version: None,
                        kind: ErrorKind::Io(e),
                    })
                }
            }
        }
        Ok(self.available())
    }

    /// Returns `n` bytes (n at most the buffer size) and consumes them.
    #[inline]
    pub fn take(&mut self, n: usize, what: &'static str) -> ParseResult<&[u8]> {
        if self.available() < n {
            if n > self.buf.len() {
                return Err(ParseError::invalid(
                    self.pos(),
                    format!("{what} of at most {} bytes", self.buf.len()),
                ));
            }
            if self.fill(n)? < n {
                return Err(ParseError::truncated(self.base + self.end as u64, what));
            }
        }
        let s = self.start;
        self.start += n;
        Ok(&self.buf[s..s + n])
    }

    /// Reads one byte.
    #[inline]
    pub fn read_u8(&mut self, what: &'static str) -> ParseResult<u8> {
        if self.start < self.end {
            let b = self.buf[self.start];
            self.start += 1;
            return Ok(b);
        }
        Ok(self.take(1, what)?[0])
    }

    /// Reads a fixed-size array.
    #[inline]
    pub fn read_array<const N: usize>(&mut self, what: &'static str) -> ParseResult<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Skips `n` bytes (streaming through the buffer, so the CRC sees them).
    pub fn skip(&mut self, mut n: u64, what: &'static str) -> ParseResult<()> {
        loop {
            let avail = self.available() as u64;
            if n <= avail {
                self.start += n as usize;
                return Ok(());
            }
            n -= avail;
            self.start = self.end;
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
    pub fn crc_so_far(&mut self) -> Option<u64> {
        self.update_crc();
        self.crc.as_ref().map(|d| d.finalize())
    }

    /// Whether the stream has no more bytes.
    pub fn at_end(&mut self) -> ParseResult<bool> {
        Ok(self.fill(1)? == 0)
    }
}
