//! `rdbinsight dump <source> [flags] <sink> [flags]`.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, FromArgMatches};
use rdbinsight_sink_api::{Registry, RunInfo, SinkConfig};
use serde::Serialize;

use crate::batch::DEFAULT_BATCH_ROWS;
use crate::dump::{self, DumpPlan};
use crate::parser::ParseOptions;
use crate::progress::display::{Display, Mode};
use crate::progress::summary_table;
use crate::source::SourceArgs;

/// Flags of `dump` shared by every source and sink.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct DumpArgs {
    /// Print the resolved source, dump and sink configuration as JSON (secrets as ***) and exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,
    /// Instances read at once (1-8; default: half the cores).
    #[arg(long, env = "RDBINSIGHT_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..=8))]
    pub concurrency: Option<u16>,
    /// Rows per Arrow batch (or block of the sink's row encoder) handed to the sink.
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS, value_parser = parse_batch_rows)]
    pub batch_rows: usize,
    /// Read files whose CRC64 trailer does not match their content.
    #[arg(long)]
    pub no_verify_checksum: bool,
    /// The batch timestamp (RFC 3339 such as 2026-11-27T06:00:00.123456789Z, or nanoseconds
    /// since the epoch) instead of now: re-running a failed batch with its timestamp replaces
    /// what the failed attempt left; a completed batch is never rewritten.
    #[arg(long, value_name = "TIME", value_parser = parse_batch_time)]
    pub batch: Option<i64>,
    /// Serve Prometheus metrics of the run at http://ADDR/metrics while it lasts
    /// (e.g. 127.0.0.1:9184).
    #[arg(long, value_name = "ADDR", env = "RDBINSIGHT_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// Largest key name accepted, in bytes.
    #[arg(long, default_value_t = 512 << 20, env = "RDBINSIGHT_MAX_KEY_BYTES")]
    pub max_key_bytes: u64,
}

fn parse_batch_rows(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1 << 22).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a row count between 1 and {}",
            1 << 22
        )),
    }
}

/// Parses a batch timestamp: RFC 3339 or integer nanoseconds since the Unix epoch.
pub fn parse_batch_time(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is neither RFC 3339 time nor nanoseconds: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| format!("{s:?} is out of range"))
}

impl DumpArgs {
    fn concurrency(&self) -> usize {
        match self.concurrency {
            Some(n) => n as usize,
            None => {
                let cores = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2);
                (cores / 2).clamp(1, 8)
            }
        }
    }
}

#[derive(Serialize)]
struct PrintedConfig<'a> {
    dump: &'a DumpArgs,
    concurrency: usize,
    source: PrintedSource<'a>,
    sink: PrintedSink<'a>,
}

#[derive(Serialize)]
struct PrintedSource<'a> {
    name: &'a str,
    config: &'a SourceArgs,
}

#[derive(Serialize)]
struct PrintedSink<'a> {
    name: &'a str,
    config: &'a dyn SinkConfig,
}

/// Runs a dump with its progress display, optional metrics endpoint and, unless quiet, the
/// summary table on stderr.
pub async fn run_observed(
    plan: DumpPlan,
    config: &dyn SinkConfig,
    quiet: bool,
    metrics_addr: Option<&str>,
) -> Result<dump::DumpOutcome> {
    let counters = plan.counters(config.sink_name());
    let metrics = match metrics_addr {
        Some(addr) => Some(crate::progress::metrics::serve(addr, counters.clone()).await?),
        None => None,
    };
    let display = Display::start(counters.clone(), Mode::detect(quiet));
    let result = dump::run(plan, config, &counters).await;
    display.stop().await;
    if let Some(task) = metrics {
        task.abort();
    }
    if !quiet {
        let location = match &result {
            Ok(outcome) => outcome.committed.to_string(),
            Err(_) => "nothing published".to_string(),
        };
        eprint!("{}", summary_table(&counters, &location));
    }
    result
}

/// Runs `dump`.
pub async fn exec(
    matches: &ArgMatches,
    registry: &Registry<'_>,
    quiet: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let args = DumpArgs::from_arg_matches(matches)?;
    let Some((source_name, source_matches)) = matches.subcommand() else {
        bail!("dump needs a source (from-file, from-standalone, from-cluster, from-codis)");
    };
    let source = SourceArgs::from_matches(source_name, source_matches)?;
    let Some((sink_cmd, sink_matches)) = source_matches.subcommand() else {
        bail!("dump needs a sink (into-<name>, see `rdbinsight outputs`)");
    };
    let Some(plugin) = registry.by_subcommand(sink_cmd) else {
        bail!("unknown sink {sink_cmd}");
    };
    let config = (plugin.parse)(sink_matches).with_context(|| format!("sink {}", plugin.name))?;
    if args.print_config {
        let printed = PrintedConfig {
            dump: &args,
            concurrency: args.concurrency(),
            source: PrintedSource {
                name: source_name,
                config: &source,
            },
            sink: PrintedSink {
                name: plugin.name,
                config: config.as_ref(),
            },
        };
        serde_json::to_writer_pretty(&mut *out, &printed)?;
        writeln!(out)?;
        return Ok(());
    }
    config
        .validate()
        .with_context(|| format!("invalid configuration of sink {}", plugin.name))?;
    let (cluster, instances) = source.resolve()?;
    let batch_unix_nanos = match args.batch {
        Some(nanos) => nanos,
        None => i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos())
            .context("the clock is beyond the year 2262")?,
    };
    let plan = DumpPlan {
        run: RunInfo {
            cluster,
            batch_unix_nanos,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        },
        instances,
        parse: ParseOptions {
            verify_checksum: !args.no_verify_checksum,
            max_key_bytes: args.max_key_bytes,
            ..ParseOptions::default()
        },
        batch_rows: args.batch_rows,
        concurrency: args.concurrency(),
        interrupt: Some(dump::watch_signals()),
    };
    let outcome = run_observed(plan, config.as_ref(), quiet, args.metrics_addr.as_deref()).await?;
    let rows: u64 = outcome.instances.iter().map(|(_, s)| s.rows).sum();
    let bytes: u64 = outcome.instances.iter().map(|(_, s)| s.rdb_bytes).sum();
    eprintln!(
        "dumped {rows} keys from {} instance(s) ({bytes} RDB bytes) into {}",
        outcome.instances.len(),
        outcome.committed
    );
    Ok(())
}
