//! `rdbinsight inspect <file>`: header, AUX fields, per-db key counts and checksum of an RDB.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result};
use clap::{ArgMatches, FromArgMatches};

use crate::parser::{self, KeyRecord, ParseOptions, Visitor};

/// Flags of `inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// RDB file (plain, .gz, .zst or .lz4; `-` for stdin).
    #[arg(value_name = "FILE")]
    pub path: String,
    /// Read a file whose CRC64 trailer does not match.
    #[arg(long)]
    pub no_verify_checksum: bool,
}

#[derive(Default)]
struct Collect {
    version: u32,
    aux: Vec<(String, String)>,
    types: BTreeMap<(String, String), u64>,
}

impl Visitor for Collect {
    fn header(&mut self, v: u32) -> Result<()> {
        self.version = v;
        Ok(())
    }
    fn aux(&mut self, key: &[u8], value: &[u8]) {
        let shown = if value.len() > 80 {
            format!(
                "{}... ({} bytes)",
                String::from_utf8_lossy(&value[..80]),
                value.len()
            )
        } else {
            String::from_utf8_lossy(value).into_owned()
        };
        self.aux
            .push((String::from_utf8_lossy(key).into_owned(), shown));
    }
    fn key(&mut self, r: &KeyRecord<'_>) -> Result<()> {
        *self
            .types
            .entry((
                r.key_type.as_str().to_string(),
                r.encoding.as_str().to_string(),
            ))
            .or_default() += 1;
        Ok(())
    }
}

/// Runs `inspect`.
pub fn exec(matches: &ArgMatches, out: &mut dyn Write) -> Result<()> {
    let args = InspectArgs::from_arg_matches(matches)?;
    let file_args = crate::source::file::FileArgs {
        paths: vec![args.path.clone()],
        cluster: String::new(),
        instance: None,
    };
    let spec = file_args.instances()?.pop().context("no input")?;
    let reader = (spec.open)()?;
    let options = ParseOptions {
        verify_checksum: !args.no_verify_checksum,
        ..ParseOptions::default()
    };
    let mut c = Collect::default();
    let summary = parser::parse_chunks(reader, &options, &mut c)
        .with_context(|| format!("reading {}", spec.origin))?;
    writeln!(out, "file: {}", spec.origin)?;
    writeln!(
        out,
        "header: {} version {}",
        summary.magic, summary.rdb_version
    )?;
    writeln!(out, "bytes: {}", summary.bytes)?;
    writeln!(out, "checksum: {:?}", summary.checksum)?;
    writeln!(out, "aux:")?;
    for (k, v) in &c.aux {
        writeln!(out, "  {k} = {v}")?;
    }
    writeln!(
        out,
        "functions: {}  module_aux: {}",
        summary.functions, summary.module_aux
    )?;
    writeln!(out, "keys: {}", summary.keys())?;
    for (db, n) in &summary.keys_per_db {
        writeln!(out, "  db{db}: {n}")?;
    }
    writeln!(out, "types:")?;
    for ((t, e), n) in &c.types {
        writeln!(out, "  {t:<7} {e:<11} {n}")?;
    }
    Ok(())
}
