//! `into-null`: counts the rows of a dump and discards them. For benchmarks (parse speed without
//! any output cost) and dry runs (does every snapshot read?). Nothing is written anywhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use rdbinsight_sink_api::{
    async_trait, register_sink, Aborted, Committed, InstanceInfo, InstanceStats, InstanceWriter,
    RecordBatch, RunInfo, Sink, SinkArgs, SinkConfig,
};
use serde::Serialize;

/// Flags of `into-null` (none).
#[derive(Debug, clap::Args)]
pub struct NullArgs {}

/// Configuration of the null sink (empty).
#[derive(Debug, Clone, Serialize)]
pub struct NullConfig {}

impl SinkArgs for NullArgs {
    fn into_config(self) -> Result<Box<dyn SinkConfig>> {
        Ok(Box::new(NullConfig {}))
    }
}

register_sink!(
    NullArgs,
    name = "null",
    about = "Count rows and discard them (benchmarks, dry runs)"
);

#[async_trait]
impl SinkConfig for NullConfig {
    fn sink_name(&self) -> &'static str {
        "null"
    }

    async fn open_run(&self, _run: &RunInfo) -> Result<Box<dyn Sink>> {
        Ok(Box::new(NullSink {
            rows: Arc::default(),
        }))
    }
}

struct NullSink {
    rows: Arc<AtomicU64>,
}

#[async_trait]
impl Sink for NullSink {
    async fn open_instance(&self, _instance: &InstanceInfo) -> Result<Box<dyn InstanceWriter>> {
        Ok(Box::new(NullWriter {
            rows: self.rows.clone(),
        }))
    }

    async fn finish_run(self: Box<Self>) -> Result<Committed> {
        let rows = self.rows.load(Ordering::Relaxed);
        Ok(Committed {
            location: format!("nowhere ({rows} rows discarded)"),
        })
    }

    async fn abort_run(self: Box<Self>) -> Result<Aborted> {
        Ok(Aborted::default())
    }
}

struct NullWriter {
    rows: Arc<AtomicU64>,
}

#[async_trait]
impl InstanceWriter for NullWriter {
    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn finish(self: Box<Self>, _stats: &InstanceStats) -> Result<()> {
        Ok(())
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdbinsight_sink_api::testing::{run_conformance, INSTANCES, ROWS_PER_INSTANCE};

    #[tokio::test]
    async fn conformance() {
        let report = run_conformance(&NullConfig {}, "c").await.unwrap();
        let want = format!(
            "nowhere ({} rows discarded)",
            INSTANCES.len() * ROWS_PER_INSTANCE
        );
        assert_eq!(report.committed.location, want);
    }
}
