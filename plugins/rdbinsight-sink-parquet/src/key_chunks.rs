//! Column chunks of the key column, `DELTA_BYTE_ARRAY`-coded here rather than by the Parquet
//! column writer, with statistics and a page index.
//!
//! The rows come sorted by (db, key): a key is front-coded against the key before it (the
//! length of their common prefix, found eight bytes at a time, and the rest), which also tells
//! whether it sorts before it. So the minimum and maximum of a page are the first and last
//! keys of its ascending runs (one per db in the page), compared only where a run starts and
//! ends, and kept cut to one byte past the truncation length: enough to order them and to
//! write the same truncated statistics as whole values would give. The column writer copied
//! every key, compared it with the page's minimum and maximum and gathered the rows again.
//!
//! Pages are cut at the writer's row limit or page size, compressed with the file's codec
//! (zstd or none); each gets its entry in the column index (truncated minimum and maximum) and
//! the offset index, as the column writer writes them.

use std::ops::Range;

use anyhow::{Context, Result};
use arrow_array::{Array, BinaryArray};
use arrow_buffer::Buffer;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescPtr;
use rdbinsight_sink_api::keys::shared_len;

use crate::chunk::{self, PageIndex, Pages};
use crate::delta::put_delta_binary_packed;

/// Limits of the key column's pages and statistics, from the writer's properties.
#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    /// Rows per data page at most.
    pub page_rows: usize,
    /// Bytes of a data page (before compression) at which it is cut.
    pub page_bytes: usize,
    /// Bytes kept of the chunk's minimum and maximum (`None`: whole).
    pub statistics_truncate: Option<usize>,
    /// Bytes kept of a page's minimum and maximum in the column index (`None`: whole).
    pub index_truncate: Option<usize>,
}

/// A key kept for ordering: cut to one byte past the longest truncation, or whole when it
/// could not be truncated to an upper bound (its first bytes are all `0xff`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Bound(Vec<u8>);

/// The minimum and maximum of a set of keys.
#[derive(Debug, Default, Clone)]
struct MinMax(Option<(Bound, Bound)>);

impl MinMax {
    fn add(&mut self, min: &Bound, max: &Bound) {
        match &mut self.0 {
            None => self.0 = Some((min.clone(), max.clone())),
            Some((lo, hi)) => {
                if min < lo {
                    *lo = min.clone();
                }
                if max > hi {
                    *hi = max.clone();
                }
            }
        }
    }
}

/// `value` cut to `limit` bytes: a lower bound, and whether it is the value itself.
fn truncate_min(value: &[u8], limit: Option<usize>) -> (Vec<u8>, bool) {
    match limit {
        Some(l) if value.len() > l => (value[..l].to_vec(), false),
        _ => (value.to_vec(), true),
    }
}

/// `value` cut to `limit` bytes and incremented: an upper bound, and whether it is the value
/// itself (the whole value when no shorter upper bound exists).
fn truncate_max(value: &[u8], limit: Option<usize>) -> (Vec<u8>, bool) {
    if let Some(l) = limit.filter(|&l| value.len() > l) {
        let mut cut = value[..l].to_vec();
        // The last byte that is not 0xff goes up by one; the 0xff bytes after it roll over.
        if let Some(i) = cut.iter().rposition(|&b| b != 0xff) {
            cut[i] += 1;
            cut[i + 1..].fill(0);
            return (cut, false);
        }
    }
    (value.to_vec(), true)
}

/// One key column: the rows of the row group in progress.
pub struct KeyColumn {
    descr: ColumnDescPtr,
    codec: Compression,
    limits: KeyLimits,
    /// Bytes a [`Bound`] keeps, and the shorter truncation length (`None`: keys kept whole).
    keep: Option<(usize, usize)>,
    /// The page in progress: prefix lengths, suffix lengths, suffix bytes.
    prefixes: Vec<i64>,
    suffix_lens: Vec<i64>,
    suffixes: Vec<u8>,
    /// The page's minimum so far, and the first key of its current ascending run.
    page_min: Option<Bound>,
    /// The largest last key of the page's ascending runs that ended.
    page_max: Option<Bound>,
    /// The last key written (the previous key of the next one), where it lies: a slice of
    /// the buffer it came in, not a copy.
    last: Option<Buffer>,
    /// The chunk so far.
    pages: Pages,
    rows: usize,
    chunk: MinMax,
    /// The pages' truncated minimums and maximums, and where they lie.
    index: PageIndex<Vec<u8>>,
}

impl KeyColumn {
    /// A column of the file's column `descr`, pages compressed with `codec` (see
    /// [`crate::chunk::supports`]).
    pub fn new(descr: ColumnDescPtr, codec: Compression, limits: KeyLimits) -> Self {
        let keep = limits
            .statistics_truncate
            .zip(limits.index_truncate)
            .map(|(a, b)| (a.max(b) + 1, a.min(b)));
        Self {
            descr,
            codec,
            limits: KeyLimits {
                page_rows: limits.page_rows.max(1),
                ..limits
            },
            keep,
            prefixes: Vec::new(),
            suffix_lens: Vec::new(),
            suffixes: Vec::new(),
            page_min: None,
            page_max: None,
            last: None,
            pages: Pages::new(codec),
            rows: 0,
            chunk: MinMax::default(),
            index: PageIndex::default(),
        }
    }

    fn bound(&self, key: &[u8]) -> Bound {
        match self.keep {
            // A key whose first bytes are all 0xff has no shorter upper bound: kept whole.
            Some((n, shortest)) if key.len() > n && key[..shortest].iter().any(|&b| b != 0xff) => {
                Bound(key[..n].to_vec())
            }
            _ => Bound(key.to_vec()),
        }
    }

