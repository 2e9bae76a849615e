//! Reading a published batch back (for reports): find the batch directory of a cluster and
//! stream every instance file's record batches, one file at a time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use arrow_array::{Array, BinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;

use rdbinsight_sink_api::keys::DeltaKeys;

use crate::constants::{constant_columns, Constant};
use crate::decode_guard::Guarded;
use crate::dict_pages::DictPages;
use crate::int_pages::IntPages;
use crate::key_pages::KeyPages;
use crate::mapped::{self, FileBytes};
use crate::path::{sanitize_name, BATCH_PREFIX, CLUSTER_PREFIX, PARQUET_EXT};
use arrow_array::ArrayRef;

/// Rows per record batch read: the rows of one data page as this sink (and the Parquet crate's
/// writer, by default) cuts them. The Arrow reader then decodes one page per column into a
/// buffer sized for it (with 64K rows a batch's buffers grew page by page, each growth a
/// copy), a batch's keys are one key page handed on without a copy (see [`KeyPages::take`]),
/// and a batch's columns stay in the core's cache on their way to the report's other thread:
/// half the report's heap, and with the keys handed on whole about a tenth less of its time
/// (docs/benchmarks-history.md, the thirteenth session).
const BATCH_ROWS: usize = 20_000;

/// The published batch directory of `cluster` under `dir`: `batch` when given (the slug, with
/// or without `batch=`), else the newest.
pub fn find_batch(dir: &Path, cluster: &str, batch: Option<&str>) -> Result<PathBuf> {
    let cluster_dir = dir.join(format!("{CLUSTER_PREFIX}{}", sanitize_name(cluster)));
    if let Some(b) = batch {
        let name = if b.starts_with(BATCH_PREFIX) {
            b.to_string()
        } else {
            format!("{BATCH_PREFIX}{b}")
        };
        let p = cluster_dir.join(name);
        if !p.is_dir() {
            bail!("no published batch {} for cluster {cluster:?}", p.display());
        }
        return Ok(p);
    }
    let mut batches: Vec<PathBuf> = std::fs::read_dir(&cluster_dir)
        .with_context(|| {
            format!(
                "no Parquet output for cluster {cluster:?} in {}",
                cluster_dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(BATCH_PREFIX))
        })
        .collect();
    batches.sort();
    batches.pop().with_context(|| {
        format!(
            "no published batch for cluster {cluster:?} in {}",
            cluster_dir.display()
        )
    })
}

