//! Conformance harness: drives any sink through whole runs the way the core does.
//!
//! [`run_conformance`] commits a run with two instances written concurrently, then aborts a
//! second run midway. The sink's own tests then check what is visible (e.g. files on disk).

use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use arrow_array::builder::{
    BinaryBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
    TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};

use crate::{record_schema, Committed, InstanceInfo, InstanceStats, Row, RunInfo, SinkConfig};

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

/// One batch of synthetic rows for `instance`, rows `start..start+len`, covering null and
/// non-null values of every nullable column and binary (non-UTF-8) keys.
pub fn sample_batch(run: &RunInfo, instance: &str, start: usize, len: usize) -> RecordBatch {
    let mut cluster = StringBuilder::new();
    let mut batch = TimestampNanosecondBuilder::new().with_timezone(crate::schema::UTC);
    let mut inst = StringBuilder::new();
    let mut db = Int64Builder::new();
    let mut key = BinaryBuilder::new();
    let mut ty = StringBuilder::new();
    let mut members = Int64Builder::new();
    let mut size = Int64Builder::new();
    let mut enc = StringBuilder::new();
    let mut expire = TimestampMillisecondBuilder::new().with_timezone(crate::schema::UTC);
    let mut idle = Int64Builder::new();
    let mut freq = Int32Builder::new();
    let mut codis = Int32Builder::new();
    let mut slot = Int32Builder::new();
    for i in start..start + len {
        cluster.append_value(&run.cluster);
        batch.append_value(run.batch_unix_nanos);
        inst.append_value(instance);
        db.append_value((i % 3) as i64);
        let mut k = format!("key:{i:08}").into_bytes();
        if i % 7 == 0 {
            k.push(0xff);
        }
        key.append_value(&k);
        ty.append_value(["string", "hash", "list"][i % 3]);
        members.append_value(i as i64);
        size.append_value(10 + i as i64);
        enc.append_value(["raw", "listpack", "quicklist"][i % 3]);
        expire.append_option((i % 2 == 0).then_some(4_102_444_800_000 + i as i64));
        idle.append_option((i % 5 == 0).then_some(i as i64));
        freq.append_option((i % 4 == 0).then_some((i % 256) as i32));
        codis.append_null();
        slot.append_option((i % 3 == 0).then_some((i % 16384) as i32));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(cluster.finish()),
        Arc::new(batch.finish()),
        Arc::new(inst.finish()),
        Arc::new(db.finish()),
        Arc::new(key.finish()),
        Arc::new(ty.finish()),
        Arc::new(members.finish()),
        Arc::new(size.finish()),
        Arc::new(enc.finish()),
        Arc::new(expire.finish()),
        Arc::new(idle.finish()),
        Arc::new(freq.finish()),
        Arc::new(codis.finish()),
        Arc::new(slot.finish()),
    ];
    RecordBatch::try_new(record_schema(), columns).expect("sample batch matches the schema")
}

async fn write_instance(
    sink: &dyn crate::Sink,
    run: &RunInfo,
    instance: &str,
    rows: usize,
) -> Result<()> {
    let info = InstanceInfo {
        instance: instance.to_string(),
        source: format!("conformance:{instance}"),
    };
    let mut writer = sink
        .open_instance(&info)
        .await
        .with_context(|| format!("open_instance({instance})"))?;
    let mut start = 0;
    while start < rows {
        let len = BATCH_ROWS.min(rows - start);
        writer
            .write_batch(&sample_batch(run, instance, start, len))
            .await
            .with_context(|| format!("write_batch({instance})"))?;
        start += len;
        tokio::task::yield_now().await;
    }
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
            ROWS_PER_INSTANCE
        ),
        write_instance(
            sink.as_ref(),
            &committed_run,
            INSTANCES[1],
            ROWS_PER_INSTANCE
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
    write_instance(sink.as_ref(), &aborted_run, INSTANCES[0], 10).await?;
    let info = InstanceInfo {
        instance: INSTANCES[1].to_string(),
        source: "conformance".to_string(),
    };
    let mut writer = sink.open_instance(&info).await?;
    writer
        .write_batch(&sample_batch(&aborted_run, INSTANCES[1], 0, 5))
        .await?;
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
