//! The compact row form the external sort keeps in memory and writes to spill files.
//!
//! Only the columns that vary inside one instance are encoded; cluster, batch and instance are
//! the same on every row of an instance and are put back when the sorted batches are built.
//! A row is `[body length: u32 LE][body]`, the body being: db (zigzag varint), key length
//! (varint), key bytes, type code, encoding code, a presence byte for the five nullable
//! columns, member count and rdb size (zigzag varints), then each present nullable value
//! (zigzag varint). Type and encoding names are stored once, in [`Names`].

use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use arrow_array::{
    Array, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use rdbinsight_sink_api::{schema, RecordBuilder, Row};

use crate::constant_chunks::all_same;
use crate::varint::{self, Cursor};

/// Bytes of the length prefix of every row.
pub const LEN_BYTES: usize = 4;

const HAS_EXPIRE: u8 = 1;
const HAS_IDLE: u8 = 2;
const HAS_FREQ: u8 = 4;
const HAS_CODIS: u8 = 8;
const HAS_REDIS: u8 = 16;

/// The typed columns of one record batch.
pub struct Columns<'a> {
    cluster: &'a StringArray,
    batch: &'a TimestampNanosecondArray,
    instance: &'a StringArray,
    db: &'a Int64Array,
    key: &'a BinaryArray,
    ty: &'a StringArray,
    members: &'a Int64Array,
    size: &'a Int64Array,
    encoding: &'a StringArray,
    expire: &'a TimestampMillisecondArray,
    idle: &'a Int64Array,
    freq: &'a Int32Array,
    codis: &'a Int32Array,
    redis: &'a Int32Array,
    rows: usize,
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .with_context(|| format!("record batch has no column {name} of the record schema's type"))
}

impl<'a> Columns<'a> {
    /// The columns of `batch`, which must have the record schema's names and types.
    pub fn of(batch: &'a RecordBatch) -> Result<Self> {
        Ok(Self {
            cluster: column(batch, schema::CLUSTER)?,
            batch: column(batch, schema::BATCH)?,
            instance: column(batch, schema::INSTANCE)?,
            db: column(batch, schema::DB)?,
            key: column(batch, schema::KEY)?,
            ty: column(batch, schema::TYPE)?,
            members: column(batch, schema::MEMBER_COUNT)?,
            size: column(batch, schema::RDB_SIZE)?,
            encoding: column(batch, schema::ENCODING)?,
            expire: column(batch, schema::EXPIRE_AT)?,
            idle: column(batch, schema::IDLE_SECONDS)?,
            freq: column(batch, schema::FREQ)?,
            codis: column(batch, schema::CODIS_SLOT)?,
            redis: column(batch, schema::REDIS_SLOT)?,
            rows: batch.num_rows(),
        })
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Database and key of row `r`.
    pub fn db_key(&self, r: usize) -> (i64, &'a [u8]) {
        (self.db.value(r), self.key.value(r))
    }
}

/// The values shared by every row of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Constants {
    cluster: String,
    batch: i64,
    instance: String,
}

impl Constants {
    /// A record builder for rows of this instance, batches of about `rows` rows.
    pub fn builder(&self, rows: usize) -> RecordBuilder {
        RecordBuilder::new(&self.cluster, self.batch, &self.instance, rows)
    }

    /// Checks that every row of `cols` carries the same cluster, batch and instance, and
    /// returns them (`None` for an empty batch).
    pub fn of(cols: &Columns<'_>) -> Result<Option<Self>> {
        if cols.rows == 0 {
            return Ok(None);
        }
        let first = Self {
            cluster: cols.cluster.value(0).to_owned(),
            batch: cols.batch.value(0),
            instance: cols.instance.value(0).to_owned(),
        };
        ensure!(
            all_same(cols.cluster)
                && all_same(cols.instance)
                && cols.batch.values().iter().all(|&b| b == first.batch),
            "rows of one instance must share cluster, batch and instance: a row differs from row 0"
        );
        Ok(Some(first))
    }
}

/// The distinct type and encoding names seen, each stored once and referred to by a code.
#[derive(Debug, Default)]
pub struct Names {
    types: NameTable,
    encodings: NameTable,
}

#[derive(Debug, Default)]
struct NameTable {
    names: Vec<Arc<str>>,
    last: usize,
}

impl NameTable {
    fn code(&mut self, name: &str) -> Result<u8> {
        if self.names.get(self.last).is_some_and(|n| &**n == name) {
            return Ok(self.last as u8);
        }
        let i = match self.names.iter().position(|n| &**n == name) {
            Some(i) => i,
            None => {
                ensure!(
                    self.names.len() < 256,
                    "more than 256 distinct type or encoding names"
                );
                self.names.push(Arc::from(name));
                self.names.len() - 1
            }
        };
        self.last = i;
        Ok(i as u8)
    }

