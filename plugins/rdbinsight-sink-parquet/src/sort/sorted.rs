//! The sorted rows by column, as the sort hands them to the Parquet writer: the merged rows'
//! bytes with each key's place in them (keys are not copied again), the integers in plain
//! vectors, type and encoding as the sort's name codes (the writer's dictionaries take codes,
//! not strings) and the nullable columns as Arrow arrays (`None` while all null), which the
//! column writer takes. Built from the merged rows on the decoding thread ([`super::decode`]).
//! Rebuilding record batches instead cost a strings dump a sixth of its instructions, and the
//! writer then compared every row's type and encoding strings again.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::builder::BooleanBufferBuilder;
use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    new_null_array, ArrayRef, ArrowPrimitiveType, BinaryArray, Int64Array, PrimitiveArray,
    RecordBatch, StringArray,
};
use arrow_buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, TimeUnit};
use rdbinsight_sink_api::record_schema;
use rdbinsight_sink_api::schema::{self, UTC};

use super::rows::{decode_row, Constants, Names};

/// What every block of one instance's sorted rows shares: the names behind the codes and the
/// values of the constant columns.
#[derive(Debug)]
pub struct SortedMeta {
    /// Type names by code.
    pub types: Vec<Arc<str>>,
    /// Encoding names by code.
    pub encodings: Vec<Arc<str>>,
    /// Cluster, batch and instance.
    pub constants: Constants,
}

impl SortedMeta {
    /// The names `names` holds now (every name coded before the merge) and `constants`.
    pub fn new(names: &Names, constants: Constants) -> Self {
        Self {
            types: names.types().to_vec(),
            encodings: names.encodings().to_vec(),
            constants,
        }
    }

    fn name<'a>(names: &'a [Arc<str>], code: u8, what: &str) -> Result<&'a str> {
        names
            .get(code as usize)
            .map(|n| &**n)
            .with_context(|| format!("unknown {what} code {code} in a sorted row"))
    }
}

/// Consecutive sorted rows of one instance, by column.
pub struct SortedColumns {
    /// Names and constants.
    pub meta: Arc<SortedMeta>,
    /// The merged rows' bytes, where the keys lie.
    pub block: Buffer,
    /// Each row's key: its start and end in `block`.
    pub keys: Vec<[usize; 2]>,
    pub db: Vec<i64>,
    pub members: Vec<i64>,
    pub sizes: Vec<i64>,
    /// Type and encoding codes (names in `meta`).
    pub types: Vec<u8>,
    pub encodings: Vec<u8>,
    /// The columns named by [`Self::NULLABLE`]; `None` when all null.
    pub nullable: [Option<ArrayRef>; 5],
}

