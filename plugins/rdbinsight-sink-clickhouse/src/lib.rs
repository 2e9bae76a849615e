//! `into-clickhouse`: rows go to a ClickHouse raw table over the HTTP interface, a batch becomes
//! visible through a view only when its completion marker is written, after every row is
//! acknowledged.
//!
//! - [`config`]: flags and resolved configuration.
//! - [`url`]: the `--url` parser (credentials travel in headers, never in printed URLs).
//! - [`schema`]: the DDL (`rdbinsight misc clickhouse-schema`).
//! - [`setup`]: schema checks and creation, refusing completed batches, removing leftovers.
//! - [`client`]: HTTP requests with retries and backoff.
//! - [`encode`]: insert blocks as compressed `FORMAT ArrowStream` bodies.
//! - [`sink`]: the run, the per-instance writers and the completion marker.
//! - [`reader`]: finding completed batches for reports.
//!
//! Exactly-once: each insert block carries an `insert_deduplication_token` unique to the run,
//! instance and block, so a block retried after a lost response is stored once; a re-run of a
//! failed batch (same `--batch`) first deletes what the failed attempt left.

pub mod client;
pub mod config;
pub mod encode;
pub mod reader;
pub mod schema;
pub mod setup;
pub mod sink;
pub mod url;

pub use config::{ClickhouseArgs, ClickhouseConfig};

rdbinsight_sink_api::register_sink!(
    ClickhouseArgs,
    name = "clickhouse",
    about = "ClickHouse over HTTP; a batch is visible through a view once complete"
);
