//! `rdbinsight outputs`: the registered sinks, as an aligned table or JSON.

use std::io::Write;

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches};
use rdbinsight_sink_api::{Registry, SinkPlugin};
use serde::Serialize;

/// Flags of `outputs`.
#[derive(Debug, clap::Args)]
pub struct OutputsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output formats of `outputs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Text,
    /// A JSON array.
    Json,
}

#[derive(Serialize)]
struct FlagInfo {
    long: String,
    value: Option<String>,
    required: bool,
    default: Vec<String>,
    env: Option<String>,
    help: String,
}

#[derive(Serialize)]
struct SinkInfo {
    name: &'static str,
    subcommand: String,
    about: &'static str,
    #[serde(rename = "crate")]
    crate_name: &'static str,
    version: &'static str,
    flags: Vec<FlagInfo>,
}

fn flags(plugin: &SinkPlugin) -> Vec<FlagInfo> {
    plugin
        .command()
        .get_arguments()
        .filter(|a| a.get_long().is_some())
        .map(|a| FlagInfo {
            long: format!("--{}", a.get_long().unwrap_or_default()),
            value: a.get_action().takes_values().then(|| {
                a.get_value_names()
                    .and_then(|v| v.first())
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "VALUE".into())
            }),
            required: a.is_required_set(),
            default: a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect(),
            env: a.get_env().map(|e| e.to_string_lossy().into_owned()),
            help: a.get_help().map(|h| h.to_string()).unwrap_or_default(),
        })
        .collect()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Runs `outputs`; `verbose` adds each sink's flags.
pub fn exec(
    matches: &ArgMatches,
    verbose: bool,
    registry: &Registry<'_>,
    out: &mut dyn Write,
) -> Result<()> {
    let args = OutputsArgs::from_arg_matches(matches)?;
    let infos: Vec<SinkInfo> = registry
        .iter()
        .map(|p| SinkInfo {
            name: p.name,
            subcommand: p.subcommand_name(),
            about: p.about,
            crate_name: p.crate_name,
            version: p.crate_version,
            flags: flags(p),
        })
        .collect();
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &infos)?;
        writeln!(out)?;
        return Ok(());
    }
    let w_name = infos.iter().map(|i| i.name.len()).max().unwrap_or(0).max(4);
    let w_about = infos
        .iter()
        .map(|i| first_line(i.about).len())
        .max()
        .unwrap_or(0)
        .max(5);
    let w_crate = infos
        .iter()
        .map(|i| i.crate_name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    writeln!(
        out,
        "{:<w_name$}  {:<w_about$}  {:<w_crate$}  VERSION",
        "NAME", "ABOUT", "CRATE"
    )?;
    for i in &infos {
        writeln!(
            out,
            "{:<w_name$}  {:<w_about$}  {:<w_crate$}  {}",
            i.name,
            first_line(i.about),
            i.crate_name,
            i.version
        )?;
        if verbose {
            for f in &i.flags {
                let mut spec = f.long.clone();
                if let Some(v) = &f.value {
                    spec.push_str(&format!(" <{v}>"));
                }
                let mut notes = Vec::new();
                if f.required {
                    notes.push("required".to_string());
                }
                if !f.default.is_empty() {
                    notes.push(format!("default: {}", f.default.join(",")));
                }
                if let Some(e) = &f.env {
                    notes.push(format!("env: {e}"));
                }
                let notes = if notes.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", notes.join("; "))
                };
                writeln!(out, "    {spec:<28} {}{notes}", first_line(&f.help))?;
            }
        }
    }
    Ok(())
}
