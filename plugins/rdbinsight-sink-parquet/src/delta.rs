//! Parquet's delta encodings as the sink uses them: `DELTA_BINARY_PACKED` integers, and
//! `DELTA_BYTE_ARRAY` values (prefix lengths, suffix lengths, suffix bytes). Decoding (of the
//! key pages, for reports) keeps the values front-coded instead of rebuilding them whole, and
//! checks every length and offset: bad pages give an error naming the byte offset in the page,
//! never a panic. Encoding writes the pages of the integer columns and the length runs of the
//! key pages the sink writes itself.

use anyhow::{bail, ensure, Result};

use crate::varint::{self, Cursor};

/// Values in one block of the runs written here.
const BLOCK: usize = 128;
/// Miniblocks in one block.
const MINIBLOCKS: usize = 4;
/// Values in one miniblock.
const MINIBLOCK: usize = BLOCK / MINIBLOCKS;

/// Appends `values` as one `DELTA_BINARY_PACKED` run: blocks of 128 values in four miniblocks
/// of 32, as the Parquet writer lays them out (the last miniblock padded with zero bits, the
/// unused miniblocks of the last block with a zero width byte and no bytes). Deltas wrap
/// around, as the encoding specifies.
pub fn put_delta_binary_packed(values: &[i64], out: &mut Vec<u8>) {
    varint::put(out, BLOCK as u64);
    varint::put(out, MINIBLOCKS as u64);
    varint::put(out, values.len() as u64);
    varint::put(out, varint::zigzag(values.first().copied().unwrap_or(0)));
    let mut deltas = [0i64; BLOCK];
    // Each block holds the deltas between `values[from..=from + BLOCK]`.
    for from in (0..values.len().saturating_sub(1)).step_by(BLOCK) {
        let block = &values[from..(from + BLOCK + 1).min(values.len())];
        let n = block.len() - 1;
        // The deltas and their least in one pass.
        let mut min = i64::MAX;
        for (d, w) in deltas.iter_mut().zip(block.windows(2)) {
            *d = w[1].wrapping_sub(w[0]);
            min = min.min(*d);
        }
        let deltas = &deltas[..n];
        varint::put(out, varint::zigzag(min));
        let widths_at = out.len();
        out.extend_from_slice(&[0; MINIBLOCKS]);
        for (m, mini) in deltas.chunks(MINIBLOCK).enumerate() {
            // The bits of the largest value are the bits of all of them or-ed together.
            let bits = mini
                .iter()
                .fold(0u64, |a, &d| a | d.wrapping_sub(min) as u64);
            let width = u64::BITS - bits.leading_zeros();
            out[widths_at + m] = width as u8;
            pack_miniblock(mini, min, width, out);
        }
    }
}

/// Appends the 32 values `d - min` of `mini` (zeros past its end) in `width` bits each, least
/// significant bit first: `4 * width` bytes. A whole miniblock of up to 32 bits a value (all
/// but the odd last one and huge deltas) is packed by [`pack32`] for its width.
#[inline]
fn pack_miniblock(mini: &[i64], min: i64, width: u32, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    if let Some(mini) = mini.first_chunk::<MINIBLOCK>() {
        macro_rules! widths {
            ($($w:literal)*) => {
                match width {
                    $($w => return pack32::<$w>(mini, min, out),)*
                    _ => {}
                }
            };
        }
        widths!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29
            30 31 32);
    }
    pack_any_miniblock(mini, min, width, out);
}

/// [`pack_miniblock`] of 32 values `d - min` that fit `W` bits (1 to 32): the loop unrolled
/// for the width, so every shift and every place a 32-bit word is full is known when
/// compiled; the bytes gathered in a buffer and appended at once.
#[inline(always)]
fn pack32<const W: u32>(mini: &[i64; MINIBLOCK], min: i64, out: &mut Vec<u8>) {
    let mut packed = [0u8; 4 * 32];
    let mut acc = 0u64;
    let mut bits = 0u32;
    let mut at = 0;
    for &d in mini {
        acc |= (d.wrapping_sub(min) as u64) << bits;
        bits += W;
        if bits >= 32 {
            packed[at..at + 4].copy_from_slice(&(acc as u32).to_le_bytes());
            at += 4;
            acc >>= 32;
            bits -= 32;
        }
    }
    out.extend_from_slice(&packed[..4 * W as usize]);
}