/// The instance files of a batch directory, sorted by name.
pub fn batch_files(batch_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(batch_dir)
        .with_context(|| format!("cannot list {}", batch_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(PARQUET_EXT))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Calls `f` with every record batch of every file of the batch directory, holding only the
/// columns named in `columns` (every column when it is empty): a column not read is a column
/// not decoded. The string columns named in `as_dictionary` arrive as
/// `Dictionary(Int32, Utf8)` arrays, their Parquet dictionary kept instead of one string
/// per row (for low-cardinality columns such as type, encoding, instance).
pub fn for_each_batch(
    batch_dir: &Path,
    columns: &[&str],
    as_dictionary: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    for file in batch_files(batch_dir)? {
        let (input, metadata) = open(&file, as_dictionary)?;
        for batch in batches(&file, input.bytes().clone(), metadata, columns, None)? {
            f(&batch.with_context(|| format!("cannot read {}", file.display()))?)?;
        }
    }
    Ok(())
}

/// Like [`for_each_batch`], with the keys of each batch also handed over front-coded (see
/// [`DeltaKeys`]; its first key stands on its own at the start of each file). Where a file's
/// `key` column is front-coded already (`DELTA_BYTE_ARRAY`, as this sink writes it), it is
/// read page by page into that form and left out of the record batches; otherwise it is read
/// through Arrow (and stays in the batches) and front-coded from there. Required integer
/// columns written with `DELTA_BINARY_PACKED` (as this sink writes `db`, `member_count` and
/// `rdb_size`) are decoded page by page by the sink's own decoder too. Nullable columns
/// that hold only nulls in a file (by its statistics) are left out of its batches too, and
/// columns that hold one value in a file are not decoded but filled with it.
pub fn for_each_batch_with_keys(
    batch_dir: &Path,
    columns: &[&str],
    as_dictionary: &[&str],
    key: &str,
    mut f: impl FnMut(&RecordBatch, DeltaKeys) -> Result<()>,
) -> Result<()> {
    for file in batch_files(batch_dir)? {
        let (input, metadata) = open(&file, as_dictionary)?;
        let context = || format!("cannot read {}", file.display());
        let empty = null_columns(metadata.metadata());
        let columns: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| !empty.iter().any(|e| e == c))
            .collect();
        match KeyPages::open(&file, input.bytes(), key, metadata.metadata().clone())? {
            Some(mut pages) => {
                let others: Vec<&str> = columns.iter().copied().filter(|c| *c != key).collect();
                let schema = projected(metadata.schema(), &others);
                let mut suffix_bytes = 0;
                // Row group by row group: the columns with one value in a row group are
                // filled with it, not decoded.
                for row_group in 0..metadata.metadata().num_row_groups() {
                    // The row groups before this one are read: their pages may go.
                    input.release_before(row_group_start(metadata.metadata(), row_group));
                    let constants =
                        constant_columns(metadata.metadata(), row_group, &schema, &others);
                    let filled = constant_arrays(&schema, &constants).with_context(context)?;
                    let varying = others
                        .iter()
                        .copied()
                        .filter(|c| !constants.iter().any(|k| k.name == *c));
                    // The integer and dictionary columns the sink wrote are read by its own
                    // decoders, the others (and any read as another Arrow type) through Arrow.
                    let (mut own, mut decoded) = (Vec::new(), Vec::new());
                    for name in varying {
                        let data_type = schema.field_with_name(name).map(|f| f.data_type());
                        let data = metadata.metadata().clone();
                        let bytes = input.bytes();
                        let pages = match data_type {
                            Ok(DataType::Int64) => {
                                IntPages::open(&file, bytes, name, data, row_group)
                                    .map(OwnPages::Ints)
                            }
                            Ok(t) if *t == dictionary_type() => {
                                DictPages::open(&file, bytes, name, data, row_group)
                                    .map(OwnPages::Names)
                            }
                            _ => None,
                        };
                        match pages {
                            Some(pages) => own.push((name, pages)),
                            None => decoded.push(name),
                        }
                    }
                    let mut deliver = |batch: RecordBatch| -> Result<()> {
                        let rows = batch.num_rows();
                        let mut extra = Vec::with_capacity(filled.len() + own.len());
                        for (name, array) in &filled {
                            ensure!(
                                rows <= array.len(),
                                "a batch of {rows} rows, more than {BATCH_ROWS}"
                            );
                            extra.push((name.as_str(), array.slice(0, rows)));
                        }
                        for (name, pages) in &mut own {
                            extra.push((*name, pages.take(rows)?));
                        }
                        let batch = with_columns(batch, &schema, extra).with_context(context)?;
                        // Room for as many suffix bytes as the last batch had.
                        let keys = pages.take(batch.num_rows(), suffix_bytes)?;
                        suffix_bytes = keys.suffix_bytes();
                        f(&batch, keys)
                    };
                    if decoded.is_empty() && !others.is_empty() {
                        // Nothing to decode through Arrow in this row group: batches of
                        // constants and the sink's own decoding only.
                        let rows = metadata.metadata().row_group(row_group).num_rows();
                        let mut left = usize::try_from(rows).with_context(context)?;
                        while left > 0 {
                            let n = left.min(BATCH_ROWS);
                            deliver(rows_only(n)?)?;
                            left -= n;
                        }
                        continue;
                    }
                    let reader = batches(
                        &file,
                        input.bytes().clone(),
                        metadata.clone(),
                        &decoded,
                        Some(row_group),
                    )?;
                    for batch in reader {
                        deliver(batch.with_context(context)?)?;
                    }
                }
            }
            None => {
                let mut with_key = columns.to_vec();
                if !columns.is_empty() && !columns.contains(&key) {
                    with_key.push(key);
                }
                for batch in batches(&file, input.bytes().clone(), metadata, &with_key, None)? {
                    let batch = batch.with_context(context)?;
                    let keys = batch
                        .column_by_name(key)
                        .and_then(|c| c.as_any().downcast_ref::<BinaryArray>())
                        .map(DeltaKeys::from_binary)
                        .with_context(|| format!("{}: no binary column {key:?}", file.display()))?;
                    f(&batch, keys)?;
                }
            }
        }
    }
    Ok(())
}

/// Where the first column chunk of `row_group` starts in the file (0 when unknown).
fn row_group_start(metadata: &ParquetMetaData, row_group: usize) -> usize {
    metadata
        .row_groups()
        .get(row_group)
        .and_then(|rg| rg.columns().iter().map(|c| c.byte_range().0).min())
        .and_then(|start| usize::try_from(start).ok())
        .unwrap_or(0)
}

/// A record batch of `rows` rows and no columns.
fn rows_only(rows: usize) -> Result<RecordBatch> {
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        Vec::new(),
        &options,
    )?)
}

