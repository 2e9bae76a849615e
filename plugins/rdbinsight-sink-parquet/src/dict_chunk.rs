//! A dictionary-encoded column chunk of a required column, written page by page without the
//! Parquet column writer ([`crate::chunk`]): a dictionary page of PLAIN values, then data
//! pages of dictionary indices. No page index is written.

use anyhow::{Context, Result};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::Page;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use crate::chunk::{self, Pages};

/// Byte-array `values` PLAIN-encoded (each a 4-byte little-endian length, then its bytes),
/// and how many there are.
pub fn plain_byte_arrays<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<(Vec<u8>, u32)> {
    let mut plain = Vec::new();
    let mut count = 0u32;
    for v in values {
        let len = u32::try_from(v.len()).context("dictionary value too long")?;
        plain.extend_from_slice(&len.to_le_bytes());
        plain.extend_from_slice(v);
        count = count.checked_add(1).context("too many dictionary values")?;
    }
    Ok((plain, count))
}

/// A dictionary page of `entries` PLAIN-encoded values.
pub fn dictionary_page(plain: Vec<u8>, entries: u32, is_sorted: bool) -> Page {
    Page::DictionaryPage {
        buf: Bytes::from(plain),
        num_values: entries,
        encoding: Encoding::PLAIN,
        is_sorted,
    }
}

/// A data page of `values` dictionary indices (`indices`: the bit width byte, then the
/// RLE/bit-packed hybrid runs).
pub fn data_page(indices: Vec<u8>, values: usize) -> Result<Page> {
    chunk::data_page(indices, values, Encoding::RLE_DICTIONARY)
}

/// The chunk of `rows` rows of column `descr` made of `dictionary` and `data` pages,
/// compressed with `codec` (see [`crate::chunk::supports`]), with `statistics`.
pub fn write(
    descr: &ColumnDescPtr,
    codec: Compression,
    dictionary: Page,
    data: impl IntoIterator<Item = Result<Page>>,
    rows: usize,
    statistics: Statistics,
) -> Result<(Bytes, ColumnCloseResult)> {
    let mut pages = Pages::new(codec);
    for page in std::iter::once(Ok(dictionary)).chain(data) {
        pages.write(page?)?;
    }
    let encodings = vec![Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];
    pages.finish(descr, rows, encodings, true, statistics, None)
}
