//! The compact row form the external sort keeps in memory and writes to spill files.
//!
//! Only the columns that vary inside one instance are encoded; cluster, batch and instance are
//! the same on every row of an instance and are put back when the sorted batches are built.
//! A row is `[body length: u32 LE][body]`. The body starts with four bytes: the widths of the
//! four integers that follow (two bits each: 1, 2, 4 or 8 bytes), the type code, the encoding
//! code and a presence byte for the five nullable columns; then key length, db, member count
//! and rdb size (db and counts zigzag-coded), little-endian in their widths; the key bytes; and
//! each present nullable value (zigzag, 8 bytes). Fixed places and widths make a row cheap to
//! read back (no varint loop, one length check per row). Type and encoding names are stored
//! once, in [`Names`].

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, ensure, Context, Result};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BinaryArray, Int32Array, Int64Array, PrimitiveArray,
    RecordBatch, StringArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use rdbinsight_sink_api::keys::same_bytes;
use rdbinsight_sink_api::{schema, Row};

use crate::constant_chunks::all_same;
use crate::varint::{unzigzag, zigzag};

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

    /// Row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> Row<'a> {
        Row {
            db: self.db.value(r),
            key: self.key.value(r),
            key_type: self.ty.value(r),
            member_count: self.members.value(r),
            rdb_size: self.size.value(r),
            encoding: self.encoding.value(r),
            expire_at_ms: nullable(self.expire, r),
            idle_seconds: nullable(self.idle, r),
            freq: nullable(self.freq, r),
            codis_slot: nullable(self.codis, r),
            redis_slot: nullable(self.redis, r),
        }
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
    /// The values of the instance `instance` of a run of `cluster` at `batch` (nanoseconds).
    pub fn new(cluster: &str, batch: i64, instance: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            batch,
            instance: instance.to_owned(),
        }
    }

    /// The cluster, batch and instance columns of `rows` rows.
    pub fn columns(&self, rows: usize) -> [ArrayRef; 3] {
        schema::constant_columns(&self.cluster, self.batch, &self.instance, rows)
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
///
/// Clones share their codes: the row encoder on the core's reading thread and the sorter each
/// hold one, and a name either side meets first gets the next code of the shared table. Each
/// side looks names up in its own copy, refreshed only when a name is missing from it.
#[derive(Debug, Default, Clone)]
pub struct Names {
    types: NameTable,
    encodings: NameTable,
}

impl Names {
    /// The type names of this side's copy, by code.
    pub fn types(&self) -> &[Arc<str>] {
        &self.types.names
    }

    /// The encoding names of this side's copy, by code.
    pub fn encodings(&self) -> &[Arc<str>] {
        &self.encodings.names
    }

    /// Brings this side's copies up to date with every name coded so far (on any side).
    pub fn refresh(&mut self) -> Result<()> {
        self.types.refresh()?;
        self.encodings.refresh()
    }
}

#[derive(Debug, Default, Clone)]
struct NameTable {
    /// This side's copy of `shared`: a name's code is its index.
    names: Vec<Arc<str>>,
    last: usize,
    shared: Arc<Mutex<Vec<Arc<str>>>>,
}

impl NameTable {
    #[inline(always)]
    fn code(&mut self, name: &str) -> Result<u8> {
        if self
            .names
            .get(self.last)
            .is_some_and(|n| same_bytes(n.as_bytes(), name.as_bytes()))
        {
            return Ok(self.last as u8);
        }
        self.other_code(name)
    }

    /// [`Self::code`] of a name other than the last one's.
    #[inline(never)]
    fn other_code(&mut self, name: &str) -> Result<u8> {
        let find = |names: &[Arc<str>]| {
            names
                .iter()
                .position(|n| same_bytes(n.as_bytes(), name.as_bytes()))
        };
        let i = match find(&self.names) {
            Some(i) => i,
            None => {
                let mut shared = self
                    .shared
                    .lock()
                    .map_err(|_| anyhow!("name table poisoned"))?;
                let i = match find(&shared) {
                    Some(i) => i,
                    None => {
                        ensure!(
                            shared.len() < 256,
                            "more than 256 distinct type or encoding names"
                        );
                        shared.push(Arc::from(name));
                        shared.len() - 1
                    }
                };
                self.names.clone_from(&shared);
                i
            }
        };
        self.last = i;
        Ok(i as u8)
    }

    fn refresh(&mut self) -> Result<()> {
        let shared = self
            .shared
            .lock()
            .map_err(|_| anyhow!("name table poisoned"))?;
        self.names.clone_from(&shared);
        Ok(())
    }
}

/// Bytes of the fixed start of a body: widths, type code, encoding code, presence flags.
const HEAD: usize = 4;
/// Bytes of each present nullable value.
const OPTIONAL: usize = 8;

/// The width code (bytes: `1 << code`) that holds `v`.
#[inline]
fn width_code(v: u64) -> u8 {
    match v {
        0..=0xff => 0,
        0x100..=0xffff => 1,
        0x1_0000..=0xffff_ffff => 2,
        _ => 3,
    }
}

/// Appends the width byte of `ints`, then the head bytes `head` (type code, encoding code,
/// flags), then each of `ints` little-endian in its width. The vector grows once by the most
/// the head can take, each integer is one 8-byte store at its place (no copy of a variable
/// length) and the bytes left over are cut off at the end. Stored straight into the vector:
/// put together in a buffer on the stack first, the buffer's wide loads waited for the narrow
/// stores before them to complete (no store forwarding), a quarter of the row encoder's time.
#[inline]
fn put_head(out: &mut Vec<u8>, ints: [u64; 4], head: [u8; 3]) {
    let codes = ints.map(width_code);
    let widths = codes[0] | codes[1] << 2 | codes[2] << 4 | codes[3] << 6;
    let at = out.len();
    out.extend_from_slice(&[0; HEAD + 32]);
    let room = &mut out[at..];
    room[..HEAD].copy_from_slice(&[widths, head[0], head[1], head[2]]);
    let mut end = HEAD;
    for (v, c) in ints.into_iter().zip(codes) {
        room[end..end + 8].copy_from_slice(&v.to_le_bytes());
        end += 1 << c;
    }
    out.truncate(at + end);
}

/// Value `r` of a nullable column, `None` when null; a column of nulls only (most nullable
/// columns of most files) answers without looking at its bitmap.
#[inline(always)]
fn nullable<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, r: usize) -> Option<T::Native> {
    match a.nulls() {
        None => Some(a.value(r)),
        Some(n) if n.null_count() == n.len() => None,
        Some(n) => n.is_valid(r).then(|| a.value(r)),
    }
}

