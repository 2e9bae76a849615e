//! Column chunks of the columns with one value in a whole file (cluster, batch, instance).
//!
//! Encoding such a column row by row costs as much as any string column (statistics and
//! dictionary look-ups for every row) to produce a few bytes. Here the chunk is written
//! directly, whatever its row count: a dictionary page holding the value and one data page
//! whose indices are a single run of zeros, uncompressed (a few bytes), with the value as the
//! chunk's statistics. A chunk is kept per row count and copied into every row group of that
//! count (all row groups of a file but the last have the same count).

use anyhow::{bail, ensure, Context, Result};
use arrow_array::{Array, ArrayRef, StringArray, TimestampNanosecondArray};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, Type};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use std::io::Write;

/// Whether every value of `a` equals its first, checked in two linear passes (no per-row
/// string comparison): all lengths equal, and the value bytes equal themselves shifted by one
/// value.
pub fn all_same(a: &StringArray) -> bool {
    let offsets = a.value_offsets();
    let (Some(&first), Some(&second), Some(&last)) =
        (offsets.first(), offsets.get(1), offsets.last())
    else {
        return true;
    };
    let len = second - first;
    if !offsets.windows(2).all(|w| w[1] - w[0] == len) {
        return false;
    }
    let bytes = &a.value_data()[first as usize..last as usize];
    let len = len as usize;
    bytes.len() <= len || bytes[len..] == bytes[..bytes.len() - len]
}

/// The one value of a constant column.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(Vec<u8>),
    Nanos(i64),
}

impl Value {
    /// The value every row of `column` holds; an error when rows differ or have nulls.
    fn of(column: &ArrayRef) -> Result<Option<Self>> {
        if column.is_empty() {
            return Ok(None);
        }
        ensure!(column.null_count() == 0, "a constant column has nulls");
        let any = column.as_any();
        if let Some(a) = any.downcast_ref::<StringArray>() {
            ensure!(all_same(a), "a constant column has two values");
            return Ok(Some(Self::Text(a.value(0).as_bytes().to_vec())));
        }
        if let Some(a) = any.downcast_ref::<TimestampNanosecondArray>() {
            let first = a.value(0);
            ensure!(
                a.values().iter().all(|&v| v == first),
                "a constant column has two values"
            );
            return Ok(Some(Self::Nanos(first)));
        }
        bail!("no constant column chunks for type {}", column.data_type())
    }
}

/// One constant column of a file: its value and the chunks encoded so far, by row count.
pub struct ConstantColumn {
    descr: ColumnDescPtr,
    value: Option<Value>,
    chunks: Vec<(usize, Bytes, ColumnCloseResult)>,
}

impl ConstantColumn {
    /// A constant column of the file's column `descr`.
    pub fn new(descr: ColumnDescPtr) -> Self {
        Self {
            descr,
            value: None,
            chunks: Vec::new(),
        }
    }

    /// Checks that `column` holds this column's one value (the first batch sets it).
    pub fn check(&mut self, column: &ArrayRef) -> Result<()> {
        let Some(value) = Value::of(column)? else {
            return Ok(());
        };
        match &self.value {
            None => self.value = Some(value),
            Some(v) => ensure!(
                *v == value,
                "column {} changes value inside one file",
                self.descr.name()
            ),
        }
        Ok(())
    }

    /// Appends the column's chunk of `rows` rows to `group`.
    pub fn append<W: Write + Send>(
        &mut self,
        rows: usize,
        group: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        let at = match self.chunks.iter().position(|(n, ..)| *n == rows) {
            Some(at) => at,
            None => {
                let (bytes, close) = self.encode(rows)?;
                self.chunks.push((rows, bytes, close));
                self.chunks.len() - 1
            }
        };
        let (_, bytes, close) = &self.chunks[at];
        group.append_column(bytes, close.clone())?;
        Ok(())
    }

