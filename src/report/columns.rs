//! Typed access to the columns of a record batch for the report; errors name the column.

use anyhow::{bail, Context, Result};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch, StringArray};

/// The column `name` of `b`.
pub fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name)
        .with_context(|| format!("column {name} missing"))
}

/// The column `name` of `b` as an array of type `T`.
pub fn typed<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    column(b, name)?
        .as_any()
        .downcast_ref::<T>()
        .with_context(|| format!("column {name} of the wrong type"))
}

/// The nullable column `name` of `b` as an array of type `T`, or None when the batch leaves it
/// out (readers drop columns that hold only nulls).
pub fn optional<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<Option<&'a T>> {
    match b.column_by_name(name) {
        None => Ok(None),
        Some(_) => typed(b, name).map(Some),
    }
}

/// A string column as it came: dictionary-encoded (as the Parquet reader gives type, encoding
/// and instance) or plain.
pub enum Strings<'a> {
    /// Keys into the dictionary `values`.
    Dictionary(&'a DictionaryArray<Int32Type>, &'a StringArray),
    /// One string per row.
    Plain(&'a StringArray),
}

impl<'a> Strings<'a> {
    /// The string column `name` of `b`.
    pub fn of(b: &'a RecordBatch, name: &str) -> Result<Self> {
        let c = column(b, name)?;
        let any = c.as_any();
        if let Some(dict) = any.downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = dict
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .with_context(|| format!("column {name}: a dictionary of non-strings"))?;
            return Ok(Self::Dictionary(dict, values));
        }
        match any.downcast_ref::<StringArray>() {
            Some(s) => Ok(Self::Plain(s)),
            None => bail!("column {name}: expected strings, found {}", c.data_type()),
        }
    }

    /// The string of row `i` (empty when null).
    pub fn at(&self, i: usize) -> &'a str {
        match self {
            Self::Dictionary(dict, values) => dict
                .is_valid(i)
                .then(|| dict.keys().value(i))
                .and_then(|k| usize::try_from(k).ok())
                .map_or("", |k| value_or_empty(values, k)),
            Self::Plain(s) => value_or_empty(s, i),
        }
    }
}

/// The string at `i`, empty when null or out of range.
pub fn value_or_empty(strings: &StringArray, i: usize) -> &str {
    if i < strings.len() && strings.is_valid(i) {
        strings.value(i)
    } else {
        ""
    }
}