/// Appends `row` to `out` in the row form (inlined in the loops over rows).
#[inline(always)]
pub fn encode_row(row: &Row<'_>, names: &mut Names, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; LEN_BYTES]);
    let key = row.key;
    let ints = [
        key.len() as u64,
        zigzag(row.db),
        zigzag(row.member_count),
        zigzag(row.rdb_size),
    ];
    let type_code = names.types.code(row.key_type)?;
    let encoding_code = names.encodings.code(row.encoding)?;
    let flags_at = out.len() + 3;
    put_head(out, ints, [type_code, encoding_code, 0]);
    out.extend_from_slice(key);
    let mut flags = 0;
    let mut optional = |bit: u8, value: Option<i64>| {
        if let Some(v) = value {
            flags |= bit;
            out.extend_from_slice(&zigzag(v).to_le_bytes());
        }
    };
    optional(HAS_EXPIRE, row.expire_at_ms);
    optional(HAS_IDLE, row.idle_seconds);
    optional(HAS_FREQ, row.freq.map(i64::from));
    optional(HAS_CODIS, row.codis_slot.map(i64::from));
    optional(HAS_REDIS, row.redis_slot.map(i64::from));
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

/// The little-endian integer of `n` bytes (1 to 8) at `at` in `body`, which the caller
/// checked holds them.
#[inline(always)]
fn read_width(body: &[u8], at: usize, n: usize) -> u64 {
    if let Some(word) = body.get(at..at + 8) {
        // Eight bytes readable: one load, masked to the width.
        let v = u64::from_le_bytes(word.try_into().unwrap_or_default());
        return v & (u64::MAX >> (64 - 8 * n));
    }
    let mut w = [0u8; 8];
    if let Some(bytes) = body.get(at..at + n) {
        w[..n].copy_from_slice(bytes);
    }
    u64::from_le_bytes(w)
}

/// For each width byte (two bits per field, the log2 of its width): the bytes of the key
/// length, db, member count and rdb size, and where the key starts.
const FIELDS: [[u8; 5]; 256] = {
    let mut table = [[0u8; 5]; 256];
    let mut w = 0;
    while w < 256 {
        let [k, d, m, s] = [
            1 << (w & 3),
            1 << ((w >> 2) & 3),
            1 << ((w >> 4) & 3),
            1 << ((w >> 6) & 3),
        ];
        table[w] = [k, d, m, s, HEAD as u8 + k + d + m + s];
        w += 1;
    }
    table
};

/// The bytes of the key length, db, member count and rdb size of a row body, and where its
/// key starts, from its width byte.
#[inline(always)]
fn field_widths(widths: u8) -> ([usize; 4], usize) {
    let [k, d, m, s, key_at] = FIELDS[widths as usize].map(usize::from);
    ([k, d, m, s], key_at)
}

/// Where the fields of one row body lie, its length checked against its head.
struct Layout {
    /// Type code, encoding code, presence flags.
    type_code: u8,
    encoding_code: u8,
    flags: u8,
    db: i64,
    /// Offsets of member count and rdb size, and their widths.
    members: (usize, usize),
    size: (usize, usize),
    /// The key's bytes.
    key: std::ops::Range<usize>,
}

impl Layout {
    #[inline(always)]
    fn of(body: &[u8]) -> Result<Self> {
        let Some(&[widths, type_code, encoding_code, flags]) = body.first_chunk::<HEAD>() else {
            bail!("sorted row of {} bytes has no head", body.len());
        };
        let ([kw, dw, mw, sw], key_at) = field_widths(widths);
        let key_len = if body.len() >= key_at {
            read_width(body, HEAD, kw) as usize
        } else {
            usize::MAX
        };
        let optional = (flags & 0x1f).count_ones() as usize * OPTIONAL;
        let end = key_at
            .checked_add(key_len)
            .and_then(|e| e.checked_add(optional));
        if end != Some(body.len()) {
            bail!(
                "sorted row of {} bytes does not match its head (key of {key_len} bytes)",
                body.len()
            );
        }
        Ok(Self {
            type_code,
            encoding_code,
            flags,
            db: unzigzag(read_width(body, HEAD + kw, dw)),
            members: (HEAD + kw + dw, mw),
            size: (HEAD + kw + dw + mw, sw),
            key: key_at..key_at + key_len,
        })
    }
}

/// Database and key of a row body. Only what they need is checked (the key lies inside the
/// body): [`decode_row`] checks the whole row against its head when the row is decoded.
#[inline]
pub fn db_key(body: &[u8]) -> Result<(i64, &[u8])> {
    let Some(&[widths, ..]) = body.first_chunk::<HEAD>() else {
        bail!("sorted row of {} bytes has no head", body.len());
    };
    let ([kw, dw, _, _], key_at) = field_widths(widths);
    let key = if body.len() >= key_at {
        let key_len = read_width(body, HEAD, kw) as usize;
        key_at
            .checked_add(key_len)
            .and_then(|end| body.get(key_at..end))
    } else {
        None
    };
    let Some(key) = key else {
        bail!("sorted row of {} bytes does not hold its key", body.len());
    };
    Ok((unzigzag(read_width(body, HEAD + kw, dw)), key))
}

/// The fields of one row body, the key as its place in the body.
pub struct Decoded {
    pub db: i64,
    pub key: std::ops::Range<usize>,
    pub type_code: u8,
    pub encoding_code: u8,
    pub members: i64,
    pub size: i64,
    pub expire_at_ms: Option<i64>,
    pub idle_seconds: Option<i64>,
    pub freq: Option<i32>,
    pub codis_slot: Option<i32>,
    pub redis_slot: Option<i32>,
    /// Whether any of the five nullable fields has a value (most rows have none).
    pub any_nullable: bool,
}

/// Decodes one row body, checked whole against its head. (Inlined where the rows are
/// decoded: left to itself the compiler stopped inlining it after changes elsewhere in the
/// crate, +130 M instructions for a strings dump.)
#[inline(always)]
pub fn decode_row(body: &[u8]) -> Result<Decoded> {
    let l = Layout::of(body)?;
    let signed = |(at, n): (usize, usize)| unzigzag(read_width(body, at, n));
    let mut decoded = Decoded {
        db: l.db,
        key: l.key.clone(),
        type_code: l.type_code,
        encoding_code: l.encoding_code,
        members: signed(l.members),
        size: signed(l.size),
        expire_at_ms: None,
        idle_seconds: None,
        freq: None,
        codis_slot: None,
        redis_slot: None,
        any_nullable: l.flags != 0,
    };
    if decoded.any_nullable {
        put_optional(body, l.key.end, l.flags, &mut decoded)?;
    }
    Ok(decoded)
}

/// Fills the nullable fields of `d` present by `flags` from their values at `at` in `body` (in
/// the order of the flags' bits), which [`Layout::of`] checked it holds.
#[inline]
fn put_optional(body: &[u8], mut at: usize, flags: u8, d: &mut Decoded) -> Result<()> {
    let mut opt = |bit: u8| -> Option<i64> {
        (flags & bit != 0).then(|| {
            let v = unzigzag(read_width(body, at, OPTIONAL));
            at += OPTIONAL;
            v
        })
    };
    d.expire_at_ms = opt(HAS_EXPIRE);
    d.idle_seconds = opt(HAS_IDLE);
    let freq = opt(HAS_FREQ);
    let codis = opt(HAS_CODIS);
    let redis = opt(HAS_REDIS);
    let small = |v: Option<i64>| -> Result<Option<i32>> {
        v.map(i32::try_from)
            .transpose()
            .context("sorted row has a 32-bit field out of range")
    };
    d.freq = small(freq)?;
    d.codis_slot = small(codis)?;
    d.redis_slot = small(redis)?;
    Ok(())
}

/// The body of a row holding only `db` and `key` (other fields zero, no nullable value), for
/// tests of the ordering and the merge.
#[cfg(test)]
pub fn key_only_body(db: i64, key: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_head(&mut body, [key.len() as u64, zigzag(db), 0, 0], [0; 3]);
    body.extend_from_slice(key);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_hold_their_values() {
        let values = [
            0u64,
            1,
            0xff,
            0x100,
            0xffff,
            0x1_0000,
            u32::MAX as u64,
            1 << 32,
            u64::MAX,
        ];
        for (i, &v) in values.iter().enumerate() {
            let ints = [v, values[(i + 3) % values.len()], 7, v / 3];
            let mut out = vec![0xee];
            put_head(&mut out, ints, [1, 2, 3]);
            let n: usize = ints.iter().map(|&x| 1usize << width_code(x)).sum();
            assert_eq!(out.len(), 1 + HEAD + n);
            assert_eq!(&out[2..5], &[1, 2, 3]);
            let mut at = 1 + HEAD;
            for (k, &x) in ints.iter().enumerate() {
                let w = 1 << ((out[1] >> (2 * k)) & 3);
                assert_eq!(read_width(&out, at, w), x, "{x:#x}");
                assert_eq!(read_width(&out[..at + w], at, w), x, "{x:#x} at the end");
                at += w;
            }
        }
    }

    #[test]
    fn rows_of_the_wrong_length_are_errors() {
        let body = key_only_body(3, b"user:1");
        assert_eq!(db_key(&body).unwrap(), (3, &b"user:1"[..]));
        let decoded = decode_row;
        decoded(&body).unwrap();
        for cut in 0..body.len() {
            assert!(db_key(&body[..cut]).is_err(), "cut at {cut}");
            assert!(decoded(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(decoded(&longer).is_err());
        let mut flagged = body;
        flagged[3] = HAS_EXPIRE;
        assert!(
            decoded(&flagged).is_err(),
            "a flagged value that is not there"
        );
    }
}
