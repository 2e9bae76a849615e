//! Rows of one instance handed to its sink in pieces: Arrow record batches of the record schema
//! built straight from parser records, or blocks of the sink's own row encoder when it has one.

use anyhow::Result;
use arrow_array::RecordBatch;
use rdbinsight_sink_api::{RecordBuilder, Row, RowBlock, RowEncoder};

use crate::parser::{KeyRecord, Visitor};

/// Default rows per batch.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

/// A piece of an instance's rows, for the sink's writer.
#[derive(Debug)]
pub enum Rows {
    /// A record batch, for [`rdbinsight_sink_api::InstanceWriter::write_batch`].
    Batch(RecordBatch),
    /// A block of the writer's encoder, for [`rdbinsight_sink_api::InstanceWriter::write_rows`].
    Block(RowBlock),
}

impl Rows {
    /// Rows in the piece.
    pub fn len(&self) -> usize {
        match self {
            Rows::Batch(b) => b.num_rows(),
            Rows::Block(b) => b.rows(),
        }
    }

    /// Whether the piece holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the rows go. (One per instance: the builder's size does not matter, a box would add a
/// pointer to follow for every row.)
#[allow(clippy::large_enum_variant)]
enum Target {
    Batches(RecordBuilder),
    Encoder(Box<dyn RowEncoder>),
}

/// Accumulates key records and hands out full pieces: `capacity` rows, or fewer once their keys
/// pass [`RecordBuilder::KEY_BYTES_LIMIT`].
pub struct BatchBuilder<F> {
    target: Target,
    /// Rows and key bytes pushed into the encoder since its last block (a record builder
    /// counts its own).
    encoded: usize,
    key_bytes: usize,
    capacity: usize,
    emit: F,
}

impl<F: FnMut(Rows) -> Result<()>> BatchBuilder<F> {
    /// A builder of record batches for one instance of a run; `emit` receives every full one.
    pub fn new(cluster: &str, instance: &str, batch_nanos: i64, capacity: usize, emit: F) -> Self {
        let capacity = capacity.max(1);
        let rows = RecordBuilder::new(cluster, batch_nanos, instance, capacity);
        Self::with_target(Target::Batches(rows), capacity, emit)
    }

    /// A builder that pushes rows into a sink's `encoder` and hands its blocks to `emit`.
    pub fn encoding(encoder: Box<dyn RowEncoder>, capacity: usize, emit: F) -> Self {
        Self::with_target(Target::Encoder(encoder), capacity.max(1), emit)
    }

    fn with_target(target: Target, capacity: usize, emit: F) -> Self {
        Self {
            target,
            encoded: 0,
            key_bytes: 0,
            capacity,
            emit,
        }
    }

    /// Emits the rows collected so far, if any.
    pub fn flush(&mut self) -> Result<()> {
        let piece = match &mut self.target {
            Target::Batches(rows) if rows.rows() > 0 => Rows::Batch(rows.finish()?),
            Target::Encoder(encoder) if self.encoded > 0 => {
                self.encoded = 0;
                self.key_bytes = 0;
                Rows::Block(encoder.take()?)
            }
            _ => return Ok(()),
        };
        (self.emit)(piece)
    }
}

/// The row of record `r`. Built inside each branch that uses it: the record builder's append,
/// inlined, then keeps the fields in registers instead of reading them back from a `Row` in
/// memory (+9% instructions on the parser's thread when the row was built once before the
/// branch).
#[inline(always)]
fn row_of<'a>(r: &'a KeyRecord<'_>) -> Row<'a> {
    let wide = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Row {
        db: wide(r.db),
        key: r.key,
        key_type: r.key_type.as_str(),
        member_count: wide(r.member_count),
        rdb_size: wide(r.rdb_size),
        encoding: r.encoding.as_str(),
        expire_at_ms: r.expire_at_ms,
        idle_seconds: r.idle_seconds.map(wide),
        freq: r.freq.map(i32::from),
        codis_slot: r.codis_slot.map(i32::from),
        redis_slot: r.redis_slot.map(i32::from),
    }
}

impl<F: FnMut(Rows) -> Result<()>> Visitor for BatchBuilder<F> {
    fn key(&mut self, r: &KeyRecord<'_>) -> Result<()> {
        let full = match &mut self.target {
            Target::Batches(rows) => {
                rows.append(&row_of(r));
                rows.rows() >= self.capacity || rows.key_bytes() >= RecordBuilder::KEY_BYTES_LIMIT
            }
            Target::Encoder(encoder) => {
                encoder.push(&row_of(r))?;
                self.encoded += 1;
                self.key_bytes += r.key.len();
                self.encoded >= self.capacity || self.key_bytes >= RecordBuilder::KEY_BYTES_LIMIT
            }
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }
}
