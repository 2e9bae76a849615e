//! Sources: where the snapshots of a run come from. Each source yields one byte stream per
//! instance.

pub mod cluster;
pub mod codis;
pub mod file;
pub mod read_ahead;
pub mod redis_args;
pub mod replica;
pub mod resp;
pub mod standalone;
pub mod tls;

use crate::parser::chunks::ChunkSource;

use anyhow::Result;

/// One instance of a run: its name, a description of its origin, and how to open its stream.
pub struct InstanceSpec {
    /// Instance name (the `instance` column).
    pub name: String,
    /// Where it comes from, for messages (no credentials).
    pub origin: String,
    /// Which slot column to fill.
    pub slots: SlotMode,
    /// Opens the RDB byte stream, in chunks with their CRC64 (called on a blocking thread).
    pub open: Box<dyn FnOnce() -> Result<Box<dyn ChunkSource>> + Send>,
    /// Bytes the stream will yield, when known beforehand (plain files), for progress.
    pub size_hint: Option<u64>,
}

/// Which slot column a source fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotMode {
    /// `redis_slot` only when the snapshot carries slot info.
    FromFile,
    /// `redis_slot` for every key (Redis Cluster).
    Redis,
    /// `codis_slot` for every key (Codis).
    Codis,
}

impl std::fmt::Debug for InstanceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceSpec")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The parsed flags of whichever source was chosen.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum SourceArgs {
    /// `from-file`
    File(file::FileArgs),
    /// `from-standalone`
    Standalone(standalone::StandaloneArgs),
    /// `from-cluster`
    Cluster(cluster::ClusterArgs),
    /// `from-codis`
    Codis(codis::CodisArgs),
}

/// Subcommand names of the sources, in help order.
pub const SOURCE_NAMES: [&str; 4] = ["from-file", "from-standalone", "from-cluster", "from-codis"];

impl SourceArgs {
    /// The source subcommands, each with its flags.
    pub fn commands() -> Vec<clap::Command> {
        use clap::Command;
        vec![
            rdbinsight_sink_api::with_args::<file::FileArgs>(
                Command::new("from-file").about("Read RDB files (plain, .gz, .zst, .lz4) or stdin"),
            ),
            rdbinsight_sink_api::with_args::<standalone::StandaloneArgs>(
                Command::new("from-standalone")
                    .about("Read a live server's snapshot, as a replica does"),
            ),
            rdbinsight_sink_api::with_args::<cluster::ClusterArgs>(
                Command::new("from-cluster").about(
                    "Read one node per shard of a Redis Cluster (replica preferred), with slots",
                ),
            ),
            rdbinsight_sink_api::with_args::<codis::CodisArgs>(
                Command::new("from-codis")
                    .about("Read one server per Codis group (from the dashboard), with slots"),
            ),
        ]
    }

    /// Parses the matches of source subcommand `name`.
    pub fn from_matches(name: &str, m: &clap::ArgMatches) -> Result<Self> {
        use clap::FromArgMatches;
        Ok(match name {
            "from-file" => Self::File(file::FileArgs::from_arg_matches(m)?),
            "from-standalone" => Self::Standalone(standalone::StandaloneArgs::from_arg_matches(m)?),
            "from-cluster" => Self::Cluster(cluster::ClusterArgs::from_arg_matches(m)?),
            "from-codis" => Self::Codis(codis::CodisArgs::from_arg_matches(m)?),
            other => anyhow::bail!("unknown source {other}"),
        })
    }

    /// The cluster name and the instances to read (may talk to the network to discover them).
    pub fn resolve(&self) -> Result<(String, Vec<InstanceSpec>)> {
        Ok(match self {
            Self::File(a) => (a.cluster.clone(), a.instances()?),
            Self::Standalone(a) => (a.cluster.clone(), a.instances()?),
            Self::Cluster(a) => (a.cluster.clone(), a.instances()?),
            Self::Codis(a) => a.instances()?,
        })
    }
}
