//! The dump pipeline: every instance parsed on a blocking thread, its rows handed to the sink's
//! instance writer through a bounded channel (as record batches, or as blocks of the writer's
//! own row encoder when it offers one), instances run concurrently, the run
//! committed only when every instance finished.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use rdbinsight_sink_api::{Committed, InstanceInfo, InstanceStats, RunInfo, Sink, SinkConfig};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::batch::{BatchBuilder, Rows};
use crate::parser::chunks::{Chunk, ChunkSource};
use crate::parser::{self, ParseOptions, RedisSlots};
use crate::progress::{InstanceCounters, RunCounters, State};
use crate::source::InstanceSpec;
use crate::source::SlotMode;

/// Batches (or blocks) in flight per instance between the parser and the sink.
const CHANNEL_BATCHES: usize = 2;

/// Everything a dump needs besides the sink.
pub struct DumpPlan {
    /// The run (cluster, batch time).
    pub run: RunInfo,
    /// The instances to read.
    pub instances: Vec<InstanceSpec>,
    /// Parser settings.
    pub parse: ParseOptions,
    /// Rows per batch.
    pub batch_rows: usize,
    /// Instances read at once.
    pub concurrency: usize,
    /// Becomes `true` when the user asks the run to stop (Ctrl-C, SIGTERM).
    pub interrupt: Option<tokio::sync::watch::Receiver<bool>>,
}

impl DumpPlan {
    /// Fresh counters for this plan's instances, in order, written to `sink`.
    pub fn counters(&self, sink: &str) -> Arc<RunCounters> {
        Arc::new(RunCounters::new(
            sink,
            self.instances.iter().map(|i| (i.name.clone(), i.size_hint)),
        ))
    }
}

/// The run was stopped by a signal.
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Resolves when the interrupt flag turns true (never, without a receiver).
async fn wait_for(rx: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match rx {
        Some(rx) => {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Watches Ctrl-C and SIGTERM: the first sets the flag (the run aborts its sinks), a second
/// exits at once with code 130.
pub fn watch_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    warn!(operation = "signals", error = %e, "cannot watch SIGTERM");
                    return;
                }
            };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                eprintln!("interrupted: stopping every instance and aborting the sink (again to quit at once)");
                let _ = tx.send(true);
            } else {
                std::process::exit(crate::EXIT_INTERRUPTED);
            }
        }
    });
    rx
}

/// What a finished dump did.
#[derive(Debug)]
pub struct DumpOutcome {
    /// Where the sink published the run.
    pub committed: Committed,
    /// Per instance: name and stats.
    pub instances: Vec<(String, InstanceStats)>,
}

/// Runs the whole dump; on any failure the sink's run is aborted and nothing is published.
/// `counters` are the plan's ([`DumpPlan::counters`]), updated as the run goes.
pub async fn run(
    plan: DumpPlan,
    config: &dyn SinkConfig,
    counters: &RunCounters,
) -> Result<DumpOutcome> {
    anyhow::ensure!(
        counters.instances.len() == plan.instances.len(),
        "internal: {} counters for {} instances",
        counters.instances.len(),
        plan.instances.len()
    );
    let sink_name = config.sink_name();
    config
        .validate()
        .with_context(|| format!("invalid configuration of sink {sink_name}"))?;
    let sink: Arc<Box<dyn Sink>> = Arc::new(
        config
            .open_run(&plan.run)
            .await
            .with_context(|| format!("sink {sink_name}: cannot open the run"))?,
    );
    let limit = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let parse = Arc::new(plan.parse);
    let mut tasks = JoinSet::new();
    for (spec, counters) in plan.instances.into_iter().zip(&counters.instances) {
        let counters = counters.clone();
        let sink = sink.clone();
        let limit = limit.clone();
        let parse = parse.clone();
        let run = plan.run.clone();
        let batch_rows = plan.batch_rows;
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.map_err(|e| anyhow!("{e}"))?;
            let name = spec.name.clone();
            counters.set_state(State::Running);
            let result = dump_instance(
                sink.as_ref().as_ref(),
                &run,
                spec,
                parse,
                batch_rows,
                &counters,
            )
            .await
            .with_context(|| format!("instance {name}"));
            counters.set_state(if result.is_ok() {
                State::Done
            } else {
                State::Failed
            });
            Ok::<_, anyhow::Error>((name, result?))
        });
    }
    let mut done = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut interrupt = plan.interrupt;
    loop {
        let joined = tokio::select! {
            joined = tasks.join_next() => joined,
            _ = wait_for(&mut interrupt), if failure.is_none() => {
                tasks.abort_all();
                failure = Some(anyhow::Error::new(Interrupted));
                continue;
            }
        };
        let Some(joined) = joined else { break };
        match joined
            .map_err(|e| anyhow!("instance task failed: {e}"))
            .and_then(|r| r)
        {
            Ok(r) => done.push(r),
            Err(e) => {
                if failure.is_none() {
                    tasks.abort_all();
                    failure = Some(e);
                }
            }
        }
    }
    let sink = Arc::try_unwrap(sink)
        .map_err(|_| anyhow!("internal: sink still shared after the instances ended"))?;
    if let Some(e) = failure {
        for c in &counters.instances {
            if c.state() == State::Running {
                c.set_state(State::Failed);
            }
        }
        let leftovers = match sink.abort_run().await {
            Ok(aborted) => aborted
                .leftovers
                .map(|l| format!(" (partial output kept for inspection in {l})")),
            Err(abort) => {
                warn!(operation = "abort_run", sink = sink_name, error = %format!("{abort:#}"), "aborting the run failed");
                None
            }
        };
        return Err(e.context(format!(
            "dump failed; sink {sink_name} published nothing{}",
            leftovers.unwrap_or_default()
        )));
    }
    let committed = sink
        .finish_run()
        .await
        .with_context(|| format!("sink {sink_name}: cannot publish the run"))?;
    done.sort_by(|a, b| a.0.cmp(&b.0));
    info!(operation = "commit", sink = sink_name, location = %committed, instances = done.len(), "run published");
    Ok(DumpOutcome {
        committed,
        instances: done,
    })
}

