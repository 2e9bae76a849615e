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
    /// The hostname it announces (`cluster-announce-hostname`), if any: the name its TLS
    /// certificate is checked against.
    pub hostname: Option<String>,
    /// Whether it is a primary.
    pub primary: bool,
    /// Id of its primary (replicas).
    pub primary_id: Option<String>,
    /// Whether it is reachable and not failing.
    pub healthy: bool,
    /// Whether it reports itself fully online (not loading).
    pub online: bool,
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
        // ip:port@cport[,hostname[,key=value...]] (the key=value fields since 7.2)
        let mut endpoint = f[1].split(',');
        let addr = endpoint
            .next()
            .unwrap_or_default()
            .split('@')
            .next()
            .unwrap_or_default();
        let hostname = endpoint.next().filter(|h| !h.contains('='));
        let flags: Vec<&str> = f[2].split(',').collect();
        let bad = flags
            .iter()
            .any(|x| matches!(*x, "fail" | "fail?" | "handshake" | "noaddr"));
        let primary = flags.contains(&"master");
        nodes.push(Node {
            id: f[0].to_string(),
            addr: addr.to_string(),
            hostname: hostname.filter(|h| !h.is_empty()).map(String::from),
            primary,
            primary_id: (f[3] != "-").then(|| f[3].to_string()),
            healthy: !bad && f[7] == "connected" && !addr.starts_with(':'),
            online: !bad,
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
            // A node with only a TLS port lists `tls-port` and no `port`.
            let port = ["port", "tls-port"]
                .iter()
                .find_map(|k| match n.get(*k) {
                    Some(Reply::Integer(p)) if *p > 0 => Some(*p),
                    _ => None,
                })
                .unwrap_or(0);
            let host = if text("ip").is_empty() {
                text("endpoint")
            } else {
                text("ip")
            };
            let primary = text("role") == "master";
            nodes.push(Node {
                id: text("id"),
                addr: format!("{host}:{port}"),
                hostname: Some(text("hostname")).filter(|h| !h.is_empty()),
                primary,
                primary_id: if primary { None } else { primary_id.clone() },
                // `loading` is also what a replica of a primary without writes reports
                // (offset 0); it is readable, just ranked after `online` ones.
                healthy: matches!(text("health").as_str(), "online" | "loading") && port > 0,
                online: text("health") == "online",
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

/// For every primary that serves slots: the nodes to try, in order (healthy replicas, online
/// and freshest first, then the primary unless `require_replica`).
pub fn choose_nodes(nodes: &[Node], require_replica: bool) -> Result<Vec<Vec<Node>>> {
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
        replicas.sort_by(|a, b| {
            (b.online, b.offset)
                .cmp(&(a.online, a.offset))
                .then_with(|| a.addr.cmp(&b.addr))
        });
        let mut candidates: Vec<Node> = replicas.into_iter().cloned().collect();
        if p.healthy && !require_replica {
            if candidates.is_empty() {
                warn!(operation = "discover", primary = %p.addr, "no healthy replica; reading the primary");
            }
            candidates.push(p.clone());
        }
        match candidates.is_empty() {
            false => chosen.push(candidates),
            true => bail!(
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

/// Adds what `CLUSTER SHARDS` knows (health, replication offset) to the `CLUSTER NODES`
/// topology. NODES is the authority on who replicates whom: in 7.0, SHARDS can list a fresh
/// replica in a shard of its own until its shard id has spread.
pub fn enrich_with_shards(nodes: &mut [Node], shards: &[Node]) {
    for n in nodes.iter_mut() {
        if let Some(s) = shards.iter().find(|s| s.id == n.id) {
            n.healthy &= s.healthy;
            n.online = s.online;
            n.offset = s.offset;
        }
    }
}

fn discover(connect: &RedisConnect, seeds: &[String]) -> Result<Vec<Node>> {
    let mut errors = Vec::new();
    for seed in seeds {
        let result = (|| -> Result<Vec<Node>> {
            let mut conn = connect.open(seed)?;
            let mut nodes = parse_cluster_nodes(&conn.call(&[b"CLUSTER", b"NODES"])?.text()?);
            match conn.call(&[b"CLUSTER", b"SHARDS"])? {
                Reply::Error(_) => {}
                reply => enrich_with_shards(&mut nodes, &parse_cluster_shards(&reply)?),
            }
            Ok(nodes)
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

/// Fetches from the first candidate that answers.
fn fetch_first(
    connect: &RedisConnect,
    candidates: &[Node],
) -> Result<Box<dyn crate::parser::chunks::ChunkSource>> {
    let mut errors = Vec::new();
    for n in candidates {
        let fetched = match &n.hostname {
            Some(hostname) => connect
                .announced_as(hostname)
                .and_then(|named| fetch_rdb(&named, &n.addr)),
            None => fetch_rdb(connect, &n.addr),
        };
        match fetched {
            Ok(r) => return Ok(r),
            Err(e) => {
                warn!(operation = "transfer", addr = %n.addr, error = %format!("{e:#}"), "node did not serve a snapshot; trying the next");
                errors.push(format!("{e:#}"));
            }
        }
    }
    bail!(
        "no node of the shard served a snapshot: {}",
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
            .map(|candidates| {
                let connect = connect.clone();
                // The instance is named after the first choice; a fallback is logged.
                let first = candidates[0].addr.clone();
                InstanceSpec {
                    name: first.clone(),
                    origin: connect.origin(&first),
                    slots: SlotMode::Redis,
                    open: Box::new(move || fetch_first(&connect, &candidates)),
                    size_hint: None,
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
    fn announced_hostnames_are_kept() {
        let nodes = parse_cluster_nodes(
            "a1 10.0.0.1:6380@16380,node-1.example myself,master - 0 0 1 connected 0-16383\n\
             b1 10.0.0.2:6380@16380, slave a1 0 0 1 connected\n\
             c1 10.0.0.3:6380@16380,node-3.example,tls-port=6381,shard-id=ab slave a1 0 0 1 connected\n\
             d1 10.0.0.4:6380@16380,,tls-port=0,shard-id=ab slave a1 0 0 1 connected\n",
        );
        let seen: Vec<(&str, Option<&str>)> = nodes
            .iter()
            .map(|n| (n.addr.as_str(), n.hostname.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("10.0.0.1:6380", Some("node-1.example")),
                ("10.0.0.2:6380", None),
                ("10.0.0.3:6380", Some("node-3.example")),
                ("10.0.0.4:6380", None)
            ]
        );
    }

    #[test]
    fn replicas_preferred_failed_nodes_skipped() {
        let nodes = parse_cluster_nodes(NODES);
        assert_eq!(nodes.len(), 7);
        let chosen: Vec<Vec<String>> = choose_nodes(&nodes, false)
            .unwrap()
            .into_iter()
            .map(|c| c.into_iter().map(|n| n.addr).collect())
            .collect();
        assert_eq!(
            chosen,
            [
                vec!["127.0.0.1:7003", "127.0.0.1:7000"],
                vec!["127.0.0.1:7001"],
                vec!["127.0.0.1:7005"]
            ]
        );
        let err = choose_nodes(&nodes, true).unwrap_err().to_string();
        assert!(
            err.contains("127.0.0.1:7001") && err.contains("--require-replica"),
            "{err}"
        );
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    /// A node listening with TLS only lists `tls-port` in CLUSTER SHARDS and no `port`.
    #[test]
    fn shards_of_tls_only_nodes_have_their_tls_port() {
        let node = |id: &str, ports: &[(&str, i64)], role: &str| {
            let mut items = vec![bulk("id"), bulk(id), bulk("ip"), bulk("10.0.0.1")];
            for (name, port) in ports {
                items.extend([bulk(name), Reply::Integer(*port)]);
            }
            items.extend([bulk("role"), bulk(role), bulk("health"), bulk("online")]);
            Reply::Array(Some(items))
        };
        let shard = Reply::Array(Some(vec![
            bulk("slots"),
            Reply::Array(Some(vec![Reply::Integer(0), Reply::Integer(16383)])),
            bulk("nodes"),
            Reply::Array(Some(vec![
                node("p", &[("tls-port", 6380)], "master"),
                node("r", &[("port", 6379), ("tls-port", 6380)], "replica"),
                node("x", &[], "replica"),
            ])),
        ]));
        let nodes = parse_cluster_shards(&Reply::Array(Some(vec![shard]))).unwrap();
        let seen: Vec<(&str, &str, bool)> = nodes
            .iter()
            .map(|n| (n.id.as_str(), n.addr.as_str(), n.healthy))
            .collect();
        assert_eq!(
            seen,
            [
                ("p", "10.0.0.1:6380", true),
                ("r", "10.0.0.1:6379", true),
                ("x", "10.0.0.1:0", false)
            ]
        );
    }
}
