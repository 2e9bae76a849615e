//! The data pages of one required, flat column of a file, in order across its row groups:
//! decompressed, levels removed, the encoding checked. What the report's own decoders (front-
//! coded keys, delta-coded integers) read instead of going through Arrow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::serialized_reader::SerializedPageReader;

/// One page of a column, its levels removed.
pub enum ColumnPage {
    /// A dictionary page: `count` PLAIN values.
    Dictionary { values: Bytes, count: usize },
    /// A data page of `count` values encoded `encoding`.
    Data {
        values: Bytes,
        count: usize,
        encoding: Encoding,
    },
}

/// The decoded values of a column's current page, taken in order by batches that may span
/// pages.
pub struct PageValues<T> {
    values: Vec<T>,
    /// The next value to take.
    next: usize,
}

impl<T: Copy> PageValues<T> {
    /// No page decoded yet.
    pub fn new() -> Self {
        Self {
            values: Vec::new(),
            next: 0,
        }
    }

    /// The next `n` values, `decode` filling the (empty) vector it is given with the next
    /// page's values whenever the current page is used up (it leaves no values behind when it
    /// fails). Values that make up one whole page (batches as long as the pages, as this sink
    /// writes them) are handed on as decoded, not copied.
    pub fn take(
        &mut self,
        n: usize,
        mut decode: impl FnMut(&mut Vec<T>) -> Result<()>,
    ) -> Result<Vec<T>> {
        let mut next_page = |page: &mut Self| {
            page.values.clear();
            page.next = 0;
            decode(&mut page.values)
        };
        if n > 0 && self.next == self.values.len() {
            next_page(self)?;
        }
        if self.next == 0 && n == self.values.len() && n > 0 {
            // The page used up: the next take decodes the next one.
            return Ok(std::mem::take(&mut self.values));
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.next == self.values.len() {
                next_page(self)?;
                continue;
            }
            let end = (self.next + n - out.len()).min(self.values.len());
            out.extend_from_slice(&self.values[self.next..end]);
            self.next = end;
        }
        Ok(out)
    }
}

/// Reads the data pages of a column in row order.
pub struct ColumnPages {
    path: PathBuf,
    input: Arc<Bytes>,
    metadata: Arc<ParquetMetaData>,
    column: usize,
    /// The column's name, for errors.
    name: String,
    /// The one encoding its data pages may have.
    encoding: Encoding,
    /// The row group whose pages `pages` reads (the next one to open when `pages` is None).
    row_group: usize,
    /// The row group the pages end before.
    end: usize,
    pages: Option<SerializedPageReader<Bytes>>,
    /// Pages read from the current row group.
    page_index: usize,
}

impl ColumnPages {
    /// The index of the column `name` of the file of `metadata` when it is flat, required, of
    /// `physical` type and written with `encoding` in every row group (RLE aside, the levels'
    /// encoding), one value per row.
    pub fn find(
        metadata: &ParquetMetaData,
        name: &str,
        physical: PhysicalType,
        encoding: Encoding,
    ) -> Option<usize> {
        let schema = metadata.file_metadata().schema_descr();
        let column = schema.columns().iter().position(|c| c.name() == name)?;
        let descr = schema.column(column);
        if descr.physical_type() != physical
            || descr.max_def_level() != 0
            || descr.max_rep_level() != 0
            || descr.path().parts().len() != 1
        {
            return None;
        }
        // A dictionary column's dictionary pages are PLAIN (and so may be data pages the
        // writer fell back to).
        let dictionary = encoding == Encoding::RLE_DICTIONARY;
        metadata
            .row_groups()
            .iter()
            .all(|rg| {
                let chunk = rg.column(column);
                chunk.encodings().all(|e| {
                    e == encoding || e == Encoding::RLE || (dictionary && e == Encoding::PLAIN)
                }) && chunk.num_values() == rg.num_rows()
            })
            .then_some(column)
    }

