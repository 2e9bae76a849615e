//! Flags shared by every Redis source: credentials, TLS and timeouts.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Serialize, Serializer};

use super::replica::RedisConnect;
use super::tls::TlsArgs;

/// Credentials, TLS and timeouts of Redis connections.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct RedisConnArgs {
    /// ACL username for AUTH.
    #[arg(long, env = "RDBINSIGHT_REDIS_USERNAME")]
    pub username: Option<String>,
    /// Password for AUTH (prefer the environment variable or --password-file: flags show in `ps`).
    #[arg(long, env = "RDBINSIGHT_REDIS_PASSWORD", hide_env_values = true)]
    #[serde(serialize_with = "redact")]
    pub password: Option<String>,
    /// File whose first line is the password.
    #[arg(long, value_name = "PATH", conflicts_with = "password")]
    pub password_file: Option<std::path::PathBuf>,
    /// Seconds to wait for a TCP connection.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub connect_timeout: u64,
    /// Longest silence, in seconds, while talking to a server or waiting for its snapshot.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
    /// Attempts after a server answers that it is busy (LOADING its dataset, BUSY script,
    /// MASTERDOWN), 0.5 s apart doubling up to 10 s; the transfer itself is never retried.
    #[arg(
        long,
        default_value_t = 8,
        value_name = "N",
        env = "RDBINSIGHT_REDIS_RETRIES"
    )]
    pub retries: u32,
    /// Save each transferred snapshot to an unnamed file in this directory first, then parse
    /// it: the server's output buffer is released at network speed even when the sink is slow.
    #[arg(long, value_name = "DIR", env = "RDBINSIGHT_SPOOL_DIR")]
    pub spool_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub tls: TlsArgs,
}

fn redact<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str(rdbinsight_sink_api::REDACTED),
        None => s.serialize_none(),
    }
}

impl RedisConnArgs {
    /// Resolved connection settings (reads the password file and the TLS files).
    pub fn connect(&self) -> Result<RedisConnect> {
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the password file {}", path.display()))?;
                Some(text.lines().next().unwrap_or_default().to_string())
            }
            (None, None) => None,
        };
        Ok(RedisConnect {
            username: self.username.clone(),
            password,
            connect_timeout: Duration::from_secs(self.connect_timeout.max(1)),
            io_timeout: Duration::from_secs(self.timeout.max(1)),
            spool_dir: self.spool_dir.clone(),
            busy_retries: self.retries,
            tls: self.tls.settings()?,
        })
    }
}
