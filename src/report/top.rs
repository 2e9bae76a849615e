//! The biggest keys of record batches (the Parquet path): two bounded heaps, by rdb_size and by
//! member_count. A row is only looked at further when its rank reaches the smallest kept one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use anyhow::Result;
use arrow_array::{Array, BinaryArray, Int64Array, RecordBatch, TimestampMillisecondArray};
use rdbinsight_sink_api::schema;

use super::aggregate::{printable_key, push_top, BigKey, TOP_KEYS};
use super::columns::{typed, Strings};

/// A biggest-keys heap, smallest kept key on top.
pub type TopHeap = BinaryHeap<Reverse<BigKey>>;

/// The smallest rank that can still enter `heap`.
fn floor(heap: &TopHeap) -> i64 {
    match heap.peek() {
        Some(Reverse(min)) if heap.len() >= TOP_KEYS => min.rank,
        _ => i64::MIN,
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
    let instances = Strings::of(b, schema::INSTANCE)?;
    let types = Strings::of(b, schema::TYPE)?;
    let encodings = Strings::of(b, schema::ENCODING)?;
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