    fn name(&self, code: u8) -> Result<&str> {
        self.names
            .get(code as usize)
            .map(|n| &**n)
            .with_context(|| format!("unknown name code {code} in a sorted row"))
    }
}

/// Appends row `r` of `cols` to `out` in the row form.
pub fn encode_row(
    cols: &Columns<'_>,
    r: usize,
    names: &mut Names,
    out: &mut Vec<u8>,
) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; LEN_BYTES]);
    let key = cols.key.value(r);
    varint::put(out, varint::zigzag(cols.db.value(r)));
    varint::put(out, key.len() as u64);
    out.extend_from_slice(key);
    out.push(names.types.code(cols.ty.value(r))?);
    out.push(names.encodings.code(cols.encoding.value(r))?);
    let flags_at = out.len();
    out.push(0);
    varint::put(out, varint::zigzag(cols.members.value(r)));
    varint::put(out, varint::zigzag(cols.size.value(r)));
    let mut flags = 0;
    if cols.expire.is_valid(r) {
        flags |= HAS_EXPIRE;
        varint::put(out, varint::zigzag(cols.expire.value(r)));
    }
    if cols.idle.is_valid(r) {
        flags |= HAS_IDLE;
        varint::put(out, varint::zigzag(cols.idle.value(r)));
    }
    if cols.freq.is_valid(r) {
        flags |= HAS_FREQ;
        varint::put(out, varint::zigzag(cols.freq.value(r).into()));
    }
    if cols.codis.is_valid(r) {
        flags |= HAS_CODIS;
        varint::put(out, varint::zigzag(cols.codis.value(r).into()));
    }
    if cols.redis.is_valid(r) {
        flags |= HAS_REDIS;
        varint::put(out, varint::zigzag(cols.redis.value(r).into()));
    }
    out[flags_at] = flags;
    let body = out.len() - start - LEN_BYTES;
    let Ok(body) = u32::try_from(body) else {
        out.truncate(start);
        bail!(
            "a row of {body} bytes is too large to sort (key of {} bytes)",
            key.len()
        );
    };
    out[start..start + LEN_BYTES].copy_from_slice(&body.to_le_bytes());
    Ok(())
}

/// Reads the fields of one row body in order.
pub struct RowReader<'a> {
    body: Cursor<'a>,
}

impl<'a> RowReader<'a> {
    /// A reader over a row body (without its length prefix).
    pub fn new(body: &'a [u8]) -> Self {
        Self {
            body: Cursor::new(body),
        }
    }

    fn varint(&mut self) -> Result<u64> {
        self.body.uleb().context("bad sorted row")
    }

    fn signed(&mut self) -> Result<i64> {
        self.body.signed().context("bad sorted row")
    }

    fn byte(&mut self) -> Result<u8> {
        self.body.byte().context("sorted row truncated")
    }

    /// Database and key, the sort key (the first fields of every row).
    pub fn db_key(&mut self) -> Result<(i64, &'a [u8])> {
        let db = self.signed()?;
        let len = usize::try_from(self.varint()?)?;
        let key = self.body.take(len).context("sorted row key truncated")?;
        Ok((db, key))
    }
}

/// Database and key of a row body.
pub fn db_key(body: &[u8]) -> Result<(i64, &[u8])> {
    RowReader::new(body).db_key()
}

/// Appends one row body to `out`, the record builder of the instance.
pub fn append_row(body: &[u8], names: &Names, out: &mut RecordBuilder) -> Result<()> {
    let mut r = RowReader::new(body);
    let (db, key) = r.db_key()?;
    let key_type = names.types.name(r.byte()?)?;
    let encoding = names.encodings.name(r.byte()?)?;
    let flags = r.byte()?;
    let member_count = r.signed()?;
    let rdb_size = r.signed()?;
    let mut opt = |bit: u8| -> Result<Option<i64>> {
        if flags & bit != 0 {
            r.signed().map(Some)
        } else {
            Ok(None)
        }
    };
    let expire_at_ms = opt(HAS_EXPIRE)?;
    let idle_seconds = opt(HAS_IDLE)?;
    let freq = opt(HAS_FREQ)?;
    let codis = opt(HAS_CODIS)?;
    let redis = opt(HAS_REDIS)?;
    let small = |v: Option<i64>| -> Result<Option<i32>> {
        v.map(i32::try_from)
            .transpose()
            .context("sorted row has a 32-bit field out of range")
    };
    out.append(&Row {
        db,
        key,
        key_type,
        member_count,
        rdb_size,
        encoding,
        expire_at_ms,
        idle_seconds,
        freq: small(freq)?,
        codis_slot: small(codis)?,
        redis_slot: small(redis)?,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_rows_are_errors() {
        let mut r = RowReader::new(&[0x80]);
        assert!(r.varint().is_err());
        assert!(db_key(&[0, 10, b'a']).is_err());
    }
}
