//! Column chunks of the required 64-bit integer columns (db, member count, rdb size),
//! `DELTA_BINARY_PACKED`-coded here rather than by the Parquet column writer, with statistics
//! and a page index.
//!
//! The column writer's delta encoder, its per-value statistics and its levels cost several
//! times what these columns need: a page's values are copied, their minimum and maximum taken
//! in one pass, and the deltas packed by [`put_delta_binary_packed`]. Pages are cut at the
//! writer's row limit or page size and compressed with the file's codec (zstd or none).

use anyhow::{ensure, Result};
use arrow_array::{Array, Int64Array};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescPtr;

use crate::chunk::{self, PageIndex, Pages};
use crate::delta::put_delta_binary_packed;

/// One integer column: the rows of the row group in progress.
pub struct IntColumn {
    descr: ColumnDescPtr,
    codec: Compression,
    /// Rows per data page at most.
    page_rows: usize,
    /// The page in progress.
    values: Vec<i64>,
    /// The chunk so far.
    pages: Pages,
    rows: usize,
    min_max: Option<(i64, i64)>,
    index: PageIndex<i64>,
}

impl IntColumn {
    /// A column of the file's column `descr`, pages compressed with `codec` (see
    /// [`crate::chunk::supports`]) and cut at `page_rows` rows or `page_bytes` bytes.
    pub fn new(
        descr: ColumnDescPtr,
        codec: Compression,
        page_rows: usize,
        page_bytes: usize,
    ) -> Self {
        // Eight bytes a value at most once packed (and the header).
        let page_rows = page_rows.min(page_bytes / 8).max(1);
        Self {
            descr,
            codec,
            page_rows,
            values: Vec::with_capacity(page_rows),
            pages: Pages::new(codec),
            rows: 0,
            min_max: None,
            index: PageIndex::default(),
        }
    }

    /// Adds the values of `a`, which must have no nulls.
    pub fn push(&mut self, a: &Int64Array) -> Result<()> {
        ensure!(
            a.null_count() == 0,
            "column {} has nulls",
            self.descr.name()
        );
        self.push_values(a.values())
    }

    /// Adds `values`.
    pub fn push_values(&mut self, mut values: &[i64]) -> Result<()> {
        while !values.is_empty() {
            let take = (self.page_rows - self.values.len()).min(values.len());
            self.values.extend_from_slice(&values[..take]);
            values = &values[take..];
            if self.values.len() >= self.page_rows {
                self.flush_page()?;
            }
        }
        Ok(())
    }

    /// Writes the page in progress, if it has rows.
    fn flush_page(&mut self) -> Result<()> {
        let Some((min, max)) = min_max(&self.values) else {
            return Ok(());
        };
        let mut encoded = Vec::with_capacity(self.values.len() + 64);
        put_delta_binary_packed(&self.values, &mut encoded);
        let rows = self.values.len();
        let page = chunk::data_page(encoded, rows, Encoding::DELTA_BINARY_PACKED)?;
        let written = self.pages.write(page)?;
        self.index.add(&written, rows, min, max)?;
        self.min_max = Some(match self.min_max {
            Some((lo, hi)) => (lo.min(min), hi.max(max)),
            None => (min, max),
        });
        self.rows += rows;
        self.values.clear();
        Ok(())
    }

    /// The chunk of the rows so far (then none are left): its bytes and its metadata, offsets
    /// relative to those bytes.
    pub fn close(&mut self) -> Result<(Bytes, ColumnCloseResult)> {
        self.flush_page()?;
        let rows = std::mem::take(&mut self.rows);
        let pages = std::mem::replace(&mut self.pages, Pages::new(self.codec));
        let index = std::mem::take(&mut self.index)
            .build(self.descr.physical_type(), |v| v.to_le_bytes().to_vec())?;
        let (min, max) = self.min_max.take().unzip();
        let statistics = Statistics::Int64(ValueStatistics::new(min, max, None, Some(0), false));
        pages.finish(
            &self.descr,
            rows,
            vec![Encoding::RLE, Encoding::DELTA_BINARY_PACKED],
            false,
            statistics,
            index,
        )
    }
}

/// The least and greatest of `values` (`None` when empty) in one pass, four lanes at a time
/// (two passes of `min` and `max` took twice the comparisons, one after another).
fn min_max(values: &[i64]) -> Option<(i64, i64)> {
    let first = *values.first()?;
    let (mut lo, mut hi) = ([first; 4], [first; 4]);
    let mut quads = values.chunks_exact(4);
    for quad in &mut quads {
        for i in 0..4 {
            lo[i] = lo[i].min(quad[i]);
            hi[i] = hi[i].max(quad[i]);
        }
    }
    for &v in quads.remainder() {
        lo[0] = lo[0].min(v);
        hi[0] = hi[0].max(v);
    }
    Some((lo.into_iter().min()?, hi.into_iter().max()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_is_the_least_and_the_greatest() {
        assert_eq!(min_max(&[]), None);
        let mut state = 3u64;
        for len in 1..40 {
            let values: Vec<i64> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    state as i64 >> (state % 50)
                })
                .collect();
            let want = (*values.iter().min().unwrap(), *values.iter().max().unwrap());
            assert_eq!(min_max(&values), Some(want), "{values:?}");
        }
    }
}
