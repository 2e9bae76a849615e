//! The run and instance lifecycle: temporary batch directory, one sorted file per instance,
//! manifest, and the final rename that publishes the batch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use parquet::basic::Encoding;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rdbinsight_sink_api::{
    async_trait, record_schema, schema, Aborted, Committed, InstanceInfo, InstanceStats,
    InstanceWriter, RecordBatch, RowBlock, RowEncoder, RunInfo, Sink, SinkConfig,
};
use serde::Serialize;
use tracing::{info, warn};

use crate::config::ParquetConfig;
use crate::path::{
    ensure_dir, format_batch_dir, fsync_dir, make_batch_dir, make_tmp_batch_dir,
    sanitize_instance_filename, sanitize_name, CLUSTER_PREFIX, PARQUET_EXT, TMP_EXT,
};
use crate::sort::{Constants, Names, SortBlock, SortEncoder, SortedColumns, Sorter};
use crate::write::ParallelWriter;

/// Name of the manifest file in a batch directory.
pub const MANIFEST: &str = "_manifest.json";
/// Largest row group, bytes.
const MAX_ROW_GROUP_BYTES: usize = 128 << 20;

#[async_trait]
impl SinkConfig for ParquetConfig {
    fn sink_name(&self) -> &'static str {
        "parquet"
    }

    fn validate(&self) -> Result<()> {
        self.check()
    }

    async fn open_run(&self, run: &RunInfo) -> Result<Box<dyn Sink>> {
        let slug = format_batch_dir(run.batch_unix_nanos);
        let cluster_dir = self
            .dir
            .join(format!("{CLUSTER_PREFIX}{}", sanitize_name(&run.cluster)));
        let tmp_dir = cluster_dir.join(make_tmp_batch_dir(&slug));
        let final_dir = cluster_dir.join(make_batch_dir(&slug));
        ensure_dir(&cluster_dir).with_context(|| {
            format!("parquet: cannot create directory {}", cluster_dir.display())
        })?;
        if final_dir.exists() {
            bail!(
                "parquet: batch directory {} already exists",
                final_dir.display()
            );
        }
        // create_dir (not _all): two runs can never share a temporary directory.
        std::fs::create_dir(&tmp_dir).with_context(|| {
            format!(
                "parquet: cannot create batch directory {}",
                tmp_dir.display()
            )
        })?;
        info!(operation = "open_run", dir = %tmp_dir.display(), cluster = %run.cluster, "parquet batch started");
        Ok(Box::new(ParquetRun {
            ctx: Arc::new(RunCtx {
                config: self.clone(),
                run: run.clone(),
                slug,
                cluster_dir,
                tmp_dir,
                final_dir,
                names: Mutex::new(BTreeSet::new()),
                finished: Mutex::new(Vec::new()),
            }),
        }))
    }
}

/// One instance's line in the manifest.
#[derive(Debug, Clone, Serialize)]
struct ManifestInstance {
    instance: String,
    file: String,
    source: String,
    rows: u64,
    rdb_bytes: u64,
    rdb_version: u32,
    parquet_bytes: u64,
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    cluster: &'a str,
    batch: &'a str,
    batch_unix_nanos: i64,
    tool_version: &'a str,
    sink: &'static str,
    config: &'a ParquetConfig,
    rows: u64,
    instances: &'a [ManifestInstance],
}

struct RunCtx {
    config: ParquetConfig,
    run: RunInfo,
    slug: String,
    cluster_dir: PathBuf,
    tmp_dir: PathBuf,
    final_dir: PathBuf,
    names: Mutex<BTreeSet<String>>,
    finished: Mutex<Vec<ManifestInstance>>,
}

