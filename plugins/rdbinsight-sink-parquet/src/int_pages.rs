//! A required 64-bit integer column of one of our files (`DELTA_BINARY_PACKED`, as the sink
//! writes `db`, `member_count` and `rdb_size`), read page by page by the sink's own decoder
//! into Arrow arrays: a page's values go into the array as decoded, with no zero-filled
//! buffer to decode into first and no copy after (what the Parquet crate's Arrow reader does).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use arrow_array::Int64Array;
use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::file::metadata::ParquetMetaData;

use crate::column_pages::{ColumnPages, PageValues};
use crate::delta::delta_binary_packed;
use crate::varint::Cursor;

/// Reads one integer column of one row group of a file in row order.
pub struct IntPages {
    pages: ColumnPages,
    /// The decoded values of the current page.
    values: PageValues<i64>,
}

impl IntPages {
    /// The pages of the column `name` of `path` (whose footer is `metadata`) in row group
    /// `row_group`, or None when it is not a required `INT64` column written with
    /// `DELTA_BINARY_PACKED` in every row group.
    pub fn open(
        path: &Path,
        input: &Bytes,
        name: &str,
        metadata: Arc<ParquetMetaData>,
        row_group: usize,
    ) -> Option<Self> {
        let kind = (PhysicalType::INT64, Encoding::DELTA_BINARY_PACKED);
        Some(Self {
            pages: ColumnPages::of_column(path, input, name, metadata, row_group, kind)?,
            values: PageValues::new(),
        })
    }

    /// The next `n` values. Values that make up one whole page (batches as long as the
    /// pages, as this sink writes them) become the array as decoded, not copied.
    pub fn take(&mut self, n: usize) -> Result<Int64Array> {
        let pages = &mut self.pages;
        let values = self.values.take(n, |values| Self::decode(pages, values))?;
        Ok(Int64Array::from(values))
    }

    /// Decodes the next data page of `pages` into `values`.
    fn decode(pages: &mut ColumnPages, values: &mut Vec<i64>) -> Result<()> {
        let Some((bytes, num_values)) = pages.next_page()? else {
            bail!(pages.at("the column ends before the other columns"));
        };
        let decoded = delta_binary_packed(&mut Cursor::new(&bytes), values);
        let problem = match decoded {
            Ok(n) if n == num_values => return Ok(()),
            Ok(n) => anyhow::anyhow!(pages.at(&format!(
                "the page holds {num_values} values but its run {n}"
            ))),
            Err(e) => e.context(pages.at("bad page")),
        };
        // No values of a bad page are handed out.
        values.clear();
        Err(problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column_pages::small_pages_file;
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

    /// A file of `values` in pages of 10 rows and row groups of 60.
    fn int_file(dir: &Path, values: &[i64]) -> std::path::PathBuf {
        let array = Arc::new(Int64Array::from(values.to_vec()));
        let path = dir.join("ints.parquet");
        small_pages_file(&path, "n", array, Encoding::DELTA_BINARY_PACKED)
    }

    /// Values come back in order whether a take is a whole page (moved into the array), part
    /// of one or runs across pages, each row group on its own; a take past a row group's end
    /// is an error naming the file.
    #[test]
    fn takes_within_and_across_pages_of_one_row_group() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<i64> = (0..100i64)
            .map(|i| match i % 5 {
                0 => i64::MIN + i,
                1 => i64::MAX - i * 1_000_003,
                2 => -i,
                _ => i * i * 977,
            })
            .collect();
        let path = int_file(dir.path(), &values);
        let input = Bytes::from(std::fs::read(&path).unwrap());
        let metadata = ArrowReaderMetadata::load(&input, ArrowReaderOptions::new()).unwrap();
        let metadata = metadata.metadata().clone();
        assert_eq!(metadata.num_row_groups(), 2);
        let mut got = Vec::new();
        for (row_group, takes) in [(0, &[10, 3, 7, 10, 15, 15][..]), (1, &[10, 25, 5][..])] {
            let mut pages = IntPages::open(&path, &input, "n", metadata.clone(), row_group)
                .expect("a delta-coded integer column");
            for &n in takes {
                let array = pages.take(n).unwrap();
                assert_eq!(array.len(), n);
                assert_eq!(array.null_count(), 0);
                got.extend(array.values().iter().copied());
            }
            let err = pages.take(1).unwrap_err();
            assert!(format!("{err:#}").contains("ints.parquet"), "{err:#}");
        }
        assert_eq!(got, values);
        assert!(IntPages::open(&path, &input, "other", metadata, 0).is_none());
    }
}
