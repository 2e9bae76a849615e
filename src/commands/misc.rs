//! `rdbinsight misc ...`: shell completions and the ClickHouse DDL.

use std::io::Write;

use anyhow::Result;
use clap::{Arg, ArgMatches, Command, FromArgMatches};

/// Flags of `misc clickhouse-schema`.
#[derive(Debug, clap::Args)]
pub struct ClickhouseSchemaArgs {
    /// Database the statements create objects in.
    #[arg(long, default_value = "default")]
    pub database: String,
    /// Retention: rows are deleted this many days after their batch (0: keep forever).
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub ttl_days: u32,
}

/// The `misc` command tree.
pub fn command() -> Command {
    let misc = Command::new("misc")
        .about("Helpers: shell completions, the ClickHouse schema")
        .subcommand_required(true)
        .subcommand(
            Command::new("completion")
                .about("Print a shell completion script")
                .arg(
                    Arg::new("shell")
                        .required(true)
                        .value_parser(clap::value_parser!(clap_complete::Shell)),
                ),
        );
    if cfg!(feature = "sink-clickhouse") {
        misc.subcommand(rdbinsight_sink_api::with_args::<ClickhouseSchemaArgs>(
            Command::new("clickhouse-schema").about(
                "Print the DDL of the ClickHouse tables and view that into-clickhouse writes to",
            ),
        ))
    } else {
        misc
    }
}

/// Runs `misc`.
pub fn exec(matches: &ArgMatches, mut cmd: Command, out: &mut dyn Write) -> Result<()> {
    match matches.subcommand() {
        Some(("completion", m)) => {
            let shell = *m
                .get_one::<clap_complete::Shell>("shell")
                .expect("required");
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "rdbinsight", &mut script);
            out.write_all(&script)?;
        }
        Some(("clickhouse-schema", m)) => {
            let args = ClickhouseSchemaArgs::from_arg_matches(m)?;
            write_clickhouse_schema(&args, out)?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(feature = "sink-clickhouse")]
fn write_clickhouse_schema(args: &ClickhouseSchemaArgs, out: &mut dyn Write) -> Result<()> {
    let script = rdbinsight_sink_clickhouse::schema::script(&args.database, args.ttl_days);
    out.write_all(script.as_bytes())?;
    Ok(())
}

#[cfg(not(feature = "sink-clickhouse"))]
fn write_clickhouse_schema(_args: &ClickhouseSchemaArgs, _out: &mut dyn Write) -> Result<()> {
    anyhow::bail!("this build has no ClickHouse support (feature sink-clickhouse)")
}
