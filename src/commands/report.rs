//! `rdbinsight report from-parquet ...`: the offline HTML report of a published batch.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{ArgMatches, FromArgMatches};

use crate::report::{self, prefix::DEFAULT_DELIMITERS, Aggregator};

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

/// The `report` command tree.
pub fn command() -> clap::Command {
    clap::Command::new("report")
        .about("Write the offline HTML report of a dumped batch")
        .subcommand_required(true)
        .subcommand(rdbinsight_sink_api::with_args::<FromParquetArgs>(
            clap::Command::new("from-parquet").about("Report a batch written by into-parquet"),
        ))
}

/// Builds the report of a Parquet batch.
#[cfg(feature = "sink-parquet")]
pub fn report_from_parquet(args: &FromParquetArgs) -> Result<(report::Report, PathBuf)> {
    use rdbinsight_sink_parquet::reader;
    let batch_dir = reader::find_batch(&args.dir, &args.cluster, args.batch.as_deref())?;
    let mut agg = Aggregator::new(
        &args.cluster,
        &batch_dir.display().to_string(),
        &args.delimiters,
    );
    reader::for_each_batch(&batch_dir, |b| agg.add(b))?;
    let out = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "report-{}.html",
            rdbinsight_sink_parquet::path::sanitize_name(&args.cluster)
        ))
    });
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
        _ => bail!("report needs a source: from-parquet"),
    }
}
