//! One pass over the rows of a batch: totals, distributions, biggest keys, TTL/idle/LFU
//! histograms, slot and instance skew, key-prefix tree. Memory is bounded by the number of
//! instances, dbs, the top-N heaps and the capped prefix tree, never by the number of keys.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use anyhow::{ensure, Context, Result};
use arrow_array::{BinaryArray, Int64Array, RecordBatch};
use rdbinsight_sink_api::keys::DeltaKeys;
use rdbinsight_sink_api::schema;
use serde::Serialize;

use super::columns::typed;
use super::prefix::{Node, PrefixTree};
use super::rows::{LabelTallies, RowTallies};
use super::top::{TopColumns, TopKeys};

/// Keys kept in each biggest-keys table.
pub const TOP_KEYS: usize = 100;

/// Keys and bytes.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Tally {
    /// Number of keys.
    pub keys: u64,
    /// Sum of rdb_size.
    pub bytes: u64,
}

impl Tally {
    pub(super) fn add(&mut self, bytes: u64) {
        self.keys += 1;
        self.bytes += bytes;
    }

    pub(super) fn add_many(&mut self, keys: u64, bytes: u64) {
        self.keys += keys;
        self.bytes += bytes;
    }
}

/// One big key. The derived order (rank, instance, db, raw key) is total, so the kept top N
/// do not depend on the order rows arrive in (ClickHouse's `ORDER BY rank DESC, instance DESC,
/// db DESC, key DESC LIMIT N` picks the same keys).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BigKey {
    /// The ranking value (rdb_size or member_count).
    #[serde(skip)]
    pub rank: i64,
    /// Instance.
    pub instance: String,
    /// Database.
    pub db: i64,
    /// Key bytes as stored (the tie-breaker).
    #[serde(skip)]
    pub raw_key: Vec<u8>,
    /// Key, printable (non-UTF-8 and control bytes escaped).
    pub key: String,
    /// Type.
    #[serde(rename = "type")]
    pub key_type: String,
    /// Encoding.
    pub encoding: String,
    /// Element count.
    pub member_count: i64,
    /// RDB bytes.
    pub rdb_size: i64,
    /// Expiry in ms, if any.
    pub expire_at: Option<i64>,
}

/// Everything the report shows.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Cluster name.
    pub cluster: String,
    /// Batch time, ns since the epoch.
    pub batch_unix_nanos: i64,
    /// Where the rows came from.
    pub source: String,
    /// All keys.
    pub total: Tally,
    /// By type.
    pub by_type: BTreeMap<String, Tally>,
    /// By `type/encoding`.
    pub by_encoding: BTreeMap<String, Tally>,
    /// By db.
    pub by_db: BTreeMap<i64, Tally>,
    /// By instance.
    pub by_instance: BTreeMap<String, Tally>,
    /// TTL buckets, relative to the batch time.
    pub ttl: BTreeMap<String, Tally>,
    /// LRU idle buckets (keys with IDLE info).
    pub idle: BTreeMap<String, Tally>,
    /// LFU counter buckets (keys with FREQ info).
    pub freq: BTreeMap<String, Tally>,
    /// Keys per Redis Cluster slot (only slots that have keys), when slots are known.
    pub redis_slots: BTreeMap<i32, Tally>,
    /// Keys per Codis slot, when known.
    pub codis_slots: BTreeMap<i32, Tally>,
    /// Biggest keys by rdb_size.
    pub top_by_size: Vec<BigKey>,
    /// Biggest keys by member_count.
    pub top_by_members: Vec<BigKey>,
    /// Key-prefix tree.
    pub prefixes: Node,
}

/// The columns [`Aggregator::add`] reads (every column but `cluster`, which the report takes
/// from its source).
pub const READ_COLUMNS: [&str; 13] = [
    schema::BATCH,
    schema::INSTANCE,
    schema::DB,
    schema::KEY,
    schema::TYPE,
    schema::ENCODING,
    schema::MEMBER_COUNT,
    schema::RDB_SIZE,
    schema::EXPIRE_AT,
    schema::IDLE_SECONDS,
    schema::FREQ,
    schema::CODIS_SLOT,
    schema::REDIS_SLOT,
];

/// The half of an [`Aggregator`] that looks at each key (the prefix tree, the biggest keys),
/// with tallies of its own for the batches the reading thread leaves it.
pub(super) struct KeysHalf<'a> {
    /// The tallies of the batches the reading thread had no time for.
    tallies: &'a mut Tallies,
    tree: &'a mut PrefixTree,
    top: &'a mut TopKeys,
}

