//! The link file: one line per first-party sink plugin, each behind its cargo feature, and the
//! registry read from them once at start-up.
//!
//! Adding a sink: a crate under `plugins/`, a feature in `Cargo.toml`, one line here.

use std::sync::OnceLock;

use rdbinsight_sink_api::{Registry, RegistryError};

#[cfg(feature = "sink-clickhouse")]
extern crate rdbinsight_sink_clickhouse as _;
#[cfg(feature = "sink-jsonl")]
extern crate rdbinsight_sink_jsonl as _;
#[cfg(feature = "sink-null")]
extern crate rdbinsight_sink_null as _;
#[cfg(feature = "sink-parquet")]
extern crate rdbinsight_sink_parquet as _;

/// The sinks every default build must register (checked by a test).
pub const DEFAULT_SINKS: [&str; 4] = ["clickhouse", "jsonl", "null", "parquet"];

/// The registry of every linked sink, built on first use.
pub fn registry() -> Result<&'static Registry<'static>, RegistryError> {
    static REGISTRY: OnceLock<Result<Registry<'static>, RegistryError>> = OnceLock::new();
    REGISTRY
        .get_or_init(Registry::from_inventory)
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sinks_are_registered() {
        let reg = registry().expect("registry builds");
        for name in DEFAULT_SINKS {
            let plugin = reg
                .get(name)
                .unwrap_or_else(|| panic!("default sink {name} not registered"));
            assert!(
                plugin.crate_name.starts_with("rdbinsight-sink-"),
                "{}",
                plugin.crate_name
            );
        }
    }
}