impl RunCtx {
    /// A file stem for `instance` that no other instance of the run uses.
    fn claim_name(&self, instance: &str) -> Result<String> {
        let base = sanitize_instance_filename(instance);
        let mut names = self
            .names
            .lock()
            .map_err(|_| anyhow!("parquet: name table poisoned"))?;
        let mut name = base.clone();
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{base}~{n}");
            n += 1;
        }
        Ok(name)
    }

    fn writer_properties(&self) -> WriterProperties {
        let sorting = vec![
            SortingColumn {
                column_idx: 3,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: 4,
                descending: false,
                nulls_first: false,
            },
        ];
        WriterProperties::builder()
            .set_compression(self.config.compression.parquet())
            .set_max_row_group_row_count(Some(self.config.row_group_rows))
            .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_dictionary_enabled(true)
            .set_column_dictionary_enabled(ColumnPath::from(schema::KEY), false)
            .set_column_dictionary_enabled(ColumnPath::from(schema::DB), false)
            .set_column_dictionary_enabled(ColumnPath::from(schema::RDB_SIZE), false)
            .set_column_dictionary_enabled(ColumnPath::from(schema::MEMBER_COUNT), false)
            .set_column_dictionary_enabled(ColumnPath::from(schema::EXPIRE_AT), false)
            .set_column_dictionary_enabled(ColumnPath::from(schema::IDLE_SECONDS), false)
            .set_column_dictionary_enabled(ColumnPath::from(schema::REDIS_SLOT), false)
            .set_column_encoding(ColumnPath::from(schema::KEY), Encoding::DELTA_BYTE_ARRAY)
            .set_column_encoding(
                ColumnPath::from(schema::RDB_SIZE),
                Encoding::DELTA_BINARY_PACKED,
            )
            .set_column_encoding(
                ColumnPath::from(schema::MEMBER_COUNT),
                Encoding::DELTA_BINARY_PACKED,
            )
            .set_column_encoding(ColumnPath::from(schema::DB), Encoding::DELTA_BINARY_PACKED)
            .set_column_encoding(
                ColumnPath::from(schema::EXPIRE_AT),
                Encoding::DELTA_BINARY_PACKED,
            )
            .set_sorting_columns(Some(sorting))
            .set_created_by(format!("rdbinsight {}", self.run.tool_version))
            .build()
    }
}

struct ParquetRun {
    ctx: Arc<RunCtx>,
}

