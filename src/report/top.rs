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

/// The rows of a batch that may enter a heap, with their keys: noted while the keys are
/// walked, offered once the batch is walked, last row first.
#[derive(Default)]
struct Candidates {
    rows: Vec<usize>,
    /// Where each row's key ends in `keys`.
    ends: Vec<usize>,
    keys: Vec<u8>,
}

/// The smallest rdb_size and member count a row must reach to enter a biggest-keys heap.
#[derive(Clone, Copy)]
pub struct Floors {
    size: i64,
    members: i64,
}

impl Floors {
    /// Whether row `i` of `columns` reaches either floor.
    #[inline]
    pub fn admit(&self, columns: &TopColumns<'_>, i: usize) -> bool {
        columns.sizes.get(i).is_some_and(|&s| s >= self.size)
            || columns.counts.get(i).is_some_and(|&c| c >= self.members)
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
    candidates: Candidates,
}

impl Default for TopKeys {
    fn default() -> Self {
        Self {
            by_size: TopHeap::new(),
            by_members: TopHeap::new(),
            size_floor: i64::MIN,
            members_floor: i64::MIN,
            candidates: Candidates::default(),
        }
    }
}

impl TopKeys {
    /// Whether a row of `columns` may enter a heap: its size or member count reaches the
    /// smallest kept one.
    pub fn may_take(&self, columns: &TopColumns<'_>) -> bool {
        // Usually no row does: eight comparisons at a time, independent of each other (a
        // search stopping at each row, or a running maximum, waits on the row before).
        let reaches = |v: &[i64], floor: i64| {
            let mut chunks = v.chunks_exact(8);
            let found = chunks
                .by_ref()
                .any(|c| c.iter().fold(false, |any, &x| any | (x >= floor)));
            found || chunks.remainder().iter().any(|&x| x >= floor)
        };
        let counts = &columns.counts[..columns.counts.len().min(columns.sizes.len())];
        reaches(columns.sizes, self.size_floor) || reaches(counts, self.members_floor)
    }

    /// The smallest ranks the heaps can take now (until the rows noted are offered).
    pub fn floors(&self) -> Floors {
        Floors {
            size: self.size_floor,
            members: self.members_floor,
        }
    }

    /// Notes row `i` of `columns`, whose key is `key`, when it may enter a heap; the rows
    /// noted are offered by [`TopKeys::offer_noted`].
    #[inline]
    pub fn note(&mut self, columns: &TopColumns<'_>, i: usize, key: &[u8]) {
        if self.floors().admit(columns, i) {
            let c = &mut self.candidates;
            c.rows.push(i);
            c.keys.extend_from_slice(key);
            c.ends.push(c.keys.len());
        }
    }

    /// Offers the rows noted since the last call, last row first. The rows of a file come
    /// sorted by key, all of one instance, so of rows of equal rank the later ones win the
    /// tie (`ORDER BY rank DESC, instance DESC, db DESC, key DESC`): offered in file order,
    /// every row of a run of equal sizes at the smallest kept rank (values of one size, as
    /// `DEBUG POPULATE` makes) would replace a kept key, its description built each time;
    /// offered backwards, all but the first few are turned away by one comparison.
    pub fn offer_noted(&mut self, columns: &TopColumns<'_>) {
        let mut c = std::mem::take(&mut self.candidates);
        for (n, &row) in c.rows.iter().enumerate().rev() {
            let start = n.checked_sub(1).map_or(0, |p| c.ends[p]);
            self.offer(columns, row, &c.keys[start..c.ends[n]]);
        }
        c.rows.clear();
        c.ends.clear();
        c.keys.clear();
        self.candidates = c;
    }

    /// Offers row `i` of `columns`, whose key is `key`, to both heaps.
    #[inline]
    fn offer(&mut self, columns: &TopColumns<'_>, i: usize, key: &[u8]) {
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

#[cfg(test)]
mod tests {
    use rdbinsight_sink_api::testing::string_row;
    use rdbinsight_sink_api::RecordBuilder;

    use crate::report::aggregate::{Aggregator, TOP_KEYS};

    /// `keys` in batches of `per_batch` rows, of two dbs, most with one size (ties at the
    /// smallest kept rank), a few bigger.
    fn batches(keys: &[(i64, String)], per_batch: usize) -> Vec<arrow_array::RecordBatch> {
        keys.chunks(per_batch)
            .map(|chunk| {
                let mut b = RecordBuilder::new("c", 1, "node", chunk.len());
                for (db, key) in chunk {
                    let n: i64 = key[2..].parse().unwrap();
                    let size = if n % 97 == 0 { 50 + n % 7 } else { 30 };
                    b.append(&string_row(*db, key.as_bytes(), 16, size));
                }
                b.finish().unwrap()
            })
            .collect()
    }

    /// The biggest keys of `rows` by brute force: (rank, db, key) descending, the first N,
    /// sorted by key.
    fn expected(rows: &[(i64, String)], rank: impl Fn(&str) -> i64) -> Vec<String> {
        let mut all: Vec<(i64, i64, &str)> = rows
            .iter()
            .map(|(db, k)| (rank(k), *db, k.as_str()))
            .collect();
        all.sort_by(|a, b| b.cmp(a));
        let mut keys: Vec<String> = all.iter().take(TOP_KEYS).map(|r| r.2.to_string()).collect();
        keys.sort();
        keys
    }

    /// The keys of the two biggest-keys tables, each sorted by key.
    fn kept(agg: Aggregator) -> (Vec<String>, Vec<String>) {
        let report = agg.finish();
        let keys = |v: &[crate::report::aggregate::BigKey]| {
            let mut keys: Vec<String> = v.iter().map(|k| k.key.clone()).collect();
            keys.sort();
            keys
        };
        (keys(&report.top_by_size), keys(&report.top_by_members))
    }

    #[test]
    fn ties_at_the_smallest_kept_rank_go_to_the_last_keys_in_any_order() {
        // Sorted by (db, key) as a file is; sizes tie everywhere but on every 97th key.
        let mut rows: Vec<(i64, String)> =
            (0..5000).map(|i| (i / 3000, format!("k:{i:05}"))).collect();
        rows.sort();
        let size = |k: &str| {
            let n: i64 = k[2..].parse().unwrap();
            if n % 97 == 0 {
                50 + n % 7
            } else {
                30
            }
        };
        let want_size = expected(&rows, size);
        let want_members = expected(&rows, |_| 16);
        for per_batch in [1, 7, 64, 1000, 5000] {
            let mut agg = Aggregator::new("c", "t", ":");
            for b in batches(&rows, per_batch) {
                agg.add(&b).unwrap();
            }
            assert_eq!(
                kept(agg),
                (want_size.clone(), want_members.clone()),
                "{per_batch}"
            );
        }
        // Any order of rows keeps the same keys.
        let mut shuffled = rows.clone();
        shuffled.reverse();
        shuffled.rotate_left(1234);
        let mut agg = Aggregator::new("c", "t", ":");
        for b in batches(&shuffled, 333) {
            agg.add(&b).unwrap();
        }
        assert_eq!(kept(agg), (want_size, want_members));
    }
}
