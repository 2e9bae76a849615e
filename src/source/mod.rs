//! Sources: where the snapshots of a run come from. Each source yields one byte stream per
//! instance.

pub mod file;

use std::io::Read;

use anyhow::Result;

/// One instance of a run: its name, a description of its origin, and how to open its stream.
pub struct InstanceSpec {
    /// Instance name (the `instance` column).
    pub name: String,
    /// Where it comes from, for messages (no credentials).
    pub origin: String,
    /// Opens the RDB byte stream (called on a blocking thread).
    pub open: Box<dyn FnOnce() -> Result<Box<dyn Read + Send>> + Send>,
}

impl std::fmt::Debug for InstanceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceSpec")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}
