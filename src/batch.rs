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
    rows: usize,
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
            rows: 0,
            key_bytes: 0,
            capacity,
            emit,
        }
    }

    /// Emits the rows collected so far, if any.
    pub fn flush(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.rows = 0;
        self.key_bytes = 0;
        let piece = match &mut self.target {
            Target::Batches(rows) => Rows::Batch(rows.finish()?),
            Target::Encoder(encoder) => Rows::Block(encoder.take()?),
        };
        (self.emit)(piece)
    }
}

impl<F: FnMut(Rows) -> Result<()>> Visitor for BatchBuilder<F> {
    fn key(&mut self, r: &KeyRecord<'_>) -> Result<()> {
        let wide = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let row = Row {
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
        };
        match &mut self.target {
            Target::Batches(rows) => rows.append(&row),
            Target::Encoder(encoder) => encoder.push(&row)?,
        }
        self.rows += 1;
        self.key_bytes += r.key.len();
        if self.rows >= self.capacity || self.key_bytes >= RecordBuilder::KEY_BYTES_LIMIT {
            self.flush()?;
        }
        Ok(())
    }
}
