//! Flags and resolved configuration of `into-parquet`.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use parquet::basic::{Compression as PqCompression, GzipLevel, ZstdLevel};
use rdbinsight_sink_api::{SinkArgs, SinkConfig};
use serde::Serialize;

/// Default sort memory per instance, as the flag shows it.
pub const DEFAULT_MAX_MEMORY: &str = "32MiB";
/// [`DEFAULT_MAX_MEMORY`] in bytes.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 32 << 20;
/// Default rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;

/// Flags of `into-parquet`.
#[derive(Debug, clap::Args)]
pub struct ParquetArgs {
    /// Output directory; batches go to <dir>/cluster=<cluster>/batch=<time>/.
    #[arg(long, value_name = "PATH", env = "RDBINSIGHT_PARQUET_DIR")]
    pub dir: PathBuf,
    /// Compression codec of the Parquet pages.
    #[arg(long, value_enum, default_value_t = Codec::Zstd)]
    pub compression: Codec,
    /// Memory for sorting rows by (db, key), per instance; beyond it, sorted runs spill to disk
    /// under the batch's temporary directory (e.g. 64MiB, 1GiB).
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_MAX_MEMORY, value_parser = parse_size)]
    pub max_memory: u64,
    /// Rows per row group (at most; row groups are also cut at 128 MiB).
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_ROW_GROUP_ROWS)]
    pub row_group_rows: usize,
}

/// Compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Zstandard (level 1): small files, fast reads.
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 (raw, the non-deprecated Parquet codec).
    Lz4,
    /// Gzip (level 6).
    Gzip,
    /// No compression.
    None,
}

impl Codec {
    /// The Parquet codec.
    pub fn parquet(self) -> PqCompression {
        match self {
            // Level 1: on these delta- and dictionary-coded pages, files within 5% of level 3's
            // (the 1 GiB bench file's even smaller) for 6% less CPU in a dump.
            Self::Zstd => PqCompression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()),
            Self::Snappy => PqCompression::SNAPPY,
            Self::Lz4 => PqCompression::LZ4_RAW,
            Self::Gzip => PqCompression::GZIP(GzipLevel::default()),
            Self::None => PqCompression::UNCOMPRESSED,
        }
    }
}

/// Parses `123`, `64KiB`, `64MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 64MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{s:?}: unknown size unit {unit:?} (use KiB, MiB or GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Resolved configuration of the Parquet sink.
#[derive(Debug, Clone, Serialize)]
pub struct ParquetConfig {
    /// Output directory.
    pub dir: PathBuf,
    /// Page compression.
    pub compression: Codec,
    /// Sort memory per instance, bytes.
    pub max_memory: u64,
    /// Rows per row group.
    pub row_group_rows: usize,
}

impl SinkArgs for ParquetArgs {
    fn into_config(self) -> Result<Box<dyn SinkConfig>> {
        Ok(Box::new(ParquetConfig {
            dir: self.dir,
            compression: self.compression,
            max_memory: self.max_memory,
            row_group_rows: self.row_group_rows,
        }))
    }
}

impl ParquetConfig {
    /// A configuration with defaults for everything but the directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            compression: Codec::Zstd,
            max_memory: DEFAULT_MAX_MEMORY_BYTES,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
        }
    }

    /// Checks values without touching the file system.
    pub fn check(&self) -> Result<()> {
        ensure!(!self.dir.as_os_str().is_empty(), "--dir must not be empty");
        ensure!(
            self.max_memory >= 1 << 20,
            "--max-memory must be at least 1MiB"
        );
        ensure!(
            self.row_group_rows >= 1,
            "--row-group-rows must be at least 1"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert_eq!(parse_size(DEFAULT_MAX_MEMORY), Ok(DEFAULT_MAX_MEMORY_BYTES));
    }

    #[test]
    fn validation() {
        assert!(ParquetConfig::new("/x").check().is_ok());
        assert!(ParquetConfig::new("").check().is_err());
        let mut c = ParquetConfig::new("/x");
        c.max_memory = 10;
        assert!(c.check().is_err());
    }
}
