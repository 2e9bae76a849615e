//! Columns that hold one value in a row group, told by its statistics (no null, and an exact
//! minimum equal to the maximum): they are not decoded, but made as arrays of that value for
//! each batch. In this sink's files the batch time and the instance are such columns (one
//! file per instance and batch), and, row group by row group, so are the db (keys are sorted
//! by db first) and whatever else a run of similar keys shares (type, encoding, sizes).

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    make_array, Array, ArrayRef, DictionaryArray, Int32Array, Int64Array, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::basic::Type as PhysicalType;
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};

/// A column with one value in a row group.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    /// Column name.
    pub name: String,
    /// Its value, as stored.
    value: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Text(String),
}

/// The columns among `names` that hold one value in row group `row_group` of the file of
/// `metadata`, whose Arrow type in `schema` can be made from it (64-bit integers and
/// timestamps, and strings read as dictionaries).
pub fn constant_columns(
    metadata: &ParquetMetaData,
    row_group: usize,
    schema: &Schema,
    names: &[&str],
) -> Vec<Constant> {
    let descr = metadata.file_metadata().schema_descr();
    let mut out = Vec::new();
    let Some(rg) = metadata.row_groups().get(row_group) else {
        return out;
    };
    for i in 0..descr.num_columns() {
        let column = descr.column(i);
        if column.max_rep_level() != 0 || column.path().parts().len() != 1 {
            continue;
        }
        let name = column.name();
        let Ok(field) = schema.field_with_name(name) else {
            continue;
        };
        if !names.contains(&name) {
            continue;
        }
        let Some(bytes) = single_value(rg, i) else {
            continue;
        };
        let value = match (column.physical_type(), field.data_type()) {
            (PhysicalType::INT64, DataType::Int64 | DataType::Timestamp(..)) => {
                match <[u8; 8]>::try_from(bytes.as_slice()) {
                    Ok(b) => Value::Int(i64::from_le_bytes(b)),
                    Err(_) => continue,
                }
            }
            (PhysicalType::BYTE_ARRAY, DataType::Dictionary(key, value))
                if **key == DataType::Int32 && **value == DataType::Utf8 =>
            {
                match String::from_utf8(bytes) {
                    Ok(s) => Value::Text(s),
                    Err(_) => continue,
                }
            }
            _ => continue,
        };
        out.push(Constant {
            name: name.to_string(),
            value,
        });
    }
    out
}

/// The one value (as the statistics store it) of column `i` in row group `rg`, if it has
/// one: no nulls, and an exact minimum equal to the maximum.
fn single_value(rg: &RowGroupMetaData, i: usize) -> Option<Vec<u8>> {
    let stats = rg.column(i).statistics()?;
    let (min, max) = (stats.min_bytes_opt()?, stats.max_bytes_opt()?);
    let single = stats.null_count_opt() == Some(0)
        && stats.min_is_exact()
        && stats.max_is_exact()
        && min == max;
    single.then(|| min.to_vec())
}

impl Constant {
    /// `rows` copies of the value, as an array of `field`'s type (None for a type it cannot
    /// make, which [`constant_columns`] does not return).
    pub fn array(&self, field: &Field, rows: usize) -> Option<ArrayRef> {
        let array: ArrayRef = match (&self.value, field.data_type()) {
            // A timestamp is a 64-bit integer under another type: the same buffer, retyped.
            (Value::Int(v), DataType::Int64 | DataType::Timestamp(..)) => {
                let data = Int64Array::from_value(*v, rows)
                    .into_data()
                    .into_builder()
                    .data_type(field.data_type().clone())
                    .build()
                    .ok()?;
                make_array(data)
            }
            (Value::Text(s), DataType::Dictionary(..)) => {
                let keys = Int32Array::from_value(0, rows);
                let values = Arc::new(StringArray::from(vec![s.as_str()]));
                Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values).ok()?)
            }
            _ => return None,
        };
        Some(array)
    }
}
