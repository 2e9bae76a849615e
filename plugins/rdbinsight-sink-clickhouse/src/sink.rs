//! The run and per-instance writers: blocks are inserted into the raw table while the snapshot
//! is read (one block in flight per instance), the completion marker only after every
//! instance's rows are acknowledged and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rdbinsight_sink_api::{
    async_trait, Aborted, Committed, InstanceInfo, InstanceStats, InstanceWriter, RecordBatch,
    RunInfo, Sink, SinkConfig,
};
use tokio::task::JoinHandle;

use crate::client::{Client, Request};
use crate::config::{ClickhouseConfig, Compression};
use crate::encode::BlockEncoder;
use crate::schema::{self, qualified, RAW_COLUMNS};
use crate::setup;

/// Runs blocking client work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| anyhow!("ClickHouse worker failed: {e}"))?
}

#[async_trait]
impl SinkConfig for ClickhouseConfig {
    fn sink_name(&self) -> &'static str {
        "clickhouse"
    }

    fn validate(&self) -> Result<()> {
        self.check()
    }

    async fn open_run(&self, run: &RunInfo) -> Result<Box<dyn Sink>> {
        let client = Arc::new(self.client()?);
        let (create, ttl) = (self.auto_create_tables, self.ttl_days);
        let (c, cluster, batch) = (client.clone(), run.cluster.clone(), run.batch_unix_nanos);
        blocking(move || {
            setup::ensure_schema(&c, create, ttl)?;
            setup::prepare_batch(&c, &cluster, batch)
        })
        .await?;
        let nonce = format!(
            "{:x}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let insert_sql = format!(
            "INSERT INTO {} ({}) FORMAT ArrowStream",
            qualified(&client.url().database, schema::RAW_TABLE),
            RAW_COLUMNS
                .iter()
                .map(|(n, _)| schema::ident(n))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Box::new(ClickhouseSink {
            insert_sql: Arc::new(insert_sql),
            client,
            run: run.clone(),
            nonce,
            block_rows: self.insert_block_rows,
            compression: self.compression,
            instances: Arc::new(AtomicU64::new(0)),
            rows: Arc::new(AtomicU64::new(0)),
        }))
    }
}

struct ClickhouseSink {
    client: Arc<Client>,
    /// The INSERT statement of every block, shared by the writers.
    insert_sql: Arc<String>,
    run: RunInfo,
    nonce: String,
    block_rows: u64,
    compression: Compression,
    instances: Arc<AtomicU64>,
    rows: Arc<AtomicU64>,
}

impl ClickhouseSink {
    fn batch_label(&self) -> String {
        format!(
            "cluster {:?} batch {}",
            self.run.cluster, self.run.batch_unix_nanos
        )
    }
}

#[async_trait]
impl Sink for ClickhouseSink {
    async fn open_instance(&self, instance: &InstanceInfo) -> Result<Box<dyn InstanceWriter>> {
        Ok(Box::new(ClickhouseWriter {
            client: self.client.clone(),
            instance: instance.instance.clone(),
            token_prefix: format!(
                "rdbinsight-{}-{:016x}",
                self.nonce,
                rdbinsight_sink_api::names::fnv1a64(instance.instance.as_bytes())
            ),
            insert_sql: self.insert_sql.clone(),
            block_rows: self.block_rows,
            compression: self.compression,
            pending: None,
            in_flight: None,
            blocks: 0,
            rows_sent: 0,
            run_instances: self.instances.clone(),
            run_rows: self.rows.clone(),
        }))
    }

