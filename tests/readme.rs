//! The README's commands cannot go stale: every `rdbinsight ...` line of the `sh` blocks of
//! README.md and docs/usage.md parses with the real command line (optional `[...]` parts
//! included), and the quick start's main job runs, writing its Parquet batch and report.

use std::path::PathBuf;

use crate::util::{bin, run_ok};

/// The command lines of a document's `sh` blocks (continuations joined, comments and output
/// redirections removed).
fn sh_lines_of(doc: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        match line.trim_end() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh => {
                let l = l.split("  #").next().unwrap_or(l);
                let l = l.split(" > ").next().unwrap_or(l).trim_end();
                if let Some(cont) = l.strip_suffix('\\') {
                    pending.push_str(cont.trim());
                    pending.push(' ');
                } else {
                    pending.push_str(l.trim());
                    if !pending.is_empty() {
                        lines.push(std::mem::take(&mut pending));
                    }
                }
            }
            _ => {}
        }
    }
    lines
}

fn sh_lines() -> Vec<String> {
    sh_lines_of("README.md")
}

/// Splits a command line the way a shell would for these simple cases (quotes, no escapes).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn every_readme_command_line_parses() {
    let registry = rdbinsight::sinks::registry().unwrap();
    let lines: Vec<String> = sh_lines()
        .into_iter()
        .chain(sh_lines_of("docs/usage.md"))
        .filter(|l| l.starts_with("rdbinsight ") && !l.contains('<'))
        .collect();
    assert!(lines.len() >= 14, "{lines:?}");
    for line in lines {
        let unwrapped = line.replace(['[', ']'], "");
        let args = words(&unwrapped);
        if let Err(e) = rdbinsight::cli::command(registry).try_get_matches_from(&args) {
            panic!("README line does not parse: {line}\n{e}");
        }
    }
}

#[test]
fn the_quick_start_main_job_runs() {
    let lines = sh_lines();
    let quick = lines
        .iter()
        .find(|l| l.starts_with("cargo run --release -- analyze "))
        .expect("the quick start's analyze command");
    let args = words(quick.trim_start_matches("cargo run --release -- "));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cwd = tempfile::tempdir().unwrap();
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            if a.starts_with("tests/") {
                root.join(&a).display().to_string()
            } else {
                a
            }
        })
        .collect();
    let out = run_ok(bin().args(&args).current_dir(cwd.path()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("report:"), "{text}");
    assert!(cwd
        .path()
        .join("rdbinsight-out/report-default.html")
        .exists());
    let batches =
        crate::parquet::batch_dirs(&cwd.path().join("rdbinsight-out/cluster=default"), "batch=");
    assert_eq!(batches.len(), 1);
    // The other README command is tests/run.sh, which .ci/run runs.
    assert!(lines.iter().any(|l| l == "bash tests/run.sh"));
}
