//! The command line, assembled at run time: fixed commands from clap derives, sink subcommands
//! from the registry (`into-<name>`, sorted by name) under every source.

use clap::{ArgAction, Command};
use rdbinsight_sink_api::Registry;

use crate::commands::{dump, inspect, outputs};
use crate::source::SourceArgs;

/// Global flags.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "RDBINSIGHT_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn with_sinks(source: Command, registry: &Registry<'_>) -> Command {
    source
        .subcommands(registry.iter().map(|p| p.command()))
        .subcommand_required(true)
        .subcommand_value_name("SINK")
        .subcommand_help_heading("Sinks")
}

/// The whole command tree.
pub fn command(registry: &Registry<'_>) -> Command {
    let dump = rdbinsight_sink_api::with_args::<dump::DumpArgs>(
        Command::new("dump")
            .about("Read snapshots and write one row per key to a sink")
            .long_about(
                "Read snapshots and write one row per key to a sink.\n\n\
                 Usage: rdbinsight dump [DUMP FLAGS] <SOURCE> [SOURCE FLAGS] <SINK> [SINK FLAGS]\n\
                 Example: rdbinsight dump from-file --path dump.rdb into-parquet --dir out",
            ),
    )
    .subcommands(
        SourceArgs::commands()
            .into_iter()
            .map(|c| with_sinks(c, registry)),
    )
    .subcommand_required(true)
    .subcommand_value_name("SOURCE")
    .subcommand_help_heading("Sources");
    let analyze = rdbinsight_sink_api::with_args::<crate::commands::analyze::AnalyzeArgs>(
        Command::new("analyze").about(
            "One shot: dump RDB files into Parquet and write the HTML report, then summarise",
        ),
    );
    let outputs = rdbinsight_sink_api::with_args::<outputs::OutputsArgs>(
        Command::new("outputs").about("List the registered output sinks"),
    );
    let inspect = rdbinsight_sink_api::with_args::<inspect::InspectArgs>(
        Command::new("inspect")
            .about("Show an RDB file's header, AUX fields and per-db key counts"),
    );
    let misc = crate::commands::misc::command();
    rdbinsight_sink_api::with_args::<GlobalArgs>(
        Command::new("rdbinsight")
            .version(env!("CARGO_PKG_VERSION"))
            .about("Turn Redis/Valkey RDB snapshots into one row of metadata per key")
            .subcommand_required(true)
            .arg_required_else_help(true)
            .subcommand(analyze)
            .subcommand(dump)
            .subcommand(crate::commands::report::command())
            .subcommand(outputs)
            .subcommand(inspect)
            .subcommand(misc),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::{registry, DEFAULT_SINKS};

    #[test]
    fn cli_is_consistent() {
        command(registry().unwrap()).debug_assert();
    }

    #[test]
    fn every_source_has_every_sink_in_order() {
        let reg = registry().unwrap();
        let cmd = command(reg);
        let dump = cmd.find_subcommand("dump").unwrap();
        for source in crate::source::SOURCE_NAMES {
            let src = dump.find_subcommand(source).unwrap();
            let sinks: Vec<&str> = src.get_subcommands().map(|c| c.get_name()).collect();
            let want: Vec<String> = reg.iter().map(|p| p.subcommand_name()).collect();
            assert_eq!(sinks, want);
            for d in DEFAULT_SINKS {
                assert!(sinks.contains(&format!("into-{d}").as_str()));
            }
        }
    }
}
