//! Building Arrow record batches of the record schema straight from parser records.

use std::sync::Arc;

use anyhow::Result;
use arrow_array::builder::{
    BinaryBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use rdbinsight_sink_api::{record_schema, schema, schema::UTC};

use crate::parser::{KeyRecord, Visitor};

/// Default rows per batch.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

/// Accumulates key records into column builders and hands out full batches.
pub struct BatchBuilder<F> {
    cluster: String,
    instance: String,
    batch_nanos: i64,
    rows: usize,
    capacity: usize,
    db: Int64Builder,
    key: BinaryBuilder,
    key_type: StringBuilder,
    members: Int64Builder,
    size: Int64Builder,
    encoding: StringBuilder,
    expire: TimestampMillisecondBuilder,
    idle: Int64Builder,
    freq: Int32Builder,
    codis: Int32Builder,
    slot: Int32Builder,
    /// Cluster, batch and instance columns of the last batch size emitted.
    constant: Option<(usize, [ArrayRef; 3])>,
    emit: F,
}

impl<F: FnMut(RecordBatch) -> Result<()>> BatchBuilder<F> {
    /// A builder for one instance of a run; `emit` receives every full batch.
    pub fn new(cluster: &str, instance: &str, batch_nanos: i64, capacity: usize, emit: F) -> Self {
        let capacity = capacity.max(1);
        Self {
            cluster: cluster.to_string(),
            instance: instance.to_string(),
            batch_nanos,
            rows: 0,
            capacity,
            db: Int64Builder::with_capacity(capacity),
            key: BinaryBuilder::with_capacity(capacity, capacity * 24),
            key_type: StringBuilder::with_capacity(capacity, capacity * 6),
            members: Int64Builder::with_capacity(capacity),
            size: Int64Builder::with_capacity(capacity),
            encoding: StringBuilder::with_capacity(capacity, capacity * 8),
            expire: TimestampMillisecondBuilder::with_capacity(capacity).with_timezone(UTC),
            idle: Int64Builder::with_capacity(capacity),
            freq: Int32Builder::with_capacity(capacity),
            codis: Int32Builder::with_capacity(capacity),
            slot: Int32Builder::with_capacity(capacity),
            constant: None,
            emit,
        }
    }

    /// Emits the rows collected so far, if any.
    pub fn flush(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let n = self.rows;
        self.rows = 0;
        // The three constant columns of a full batch are built once and shared by every batch.
        let [cluster, batch, instance] = match &self.constant {
            Some((rows, cols)) if *rows == n => cols.clone(),
            _ => {
                let cols =
                    schema::constant_columns(&self.cluster, self.batch_nanos, &self.instance, n);
                self.constant = Some((n, cols.clone()));
                cols
            }
        };
        let columns: Vec<ArrayRef> = vec![
            cluster,
            batch,
            instance,
            Arc::new(self.db.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.key_type.finish()),
            Arc::new(self.members.finish()),
            Arc::new(self.size.finish()),
            Arc::new(self.encoding.finish()),
            Arc::new(self.expire.finish()),
            Arc::new(self.idle.finish()),
            Arc::new(self.freq.finish()),
            Arc::new(self.codis.finish()),
            Arc::new(self.slot.finish()),
        ];
        let rb = RecordBatch::try_new(record_schema(), columns)?;
        (self.emit)(rb)
    }
}

impl<F: FnMut(RecordBatch) -> Result<()>> Visitor for BatchBuilder<F> {
    fn key(&mut self, r: &KeyRecord<'_>) -> Result<()> {
        self.db
            .append_value(i64::try_from(r.db).unwrap_or(i64::MAX));
        self.key.append_value(r.key);
        self.key_type.append_value(r.key_type.as_str());
        self.members
            .append_value(i64::try_from(r.member_count).unwrap_or(i64::MAX));
        self.size
            .append_value(i64::try_from(r.rdb_size).unwrap_or(i64::MAX));
        self.encoding.append_value(r.encoding.as_str());
        self.expire.append_option(r.expire_at_ms);
        self.idle
            .append_option(r.idle_seconds.map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
        self.freq.append_option(r.freq.map(i32::from));
        self.codis.append_option(r.codis_slot.map(i32::from));
        self.slot.append_option(r.redis_slot.map(i32::from));
        self.rows += 1;
        if self.rows >= self.capacity {
            self.flush()?;
        }
        Ok(())
    }
}
