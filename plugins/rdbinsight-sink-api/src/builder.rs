//! Building record batches of one instance row by row: the builder the core fills from the
//! parser, and that sinks which rebuild rows (the Parquet sink's external sort) fill again.

use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, PrimitiveBuilder};
use arrow_array::types::{
    BinaryType, ByteArrayType, Int32Type, Int64Type, TimestampMillisecondType, Utf8Type,
};
use arrow_array::{
    new_null_array, ArrayRef, ArrowPrimitiveType, GenericByteArray, PrimitiveArray, RecordBatch,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, TimeUnit};

use crate::schema::{self, record_schema, UTC};

/// The columns of one row that vary inside an instance (cluster, batch and instance come from
/// the [`RecordBuilder`]). Field meanings: the column constants of [`schema`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// `db`.
    pub db: i64,
    /// `key`.
    pub key: &'a [u8],
    /// `type`.
    pub key_type: &'a str,
    /// `member_count`.
    pub member_count: i64,
    /// `rdb_size`.
    pub rdb_size: i64,
    /// `encoding`.
    pub encoding: &'a str,
    /// `expire_at`, ms.
    pub expire_at_ms: Option<i64>,
    /// `idle_seconds`.
    pub idle_seconds: Option<i64>,
    /// `freq`.
    pub freq: Option<i32>,
    /// `codis_slot`.
    pub codis_slot: Option<i32>,
    /// `redis_slot`.
    pub redis_slot: Option<i32>,
}

/// A nullable column that costs nothing per row while it holds only nulls (no TTL, LRU/LFU
/// information or slots in most RDBs): its builder and validity bitmap start at the first
/// value, and a batch without any comes out as one all-null array.
struct Optional<T: ArrowPrimitiveType> {
    builder: PrimitiveBuilder<T>,
    /// Nulls before the batch's first value, not in the builder yet.
    leading_nulls: usize,
    data_type: DataType,
    /// The all-null column of the last size asked for: shared by the batches of that size
    /// (building one zero-fills its values and its bitmap).
    nulls: Option<ArrayRef>,
}

impl<T: ArrowPrimitiveType> Optional<T> {
    fn new(builder: PrimitiveBuilder<T>, data_type: DataType) -> Self {
        Self {
            builder,
            leading_nulls: 0,
            data_type,
            nulls: None,
        }
    }

    #[inline(always)]
    fn append(&mut self, value: Option<T::Native>) {
        match value {
            Some(v) => {
                if self.leading_nulls > 0 {
                    self.builder
                        .append_nulls(std::mem::take(&mut self.leading_nulls));
                }
                self.builder.append_value(v);
            }
            None if self.builder.is_empty() => self.leading_nulls += 1,
            None => self.builder.append_null(),
        }
    }

    /// The batch's column; a builder that had values is made ready for `capacity` more.
    fn finish(&mut self, capacity: usize) -> ArrayRef {
        if self.builder.is_empty() {
            let rows = std::mem::take(&mut self.leading_nulls);
            match &self.nulls {
                Some(nulls) if nulls.len() == rows => nulls.clone(),
                _ => self
                    .nulls
                    .insert(new_null_array(&self.data_type, rows))
                    .clone(),
            }
        } else {
            take_primitive(&mut self.builder, capacity, &self.data_type)
        }
    }
}

/// Arrow builders give their buffers away when they finish and would grow them again from
/// nothing, reallocating and copying about log2(rows) times per batch: this takes the finished
/// column and leaves a builder of the batch's capacity in its place.
fn take_primitive<T: ArrowPrimitiveType>(
    b: &mut PrimitiveBuilder<T>,
    rows: usize,
    data_type: &DataType,
) -> ArrayRef {
    let fresh = PrimitiveBuilder::with_capacity(rows).with_data_type(data_type.clone());
    Arc::new(std::mem::replace(b, fresh).finish())
}

/// The values of a non-null primitive column, pushed into a plain vector (no validity bitmap,
/// no per-value bookkeeping besides the push) and handed to Arrow without a copy.
struct Values<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
}

