//! Column chunks written page by page without the Parquet column writer: pages compressed
//! with zstd or not at all, written into memory one after the other, and the chunk's metadata
//! (offsets relative to the chunk's bytes, which appending it to a row group moves to their
//! place in the file). Used by the sink's own encoders (dictionary-coded names and constants,
//! front-coded keys).

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Type};
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{ColumnChunkMetaData, ColumnIndexBuilder, OffsetIndexBuilder};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::offset_index::OffsetIndexMetaData;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Whether pages can be compressed with `c` here.
pub fn supports(c: Compression) -> bool {
    matches!(c, Compression::ZSTD(_) | Compression::UNCOMPRESSED)
}

/// The pages of one column chunk written so far.
pub struct Pages {
    codec: Compression,
    out: TrackedWrite<Vec<u8>>,
    specs: Vec<PageWriteSpec>,
}

/// Where a written page lies in its chunk.
pub struct Written {
    /// Offset of the page (its header) from the start of the chunk.
    pub offset: u64,
    /// Bytes of the page with its header, compressed.
    pub size: usize,
}

impl Pages {
    /// An empty chunk whose pages are compressed with `codec` (see [`supports`]).
    pub fn new(codec: Compression) -> Self {
        Self {
            codec,
            out: TrackedWrite::new(Vec::new()),
            specs: Vec::new(),
        }
    }

    /// Compresses and appends `page`.
    pub fn write(&mut self, page: Page) -> Result<Written> {
        let page = compress(page, self.codec)?;
        let spec = SerializedPageWriter::new(&mut self.out).write_page(page)?;
        let written = Written {
            offset: spec.offset,
            size: spec.compressed_size,
        };
        self.specs.push(spec);
        Ok(written)
    }

    /// The chunk of `rows` rows of column `descr`: its bytes and its metadata. `dictionary`:
    /// whether the first page written is a dictionary page.
    pub fn finish(
        self,
        descr: &ColumnDescPtr,
        rows: usize,
        encodings: Vec<Encoding>,
        dictionary: bool,
        statistics: Statistics,
        index: Option<(ColumnIndexMetaData, OffsetIndexMetaData)>,
    ) -> Result<(Bytes, ColumnCloseResult)> {
        let compressed: u64 = self.specs.iter().map(|s| s.compressed_size as u64).sum();
        let uncompressed: u64 = self.specs.iter().map(|s| s.uncompressed_size as u64).sum();
        let first_data = usize::from(dictionary);
        let data_offset = self.specs.get(first_data).map_or(0, |s| s.offset);
        let metadata = ColumnChunkMetaData::builder(descr.clone())
            .set_encodings(encodings)
            .set_num_values(rows as i64)
            .set_compression(self.codec)
            .set_total_compressed_size(compressed as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_dictionary_page_offset(dictionary.then_some(0))
            .set_data_page_offset(data_offset as i64)
            .set_statistics(statistics)
            .build()?;
        let bytes = self.out.into_inner()?;
        let (column_index, offset_index) = index.unzip();
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index,
            offset_index,
        };
        Ok((Bytes::from(bytes), close))
    }
}

/// A data page (v1) of `values` values of a required column, `buf` holding them in
/// `encoding` (no levels: a required, flat column has none).
pub fn data_page(buf: Vec<u8>, values: usize, encoding: Encoding) -> Result<Page> {
    Ok(Page::DataPage {
        buf: Bytes::from(buf),
        num_values: u32::try_from(values).context("too many values in one page")?,
        encoding,
        def_level_encoding: Encoding::RLE,
        rep_level_encoding: Encoding::RLE,
        statistics: None,
    })
}

/// `page` compressed with `codec`.
fn compress(page: Page, codec: Compression) -> Result<CompressedPage> {
    let size = page.buffer().len();
    let page = match codec {
        Compression::UNCOMPRESSED => page,
        Compression::ZSTD(level) => {
            let packed = zstd_compress(page.buffer(), level.compression_level())
                .context("zstd compression of a page")?;
            with_buffer(page, Bytes::from(packed))
        }
        c => bail!("no pages written by the sink with codec {c}"),
    };
    Ok(CompressedPage::new(page, size))
}

/// `bytes` compressed by zstd at `level`, with a compression context kept by the calling
/// thread for the next page (a context made for each page cost a sixth of the compression).
fn zstd_compress(bytes: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with(|context| {
        let mut context = context.borrow_mut();
        let compressor = match &mut *context {
            Some((l, c)) if *l == level => c,
            slot => &mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        compressor.compress(bytes)
    })
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

/// The page index of a chunk written page by page: each data page's minimum and maximum (of
/// type `T`, ordered as the column's values are) for the column index, and where it lies for
/// the offset index.
pub struct PageIndex<T> {
    bounds: Vec<(T, T)>,
    offsets: OffsetIndexBuilder,
}

impl<T: PartialOrd> Default for PageIndex<T> {
    fn default() -> Self {
        Self {
            bounds: Vec::new(),
            offsets: OffsetIndexBuilder::new(),
        }
    }
}

impl<T: PartialOrd> PageIndex<T> {
    /// Notes a data page of `rows` rows written at `at`, its values within `min..=max`.
    pub fn add(&mut self, at: &Written, rows: usize, min: T, max: T) -> Result<()> {
        self.offsets.append_offset_and_size(
            i64::try_from(at.offset)?,
            i32::try_from(at.size).context("a page over 2 GiB")?,
        );
        self.offsets.append_row_count(i64::try_from(rows)?);
        self.bounds.push((min, max));
        Ok(())
    }

    /// The column index (bounds as `bytes` gives them; ascending when both the minimums and
    /// the maximums are) and the offset index of a column of `physical` type; `None` without
    /// pages.
    pub fn build(
        self,
        physical: Type,
        bytes: impl Fn(&T) -> Vec<u8>,
    ) -> Result<Option<(ColumnIndexMetaData, OffsetIndexMetaData)>> {
        if self.bounds.is_empty() {
            return Ok(None);
        }
        let mut index = ColumnIndexBuilder::new(physical);
        let ascending = self
            .bounds
            .windows(2)
            .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1);
        for (min, max) in &self.bounds {
            index.append(false, bytes(min), bytes(max), 0, None);
        }
        index.set_boundary_order(if ascending {
            BoundaryOrder::ASCENDING
        } else {
            BoundaryOrder::UNORDERED
        });
        Ok(Some((index.build()?, self.offsets.build())))
    }
}