/// [`pack_miniblock`] of any miniblock, one value at a time.
fn pack_any_miniblock(mini: &[i64], min: i64, width: u32, out: &mut Vec<u8>) {
    let value = |i: usize| mini.get(i).map_or(0, |&d| d.wrapping_sub(min) as u64);
    if width <= 32 {
        // Values below 2^32 added to fewer than 32 bits left over: a 64-bit word holds them,
        // and 32 values of `width` bits end on a 32-bit boundary.
        let mut acc = 0u64;
        let mut bits = 0u32;
        for i in 0..MINIBLOCK {
            acc |= value(i) << bits;
            bits += width;
            if bits >= 32 {
                out.extend_from_slice(&(acc as u32).to_le_bytes());
                acc >>= 32;
                bits -= 32;
            }
        }
        return;
    }
    // Up to 64 bits added to fewer than 64 left over.
    let mut acc = 0u128;
    let mut bits = 0u32;
    for i in 0..MINIBLOCK {
        acc |= u128::from(value(i)) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    // 32 values of `width` bits fill whole bytes.
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..(bits / 8) as usize]);
}

/// Reads `width`-bit value `i` of a bit-packed miniblock (least significant bits first).
#[inline]
fn unpack(bits: &[u8], width: u32, i: usize) -> u64 {
    let bit = i * width as usize;
    let (byte, shift) = (bit / 8, (bit % 8) as u32);
    let rest = bits.get(byte..).unwrap_or_default();
    if width <= 56 {
        let word = match rest.get(..8) {
            Some(w) => u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or_default()),
            None => {
                let mut w = [0u8; 8];
                w[..rest.len()].copy_from_slice(rest);
                u64::from_le_bytes(w)
            }
        };
        (word >> shift) & ((1u64 << width) - 1)
    } else {
        let mut w = [0u8; 16];
        let n = rest.len().min(16);
        w[..n].copy_from_slice(&rest[..n]);
        let word = (u128::from_le_bytes(w) >> shift) as u64;
        if width == 64 {
            word
        } else {
            word & ((1u64 << width) - 1)
        }
    }
}

/// Adds the 32 values of a whole miniblock of `width`-bit deltas at the start of `bits` to
/// `out` (see [`add32`]), when it has eight spare bytes after it (all but the page's last);
/// `false`, with nothing added, for any other (`n` is how many of its values are wanted).
#[inline(always)]
fn add_whole_miniblock<V: DeltaValue>(
    bits: &[u8],
    width: u32,
    n: usize,
    run: &mut RunState,
    out: &mut Vec<V>,
) -> bool {
    let w = width as usize;
    if n != 32 || w > 56 || bits.len() < 4 * w + 8 {
        return false;
    }
    macro_rules! widths {
        ($($w:literal)*) => {
            match w {
                $($w => add32::<$w, V>(bits, run, out),)*
                _ => return false,
            }
        };
    }
    widths!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27
        28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55
        56);
    true
}

/// Where a run's decoding stands: the last value, the block's minimum delta, and the bits of
/// the values so far that must be clear ([`DeltaValue::out_of_range`]).
struct RunState {
    value: i64,
    min_delta: i64,
    high: u64,
}

impl RunState {
    /// The value after `delta`.
    #[inline(always)]
    fn next<V: DeltaValue>(&mut self, delta: u64) -> V {
        self.value = self
            .value
            .wrapping_add(self.min_delta)
            .wrapping_add(delta as i64);
        self.high |= V::out_of_range(self.value);
        V::of(self.value)
    }
}