    /// The chunk of `rows` rows, encoded into memory: its bytes and its metadata (offsets
    /// relative to those bytes, which appending moves to their place in the file).
    fn encode(&self, rows: usize) -> Result<(Bytes, ColumnCloseResult)> {
        let value = self
            .value
            .as_ref()
            .with_context(|| format!("no value for column {}", self.descr.name()))?;
        let (plain, statistics) = match (self.descr.physical_type(), value) {
            (Type::BYTE_ARRAY, Value::Text(t)) => {
                let len = u32::try_from(t.len()).context("constant value too long")?;
                let mut plain = len.to_le_bytes().to_vec();
                plain.extend_from_slice(t);
                let v = ByteArray::from(t.clone());
                let stats = ValueStatistics::new(Some(v.clone()), Some(v), None, Some(0), false);
                (plain, Statistics::ByteArray(stats))
            }
            (Type::INT64, Value::Nanos(n)) => {
                let stats = ValueStatistics::new(Some(*n), Some(*n), None, Some(0), false);
                (n.to_le_bytes().to_vec(), Statistics::Int64(stats))
            }
            (t, _) => bail!(
                "column {} has no constant chunk of physical type {t}",
                self.descr.name()
            ),
        };
        let num_values = u32::try_from(rows).context("row group too large")?;
        // Dictionary indices of bit width 1: one RLE run of `rows` zeros (header: the run
        // length shifted left by one, as a varint; then the value in one byte).
        let mut indices = vec![1u8];
        crate::varint::put(&mut indices, (rows as u64) << 1);
        indices.push(0);
        let mut out = TrackedWrite::new(Vec::new());
        let mut pages = SerializedPageWriter::new(&mut out);
        let dictionary = Page::DictionaryPage {
            buf: Bytes::from(plain),
            num_values: 1,
            encoding: Encoding::PLAIN,
            is_sorted: true,
        };
        let data = Page::DataPage {
            buf: Bytes::from(indices),
            num_values,
            encoding: Encoding::RLE_DICTIONARY,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let mut specs = Vec::new();
        for page in [dictionary, data] {
            let size = page.buffer().len();
            specs.push(pages.write_page(CompressedPage::new(page, size))?);
        }
        pages.close()?;
        let compressed: u64 = specs.iter().map(|s| s.compressed_size as u64).sum();
        let uncompressed: u64 = specs.iter().map(|s| s.uncompressed_size as u64).sum();
        let data_offset = specs.get(1).map_or(0, |s| s.offset);
        let metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_encodings(vec![
                Encoding::PLAIN,
                Encoding::RLE,
                Encoding::RLE_DICTIONARY,
            ])
            .set_num_values(rows as i64)
            .set_compression(Compression::UNCOMPRESSED)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_same_sees_any_differing_value() {
        let same = StringArray::from(vec!["ab", "ab", "ab"]);
        assert!(all_same(&same));
        assert!(all_same(&same.slice(1, 2)));
        assert!(all_same(&StringArray::from(vec!["", ""])));
        assert!(!all_same(&StringArray::from(vec!["ab", "ab", "ac"])));
        assert!(!all_same(&StringArray::from(vec!["ab", "a", "b"])));
        assert!(!all_same(&StringArray::from(vec!["aa", "", "aa"])));
    }

    #[test]
    fn a_column_that_changes_value_is_refused() {
        use parquet::arrow::ArrowSchemaConverter;
        use rdbinsight_sink_api::record_schema;
        use std::sync::Arc;
        let descr = ArrowSchemaConverter::new()
            .convert(&record_schema())
            .unwrap()
            .column(0);
        let mut c = ConstantColumn::new(descr);
        let a: ArrayRef = Arc::new(StringArray::from(vec!["x", "x"]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["y"]));
        let mixed: ArrayRef = Arc::new(StringArray::from(vec!["x", "y"]));
        c.check(&a).unwrap();
        c.check(&a.slice(1, 1)).unwrap();
        assert!(c.check(&b).is_err());
        assert!(c.check(&mixed).is_err());
    }
}
