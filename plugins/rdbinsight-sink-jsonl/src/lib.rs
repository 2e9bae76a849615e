//! `into-jsonl`: one JSON object per key, one key per line, to a file or stdout.
//!
//! This crate is the example a third-party sink author copies: it depends on nothing but the
//! SDK (`rdbinsight-sink-api`) and arrow's JSON writer. Wire format: the columns of the record
//! schema as JSON fields; `key` (binary) as a hex string; timestamps as RFC 3339 text.
//!
//! A file is written as `<path>.tmp-<pid>` and renamed to `<path>` when the run commits, so
//! readers never see half a run. `--out -` streams to stdout as rows arrive (not atomic).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rdbinsight_sink_api::{
    async_trait, register_sink, Aborted, Committed, InstanceInfo, InstanceStats, InstanceWriter,
    RecordBatch, RunInfo, Sink, SinkArgs, SinkConfig,
};
use serde::Serialize;

/// Flags of `into-jsonl`.
#[derive(Debug, clap::Args)]
pub struct JsonlArgs {
    /// Output file, or `-` for stdout.
    #[arg(long, value_name = "PATH")]
    pub out: String,
}

/// Resolved configuration of the JSON-lines sink.
#[derive(Debug, Clone, Serialize)]
pub struct JsonlConfig {
    /// Output file; `None` is stdout.
    pub out: Option<PathBuf>,
}

impl SinkArgs for JsonlArgs {
    fn into_config(self) -> Result<Box<dyn SinkConfig>> {
        let out = (self.out != "-").then(|| PathBuf::from(self.out));
        Ok(Box::new(JsonlConfig { out }))
    }
}

register_sink!(
    JsonlArgs,
    name = "jsonl",
    about = "JSON lines, one object per key, to a file or stdout"
);

enum Target {
    Stdout,
    File {
        tmp: PathBuf,
        path: PathBuf,
        file: std::fs::File,
    },
}

type Shared = Arc<Mutex<std::io::BufWriter<Box<dyn Write + Send>>>>;

#[async_trait]
impl SinkConfig for JsonlConfig {
    fn sink_name(&self) -> &'static str {
        "jsonl"
    }

    fn validate(&self) -> Result<()> {
        if let Some(p) = &self.out {
            anyhow::ensure!(
                p.file_name().is_some(),
                "--out {} does not name a file",
                p.display()
            );
        }
        Ok(())
    }

    async fn open_run(&self, _run: &RunInfo) -> Result<Box<dyn Sink>> {
        let (target, writer): (Target, Box<dyn Write + Send>) = match &self.out {
            None => (Target::Stdout, Box::new(std::io::stdout())),
            Some(path) => {
                let tmp = tmp_path(path);
                let file = std::fs::File::create(&tmp)
                    .with_context(|| format!("jsonl: cannot create {}", tmp.display()))?;
                let clone = file
                    .try_clone()
                    .with_context(|| format!("jsonl: {}", tmp.display()))?;
                (
                    Target::File {
                        tmp,
                        path: path.clone(),
                        file,
                    },
                    Box::new(clone),
                )
            }
        };
        Ok(Box::new(JsonlSink {
            target,
            out: Arc::new(Mutex::new(std::io::BufWriter::with_capacity(
                1 << 16,
                writer,
            ))),
        }))
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

struct JsonlSink {
    target: Target,
    out: Shared,
}

#[async_trait]
impl Sink for JsonlSink {
    async fn open_instance(&self, instance: &InstanceInfo) -> Result<Box<dyn InstanceWriter>> {
        Ok(Box::new(JsonlWriter {
            instance: instance.instance.clone(),
            out: self.out.clone(),
        }))
    }

    async fn finish_run(self: Box<Self>) -> Result<Committed> {
        self.out
            .lock()
            .map_err(|_| anyhow::anyhow!("jsonl: writer poisoned"))?
            .flush()
            .context("jsonl: flush")?;
        match self.target {
            Target::Stdout => Ok(Committed {
                location: "stdout".into(),
            }),
            Target::File { tmp, path, file } => {
                file.sync_all()
                    .with_context(|| format!("jsonl: fsync {}", tmp.display()))?;
                std::fs::rename(&tmp, &path).with_context(|| {
                    format!("jsonl: rename {} to {}", tmp.display(), path.display())
                })?;
                Ok(Committed {
                    location: path.display().to_string(),
                })
            }
        }
    }

    async fn abort_run(self: Box<Self>) -> Result<Aborted> {
        if let Target::File { tmp, .. } = &self.target {
            std::fs::remove_file(tmp)
                .with_context(|| format!("jsonl: remove {}", tmp.display()))?;
        }
        Ok(Aborted::default())
    }
}

struct JsonlWriter {
    instance: String,
    out: Shared,
}

#[async_trait]
impl InstanceWriter for JsonlWriter {
    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        // Encode outside the lock, write under it: instances interleave by whole batches.
        let batch = with_offset_timezones(batch)?;
        let mut buf = Vec::with_capacity(batch.num_rows() * 200);
        {
            let mut w = arrow_json::LineDelimitedWriter::new(&mut buf);
            w.write(&batch)
                .with_context(|| format!("jsonl: encoding rows of {}", self.instance))?;
            w.finish()?;
        }
        let mut out = self
            .out
            .lock()
            .map_err(|_| anyhow::anyhow!("jsonl: writer poisoned"))?;
        out.write_all(&buf)
            .with_context(|| format!("jsonl: writing rows of {}", self.instance))
    }

    async fn finish(self: Box<Self>, _stats: &InstanceStats) -> Result<()> {
        Ok(())
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The JSON writer formats timestamps only with offset time zones (`+00:00`), not names
/// (`UTC`); the values are the same instants.
fn with_offset_timezones(batch: &RecordBatch) -> Result<RecordBatch> {
    use arrow_array::{make_array, ArrayRef};
    use arrow_schema::{DataType, Field, Schema};
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(unit, Some(_)) => {
                let dt = DataType::Timestamp(*unit, Some("+00:00".into()));
                let data = column
                    .to_data()
                    .into_builder()
                    .data_type(dt.clone())
                    .build()?;
                columns.push(make_array(data));
                fields.push(Field::new(field.name(), dt, field.is_nullable()));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdbinsight_sink_api::testing::{run_conformance, INSTANCES, ROWS_PER_INSTANCE};

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let cfg = JsonlConfig {
            out: Some(path.clone()),
        };
        let report = run_conformance(&cfg, "c1").await.unwrap();
        assert_eq!(report.committed.location, path.display().to_string());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), INSTANCES.len() * ROWS_PER_INSTANCE);
        for line in text.lines().take(3) {
            assert!(
                line.starts_with('{') && line.contains("\"cluster\":\"c1\""),
                "{line}"
            );
            assert!(
                line.contains("\"batch\":\"2026-01-01T00:00:00.123456789Z\""),
                "{line}"
            );
        }
        // The aborted run left no temporary file behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.jsonl")]);
    }
}
