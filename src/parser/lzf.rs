//! Streaming LZF decompression with a fixed 8 KiB window (LZF back references reach at most
//! 8192 bytes), so a compressed value of any size decodes in constant memory.

use super::chunks::ChunkSource;

use super::error::{ParseError, ParseResult};
use super::input::Input;

/// Largest back-reference distance LZF can express.
pub const WINDOW: usize = 8192;
const MASK: usize = WINDOW - 1;

/// The reusable history window.
pub struct LzfWindow(Box<[u8; WINDOW]>);

impl Default for LzfWindow {
    fn default() -> Self {
        Self(Box::new([0u8; WINDOW]))
    }
}

#[derive(Clone, Copy)]
enum Pending {
    None,
    Literal(usize),
    Backref { dist: usize, len: usize },
}

/// One LZF stream being decoded from an [`Input`].
pub struct LzfStream<'w> {
    window: &'w mut [u8; WINDOW],
    produced: usize,
    in_left: u64,
    out_left: u64,
    pending: Pending,
}

impl<'w> LzfStream<'w> {
    /// Starts decoding `compressed` input bytes that expand to `uncompressed` bytes.
    pub fn new(window: &'w mut LzfWindow, compressed: u64, uncompressed: u64) -> Self {
        Self {
            window: &mut window.0,
            produced: 0,
            in_left: compressed,
            out_left: uncompressed,
            pending: Pending::None,
        }
    }

    /// Compressed bytes not yet consumed.
    pub fn compressed_left(&self) -> u64 {
        self.in_left
    }

    /// Fills `out` completely with the next decoded bytes.
    pub fn read_exact<R: ChunkSource>(
        &mut self,
        input: &mut Input<R>,
        out: &mut [u8],
    ) -> ParseResult<()> {
        let mut n = 0;
        while n < out.len() {
            n += self.decode(input, &mut out[n..])?;
        }
        Ok(())
    }