/// The distributions a batch adds to row by row, whatever its keys: by type, encoding and
/// instance, and by db, TTL, idle time, LFU counter and slot. Either of the report's two
/// threads takes them (see [`super::aggregate_overlapped`]); each has its own, and both are
/// added to the report at the end.
#[derive(Default)]
pub(super) struct Tallies {
    rows: RowTallies,
    labels: LabelTallies,
}

impl Tallies {
    /// Adds the rows of one batch.
    pub(super) fn add(&mut self, b: &RecordBatch) -> Result<()> {
        self.rows.add(b)?;
        self.labels.add(b)
    }

    /// Adds everything tallied to `report`.
    fn merge_into(self, report: &mut Report) {
        self.rows.merge_into(report);
        self.labels.merge_into(report);
    }
}

impl KeysHalf<'_> {
    /// Adds the row tallies of one batch (those the reading thread did not take).
    pub(super) fn tally(&mut self, b: &RecordBatch) -> Result<()> {
        self.tallies.add(b)
    }

    /// Adds the keys of one batch to the prefix tree and the biggest keys: `keys` are its
    /// keys (front-coded, in row order; the batch's own key column, if any, is not read).
    pub(super) fn add(&mut self, b: &RecordBatch, keys: &DeltaKeys) -> Result<()> {
        ensure!(
            keys.len() == b.num_rows(),
            "a batch of {} rows came with {} keys",
            b.num_rows(),
            keys.len()
        );
        let sizes = typed::<Int64Array>(b, schema::RDB_SIZE)?.values();
        let columns = TopColumns::of(b)?;
        // Rows that may enter the biggest keys stop the tree's runs and are noted with their
        // keys; when no row of the batch may, none is looked at.
        let may_take = self.top.may_take(&columns);
        let floors = self.top.floors();
        let top = &mut *self.top;
        self.tree
            .add_keys(
                keys,
                sizes,
                |i| may_take && floors.admit(&columns, i),
                |i, key| {
                    if may_take {
                        top.note(&columns, i, key);
                    }
                },
            )
            .context("bad key stream")?;
        if may_take {
            self.top.offer_noted(&columns);
        }
        Ok(())
    }
}

/// The string columns of [`READ_COLUMNS`] with few distinct values, best read as dictionary
/// arrays (tallied by dictionary index).
pub const DICTIONARY_COLUMNS: [&str; 3] = [schema::INSTANCE, schema::TYPE, schema::ENCODING];

/// Builds a [`Report`] from record batches.
pub struct Aggregator {
    report: Report,
    tallies: Tallies,
    /// Tallies taken on the per-key thread (see [`super::aggregate_overlapped`]).
    keys_side_tallies: Tallies,
    tree: PrefixTree,
    top: TopKeys,
    /// (type, encoding) tallies of grouped input: few distinct pairs, scanned linearly.
    encodings: Vec<((String, String), Tally)>,
}

/// A key for display: UTF-8 where possible, `\xNN` for other bytes, cut at 200 characters.
pub fn printable_key(key: &[u8]) -> String {
    let mut out = String::new();
    for chunk in key.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
        if out.len() > 200 {
            out.truncate(
                out.char_indices()
                    .nth(200)
                    .map(|(i, _)| i)
                    .unwrap_or(out.len()),
            );
            out.push('…');
            break;
        }
    }
    out
}

/// Histogram buckets: `(exclusive upper bound, label)` in order, and the label beyond the last.
pub struct Buckets {
    /// Upper bounds (exclusive) and labels.
    pub bounds: &'static [(i64, &'static str)],
    /// Label of values at or above the last bound.
    pub last: &'static str,
}

impl Buckets {
    /// The index of `v`'s bucket: that of the first bound above it, or the number of bounds.
    pub fn index(&self, v: i64) -> usize {
        self.bounds
            .iter()
            .position(|(upper, _)| v < *upper)
            .unwrap_or(self.bounds.len())
    }

    /// The label of the bucket at `index` (see [`Buckets::index`]).
    pub fn label_at(&self, index: usize) -> &'static str {
        self.bounds.get(index).map_or(self.last, |(_, l)| l)
    }

    /// The same as a SQL `multiIf` over the expression `v` (ClickHouse).
    pub fn sql(&self, v: &str) -> String {
        let mut s = String::from("multiIf(");
        for (upper, label) in self.bounds {
            s.push_str(&format!("{v} < {upper}, '{label}', "));
        }
        s.push_str(&format!("'{}')", self.last));
        s
    }
}

