//! Building Arrow record batches of the record schema straight from parser records.

use anyhow::Result;
use arrow_array::RecordBatch;
use rdbinsight_sink_api::{RecordBuilder, Row};

use crate::parser::{KeyRecord, Visitor};

/// Default rows per batch.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

/// Accumulates key records into column builders and hands out full batches.
pub struct BatchBuilder<F> {
    rows: RecordBuilder,
    capacity: usize,
    emit: F,
}

impl<F: FnMut(RecordBatch) -> Result<()>> BatchBuilder<F> {
    /// A builder for one instance of a run; `emit` receives every full batch.
    pub fn new(cluster: &str, instance: &str, batch_nanos: i64, capacity: usize, emit: F) -> Self {
        let capacity = capacity.max(1);
        Self {
            rows: RecordBuilder::new(cluster, batch_nanos, instance, capacity),
            capacity,
            emit,
        }
    }

    /// Emits the rows collected so far, if any.
    pub fn flush(&mut self) -> Result<()> {
        if self.rows.rows() == 0 {
            return Ok(());
        }
        let batch = self.rows.finish()?;
        (self.emit)(batch)
    }
}

impl<F: FnMut(RecordBatch) -> Result<()>> Visitor for BatchBuilder<F> {
    fn key(&mut self, r: &KeyRecord<'_>) -> Result<()> {
        let wide = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.rows.append(&Row {
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
        });
        if self.rows.rows() >= self.capacity
            || self.rows.key_bytes() >= RecordBuilder::KEY_BYTES_LIMIT
        {
            self.flush()?;
        }
        Ok(())
    }
}
