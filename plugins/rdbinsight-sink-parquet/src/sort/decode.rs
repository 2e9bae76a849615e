//! Decoding the merged rows by column on a thread of their own: the merge (on the sort thread)
//! copies each row it takes into blocks handed over a bounded queue, and each block's rows
//! are decoded here into [`SortedColumns`] (which keep the block, where the keys lie), handed
//! to `emit`. The merge alone took the sort thread's time at the end of a dump, while the
//! writer's core had time to spare.

use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use anyhow::{anyhow, bail, ensure, Context, Result};

use super::rows::LEN_BYTES;
use super::sorted::{SortedBuilder, SortedColumns, SortedMeta};

/// Bytes of merged rows handed over at once (a block holds at least one row, whatever its
/// size).
const BLOCK_BYTES: usize = 256 << 10;
/// Blocks queued for the decoding thread.
const QUEUE: usize = 4;

/// Calls each row body of `block` (rows as the arena holds them) in order, with the offset of
/// the body in `block`.
#[inline(always)]
pub fn for_each_row(block: &[u8], mut f: impl FnMut(&[u8], usize) -> Result<()>) -> Result<()> {
    let mut rest = block;
    while let Some((len, tail)) = rest.split_first_chunk::<LEN_BYTES>() {
        let len = u32::from_le_bytes(*len) as usize;
        let Some((body, tail)) = tail.split_at_checked(len) else {
            bail!(
                "merged row of {len} bytes at byte {} of a block of {}",
                block.len() - rest.len(),
                block.len()
            );
        };
        f(body, block.len() - tail.len() - len)?;
        rest = tail;
    }
    ensure!(
        rest.is_empty(),
        "a merged row block ends inside a row's length"
    );
    Ok(())
}

/// Runs `merge`, which calls the function it is given with every row in order (framed: length
/// prefix and body), and turns those rows into [`SortedColumns`] (one per block of about
/// [`BLOCK_BYTES`]) handed to `emit`, on a second thread.
pub fn decode_sorted(
    meta: Arc<SortedMeta>,
    merge: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>,
    mut emit: impl FnMut(SortedColumns) -> Result<()> + Send,
) -> Result<()> {
    // Each block with its row count.
    let (blocks, inbox) = sync_channel::<(Vec<u8>, usize)>(QUEUE);
    std::thread::scope(|scope| {
        let decoder = std::thread::Builder::new()
            .name("rdbinsight-rows".into())
            .spawn_scoped(scope, move || -> Result<()> {
                let mut out = SortedBuilder::new(meta);
                for (block, rows) in inbox {
                    emit(out.columns(block, rows)?)?;
                }
                Ok(())
            })
            .context("cannot start the thread decoding sorted rows")?;
        let stopped = || anyhow!("the thread decoding sorted rows stopped");
        let mut block = Vec::with_capacity(2 * BLOCK_BYTES);
        let mut rows = 0;
        let merged = merge(&mut |row: &[u8]| {
            block.extend_from_slice(row);
            rows += 1;
            if block.len() >= BLOCK_BYTES {
                // The block goes with its columns to the writer: not given back.
                let next = Vec::with_capacity(2 * BLOCK_BYTES);
                blocks
                    .send((
                        std::mem::replace(&mut block, next),
                        std::mem::take(&mut rows),
                    ))
                    .map_err(|_| stopped())?;
            }
            Ok(())
        })
        .and_then(|()| {
            if block.is_empty() {
                return Ok(());
            }
            blocks.send((block, rows)).map_err(|_| stopped())
        });
        drop(blocks);
        let decoded = decoder
            .join()
            .map_err(|_| anyhow!("the thread decoding sorted rows panicked"))?;
        // The decoding thread's error explains a merge that could not hand rows over.
        decoded.and(merged)
    })
}
