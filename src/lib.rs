//! rdbinsight: Redis/Valkey RDB snapshots to one row of metadata per key, written to pluggable
//! sinks.
//!
//! The binary (`main.rs`) is a thin shell over [`run`]. The pieces: [`parser`] (streaming RDB
//! reader), [`batch`] (Arrow batches of the record schema), [`source`] (where snapshots come
//! from), [`dump`] (the pipeline), [`sinks`] (the link file and registry), [`cli`] and
//! [`commands`].

pub mod batch;
pub mod cli;
pub mod commands;
pub mod dump;
pub mod logging;
pub mod parser;
pub mod progress;
pub mod report;
pub mod sinks;
pub mod slot;
pub mod source;

use std::io::{self, Write};

use anyhow::Result;

/// Exit code of a failed run.
pub const EXIT_ERROR: i32 = 1;
/// Exit code of a usage error (clap's own).
pub const EXIT_USAGE: i32 = 2;
/// Exit code after Ctrl-C or SIGTERM.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs the command line `args`; returns the process exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> i32 {
    let registry = match sinks::registry() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let matches = match cli::command(registry).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let global = match <cli::GlobalArgs as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(g) => g,
        Err(e) => {
            let _ = e.print();
            return EXIT_USAGE;
        }
    };
    logging::init(global.verbose, global.quiet, global.log_format);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = dispatch(&matches, &global, registry, &mut out)
        .and_then(|()| out.flush().map_err(Into::into));
    match result {
        Ok(()) => 0,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) if e.chain().any(|c| c.is::<dump::Interrupted>()) => {
            eprintln!("error: {e:#}");
            EXIT_INTERRUPTED
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            if format!("{e:#}").contains("os error 24") {
                eprintln!(
                    "hint: the process ran out of file descriptors: raise `ulimit -n`, or lower \
                     --concurrency"
                );
            }
            EXIT_ERROR
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == io::ErrorKind::BrokenPipe)
    })
}

fn dispatch(
    matches: &clap::ArgMatches,
    global: &cli::GlobalArgs,
    registry: &'static rdbinsight_sink_api::Registry<'static>,
    out: &mut dyn Write,
) -> Result<()> {
    match matches.subcommand() {
        Some(("dump", m)) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = rt.block_on(commands::dump::exec(m, registry, global.quiet, out));
            // A parser thread may still block on a source that never ends (interrupt).
            rt.shutdown_background();
            result
        }
        Some(("analyze", m)) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = rt.block_on(commands::analyze::exec(m, global.quiet, out));
            rt.shutdown_background();
            result
        }
        Some(("report", m)) => commands::report::exec(m, out),
        Some(("outputs", m)) => commands::outputs::exec(m, global.verbose > 0, registry, out),
        Some(("inspect", m)) => commands::inspect::exec(m, out),
        Some(("misc", m)) => commands::misc::exec(m, cli::command(registry), out),
        _ => unreachable!("clap requires a subcommand"),
    }
}