/// Counts the bytes pulled from a stream.
struct Counting<S> {
    inner: S,
    bytes: Arc<AtomicU64>,
}

impl<S: ChunkSource> ChunkSource for Counting<S> {
    fn next_chunk(&mut self) -> std::io::Result<Chunk> {
        let chunk = self.inner.next_chunk()?;
        self.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Ok(chunk)
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.inner.recycle(buf)
    }
}

async fn dump_instance(
    sink: &dyn Sink,
    run: &RunInfo,
    spec: InstanceSpec,
    parse: Arc<ParseOptions>,
    batch_rows: usize,
    counters: &InstanceCounters,
) -> Result<InstanceStats> {
    let info = InstanceInfo {
        instance: spec.name.clone(),
        source: spec.origin.clone(),
    };
    let mut writer = sink.open_instance(&info).await?;
    info!(operation = "instance_start", instance = %spec.name, origin = %spec.origin, "reading");
    let (tx, mut rx) = mpsc::channel::<Rows>(CHANNEL_BATCHES);
    let encoder = writer.row_encoder();
    let bytes = counters.bytes.clone();
    let counter = bytes.clone();
    let cluster = run.cluster.clone();
    let batch_nanos = run.batch_unix_nanos;
    let name = spec.name.clone();
    let origin = spec.origin.clone();
    let open = spec.open;
    let mut options = (*parse).clone();
    match spec.slots {
        SlotMode::FromFile => {}
        SlotMode::Redis => options.redis_slots = RedisSlots::Always,
        SlotMode::Codis => options.codis_slots = true,
    }
    let parser = tokio::task::spawn_blocking(move || -> Result<parser::Summary> {
        let reader = open()?;
        let reader = Counting {
            inner: reader,
            bytes: counter,
        };
        let emit = |rows| {
            tx.blocking_send(rows)
                .map_err(|_| anyhow!("the sink stopped receiving rows"))
        };
        let mut builder = match encoder {
            Some(encoder) => BatchBuilder::encoding(encoder, batch_rows, emit),
            None => BatchBuilder::new(&cluster, &name, batch_nanos, batch_rows, emit),
        };
        let summary = parser::parse_chunks(reader, &options, &mut builder)
            .with_context(|| format!("reading {origin}"))?;
        builder.flush()?;
        Ok(summary)
    });
    let mut write_error = None;
    while let Some(rows) = rx.recv().await {
        let started = std::time::Instant::now();
        let len = rows.len();
        let written = match rows {
            Rows::Batch(batch) => writer.write_batch(&batch).await,
            Rows::Block(block) => writer.write_rows(block).await,
        };
        if let Err(e) = written {
            write_error = Some(e);
            break;
        }
        counters.add_batch(len, started.elapsed());
    }
    drop(rx);
    let parsed = parser
        .await
        .map_err(|e| anyhow!("parser thread failed: {e}"));
    let result = match (write_error, parsed) {
        (Some(e), _) => Err(e),
        (None, Err(e)) | (None, Ok(Err(e))) => Err(e),
        (None, Ok(Ok(summary))) => Ok(summary),
    };
    match result {
        Ok(summary) => {
            let stats = InstanceStats {
                rows: summary.keys(),
                rdb_bytes: bytes.load(Ordering::Relaxed),
                rdb_version: summary.rdb_version,
            };
            writer.finish(&stats).await?;
            info!(operation = "instance_finish", instance = %spec.name, rows = stats.rows, bytes = stats.rdb_bytes, rdb_version = stats.rdb_version, "instance finished");
            Ok(stats)
        }
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                warn!(operation = "abort_instance", instance = %spec.name, error = %format!("{abort:#}"), "aborting the writer failed");
            }
            Err(e)
        }
    }
}
