//! The key column of one of our files, read page by page into front-coded
//! [`DeltaKeys`] chunks instead of Arrow arrays. The sink writes keys sorted with
//! `DELTA_BYTE_ARRAY`, whose pages already hold each key as the length it shares with the one
//! before and the rest: the report walks that form directly and never copies whole keys.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::serialized_reader::SerializedPageReader;
use rdbinsight_sink_api::keys::DeltaKeys;

use crate::delta::FrontCoded;

/// The encodings a front-coded key column chunk may list (RLE is the levels' encoding).
const FRONT_CODED: [Encoding; 2] = [Encoding::DELTA_BYTE_ARRAY, Encoding::RLE];

/// Reads the key column of a file in row order, across its row groups.
pub struct KeyPages {
    path: PathBuf,
    input: Arc<File>,
    metadata: Arc<ParquetMetaData>,
    column: usize,
    /// The row group whose pages `pages` reads (the next one to open when `pages` is None).
    row_group: usize,
    pages: Option<SerializedPageReader<File>>,
    /// The values of the current page.
    page: Bytes,
    decoded: FrontCoded,
    /// The next value of the current page.
    next: usize,
    /// Where the next value's suffix starts, from the page's first suffix.
    offset: usize,
    /// Pages read from the current row group.
    page_index: usize,
}

impl KeyPages {
    /// The key pages of `path` (whose footer is `metadata`), or None when the column named
    /// `key` is not a required byte-array column written with `DELTA_BYTE_ARRAY` in every row
    /// group (a file this sink did not write: read it through Arrow instead).
    pub fn open(path: &Path, key: &str, metadata: Arc<ParquetMetaData>) -> Result<Option<Self>> {
        let schema = metadata.file_metadata().schema_descr();
        let Some(column) = schema.columns().iter().position(|c| c.name() == key) else {
            return Ok(None);
        };
        let descr = schema.column(column);
        if descr.physical_type() != PhysicalType::BYTE_ARRAY
            || descr.max_def_level() != 0
            || descr.max_rep_level() != 0
        {
            return Ok(None);
        }
        let front_coded = metadata.row_groups().iter().all(|rg| {
            let chunk = rg.column(column);
            chunk.encodings().all(|e| FRONT_CODED.contains(&e))
                && chunk.num_values() == rg.num_rows()
        });
        if !front_coded {
            return Ok(None);
        }
        let input = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Some(Self {
            path: path.to_path_buf(),
            input: Arc::new(input),
            metadata,
            column,
            row_group: 0,
            pages: None,
            page: Bytes::new(),
            decoded: FrontCoded::default(),
            next: 0,
            offset: 0,
            page_index: 0,
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

    /// Decodes the next data page, opening the next row group's pages when one ends.
    fn next_page(&mut self) -> Result<()> {
        loop {
            let rg = self.row_group;
            let pages = match &mut self.pages {
                Some(pages) => pages,
                None => {
                    let Some(group) = self.metadata.row_groups().get(rg) else {
                        bail!(
                            "{}: the key column ends before the other columns",
                            self.path.display()
                        );
                    };
                    let chunk = group.column(self.column);
                    let rows = usize::try_from(group.num_rows()).unwrap_or(0);
                    let reader = SerializedPageReader::new(self.input.clone(), chunk, rows, None)
                        .with_context(|| self.at("cannot read the key pages"))?;
                    self.pages.insert(reader)
                }
            };
            let page = pages.get_next_page();
            let page = page.with_context(|| self.at("cannot read a key page"))?;
            let Some(page) = page else {
                self.pages = None;
                self.row_group += 1;
                self.page_index = 0;
                continue;
            };
            self.page_index += 1;
            let (values, num_values, encoding) = match page {
                Page::DataPage {
                    buf,
                    num_values,
                    encoding,
                    ..
                } => (buf, num_values, encoding),
                Page::DataPageV2 {
                    buf,
                    num_values,
                    encoding,
                    def_levels_byte_len,
                    rep_levels_byte_len,
                    ..
                } => {
                    let levels = def_levels_byte_len as usize + rep_levels_byte_len as usize;
                    ensure!(
                        levels <= buf.len(),
                        self.at("a key page's levels are longer than the page")
                    );
                    (buf.slice(levels..), num_values, encoding)
                }
                Page::DictionaryPage { .. } => {
                    bail!(self.at("a dictionary page in a DELTA_BYTE_ARRAY key column"))
                }
            };
            ensure!(
                encoding == Encoding::DELTA_BYTE_ARRAY,
                self.at(&format!(
                    "a key page encoded {encoding}, expected DELTA_BYTE_ARRAY"
                ))
            );
            if let Err(e) = self.decoded.decode(&values, num_values as usize) {
                self.decoded = FrontCoded::default();
                return Err(e.context(self.at("bad key page")));
            }
            self.page = values;
            self.next = 0;
            self.offset = 0;
            if num_values > 0 {
                return Ok(());
            }
        }
    }

    /// `what`, naming the file, row group and page of the key column.
    fn at(&self, what: &str) -> String {
        format!(
            "{}: key column, row group {}, page {}: {what}",
            self.path.display(),
            self.row_group,
            self.page_index
        )
    }
}
