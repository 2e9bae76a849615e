//! Conformance harness: drives any sink through whole runs the way the core does.
//!
//! [`run_conformance`] commits a run with two instances written concurrently (the first through
//! the writer's row encoder when it offers one, the second through record batches), then
//! aborts a second run midway. The sink's own tests then check what is visible (e.g. files on
//! disk).

use anyhow::{ensure, Context, Result};
use arrow_array::RecordBatch;

use crate::{Committed, InstanceInfo, InstanceStats, RecordBuilder, Row, RunInfo, SinkConfig};

/// Names of the two instances the committed run writes.
pub const INSTANCES: [&str; 2] = ["10.0.0.1:6379", "10.0.0.2:6380"];
/// Rows written per instance of the committed run.
pub const ROWS_PER_INSTANCE: usize = 2500;
/// Rows per batch.
pub const BATCH_ROWS: usize = 1000;

/// What the harness did, for the sink's own assertions.
#[derive(Debug)]
pub struct ConformanceReport {
    /// The committed run.
    pub committed_run: RunInfo,
    /// What the sink reported at commit.
    pub committed: Committed,
    /// The aborted run (nothing of it may be visible).
    pub aborted_run: RunInfo,
}

/// A row of a string key (type `string`, encoding `raw`) without TTL, LRU/LFU or slot.
pub fn string_row(db: i64, key: &[u8], member_count: i64, rdb_size: i64) -> Row<'_> {
    Row {
        db,
        key,
        key_type: "string",
        member_count,
        rdb_size,
        encoding: "raw",
        expire_at_ms: None,
        idle_seconds: None,
        freq: None,
        codis_slot: None,
        redis_slot: None,
    }
}

/// The key of synthetic row `i`: `key:` and eight digits, a `0xff` byte after every seventh
/// (a binary, non-UTF-8 key).
pub fn sample_key(i: usize) -> Vec<u8> {
    let mut k = format!("key:{i:08}").into_bytes();
    if i.is_multiple_of(7) {
        k.push(0xff);
    }
    k
}

/// Synthetic row `i` with the key `key` ([`sample_key`]): three dbs, three types and
/// encodings, and null and non-null values of every nullable column but `codis_slot`.
pub fn sample_row(i: usize, key: &[u8]) -> Row<'_> {
    Row {
        db: (i % 3) as i64,
        key,
        key_type: ["string", "hash", "list"][i % 3],
        member_count: i as i64,
        rdb_size: 10 + i as i64,
        encoding: ["raw", "listpack", "quicklist"][i % 3],
        expire_at_ms: i.is_multiple_of(2).then_some(4_102_444_800_000 + i as i64),
        idle_seconds: i.is_multiple_of(5).then_some(i as i64),
        freq: i.is_multiple_of(4).then_some((i % 256) as i32),
        codis_slot: None,
        redis_slot: i.is_multiple_of(3).then_some((i % 16384) as i32),
    }
}

/// One batch of the synthetic rows `start..start+len` ([`sample_row`]) of `instance`.
pub fn sample_batch(run: &RunInfo, instance: &str, start: usize, len: usize) -> RecordBatch {
    let mut rows = RecordBuilder::new(&run.cluster, run.batch_unix_nanos, instance, len);
    for i in start..start + len {
        rows.append(&sample_row(i, &sample_key(i)));
    }
    rows.finish().expect("sample batch matches the schema")
}

/// How the harness hands an instance's rows to its writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Through the writer's row encoder when it offers one, as the core does.
    Encoder,
    /// Through record batches, without asking for an encoder.
    Batches,
}

