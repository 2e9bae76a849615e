//! The sink's row encoder: rows put in the sort's row form on the core's reading thread, so the
//! sort thread only appends whole blocks to its arena (no record batch in between, no row
//! encoded on the sort thread).

use std::sync::Arc;

use anyhow::Result;
use rdbinsight_sink_api::{Row, RowBlock, RowEncoder};

use super::order::{digit, Entries, Entry};
use super::rows::{encode_row, Constants, Names};

/// Most bytes reserved for a block's rows in advance: 64K rows of ~120 bytes.
const NEXT_BLOCK_BYTES: usize = 8 << 20;

/// Rows in the sort's form with their entries, offsets counted from the block's start.
pub struct SortBlock {
    /// `[length][body]` rows, in the order they were pushed.
    pub(super) arena: Vec<u8>,
    /// One entry per row, with its first sort digit.
    pub(super) entries: Entries,
    /// The instance the rows belong to.
    pub(super) constants: Arc<Constants>,
}

/// Encodes one instance's rows into [`SortBlock`]s.
pub struct SortEncoder {
    /// The rows of the block in progress.
    pub(super) arena: Vec<u8>,
    entries: Entries,
    names: Names,
    constants: Arc<Constants>,
}

impl SortEncoder {
    /// An encoder for the rows of the instance `constants`, coding type and encoding names with
    /// `names` (a clone of the sorter's, so both agree on the codes).
    pub fn new(constants: Constants, names: Names) -> Self {
        Self {
            arena: Vec::new(),
            entries: Entries::default(),
            names,
            constants: Arc::new(constants),
        }
    }
}

impl RowEncoder for SortEncoder {
    #[inline]
    fn push(&mut self, row: &Row<'_>) -> Result<()> {
        let offset = u32::try_from(self.arena.len()).map_err(|_| {
            anyhow::anyhow!(
                "{} bytes of rows in one block: more than 32-bit offsets address",
                self.arena.len()
            )
        })?;
        encode_row(row, &mut self.names, &mut self.arena)?;
        self.entries.push(
            row.db,
            Entry {
                digit: digit(row.key, 0),
                offset,
            },
        );
        Ok(())
    }

    fn rows(&self) -> usize {
        self.entries.list.len()
    }

    fn take(&mut self) -> Result<RowBlock> {
        // The next block starts with room for one like this (most blocks are alike), so the
        // vectors grow at most once or twice; not for more than a block of ordinary rows
        // takes, so that a block of huge keys does not reserve as much again.
        let next = Vec::with_capacity(self.arena.len().min(NEXT_BLOCK_BYTES));
        let arena = std::mem::replace(&mut self.arena, next);
        let entries = self.entries.take_sized();
        let rows = entries.list.len();
        Ok(RowBlock::new(
            rows,
            SortBlock {
                arena,
                entries,
                constants: self.constants.clone(),
            },
        ))
    }
}