#[async_trait]
impl Sink for ParquetRun {
    async fn open_instance(&self, instance: &InstanceInfo) -> Result<Box<dyn InstanceWriter>> {
        let stem = self.ctx.claim_name(&instance.instance)?;
        let tmp_path = self.ctx.tmp_dir.join(format!("{stem}{TMP_EXT}"));
        let final_path = self.ctx.tmp_dir.join(format!("{stem}{PARQUET_EXT}"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .await
            .with_context(|| {
                format!(
                    "parquet: instance {}: cannot create {}",
                    instance.instance,
                    tmp_path.display()
                )
            })?;
        let spill_dir = self.ctx.tmp_dir.join(format!(".spill-{stem}"));
        let sorter = Sorter::new(self.ctx.config.max_memory as usize, spill_dir);
        let names = sorter.names();
        let (input, rx) = tokio::sync::mpsc::channel(SORT_QUEUE);
        let name = instance.instance.clone();
        let thread = std::thread::Builder::new()
            .name("rdbinsight-sort".into())
            .spawn(move || sort_thread(sorter, rx, &name))
            .context("parquet: cannot start the sort thread")?;
        info!(operation = "open_instance", instance = %instance.instance, path = %tmp_path.display(), "parquet writer opened");
        Ok(Box::new(ParquetInstance {
            ctx: self.ctx.clone(),
            info: instance.clone(),
            file: Some(file),
            stem,
            tmp_path,
            final_path,
            input: Some(input),
            thread: Some(thread),
            names,
            rows: 0,
        }))
    }

    async fn finish_run(self: Box<Self>) -> Result<Committed> {
        let ctx = &self.ctx;
        let mut instances = ctx
            .finished
            .lock()
            .map_err(|_| anyhow!("parquet: manifest poisoned"))?
            .clone();
        instances.sort_by(|a, b| a.instance.cmp(&b.instance));
        let manifest = Manifest {
            format: "rdbinsight-parquet-batch/1",
            cluster: &ctx.run.cluster,
            batch: &ctx.slug,
            batch_unix_nanos: ctx.run.batch_unix_nanos,
            tool_version: &ctx.run.tool_version,
            sink: "parquet",
            config: &ctx.config,
            rows: instances.iter().map(|i| i.rows).sum(),
            instances: &instances,
        };
        let path = ctx.tmp_dir.join(MANIFEST);
        let json = serde_json::to_vec_pretty(&manifest)?;
        write_durably(&path, &json).await?;
        fsync_dir(&ctx.tmp_dir)
            .with_context(|| format!("parquet: fsync {}", ctx.tmp_dir.display()))?;
        tokio::fs::rename(&ctx.tmp_dir, &ctx.final_dir)
            .await
            .with_context(|| {
                format!(
                    "parquet: cannot publish {} as {}",
                    ctx.tmp_dir.display(),
                    ctx.final_dir.display()
                )
            })?;
        fsync_dir(&ctx.cluster_dir)
            .with_context(|| format!("parquet: fsync {}", ctx.cluster_dir.display()))?;
        info!(operation = "publish", dir = %ctx.final_dir.display(), instances = instances.len(), "parquet batch published");
        Ok(Committed {
            location: ctx.final_dir.display().to_string(),
        })
    }

    async fn abort_run(self: Box<Self>) -> Result<Aborted> {
        warn!(
            operation = "abort_run",
            leftovers = %self.ctx.tmp_dir.display(),
            "parquet batch not published; partial files are kept for inspection"
        );
        Ok(Aborted {
            leftovers: Some(self.ctx.tmp_dir.display().to_string()),
        })
    }
}

async fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::File::create(path)
        .await
        .with_context(|| format!("parquet: cannot create {}", path.display()))?;
    f.write_all(bytes)
        .await
        .with_context(|| format!("parquet: cannot write {}", path.display()))?;
    f.sync_all()
        .await
        .with_context(|| format!("parquet: fsync {}", path.display()))?;
    Ok(())
}

/// Batches queued for an instance's sort thread.
const SORT_QUEUE: usize = 1;

/// What an instance's sort thread is told.
enum SortMsg {
    /// Rows to sort.
    Rows(RecordBatch),
    /// Rows to sort, already in the sort's form.
    Block(SortBlock),
    /// Every row has been sent: merge and send the sorted rows, by column, here.
    Finish(tokio::sync::mpsc::Sender<SortedColumns>),
}

/// Logs a spill when the sorter holds more runs than the `runs` it had.
fn note_spills(sorter: &Sorter, runs: usize, instance: &str) {
    if sorter.spilled_runs() > runs {
        info!(
            operation = "spill",
            instance,
            runs = sorter.spilled_runs(),
            "sort buffer spilled"
        );
    }
}

/// The body of an instance's sort thread: takes rows until told to finish (then emits the
/// sorted batches) or until its input closes (abort: spill files are removed).
fn sort_thread(
    mut sorter: Sorter,
    mut rx: tokio::sync::mpsc::Receiver<SortMsg>,
    instance: &str,
) -> Result<()> {
    let mut receive = || {
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                SortMsg::Rows(batch) => {
                    let runs = sorter.spilled_runs();
                    sorter.push(&batch)?;
                    note_spills(&sorter, runs, instance);
                }
                SortMsg::Block(block) => {
                    let runs = sorter.spilled_runs();
                    sorter.push_block(block)?;
                    note_spills(&sorter, runs, instance);
                }
                SortMsg::Finish(out) => {
                    return sorter.finish_sorted(|b| {
                        out.blocking_send(b)
                            .map_err(|_| anyhow!("parquet writer stopped"))
                    });
                }
            }
        }
        Ok(())
    };
    let result = receive();
    sorter.cleanup();
    result.with_context(|| format!("sorting the rows of {instance}"))
}

struct ParquetInstance {
    ctx: Arc<RunCtx>,
    info: InstanceInfo,
    file: Option<tokio::fs::File>,
    stem: String,
    tmp_path: PathBuf,
    final_path: PathBuf,
    input: Option<tokio::sync::mpsc::Sender<SortMsg>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    /// The sorter's name codes, for the row encoder.
    names: Names,
    rows: u64,
}