    /// The pages of column `column` (named `name`, see [`ColumnPages::find`]) of the file at
    /// `path`, whose content is `input` and footer `metadata`.
    pub fn open(
        path: &Path,
        input: Bytes,
        metadata: Arc<ParquetMetaData>,
        column: usize,
        name: &str,
        encoding: Encoding,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            input: Arc::new(input),
            metadata,
            column,
            name: name.to_string(),
            encoding,
            row_group: 0,
            end: usize::MAX,
            pages: None,
            page_index: 0,
        }
    }

    /// The pages of row group `row_group` of the column `name` of the file at `path` (see
    /// [`ColumnPages::find`] and [`ColumnPages::open`]), or None when the column is not one
    /// `find` finds.
    pub fn of_column(
        path: &Path,
        input: &Bytes,
        name: &str,
        metadata: Arc<ParquetMetaData>,
        row_group: usize,
        (physical, encoding): (PhysicalType, Encoding),
    ) -> Option<Self> {
        let column = Self::find(&metadata, name, physical, encoding)?;
        let pages = Self::open(path, input.clone(), metadata, column, name, encoding);
        Some(pages.of_row_group(row_group))
    }

    /// These pages limited to those of row group `row_group`.
    pub fn of_row_group(mut self, row_group: usize) -> Self {
        self.row_group = row_group;
        self.end = row_group.saturating_add(1);
        self.pages = None;
        self.page_index = 0;
        self
    }

    /// The values of the next data page and their number, or None after the last page.
    pub fn next_page(&mut self) -> Result<Option<(Bytes, usize)>> {
        Ok(match self.next_any_page()? {
            Some(ColumnPage::Data { values, count, .. }) => Some((values, count)),
            Some(ColumnPage::Dictionary { .. }) => {
                bail!(self.at(&format!("a dictionary page, expected {}", self.encoding)))
            }
            None => None,
        })
    }

    /// The next page, dictionary or data (a dictionary column's data pages may be PLAIN, as
    /// a writer falls back to when the dictionary grows too big), or None after the last.
    pub fn next_any_page(&mut self) -> Result<Option<ColumnPage>> {
        loop {
            let rg = self.row_group;
            let pages = match &mut self.pages {
                Some(pages) => pages,
                None => {
                    let group = self.metadata.row_groups().get(rg);
                    let Some(group) = group.filter(|_| rg < self.end) else {
                        return Ok(None);
                    };
                    let chunk = group.column(self.column);
                    let rows = usize::try_from(group.num_rows()).unwrap_or(0);
                    let reader = SerializedPageReader::new(self.input.clone(), chunk, rows, None)
                        .with_context(|| self.at("cannot read the pages"))?;
                    self.pages.insert(reader)
                }
            };
            let page = pages.get_next_page();
            let page = page.with_context(|| self.at("cannot read a page"))?;
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
                        self.at("the page's levels are longer than the page")
                    );
                    (buf.slice(levels..), num_values, encoding)
                }
                Page::DictionaryPage {
                    buf, num_values, ..
                } if self.encoding == Encoding::RLE_DICTIONARY => {
                    return Ok(Some(ColumnPage::Dictionary {
                        values: buf,
                        count: num_values as usize,
                    }));
                }
                Page::DictionaryPage { .. } => {
                    bail!(self.at(&format!("a dictionary page, expected {}", self.encoding)))
                }
            };
            let fallback = self.encoding == Encoding::RLE_DICTIONARY && encoding == Encoding::PLAIN;
            ensure!(
                encoding == self.encoding || fallback,
                self.at(&format!(
                    "a page encoded {encoding}, expected {}",
                    self.encoding
                ))
            );
            if num_values > 0 {
                return Ok(Some(ColumnPage::Data {
                    values,
                    count: num_values as usize,
                    encoding,
                }));
            }
        }
    }

    /// `what`, naming the file, column, row group and page.
    pub fn at(&self, what: &str) -> String {
        format!(
            "{}: column {}, row group {}, page {}: {what}",
            self.path.display(),
            self.name,
            self.row_group,
            self.page_index
        )
    }
}

/// Writes a file at `path` of one required column `name` holding `array`, written with
/// `encoding` in pages of 10 rows and row groups of 60 (for the page readers' tests).
#[cfg(test)]
pub fn small_pages_file(
    path: &Path,
    name: &str,
    array: arrow_array::ArrayRef,
    encoding: Encoding,
) -> PathBuf {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_encoding(encoding);
    small_pages_file_with(path, name, array, props)
}

/// [`small_pages_file`] with the writer properties `props` (pages of 10 rows and row groups
/// of 60 set on them).
#[cfg(test)]
pub fn small_pages_file_with(
    path: &Path,
    name: &str,
    array: arrow_array::ArrayRef,
    props: parquet::file::properties::WriterPropertiesBuilder,
) -> PathBuf {
    use parquet::arrow::ArrowWriter;
    let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        name,
        array.data_type().clone(),
        false,
    )]));
    let batch = arrow_array::RecordBatch::try_new(schema.clone(), vec![array]).unwrap();
    let props = props
        .set_data_page_row_count_limit(10)
        .set_write_batch_size(10)
        .set_max_row_group_row_count(Some(60))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path.to_path_buf()
}