impl<T: ArrowPrimitiveType> Values<T> {
    fn new(capacity: usize) -> Self {
        Self {
            values: Vec::with_capacity(capacity),
        }
    }

    #[inline(always)]
    fn push(&mut self, v: T::Native) {
        self.values.push(v);
    }

    /// The column so far; the vector is replaced by one of `capacity`.
    fn finish(&mut self, capacity: usize) -> ArrayRef {
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(capacity));
        Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), None))
    }
}

/// The values of a non-null byte column (binary or UTF-8): 32-bit offsets and the value bytes
/// in plain vectors, handed to Arrow without a copy.
struct ByteValues<T: ByteArrayType<Offset = i32>> {
    offsets: Vec<i32>,
    values: Vec<u8>,
    kind: std::marker::PhantomData<T>,
}

impl<T: ByteArrayType<Offset = i32>> ByteValues<T> {
    fn new(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            offsets,
            values: Vec::with_capacity(bytes),
            kind: std::marker::PhantomData,
        }
    }

    /// Bytes of the values so far.
    fn bytes(&self) -> usize {
        self.values.len()
    }

    /// The column so far; the vectors are replaced by ones with room for `rows` values and as
    /// many bytes as this column had (at least `min_bytes`, at most 256 per row).
    ///
    /// The array is built without Arrow's checks of what holds by construction (a pass over
    /// the offsets, twice, and for strings a UTF-8 check of every byte, for each batch: a
    /// twelfth of the parser's thread).
    #[allow(unsafe_code)]
    fn finish(&mut self, rows: usize, min_bytes: usize) -> Result<ArrayRef, ArrowError> {
        let bytes = self.values.len().clamp(min_bytes, rows * 256);
        let Self {
            offsets, values, ..
        } = std::mem::replace(self, Self::new(rows, bytes));
        if i32::try_from(values.len()).is_err() {
            return Err(ArrowError::InvalidArgumentError(format!(
                "{} bytes of {} values in one batch: more than 32-bit offsets address",
                values.len(),
                T::PREFIX
            )));
        }
        // SAFETY: `offsets` starts at 0 (`new`) and gets `values.len()` after each value is
        // appended, so it never decreases and ends at the length of `values`, which fits an
        // i32 (checked above): no offset wrapped. A string column is only appended to by
        // `push_str` (`push` is for binary columns alone), so every offset of one ends a
        // whole `&str` and the bytes between two offsets are valid UTF-8.
        let array = unsafe {
            let offsets = OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets));
            GenericByteArray::<T>::new_unchecked(offsets, Buffer::from_vec(values), None)
        };
        Ok(Arc::new(array))
    }
}

impl ByteValues<BinaryType> {
    /// Appends one value. Offsets past 2 GiB would wrap: [`ByteValues::finish`] refuses such
    /// a column, so a wrapped offset is never read.
    #[inline(always)]
    fn push(&mut self, v: &[u8]) {
        self.values.extend_from_slice(v);
        self.offsets.push(self.values.len() as i32);
    }
}

impl ByteValues<Utf8Type> {
    /// Appends one string. Offsets past 2 GiB would wrap: [`ByteValues::finish`] refuses
    /// such a column, so a wrapped offset is never read.
    #[inline(always)]
    fn push_str(&mut self, v: &str) {
        self.values.extend_from_slice(v.as_bytes());
        self.offsets.push(self.values.len() as i32);
    }
}

/// Accumulates rows of one instance of a run and hands them out as record batches of the
/// record schema. The cluster, batch and instance columns of a batch size are built once and
/// shared by every batch of that size.
pub struct RecordBuilder {
    cluster: String,
    batch_unix_nanos: i64,
    instance: String,
    rows: usize,
    /// Rows a batch is sized for.
    capacity: usize,
    db: Values<Int64Type>,
    key: ByteValues<BinaryType>,
    key_type: ByteValues<Utf8Type>,
    members: Values<Int64Type>,
    size: Values<Int64Type>,
    encoding: ByteValues<Utf8Type>,
    expire: Optional<TimestampMillisecondType>,
    idle: Optional<Int64Type>,
    freq: Optional<Int32Type>,
    codis: Optional<Int32Type>,
    slot: Optional<Int32Type>,
    constant: Option<(usize, [ArrayRef; 3])>,
}

