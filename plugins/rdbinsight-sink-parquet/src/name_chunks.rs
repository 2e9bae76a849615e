//! Column chunks of the required string columns with a handful of values (type, encoding),
//! dictionary-encoded here rather than by the Parquet column writer.
//!
//! The column writer interns every row's string (a hash and a comparison) and compares it with
//! the page's minimum and maximum; with a few names per file that is most of its work. Here a
//! row costs a comparison with the previous row's name (sorted keys of one kind come in runs)
//! and a few bits: the chunk is a dictionary page with the names in order of appearance and
//! data pages of bit-packed indices, compressed with the file's codec (zstd or none), and its
//! statistics come from the names used.

use anyhow::{ensure, Context, Result};
use arrow_array::{Array, StringArray};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Most distinct names in one chunk (dictionary indices are 16 bits at most here).
const MAX_NAMES: usize = 1 << 16;

/// Whether a column with codec `c` can be written here.
pub fn supports(c: Compression) -> bool {
    matches!(c, Compression::ZSTD(_) | Compression::UNCOMPRESSED)
}

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
}

impl NameColumn {
    /// A column of the file's column `descr`, pages compressed with `codec` (see [`supports`])
    /// and cut every `page_rows` rows.
    pub fn new(descr: ColumnDescPtr, codec: Compression, page_rows: usize) -> Self {
        Self {
            descr,
            codec,
            page_rows: page_rows.max(8),
            names: Vec::new(),
            codes: Vec::new(),
        }
    }

    /// Adds the values of `a`, which must have no nulls.
    pub fn push(&mut self, a: &StringArray) -> Result<()> {
        ensure!(
            a.null_count() == 0,
            "column {} has nulls",
            self.descr.name()
        );
        self.codes.reserve(a.len());
        let mut last: Option<(&[u8], u16)> = None;
        for v in a.iter().flatten() {
            let v = v.as_bytes();
            let code = match last {
                Some((name, code)) if name == v => code,
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
        if let Some(i) = self.names.iter().position(|n| n == v) {
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
        let rows = codes.len();
        let mut plain = Vec::new();
        for n in &names {
            let len = u32::try_from(n.len()).context("name too long")?;
            plain.extend_from_slice(&len.to_le_bytes());
            plain.extend_from_slice(n);
        }
        let width = bit_width(names.len());
        let mut out = TrackedWrite::new(Vec::new());
        let mut pages = SerializedPageWriter::new(&mut out);
        let mut specs = Vec::new();
        let dictionary = Page::DictionaryPage {
            buf: Bytes::from(plain),
            num_values: u32::try_from(names.len()).context("too many names")?,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        specs.push(pages.write_page(self.compress(dictionary)?)?);
        for page_codes in codes.chunks(self.page_rows) {
            let mut indices = vec![width];
            pack(page_codes, width, &mut indices);
            let data = Page::DataPage {
                buf: Bytes::from(indices),
                num_values: page_codes.len() as u32,
                encoding: Encoding::RLE_DICTIONARY,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            specs.push(pages.write_page(self.compress(data)?)?);
        }
        pages.close()?;
        let compressed: u64 = specs.iter().map(|s| s.compressed_size as u64).sum();
        let uncompressed: u64 = specs.iter().map(|s| s.uncompressed_size as u64).sum();
        let data_offset = specs.get(1).map_or(0, |s| s.offset);
        let mut builder = ColumnChunkMetaData::builder(self.descr.clone())
            .set_encodings(vec![
                Encoding::PLAIN,
                Encoding::RLE,
                Encoding::RLE_DICTIONARY,
            ])
            .set_num_values(rows as i64)
            .set_compression(self.codec)
            .set_total_compressed_size(compressed as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_dictionary_page_offset(Some(0))
            .set_data_page_offset(data_offset as i64);
        if let (Some(min), Some(max)) = (names.iter().min(), names.iter().max()) {
            let (min, max) = (ByteArray::from(min.clone()), ByteArray::from(max.clone()));
            let distinct = Some(names.len() as u64);
            builder = builder.set_statistics(Statistics::ByteArray(ValueStatistics::new(
                Some(min),
                Some(max),
                distinct,
                Some(0),
                false,
            )));
        }
        let metadata = builder.build()?;
        let bytes = out.into_inner()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        Ok((Bytes::from(bytes), close))
    }

    /// `page` compressed with the column's codec.
    fn compress(&self, page: Page) -> Result<CompressedPage> {
        let size = page.buffer().len();
        let page = match self.codec {
            Compression::UNCOMPRESSED => page,
            Compression::ZSTD(level) => {
                let packed = zstd::bulk::compress(page.buffer(), level.compression_level())
                    .context("zstd compression of a page")?;
                with_buffer(page, Bytes::from(packed))
            }
            c => anyhow::bail!("no name column pages with codec {c}"),
        };
        Ok(CompressedPage::new(page, size))
    }
}

/// `page` with its buffer replaced.
fn with_buffer(page: Page, buf: Bytes) -> Page {
    match page {
        Page::DataPage {
            num_values,
            encoding,
            def_level_encoding,
            rep_level_encoding,
            statistics,
            ..
        } => Page::DataPage {
            buf,
            num_values,
            encoding,
            def_level_encoding,
            rep_level_encoding,
            statistics,
        },
        Page::DictionaryPage {
            num_values,
            encoding,
            is_sorted,
            ..
        } => Page::DictionaryPage {
            buf,
            num_values,
            encoding,
            is_sorted,
        },
        other => other,
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
