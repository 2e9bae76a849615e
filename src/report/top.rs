//! The biggest keys of record batches (the Parquet path): two bounded heaps, by rdb_size and by
//! member_count, offered one row at a time as the keys are walked. A row is only looked at
//! further when its rank reaches the smallest kept one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use anyhow::Result;
use arrow_array::{Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use rdbinsight_sink_api::schema;

use super::aggregate::{printable_key, push_top, BigKey, TOP_KEYS};
use super::columns::{optional, typed, Strings};

/// A biggest-keys heap, smallest kept key on top.
pub type TopHeap = BinaryHeap<Reverse<BigKey>>;

/// The smallest rank that can still enter `heap`.
fn floor(heap: &TopHeap) -> i64 {
    match heap.peek() {
        Some(Reverse(min)) if heap.len() >= TOP_KEYS => min.rank,
        _ => i64::MIN,
    }
}

/// The columns of a batch a biggest key is described by (all but the key, which the caller
/// walks).
pub struct TopColumns<'a> {
    sizes: &'a [i64],
    counts: &'a [i64],
    dbs: &'a [i64],
    expire: Option<&'a TimestampMillisecondArray>,
    instances: Strings<'a>,
    types: Strings<'a>,
    encodings: Strings<'a>,
}

impl<'a> TopColumns<'a> {
    /// The rdb_size, member_count, db, instance, type, encoding and expire_at columns of `b`.
    pub fn of(b: &'a RecordBatch) -> Result<Self> {
        Ok(Self {
            sizes: typed::<Int64Array>(b, schema::RDB_SIZE)?.values(),
            counts: typed::<Int64Array>(b, schema::MEMBER_COUNT)?.values(),
            dbs: typed::<Int64Array>(b, schema::DB)?.values(),
            expire: optional::<TimestampMillisecondArray>(b, schema::EXPIRE_AT)?,
            instances: Strings::of(b, schema::INSTANCE)?,
            types: Strings::of(b, schema::TYPE)?,
            encodings: Strings::of(b, schema::ENCODING)?,
        })
    }

    /// Row `i`, whose key is `key`, ranked `rank`.
    fn big(&self, i: usize, key: &[u8], rank: i64) -> BigKey {
        BigKey {
            rank,
            instance: self.instances.at(i).to_string(),
            db: self.dbs[i],
            raw_key: key.to_vec(),
            key: printable_key(key),
            key_type: self.types.at(i).to_string(),
            encoding: self.encodings.at(i).to_string(),
            member_count: self.counts[i],
            rdb_size: self.sizes[i],
            expire_at: self.expire.filter(|e| e.is_valid(i)).map(|e| e.value(i)),
        }
    }
}

/// The two biggest-keys heaps and the smallest rank each can still take.
pub struct TopKeys {
    /// By rdb_size.
    pub by_size: TopHeap,
    /// By member_count.
    pub by_members: TopHeap,
    size_floor: i64,
    members_floor: i64,
}

impl Default for TopKeys {
    fn default() -> Self {
        Self {
            by_size: TopHeap::new(),
            by_members: TopHeap::new(),
            size_floor: i64::MIN,
            members_floor: i64::MIN,
        }
    }
}

impl TopKeys {
    /// Whether a row of `columns` may enter a heap: its size or member count reaches the
    /// smallest kept one.
    pub fn may_take(&self, columns: &TopColumns<'_>) -> bool {
        let (sizes, counts) = (self.size_floor, self.members_floor);
        columns
            .sizes
            .iter()
            .zip(columns.counts)
            .any(|(&s, &c)| s >= sizes || c >= counts)
    }

    /// Offers row `i` of `columns`, whose key is `key`, to both heaps.
    #[inline]
    pub fn offer(&mut self, columns: &TopColumns<'_>, i: usize, key: &[u8]) {
        let (size, count) = (columns.sizes[i], columns.counts[i]);
        if size >= self.size_floor {
            Self::push(&mut self.by_size, columns, i, key, size);
            self.size_floor = floor(&self.by_size);
        }
        if count >= self.members_floor {
            Self::push(&mut self.by_members, columns, i, key, count);
            self.members_floor = floor(&self.by_members);
        }
    }

    fn push(heap: &mut TopHeap, columns: &TopColumns<'_>, i: usize, key: &[u8], rank: i64) {
        let (instance, db) = (columns.instances.at(i), columns.dbs[i]);
        push_top(heap, || columns.big(i, key, rank), rank, instance, db, key);
    }
}