    /// Decodes up to `out.len()` bytes; returns how many (at least one unless `out` is empty).
    pub fn decode<R: ChunkSource>(
        &mut self,
        input: &mut Input<R>,
        out: &mut [u8],
    ) -> ParseResult<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if (out.len() as u64) > self.out_left {
            return Err(ParseError::invalid(
                input.pos(),
                "data within the LZF-compressed length",
            ));
        }
        loop {
            match self.pending {
                Pending::None => self.next_op(input)?,
                Pending::Literal(k) => {
                    let m = k.min(out.len());
                    let src = input.take(m, "LZF literal bytes")?;
                    out[..m].copy_from_slice(src);
                    // Into the window as one or two slices (where it wraps around).
                    let at = self.produced & MASK;
                    let first = m.min(WINDOW - at);
                    self.window[at..at + first].copy_from_slice(&src[..first]);
                    self.window[..m - first].copy_from_slice(&src[first..]);
                    self.produced += m;
                    self.in_left -= m as u64;
                    self.out_left -= m as u64;
                    self.pending = if k == m {
                        Pending::None
                    } else {
                        Pending::Literal(k - m)
                    };
                    return Ok(m);
                }
                Pending::Backref { dist, len } => {
                    let m = len.min(out.len());
                    for slot in out.iter_mut().take(m) {
                        let b = self.window[(self.produced - dist) & MASK];
                        *slot = b;
                        self.window[self.produced & MASK] = b;
                        self.produced += 1;
                    }
                    self.out_left -= m as u64;
                    self.pending = if len == m {
                        Pending::None
                    } else {
                        Pending::Backref { dist, len: len - m }
                    };
                    return Ok(m);
                }
            }
        }
    }

    fn next_op<R: ChunkSource>(&mut self, input: &mut Input<R>) -> ParseResult<()> {
        let at = input.pos();
        if self.in_left == 0 {
            return Err(ParseError::invalid(
                at,
                "more LZF data: the compressed value ends before its stated length",
            ));
        }
        let ctrl = input.read_u8("an LZF control byte")? as usize;
        self.in_left -= 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if len as u64 > self.in_left || len as u64 > self.out_left {
                return Err(ParseError::invalid(
                    at,
                    "an LZF literal run inside the compressed value",
                ));
            }
            self.pending = Pending::Literal(len);
            return Ok(());
        }
        let mut len = ctrl >> 5;
        if len == 7 {
            if self.in_left == 0 {
                return Err(ParseError::invalid(
                    at,
                    "an LZF length byte inside the compressed value",
                ));
            }
            len += input.read_u8("an LZF length byte")? as usize;
            self.in_left -= 1;
        }
        if self.in_left == 0 {
            return Err(ParseError::invalid(
                at,
                "an LZF offset byte inside the compressed value",
            ));
        }
        let dist = ((ctrl & 0x1f) << 8) + input.read_u8("an LZF offset byte")? as usize + 1;
        self.in_left -= 1;
        let len = len + 2;
        if dist > self.produced || len as u64 > self.out_left {
            return Err(ParseError::invalid(
                at,
                "an LZF back reference within the data decoded so far",
            ));
        }
        self.pending = Pending::Backref { dist, len };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny LZF compressor (literals + one back-reference form) to produce test streams.
    fn compress_repeats(data: &[u8]) -> Vec<u8> {
        // literal of first byte, then back references of distance 1 for the rest (run of same byte)
        let mut out = vec![0u8, data[0]];
        let mut left = data.len() - 1;
        while left > 0 {
            let len = left.min(264);
            if len < 3 {
                out.push((len - 1) as u8);
                out.extend(std::iter::repeat_n(data[0], len));
                break;
            }
            let l = len - 2;
            if l < 7 {
                out.push((l as u8) << 5);
                out.push(0);
            } else {
                out.push(7 << 5);
                out.push((l - 7) as u8);
                out.push(0);
            }
            left -= len;
        }
        out
    }

    #[test]
    fn decodes_runs_across_calls() {
        let data = vec![b'a'; 100_000];
        let comp = compress_repeats(&data);
        let mut input = Input::from_reader(&comp[..], 64, false);
        let mut w = LzfWindow::default();
        let mut s = LzfStream::new(&mut w, comp.len() as u64, data.len() as u64);
        let mut out = vec![0u8; data.len()];
        for chunk in out.chunks_mut(777) {
            s.read_exact(&mut input, chunk).unwrap();
        }
        assert_eq!(out, data);
        assert_eq!(s.compressed_left(), 0);
    }

    /// A random LZF stream of literals and back references (any distance the window holds)
    /// and what it decodes to, about `size` bytes.
    fn random_stream(size: usize, mut seed: u64) -> (Vec<u8>, Vec<u8>) {
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut comp, mut data) = (Vec::new(), Vec::<u8>::new());
        while data.len() < size {
            if data.is_empty() || next(2) == 0 {
                let len = 1 + next(32);
                comp.push((len - 1) as u8);
                for _ in 0..len {
                    let b = next(256) as u8;
                    comp.push(b);
                    data.push(b);
                }
            } else {
                let dist = 1 + next(data.len().min(WINDOW));
                let len = 3 + next(262);
                let (high, low) = (((dist - 1) >> 8) as u8, (dist - 1) as u8);
                if len - 2 < 7 {
                    comp.push(((len - 2) as u8) << 5 | high);
                } else {
                    comp.push(7 << 5 | high);
                    comp.push((len - 2 - 7) as u8);
                }
                comp.push(low);
                for _ in 0..len {
                    data.push(data[data.len() - dist]);
                }
            }
        }
        (comp, data)
    }

    /// Literals and back references across the window's wrap-around decode the same whatever
    /// the sizes of the reads.
    #[test]
    fn decodes_literals_and_references_across_the_window() {
        for seed in 1..6u64 {
            let (comp, data) = random_stream(40_000, seed * 0x9e37_79b9);
            let mut input = Input::from_reader(&comp[..], 64, false);
            let mut w = LzfWindow::default();
            let mut s = LzfStream::new(&mut w, comp.len() as u64, data.len() as u64);
            let mut out = vec![0u8; data.len()];
            let mut at = 0;
            let mut size = seed as usize;
            while at < out.len() {
                size = (size * 7 + 3) % 97 + 1;
                let end = (at + size).min(out.len());
                s.read_exact(&mut input, &mut out[at..end]).unwrap();
                at = end;
            }
            assert!(out == data, "seed {seed}");
            assert_eq!(s.compressed_left(), 0);
        }
    }

    #[test]
    fn rejects_reference_before_start() {
        let comp = [0x20u8, 0x05];
        let mut input = Input::from_reader(&comp[..], 64, false);
        let mut w = LzfWindow::default();
        let mut s = LzfStream::new(&mut w, 2, 3);
        let mut out = [0u8; 3];
        assert!(s.read_exact(&mut input, &mut out).is_err());
    }
}