/// Seconds from the batch time to the expiry, for keys that expire after it.
pub const TTL_BUCKETS: Buckets = Buckets {
    bounds: &[
        (3600, "2 < 1 hour"),
        (86400, "3 < 1 day"),
        (604800, "4 < 7 days"),
        (2592000, "5 < 30 days"),
    ],
    last: "6 >= 30 days",
};
/// Label of keys without TTL.
pub const NO_TTL: &str = "0 no TTL";
/// Label of keys whose expiry is at or before the batch time.
pub const EXPIRED: &str = "1 expired at batch time";

/// LRU idle seconds.
pub const IDLE_BUCKETS: Buckets = Buckets {
    bounds: &[
        (60, "0 < 1 minute"),
        (3600, "1 < 1 hour"),
        (86400, "2 < 1 day"),
        (604800, "3 < 7 days"),
    ],
    last: "4 >= 7 days",
};

/// LFU counter.
pub const FREQ_BUCKETS: Buckets = Buckets {
    bounds: &[
        (1, "0"),
        (11, "1-10"),
        (51, "11-50"),
        (101, "51-100"),
        (201, "101-200"),
    ],
    last: "201-255",
};

/// Whether a key ranked `rank` comes after the smallest kept key in the [`BigKey`] order.
fn beats(min: &BigKey, rank: i64, instance: &str, db: i64, key: &[u8]) -> bool {
    (rank, instance, db, key)
        > (
            min.rank,
            min.instance.as_str(),
            min.db,
            min.raw_key.as_slice(),
        )
}

pub(super) fn push_top(
    heap: &mut BinaryHeap<Reverse<BigKey>>,
    make: impl FnOnce() -> BigKey,
    rank: i64,
    instance: &str,
    db: i64,
    key: &[u8],
) {
    if heap.len() < TOP_KEYS {
        heap.push(Reverse(make()));
    } else if heap
        .peek()
        .is_some_and(|Reverse(min)| beats(min, rank, instance, db, key))
    {
        heap.pop();
        heap.push(Reverse(make()));
    }
}

/// Keys that share every distribution label, from a grouped query.
#[derive(Debug, Clone)]
pub struct KeyGroup<'a> {
    /// Instance.
    pub instance: &'a str,
    /// Database.
    pub db: i64,
    /// Type.
    pub key_type: &'a str,
    /// Encoding.
    pub encoding: &'a str,
    /// TTL bucket label.
    pub ttl: &'a str,
    /// Idle bucket label, when the keys have IDLE info.
    pub idle: Option<&'a str>,
    /// LFU bucket label, when the keys have FREQ info.
    pub freq: Option<&'a str>,
    /// Number of keys.
    pub keys: u64,
    /// Sum of their rdb_size.
    pub bytes: u64,
}

/// Which slot column a slot group counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// `redis_slot`.
    Redis,
    /// `codis_slot`.
    Codis,
}

/// Which biggest-keys table a key is offered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKind {
    /// By rdb_size.
    BySize,
    /// By member_count.
    ByMembers,
}

impl Aggregator {
    /// An empty aggregation.
    pub fn new(cluster: &str, source: &str, delimiters: &str) -> Self {
        Self {
            report: Report {
                cluster: cluster.to_string(),
                batch_unix_nanos: 0,
                source: source.to_string(),
                total: Tally::default(),
                by_type: BTreeMap::new(),
                by_encoding: BTreeMap::new(),
                by_db: BTreeMap::new(),
                by_instance: BTreeMap::new(),
                ttl: BTreeMap::new(),
                idle: BTreeMap::new(),
                freq: BTreeMap::new(),
                redis_slots: BTreeMap::new(),
                codis_slots: BTreeMap::new(),
                top_by_size: Vec::new(),
                top_by_members: Vec::new(),
                prefixes: Node::default(),
            },
            tallies: Tallies::default(),
            keys_side_tallies: Tallies::default(),
            tree: PrefixTree::new(delimiters),
            top: TopKeys::default(),
            encodings: Vec::new(),
        }
    }

    /// Adds the rows of one batch (every column of [`READ_COLUMNS`]).
    pub fn add(&mut self, b: &RecordBatch) -> Result<()> {
        let keys = DeltaKeys::from_binary(typed::<BinaryArray>(b, schema::KEY)?);
        let (_, mut half) = self.halves();
        half.tally(b)?;
        half.add(b, &keys)
    }