    /// Adds the keys of `keys`, which must have no nulls.
    pub fn push(&mut self, keys: &BinaryArray) -> Result<()> {
        anyhow::ensure!(keys.null_count() == 0, "the key column has nulls");
        let offsets = keys.value_offsets();
        self.push_from(keys.values(), keys.len(), |i| {
            offsets[i] as usize..offsets[i + 1] as usize
        })
    }

    /// Adds the keys lying in `data` at `places` (start and end of each).
    pub fn push_places(&mut self, data: &Buffer, places: &[[usize; 2]]) -> Result<()> {
        self.push_from(data, places.len(), |i| places[i][0]..places[i][1])
    }

    /// Adds `n` keys, key `i` at `place(i)` in `data`.
    #[inline(always)]
    fn push_from(
        &mut self,
        data: &Buffer,
        n: usize,
        place: impl Fn(usize) -> Range<usize>,
    ) -> Result<()> {
        let bytes = data.as_slice();
        let key_at = |i: usize| {
            bytes
                .get(place(i))
                .context("a key lies outside the bytes it came in")
        };
        let last = self.last.take();
        let mut previous: Option<&[u8]> = last.as_deref();
        for i in 0..n {
            let key = key_at(i)?;
            match previous.filter(|_| !self.prefixes.is_empty()) {
                None => {
                    self.page_min = Some(self.bound(key));
                    self.push_key(key, 0);
                }
                Some(prev) => {
                    let shared = shared_len(prev, key);
                    let ascending =
                        shared == prev.len() || (shared < key.len() && key[shared] > prev[shared]);
                    if !ascending {
                        // A run ends at `prev` (db changed): its last key may be the page's
                        // maximum, the next run's first key its minimum.
                        self.end_run(prev);
                        let first = self.bound(key);
                        if self.page_min.as_ref().is_none_or(|m| first < *m) {
                            self.page_min = Some(first);
                        }
                    }
                    self.push_key(key, shared);
                }
            }
            previous = Some(key);
            if self.prefixes.len() >= self.limits.page_rows
                || self.suffixes.len() + 2 * self.prefixes.len() >= self.limits.page_bytes
            {
                self.end_run(key);
                self.flush_page()?;
            }
        }
        self.last = match n.checked_sub(1) {
            Some(i) => {
                let at = place(i);
                Some(data.slice_with_length(at.start, at.len()))
            }
            None => last,
        };
        Ok(())
    }

    #[inline]
    fn push_key(&mut self, key: &[u8], shared: usize) {
        self.prefixes.push(shared as i64);
        self.suffix_lens.push((key.len() - shared) as i64);
        self.suffixes.extend_from_slice(&key[shared..]);
    }

    fn end_run(&mut self, last: &[u8]) {
        let last = self.bound(last);
        if self.page_max.as_ref().is_none_or(|m| last > *m) {
            self.page_max = Some(last);
        }
    }

    /// Writes the page in progress, if it has rows.
    fn flush_page(&mut self) -> Result<()> {
        let values = self.prefixes.len();
        if values == 0 {
            return Ok(());
        }
        let (Some(min), Some(max)) = (self.page_min.take(), self.page_max.take()) else {
            anyhow::bail!("a key page without its minimum and maximum");
        };
        let mut encoded = Vec::with_capacity(self.suffixes.len() + 4 * values + 64);
        put_delta_binary_packed(&self.prefixes, &mut encoded);
        put_delta_binary_packed(&self.suffix_lens, &mut encoded);
        encoded.extend_from_slice(&self.suffixes);
        let page = chunk::data_page(encoded, values, Encoding::DELTA_BYTE_ARRAY)?;
        let written = self.pages.write(page)?;
        self.chunk.add(&min, &max);
        let (lo, _) = truncate_min(&min.0, self.limits.index_truncate);
        let (hi, _) = truncate_max(&max.0, self.limits.index_truncate);
        self.index.add(&written, values, lo, hi)?;
        self.rows += values;
        self.prefixes.clear();
        self.suffix_lens.clear();
        self.suffixes.clear();
        Ok(())
    }

    /// The chunk of the rows so far (then none are left): its bytes and its metadata, offsets
    /// relative to those bytes.
    pub fn close(&mut self) -> Result<(Bytes, ColumnCloseResult)> {
        if let Some(last) = self.last.take() {
            if !self.prefixes.is_empty() {
                self.end_run(&last);
            }
        }
        self.flush_page()?;
        let rows = std::mem::take(&mut self.rows);
        let pages = std::mem::replace(&mut self.pages, Pages::new(self.codec));
        let chunk = std::mem::take(&mut self.chunk);
        let index =
            std::mem::take(&mut self.index).build(self.descr.physical_type(), Vec::clone)?;

        let statistics = match chunk.0 {
            Some((min, max)) => {
                let (lo, lo_exact) = truncate_min(&min.0, self.limits.statistics_truncate);
                let (hi, hi_exact) = truncate_max(&max.0, self.limits.statistics_truncate);
                Statistics::ByteArray(
                    ValueStatistics::new(
                        Some(ByteArray::from(lo)),
                        Some(ByteArray::from(hi)),
                        None,
                        Some(0),
                        false,
                    )
                    .with_min_is_exact(lo_exact)
                    .with_max_is_exact(hi_exact),
                )
            }
            None => Statistics::ByteArray(ValueStatistics::new(None, None, None, Some(0), false)),
        };
        pages.finish(
            &self.descr,
            rows,
            vec![Encoding::RLE, Encoding::DELTA_BYTE_ARRAY],
            false,
            statistics,
            index,
        )
    }
}
