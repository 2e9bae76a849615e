//! The sink lifecycle: a configuration opens a run, a run opens one writer per instance.
//!
//! ```text
//! parse flags (pure) -> SinkConfig::validate (pure) -> SinkConfig::open_run
//!   -> per instance, concurrently: Sink::open_instance -> InstanceWriter::row_encoder
//!                                  -> InstanceWriter::write_batch x N (no encoder)
//!                                     | InstanceWriter::write_rows x N (blocks of the encoder)
//!                                  -> InstanceWriter::finish | InstanceWriter::abort
//!   -> Sink::finish_run (the commit point) | Sink::abort_run
//! ```
//!
//! The contract every sink keeps:
//! - Nothing of a run is visible to readers before [`Sink::finish_run`] returns `Ok`.
//! - After [`Sink::abort_run`], or when the process dies at any moment, nothing of the run is
//!   visible either (leftovers may stay for inspection, but never where readers look).
//! - [`Sink::finish_run`] is called only after every opened instance finished successfully;
//!   if any instance failed, the core aborts the others and calls [`Sink::abort_run`].
//! - Errors name the sink and the instance; messages never contain secrets.

use std::fmt;

use anyhow::Result;
use arrow_array::RecordBatch;
use async_trait::async_trait;

use crate::{RowBlock, RowEncoder};

/// What every writer of one run shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// User-given cluster name (the `cluster` column).
    pub cluster: String,
    /// The run's timestamp in nanoseconds since the Unix epoch, UTC (the `batch` column).
    pub batch_unix_nanos: i64,
    /// Version of the tool that writes the run (for manifests).
    pub tool_version: String,
}

/// One source instance of a run: a file, or a node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Instance name (the `instance` column), e.g. `10.0.0.1:6379`. It may contain any byte a
    /// network peer chose: sinks that make paths from it must escape it.
    pub instance: String,
    /// Where the snapshot comes from (file path or address), credentials removed.
    pub source: String,
}

/// Facts about one instance known only once its snapshot has been read to the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// Rows written (keys read).
    pub rows: u64,
    /// Bytes of the RDB stream that were read.
    pub rdb_bytes: u64,
    /// RDB format version from the header.
    pub rdb_version: u32,
}

/// What a committed run left behind, for the user's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Where readers find the run (a directory, a table and batch id, a file).
    pub location: String,
}

impl fmt::Display for Committed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location)
    }
}

/// What an aborted run left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aborted {
    /// Where partial output was kept for inspection, if anywhere (never visible to readers).
    pub leftovers: Option<String>,
}

/// A sink's resolved configuration, built from its command-line flags by the plugin's parse
/// function.
///
/// It serializes (through `erased-serde`) for `--print-config` and logs: wrap secrets in
/// [`crate::Redacted`].
#[async_trait]
pub trait SinkConfig: erased_serde::Serialize + fmt::Debug + Send + Sync {
    /// The registered sink name (`parquet`, `jsonl`, ...).
    fn sink_name(&self) -> &'static str;

    /// Checks the configuration without any I/O (no files, network, credentials or spawning).
    /// Called before anything is read from a source.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Starts a run: creates what the run needs (directories, tables) without making anything
    /// visible to readers.
    async fn open_run(&self, run: &RunInfo) -> Result<Box<dyn Sink>>;
}

erased_serde::serialize_trait_object!(SinkConfig);

/// One open run of a sink. Shared by all instances of the run (`&self` methods may be called
/// concurrently); consumed by exactly one of the terminal methods.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Opens the writer of one instance. Called once per instance, possibly concurrently.
    async fn open_instance(&self, instance: &InstanceInfo) -> Result<Box<dyn InstanceWriter>>;

    /// The commit point: publishes everything written by the finished instances, atomically.
    async fn finish_run(self: Box<Self>) -> Result<Committed>;

    /// Gives the run up: nothing of it becomes visible. Called after a failure or interrupt,
    /// possibly while some writers were aborted.
    async fn abort_run(self: Box<Self>) -> Result<Aborted>;
}

/// Receives the rows of one instance.
#[async_trait]
pub trait InstanceWriter: Send {
    /// Writes one batch with the schema of [`crate::record_schema`]. Batches arrive in the
    /// order the keys appear in the snapshot.
    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()>;

    /// The writer's own row encoder, if it has one (see [`crate::encoder`]): the core asks at
    /// most once, before any row is written. With an encoder, the core pushes every row into
    /// it and hands its blocks to [`Self::write_rows`] instead of building record batches;
    /// without (the default), rows come through [`Self::write_batch`]. Rows of one instance
    /// come one way only. The cluster, batch and instance of every row are the run's and the
    /// instance's ([`RunInfo`], [`InstanceInfo`]): a [`crate::Row`] does not carry them.
    fn row_encoder(&mut self) -> Option<Box<dyn RowEncoder>> {
        None
    }

    /// Writes one block of the encoder this writer made, in the order the blocks were taken.
    /// Only called on writers that returned an encoder; the default refuses the block.
    async fn write_rows(&mut self, block: RowBlock) -> Result<()> {
        anyhow::bail!(
            "this writer offers no row encoder; a block of {} rows cannot be written",
            block.rows()
        )
    }

    /// The instance's snapshot was read completely: make its rows durable (still invisible
    /// until [`Sink::finish_run`]).
    async fn finish(self: Box<Self>, stats: &InstanceStats) -> Result<()>;

    /// The instance failed: drop what was written for it.
    async fn abort(self: Box<Self>) -> Result<()>;
}
