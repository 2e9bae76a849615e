//! A string value read as a sequential byte stream: plain bytes or LZF-decoded on the fly.
//!
//! Container encodings (ziplist, listpack, zipmap, intset) are walked through this, so a blob of
//! any size needs no buffer of its own.

use super::chunks::ChunkSource;

use super::error::{ParseError, ParseResult};
use super::input::Input;
use super::lzf::{LzfStream, LzfWindow};

/// A string value being read from the input.
pub struct Blob<'a, R> {
    input: &'a mut Input<R>,
    lzf: Option<LzfStream<'a>>,
    len: u64,
    left: u64,
}

impl<'a, R: ChunkSource> Blob<'a, R> {
    /// A plain blob of `len` bytes.
    pub fn plain(input: &'a mut Input<R>, len: u64) -> Self {
        Self {
            input,
            lzf: None,
            len,
            left: len,
        }
    }

    /// An LZF-compressed blob.
    pub fn lzf(input: &'a mut Input<R>, window: &'a mut LzfWindow, clen: u64, ulen: u64) -> Self {
        Self {
            input,
            lzf: Some(LzfStream::new(window, clen, ulen)),
            len: ulen,
            left: ulen,
        }
    }

    /// Decoded length of the whole blob.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Offset in the input (for error messages).
    pub fn pos(&self) -> u64 {
        self.input.pos()
    }

    fn check(&self, n: u64, what: &'static str) -> ParseResult<()> {
        if n > self.left {
            return Err(ParseError::invalid(
                self.input.pos(),
                format!(
                    "{what} inside its encoded value ({n} bytes needed, {} left)",
                    self.left
                ),
            ));
        }
        Ok(())
    }

    /// Reads exactly `out.len()` decoded bytes.
    pub fn read_exact(&mut self, out: &mut [u8], what: &'static str) -> ParseResult<()> {
        self.check(out.len() as u64, what)?;
        match self.lzf.as_mut() {
            Some(z) => z.read_exact(self.input, out)?,
            None => out.copy_from_slice(self.input.take(out.len(), what)?),
        }
        self.left -= out.len() as u64;
        Ok(())
    }

    /// Reads one decoded byte.
    pub fn read_u8(&mut self, what: &'static str) -> ParseResult<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b, what)?;
        Ok(b[0])
    }

    /// Skips `n` decoded bytes.
    pub fn skip(&mut self, n: u64, what: &'static str) -> ParseResult<()> {
        self.check(n, what)?;
        match self.lzf.as_mut() {
            Some(z) => {
                let mut scratch = [0u8; 512];
                let mut left = n;
                while left > 0 {
                    let m = left.min(scratch.len() as u64) as usize;
                    z.read_exact(self.input, &mut scratch[..m])?;
                    left -= m as u64;
                }
            }
            None => self.input.skip(n, what)?,
        }
        self.left -= n;
        Ok(())
    }

    /// Appends the rest of the blob to `out`.
    pub fn read_rest_into(mut self, out: &mut Vec<u8>, what: &'static str) -> ParseResult<()> {
        let n = self.left;
        match self.lzf.as_mut() {
            Some(z) => {
                let start = out.len();
                out.resize(start + n as usize, 0);
                z.read_exact(self.input, &mut out[start..])?;
                if z.compressed_left() != 0 {
                    return Err(ParseError::invalid(
                        self.input.pos(),
                        "LZF data to end with its stated length",
                    ));
                }
            }
            None => self.input.read_into(n, out, what)?,
        }
        Ok(())
    }

    /// Moves the input past the blob without decoding what is left.
    pub fn finish(mut self) -> ParseResult<()> {
        match self.lzf.take() {
            Some(z) => self.input.skip(z.compressed_left(), "LZF-compressed data"),
            None => self.input.skip(self.left, "a string value"),
        }
    }
}
