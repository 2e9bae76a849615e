//! Logging: `tracing` to stderr, level from -v/-q or RUST_LOG, text or JSON.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(verbose: u8, quiet: bool, format: LogFormat) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // The HTTP client's TRACE level prints requests on the wire, credential headers included:
    // never let it through, whatever RUST_LOG says.
    let env_traces =
        std::env::var("RUST_LOG").is_ok_and(|v| v.to_ascii_lowercase().contains("trace"));
    if level == "trace" || env_traces {
        for directive in ["ureq=debug", "ureq_proto=debug", "rustls=debug"] {
            if let Ok(d) = directive.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
