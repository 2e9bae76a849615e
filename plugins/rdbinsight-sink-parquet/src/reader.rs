//! Reading a published batch back (for reports): find the batch directory of a cluster and
//! stream every instance file's record batches, one file at a time.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
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
/// not decoded.
pub fn for_each_batch(
    batch_dir: &Path,
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    for file in batch_files(batch_dir)? {
        let builder = ParquetRecordBatchReaderBuilder::try_new(
            File::open(&file).with_context(|| format!("cannot open {}", file.display()))?,
        )
        .with_context(|| format!("cannot read {}", file.display()))?
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
