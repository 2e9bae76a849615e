//! The biggest keys of record batches (the Parquet path): two bounded heaps, by rdb_size and by
//! member_count. A row is only looked at further when its rank reaches the smallest kept one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use anyhow::{bail, Context, Result};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use rdbinsight_sink_api::schema;

use super::aggregate::{printable_key, push_top, BigKey, TOP_KEYS};

/// A biggest-keys heap, smallest kept key on top.
pub type TopHeap = BinaryHeap<Reverse<BigKey>>;

/// The smallest rank that can still enter `heap`.
fn floor(heap: &TopHeap) -> i64 {
    match heap.peek() {
        Some(Reverse(min)) if heap.len() >= TOP_KEYS => min.rank,
        _ => i64::MIN,
    }
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name)
        .with_context(|| format!("column {name} missing"))
}

fn typed<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    column(b, name)?
        .as_any()
        .downcast_ref::<T>()
        .with_context(|| format!("column {name} of the wrong type"))
}

/// A string column read as it came: dictionary-encoded or plain.
enum Labels<'a> {
    Dictionary(&'a DictionaryArray<Int32Type>, &'a StringArray),
    Plain(&'a StringArray),
}

impl<'a> Labels<'a> {
    fn of(b: &'a RecordBatch, name: &str) -> Result<Self> {
        let c = column(b, name)?;
        let any = c.as_any();
        if let Some(dict) = any.downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = dict
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .with_context(|| format!("column {name}: a dictionary of non-strings"))?;
            return Ok(Self::Dictionary(dict, values));
        }
        match any.downcast_ref::<StringArray>() {
            Some(s) => Ok(Self::Plain(s)),
            None => bail!("column {name}: expected strings, found {}", c.data_type()),
        }
    }

    /// The string of row `i` (empty when null).
    fn at(&self, i: usize) -> &'a str {
        match self {
            Self::Dictionary(dict, values) => dict
                .is_valid(i)
                .then(|| dict.keys().value(i))
                .and_then(|k| usize::try_from(k).ok())
                .filter(|&k| k < values.len() && values.is_valid(k))
                .map_or("", |k| values.value(k)),
            Self::Plain(s) => {
                if s.is_valid(i) {
                    s.value(i)
                } else {
                    ""
                }
            }
        }
    }
}

/// Offers every row of `b` to the heaps by size and by member count (it needs the key,
/// rdb_size, member_count, db, instance, type, encoding and expire_at columns).
pub fn offer_rows(by_size: &mut TopHeap, by_members: &mut TopHeap, b: &RecordBatch) -> Result<()> {
    let key = typed::<BinaryArray>(b, schema::KEY)?;
    let sizes = typed::<Int64Array>(b, schema::RDB_SIZE)?.values();
    let counts = typed::<Int64Array>(b, schema::MEMBER_COUNT)?.values();
    let dbs = typed::<Int64Array>(b, schema::DB)?.values();
    let expire = typed::<TimestampMillisecondArray>(b, schema::EXPIRE_AT)?;
    let instances = Labels::of(b, schema::INSTANCE)?;
    let types = Labels::of(b, schema::TYPE)?;
    let encodings = Labels::of(b, schema::ENCODING)?;
    let big = |i: usize, rank: i64| {
        let k = key.value(i);
        BigKey {
            rank,
            instance: instances.at(i).to_string(),
            db: dbs[i],
            raw_key: k.to_vec(),
            key: printable_key(k),
            key_type: types.at(i).to_string(),
            encoding: encodings.at(i).to_string(),
            member_count: counts[i],
            rdb_size: sizes[i],
            expire_at: expire.is_valid(i).then(|| expire.value(i)),
        }
    };
    for (heap, ranks) in [(by_size, sizes), (by_members, counts)] {
        let mut min = floor(heap);
        for (i, &rank) in ranks.iter().enumerate() {
            if rank >= min {
                let (instance, db, k) = (instances.at(i), dbs[i], key.value(i));
                push_top(heap, || big(i, rank), rank, instance, db, k);
                min = floor(heap);
            }
        }
    }
    Ok(())
}
