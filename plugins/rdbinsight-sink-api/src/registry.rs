//! The sink registry: `SinkPlugin` records submitted with `inventory`, read once into a sorted map.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use clap::{ArgMatches, Command};

use crate::SinkConfig;

/// The clap arguments of a sink plus the conversion into its configuration.
///
/// Derive `clap::Args` on a struct of flags and implement this trait to turn the parsed flags
/// into a [`SinkConfig`]. The conversion must be pure: no I/O.
pub trait SinkArgs: clap::Args + clap::FromArgMatches {
    /// Turns parsed flags into the sink's configuration.
    fn into_config(self) -> Result<Box<dyn SinkConfig>>;
}

/// The registration record of one sink. Build it with [`crate::register_sink!`].
pub struct SinkPlugin {
    /// Registered name; the CLI subcommand is `into-<name>`.
    pub name: &'static str,
    /// One-line description (first line shown in `rdbinsight outputs`).
    pub about: &'static str,
    /// Name of the crate that registered the sink.
    pub crate_name: &'static str,
    /// Version of the crate that registered the sink.
    pub crate_version: &'static str,
    /// Adds the sink's flags to its subcommand.
    pub args: fn(Command) -> Command,
    /// Builds the sink's configuration from the matches of its subcommand.
    pub parse: fn(&ArgMatches) -> Result<Box<dyn SinkConfig>>,
}

impl SinkPlugin {
    /// A record whose flags and parse function come from `A`.
    pub const fn new<A: SinkArgs>(
        name: &'static str,
        about: &'static str,
        crate_name: &'static str,
        crate_version: &'static str,
    ) -> Self {
        Self {
            name,
            about,
            crate_name,
            crate_version,
            args: A::augment_args,
            parse: parse_args::<A>,
        }
    }

    /// The CLI subcommand name: `into-<name>`.
    pub fn subcommand_name(&self) -> String {
        format!("{SUBCOMMAND_PREFIX}{}", self.name)
    }

    /// The clap subcommand of this sink, with its flags.
    pub fn command(&self) -> Command {
        keep_about(
            Command::new(self.subcommand_name()).about(self.about),
            self.args,
        )
    }
}

impl fmt::Debug for SinkPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkPlugin")
            .field("name", &self.name)
            .field("crate_name", &self.crate_name)
            .field("crate_version", &self.crate_version)
            .finish_non_exhaustive()
    }
}

/// Applies `augment` (a derived `Args::augment_args`) to `cmd`, keeping `cmd`'s own `about`
/// texts: the derive would replace them with the doc comment of the flags struct.
pub fn keep_about(cmd: Command, augment: fn(Command) -> Command) -> Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    let cmd = match about {
        Some(a) => cmd.about(a),
        None => cmd.about(None::<&'static str>),
    };
    match long_about {
        Some(a) => cmd.long_about(a),
        None => cmd.long_about(None::<&'static str>),
    }
}

/// [`keep_about`] for the flags struct `A`.
pub fn with_args<A: clap::Args>(cmd: Command) -> Command {
    keep_about(cmd, A::augment_args)
}

fn parse_args<A: SinkArgs>(matches: &ArgMatches) -> Result<Box<dyn SinkConfig>> {
    A::from_arg_matches(matches)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_config()
}

inventory::collect!(SinkPlugin);

/// Prefix of every sink subcommand.
pub const SUBCOMMAND_PREFIX: &str = "into-";

/// Names a sink may not take: they would read as something else on the command line.
pub const RESERVED_NAMES: [&str; 6] = ["help", "all", "none", "default", "list", "version"];

/// Why the registry could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// No sink registered at all (a build without sink features, or a platform where
    /// `inventory` constructors do not run).
    Empty,
    /// Two registrations share a name.
    Duplicate {
        /// The shared name.
        name: String,
        /// Crate (name and version) of the first registration seen.
        first: String,
        /// Crate of the second.
        second: String,
    },
    /// A name that is not lowercase ASCII letters, digits and `-`, 2 to 32 bytes, starting with a
    /// letter, or a reserved name.
    InvalidName {
        /// The offending name.
        name: String,
        /// Its crate.
        crate_name: String,
        /// What rule it breaks.
        reason: String,
    },
    /// An empty `about` text.
    EmptyAbout {
        /// The sink's name.
        name: String,
        /// Its crate.
        crate_name: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str(
                "no output sink is registered: build with at least one sink feature (e.g. sink-parquet)",
            ),
            Self::Duplicate { name, first, second } => write!(
                f,
                "output sink name `{name}` is registered twice: by crate {first} and by crate {second}"
            ),
            Self::InvalidName { name, crate_name, reason } => {
                write!(f, "output sink name `{name}` from crate {crate_name} is invalid: {reason}")
            }
            Self::EmptyAbout { name, crate_name } => {
                write!(f, "output sink `{name}` from crate {crate_name} has an empty description")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// Every registered sink, by name (sorted), checked for duplicates and invalid names.
#[derive(Debug)]
pub struct Registry<'a> {
    sinks: BTreeMap<&'static str, &'a SinkPlugin>,
}

impl Registry<'static> {
    /// Reads the `inventory` registrations of every linked plugin crate.
    pub fn from_inventory() -> Result<Self, RegistryError> {
        Self::from_plugins(inventory::iter::<SinkPlugin>)
    }
}

impl<'a> Registry<'a> {
    /// Builds a registry from explicit records (tests, embedders).
    pub fn from_plugins(
        plugins: impl IntoIterator<Item = &'a SinkPlugin>,
    ) -> Result<Self, RegistryError> {
        let mut sinks: BTreeMap<&'static str, &'a SinkPlugin> = BTreeMap::new();
        for plugin in plugins {
            check_name(plugin)?;
            if plugin.about.trim().is_empty() {
                return Err(RegistryError::EmptyAbout {
                    name: plugin.name.to_string(),
                    crate_name: plugin.crate_name.to_string(),
                });
            }
            if let Some(first) = sinks.insert(plugin.name, plugin) {
                // Name both crates in a stable order, whatever order inventory yielded them in.
                let mut crates = [crate_label(first), crate_label(plugin)];
                crates.sort();
                let [first, second] = crates;
                return Err(RegistryError::Duplicate {
                    name: plugin.name.to_string(),
                    first,
                    second,
                });
            }
        }
        if sinks.is_empty() {
            return Err(RegistryError::Empty);
        }
        Ok(Self { sinks })
    }

    /// The sink registered under `name`.
    pub fn get(&self, name: &str) -> Option<&'a SinkPlugin> {
        self.sinks.get(name).copied()
    }

    /// The sink whose subcommand is `subcommand` (`into-<name>`).
    pub fn by_subcommand(&self, subcommand: &str) -> Option<&'a SinkPlugin> {
        subcommand
            .strip_prefix(SUBCOMMAND_PREFIX)
            .and_then(|name| self.get(name))
    }

    /// Every sink, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'a SinkPlugin> + '_ {
        self.sinks.values().copied()
    }

    /// Every name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.sinks.keys().copied().collect()
    }
}

