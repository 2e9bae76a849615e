//! `from-codis`: read the groups and product name from a Codis dashboard (`/topom`), then one
//! server per group (a replica when there is one), filling `codis_slot` for every key.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use tracing::info;

use super::redis_args::RedisConnArgs;
use super::replica::fetch_rdb;
use super::{InstanceSpec, SlotMode};

/// Largest dashboard reply accepted.
const MAX_TOPOM: u64 = 64 << 20;

/// Flags of `from-codis`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct CodisArgs {
    /// Dashboard address, http://host:port.
    #[arg(long, value_name = "URL")]
    pub dashboard: String,
    /// Cluster name written in every row (default: the dashboard's product name).
    #[arg(long, env = "RDBINSIGHT_CLUSTER")]
    pub cluster: Option<String>,
    /// Fail when a group has no replica (by default its master is read instead).
    #[arg(long)]
    pub require_replica: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: RedisConnArgs,
}

/// What the dashboard says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topom {
    /// Product name (the cluster name by default).
    pub product: String,
    /// Per group: its servers, master first.
    pub groups: Vec<(i64, Vec<String>)>,
}

/// Parses the dashboard's `/topom` JSON.
pub fn parse_topom(v: &Value) -> Result<Topom> {
    let product = v["config"]["product_name"]
        .as_str()
        .or_else(|| v["model"]["product_name"].as_str())
        .ok_or_else(|| anyhow!("/topom has no product_name"))?
        .to_string();
    let models = v["stats"]["group"]["models"]
        .as_array()
        .ok_or_else(|| anyhow!("/topom has no stats.group.models"))?;
    let mut groups = Vec::new();
    for g in models {
        let id = g["id"].as_i64().unwrap_or_default();
        let servers: Vec<String> = g["servers"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|x| x["server"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if !servers.is_empty() {
            groups.push((id, servers));
        }
    }
    if groups.is_empty() {
        bail!("/topom lists no group with servers");
    }
    Ok(Topom { product, groups })
}

/// GET `<dashboard>/topom` over plain HTTP.
fn fetch_topom(dashboard: &str, timeout: Duration) -> Result<Value> {
    let rest = dashboard
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--dashboard must be an http:// URL"))?;
    let hostport = rest.split('/').next().unwrap_or_default();
    let addr = hostport
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {hostport}"))?
        .next()
        .ok_or_else(|| anyhow!("{hostport} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {hostport}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(
        format!("GET /topom HTTP/1.0\r\nHost: {hostport}\r\nAccept: application/json\r\n\r\n")
            .as_bytes(),
    )?;
    let mut body = Vec::new();
    stream.take(MAX_TOPOM).read_to_end(&mut body)?;
    let split = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("{hostport}: malformed HTTP reply"))?;
    let head = String::from_utf8_lossy(&body[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("{hostport}/topom answered {status:?}");
    }
    serde_json::from_slice(&body[split + 4..])
        .with_context(|| format!("{hostport}/topom is not JSON"))
}

impl CodisArgs {
    /// The cluster name and one instance per group.
    pub fn instances(&self) -> Result<(String, Vec<InstanceSpec>)> {
        let connect = self.conn.connect()?;
        let topom = parse_topom(&fetch_topom(&self.dashboard, connect.connect_timeout)?)?;
        let cluster = self
            .cluster
            .clone()
            .unwrap_or_else(|| topom.product.clone());
        info!(operation = "discover", product = %topom.product, groups = topom.groups.len(), "codis topology read");
        let mut specs = Vec::new();
        for (id, servers) in &topom.groups {
            let addr = match servers.get(1) {
                Some(replica) => replica.clone(),
                None if self.require_replica => {
                    bail!("codis group {id} has no replica (--require-replica)")
                }
                None => servers[0].clone(),
            };
            let connect = connect.clone();
            let target = addr.clone();
            specs.push(InstanceSpec {
                name: addr.clone(),
                origin: format!("codis group {id}: {}", connect.origin(&addr)),
                slots: SlotMode::Codis,
                open: Box::new(move || fetch_rdb(&connect, &target)),
                size_hint: None,
            });
        }
        Ok((cluster, specs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topom_shape() {
        let v: Value = serde_json::from_str(
            r#"{"config":{"product_name":"codis-demo"},"stats":{"group":{"models":[
                {"id":1,"servers":[{"server":"127.0.0.1:6379"},{"server":"127.0.0.1:6380"}]},
                {"id":2,"servers":[{"server":"127.0.0.1:6381"}]},
                {"id":3,"servers":[]}]}}}"#,
        )
        .unwrap();
        let t = parse_topom(&v).unwrap();
        assert_eq!(t.product, "codis-demo");
        assert_eq!(t.groups.len(), 2);
        assert_eq!(t.groups[0].1[1], "127.0.0.1:6380");
    }
}