impl RecordBuilder {
    /// A builder for `instance` of the run (`cluster`, `batch_unix_nanos`), sized for batches
    /// of about `capacity` rows.
    pub fn new(cluster: &str, batch_unix_nanos: i64, instance: &str, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            cluster: cluster.to_string(),
            batch_unix_nanos,
            instance: instance.to_string(),
            rows: 0,
            capacity,
            db: Values::new(capacity),
            key: ByteValues::new(capacity, capacity * 24),
            key_type: ByteValues::new(capacity, capacity * 6),
            members: Values::new(capacity),
            size: Values::new(capacity),
            encoding: ByteValues::new(capacity, capacity * 8),
            expire: Optional::new(
                PrimitiveBuilder::with_capacity(capacity).with_timezone(UTC),
                DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into())),
            ),
            idle: Optional::new(PrimitiveBuilder::with_capacity(capacity), DataType::Int64),
            freq: Optional::new(PrimitiveBuilder::with_capacity(capacity), DataType::Int32),
            codis: Optional::new(PrimitiveBuilder::with_capacity(capacity), DataType::Int32),
            slot: Optional::new(PrimitiveBuilder::with_capacity(capacity), DataType::Int32),
            constant: None,
        }
    }

    /// Rows appended since the last batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Key bytes appended since the last batch. A batch holds at most 2 GiB of keys (32-bit
    /// offsets): callers that may see huge keys finish a batch once this passes
    /// [`Self::KEY_BYTES_LIMIT`].
    pub fn key_bytes(&self) -> usize {
        self.key.bytes()
    }

    /// Key bytes after which a batch should be finished: a key of Redis's largest size (512
    /// MiB) appended after it still fits in 32-bit offsets.
    pub const KEY_BYTES_LIMIT: usize = 1 << 30;

    /// Appends one row.
    #[inline]
    pub fn append(&mut self, row: &Row<'_>) {
        self.db.push(row.db);
        self.key.push(row.key);
        self.key_type.push_str(row.key_type);
        self.members.push(row.member_count);
        self.size.push(row.rdb_size);
        self.encoding.push_str(row.encoding);
        self.expire.append(row.expire_at_ms);
        self.idle.append(row.idle_seconds);
        self.freq.append(row.freq);
        self.codis.append(row.codis_slot);
        self.slot.append(row.redis_slot);
        self.rows += 1;
    }

    /// The rows appended since the last batch, as one record batch.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let n = self.rows;
        self.rows = 0;
        let [cluster, batch, instance] = match &self.constant {
            Some((rows, cols)) if *rows == n => cols.clone(),
            _ => {
                let cols = schema::constant_columns(
                    &self.cluster,
                    self.batch_unix_nanos,
                    &self.instance,
                    n,
                );
                self.constant = Some((n, cols.clone()));
                cols
            }
        };
        let cap = self.capacity.max(n);
        let columns: Vec<ArrayRef> = vec![
            cluster,
            batch,
            instance,
            self.db.finish(cap),
            self.key.finish(cap, cap * 24)?,
            self.key_type.finish(cap, cap * 6)?,
            self.members.finish(cap),
            self.size.finish(cap),
            self.encoding.finish(cap, cap * 8)?,
            self.expire.finish(cap),
            self.idle.finish(cap),
            self.freq.finish(cap),
            self.codis.finish(cap),
            self.slot.finish(cap),
        ];
        RecordBatch::try_new(record_schema(), columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, BinaryArray, StringArray};

    #[test]
    fn rows_come_out_in_the_record_schema_with_their_constants() {
        let mut b = RecordBuilder::new("c", 5, "i", 4);
        for (i, key) in [b"a".as_slice(), b"bb"].into_iter().enumerate() {
            b.append(&Row {
                db: i as i64,
                key,
                key_type: "string",
                member_count: 1,
                rdb_size: 9,
                encoding: "raw",
                expire_at_ms: (i == 1).then_some(42),
                idle_seconds: None,
                freq: None,
                codis_slot: None,
                redis_slot: Some(7),
            });
        }
        let batch = b.finish().unwrap();
        assert_eq!(batch.schema(), record_schema());
        assert_eq!(batch.num_rows(), 2);
        let instance = batch
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(instance.value(1), "i");
        let key = batch
            .column(4)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .unwrap();
        assert_eq!(key.value(1), b"bb");
        assert!(batch.column(9).is_null(0) && batch.column(9).is_valid(1));
        assert_eq!(b.rows(), 0);
        assert_eq!(b.finish().unwrap().num_rows(), 0);
    }

    /// The byte columns (key, type, encoding), built without Arrow's checks, pass them all,
    /// multi-byte names and empty ones included, batch after batch.
    #[test]
    fn byte_columns_are_valid_arrow() {
        let names = ["string", "", "ストリーム", "zset-🦀", "x"];
        let mut b = RecordBuilder::new("c", 5, "i", 3);
        for batch_no in 0..3 {
            for (i, name) in names.iter().enumerate().skip(batch_no) {
                b.append(&Row {
                    db: 0,
                    key: name.as_bytes(),
                    key_type: name,
                    member_count: 1,
                    rdb_size: i as i64,
                    encoding: names[(i + 2) % names.len()],
                    expire_at_ms: None,
                    idle_seconds: None,
                    freq: None,
                    codis_slot: None,
                    redis_slot: None,
                });
            }
            let batch = b.finish().unwrap();
            for (column, offset) in [(5, 0), (8, 2)] {
                let array = batch.column(column);
                array.to_data().validate_full().unwrap();
                let strings = array.as_any().downcast_ref::<StringArray>().unwrap();
                let got: Vec<&str> = strings.iter().map(Option::unwrap).collect();
                let want: Vec<&str> = (batch_no..names.len())
                    .map(|i| names[(i + offset) % names.len()])
                    .collect();
                assert_eq!(got, want, "column {column}, batch {batch_no}");
            }
            let keys = batch.column(4);
            keys.to_data().validate_full().unwrap();
            let keys = keys.as_any().downcast_ref::<BinaryArray>().unwrap();
            let got: Vec<&[u8]> = keys.iter().map(Option::unwrap).collect();
            let want: Vec<&[u8]> = names[batch_no..].iter().map(|n| n.as_bytes()).collect();
            assert_eq!(got, want, "keys, batch {batch_no}");
        }
    }

    #[test]
    fn nullable_columns_keep_nulls_before_after_and_without_values() {
        use arrow_array::{Int32Array, Int64Array, TimestampMillisecondArray};
        let mut b = RecordBuilder::new("c", 5, "i", 2);
        let row = |expire: Option<i64>, slot: Option<i32>| Row {
            db: 0,
            key: b"k",
            key_type: "string",
            member_count: 1,
            rdb_size: 9,
            encoding: "raw",
            expire_at_ms: expire,
            idle_seconds: None,
            freq: None,
            codis_slot: None,
            redis_slot: slot,
        };
        for batch_no in 0..2 {
            b.append(&row(None, None));
            b.append(&row(None, Some(3)));
            b.append(&row(Some(7), None));
            b.append(&row(None, None));
            let batch = b.finish().unwrap();
            assert_eq!(batch.schema(), record_schema(), "batch {batch_no}");
            let expire = batch.column(9).as_any();
            let expire = expire.downcast_ref::<TimestampMillisecondArray>().unwrap();
            let got: Vec<Option<i64>> = expire.iter().collect();
            assert_eq!(got, [None, None, Some(7), None]);
            let idle = batch.column(10).as_any().downcast_ref::<Int64Array>();
            assert_eq!(idle.unwrap().null_count(), 4);
            let slot = batch.column(13).as_any().downcast_ref::<Int32Array>();
            let got: Vec<Option<i32>> = slot.unwrap().iter().collect();
            assert_eq!(got, [None, Some(3), None, None]);
        }
    }
}
