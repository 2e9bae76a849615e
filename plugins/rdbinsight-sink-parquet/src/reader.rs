//! Reading a published batch back (for reports): find the batch directory of a cluster and
//! stream every instance file's record batches, one file at a time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use crate::path::{sanitize_name, BATCH_PREFIX, CLUSTER_PREFIX, PARQUET_EXT};

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
        let input = File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
        let metadata = ArrowReaderMetadata::load(&input, ArrowReaderOptions::new())
            .with_context(|| format!("cannot read {}", file.display()))?;
        let schema = with_dictionaries(metadata.schema(), as_dictionary);
        let metadata = ArrowReaderMetadata::try_new(
            metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(schema),
        )
        .with_context(|| format!("cannot read {}", file.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(input, metadata)
            .with_batch_size(65_536);
        let builder = if columns.is_empty() {
            builder
        } else {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder.with_projection(mask)
        };
        let reader = builder.build()?;
        for batch in reader {
            f(&batch.with_context(|| format!("cannot read {}", file.display()))?)?;
        }
    }
    Ok(())
}

/// `schema` with its `Utf8` fields named in `names` turned into `Dictionary(Int32, Utf8)`.
fn with_dictionaries(schema: &SchemaRef, names: &[&str]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if names.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                let dict =
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                f.as_ref().clone().with_data_type(dict)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
