//! The key column of one of our files, read page by page into front-coded
//! [`DeltaKeys`] chunks instead of Arrow arrays. The sink writes keys sorted with
//! `DELTA_BYTE_ARRAY`, whose pages already hold each key as the length it shares with the one
//! before and the rest: the report walks that form directly and never copies whole keys.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::file::metadata::ParquetMetaData;
use rdbinsight_sink_api::keys::DeltaKeys;

use crate::column_pages::ColumnPages;
use crate::delta::FrontCoded;

/// Reads the key column of a file in row order, across its row groups.
pub struct KeyPages {
    pages: ColumnPages,
    /// The values of the current page.
    page: Bytes,
    decoded: FrontCoded,
    /// The next value of the current page.
    next: usize,
    /// Where the next value's suffix starts, from the page's first suffix.
    offset: usize,
}

impl KeyPages {
    /// The key pages of `path` (whose footer is `metadata`), or None when the column named
    /// `key` is not a required byte-array column written with `DELTA_BYTE_ARRAY` in every row
    /// group (a file this sink did not write: read it through Arrow instead).
    pub fn open(
        path: &Path,
        input: &Bytes,
        key: &str,
        metadata: Arc<ParquetMetaData>,
    ) -> Result<Option<Self>> {
        let Some(column) = ColumnPages::find(
            &metadata,
            key,
            PhysicalType::BYTE_ARRAY,
            Encoding::DELTA_BYTE_ARRAY,
        ) else {
            return Ok(None);
        };
        Ok(Some(Self {
            pages: ColumnPages::open(
                path,
                input.clone(),
                metadata,
                column,
                key,
                Encoding::DELTA_BYTE_ARRAY,
            ),
            page: Bytes::new(),
            decoded: FrontCoded::default(),
            next: 0,
            offset: 0,
        }))
    }

    /// The next `n` keys, with room for `suffix_bytes` suffix bytes when they are copied. The
    /// first key's shared length refers to the key before it in the file (0 at the start of a
    /// page). Keys that make up one whole page (batches as long as the pages, as this sink
    /// writes them) are handed on as the page holds them, not copied.
    pub fn take(&mut self, n: usize, suffix_bytes: usize) -> Result<DeltaKeys> {
        if n > 0 && self.next == self.decoded.prefix.len() {
            self.next_page()?;
        }
        if self.next == 0 && n == self.decoded.prefix.len() && n > 0 {
            return Ok(self.whole_page());
        }
        let mut out = DeltaKeys::with_capacity(n, suffix_bytes);
        let mut n = n;
        while n > 0 {
            if self.next == self.decoded.prefix.len() {
                self.next_page()?;
                continue;
            }
            let end = (self.next + n).min(self.decoded.prefix.len());
            let lens = &self.decoded.lens[self.next..end];
            let bytes: usize = lens.iter().map(|&l| l as usize).sum();
            let start = self.decoded.suffixes_at + self.offset;
            out.extend(
                &self.decoded.prefix[self.next..end],
                lens,
                &self.page[start..start + bytes],
            );
            self.offset += bytes;
            n -= end - self.next;
            self.next = end;
        }
        Ok(out)
    }

    /// Every key of the current page, none taken yet: its decoded lengths moved out and its
    /// suffix bytes shared. The page is used up: the next take decodes the next one.
    fn whole_page(&mut self) -> DeltaKeys {
        let prefix = std::mem::take(&mut self.decoded.prefix);
        let lens = std::mem::take(&mut self.decoded.lens);
        let start = self.decoded.suffixes_at;
        let suffixes = self.page.slice(start..start + self.decoded.suffix_bytes);
        self.next = 0;
        self.offset = 0;
        DeltaKeys::from_parts(prefix, lens, suffixes.into())
    }

    /// Decodes the next data page.
    fn next_page(&mut self) -> Result<()> {
        let Some((values, num_values)) = self.pages.next_page()? else {
            bail!(self
                .pages
                .at("the key column ends before the other columns"));
        };
        if let Err(e) = self.decoded.decode(&values, num_values) {
            self.decoded = FrontCoded::default();
            return Err(e.context(self.pages.at("bad key page")));
        }
        self.page = values;
        self.next = 0;
        self.offset = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column_pages::small_pages_file;
    use arrow_array::BinaryArray;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    use rdbinsight_sink_api::keys::KeyCursor;

    /// A file of `keys` (sorted) in pages of 10 rows and row groups of 60.
    fn key_file(dir: &Path, keys: &[Vec<u8>]) -> std::path::PathBuf {
        let array = Arc::new(BinaryArray::from_iter_values(keys.iter()));
        let path = dir.join("keys.parquet");
        small_pages_file(&path, "key", array, Encoding::DELTA_BYTE_ARRAY)
    }

    /// Keys come back in order whether a take is a whole page (handed on as it is), part of
    /// one, or runs across pages and row groups, and after the file's pages were let go.
    #[test]
    fn takes_within_along_and_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<Vec<u8>> = (0..100)
            .map(|i| format!("user:{:05}:{:x>1$}", i * 37, 60 + i % 90).into_bytes())
            .collect();
        let path = key_file(dir.path(), &keys);
        // More than a page of memory, so that letting pages go below does something.
        assert!(std::fs::metadata(&path).unwrap().len() > 8192);
        let file = std::fs::File::open(&path).unwrap();
        let input = crate::mapped::file_bytes(&file, &path).unwrap();
        let metadata = ArrowReaderMetadata::load(input.bytes(), ArrowReaderOptions::new()).unwrap();
        assert_eq!(metadata.metadata().num_row_groups(), 2);
        let mut pages = KeyPages::open(&path, input.bytes(), "key", metadata.metadata().clone())
            .unwrap()
            .expect("a front-coded key column");
        let (mut cursor, mut got) = (KeyCursor::new(), Vec::new());
        for n in [10, 3, 7, 10, 15, 5, 10, 40] {
            if got.len() == 60 {
                // The first row group read: pages let go are read again when needed.
                input.release_before(usize::MAX);
            }
            let chunk = pages.take(n, 0).unwrap();
            assert_eq!(chunk.len(), n);
            cursor
                .walk(&chunk, |_, key, _| got.push(key.to_vec()))
                .unwrap();
        }
        assert_eq!(got, keys);
        assert!(pages.take(1, 0).is_err(), "past the last key");
    }
}