fn crate_label(plugin: &SinkPlugin) -> String {
    format!("{} {}", plugin.crate_name, plugin.crate_version)
}

fn check_name(plugin: &SinkPlugin) -> Result<(), RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidName {
        name: plugin.name.to_string(),
        crate_name: plugin.crate_name.to_string(),
        reason: reason.to_string(),
    };
    let name = plugin.name;
    if !(2..=32).contains(&name.len()) {
        return Err(invalid("it must be 2 to 32 bytes long"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid("it must start with a lowercase ASCII letter"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "only lowercase ASCII letters, digits and `-` are allowed",
        ));
    }
    if name.ends_with('-') {
        return Err(invalid("it must not end with `-`"));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(invalid("the name is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RunInfo, Sink};

    #[derive(Debug, serde::Serialize)]
    struct NoConfig;

    #[async_trait::async_trait]
    impl SinkConfig for NoConfig {
        fn sink_name(&self) -> &'static str {
            "none"
        }
        async fn open_run(&self, _run: &RunInfo) -> Result<Box<dyn Sink>> {
            anyhow::bail!("not a real sink")
        }
    }

    #[derive(clap::Args)]
    struct NoArgs {
        #[arg(long)]
        flag: Option<String>,
    }

    impl SinkArgs for NoArgs {
        fn into_config(self) -> Result<Box<dyn SinkConfig>> {
            Ok(Box::new(NoConfig))
        }
    }

    const fn plugin(name: &'static str, about: &'static str, krate: &'static str) -> SinkPlugin {
        SinkPlugin::new::<NoArgs>(name, about, krate, "1.2.3")
    }

    #[test]
    fn sorted_by_name() {
        let (b, a, c) = (
            plugin("beta", "b", "x"),
            plugin("alpha", "a", "y"),
            plugin("c1", "c", "z"),
        );
        let reg = Registry::from_plugins([&b, &a, &c]).unwrap();
        assert_eq!(reg.names(), ["alpha", "beta", "c1"]);
        assert_eq!(reg.by_subcommand("into-beta").unwrap().crate_name, "x");
        assert!(reg.by_subcommand("beta").is_none());
    }

    #[test]
    fn duplicate_names_both_crates() {
        let (a, b) = (
            plugin("same", "a", "crate-one"),
            plugin("same", "b", "crate-two"),
        );
        let err = Registry::from_plugins([&b, &a]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("crate-one 1.2.3") && msg.contains("crate-two 1.2.3"),
            "{msg}"
        );
        assert!(msg.contains("`same`"), "{msg}");
    }

    #[test]
    fn invalid_and_reserved_names() {
        for bad in [
            "",
            "x",
            "Upper",
            "1abc",
            "has space",
            "dot.ted",
            "trail-",
            "help",
            "none",
            "a-very-long-name-that-goes-beyond-32",
        ] {
            let p = plugin(bad, "about", "k");
            let err = Registry::from_plugins([&p]).unwrap_err();
            assert!(
                matches!(err, RegistryError::InvalidName { .. }),
                "{bad:?}: {err}"
            );
        }
        let ok = plugin("my-sink2", "about", "k");
        assert!(Registry::from_plugins([&ok]).is_ok());
    }

    #[test]
    fn empty_about_and_empty_registry() {
        let p = plugin("quiet", "  ", "k");
        assert!(matches!(
            Registry::from_plugins([&p]).unwrap_err(),
            RegistryError::EmptyAbout { .. }
        ));
        assert_eq!(
            Registry::from_plugins(std::iter::empty()).unwrap_err(),
            RegistryError::Empty
        );
    }

    #[test]
    fn command_carries_flags() {
        let p = plugin("demo", "Demo sink", "k");
        let cmd = p.command();
        assert_eq!(cmd.get_name(), "into-demo");
        assert_eq!(
            cmd.get_about().map(|a| a.to_string()).as_deref(),
            Some("Demo sink")
        );
        assert!(cmd.get_arguments().any(|a| a.get_id() == "flag"));
        let m = cmd
            .try_get_matches_from(["into-demo", "--flag", "v"])
            .unwrap();
        let cfg = (p.parse)(&m).unwrap();
        assert_eq!(cfg.sink_name(), "none");
    }
}