async fn write_instance(
    sink: &dyn crate::Sink,
    run: &RunInfo,
    instance: &str,
    rows: usize,
    path: Path,
) -> Result<()> {
    let info = InstanceInfo {
        instance: instance.to_string(),
        source: format!("conformance:{instance}"),
    };
    let mut writer = sink
        .open_instance(&info)
        .await
        .with_context(|| format!("open_instance({instance})"))?;
    let mut encoder = match path {
        Path::Encoder => writer.row_encoder(),
        Path::Batches => None,
    };
    let mut start = 0;
    while start < rows {
        let len = BATCH_ROWS.min(rows - start);
        match &mut encoder {
            Some(encoder) => {
                for i in start..start + len {
                    encoder
                        .push(&sample_row(i, &sample_key(i)))
                        .with_context(|| format!("RowEncoder::push({instance})"))?;
                }
                ensure!(encoder.rows() == len, "RowEncoder::rows after {len} rows");
                let block = encoder.take().context("RowEncoder::take")?;
                ensure!(block.rows() == len, "a block of {len} rows");
                ensure!(encoder.rows() == 0, "RowEncoder::rows after take");
                writer
                    .write_rows(block)
                    .await
                    .with_context(|| format!("write_rows({instance})"))?;
            }
            None => writer
                .write_batch(&sample_batch(run, instance, start, len))
                .await
                .with_context(|| format!("write_batch({instance})"))?,
        }
        start += len;
        tokio::task::yield_now().await;
    }
    drop(encoder);
    let stats = InstanceStats {
        rows: rows as u64,
        rdb_bytes: 0,
        rdb_version: 12,
    };
    writer
        .finish(&stats)
        .await
        .with_context(|| format!("finish({instance})"))
}

/// Runs the lifecycle twice: a committed run of two concurrent instances, then a run whose
/// second instance is aborted and which is aborted as a whole.
pub async fn run_conformance(config: &dyn SinkConfig, cluster: &str) -> Result<ConformanceReport> {
    config.validate().context("validate")?;
    let serialized = serde_json_like(config);
    ensure!(!serialized.is_empty(), "config must serialize");

    let committed_run = RunInfo {
        cluster: cluster.to_string(),
        batch_unix_nanos: 1_767_225_600_123_456_789,
        tool_version: "conformance".to_string(),
    };
    let sink = config.open_run(&committed_run).await.context("open_run")?;
    let (a, b) = tokio::join!(
        write_instance(
            sink.as_ref(),
            &committed_run,
            INSTANCES[0],
            ROWS_PER_INSTANCE,
            Path::Encoder,
        ),
        write_instance(
            sink.as_ref(),
            &committed_run,
            INSTANCES[1],
            ROWS_PER_INSTANCE,
            Path::Batches,
        ),
    );
    a?;
    b?;
    let committed = sink.finish_run().await.context("finish_run")?;

    let aborted_run = RunInfo {
        batch_unix_nanos: committed_run.batch_unix_nanos + 1,
        ..committed_run.clone()
    };
    let sink = config
        .open_run(&aborted_run)
        .await
        .context("open_run (aborted run)")?;
    write_instance(sink.as_ref(), &aborted_run, INSTANCES[0], 10, Path::Batches).await?;
    let info = InstanceInfo {
        instance: INSTANCES[1].to_string(),
        source: "conformance".to_string(),
    };
    let mut writer = sink.open_instance(&info).await?;
    match writer.row_encoder() {
        Some(mut encoder) => {
            encoder.push(&sample_row(0, &sample_key(0)))?;
            writer.write_rows(encoder.take()?).await?;
            encoder.push(&sample_row(1, &sample_key(1)))?;
        }
        None => {
            writer
                .write_batch(&sample_batch(&aborted_run, INSTANCES[1], 0, 5))
                .await?
        }
    }
    writer.abort().await.context("abort")?;
    sink.abort_run().await.context("abort_run")?;

    Ok(ConformanceReport {
        committed_run,
        committed,
        aborted_run,
    })
}

/// Debug rendering is enough to prove the config is printable; serializing needs a format
/// crate the SDK does not depend on.
fn serde_json_like(config: &dyn SinkConfig) -> String {
    format!("{config:?}")
}
