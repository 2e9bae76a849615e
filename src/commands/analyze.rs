//! `rdbinsight analyze <rdb>...`: the one-shot path: dump into Parquet under a default
//! directory, write the report, print where both are and a short summary.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::ArgMatches;

/// Flags of `analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// RDB files (plain, .gz, .zst, .lz4; globs expanded).
    #[arg(required = true, value_name = "RDB")]
    pub files: Vec<String>,
    /// Output directory for the Parquet batch and the report.
    #[arg(long, default_value = "rdbinsight-out", value_name = "PATH")]
    pub out_dir: PathBuf,
    /// Cluster name.
    #[arg(long, default_value = "default")]
    pub cluster: String,
}

/// Runs `analyze`.
#[cfg(feature = "sink-parquet")]
pub async fn exec(matches: &ArgMatches, quiet: bool, out: &mut dyn Write) -> Result<()> {
    use anyhow::Context;
    use clap::FromArgMatches;
    use rdbinsight_sink_api::RunInfo;

    use crate::batch::DEFAULT_BATCH_ROWS;
    use crate::dump::{self, DumpPlan};
    use crate::parser::ParseOptions;
    use crate::report;
    use crate::source::file::FileArgs;

    let args = AnalyzeArgs::from_arg_matches(matches)?;
    let files = FileArgs {
        paths: args.files.clone(),
        cluster: args.cluster.clone(),
        instance: None,
    };
    let config = rdbinsight_sink_parquet::ParquetConfig::new(&args.out_dir);
    let batch_unix_nanos = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos())
        .context("the clock is beyond the year 2262")?;
    let plan = DumpPlan {
        run: RunInfo {
            cluster: args.cluster.clone(),
            batch_unix_nanos,
            tool_version: env!("CARGO_PKG_VERSION").into(),
        },
        instances: files.instances()?,
        parse: ParseOptions::default(),
        batch_rows: DEFAULT_BATCH_ROWS,
        concurrency: std::thread::available_parallelism()
            .map(|n| (n.get() / 2).clamp(1, 8))
            .unwrap_or(1),
        interrupt: Some(dump::watch_signals()),
    };
    let outcome = super::dump::run_observed(plan, &config, quiet, None).await?;
    let report_args = super::report::FromParquetArgs {
        dir: args.out_dir.clone(),
        cluster: args.cluster.clone(),
        batch: PathBuf::from(&outcome.committed.location)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        output: Some(args.out_dir.join(format!(
            "report-{}.html",
            rdbinsight_sink_parquet::path::sanitize_name(&args.cluster)
        ))),
        delimiters: report::prefix::DEFAULT_DELIMITERS.to_string(),
    };
    let (rep, path) = super::report::report_from_parquet(&report_args)?;
    report::write(&rep, &path)?;
    writeln!(out, "parquet: {}", outcome.committed.location)?;
    writeln!(out, "report:  {}", path.display())?;
    write!(out, "{}", report::summary(&rep))?;
    Ok(())
}

/// Runs `analyze`.
#[cfg(not(feature = "sink-parquet"))]
pub async fn exec(_matches: &ArgMatches, _quiet: bool, _out: &mut dyn Write) -> Result<()> {
    anyhow::bail!("this build has no Parquet support (feature sink-parquet)")
}