/// `schema` with only the fields named in `names` (in the schema's order, as a projection
/// reads them).
fn projected(schema: &SchemaRef, names: &[&str]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| names.contains(&f.name().as_str()))
        .map(|f| f.as_ref().clone())
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The `constants` of a file as arrays of a full batch (of the types `schema` gives them),
/// made once and cut to each batch's length.
fn constant_arrays(schema: &SchemaRef, constants: &[Constant]) -> Result<Vec<(String, ArrayRef)>> {
    constants
        .iter()
        .map(|c| {
            let field = schema
                .field_with_name(&c.name)
                .with_context(|| format!("column {} missing", c.name))?;
            let array = c
                .array(field, BATCH_ROWS)
                .with_context(|| format!("cannot make column {} of one value", c.name))?;
            Ok((c.name.clone(), array))
        })
        .collect()
}

/// `batch` (read without the columns in `extra`) with them put in where `schema` has them.
fn with_columns(
    batch: RecordBatch,
    schema: &SchemaRef,
    extra: Vec<(&str, ArrayRef)>,
) -> Result<RecordBatch> {
    if extra.is_empty() {
        return Ok(batch);
    }
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(
            |field| match extra.iter().find(|(name, _)| name == field.name()) {
                Some((_, array)) => Ok(array.clone()),
                None => batch
                    .column_by_name(field.name())
                    .cloned()
                    .with_context(|| format!("column {} missing", field.name())),
            },
        )
        .collect::<Result<Vec<_>>>()?;
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// The nullable top-level columns whose statistics say every value is null in every row group.
fn null_columns(metadata: &ParquetMetaData) -> Vec<String> {
    let schema = metadata.file_metadata().schema_descr();
    (0..schema.num_columns())
        .filter(|&i| {
            let column = schema.column(i);
            column.max_def_level() == 1
                && column.max_rep_level() == 0
                && column.path().parts().len() == 1
                && metadata.row_groups().iter().all(|rg| {
                    let chunk = rg.column(i);
                    chunk.statistics().and_then(|s| s.null_count_opt())
                        == u64::try_from(chunk.num_values()).ok()
                })
        })
        .map(|i| schema.column(i).name().to_string())
        .collect()
}

/// Opens `file` and reads its footer, with the string columns named in `as_dictionary` to be
/// read as dictionary arrays.
fn open(file: &Path, as_dictionary: &[&str]) -> Result<(FileBytes, ArrowReaderMetadata)> {
    let opened = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let input = mapped::file_bytes(&opened, file)?;
    let metadata = ArrowReaderMetadata::load(input.bytes(), ArrowReaderOptions::new())
        .with_context(|| format!("cannot read {}", file.display()))?;
    let schema = with_dictionaries(metadata.schema(), as_dictionary);
    let metadata = ArrowReaderMetadata::try_new(
        metadata.metadata().clone(),
        ArrowReaderOptions::new().with_schema(schema),
    )
    .with_context(|| format!("cannot read {}", file.display()))?;
    Ok((input, metadata))
}

/// The record batches of an opened file (of one of its row groups when `row_group` is given),
/// holding the columns named in `columns` (every column when it is empty).
fn batches(
    file: &Path,
    input: Bytes,
    metadata: ArrowReaderMetadata,
    columns: &[&str],
    row_group: Option<usize>,
) -> Result<Guarded> {
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(input, metadata)
        .with_batch_size(BATCH_ROWS);
    let builder = match row_group {
        Some(rg) => builder.with_row_groups(vec![rg]),
        None => builder,
    };
    let builder = if columns.is_empty() {
        builder
    } else {
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        builder.with_projection(mask)
    };
    let reader = builder
        .build()
        .with_context(|| format!("cannot read {}", file.display()))?;
    Ok(Guarded::new(file.to_path_buf(), reader))
}

/// A column the sink's own decoders read.
enum OwnPages {
    /// `DELTA_BINARY_PACKED` integers.
    Ints(IntPages),
    /// Dictionary-encoded strings.
    Names(DictPages),
}

impl OwnPages {
    /// The next `rows` values.
    fn take(&mut self, rows: usize) -> Result<ArrayRef> {
        Ok(match self {
            OwnPages::Ints(pages) => Arc::new(pages.take(rows)?),
            OwnPages::Names(pages) => pages.take(rows)?,
        })
    }
}

/// The Arrow type the string columns read as dictionaries take (see [`with_dictionaries`]).
fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// `schema` with its `Utf8` fields named in `names` turned into `Dictionary(Int32, Utf8)`.
fn with_dictionaries(schema: &SchemaRef, names: &[&str]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if names.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                f.as_ref().clone().with_data_type(dictionary_type())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, UInt64Array};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Encoding;
    use parquet::file::properties::WriterProperties;
    use parquet::schema::types::ColumnPath;
    use rdbinsight_sink_api::keys::KeyCursor;

    /// A file another writer made, with front-coded keys and two delta-coded 64-bit integer
    /// columns, one of them unsigned: the signed one goes through the sink's own decoder, the
    /// unsigned one (an Arrow type that decoder does not make) through Arrow, and both come
    /// back as written.
    #[test]
    fn delta_coded_integers_of_other_types_are_read_through_arrow() {
        let dir = tempfile::tempdir().unwrap();
        let rows = 50u64;
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Binary, false),
            Field::new("signed", DataType::Int64, false),
            Field::new("unsigned", DataType::UInt64, false),
        ]));
        let keys: Vec<Vec<u8>> = (0..rows)
            .map(|i| format!("k:{i:04}").into_bytes())
            .collect();
        let signed: Vec<i64> = (0..rows as i64).map(|i| i * 7 - 100).collect();
        let unsigned: Vec<u64> = (0..rows).map(|i| u64::MAX - i * 3).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(BinaryArray::from_iter_values(keys.iter())),
                Arc::new(Int64Array::from(signed.clone())),
                Arc::new(UInt64Array::from(unsigned.clone())),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_encoding(Encoding::DELTA_BINARY_PACKED)
            .set_column_encoding(ColumnPath::from("key"), Encoding::DELTA_BYTE_ARRAY)
            .set_data_page_row_count_limit(10)
            .set_write_batch_size(10)
            .build();
        let file = File::create(dir.path().join("other.parquet")).unwrap();
        let mut writer = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let mut got_keys: Vec<Vec<u8>> = Vec::new();
        let mut got_signed: Vec<i64> = Vec::new();
        let mut got_unsigned: Vec<u64> = Vec::new();
        let mut cursor = KeyCursor::new();
        let columns = ["key", "signed", "unsigned"];
        for_each_batch_with_keys(dir.path(), &columns, &[], "key", |b, k| {
            cursor.walk(&k, |_, key, _| got_keys.push(key.to_vec()))?;
            assert!(b.column_by_name("key").is_none(), "keys read page by page");
            let column = |name: &str| b.column_by_name(name).unwrap().clone();
            let s = column("signed");
            got_signed.extend(s.as_any().downcast_ref::<Int64Array>().unwrap().values());
            let u = column("unsigned");
            got_unsigned.extend(u.as_any().downcast_ref::<UInt64Array>().unwrap().values());
            Ok(())
        })
        .unwrap();
        assert_eq!(got_keys, keys);
        assert_eq!(got_signed, signed);
        assert_eq!(got_unsigned, unsigned);
    }
}