/// Adds the values of the 32 `W`-bit deltas (`W` up to 56) at the start of `bits`, which holds
/// at least `4 * W + 8` bytes, to `out`: written out 32 times, so every load and shift has
/// its offset known at compile time and no delta goes through memory.
#[inline(always)]
fn add32<const W: usize, V: DeltaValue>(bits: &[u8], run: &mut RunState, out: &mut Vec<V>) {
    let Some(bits) = bits.get(..4 * W + 8) else {
        return;
    };
    let mask = if W == 0 { 0 } else { (1u64 << W) - 1 };
    let mut delta = |i: usize| -> V {
        if W == 0 {
            return run.next(0);
        }
        let bit = i * W;
        let at = bit / 8;
        let lanes = bits.get(at..at + 8).unwrap_or_default();
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(lanes).unwrap_or_default());
        run.next((word >> (bit % 8)) & mask)
    };
    macro_rules! each {
        ($($i:literal)*) => { [$(delta($i)),*] };
    }
    let values: [V; 32] = each!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24
        25 26 27 28 29 30 31);
    out.extend_from_slice(&values);
}

/// The first `n` values of the miniblock of `width`-bit values at the start of `bits` into
/// `out` (`bits` may go on past the miniblock), one at a time.
fn unpack_miniblock(bits: &[u8], width: u32, n: usize, out: &mut Vec<u64>) {
    out.clear();
    out.extend((0..n).map(|i| unpack(bits, width, i)));
}

/// A value type `DELTA_BINARY_PACKED` runs are decoded into.
pub trait DeltaValue: Copy {
    /// The value of a decoded (wrapped) 64-bit integer, unchecked.
    fn of(v: i64) -> Self;
    /// Bits of `v` that must be clear for it to be in range (ored over a miniblock, checked
    /// once).
    fn out_of_range(v: i64) -> u64;
}

/// Lengths: `0..=u32::MAX`.
impl DeltaValue for u32 {
    #[inline(always)]
    fn of(v: i64) -> Self {
        v as u32
    }
    #[inline(always)]
    fn out_of_range(v: i64) -> u64 {
        // No bit above the low 32 (a negative value has them all).
        (v as u64) >> 32
    }
}

/// Integer columns: any value.
impl DeltaValue for i64 {
    #[inline(always)]
    fn of(v: i64) -> Self {
        v
    }
    #[inline(always)]
    fn out_of_range(_: i64) -> u64 {
        0
    }
}

/// Decodes one `DELTA_BINARY_PACKED` run at the input's position (leaving it just past the
/// run), appending its values, each checked to be in range for `V`, to `out`.
pub fn delta_binary_packed<V: DeltaValue>(
    input: &mut Cursor<'_>,
    out: &mut Vec<V>,
) -> Result<usize> {
    let start = input.pos();
    let block_size = input.uleb()? as usize;
    let miniblocks = input.uleb()? as usize;
    let total = input.uleb()? as usize;
    let first = input.signed()?;
    ensure!(
        miniblocks > 0 && block_size.is_multiple_of(128) && block_size > 0 && block_size <= 1 << 20,
        "delta block of {block_size} values in {miniblocks} miniblocks at byte {start}: expected \
         a multiple of 128 values in at least one miniblock"
    );
    let per_miniblock = block_size / miniblocks;
    ensure!(
        per_miniblock.is_multiple_of(32) && per_miniblock * miniblocks == block_size,
        "delta miniblocks of {block_size}/{miniblocks} values at byte {start}: expected a \
         multiple of 32"
    );
    if total == 0 {
        return Ok(0);
    }
    ensure!(
        V::out_of_range(first) == 0,
        "value {first} out of range at byte {start}"
    );
    // A bad count fails when the page runs out; do not trust it for the allocation.
    out.reserve(total.min(1 << 16));
    out.push(V::of(first));
    let mut run = RunState {
        value: first,
        min_delta: 0,
        high: 0,
    };
    let mut left = total - 1;
    let mut widths = [0u8; 256];
    let mut deltas = Vec::with_capacity(per_miniblock.min(1 << 16));
    while left > 0 {
        let block_at = input.pos();
        run.min_delta = input.signed()?;
        ensure!(
            miniblocks <= widths.len(),
            "{miniblocks} miniblocks per block at byte {start}: at most 256 are supported"
        );
        widths[..miniblocks].copy_from_slice(input.take(miniblocks)?);
        for &width in &widths[..miniblocks] {
            if left == 0 {
                break;
            }
            let width = u32::from(width);
            ensure!(
                width <= 64,
                "bit width {width} in the delta block at byte {block_at}: at most 64 expected"
            );
            let at = input.pos();
            input.take(per_miniblock * width as usize / 8)?;
            // The miniblock and whatever follows it in the page: loads near its end may read
            // past it (the bits beyond are masked off).
            let bits = input.from(at);
            let n = left.min(per_miniblock);
            // Deltas to values, each in range for `V`.
            if !add_whole_miniblock(bits, width, n, &mut run, out) {
                unpack_miniblock(bits, width, n, &mut deltas);
                out.extend(deltas.iter().map(|&delta| run.next::<V>(delta)));
            }
            ensure!(
                run.high == 0,
                "value out of range in the delta block at byte {block_at}"
            );
            left -= n;
        }
    }
    Ok(total)
}

