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
use parquet::basic::{Compression, Type};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::SerializedRowGroupWriter;
use parquet::schema::types::ColumnDescPtr;
use std::io::Write;

use crate::dict_chunk;

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
    /// The array checked last, kept (so its address is not reused) to skip checking it again:
    /// record builders share one array of the constant columns between their batches.
    checked: Option<ArrayRef>,
    chunks: Vec<(usize, Bytes, ColumnCloseResult)>,
}

impl ConstantColumn {
    /// A constant column of the file's column `descr`.
    pub fn new(descr: ColumnDescPtr) -> Self {
        Self {
            descr,
            value: None,
            checked: None,
            chunks: Vec::new(),
        }
    }

    /// Checks that `column` holds this column's one value (the first batch sets it).
    pub fn check(&mut self, column: &ArrayRef) -> Result<()> {
        if self
            .checked
            .as_ref()
            .is_some_and(|c| std::sync::Arc::ptr_eq(c, column))
        {
            return Ok(());
        }
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
        self.checked = Some(column.clone());
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
                let (plain, _) = dict_chunk::plain_byte_arrays([t.as_slice()])?;
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
        // Dictionary indices of bit width 1: one RLE run of `rows` zeros (header: the run
        // length shifted left by one, as a varint; then the value in one byte).
        let mut indices = vec![1u8];
        crate::varint::put(&mut indices, (rows as u64) << 1);
        indices.push(0);
        dict_chunk::write(
            &self.descr,
            Compression::UNCOMPRESSED,
            dict_chunk::dictionary_page(plain, 1, true),
            [dict_chunk::data_page(indices, rows)],
            rows,
            statistics,
        )
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
        // A refused array is refused again; one that passed passes when shared again.
        assert!(c.check(&b).is_err());
        c.check(&a).unwrap();
        c.check(&a.clone()).unwrap();
        assert!(c.check(&b).is_err());
    }
}
