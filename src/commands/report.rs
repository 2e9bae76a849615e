//! `rdbinsight report from-parquet ...`: the offline HTML report of a published batch.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{ArgMatches, FromArgMatches};

#[cfg(feature = "sink-parquet")]
use crate::report::aggregate::{DICTIONARY_COLUMNS, READ_COLUMNS};
use crate::report::{self, prefix::DEFAULT_DELIMITERS};

/// Flags of `report from-parquet`.
#[derive(Debug, clap::Args)]
pub struct FromParquetArgs {
    /// The Parquet sink's output directory (its --dir).
    #[arg(long, value_name = "PATH")]
    pub dir: PathBuf,
    /// Cluster name of the batch.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Batch to report (its time slug, as in batch=<slug>); default: the newest.
    #[arg(long)]
    pub batch: Option<String>,
    /// Output HTML file (default: report-<cluster>.html in the current directory).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Characters after which key names are split into prefixes.
    #[arg(long, default_value = DEFAULT_DELIMITERS)]
    pub delimiters: String,
}

/// Flags of `report from-clickhouse`. `--url` is spelled as in the ClickHouse plugin's
/// `into-clickhouse`, not taken from it: the command, and its message that the build has no
/// ClickHouse support, exist in builds without that optional crate.
#[derive(Debug, clap::Args)]
pub struct FromClickhouseArgs {
    /// ClickHouse HTTP endpoint: http[s]://[user[:password]@]host[:port]/?database=<db>.
    #[arg(
        long,
        value_name = "URL",
        env = "RDBINSIGHT_CLICKHOUSE_URL",
        hide_env_values = true
    )]
    pub url: String,
    /// Cluster name of the batch.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Completed batch to report (RFC 3339 time or nanoseconds since the epoch); default: the
    /// newest.
    #[arg(long, value_name = "TIME", value_parser = crate::commands::dump::parse_batch_time)]
    pub batch: Option<i64>,
    /// Output HTML file (default: report-<cluster>.html in the current directory).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Characters after which key names are split into prefixes.
    #[arg(long, default_value = DEFAULT_DELIMITERS)]
    pub delimiters: String,
}

/// Builds the report of a completed ClickHouse batch.
#[cfg(feature = "sink-clickhouse")]
pub fn report_from_clickhouse(args: &FromClickhouseArgs) -> Result<(report::Report, PathBuf)> {
    use rdbinsight_sink_clickhouse::reader;
    let client = reader::connect(&args.url)?;
    let batch = reader::find_batch(&client, &args.cluster, args.batch)?;
    let label = format!("ClickHouse {} batch {batch}", client.url());
    let mut agg = report::Aggregator::new(&args.cluster, &label, &args.delimiters);
    report::from_clickhouse::aggregate(&client, &args.cluster, batch, &args.delimiters, &mut agg)?;
    Ok((agg.finish(), default_output(&args.output, &args.cluster)))
}

/// Builds the report of a completed ClickHouse batch.
#[cfg(not(feature = "sink-clickhouse"))]
pub fn report_from_clickhouse(_args: &FromClickhouseArgs) -> Result<(report::Report, PathBuf)> {
    bail!("this build has no ClickHouse support (feature sink-clickhouse)")
}

#[cfg(any(feature = "sink-parquet", feature = "sink-clickhouse"))]
fn default_output(output: &Option<PathBuf>, cluster: &str) -> PathBuf {
    output.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "report-{}.html",
            rdbinsight_sink_api::names::safe_file_name(cluster)
        ))
    })
}

/// The `report` command tree.
pub fn command() -> clap::Command {
    clap::Command::new("report")
        .about("Write the offline HTML report of a dumped batch")
        .subcommand_required(true)
        .subcommand(rdbinsight_sink_api::with_args::<FromParquetArgs>(
            clap::Command::new("from-parquet").about("Report a batch written by into-parquet"),
        ))
        .subcommand(rdbinsight_sink_api::with_args::<FromClickhouseArgs>(
            clap::Command::new("from-clickhouse")
                .about("Report a completed batch written by into-clickhouse"),
        ))
}

/// Builds the report of a Parquet batch.
#[cfg(feature = "sink-parquet")]
pub fn report_from_parquet(args: &FromParquetArgs) -> Result<(report::Report, PathBuf)> {
    use rdbinsight_sink_parquet::reader;
    let batch_dir = reader::find_batch(&args.dir, &args.cluster, args.batch.as_deref())?;
    let mut agg = report::Aggregator::new(
        &args.cluster,
        &batch_dir.display().to_string(),
        &args.delimiters,
    );
    report::aggregate_overlapped(&mut agg, |send| {
        reader::for_each_batch_with_keys(
            &batch_dir,
            &READ_COLUMNS,
            &DICTIONARY_COLUMNS,
            rdbinsight_sink_api::schema::KEY,
            send,
        )
    })?;
    let out = default_output(&args.output, &args.cluster);
    Ok((agg.finish(), out))
}

/// Builds the report of a Parquet batch.
#[cfg(not(feature = "sink-parquet"))]
pub fn report_from_parquet(_args: &FromParquetArgs) -> Result<(report::Report, PathBuf)> {
    bail!("this build has no Parquet support (feature sink-parquet)")
}

/// Runs `report`.
pub fn exec(matches: &ArgMatches, out: &mut dyn Write) -> Result<()> {
    match matches.subcommand() {
        Some(("from-parquet", m)) => {
            let args = FromParquetArgs::from_arg_matches(m)?;
            let (rep, path) = report_from_parquet(&args)?;
            report::write(&rep, &path)?;
            write!(out, "{}", report::summary(&rep))?;
            writeln!(out, "report: {}", path.display())?;
            Ok(())
        }
        Some(("from-clickhouse", m)) => {
            let args = FromClickhouseArgs::from_arg_matches(m)?;
            let (rep, path) = report_from_clickhouse(&args)?;
            report::write(&rep, &path)?;
            write!(out, "{}", report::summary(&rep))?;
            writeln!(out, "report: {}", path.display())?;
            Ok(())
        }
        _ => bail!("report needs a source: from-parquet or from-clickhouse"),
    }
}