/// The values of one `DELTA_BYTE_ARRAY` page, front-coded.
#[derive(Debug, Default)]
pub struct FrontCoded {
    /// Bytes each value shares with the value before it in the page (0 for the first).
    pub prefix: Vec<u32>,
    /// Length of each value's suffix.
    pub lens: Vec<u32>,
    /// Where the suffix bytes start in the page.
    pub suffixes_at: usize,
    /// How many suffix bytes there are (the sum of `lens`).
    pub suffix_bytes: usize,
}

impl FrontCoded {
    /// Decodes the `num_values` values of a `DELTA_BYTE_ARRAY` page (`bytes` holds the values
    /// only, levels removed), checking that every prefix fits in the value before it and that
    /// the suffixes fit in the page.
    pub fn decode(&mut self, bytes: &[u8], num_values: usize) -> Result<()> {
        self.prefix.clear();
        self.lens.clear();
        let mut input = Cursor::new(bytes);
        let prefixes = delta_binary_packed(&mut input, &mut self.prefix)?;
        let suffixes = delta_binary_packed(&mut input, &mut self.lens)?;
        ensure!(
            prefixes == num_values && suffixes == num_values,
            "the page holds {num_values} values but {prefixes} prefix and {suffixes} suffix \
             lengths"
        );
        self.suffixes_at = input.pos();
        // Value i is prefix[i] + lens[i] bytes long; the next may share at most that.
        let previous_lens = std::iter::once(0).chain(
            self.prefix
                .iter()
                .zip(&self.lens)
                .map(|(&p, &l)| u64::from(p) + u64::from(l)),
        );
        if let Some(i) = self
            .prefix
            .iter()
            .zip(previous_lens)
            .position(|(&p, previous)| u64::from(p) > previous)
        {
            bail!(
                "value {i} of the page shares {} bytes with a shorter previous value",
                self.prefix[i]
            );
        }
        let total: u64 = self.lens.iter().map(|&l| u64::from(l)).sum();
        ensure!(
            input.pos() as u64 + total <= bytes.len() as u64,
            "the suffixes of the page need {total} bytes from byte {} of a {}-byte page",
            input.pos(),
            bytes.len()
        );
        // Fits in the page, so in a usize.
        self.suffix_bytes = total as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(values: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        put_delta_binary_packed(values, &mut out);
        out
    }

    #[test]
    fn runs_of_every_width_decode() {
        let mut state = 1u64;
        for len in [0usize, 1, 2, 31, 32, 33, 128, 129, 300, 1000] {
            let values: Vec<i64> = (0..len)
                .map(|i| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let spread = 1u64 << (i % 32);
                    ((state >> 20) % spread) as i64
                })
                .collect();
            let mut bytes = encode(&values);
            bytes.extend_from_slice(b"tail");
            let mut input = Cursor::new(&bytes);
            let mut out: Vec<u32> = Vec::new();
            assert_eq!(delta_binary_packed(&mut input, &mut out).unwrap(), len);
            let want: Vec<u32> = values.iter().map(|&v| v as u32).collect();
            assert_eq!(out, want, "{len} values");
            assert_eq!(&bytes[input.pos()..], b"tail", "{len} values");
            // The same run as 64-bit integers, and one of values far apart, negative and
            // at both ends of the range (deltas of every width up to 64 bits).
            let mut wide: Vec<i64> = Vec::new();
            delta_binary_packed(&mut Cursor::new(&bytes), &mut wide).unwrap();
            assert_eq!(wide, values, "{len} values");
            let spread: Vec<i64> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| match i % 7 {
                    0 => i64::MIN + v,
                    1 => i64::MAX - v,
                    2 => -v,
                    _ => v << (i % 31),
                })
                .collect();
            let mut wide: Vec<i64> = Vec::new();
            delta_binary_packed(&mut Cursor::new(&encode(&spread)), &mut wide).unwrap();
            assert_eq!(wide, spread, "{len} spread values");
        }
    }

    /// Whole miniblocks of every width packed by the unrolled packer hold the bytes the
    /// general one writes, and read back through `unpack`.
    #[test]
    fn unrolled_packing_matches_the_general_one() {
        let mut state = 7u64;
        for width in 0..=64u32 {
            let min = -((width as i64) << 20);
            let mini: Vec<i64> = (0..MINIBLOCK)
                .map(|i| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let mut v = if width == 64 {
                        state
                    } else {
                        state & ((1 << width) - 1)
                    };
                    if i == 5 && width > 0 {
                        v |= 1 << (width - 1);
                    }
                    (v as i64).wrapping_add(min)
                })
                .collect();
            let (mut unrolled, mut general) = (Vec::new(), Vec::new());
            pack_miniblock(&mini, min, width, &mut unrolled);
            pack_any_miniblock(&mini, min, width, &mut general);
            if width == 0 {
                general.clear();
            }
            assert_eq!(unrolled, general, "width {width}");
            assert_eq!(unrolled.len(), 4 * width as usize, "width {width}");
            if width > 0 {
                for (i, &d) in mini.iter().enumerate() {
                    let want = d.wrapping_sub(min) as u64;
                    assert_eq!(unpack(&unrolled, width, i), want, "width {width} value {i}");
                }
            }
        }
    }

    #[test]
    fn truncated_and_bad_runs_are_errors() {
        let bytes = encode(&(0..200).map(|i| i * 3).collect::<Vec<i64>>());
        for cut in 0..bytes.len() {
            let mut input = Cursor::new(&bytes[..cut]);
            assert!(delta_binary_packed::<u32>(&mut input, &mut Vec::new()).is_err());
            let mut input = Cursor::new(&bytes[..cut]);
            assert!(delta_binary_packed::<i64>(&mut input, &mut Vec::new()).is_err());
        }
        let negative = encode(&[5, 2, -1]);
        let err =
            delta_binary_packed::<u32>(&mut Cursor::new(&negative), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn front_coded_pages_check_their_prefixes() {
        let mut page = encode(&[0, 2]);
        page.extend(encode(&[2, 1]));
        page.extend_from_slice(b"abc");
        let mut f = FrontCoded::default();
        f.decode(&page, 2).unwrap();
        assert_eq!(
            (f.prefix.as_slice(), f.lens.as_slice()),
            (&[0, 2][..], &[2, 1][..])
        );
        assert_eq!(&page[f.suffixes_at..], b"abc");

        let mut bad = encode(&[0, 3]);
        bad.extend(encode(&[2, 1]));
        bad.extend_from_slice(b"abc");
        let err = f.decode(&bad, 2).unwrap_err().to_string();
        assert!(err.contains("value 1 of the page shares 3 bytes"), "{err}");

        let mut short = encode(&[0, 2]);
        short.extend(encode(&[2, 1]));
        short.extend_from_slice(b"ab");
        assert!(f.decode(&short, 2).is_err());
    }
}
