//! The SDK a sink author depends on.
//!
//! An rdbinsight sink receives the per-key records of a dump as Arrow [`RecordBatch`]es with the
//! schema of [`record_schema`], one writer per source instance, and publishes a run atomically.
//! Sinks are plugins: a crate registers a [`SinkPlugin`] with [`register_sink!`], the binary links
//! it with one line, and `rdbinsight dump ... into-<name>` finds it in the [`Registry`].
//!
//! # A minimal sink
//!
//! ```
//! use anyhow::Result;
//! use rdbinsight_sink_api::{
//!     async_trait, register_sink, Aborted, Committed, InstanceInfo, InstanceStats, InstanceWriter,
//!     RecordBatch, RunInfo, Sink, SinkArgs, SinkConfig,
//! };
//!
//! /// Counts rows and prints the count when the run commits.
//! #[derive(clap::Args)]
//! struct CountArgs {
//!     /// Text printed before the count.
//!     #[arg(long, default_value = "rows:")]
//!     label: String,
//! }
//!
//! #[derive(Debug, serde::Serialize)]
//! struct CountConfig {
//!     label: String,
//! }
//!
//! impl SinkArgs for CountArgs {
//!     fn into_config(self) -> Result<Box<dyn SinkConfig>> {
//!         Ok(Box::new(CountConfig { label: self.label }))
//!     }
//! }
//!
//! #[async_trait]
//! impl SinkConfig for CountConfig {
//!     fn sink_name(&self) -> &'static str {
//!         "count"
//!     }
//!     async fn open_run(&self, _run: &RunInfo) -> Result<Box<dyn Sink>> {
//!         Ok(Box::new(CountSink { label: self.label.clone(), rows: Default::default() }))
//!     }
//! }
//!
//! struct CountSink {
//!     label: String,
//!     rows: std::sync::Arc<std::sync::atomic::AtomicU64>,
//! }
//!
//! #[async_trait]
//! impl Sink for CountSink {
//!     async fn open_instance(&self, _i: &InstanceInfo) -> Result<Box<dyn InstanceWriter>> {
//!         Ok(Box::new(CountWriter { rows: self.rows.clone(), mine: 0 }))
//!     }
//!     async fn finish_run(self: Box<Self>) -> Result<Committed> {
//!         let n = self.rows.load(std::sync::atomic::Ordering::SeqCst);
//!         Ok(Committed { location: format!("{} {n}", self.label) })
//!     }
//!     async fn abort_run(self: Box<Self>) -> Result<Aborted> {
//!         Ok(Aborted::default())
//!     }
//! }
//!
//! struct CountWriter {
//!     rows: std::sync::Arc<std::sync::atomic::AtomicU64>,
//!     mine: u64,
//! }
//!
//! #[async_trait]
//! impl InstanceWriter for CountWriter {
//!     async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
//!         self.mine += batch.num_rows() as u64;
//!         Ok(())
//!     }
//!     async fn finish(self: Box<Self>, _stats: &InstanceStats) -> Result<()> {
//!         self.rows.fetch_add(self.mine, std::sync::atomic::Ordering::SeqCst);
//!         Ok(())
//!     }
//!     async fn abort(self: Box<Self>) -> Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! register_sink!(CountArgs, name = "count", about = "Count rows (example)");
//! ```
//!
//! # Rules
//!
//! - Names are lowercase ASCII letters, digits and `-`; a duplicate name stops the binary at
//!   start-up with both crates named.
//! - Parsing flags and [`SinkConfig::validate`] do no I/O.
//! - Secrets go in [`Redacted`], so `--print-config` and logs never show them.
//! - A sink that would turn record batches back into rows of its own offers a
//!   [`RowEncoder`] instead ([`encoder`]): it then gets rows in its own form, with no record
//!   batch in between.
//! - The lifecycle contract is written on [`SinkConfig`], [`Sink`] and [`InstanceWriter`]; the
//!   `testing` feature's [`testing::run_conformance`] drives a sink through it.

#![deny(missing_docs)]

mod builder;
pub mod encoder;
pub mod keys;
mod lifecycle;
pub mod names;
mod redact;
mod registry;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use arrow_array::RecordBatch;
pub use async_trait::async_trait;
pub use builder::{RecordBuilder, Row};
pub use encoder::{RowBlock, RowEncoder};
pub use lifecycle::{
    Aborted, Committed, InstanceInfo, InstanceStats, InstanceWriter, RunInfo, Sink, SinkConfig,
};
pub use redact::{Redacted, REDACTED};
pub use registry::{
    keep_about, with_args, Registry, RegistryError, SinkArgs, SinkPlugin, RESERVED_NAMES,
    SUBCOMMAND_PREFIX,
};
pub use schema::record_schema;

#[doc(hidden)]
pub mod __private {
    //! Not public API. Used by generated code.
    pub use inventory;
}

/// Registers a sink: `register_sink!(ArgsType, name = "...", about = "...");` at module level.
///
/// `ArgsType` implements [`SinkArgs`]. The record captures the calling crate's name and version
/// (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`) for `rdbinsight outputs` and duplicate reports.
#[macro_export]
macro_rules! register_sink {
    ($args:ty, name = $name:expr, about = $about:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::SinkPlugin::new::<$args>(
                $name,
                $about,
                ::core::env!("CARGO_PKG_NAME"),
                ::core::env!("CARGO_PKG_VERSION"),
            )
        }
    };
}