impl SortedColumns {
    /// The columns of [`Self::nullable`], in order.
    pub const NULLABLE: [&str; 5] = [
        schema::EXPIRE_AT,
        schema::IDLE_SECONDS,
        schema::FREQ,
        schema::CODIS_SLOT,
        schema::REDIS_SLOT,
    ];

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Key `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        let [start, end] = self.keys[i];
        &self.block[start..end]
    }

    /// The rows as one record batch of the record schema, built from the columns as they
    /// are (the nullable ones as arrays already).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let meta = &self.meta;
        let n = self.rows();
        let names = |codes: &[u8], names: &[Arc<str>], what: &str| -> Result<ArrayRef> {
            let values = codes
                .iter()
                .map(|&c| SortedMeta::name(names, c, what))
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(StringArray::from(values)))
        };
        let ints = |v: &[i64]| -> ArrayRef { Arc::new(Int64Array::from(v.to_vec())) };
        let schema = record_schema();
        let [cluster, batch, instance] = meta.constants.columns(n);
        let mut columns = vec![
            cluster,
            batch,
            instance,
            ints(&self.db),
            Arc::new(BinaryArray::from_iter_values((0..n).map(|i| self.key(i)))),
            names(&self.types, &meta.types, "type")?,
            ints(&self.members),
            ints(&self.sizes),
            names(&self.encodings, &meta.encodings, "encoding")?,
        ];
        for (name, column) in Self::NULLABLE.iter().zip(&self.nullable) {
            let field = schema.field_with_name(name)?;
            columns.push(match column {
                Some(values) => values.clone(),
                None => new_null_array(field.data_type(), n),
            });
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// The values of one nullable column present in a block's rows (most rows have none).
#[derive(Default)]
struct Present {
    rows: Vec<u32>,
    values: Vec<i64>,
}

impl Present {
    #[inline(always)]
    fn add(&mut self, row: u32, value: Option<i64>) {
        if let Some(v) = value {
            self.rows.push(row);
            self.values.push(v);
        }
    }

    /// The column of `n` rows as an array of `data_type` (its values cast by `cast`), `None`
    /// when no row has a value; then empty for the next block.
    fn finish<T: ArrowPrimitiveType>(
        &mut self,
        n: usize,
        data_type: &DataType,
        cast: impl Fn(i64) -> T::Native,
    ) -> Option<ArrayRef> {
        if self.rows.is_empty() {
            return None;
        }
        let mut values = vec![T::Native::default(); n];
        let mut valid = BooleanBufferBuilder::new(n);
        valid.append_n(n, false);
        for (&row, &v) in self.rows.iter().zip(&self.values) {
            if let Some(slot) = values.get_mut(row as usize) {
                *slot = cast(v);
                valid.set_bit(row as usize, true);
            }
        }
        self.rows.clear();
        self.values.clear();
        let nulls = NullBuffer::new(valid.finish());
        let array = PrimitiveArray::<T>::new(ScalarBuffer::from(values), Some(nulls))
            .with_data_type(data_type.clone());
        Some(Arc::new(array))
    }
}

/// Turns blocks of merged rows (`[length][body]`, see [`super::rows`]) into [`SortedColumns`].
pub struct SortedBuilder {
    meta: Arc<SortedMeta>,
    /// `expire_at`, `idle_seconds`, `freq`, `codis_slot`, `redis_slot`.
    present: [Present; 5],
}

impl SortedBuilder {
    /// A builder of the rows of the instance `meta` describes.
    pub fn new(meta: Arc<SortedMeta>) -> Self {
        Self {
            meta,
            present: Default::default(),
        }
    }

    /// The rows of `block`, which holds about `rows` rows (a capacity hint).
    pub fn columns(&mut self, block: Vec<u8>, rows: usize) -> Result<SortedColumns> {
        let mut keys = Vec::with_capacity(rows);
        let mut db = Vec::with_capacity(rows);
        let mut members = Vec::with_capacity(rows);
        let mut sizes = Vec::with_capacity(rows);
        let mut types = Vec::with_capacity(rows);
        let mut encodings = Vec::with_capacity(rows);
        let [expire, idle, freq, codis, redis] = &mut self.present;
        super::decode::for_each_row(&block, |body, at| {
            let d = decode_row(body)?;
            // A block holds fewer than 2^32 rows: its bytes are at most 256 KiB and one row.
            let row = keys.len() as u32;
            keys.push([at + d.key.start, at + d.key.end]);
            db.push(d.db);
            members.push(d.members);
            sizes.push(d.size);
            types.push(d.type_code);
            encodings.push(d.encoding_code);
            if d.any_nullable {
                expire.add(row, d.expire_at_ms);
                idle.add(row, d.idle_seconds);
                freq.add(row, d.freq.map(i64::from));
                codis.add(row, d.codis_slot.map(i64::from));
                redis.add(row, d.redis_slot.map(i64::from));
            }
            Ok(())
        })?;
        let n = keys.len();
        let expire_type = DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into()));
        // The 32-bit values were checked when their rows were decoded.
        let small = |v: i64| v as i32;
        Ok(SortedColumns {
            meta: self.meta.clone(),
            block: Buffer::from_vec(block),
            keys,
            db,
            members,
            sizes,
            types,
            encodings,
            nullable: [
                expire.finish::<TimestampMillisecondType>(n, &expire_type, |v| v),
                idle.finish::<Int64Type>(n, &DataType::Int64, |v| v),
                freq.finish::<Int32Type>(n, &DataType::Int32, small),
                codis.finish::<Int32Type>(n, &DataType::Int32, small),
                redis.finish::<Int32Type>(n, &DataType::Int32, small),
            ],
        })
    }
}