    /// The two halves of [`Aggregator::add`], to feed from two threads: the tallies, and the
    /// per-key work (prefix tree, biggest keys) with tallies of its own.
    pub(super) fn halves(&mut self) -> (&mut Tallies, KeysHalf<'_>) {
        (
            &mut self.tallies,
            KeysHalf {
                tallies: &mut self.keys_side_tallies,
                tree: &mut self.tree,
                top: &mut self.top,
            },
        )
    }

    /// Sets the batch time (for grouped input, where no row carries it).
    pub fn set_batch(&mut self, batch_unix_nanos: i64) {
        self.report.batch_unix_nanos = batch_unix_nanos;
    }

    /// Adds keys that share every distribution label (totals, type, encoding, db, instance,
    /// TTL, idle and LFU buckets), from a grouped query.
    pub fn add_group(&mut self, g: &KeyGroup<'_>) {
        let r = &mut self.report;
        r.total.add_many(g.keys, g.bytes);
        r.by_type
            .entry(g.key_type.to_string())
            .or_default()
            .add_many(g.keys, g.bytes);
        match self
            .encodings
            .iter_mut()
            .find(|(k, _)| k.0 == g.key_type && k.1 == g.encoding)
        {
            Some((_, tally)) => tally.add_many(g.keys, g.bytes),
            None => {
                let mut tally = Tally::default();
                tally.add_many(g.keys, g.bytes);
                self.encodings
                    .push(((g.key_type.to_string(), g.encoding.to_string()), tally));
            }
        }
        r.by_db.entry(g.db).or_default().add_many(g.keys, g.bytes);
        r.by_instance
            .entry(g.instance.to_string())
            .or_default()
            .add_many(g.keys, g.bytes);
        r.ttl
            .entry(g.ttl.to_string())
            .or_default()
            .add_many(g.keys, g.bytes);
        if let Some(l) = g.idle {
            r.idle
                .entry(l.to_string())
                .or_default()
                .add_many(g.keys, g.bytes);
        }
        if let Some(l) = g.freq {
            r.freq
                .entry(l.to_string())
                .or_default()
                .add_many(g.keys, g.bytes);
        }
    }

    /// Adds the keys of one slot.
    pub fn add_slot(&mut self, kind: SlotKind, slot: i32, keys: u64, bytes: u64) {
        let map = match kind {
            SlotKind::Redis => &mut self.report.redis_slots,
            SlotKind::Codis => &mut self.report.codis_slots,
        };
        map.entry(slot).or_default().add_many(keys, bytes);
    }

    /// Adds keys whose prefix path is `segments` (raw bytes, cut as the tree cuts them).
    pub fn add_prefix_path(&mut self, segments: &[Vec<u8>], keys: u64, bytes: u64) {
        self.tree.add_segments(segments, keys, bytes);
    }

    /// Offers one key to a biggest-keys table.
    pub fn offer_top(&mut self, kind: TopKind, key: BigKey) {
        let heap = match kind {
            TopKind::BySize => &mut self.top.by_size,
            TopKind::ByMembers => &mut self.top.by_members,
        };
        let (rank, db) = (key.rank, key.db);
        let instance = key.instance.clone();
        let raw = key.raw_key.clone();
        push_top(heap, || key, rank, &instance, db, &raw);
    }

    /// The finished report.
    pub fn finish(mut self) -> Report {
        let sorted = |h: BinaryHeap<Reverse<BigKey>>| {
            let mut v: Vec<BigKey> = h.into_iter().map(|Reverse(k)| k).collect();
            v.sort_by(|a, b| {
                b.rank
                    .cmp(&a.rank)
                    .then_with(|| a.key.cmp(&b.key))
                    .then_with(|| a.instance.cmp(&b.instance))
                    .then_with(|| a.db.cmp(&b.db))
                    .then_with(|| a.raw_key.cmp(&b.raw_key))
            });
            v
        };
        std::mem::take(&mut self.tallies).merge_into(&mut self.report);
        std::mem::take(&mut self.keys_side_tallies).merge_into(&mut self.report);
        for ((t, e), tally) in self.encodings {
            self.report
                .by_encoding
                .entry(format!("{t}/{e}"))
                .or_default()
                .add_many(tally.keys, tally.bytes);
        }
        self.report.top_by_size = sorted(self.top.by_size);
        self.report.top_by_members = sorted(self.top.by_members);
        self.report.prefixes = self.tree.finish();
        self.report
    }
}
