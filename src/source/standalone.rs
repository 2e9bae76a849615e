//! `from-standalone`: one live server, read as a replica.

use anyhow::Result;
use serde::Serialize;

use super::redis_args::RedisConnArgs;
use super::replica::fetch_rdb;
use super::{InstanceSpec, SlotMode};

/// Flags of `from-standalone`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct StandaloneArgs {
    /// Server address, host:port.
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: String,
    /// Cluster name written in every row.
    #[arg(long, env = "RDBINSIGHT_CLUSTER", default_value = "default")]
    pub cluster: String,
    /// Instance name written in every row (default: the address).
    #[arg(long)]
    pub instance: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: RedisConnArgs,
}

impl StandaloneArgs {
    /// The one instance.
    pub fn instances(&self) -> Result<Vec<InstanceSpec>> {
        let connect = self.conn.connect()?;
        let addr = self.addr.clone();
        Ok(vec![InstanceSpec {
            name: self.instance.clone().unwrap_or_else(|| addr.clone()),
            origin: connect.origin(&addr),
            slots: SlotMode::FromFile,
            open: Box::new(move || fetch_rdb(&connect, &addr)),
            size_hint: None,
        }])
    }
}
