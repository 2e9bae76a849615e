//! `from-cluster`: discover the shards of a Redis Cluster and read one healthy node per shard
//! (a replica when there is one), filling `redis_slot` for every key.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::{info, warn};

use super::redis_args::RedisConnArgs;
use super::replica::{fetch_rdb, RedisConnect};
use super::resp::Reply;
use super::{InstanceSpec, SlotMode};

/// Flags of `from-cluster`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct ClusterArgs {
    /// Seed nodes, host:port, comma-separated; the first that answers gives the topology.
    #[arg(
        long,
        value_name = "HOST:PORT,...",
        value_delimiter = ',',
        required = true
    )]
    pub nodes: Vec<String>,
    /// Cluster name written in every row.
    #[arg(long, env = "RDBINSIGHT_CLUSTER", default_value = "default")]
    pub cluster: String,
    /// Fail when a shard has no healthy replica (by default its primary is read instead).
    #[arg(long)]
    pub require_replica: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: RedisConnArgs,
}

/// One node as the topology describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Node id.
    pub id: String,
    /// host:port.
    pub addr: String,
    /// Whether it is a primary.
    pub primary: bool,
    /// Id of its primary (replicas).
    pub primary_id: Option<String>,
    /// Whether it is reachable and not failing.
    pub healthy: bool,
    /// Whether it serves slots (primaries).
    pub has_slots: bool,
    /// Replication offset when known (higher is fresher).
    pub offset: i64,
}

/// Parses `CLUSTER NODES` output.
pub fn parse_cluster_nodes(text: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let addr = f[1]
            .split('@')
            .next()
            .unwrap_or_default()
            .split(',')
            .next()
            .unwrap_or_default();
        let flags: Vec<&str> = f[2].split(',').collect();
        let bad = flags
            .iter()
            .any(|x| matches!(*x, "fail" | "fail?" | "handshake" | "noaddr"));
        let primary = flags.contains(&"master");
        nodes.push(Node {
            id: f[0].to_string(),
            addr: addr.to_string(),
            primary,
            primary_id: (f[3] != "-").then(|| f[3].to_string()),
            healthy: !bad && f[7] == "connected" && !addr.starts_with(':'),
            has_slots: f.len() > 8,
            offset: 0,
        });
    }
    nodes
}

fn map_of(reply: &Reply) -> BTreeMap<String, Reply> {
    let mut m = BTreeMap::new();
    if let Reply::Array(Some(items)) = reply {
        for pair in items.chunks(2) {
            if let [k, v] = pair {
                if let Ok(k) = k.text() {
                    m.insert(k, v.clone());
                }
            }
        }
    }
    m
}

/// Parses a `CLUSTER SHARDS` reply (RESP2: alternating keys and values).
pub fn parse_cluster_shards(reply: &Reply) -> Result<Vec<Node>> {
    let Reply::Array(Some(shards)) = reply else {
        bail!("CLUSTER SHARDS: not an array")
    };
    let mut nodes = Vec::new();
    for shard in shards {
        let shard = map_of(shard);
        let has_slots = matches!(shard.get("slots"), Some(Reply::Array(Some(s))) if !s.is_empty());
        let Some(Reply::Array(Some(list))) = shard.get("nodes") else {
            continue;
        };
        let parsed: Vec<BTreeMap<String, Reply>> = list.iter().map(map_of).collect();
        let primary_id = parsed
            .iter()
            .find(|n| n.get("role").and_then(|r| r.text().ok()).as_deref() == Some("master"))
            .and_then(|n| n.get("id").and_then(|r| r.text().ok()));
        for n in parsed {
            let text = |k: &str| n.get(k).and_then(|r| r.text().ok()).unwrap_or_default();
            let port = match n.get("port") {
                Some(Reply::Integer(p)) => *p,
                _ => 0,
            };
            let host = if text("ip").is_empty() {
                text("endpoint")
            } else {
                text("ip")
            };
            let primary = text("role") == "master";
            nodes.push(Node {
                id: text("id"),
                addr: format!("{host}:{port}"),
                primary,
                primary_id: if primary { None } else { primary_id.clone() },
                healthy: text("health") == "online" && port > 0,
                has_slots: primary && has_slots,
                offset: match n.get("replication-offset") {
                    Some(Reply::Integer(o)) => *o,
                    _ => 0,
                },
            });
        }
    }
    Ok(nodes)
}

