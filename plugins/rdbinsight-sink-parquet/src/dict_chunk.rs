//! A dictionary-encoded column chunk of a required column, written page by page without the
//! Parquet column writer: a dictionary page of PLAIN values, then data pages of dictionary
//! indices, compressed with zstd or not at all, and the chunk's metadata (offsets relative to
//! the chunk's bytes, which appending it to a row group moves to their place in the file). No
//! page index is written.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Whether pages can be compressed with `c` here.
pub fn supports(c: Compression) -> bool {
    matches!(c, Compression::ZSTD(_) | Compression::UNCOMPRESSED)
}

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
pub fn data_page(indices: Vec<u8>, values: u32) -> Page {
    Page::DataPage {
        buf: Bytes::from(indices),
        num_values: values,
        encoding: Encoding::RLE_DICTIONARY,
        def_level_encoding: Encoding::RLE,
        rep_level_encoding: Encoding::RLE,
        statistics: None,
    }
}

/// The chunk of `rows` rows of column `descr` made of `dictionary` and `data` pages,
/// compressed with `codec` (see [`supports`]), with `statistics`.
pub fn write(
    descr: &ColumnDescPtr,
    codec: Compression,
    dictionary: Page,
    data: impl IntoIterator<Item = Page>,
    rows: usize,
    statistics: Statistics,
) -> Result<(Bytes, ColumnCloseResult)> {
    let mut out = TrackedWrite::new(Vec::new());
    let mut pages = SerializedPageWriter::new(&mut out);
    let mut specs = Vec::new();
    for page in std::iter::once(dictionary).chain(data) {
        specs.push(pages.write_page(compress(page, codec)?)?);
    }
    pages.close()?;
    let compressed: u64 = specs.iter().map(|s| s.compressed_size as u64).sum();
    let uncompressed: u64 = specs.iter().map(|s| s.uncompressed_size as u64).sum();
    let data_offset = specs.get(1).map_or(0, |s| s.offset);
    let metadata = ColumnChunkMetaData::builder(descr.clone())
        .set_encodings(vec![
            Encoding::PLAIN,
            Encoding::RLE,
            Encoding::RLE_DICTIONARY,
        ])
        .set_num_values(rows as i64)
        .set_compression(codec)
        .set_total_compressed_size(compressed as i64)
        .set_total_uncompressed_size(uncompressed as i64)
        .set_dictionary_page_offset(Some(0))
        .set_data_page_offset(data_offset as i64)
        .set_statistics(statistics)
        .build()?;
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

/// `page` compressed with `codec`.
fn compress(page: Page, codec: Compression) -> Result<CompressedPage> {
    let size = page.buffer().len();
    let page = match codec {
        Compression::UNCOMPRESSED => page,
        Compression::ZSTD(level) => {
            let packed = zstd::bulk::compress(page.buffer(), level.compression_level())
                .context("zstd compression of a page")?;
            with_buffer(page, Bytes::from(packed))
        }
        c => bail!("no dictionary chunk pages with codec {c}"),
    };
    Ok(CompressedPage::new(page, size))
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
