//! `from-file`: RDB files on disk (plain or `.gz` / `.zst` / `.lz4` compressed) or stdin.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::read_ahead::read_ahead;
use super::{InstanceSpec, SlotMode};
use crate::parser::chunks::ChunkSource;

/// Flags of `from-file`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct FileArgs {
    /// RDB file to read (repeat for several; globs like 'dumps/*.rdb' are expanded; `-` is stdin).
    /// Files ending in .gz, .zst or .lz4 are decompressed on the fly.
    #[arg(long = "path", required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Cluster name written in every row.
    #[arg(long, env = "RDBINSIGHT_CLUSTER", default_value = "default")]
    pub cluster: String,
    /// Instance name written in every row (only with a single file; by default the file name
    /// without its .rdb and compression extensions).
    #[arg(long)]
    pub instance: Option<String>,
}

/// How a file is compressed, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    Lz4,
}

fn compression_of(path: &Path) -> Compression {
    match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Compression::Gzip,
        Some("zst") | Some("zstd") => Compression::Zstd,
        Some("lz4") => Compression::Lz4,
        _ => Compression::None,
    }
}

/// Instance name derived from a file name: without directories, compression and `.rdb` suffixes.
pub fn instance_from_path(path: &Path) -> String {
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".to_string());
    for suffix in [".gz", ".zst", ".zstd", ".lz4", ".rdb"] {
        if let Some(stripped) = name.strip_suffix(suffix) {
            if !stripped.is_empty() {
                name = stripped.to_string();
            }
        }
    }
    name
}

fn expand(paths: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for p in paths {
        if p != "-" && p.contains(['*', '?', '[']) && !Path::new(p).exists() {
            let mut matched: Vec<String> = glob::glob(p)
                .with_context(|| format!("invalid glob pattern {p:?}"))?
                .map(|r| r.map(|pb| pb.to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()
                .with_context(|| format!("reading the matches of {p:?}"))?;
            if matched.is_empty() {
                bail!("no file matches {p:?}");
            }
            matched.sort();
            out.extend(matched);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Opens a file (decompressing by its extension), read ahead on a thread of its own.
fn open_path(path: &Path) -> Result<Box<dyn ChunkSource>> {
    read_ahead(open_stream(path)?, &path.display().to_string())
}

fn open_stream(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let file = BufReader::with_capacity(1 << 16, file);
    Ok(match compression_of(path) {
        Compression::None => Box::new(file.into_inner()),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(file)
                .with_context(|| format!("cannot start zstd decoding of {}", path.display()))?,
        ),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(file)),
    })
}

impl FileArgs {
    /// One instance per file.
    pub fn instances(&self) -> Result<Vec<InstanceSpec>> {
        let paths = expand(&self.paths)?;
        if self.instance.is_some() && paths.len() > 1 {
            bail!(
                "--instance names one file's instance, but {} files were given",
                paths.len()
            );
        }
        if paths.iter().filter(|p| p.as_str() == "-").count() > 1 {
            bail!("stdin (`-`) can be read only once");
        }
        let mut specs = Vec::with_capacity(paths.len());
        let mut seen = std::collections::BTreeSet::new();
        for p in paths {
            let (name, origin) = if p == "-" {
                ("stdin".to_string(), "stdin".to_string())
            } else {
                let path = PathBuf::from(&p);
                (instance_from_path(&path), path.display().to_string())
            };
            let name = self.instance.clone().unwrap_or(name);
            if !seen.insert(name.clone()) {
                bail!("two files give the same instance name {name:?}; rename one of them");
            }
            let size_hint = (p != "-" && compression_of(Path::new(&p)) == Compression::None)
                .then(|| std::fs::metadata(&p).ok().map(|m| m.len()))
                .flatten();
            let open: Box<dyn FnOnce() -> Result<Box<dyn ChunkSource>> + Send> = if p == "-" {
                Box::new(|| read_ahead(Box::new(io::stdin()), "stdin"))
            } else {
                let path = PathBuf::from(p);
                Box::new(move || open_path(&path))
            };
            specs.push(InstanceSpec {
                name,
                origin,
                slots: SlotMode::FromFile,
                open,
                size_hint,
            });
        }
        Ok(specs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_from_files() {
        assert_eq!(
            instance_from_path(Path::new("/x/redis-7.0.15-all.rdb")),
            "redis-7.0.15-all"
        );
        assert_eq!(
            instance_from_path(Path::new("node-1:6379.rdb.gz")),
            "node-1:6379"
        );
        assert_eq!(instance_from_path(Path::new("dump.rdb.zst")), "dump");
        assert_eq!(instance_from_path(Path::new(".rdb")), ".rdb");
    }
}