/// For every primary that serves slots: the node to read (freshest healthy replica, else the
/// primary unless `require_replica`).
pub fn choose_nodes(nodes: &[Node], require_replica: bool) -> Result<Vec<Node>> {
    let mut chosen = Vec::new();
    let mut primaries: Vec<&Node> = nodes.iter().filter(|n| n.primary && n.has_slots).collect();
    primaries.sort_by(|a, b| a.addr.cmp(&b.addr));
    if primaries.is_empty() {
        bail!("the cluster topology lists no primary serving slots");
    }
    for p in primaries {
        let mut replicas: Vec<&Node> = nodes
            .iter()
            .filter(|n| !n.primary && n.healthy && n.primary_id.as_deref() == Some(p.id.as_str()))
            .collect();
        replicas.sort_by(|a, b| b.offset.cmp(&a.offset).then_with(|| a.addr.cmp(&b.addr)));
        match (replicas.first(), p.healthy && !require_replica) {
            (Some(r), _) => chosen.push((*r).clone()),
            (None, true) => {
                warn!(operation = "discover", primary = %p.addr, "no healthy replica; reading the primary");
                chosen.push(p.clone());
            }
            (None, false) => bail!(
                "shard of primary {} has no healthy replica{}",
                p.addr,
                if require_replica {
                    " (--require-replica)"
                } else {
                    " and the primary is not healthy"
                }
            ),
        }
    }
    Ok(chosen)
}

fn discover(connect: &RedisConnect, seeds: &[String]) -> Result<Vec<Node>> {
    let mut errors = Vec::new();
    for seed in seeds {
        let result = (|| -> Result<Vec<Node>> {
            let mut conn = connect.open(seed)?;
            match conn.call(&[b"CLUSTER", b"SHARDS"])? {
                Reply::Error(_) => {
                    let text = conn.call(&[b"CLUSTER", b"NODES"])?.text()?;
                    Ok(parse_cluster_nodes(&text))
                }
                reply => parse_cluster_shards(&reply),
            }
        })();
        match result {
            Ok(nodes) if !nodes.is_empty() => return Ok(nodes),
            Ok(_) => errors.push(format!("{seed}: empty topology")),
            Err(e) => errors.push(format!("{seed}: {e:#}")),
        }
    }
    bail!(
        "no seed node gave the cluster topology: {}",
        errors.join("; ")
    )
}

impl ClusterArgs {
    /// One instance per shard.
    pub fn instances(&self) -> Result<Vec<InstanceSpec>> {
        let connect = self.conn.connect()?;
        let nodes = discover(&connect, &self.nodes).context("discovering the cluster")?;
        let chosen = choose_nodes(&nodes, self.require_replica)?;
        info!(
            operation = "discover",
            shards = chosen.len(),
            nodes = nodes.len(),
            "cluster topology read"
        );
        Ok(chosen
            .into_iter()
            .map(|n| {
                let connect = connect.clone();
                let addr = n.addr.clone();
                InstanceSpec {
                    name: n.addr.clone(),
                    origin: format!("redis://{}", n.addr),
                    slots: SlotMode::Redis,
                    open: Box::new(move || fetch_rdb(&connect, &addr)),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
a2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
a3 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected 10923-16383
b1 127.0.0.1:7003@17003 slave a1 0 0 1 connected
b2 127.0.0.1:7004@17004 slave,fail a2 0 0 2 disconnected
b3 127.0.0.1:7005@17005 slave a3 0 0 3 connected
c9 127.0.0.1:7009@17009 master - 0 0 9 connected
";

    #[test]
    fn replicas_preferred_failed_nodes_skipped() {
        let nodes = parse_cluster_nodes(NODES);
        assert_eq!(nodes.len(), 7);
        let chosen: Vec<String> = choose_nodes(&nodes, false)
            .unwrap()
            .into_iter()
            .map(|n| n.addr)
            .collect();
        assert_eq!(
            chosen,
            ["127.0.0.1:7003", "127.0.0.1:7001", "127.0.0.1:7005"]
        );
        let err = choose_nodes(&nodes, true).unwrap_err().to_string();
        assert!(
            err.contains("127.0.0.1:7001") && err.contains("--require-replica"),
            "{err}"
        );
    }
}