impl ParquetInstance {
    /// Hands `msg` (of `rows` rows) to the sort thread.
    async fn send(&mut self, msg: SortMsg, rows: usize) -> Result<()> {
        let input = self.input.as_ref().context("parquet: write after finish")?;
        self.rows += rows as u64;
        if input.send(msg).await.is_err() {
            self.join_sorter()
                .await
                .with_context(|| format!("parquet: instance {}", self.info.instance))?;
            bail!(
                "parquet: instance {}: the sort thread stopped early",
                self.info.instance
            );
        }
        Ok(())
    }

    /// Closes the sort thread's input and waits for it; its error, if any.
    async fn join_sorter(&mut self) -> Result<()> {
        self.input = None;
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| anyhow!("sort thread lost: {e}"))?
            .map_err(|_| anyhow!("sort thread panicked"))?
    }

    async fn write_sorted(&mut self) -> Result<u64> {
        let input = self
            .input
            .take()
            .context("parquet: instance already finished")?;
        let file = self
            .file
            .take()
            .context("parquet: instance already finished")?
            .into_std()
            .await;
        let props = self.ctx.writer_properties();
        let path = self.tmp_path.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SortedColumns>(2);
        if input.send(SortMsg::Finish(tx)).await.is_err() {
            self.join_sorter().await?;
            bail!("the sort thread stopped early");
        }
        drop(input);
        // Encoding is CPU work: on a blocking thread (and a helper thread of its own).
        let written = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut writer = ParallelWriter::try_new(file, record_schema(), props)?;
            while let Some(rows) = rx.blocking_recv() {
                writer
                    .write_sorted(&rows)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            writer
                .close()
                .with_context(|| format!("cannot finish {}", path.display()))
        })
        .await
        .map_err(|e| anyhow!("Parquet writer thread failed: {e}"));
        let sorted = self.join_sorter().await;
        // A writer error stops the sorter too: it is the cause, report it first.
        written??;
        sorted?;
        let f = std::fs::File::open(&self.tmp_path)
            .with_context(|| format!("cannot reopen {}", self.tmp_path.display()))?;
        f.sync_all()
            .with_context(|| format!("fsync {}", self.tmp_path.display()))?;
        Ok(f.metadata()?.len())
    }
}

#[async_trait]
impl InstanceWriter for ParquetInstance {
    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.send(SortMsg::Rows(batch.clone()), batch.num_rows())
            .await
    }

    /// Rows put in the sort's form as they are read: the sort thread only appends them.
    fn row_encoder(&mut self) -> Option<Box<dyn RowEncoder>> {
        let run = &self.ctx.run;
        let constants = Constants::new(&run.cluster, run.batch_unix_nanos, &self.info.instance);
        Some(Box::new(SortEncoder::new(constants, self.names.clone())))
    }

    async fn write_rows(&mut self, block: RowBlock) -> Result<()> {
        let rows = block.rows();
        let block = block.into_inner::<SortBlock>().map_err(|_| {
            anyhow!(
                "parquet: instance {}: a block of rows not made by this sink's encoder",
                self.info.instance
            )
        })?;
        self.send(SortMsg::Block(block), rows).await
    }

    async fn finish(mut self: Box<Self>, stats: &InstanceStats) -> Result<()> {
        let bytes = self
            .write_sorted()
            .await
            .with_context(|| format!("parquet: instance {}", self.info.instance))?;
        tokio::fs::rename(&self.tmp_path, &self.final_path)
            .await
            .with_context(|| {
                format!(
                    "parquet: instance {}: cannot rename {} to {}",
                    self.info.instance,
                    self.tmp_path.display(),
                    self.final_path.display()
                )
            })?;
        info!(operation = "finish_instance", instance = %self.info.instance, rows = self.rows, path = %self.final_path.display(), "parquet file finished");
        let entry = ManifestInstance {
            instance: self.info.instance.clone(),
            file: format!("{}{PARQUET_EXT}", self.stem),
            source: self.info.source.clone(),
            rows: self.rows,
            rdb_bytes: stats.rdb_bytes,
            rdb_version: stats.rdb_version,
            parquet_bytes: bytes,
        };
        self.ctx
            .finished
            .lock()
            .map_err(|_| anyhow!("parquet: manifest poisoned"))?
            .push(entry);
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        // Closing the input makes the sort thread remove its spill files.
        let _ = self.join_sorter().await;
        Ok(())
    }
}
