//! Flags and resolved configuration of `into-clickhouse`.

use std::time::Duration;

use anyhow::{ensure, Result};
use rdbinsight_sink_api::{Redacted, SinkArgs, SinkConfig};
use serde::Serialize;

use crate::client::{Client, RetryPolicy};
use crate::schema::DEFAULT_TTL_DAYS;
use crate::url::ClickhouseUrl;

/// Flags of `into-clickhouse`.
#[derive(Debug, clap::Args)]
pub struct ClickhouseArgs {
    /// ClickHouse HTTP endpoint: http[s]://[user[:password]@]host[:port]/?database=<db>.
    #[arg(
        long,
        value_name = "URL",
        env = "RDBINSIGHT_CLICKHOUSE_URL",
        hide_env_values = true
    )]
    pub url: String,
    /// Create the tables and the view in the URL's database when missing (an existing schema
    /// that differs is refused, never changed).
    #[arg(long)]
    pub auto_create_tables: bool,
    /// Retention written into tables created by --auto-create-tables, in days after the batch
    /// (0: keep forever).
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_TTL_DAYS)]
    pub ttl_days: u32,
    /// HTTP proxy to reach ClickHouse through (http://[user:pass@]host:port).
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub proxy_url: Option<String>,
    /// Rows per INSERT (per instance); each insert is one compressed ArrowStream body.
    #[arg(long, value_name = "ROWS", default_value_t = 262_144, value_parser = clap::value_parser!(u64).range(1..=16_777_216))]
    pub insert_block_rows: u64,
    /// HTTP compression of the inserted data.
    #[arg(long, value_enum, default_value_t = Compression::Zstd)]
    pub compression: Compression,
    /// Attempts after a transient failure (connection lost, server overloaded or restarting),
    /// with exponential backoff.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
    /// Longest wait between two attempts, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub max_backoff: u64,
    /// Timeout of one HTTP request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
}

/// HTTP body compression of inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard (level 1): the smallest bodies for the least CPU.
    Zstd,
    /// Gzip (level 1), for proxies that only pass gzip.
    Gzip,
    /// No compression.
    None,
}

impl Compression {
    /// The `Content-Encoding` header value.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::Zstd => Some("zstd"),
            Self::Gzip => Some("gzip"),
            Self::None => None,
        }
    }
}

/// Resolved configuration of the ClickHouse sink.
#[derive(Debug, Clone, Serialize)]
pub struct ClickhouseConfig {
    /// Server, user and database (the password shows as `***`).
    pub url: ClickhouseUrl,
    /// Create missing tables.
    pub auto_create_tables: bool,
    /// Retention of created tables, days (0: none).
    pub ttl_days: u32,
    /// HTTP proxy.
    pub proxy_url: Option<Redacted<String>>,
    /// Rows per INSERT.
    pub insert_block_rows: u64,
    /// Body compression.
    pub compression: Compression,
    /// Retries after transient failures.
    pub retries: u32,
    /// Longest backoff, seconds.
    pub max_backoff_secs: u64,
    /// Request timeout, seconds.
    pub timeout_secs: u64,
}

impl SinkArgs for ClickhouseArgs {
    fn into_config(self) -> Result<Box<dyn SinkConfig>> {
        let url = ClickhouseUrl::parse(&self.url)?;
        Ok(Box::new(ClickhouseConfig {
            url,
            auto_create_tables: self.auto_create_tables,
            ttl_days: self.ttl_days,
            proxy_url: self.proxy_url.map(Redacted::new),
            insert_block_rows: self.insert_block_rows,
            compression: self.compression,
            retries: self.retries,
            max_backoff_secs: self.max_backoff,
            timeout_secs: self.timeout,
        }))
    }
}

impl ClickhouseConfig {
    /// Checks the flags (no I/O).
    pub fn check(&self) -> Result<()> {
        ensure!(self.timeout_secs > 0, "--timeout must be at least 1 second");
        ensure!(
            self.retries <= 100,
            "--retries {} is more than 100",
            self.retries
        );
        Ok(())
    }

    /// A client for the configured server.
    pub fn client(&self) -> Result<Client> {
        Client::new(
            self.url.clone(),
            self.proxy_url.as_ref().map(|p| p.expose().as_str()),
            Duration::from_secs(self.timeout_secs),
            RetryPolicy {
                retries: self.retries,
                first_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(self.max_backoff_secs.max(1)),
            },
        )
    }
}
