//! Column chunks of the required string columns with a handful of values (type, encoding),
//! dictionary-encoded here rather than by the Parquet column writer.
//!
//! The column writer interns every row's string (a hash and a comparison) and compares it with
//! the page's minimum and maximum; with a few names per file that is most of its work. Here a
//! row costs a comparison with the previous row's name (sorted keys of one kind come in runs)
//! and a few bits: the chunk is a dictionary page with the names in order of appearance and
//! data pages of bit-packed indices, compressed with the file's codec (zstd or none), and its
//! statistics come from the names used.

use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use arrow_array::{Array, StringArray};
use bytes::Bytes;
use parquet::basic::Compression;
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescPtr;
use rdbinsight_sink_api::keys::same_bytes;

use crate::dict_chunk;

/// Most distinct names in one chunk (dictionary indices are 16 bits at most here).
const MAX_NAMES: usize = 1 << 16;

/// One dictionary-encoded name column: the rows of the row group in progress.
pub struct NameColumn {
    descr: ColumnDescPtr,
    codec: Compression,
    /// Rows per data page.
    page_rows: usize,
    /// The names of the row group so far, in order of appearance.
    names: Vec<Vec<u8>>,
    /// Each row's index into `names`.
    codes: Vec<u16>,
    /// Index into `names` of each code of the sort's name table met in this row group
    /// ([`UNSEEN`] for the others).
    by_code: Box<[u16; 256]>,
}

/// A code of the sort's name table not met yet in the row group.
const UNSEEN: u16 = u16::MAX;

impl NameColumn {
    /// A column of the file's column `descr`, pages compressed with `codec` (see
    /// [`crate::chunk::supports`]) and cut every `page_rows` rows.
    pub fn new(descr: ColumnDescPtr, codec: Compression, page_rows: usize) -> Self {
        Self {
            descr,
            codec,
            page_rows: page_rows.max(8),
            names: Vec::new(),
            codes: Vec::new(),
            by_code: Box::new([UNSEEN; 256]),
        }
    }

    /// Adds rows given as codes of the sort's name table, `names` the names by code.
    pub fn push_codes(&mut self, codes: &[u8], names: &[Arc<str>]) -> Result<()> {
        self.codes.reserve(codes.len());
        for &c in codes {
            let mut code = self.by_code[c as usize];
            if code == UNSEEN {
                code = self.code_of_new(c, names)?;
            }
            self.codes.push(code);
        }
        Ok(())
    }

    /// The index of code `c`'s name, met first in this row group.
    #[inline(never)]
    fn code_of_new(&mut self, c: u8, names: &[Arc<str>]) -> Result<u16> {
        let name = names
            .get(c as usize)
            .with_context(|| format!("unknown name code {c} in a sorted row"))?;
        let code = self.code(name.as_bytes())?;
        self.by_code[c as usize] = code;
        Ok(code)
    }

    /// Adds the values of `a`, which must have no nulls.
    pub fn push(&mut self, a: &StringArray) -> Result<()> {
        ensure!(
            a.null_count() == 0,
            "column {} has nulls",
            self.descr.name()
        );
        self.codes.reserve(a.len());
        let data = a.value_data();
        let mut last: Option<(&[u8], u16)> = None;
        for bounds in a.value_offsets().windows(2) {
            let v = data
                .get(bounds[0] as usize..bounds[1] as usize)
                .unwrap_or_default();
            let code = match last {
                Some((name, code)) if same_bytes(name, v) => code,
                _ => {
                    let code = self.code(v)?;
                    last = Some((v, code));
                    code
                }
            };
            self.codes.push(code);
        }
        Ok(())
    }

    fn code(&mut self, v: &[u8]) -> Result<u16> {
        if let Some(i) = self.names.iter().position(|n| same_bytes(n, v)) {
            return Ok(i as u16);
        }
        ensure!(
            self.names.len() < MAX_NAMES,
            "column {} has more than {MAX_NAMES} distinct values in one row group",
            self.descr.name()
        );
        self.names.push(v.to_vec());
        Ok((self.names.len() - 1) as u16)
    }

    /// The chunk of the rows so far (then none are left): its bytes and its metadata, offsets
    /// relative to those bytes.
    pub fn close(&mut self) -> Result<(Bytes, ColumnCloseResult)> {
        let names = std::mem::take(&mut self.names);
        let codes = std::mem::take(&mut self.codes);
        self.by_code.fill(UNSEEN);
        let (plain, entries) = dict_chunk::plain_byte_arrays(names.iter().map(Vec::as_slice))?;
        let width = bit_width(names.len());
        let data = codes.chunks(self.page_rows).map(|page_codes| {
            let mut indices = vec![width];
            pack(page_codes, width, &mut indices);
            dict_chunk::data_page(indices, page_codes.len())
        });
        let min = names.iter().min().cloned().map(ByteArray::from);
        let max = names.iter().max().cloned().map(ByteArray::from);
        let distinct = Some(names.len() as u64);
        let statistics =
            Statistics::ByteArray(ValueStatistics::new(min, max, distinct, Some(0), false));
        dict_chunk::write(
            &self.descr,
            self.codec,
            dict_chunk::dictionary_page(plain, entries, false),
            data,
            codes.len(),
            statistics,
        )
    }
}

/// Bits of a dictionary index for `names` entries (at least 1).
fn bit_width(names: usize) -> u8 {
    let max = names.saturating_sub(1) as u32;
    (u32::BITS - max.leading_zeros()).max(1) as u8
}

/// Appends `codes` as one bit-packed run of the RLE/bit-packed hybrid encoding: the header
/// (groups of eight values, shifted left by one, low bit set) as a varint, then the values
/// `width` bits each, least significant bit first, the last group padded with zeros.
fn pack(codes: &[u16], width: u8, out: &mut Vec<u8>) {
    let groups = codes.len().div_ceil(8);
    crate::varint::put(out, ((groups as u64) << 1) | 1);
    let width = width as u32;
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for i in 0..groups * 8 {
        acc |= (codes.get(i).copied().unwrap_or(0) as u64) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_widths_cover_the_indices() {
        assert_eq!(bit_width(0), 1);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(2), 1);
        assert_eq!(bit_width(3), 2);
        assert_eq!(bit_width(4), 2);
        assert_eq!(bit_width(5), 3);
        assert_eq!(bit_width(256), 8);
        assert_eq!(bit_width(257), 9);
        assert_eq!(bit_width(1 << 16), 16);
    }

    #[test]
    fn packed_values_read_back() {
        for width in 1..=16u8 {
            let codes: Vec<u16> = (0..37u32)
                .map(|i| ((i * 7919) % (1 << width)) as u16)
                .collect();
            let mut out = Vec::new();
            pack(&codes, width, &mut out);
            // Header: 5 groups of eight, bit-packed.
            assert_eq!(out[0], (5 << 1) | 1);
            let body = &out[1..];
            assert_eq!(body.len(), 5 * width as usize);
            for (i, &c) in codes.iter().enumerate() {
                let bit = i * width as usize;
                let at = |k: usize| body.get(bit / 8 + k).copied().unwrap_or(0) as u32;
                let word = at(0) | (at(1) << 8) | (at(2) << 16);
                let v = (word >> (bit % 8)) & ((1 << width) - 1);
                assert_eq!(v as u16, c, "width {width}, value {i}");
            }
        }
    }
}
