//! The row encoder: an optional capability of an instance writer that takes rows one by one,
//! on the core's reading thread, in the writer's own form.
//!
//! Record batches suit sinks that write columns (Arrow-native formats, columnar databases).
//! A sink that turns every batch back into rows of its own (a sort, a row-oriented protocol)
//! pays twice per row: once for the core to fill the Arrow columns, once to read them again.
//! Such a sink offers a [`RowEncoder`] from [`crate::InstanceWriter::row_encoder`]: the core
//! then pushes each [`Row`] into it as the snapshot is read, takes the encoded rows as a
//! [`RowBlock`] every few thousand rows, and hands the block to
//! [`crate::InstanceWriter::write_rows`] over the same bounded channel batches take.
//!
//! ```
//! use anyhow::Result;
//! use rdbinsight_sink_api::{Row, RowBlock, RowEncoder};
//!
//! /// Encodes each row as its key and size, one per line.
//! #[derive(Default)]
//! struct Lines {
//!     text: Vec<u8>,
//!     rows: usize,
//! }
//!
//! impl RowEncoder for Lines {
//!     fn push(&mut self, row: &Row<'_>) -> Result<()> {
//!         self.text.extend_from_slice(row.key);
//!         self.text.extend_from_slice(format!(" {}\n", row.rdb_size).as_bytes());
//!         self.rows += 1;
//!         Ok(())
//!     }
//!     fn rows(&self) -> usize {
//!         self.rows
//!     }
//!     fn take(&mut self) -> Result<RowBlock> {
//!         let rows = std::mem::take(&mut self.rows);
//!         Ok(RowBlock::new(rows, std::mem::take(&mut self.text)))
//!     }
//! }
//!
//! let mut lines = Lines::default();
//! lines.push(&Row {
//!     db: 0,
//!     key: b"user:1",
//!     key_type: "string",
//!     member_count: 1,
//!     rdb_size: 12,
//!     encoding: "raw",
//!     expire_at_ms: None,
//!     idle_seconds: None,
//!     freq: None,
//!     codis_slot: None,
//!     redis_slot: None,
//! })?;
//! let block = lines.take()?;
//! assert_eq!(block.rows(), 1);
//! // In the writer's `write_rows`: its own type back.
//! let text: Vec<u8> = block.into_inner().map_err(|_| anyhow::anyhow!("not my block"))?;
//! assert_eq!(text, b"user:1 12\n");
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::any::Any;
use std::fmt;

use anyhow::Result;

use crate::Row;

/// Encodes the rows of one instance in a sink's own form, on the core's reading thread.
///
/// The core calls [`Self::push`] for every key, in snapshot order, and [`Self::take`] when a
/// block is due (about as many rows as a record batch holds, or fewer when the keys are large,
/// and once at the end when rows are left); each block goes to the
/// [`crate::InstanceWriter::write_rows`] of the writer that made the encoder. The encoder is
/// dropped when the instance ends, finished or failed.
pub trait RowEncoder: Send {
    /// Encodes one row. An error fails the instance (name the row's key length, not its bytes:
    /// keys may be secrets).
    fn push(&mut self, row: &Row<'_>) -> Result<()>;

    /// Rows pushed since the last [`Self::take`].
    fn rows(&self) -> usize;

    /// The rows pushed since the last call, as one block; the encoder starts a new one.
    fn take(&mut self) -> Result<RowBlock>;
}

/// Rows encoded by a [`RowEncoder`], on their way to the writer that made it. What it holds is
/// the sink's business: the writer gets its own type back with [`Self::into_inner`].
pub struct RowBlock {
    rows: usize,
    payload: Box<dyn Any + Send>,
}

impl RowBlock {
    /// A block of `rows` rows, encoded as `payload`.
    pub fn new<T: Any + Send>(rows: usize, payload: T) -> Self {
        Self {
            rows,
            payload: Box::new(payload),
        }
    }

    /// Rows in the block.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The encoded rows, if they are a `T`; the block back otherwise.
    pub fn into_inner<T: Any>(self) -> Result<T, Self> {
        let rows = self.rows;
        self.payload
            .downcast::<T>()
            .map(|p| *p)
            .map_err(|payload| Self { rows, payload })
    }
}

impl fmt::Debug for RowBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowBlock")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_gives_back_its_own_type_only() {
        let block = RowBlock::new(3, vec![1u8, 2, 3]);
        assert_eq!(format!("{block:?}"), "RowBlock { rows: 3, .. }");
        let block = block.into_inner::<String>().unwrap_err();
        assert_eq!(block.rows(), 3);
        assert_eq!(block.into_inner::<Vec<u8>>().unwrap(), [1, 2, 3]);
    }
}
