//! `rdbinsight misc ...`: shell completions.

use std::io::Write;

use anyhow::Result;
use clap::ArgMatches;

/// Runs `misc`.
pub fn exec(matches: &ArgMatches, mut cmd: clap::Command, out: &mut dyn Write) -> Result<()> {
    if let Some(("completion", m)) = matches.subcommand() {
        let shell = *m
            .get_one::<clap_complete::Shell>("shell")
            .expect("required");
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "rdbinsight", &mut script);
        out.write_all(&script)?;
    }
    Ok(())
}
