//! Rebuilding record batches from the merged rows on a thread of their own: the merge (on the
//! sort thread) copies each row it takes into blocks handed over a bounded queue, and the
//! rows of each block are decoded into the instance's record builder here, whose batches go
//! to `emit`. The merge and the rebuilding each take about half of the end of a dump, which was
//! bound by the one thread doing both while the writer's core had time to spare.

use std::sync::mpsc::sync_channel;

use anyhow::{anyhow, Context, Result};
use arrow_array::RecordBatch;
use rdbinsight_sink_api::RecordBuilder;

use super::order::body_at;
use super::rows::{append_row, length_prefix, Constants, Names, LEN_BYTES};
use super::OUTPUT_ROWS;

/// Bytes of merged rows handed over at once (a block holds at least one row, whatever its
/// size).
const BLOCK_BYTES: usize = 256 << 10;
/// Blocks queued for the rebuilding thread.
const QUEUE: usize = 4;

/// Calls each row body of `block` (rows as the arena holds them) in order.
fn for_each_row(block: &[u8], mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let mut at = 0;
    while at < block.len() {
        let offset = u32::try_from(at).context("merged row block over 4 GiB")?;
        let body = body_at(block, offset)?;
        at += LEN_BYTES + body.len();
        f(body)?;
    }
    Ok(())
}

/// Runs `merge`, which calls the function it is given with every row body in order, and turns
/// those rows into record batches of up to [`OUTPUT_ROWS`] rows (fewer when their keys pass
/// [`RecordBuilder::KEY_BYTES_LIMIT`]) handed to `emit`, on a second thread.
pub fn rebuild_batches(
    constants: &Constants,
    names: &Names,
    merge: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>,
    mut emit: impl FnMut(RecordBatch) -> Result<()> + Send,
) -> Result<()> {
    let (blocks, inbox) = sync_channel::<Vec<u8>>(QUEUE);
    let (give_back, returned) = sync_channel::<Vec<u8>>(QUEUE + 2);
    std::thread::scope(|scope| {
        let rebuilder = std::thread::Builder::new()
            .name("rdbinsight-rows".into())
            .spawn_scoped(scope, move || -> Result<()> {
                let mut out = constants.builder(OUTPUT_ROWS);
                for block in inbox {
                    for_each_row(&block, |body| {
                        append_row(body, names, &mut out)?;
                        if out.rows() == OUTPUT_ROWS
                            || out.key_bytes() >= RecordBuilder::KEY_BYTES_LIMIT
                        {
                            emit(out.finish()?)?;
                        }
                        Ok(())
                    })?;
                    let _ = give_back.try_send(block);
                }
                if out.rows() > 0 {
                    emit(out.finish()?)?;
                }
                Ok(())
            })
            .context("cannot start the thread rebuilding sorted rows")?;
        let stopped = || anyhow!("the thread rebuilding sorted rows stopped");
        let mut block = Vec::with_capacity(2 * BLOCK_BYTES);
        let merged = merge(&mut |body: &[u8]| {
            block.extend_from_slice(&length_prefix(body)?);
            block.extend_from_slice(body);
            if block.len() >= BLOCK_BYTES {
                let mut next = returned
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(2 * BLOCK_BYTES));
                next.clear();
                if next.capacity() > 4 * BLOCK_BYTES {
                    // A huge row's block: not kept.
                    next = Vec::with_capacity(2 * BLOCK_BYTES);
                }
                blocks
                    .send(std::mem::replace(&mut block, next))
                    .map_err(|_| stopped())?;
            }
            Ok(())
        })
        .and_then(|()| {
            if block.is_empty() {
                return Ok(());
            }
            blocks.send(block).map_err(|_| stopped())
        });
        drop(blocks);
        let rebuilt = rebuilder
            .join()
            .map_err(|_| anyhow!("the thread rebuilding sorted rows panicked"))?;
        // The rebuilding thread's error explains a merge that could not hand rows over.
        rebuilt.and(merged)
    })
}
