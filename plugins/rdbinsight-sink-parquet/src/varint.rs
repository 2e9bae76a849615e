//! LEB128 varints and zigzag-coded signed integers, as Parquet's delta encodings store them
//! (the sort's row form zigzag-codes its integers too), and a checked cursor over bytes that
//! reads them: every read past the end or overlong varint is an error naming the byte offset,
//! never a panic.

use anyhow::{bail, Context, Result};

/// Appends `v` as an unsigned LEB128 varint.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `v` zigzag-coded: small magnitudes, either sign, give small numbers.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A position in a byte slice, read forward.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The offset of the next byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes from offset `at` to the end (empty past the end).
    pub fn from(&self, at: usize) -> &'a [u8] {
        self.bytes.get(at..).unwrap_or_default()
    }

    /// The next byte.
    #[inline]
    pub fn byte(&mut self) -> Result<u8> {
        let b = *self
            .bytes
            .get(self.pos)
            .with_context(|| format!("input ends at byte {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned LEB128 varint.
    #[inline]
    pub fn uleb(&mut self) -> Result<u64> {
        // Most varints of a row (db, key length, codes, counts) are one byte.
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let start = self.pos;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("varint at byte {start} is longer than 10 bytes")
    }

    /// A zigzag-coded signed LEB128 varint.
    #[inline]
    pub fn signed(&mut self) -> Result<i64> {
        self.uleb().map(unzigzag)
    }

    /// The next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .with_context(|| {
                format!(
                    "{n} bytes expected at byte {} of {}",
                    self.pos,
                    self.bytes.len()
                )
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 1 << 40, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put(&mut out, zigzag(v));
            let mut c = Cursor::new(&out);
            assert_eq!(c.signed().unwrap(), v);
            assert_eq!(c.pos(), out.len());
        }
    }

    #[test]
    fn truncated_and_overlong_input_are_errors() {
        assert!(Cursor::new(&[0x80]).uleb().is_err());
        assert!(Cursor::new(&[0xff; 11]).uleb().is_err());
        let mut c = Cursor::new(b"ab");
        assert_eq!(c.take(2).unwrap(), b"ab");
        assert!(c.take(1).is_err());
        assert!(c.byte().is_err());
    }
}
