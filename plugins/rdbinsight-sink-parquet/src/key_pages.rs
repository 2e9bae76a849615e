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

    /// Appends the next `n` keys to `out`. The first key's shared length refers to the key
    /// before it in the file (0 at the start of a page).
    pub fn take(&mut self, mut n: usize, out: &mut DeltaKeys) -> Result<()> {
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
        Ok(())
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