    async fn finish_run(self: Box<Self>) -> Result<Committed> {
        let client = self.client.clone();
        let (cluster, batch) = (self.run.cluster.clone(), self.run.batch_unix_nanos);
        let instances = self.instances.load(Ordering::SeqCst);
        let rows = self.rows.load(Ordering::SeqCst);
        let version = self.run.tool_version.clone();
        let label = self.batch_label();
        blocking(move || {
            let stored = setup::count_batch(&client, schema::RAW_TABLE, &cluster, batch)?;
            if stored != rows {
                bail!(
                    "ClickHouse holds {stored} rows of {label} but {rows} were read; no completion marker written"
                );
            }
            let database = &client.url().database;
            let sql = format!(
                "INSERT INTO {} (cluster, batch, instances, rows, completed_at, tool_version) \
                 SELECT {{cluster:String}}, fromUnixTimestamp64Nano({{batch:Int64}}, 'UTC'), \
                 {{instances:UInt32}}, {{rows:UInt64}}, now64(3, 'UTC'), {{version:String}}",
                qualified(database, schema::COMPLETED_TABLE)
            );
            let req = setup::batch_params(Request::sql(&sql), &cluster, batch)
                .param("instances", instances)
                .param("rows", rows)
                .param("version", &version);
            client
                .execute(&req)
                .context("inserting the completion marker")?;
            Ok(format!(
                "ClickHouse {} ({label}, {rows} rows)",
                qualified(database, schema::VIEW)
            ))
        })
        .await
        .map(|location| Committed { location })
    }

    async fn abort_run(self: Box<Self>) -> Result<Aborted> {
        let client = self.client.clone();
        let (cluster, batch) = (self.run.cluster.clone(), self.run.batch_unix_nanos);
        let label = self.batch_label();
        let raw = qualified(&client.url().database, schema::RAW_TABLE);
        let deleted = blocking(move || setup::delete_batch(&client, &cluster, batch)).await;
        match deleted {
            Ok(()) => Ok(Aborted::default()),
            Err(e) => {
                tracing::warn!(operation = "abort_run", error = %format!("{e:#}"), "could not delete the aborted batch's rows");
                Ok(Aborted {
                    leftovers: Some(format!(
                        "{raw} as the rows of {label}, invisible without a completion marker; \
                         a re-run with --batch {} replaces them",
                        self.run.batch_unix_nanos
                    )),
                })
            }
        }
    }
}

struct ClickhouseWriter {
    client: Arc<Client>,
    instance: String,
    token_prefix: String,
    insert_sql: Arc<String>,
    block_rows: u64,
    compression: Compression,
    pending: Option<BlockEncoder>,
    in_flight: Option<JoinHandle<Result<u64>>>,
    blocks: u64,
    rows_sent: u64,
    run_instances: Arc<AtomicU64>,
    run_rows: Arc<AtomicU64>,
}

impl ClickhouseWriter {
    async fn wait_in_flight(&mut self) -> Result<()> {
        if let Some(task) = self.in_flight.take() {
            let rows = task
                .await
                .map_err(|e| anyhow!("ClickHouse insert task failed: {e}"))??;
            self.rows_sent += rows;
        }
        Ok(())
    }

    /// Sends the pending block; at most one block per instance is in flight.
    async fn flush(&mut self) -> Result<()> {
        let Some(block) = self.pending.take() else {
            return Ok(());
        };
        let rows = block.rows();
        let body = block.finish()?;
        self.wait_in_flight().await?;
        let token = format!("{}-{}", self.token_prefix, self.blocks);
        self.blocks += 1;
        let client = self.client.clone();
        let sql = self.insert_sql.clone();
        let encoding = self.compression.content_encoding();
        let instance = self.instance.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let mut req = Request::sql(&sql).setting("insert_deduplication_token", &token);
            req.data = Some(&body);
            req.content_encoding = encoding;
            client
                .execute(&req)
                .with_context(|| format!("inserting {rows} rows of {instance}"))?;
            Ok(rows)
        }));
        Ok(())
    }
}

#[async_trait]
impl InstanceWriter for ClickhouseWriter {
    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.pending.is_none() {
            self.pending = Some(BlockEncoder::new(self.compression)?);
        }
        let full = match self.pending.as_mut() {
            Some(block) => {
                block.push(batch)?;
                block.rows() >= self.block_rows
            }
            None => false,
        };
        if full {
            self.flush().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>, stats: &InstanceStats) -> Result<()> {
        self.flush().await?;
        self.wait_in_flight().await?;
        if self.rows_sent != stats.rows {
            bail!(
                "ClickHouse: {} rows of {} acknowledged, {} read",
                self.rows_sent,
                self.instance,
                stats.rows
            );
        }
        self.run_instances.fetch_add(1, Ordering::SeqCst);
        self.run_rows.fetch_add(self.rows_sent, Ordering::SeqCst);
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.pending = None;
        if let Some(task) = self.in_flight.take() {
            task.abort();
        }
        Ok(())
    }
}
