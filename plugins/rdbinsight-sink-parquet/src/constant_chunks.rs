//! Column chunks of the columns with one value in a whole file (cluster, batch, instance).
//!
//! Encoding such a column row by row costs as much as any string column (statistics and
//! dictionary look-ups for every row) to produce a few bytes. Here the chunk of a row group is
//! encoded once per row count, kept as bytes, and copied into every row group of that count:
//! all row groups of a file but the last have the same count.

use anyhow::{bail, ensure, Context, Result};
use arrow_array::{Array, ArrayRef, StringArray, TimestampNanosecondArray};
use bytes::Bytes;
use parquet::column::writer::{
    get_column_writer, ColumnCloseResult, ColumnWriter, ColumnWriterImpl,
};
use parquet::data_type::{ByteArray, DataType};
use parquet::file::properties::WriterPropertiesPtr;
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

/// Values handed to the column writer at a time.
const PIECE: usize = 4096;

/// Writes `rows` copies of `one` with `w`, a piece at a time (its statistics given, not
/// computed per value), and closes it.
fn write_copies<T: DataType>(
    mut w: ColumnWriterImpl<'_, T>,
    one: &T::T,
    rows: usize,
) -> Result<ColumnCloseResult> {
    let piece = vec![one.clone(); PIECE.min(rows)];
    for at in (0..rows).step_by(PIECE) {
        let n = PIECE.min(rows - at);
        w.write_batch_with_statistics(&piece[..n], None, None, Some(one), Some(one), None)?;
    }
    Ok(w.close()?)
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
        props: &WriterPropertiesPtr,
        group: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        let at = match self.chunks.iter().position(|(n, ..)| *n == rows) {
            Some(at) => at,
            None => {
                let (bytes, close) = self.encode(rows, props)?;
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
    fn encode(
        &self,
        rows: usize,
        props: &WriterPropertiesPtr,
    ) -> Result<(Bytes, ColumnCloseResult)> {
        let value = self
            .value
            .as_ref()
            .with_context(|| format!("no value for column {}", self.descr.name()))?;
        let mut out = TrackedWrite::new(Vec::new());
        let pages = Box::new(SerializedPageWriter::new(&mut out));
        let writer = get_column_writer(self.descr.clone(), props.clone(), pages);
        let close = match (writer, value) {
            (ColumnWriter::ByteArrayColumnWriter(w), Value::Text(t)) => {
                write_copies(w, &ByteArray::from(Bytes::from(t.clone())), rows)?
            }
            (ColumnWriter::Int64ColumnWriter(w), Value::Nanos(n)) => write_copies(w, n, rows)?,
            _ => bail!(
                "column {} has no constant chunk of its physical type",
                self.descr.name()
            ),
        };
        Ok((Bytes::from(out.into_inner()?), close))
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
